// Progress lines for long steps. Terraform prefixes local-exec output with the resource
// address, so a line here is short; timestamps only where a person watches (a TTY).
// --verbose on a command sets DVC_VERBOSE, so the stages and scripts it starts are verbose
// too; `DVC_VERBOSE=1 npx cdktf deploy` does the same for a deploy.
export function isVerbose(): boolean {
  return process.env.DVC_VERBOSE === "1";
}

export function setVerbose(on: boolean): void {
  process.env.DVC_VERBOSE = on ? "1" : "0";
}

export function step(scope: string, message: string): void {
  process.stdout.write(`[${scope}] ${message}\n`);
}

export function debug(scope: string, message: string): void {
  if (isVerbose()) process.stderr.write(`[${scope}] ${message}\n`);
}

/** Runs fn and reports how long it took: "done in 3.2 s". */
export async function timed<T>(scope: string, what: string, fn: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  step(scope, `${what}...`);
  const out = await fn();
  step(scope, `${what}: done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return out;
}

/** Progress of a stage or command: what tests capture and everything else prints. */
export interface Log {
  step(scope: string, message: string): void;
  timed<T>(scope: string, what: string, fn: () => Promise<T>): Promise<T>;
}

/** The Log that prints (stdout, as Terraform's local-exec shows it). */
export const consoleLog: Log = { step, timed };
