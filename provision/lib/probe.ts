// Readiness probes run on node 1 with the runtime's Python: is the scheduler up, which
// workers has it registered. Polls with a deadline; never waits forever.
import { nodePaths } from "./services.js";
import { shq, type Transport } from "./transport.js";

export interface RegisteredWorker {
  readonly address: string;
  readonly name: string;
  readonly host: string;
  readonly nthreads: number;
  readonly memory_limit: number;
}

/**
 * Waits until the scheduler at address lists workers with every name in names (an empty
 * list waits for the scheduler alone). Throws with the last error after timeoutS.
 */
export async function waitForWorkers(head: Transport, address: string, tls: boolean, names: readonly string[], timeoutS = 90): Promise<RegisteredWorker[]> {
  const p = nodePaths(head.root);
  const argv = [p.python, "-m", "dask_vm_runtime", "wait-workers", "--scheduler", address, "--n", "0", "--timeout", String(timeoutS), ...(tls ? ["--tls-dir", p.tls] : [])];
  const deadline = Date.now() + timeoutS * 1000;
  let last = "";
  while (Date.now() < deadline) {
    const r = await head.run(argv.map(shq).join(" "), { nothrow: true, timeoutMs: (timeoutS + 30) * 1000 });
    if (r.exitCode === 0) {
      const workers = JSON.parse(r.stdout) as RegisteredWorker[];
      if (names.every((n) => workers.some((w) => w.name === n))) return workers;
      last = `registered: ${workers.map((w) => `${w.name}@${w.host}`).join(", ") || "none"}; waiting for ${names.join(", ")}`;
    } else {
      last = r.stderr.trim().split("\n").slice(-3).join(" ");
    }
    await new Promise((res) => setTimeout(res, 500));
  }
  throw new Error(`timed out after ${timeoutS} s waiting for the scheduler at ${address}: ${last}`);
}
