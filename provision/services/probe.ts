// Readiness probes run on node 1 with the runtime's Python: is the scheduler up, which
// workers has it registered. One process waits on the node; through the dashboard it does
// not even import distributed (20 s and more of CPU on an emulated VM). Never waits forever.
import { checkService, dashboardUrl, earlyDeathError, schedulerAddress, type ServiceName } from "./definitions.js";
import type { ClusterRef } from "../core/stage-spec.js";
import type { ClusterConfig } from "../core/config-schema.js";
import type { MachineProvider } from "../machines/provider.js";
import { shq, type Transport } from "../machines/transport.js";
import { nodePaths } from "../core/node-paths.js";

export interface RegisteredWorker {
  readonly address: string;
  readonly name: string;
  readonly host: string;
  readonly nthreads: number;
  readonly memory_limit: number;
  /** The worker process's memory (bytes), as the scheduler last heard it. */
  readonly memory?: number | null;
  /** Bytes it spilled to disk. */
  readonly spilled?: number | null;
  /** running, paused, closing... */
  readonly status?: string | null;
}

/** What a probe process needs before it can wait: Python start and `import distributed`. */
export const PROBE_STARTUP_S = 30;

/**
 * With a service to watch, the wait on node 1 runs in slices this long (× slowness), and
 * between two the service's node says whether its process ended: a service that dies as it
 * starts (a bad option, a port in use) is reported within seconds, with its log.
 */
export const WATCH_SLICE_S = 2;

/** The service a wait is for, on its own node: scheduler on node 1, a worker on its node. */
export interface WatchedService {
  readonly t: Transport;
  readonly name: ServiceName;
}

/**
 * The node's command that waits until the scheduler lists workers with these names (none:
 * until it answers) and prints them as JSON: through its dashboard (standard library only)
 * or a Dask client (with the node's TLS material when tls).
 */
export function waitWorkersArgv(
  root: string,
  address: string,
  names: readonly string[],
  timeoutS: number,
  how: { dashboard: string } | { tls: boolean },
): string[] {
  const p = nodePaths(root);
  const via = "dashboard" in how ? ["--dashboard", how.dashboard] : how.tls ? ["--tls-dir", p.tls] : [];
  return [
    p.python,
    "-m",
    "dask_vm_runtime",
    "wait-workers",
    "--scheduler",
    address,
    "--names",
    names.join(","),
    "--timeout",
    String(timeoutS),
    ...via,
  ];
}

/**
 * Waits until the scheduler at address lists workers with every name in names (an empty
 * list waits for the scheduler alone). Both the wait and the probe's own start-up are
 * scaled by the node's slowness. Throws with the last error when the time is up.
 */
export async function waitForWorkers(
  head: Transport,
  address: string,
  tls: boolean,
  names: readonly string[],
  timeoutS = 90,
  /** The scheduler's dashboard URL: ask it (standard library only) instead of a Dask client. */
  dashboard?: string,
  /** A service whose process ending during the wait ends the wait with its log (earlyDeathError). */
  watch?: WatchedService,
): Promise<RegisteredWorker[]> {
  const waitS = timeoutS * head.slowness;
  const startupS = PROBE_STARTUP_S * head.slowness;
  const deadline = Date.now() + (waitS + startupS) * 1000;
  let last = "";
  for (let left = waitS + startupS; left > 0; left = (deadline - Date.now()) / 1000) {
    // The node's process waits for the names itself: one start-up, not one per poll
    // (with a watched service, one per slice: a few ms natively, a little more under emulation).
    const inProcessS = Math.max(
      1,
      Math.floor(watch ? Math.min(WATCH_SLICE_S * head.slowness, left - startupS) : left - startupS),
    );
    const argv = waitWorkersArgv(head.root, address, names, inProcessS, dashboard ? { dashboard } : { tls });
    // head.run scales timeoutMs by the slowness again; the limit is what is left.
    const r = await head.run(argv.map(shq).join(" "), {
      nothrow: true,
      timeoutMs: Math.ceil((left * 1000) / head.slowness),
    });
    if (r.exitCode === 0) return JSON.parse(r.stdout) as RegisteredWorker[];
    last = r.stderr.trim().split("\n").slice(-3).join(" ");
    if (watch) {
      // A check that cannot answer (the node busy, an older runtime) must not end the wait.
      const check = await checkService(watch.t, watch.name).catch(() => undefined);
      const died = check && earlyDeathError(watch.t.node, watch.name, check, watch.t.root, watch.t.slowness);
      if (died) throw died;
      continue;
    }
    await new Promise((res) => setTimeout(res, 500));
  }
  const logs = watch ? ` (the ${watch.name}'s log: npm run logs -- ${watch.t.node} ${watch.name})` : "";
  throw new Error(
    `timed out after ${Math.round(waitS + startupS)} s waiting for the scheduler at ${address}${names.length ? ` to list ${names.join(", ")}` : ""}: ${last}${logs}`,
  );
}

/** Waits until the scheduler lists every node's worker, asking through the dashboard from node 1. */
export async function waitForClusterWorkers(
  ref: ClusterRef,
  dask: ClusterConfig["dask"],
  provider: Pick<MachineProvider, "transport">,
  timeoutS: number,
): Promise<RegisteredWorker[]> {
  const head = provider.transport(ref, ref.head);
  const names = ref.nodes.map((n) => n.name);
  return waitForWorkers(
    head,
    schedulerAddress(ref.head, dask),
    dask.tls,
    names,
    timeoutS,
    dashboardUrl(ref.head, dask),
  );
}
