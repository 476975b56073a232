// The version gate: collects from every node in parallel what it runs, compares with the
// lock and across nodes (and, when the services run, scheduler vs workers vs client),
// prints the differing rows and a verdict; with fix, reinstalls the bundle on drifting
// nodes, restarts their services and checks again. Run by the version-gate stage, by
// `npm run verify-versions`, by the benchmark before it measures, and by status.
import { readFileSync } from "node:fs";
import { bundleIdOf, lockFileOf } from "../../runtime/bundle.js";
import { installOn } from "../../runtime/install.js";
import { requirementName } from "../../runtime/packages.js";
import type { Host } from "../../host/host.js";
import { collectHostClient, HOST_CLIENT, hostClientRoot, hostClientSupport, makeHostClient } from "../client-venv.js";
import { UserError } from "../../core/errors.js";
import { consoleLog, step } from "../../core/log.js";
import { schedulerAddress, schedulerService, startService, workerService } from "../definitions.js";
import type { ClusterRef, RuntimeRef, StageSpec } from "../../core/stage-spec.js";
import { shq, type Transport } from "../../machines/transport.js";
import {
  collectAll,
  compareNodes,
  compareServices,
  describeDrift,
  driftingNodes,
  lockedVersions,
  renderTable,
  type DriftRow,
  type ServiceVersions,
} from "./facts.js";

import type { MachineProvider } from "../../machines/provider.js";
import { nodePaths } from "../../core/node-paths.js";
import type { ClusterConfig } from "../../core/config-schema.js";

/** What one check needs. */
export interface CheckOptions {
  readonly cluster: ClusterRef;
  /** The machine layer the cluster runs on (its transports reach the nodes). */
  readonly provider: MachineProvider;
  readonly runtime: RuntimeRef;
  /** Also compare scheduler, workers and client through get_versions() when they run (needs dask). */
  readonly services: boolean;
  /** Where the scheduler listens, and needed by --fix to restart services; absent in the deploy gate. */
  readonly dask?: ClusterConfig["dask"];
  /** This computer: its client venv (npm run connect -- --venv), when there is one, is checked too. */
  readonly host?: Host;
}

/** What verify (check, print, and --fix) needs. */
export interface VerifyOptions extends CheckOptions {
  readonly json: boolean;
  readonly all: boolean;
  readonly fix: boolean;
}

export interface VerifyReport {
  readonly verdict: "identical" | "drift" | "unreachable";
  readonly nodes: readonly string[];
  readonly unreachable: ReadonlyArray<{ node: string; error: string }>;
  readonly rows: readonly DriftRow[];
  readonly serviceRows: readonly DriftRow[];
  readonly drift: readonly string[];
  readonly seconds: number;
}

function lockFor(runtime: RuntimeRef, projectDir: string): Map<string, string> {
  return lockedVersions(readFileSync(lockFileOf(runtime, projectDir), "utf8"));
}

/** get_versions() through a client on the head node: distributed's packages, bokeh and runtime.packages. */
async function serviceVersions(
  head: Transport,
  dask: { tls: boolean },
  address: string,
  packages: readonly string[],
): Promise<ServiceVersions | undefined> {
  const p = nodePaths(head.root);
  const status = await head.run(
    `${shq(p.python)} -m dask_vm_runtime service status scheduler --root ${shq(head.root)} --manager ${head.serviceManager}`,
    { nothrow: true, timeoutMs: 30_000 },
  );
  if (status.exitCode !== 0 || !/"running":\s*true/.test(status.stdout)) return undefined;
  const tls = dask.tls ? ["--tls-dir", p.tls] : [];
  const extra = ["bokeh", ...packages.map(requirementName)].flatMap((n) => ["--package", n]);
  const r = await head.run(
    [p.python, "-m", "dask_vm_runtime", "client-versions", "--scheduler", address, ...tls, ...extra].map(shq).join(" "),
    { timeoutMs: 60_000 },
  );
  return (JSON.parse(r.stdout) as { versions: ServiceVersions }).versions;
}

/** One full check; returns the report without printing. */
export async function check(opts: CheckOptions): Promise<VerifyReport> {
  const t0 = performance.now();
  const transports = opts.cluster.nodes.map((n) => opts.provider.transport(opts.cluster, n));
  const client = opts.host ? await collectHostClient(opts.host, opts.cluster.clusterDir) : undefined;
  const collected = [...(await collectAll(transports)), ...(client ? [client] : [])];
  const unreachable = collected.flatMap((c) => ("error" in c ? [{ node: c.node, error: c.error }] : []));
  const reports = collected.flatMap((c) => ("report" in c ? [{ node: c.node, report: c.report }] : []));
  const expected = {
    python: opts.runtime.python,
    platform: opts.runtime.platform,
    bundleId: bundleIdOf(opts.runtime),
    lock: lockFor(opts.runtime, opts.cluster.projectDir),
  };
  const rows = compareNodes(reports, expected, new Set([HOST_CLIENT]));
  let serviceRows: DriftRow[] = [];
  if (opts.services && opts.dask && !unreachable.length) {
    const head = transports.find((t) => t.node === opts.cluster.head.name);
    if (head) {
      const sv = await serviceVersions(
        head,
        opts.dask,
        schedulerAddress(opts.cluster.head, opts.dask),
        opts.runtime.packages ?? [],
      );
      if (sv) serviceRows = compareServices(sv);
    }
  }
  const drift = describeDrift([...rows, ...serviceRows]);
  const verdict = unreachable.length ? "unreachable" : drift.length ? "drift" : "identical";
  return {
    verdict,
    nodes: collected.map((c) => c.node),
    unreachable,
    rows,
    serviceRows,
    drift,
    seconds: (performance.now() - t0) / 1000,
  };
}

function print(report: VerifyReport, opts: VerifyOptions): void {
  if (opts.json) {
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    return;
  }
  const table = renderTable(report.rows, report.nodes, opts.all);
  if (table) process.stdout.write(`${table}\n\n`);
  if (report.serviceRows.length) {
    const cols = Object.keys(report.serviceRows[0]!.found);
    const st = renderTable(report.serviceRows, cols, opts.all);
    if (st) process.stdout.write(`services (client.get_versions):\n${st}\n\n`);
  }
  for (const u of report.unreachable) process.stdout.write(`unreachable: ${u.node}: ${u.error}\n`);
  for (const d of report.drift) process.stdout.write(`drift: ${d}\n`);
  const bundle = report.rows.find((r) => r.kind === "bundle");
  const onNodes = new Set(Object.values(bundle?.found ?? {}));
  if (bundle?.drift && onNodes.size === 1 && !onNodes.has("(missing)")) {
    process.stdout.write(
      `hint: every node runs bundle ${[...onNodes][0]}, but the lock and runtime sources now make ${bundle.expected}: run cdktf deploy to roll it out\n`,
    );
  }
  const hasClient = report.nodes.includes(HOST_CLIENT);
  const n = report.nodes.length - (hasClient ? 1 : 0);
  const drifting = new Set(report.drift.map((d) => d.split(":")[0]));
  const clientDrifts = drifting.delete(HOST_CLIENT);
  if (clientDrifts)
    process.stdout.write(
      `hint: the host client (.cluster/client/runtime) is not the cluster's runtime: npm run verify-versions -- --fix makes it again\n`,
    );
  const where = [drifting.size ? `${drifting.size} of ${n} nodes` : "", clientDrifts ? "the host client" : ""]
    .filter(Boolean)
    .join(" and ");
  const what = report.rows.filter((r) => r.kind === "package").length;
  const line =
    report.verdict === "identical"
      ? `identical: ${n} nodes run Python ${report.rows[0]?.found[report.nodes[0]!] ?? "?"}, bundle ${bundleIdOf(opts.runtime)}, ${what} packages as locked${hasClient ? "; so does the host client (.cluster/client)" : ""}${report.serviceRows.length ? "; scheduler, workers and client agree" : ""} (${report.seconds.toFixed(1)} s)`
      : report.verdict === "drift"
        ? `DRIFT: ${report.drift.length} difference(s) on ${where} (${report.seconds.toFixed(1)} s)`
        : `UNREACHABLE: ${report.unreachable.map((u) => u.node).join(", ")} did not answer`;
  process.stdout.write(`${line}\n`);
}

/** Re-installs the bundle on the given nodes and restarts what runs there. */
async function fixNodes(opts: VerifyOptions, names: readonly string[]): Promise<void> {
  const transports = opts.cluster.nodes
    .filter((n) => names.includes(n.name))
    .map((n) => opts.provider.transport(opts.cluster, n));
  await Promise.all(
    transports.map(async (t) => {
      step(t.node, "re-installing the runtime bundle (--fix)");
      const node = opts.cluster.nodes.find((n) => n.name === t.node)!;
      const spec: StageSpec = {
        stage: "install",
        cluster: { ...opts.cluster, nodes: [node] },
        node: node.name,
        runtime: opts.runtime,
      };
      await installOn(t, spec, { force: true });
      if (!opts.dask) return;
      const running = await t.run(`ls ${shq(`${t.root}/etc`)} 2>/dev/null || true`, { nothrow: true });
      if (node.name === opts.cluster.head.name && running.stdout.includes("scheduler.json")) {
        await startService(t, "scheduler", schedulerService(node, opts.dask, t.root));
      }
      if (running.stdout.includes("worker.json"))
        await startService(t, "worker", workerService(node, opts.cluster.head, opts.dask, t.root));
    }),
  );
}

/** Makes the host client again from the cluster's runtime (--fix). */
async function remakeHostClient(host: Host, opts: VerifyOptions): Promise<void> {
  const support = await hostClientSupport(host, opts.runtime);
  if (!support.ok)
    throw new UserError(`the host client cannot be made again: ${support.why}`, 1, [
      {
        path: hostClientRoot(opts.cluster.clusterDir),
        message: support.why,
        fix: `remove ${hostClientRoot(opts.cluster.clusterDir)}`,
      },
    ]);
  step(HOST_CLIENT, "making it again from the cluster's runtime (--fix)");
  await makeHostClient(
    host,
    opts.cluster.projectDir,
    opts.cluster.clusterDir,
    opts.runtime,
    support.python,
    consoleLog,
  );
}

/** Checks (and with fix, repairs then re-checks); prints; returns the exit code. */
export async function verify(opts: VerifyOptions): Promise<number> {
  let report = await check(opts);
  if (opts.fix && report.verdict === "drift") {
    if (!opts.json) print(report, opts);
    const nodes = driftingNodes(report.rows, opts.cluster.nodes);
    const clientDrifts = report.drift.some((d) => d.startsWith(`${HOST_CLIENT}:`));
    // Only the services disagree (a process that loaded other bits before a repair): every node.
    const targets = nodes.length || clientDrifts ? nodes : opts.cluster.nodes.map((n) => n.name);
    if (targets.length) await fixNodes(opts, targets);
    if (clientDrifts && opts.host) await remakeHostClient(opts.host, opts);
    report = await check(opts);
  }
  print(report, opts);
  return report.verdict === "identical" ? 0 : report.verdict === "drift" ? 1 : 2;
}
