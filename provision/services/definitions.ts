// The Dask services as data: the exact argv and environment of the scheduler and of a
// worker on a node, every listener bound to the node's private IP (never 0.0.0.0, never
// the NAT address 10.0.2.15 that VirtualBox gives every VM). The runtime's `service`
// command runs these definitions under systemd (VMs) or its supervisor (local).

import { UserError } from "../core/errors.js";
import { shq, type Transport } from "../machines/transport.js";
import type { ClusterConfig } from "../core/config-schema.js";
import type { NodeSpec } from "../core/model.js";
import { nodePaths } from "../core/node-paths.js";

export interface ServiceDefinition {
  readonly argv: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly cwd: string;
}

/** The Dask services, and JupyterLab on node 1 (`npm run notebook`). */
export type ServiceName = "scheduler" | "worker" | "notebook";
type DaskSettings = ClusterConfig["dask"];

export function schedulerAddress(head: NodeSpec, dask: DaskSettings): string {
  return `${dask.tls ? "tls" : "tcp"}://${head.ip}:${dask.schedulerPort}`;
}

/** The scheduler's dashboard (plain HTTP on the private network, as Dask serves it). */
export function dashboardUrl(head: NodeSpec, dask: DaskSettings): string {
  return `http://${head.ip}:${dask.dashboardPort}`;
}

function tlsFlags(root: string, dask: DaskSettings): string[] {
  if (!dask.tls) return [];
  const tls = nodePaths(root).tls;
  return ["--tls-ca-file", `${tls}/ca.pem`, "--tls-cert", `${tls}/node.pem`, "--tls-key", `${tls}/node-key.pem`];
}

function baseEnv(root: string, dask: DaskSettings): Record<string, string> {
  const p = nodePaths(root);
  return {
    // Each node reads only its own Dask config and temp space (local nodes share a disk).
    DASK_CONFIG: `${p.etc}/dask`,
    DASK_TEMPORARY_DIRECTORY: p.work,
    DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES: String(dask.allowedFailures),
    DASK_DISTRIBUTED__COMM__REQUIRE_ENCRYPTION: dask.tls ? "True" : "False",
    // Fail fast rather than hang when a peer is unreachable.
    DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT: "10s",
    // A node whose link is cut stops heartbeating: give its tasks to others after 30 s,
    // not Dask's default 5 minutes (heartbeats come every second on a cluster this small).
    DASK_DISTRIBUTED__SCHEDULER__WORKER_TTL: "30s",
    PYTHONUNBUFFERED: "1",
  };
}

/**
 * How a service runs a Dask command: the venv's Python with `-m dask`, the module behind
 * the `dask` console script. Never the console script itself: where the venv's path is
 * long or holds a space, pip writes it as an sh trampoline that re-expands the path, so a
 * checkout under "TP $HOME" or a folder with a backtick runs the wrong program (exit 127).
 */
export function daskCommand(root: string, command: "scheduler" | "worker"): string[] {
  return [nodePaths(root).python, "-m", "dask", command];
}

export function schedulerService(node: NodeSpec, dask: DaskSettings, root: string): ServiceDefinition {
  return {
    argv: [
      ...daskCommand(root, "scheduler"),
      "--host",
      node.ip,
      "--port",
      String(dask.schedulerPort),
      "--protocol",
      dask.tls ? "tls" : "tcp",
      "--dashboard-address",
      `${node.ip}:${dask.dashboardPort}`,
      // A client whose versions differ from the workers' is refused, not only warned
      // about (cluster-runtime/dask_vm_runtime/strict_clients.py).
      "--preload",
      "dask_vm_runtime.strict_clients",
      ...tlsFlags(root, dask),
    ],
    env: baseEnv(root, dask),
    cwd: root,
  };
}

export function workerService(node: NodeSpec, head: NodeSpec, dask: DaskSettings, root: string): ServiceDefinition {
  return {
    argv: [
      ...daskCommand(root, "worker"),
      schedulerAddress(head, dask),
      "--name",
      node.name,
      "--host",
      node.ip,
      "--protocol",
      dask.tls ? "tls" : "tcp",
      "--worker-port",
      String(dask.workerPort),
      "--nanny-port",
      String(dask.nannyPort),
      "--dashboard-address",
      `${node.ip}:${dask.workerDashboardPort}`,
      "--nthreads",
      String(node.threads),
      "--memory-limit",
      `${node.memoryLimitMb}MiB`,
      "--local-directory",
      nodePaths(root).work,
      ...tlsFlags(root, dask),
    ],
    env: baseEnv(root, dask),
    cwd: root,
  };
}

/** Writes the definition to <root>/etc/<name>.json on the node and (re)starts the service. */
export async function startService(t: Transport, name: ServiceName, def: ServiceDefinition): Promise<void> {
  const p = nodePaths(t.root);
  // 0600: a definition may hold a secret in its environment (the notebook's token).
  const file = shq(`${p.etc}/${name}.json`);
  await t.run(
    `mkdir -p ${shq(`${p.etc}/dask`)} ${shq(p.logs)} ${shq(p.work)} && (umask 077 && cat > ${file}) && chmod 600 ${file} && ` +
      `${shq(p.python)} -m dask_vm_runtime service restart ${name} --root ${shq(t.root)} --manager ${t.serviceManager}`,
    { input: JSON.stringify(def, null, 2) },
  );
}

/**
 * Starts a service from the definition a stage left on the node; nothing when it runs (the runtime's start is
 * idempotent).
 */
export async function startDefinedService(t: Transport, name: ServiceName): Promise<void> {
  const p = nodePaths(t.root);
  await t.run(
    `${shq(p.python)} -m dask_vm_runtime service start ${name} --root ${shq(t.root)} --manager ${t.serviceManager}`,
    { timeoutMs: 120_000 },
  );
}

/** Stops a service; nothing to do where it was never defined (no runtime, or never started there). */
export async function stopService(t: Transport, name: ServiceName): Promise<void> {
  const p = nodePaths(t.root);
  const py = shq(p.python);
  await t.run(
    `if [ -x ${py} ] && [ -f ${shq(`${p.etc}/${name}.json`)} ]; then ${py} -m dask_vm_runtime service stop ${name} --root ${shq(t.root)} --manager ${t.serviceManager}; fi`,
  );
}

/** What `service check` prints: the status, and how the process ended since the last (re)start. */
export interface ServiceCheck {
  readonly running: boolean;
  readonly restarts: number;
  /** The service's process now (null between an ending and the manager's restart). */
  readonly child_pid?: number | null;
  /** Its last ending: the exit code (negative: a signal) and, from the supervisor, how long it ran. */
  readonly last_exit?: { readonly code: number; readonly uptime_s?: number } | null;
  /** null while the process has not ended since the service was (re)started. */
  readonly ended: string | null;
  readonly log: string;
  /** The log's last lines when it ended, else empty. */
  readonly log_tail: readonly string[];
}

/** Asks the node's runtime whether a service's process ended since it was (re)started. */
export async function checkService(t: Transport, name: ServiceName): Promise<ServiceCheck> {
  const p = nodePaths(t.root);
  const r = await t.run(
    `${shq(p.python)} -m dask_vm_runtime service check ${name} --root ${shq(t.root)} --manager ${t.serviceManager}`,
    { timeoutMs: 60_000 },
  );
  return JSON.parse(r.stdout) as ServiceCheck;
}

/** A process that ends sooner than this after it starts (× the node's slowness) never got to serve. */
export const QUICK_EXIT_S = 5;
/**
 * Endings since the (re)start, each quick, that make a start one that cannot succeed; one
 * more where the manager does not say how long the process ran (systemd).
 */
export const EARLY_ENDINGS = 2;

/**
 * The error for a service whose process ended as it started (undefined while it has not):
 * what ended and how, its log's last lines, and what to do. A stage reports it at once
 * instead of waiting out its readiness timeout while the manager restarts it every few seconds.
 */
export function earlyDeathError(
  node: string,
  name: ServiceName,
  check: ServiceCheck,
  root: string,
  slowness = 1,
): UserError | undefined {
  if (!check.ended) return undefined;
  // One ending may be passing (a scheduler restarting beside it: the nanny gives up after
  // its 10 s connect timeout; a port its predecessor still held), and the manager restarts
  // it: only a start that failed again, quickly, cannot succeed by waiting.
  const endings = check.restarts + (check.child_pid == null ? 1 : 0);
  const ran = check.last_exit?.uptime_s;
  const cannotStart =
    ran === undefined ? endings > EARLY_ENDINGS : endings >= EARLY_ENDINGS && ran < QUICK_EXIT_S * slowness;
  if (!cannotStart) return undefined;
  const notFound = /exit code 127\b/.test(check.ended) ? " (exit code 127: a program it runs was not found)" : "";
  const lines = check.log_tail.length ? check.log_tail.map((l) => `\n      | ${l}`).join("") : " (empty)";
  return new UserError(`the ${name} on ${node} stopped as it started: ${check.ended}${notFound}`, 1, [
    { path: `${node}:${check.log}`, message: `the log's last lines:${lines}` },
    {
      path: `${node}:${nodePaths(root).etc}/${name}.json`,
      message: `the ${name}'s command and environment`,
      fix: `correct what the log names (a bad option or setting, a port already in use, a missing file), then run the deploy again; the whole log: npm run logs -- ${node} ${name}`,
    },
  ]);
}
