// `npm run status`: what is deployed and whether it works: nodes (state, IP, cpus,
// memory), services (up/down, since, restarts), workers registered with the scheduler,
// the version verdict, the dashboard URL and the last benchmark. --json for machines.
// Exit 0 when everything is up, 1 when something is down, 2 on bad input.
import { existsSync, readFileSync, realpathSync } from "node:fs";
import path from "node:path";
import { loadCluster, type Cluster } from "../lib/config.js";
import { clusterRefOf, runtimeRefOf, transportsOf } from "../lib/cluster-ref.js";
import { parseCli } from "../lib/cli.js";
import { PROJECT_DIR, resultsDir } from "../lib/paths.js";
import { waitForWorkers, type RegisteredWorker } from "../lib/probe.js";
import { dashboardUrl, nodePaths } from "../lib/services.js";
import { shq, type Transport } from "../lib/transport.js";

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
  readonly state: "up" | "down";
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
  readonly healthy: boolean;
}

async function serviceState(t: Transport, name: string): Promise<ServiceState | undefined> {
  const p = nodePaths(t.root);
  const r = await t.run(`if [ -f ${shq(`${p.etc}/${name}.json`)} ]; then ${shq(p.python)} -m dask_vm_runtime service status ${name} --root ${shq(t.root)} --manager ${t.serviceManager}; fi`, { nothrow: true, timeoutMs: 20_000 });
  if (!r.stdout.trim()) return undefined;
  try {
    return JSON.parse(r.stdout) as ServiceState;
  } catch {
    return { name, running: false };
  }
}

async function nodeStatus(cluster: Cluster, t: Transport): Promise<NodeStatus> {
  const spec = cluster.nodes.find((n) => n.name === t.node)!;
  const base = { name: spec.name, ip: spec.ip, cpus: spec.cpus, memoryMb: spec.memoryMb };
  try {
    await t.run("true", { timeoutMs: 15_000 });
  } catch (err) {
    return { ...base, state: "down", services: [], error: (err as Error).message.split("\n")[0] };
  }
  const services = (await Promise.all(["scheduler", "worker"].map((s) => serviceState(t, s)))).filter((s): s is ServiceState => Boolean(s));
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

export async function collectStatus(cluster: Cluster): Promise<ClusterStatus> {
  const ref = clusterRefOf(cluster);
  const deployed = existsSync(path.join(cluster.clusterDir, "terraform.tfstate"));
  const transports = await transportsOf(ref);
  const nodes = await Promise.all(transports.map((t) => nodeStatus(cluster, t)));
  let workers: RegisteredWorker[] = [];
  let workersError: string | undefined;
  const head = transports[0]!;
  if (nodes[0]?.state === "up") {
    try {
      workers = await waitForWorkers(head, cluster.schedulerAddress, cluster.config.dask.tls, [], 15, dashboardUrl(cluster.nodes[0]!, cluster.config.dask));
    } catch (err) {
      workersError = (err as Error).message.split("\n")[0];
    }
  } else {
    workersError = `${head.node} is down`;
  }
  let versions = "unknown";
  if (nodes.every((n) => n.state === "up")) {
    const { check } = await import("./verify-versions.js");
    const v = await check({ cluster: ref, runtime: runtimeRefOf(cluster), services: false, json: true, all: false, fix: false });
    versions = v.verdict === "identical" ? "identical" : `${v.verdict}: ${v.drift.slice(0, 3).join("; ")}`;
  }
  const servicesUp = nodes.every((n) => n.state === "up" && n.services.length > 0 && n.services.every((s) => s.running));
  return {
    cluster: cluster.id,
    provider: cluster.config.provider,
    deployed,
    nodes,
    scheduler: cluster.schedulerAddress,
    workers,
    workersError,
    versions,
    dashboard: cluster.dashboardUrl,
    lastBenchmark: lastBenchmark(cluster.projectDir),
    healthy: servicesUp && workers.length === cluster.nodes.length && versions === "identical",
  };
}

function since(s: ServiceState): string {
  if (!s.since) return "";
  const secs = Math.max(0, (Date.now() - Date.parse(s.since)) / 1000);
  const human = secs < 120 ? `${secs.toFixed(0)} s` : secs < 7200 ? `${(secs / 60).toFixed(0)} min` : `${(secs / 3600).toFixed(1)} h`;
  return ` for ${human}`;
}

export function renderStatus(s: ClusterStatus): string {
  const lines = [`cluster ${s.cluster} (${s.provider})${s.deployed ? "" : " — not deployed (no Terraform state): run cdktf deploy"}`, ""];
  const rows = s.nodes.map((n) => [
    n.name, n.state, n.ip, `${n.cpus} cpu`, `${n.memoryMb} MiB`,
    n.services.map((v) => `${v.name} ${v.running ? `up${since(v)}${v.restarts ? `, ${v.restarts} restarts` : ""}` : "DOWN"}`).join("; ") || (n.error ?? "no services"),
  ]);
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  lines.push(...rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd()));
  lines.push("");
  lines.push(`scheduler   ${s.scheduler}`);
  lines.push(`workers     ${s.workers.length ? s.workers.map((w) => `${w.name}@${w.host} (${w.nthreads} threads)`).join(", ") : `none${s.workersError ? ` (${s.workersError})` : ""}`}`);
  lines.push(`versions    ${s.versions}`);
  lines.push(`dashboard   ${s.dashboard}`);
  lines.push(`benchmark   ${s.lastBenchmark ? `${s.lastBenchmark.finishedAt ?? "?"}  ${path.join(s.lastBenchmark.dir, "report.md")}` : "none yet (npm run benchmark)"}`);
  lines.push("", s.healthy ? "healthy: every node, service and worker is up and versions are identical" : "NOT HEALTHY: see the rows above");
  return lines.join("\n");
}

const USAGE = `usage: npm run status -- [--json]
  --json              machine-readable status (default: a table)
exit: 0 healthy, 1 something is down, 2 bad input`;

export async function cli(argv: readonly string[]): Promise<number> {
  const parsed = parseCli(argv, USAGE, { json: { type: "boolean", default: false } });
  if (!parsed) return 0;
  const { values } = parsed;
  const projectDir = PROJECT_DIR;
  const status = await collectStatus(loadCluster({ projectDir }));
  process.stdout.write(values.json ? `${JSON.stringify(status, null, 2)}\n` : `${renderStatus(status)}\n`);
  return status.healthy ? 0 : 1;
}
