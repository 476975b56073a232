// `npm run status`: what is deployed and whether it works: nodes (state, IP, cpus,
// memory), services (up/down, since, restarts), workers registered with the scheduler,
// the version verdict, the dashboard URL and the last benchmark. --json for machines.
// Exit 0 when everything is up, 1 when something is down, 2 on bad input.
import { existsSync, readFileSync, realpathSync } from "node:fs";
import path from "node:path";
import { parseCli } from "../core/cli-args.js";
import { loadCluster } from "../config/resolve.js";
import { differences, readDeployed, stateFile, type Deployed } from "../state/deployed.js";
import { realHost } from "../host/host.js";
import { PROJECT_DIR, resultsDir } from "../host/paths.js";
import { providerFor } from "../machines/registry.js";
import { stoppedSince } from "../state/lifecycle.js";
import type { MachineProvider, MachineStatus } from "../machines/provider.js";

import { waitForWorkers, type RegisteredWorker } from "../services/probe.js";
import { dashboardUrl, schedulerAddress } from "../services/definitions.js";
import { check } from "../services/version-gate/gate.js";
import { shq, type Transport } from "../machines/transport.js";
import type { Cluster } from "../core/model.js";
import type { NodeSpec } from "../core/model.js";
import { nodePaths } from "../core/node-paths.js";

export interface ServiceState {
  readonly name: string;
  readonly running: boolean;
  readonly pid?: number | null;
  readonly since?: string | null;
  readonly restarts?: number;
}

export interface NodeStatus {
  readonly name: string;
  readonly ip: string;
  readonly cpus: number;
  readonly memoryMb: number;
  /** up: answers; stopped: powered off (npm run stop, a reboot); down: running but not answering, or gone. */
  readonly state: "up" | "down" | "stopped";
  readonly services: readonly ServiceState[];
  readonly error?: string;
}

export interface ClusterStatus {
  readonly cluster: string;
  readonly provider: string;
  readonly deployed: boolean;
  readonly nodes: readonly NodeStatus[];
  readonly scheduler: string;
  readonly workers: readonly RegisteredWorker[];
  readonly workersError?: string;
  readonly versions: string;
  readonly dashboard: string;
  readonly lastBenchmark?: { readonly dir: string; readonly finishedAt?: string };
  /** How the checkout's config differs from what is deployed. */
  readonly configDiffers: readonly string[];
  readonly healthy: boolean;
  /** When npm run stop stopped it, while it is stopped. */
  readonly stoppedSince?: string;
}

const MIB = 2 ** 20;

/** node2@192.168.56.12 (1 threads, 180 of 1024 MiB, 96 MiB spilled, paused). */
function workerLine(w: RegisteredWorker): string {
  const facts = [`${w.nthreads} threads`];
  if (typeof w.memory === "number")
    facts.push(`${Math.round(w.memory / MIB)} of ${Math.round(w.memory_limit / MIB)} MiB`);
  if (w.spilled) facts.push(`${Math.round(w.spilled / MIB)} MiB spilled`);
  if (w.status && w.status !== "running") facts.push(w.status);
  return `${w.name}@${w.host} (${facts.join(", ")})`;
}

async function serviceState(t: Transport, name: string): Promise<ServiceState | undefined> {
  const p = nodePaths(t.root);
  const r = await t.run(
    `if [ -f ${shq(`${p.etc}/${name}.json`)} ]; then ${shq(p.python)} -m dask_vm_runtime service status ${name} --root ${shq(t.root)} --manager ${t.serviceManager}; fi`,
    {
      nothrow: true,
      timeoutMs: 20_000,
    },
  );
  if (!r.stdout.trim()) return undefined;
  try {
    return JSON.parse(r.stdout) as ServiceState;
  } catch {
    return { name, running: false };
  }
}

async function nodeStatus(spec: NodeSpec, t: Transport, machine: MachineStatus): Promise<NodeStatus> {
  const base = { name: spec.name, ip: spec.ip, cpus: spec.cpus, memoryMb: spec.memoryMb };
  if (machine.state !== "running")
    return {
      ...base,
      state: machine.state === "stopped" ? "stopped" : "down",
      services: [],
      error: `${machine.state}: ${machine.detail}`,
    };
  try {
    await t.run("true", { timeoutMs: 15_000 });
  } catch (err) {
    return { ...base, state: "down", services: [], error: (err as Error).message.split("\n")[0] };
  }
  // JupyterLab runs only while npm run notebook does: listed when it runs, never "down".
  const services = (await Promise.all(["scheduler", "worker", "notebook"].map((s) => serviceState(t, s)))).filter(
    (s): s is ServiceState => s !== undefined && (s.name !== "notebook" || s.running),
  );
  return { ...base, state: "up", services };
}

function lastBenchmark(projectDir: string): ClusterStatus["lastBenchmark"] {
  const latest = path.join(resultsDir(projectDir), "latest");
  if (!existsSync(path.join(latest, "results.json"))) return undefined;
  const dir = realpathSync(latest);
  try {
    const r = JSON.parse(readFileSync(path.join(dir, "results.json"), "utf8")) as { finishedAt?: string };
    return { dir, finishedAt: r.finishedAt };
  } catch {
    return { dir };
  }
}

/** The status of what is deployed (Deployed read from the state), or of nothing. */
export async function collectStatus(
  config: Cluster,
  deployed: Deployed | undefined,
  provider: MachineProvider,
): Promise<ClusterStatus> {
  const base = { cluster: config.id, lastBenchmark: lastBenchmark(config.projectDir) };
  if (!deployed) {
    return {
      ...base,
      provider: config.config.provider,
      deployed: false,
      nodes: [],
      scheduler: config.schedulerAddress,
      workers: [],
      versions: "unknown",
      dashboard: config.dashboardUrl,
      configDiffers: [],
      healthy: false,
    };
  }
  const ref = deployed.cluster;
  const dask = deployed.dask ?? config.config.dask;
  const transports = ref.nodes.map((n) => provider.transport(ref, n));
  const nodes = await Promise.all(
    ref.nodes.map(async (n, i) => nodeStatus(n, transports[i]!, await provider.machineState(ref, n))),
  );
  const address = schedulerAddress(ref.head, dask);
  let workers: RegisteredWorker[] = [];
  let workersError: string | undefined;
  const head = transports[0]!;
  const since = stoppedSince(config.clusterDir);
  const stopped = since !== undefined && !nodes.some((n) => n.services.some((s) => s.running));
  if (stopped) {
    workersError = "the cluster is stopped";
  } else if (nodes[0]?.state === "up") {
    try {
      workers = await waitForWorkers(head, address, dask.tls, [], 15, dashboardUrl(ref.head, dask));
    } catch (err) {
      workersError = (err as Error).message.split("\n")[0];
    }
  } else {
    workersError = `${head.node} is ${nodes[0]?.state ?? "down"}`;
  }
  let versions = "unknown";
  if (deployed.runtime && nodes.every((n) => n.state === "up")) {
    const v = await check({ cluster: ref, provider, runtime: deployed.runtime, services: false });
    versions = v.verdict === "identical" ? "identical" : `${v.verdict}: ${v.drift.slice(0, 3).join("; ")}`;
  }
  const servicesUp = nodes.every(
    (n) => n.state === "up" && n.services.length > 0 && n.services.every((s) => s.running),
  );
  return {
    ...base,
    provider: ref.provider,
    deployed: true,
    nodes,
    scheduler: address,
    workers,
    workersError,
    versions,
    dashboard: `${dashboardUrl(ref.head, dask)}/status`,
    configDiffers: differences(deployed, config),
    healthy: servicesUp && workers.length === ref.nodes.length && versions === "identical",
    // Stopped while no service runs; a deploy or a start since makes the record stale.
    stoppedSince: stopped ? since : undefined,
  };
}

function since(s: ServiceState): string {
  if (!s.since) return "";
  const secs = Math.max(0, (Date.now() - Date.parse(s.since)) / 1000);
  const human =
    secs < 120
      ? `${secs.toFixed(0)} s`
      : secs < 7200
        ? `${(secs / 60).toFixed(0)} min`
        : `${(secs / 3600).toFixed(1)} h`;
  return ` for ${human}`;
}

export function renderStatus(s: ClusterStatus): string {
  const lines = [
    `cluster ${s.cluster} (${s.provider})${s.deployed ? "" : " — not deployed (no machine in Terraform's state): run npx cdktf deploy"}`,
    "",
  ];
  if (s.configDiffers.length)
    lines.push(
      `note: cluster.config.json differs from what is deployed (${s.configDiffers.join("; ")}); shown: the deployed cluster`,
      "",
    );
  if (!s.deployed)
    return [
      ...lines,
      `benchmark   ${s.lastBenchmark ? path.join(s.lastBenchmark.dir, "report.md") : "none yet"}`,
      "",
      "NOT HEALTHY: nothing is deployed",
    ].join("\n");
  const rows = s.nodes.map((n) => [
    n.name,
    n.state,
    n.ip,
    `${n.cpus} cpu`,
    `${n.memoryMb} MiB`,
    n.services
      .map((v) => `${v.name} ${v.running ? `up${since(v)}${v.restarts ? `, ${v.restarts} restarts` : ""}` : "DOWN"}`)
      .join("; ") ||
      (n.error ?? "no services"),
  ]);
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  lines.push(
    ...rows.map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join("  ")
        .trimEnd(),
    ),
  );
  lines.push("");
  lines.push(`scheduler   ${s.scheduler}`);
  lines.push(
    `workers     ${s.workers.length ? s.workers.map(workerLine).join(", ") : `none${s.workersError ? ` (${s.workersError})` : ""}`}`,
  );
  lines.push(`versions    ${s.versions}`);
  lines.push(`dashboard   ${s.dashboard}`);
  lines.push(
    `benchmark   ${s.lastBenchmark ? `${s.lastBenchmark.finishedAt ?? "?"}  ${path.join(s.lastBenchmark.dir, "report.md")}` : "none yet (npm run benchmark)"}`,
  );
  lines.push(
    "",
    s.healthy
      ? "healthy: every node, service and worker is up and versions are identical"
      : s.stoppedSince
        ? `stopped since ${s.stoppedSince} (npm run stop): everything is installed; npm run start brings it back`
        : "NOT HEALTHY: see the rows above",
  );
  return lines.join("\n");
}

const USAGE = `usage: npm run status -- [--json]
  --json              machine-readable status (default: a table)
exit: 0 healthy, 1 something is down (or the cluster is stopped: npm run start), 2 bad input`;

export async function cli(argv: readonly string[]): Promise<number> {
  const parsed = parseCli(argv, USAGE, { json: { type: "boolean", default: false } });
  if (!parsed) return 0;
  const { values } = parsed;
  const config = loadCluster({ projectDir: PROJECT_DIR });
  const deployed = readDeployed(stateFile(config.clusterDir));
  const status = await collectStatus(
    config,
    deployed,
    providerFor(deployed?.cluster.provider ?? config.config.provider, realHost()),
  );
  process.stdout.write(values.json ? `${JSON.stringify(status, null, 2)}\n` : `${renderStatus(status)}\n`);
  return status.healthy ? 0 : 1;
}
