// Progress lines for long steps. Terraform prefixes local-exec output with the resource
// address, so a line here is short; timestamps only where a person watches (a TTY).
const verbose = process.env.DVC_VERBOSE === "1" || process.argv.includes("--verbose");

export function step(scope: string, message: string): void {
  process.stdout.write(`[${scope}] ${message}\n`);
}

export function debug(scope: string, message: string): void {
  if (verbose) process.stdout.write(`[${scope}] ${message}\n`);
}

/** Runs fn and reports how long it took: "done in 3.2 s". */
export async function timed<T>(scope: string, what: string, fn: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  step(scope, `${what}...`);
  const out = await fn();
  step(scope, `${what}: done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return out;
}
