// The benchmark run, for `npm run benchmark` and the deploy's final stage: checks the
// cluster is up and its versions identical, runs the benchmark suite with a client on
// node 1 (as in the first write-up), shows progress, copies the results back, validates
// them against the JSON Schema and writes results/<timestamp>/ (results.json, report.md,
// SVG charts).
import { mkdir, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import cliProgress from "cli-progress";

import { badInput, UserError } from "../core/errors.js";
import { step } from "../core/log.js";
import { resultsDir } from "../host/paths.js";
import { waitForWorkers } from "../services/probe.js";
import type { MachineProvider } from "../machines/provider.js";
import { dashboardUrl, schedulerAddress } from "../services/definitions.js";
import type { ClusterRef, RuntimeRef } from "../core/stage-spec.js";
import { shq } from "../machines/transport.js";
import { renderTable, updateLatest, writeReport } from "./report.js";
import { validateResults, type Results } from "./results-schema.js";
import { verify } from "../services/version-gate/gate.js";
import type { ClusterConfig } from "../core/config-schema.js";
import { nodePaths } from "../core/node-paths.js";

export interface BenchmarkOptions {
  readonly cluster: ClusterRef;
  /** The machine layer the cluster runs on (its transports reach the nodes). */
  readonly provider: MachineProvider;
  readonly settings: ClusterConfig["benchmark"];
  readonly dask: ClusterConfig["dask"];
  /** When given, versions are verified first and a drift stops the run. */
  readonly runtime?: RuntimeRef;
  /** Node counts for the scaling workloads. Default: 1..N. */
  readonly nodeCounts?: readonly number[];
  /** svd-ratings' matrix: a ratings file on this computer (sent to node 1, removed after the run), or a node-side source (data:NAME/FILE, generated:SHAPE). */
  readonly svdMatrix?: { readonly file?: string; readonly source?: string };
  /** Where results/<timestamp>/ goes. Default: <project>/results. */
  readonly outRoot?: string;
}

export interface BenchEvent {
  readonly event: string;
  readonly workload?: string;
  readonly step?: string;
  readonly done?: number;
  readonly total?: number;
  readonly [k: string]: unknown;
}

/** Progress bars on a terminal, one plain line per event elsewhere (CI, Terraform logs). */
function progressView() {
  const tty = Boolean(process.stdout.isTTY) && !process.env.CI;
  const bars = tty
    ? new cliProgress.MultiBar(
        { format: " {workload} [{bar}] {value}/{total} {step}", hideCursor: true, clearOnComplete: false },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  const byWorkload = new Map<string, cliProgress.SingleBar>();
  return {
    onEvent(e: BenchEvent) {
      const w = e.workload ?? "bench";
      if (bars && e.total !== undefined) {
        let bar = byWorkload.get(w);
        if (!bar) {
          bar = bars.create(e.total, 0, { workload: w.padEnd(10), step: "" });
          byWorkload.set(w, bar);
        }
        bar.setTotal(e.total);
        bar.update(e.done ?? 0, { step: e.step ?? "" });
      } else if (e.event !== "progress" || e.done === e.total || !tty) {
        step("benchmark", `${w}: ${e.step ?? e.event}${e.total !== undefined ? ` (${e.done ?? 0}/${e.total})` : ""}`);
      }
    },
    stop() {
      bars?.stop();
    },
  };
}

export function timestamp(d = new Date()): string {
  return d.toISOString().replace(/[:]/g, "-").replace(/\..+$/, "Z");
}

/** Runs the suite on node 1 and writes the report; returns the results folder. */
export async function runBenchmark(opts: BenchmarkOptions): Promise<string> {
  const { cluster, settings, dask, provider } = opts;
  const head = provider.transport(cluster, cluster.head);
  const address = schedulerAddress(cluster.head, dask);
  const names = cluster.nodes.map((n) => n.name);

  try {
    await waitForWorkers(head, address, dask.tls, names, 30, dashboardUrl(cluster.head, dask));
  } catch (err) {
    throw new UserError(`the cluster is not up: ${(err as Error).message.split("\n")[0]}`, 2, [
      {
        path: "cluster",
        message: `expected a scheduler at ${address} with workers ${names.join(", ")}`,
        fix: "run cdktf deploy (and npm run status to see what is down)",
      },
    ]);
  }
  if (opts.runtime) {
    const code = await verify({
      cluster,
      provider,
      runtime: opts.runtime,
      dask,
      services: true,
      json: false,
      all: false,
      fix: false,
    });
    if (code !== 0)
      throw new UserError("versions differ between nodes: the benchmark would measure a broken cluster", 1, [
        { path: "nodes", message: "see the table above", fix: "npm run verify-versions -- --fix" },
      ]);
  }

  const p = nodePaths(head.root);
  const remoteOut = `${head.root}/results/run.json`;
  const nodes = cluster.nodes.map((n) => ({
    name: n.name,
    ip: n.ip,
    threads: n.threads,
    memoryLimitMb: n.memoryLimitMb,
  }));
  const counts = opts.nodeCounts ?? cluster.nodes.map((_, i) => i + 1);
  const argv = [
    p.python,
    "-m",
    "dask_vm_runtime.bench",
    "--scheduler",
    address,
    ...(dask.tls ? ["--tls-dir", p.tls] : []),
    "--nodes",
    JSON.stringify(nodes),
    "--workloads",
    settings.workloads.join(","),
    "--size",
    settings.size,
    "--repeats",
    String(settings.repeats),
    "--seed",
    String(settings.seed),
    "--node-counts",
    counts.join(","),
    "--out",
    remoteOut,
    // Nodes on this computer share its CPUs: the report bounds speed-up goals by them.
    ...(provider.capabilities.nodesOnThisHost ? ["--host-cpus", String(os.availableParallelism())] : []),
  ];
  let sent: string | undefined;
  if (opts.svdMatrix?.file) {
    sent = `${head.root}/incoming/${path.basename(opts.svdMatrix.file)}`;
    await head.put(opts.svdMatrix.file, sent);
    argv.push("--svd-matrix", sent);
  } else if (opts.svdMatrix?.source) {
    argv.push("--svd-matrix", opts.svdMatrix.source);
  }

  const view = progressView();
  const t0 = performance.now();
  let failure: BenchEvent | undefined;
  try {
    await head.run(`mkdir -p ${shq(`${head.root}/results`)} && ${argv.map(shq).join(" ")}`, {
      timeoutMs: 3_600_000,
      onLine: (line) => {
        try {
          const event = JSON.parse(line) as BenchEvent;
          if (event.event === "error") failure = event;
          view.onEvent(event);
        } catch {
          step("benchmark", line);
        }
      },
    });
  } catch (err) {
    view.stop();
    const renamed = sent && opts.svdMatrix?.file ? { from: sent, to: opts.svdMatrix.file } : undefined;
    throw benchFailure(err as Error, failure, performance.now() - t0, cluster.head.name, renamed);
  } finally {
    // The copy sent for this run goes with it, whatever happened.
    if (sent) await head.run(`rm -f ${shq(sent)}`).catch(() => undefined);
  }
  view.stop();

  const outRoot = opts.outRoot ?? resultsDir(cluster.projectDir);
  const dir = path.join(outRoot, timestamp());
  await mkdir(dir, { recursive: true });
  const raw = path.join(dir, "results.raw.json");
  await head.get(remoteOut, raw);
  const results = validateResults(JSON.parse(await readFile(raw, "utf8")));
  await rm(raw);
  await writeReport(results, dir);
  await updateLatest(outRoot, dir);
  process.stdout.write("\n");
  printSummary(results, dir);
  return dir;
}

/**
 * Why a run failed, as the bench said it: bad input (its exit code 2, such as a ratings
 * file that is not one, naming the line and column) is the user's to fix, exit 2; any other
 * failure is the cluster's, exit 1, with where to look.
 */
export function benchFailure(
  err: Error,
  event: BenchEvent | undefined,
  elapsedMs: number,
  head: string,
  /** The copy on node 1 the bench names, and the user's own file to name instead. */
  renamed?: { readonly from: string; readonly to: string },
): UserError {
  const said = typeof event?.message === "string" ? event.message : undefined;
  if (event?.exitCode === 2 && said) {
    const shown = renamed ? said.replaceAll(renamed.from, renamed.to) : said;
    const matrix = /--svd-matrix/.test(said);
    return new UserError(`the benchmark refused its input: ${shown}`, 2, [
      {
        path: matrix ? "--svd-matrix" : "benchmark",
        message: matrix && renamed ? renamed.to : "see above",
        fix: matrix
          ? "give a MovieLens ratings file: userId,movieId,rating[,timestamp] with a header naming them (any order), ids whole numbers ≥ 0, ratings numbers"
          : "see npm run benchmark -- --help",
      },
    ]);
  }
  const detail = said ?? err.message.split("\n").filter(Boolean).slice(-4).join("\n  ");
  return new UserError(`the benchmark failed after ${(elapsedMs / 1000).toFixed(0)} s`, 1, [
    {
      path: head,
      message: detail,
      fix: "npm run status shows which service is down; npm run logs -- node1 scheduler shows why",
    },
  ]);
}

/** The goals table and where the report is, as the last thing a run prints. */
export function printSummary(results: Results, dir: string): void {
  process.stdout.write(`${renderTable(results)}\n\nresults: ${path.relative(process.cwd(), dir) || dir}/report.md\n`);
}

/** `--render DIR`: the report and charts of an earlier run, drawn again from its results.json. */
export async function render(dir: string): Promise<number> {
  const file = path.join(dir, "results.json");
  let raw: string;
  try {
    raw = await readFile(file, "utf8");
  } catch {
    throw badInput(`--render ${dir}: there is no results.json in it`, [
      {
        path: "--render",
        message: `${file} cannot be read`,
        fix: "give a folder written by npm run benchmark, e.g. results/latest",
      },
    ]);
  }
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (err) {
    throw badInput(`--render ${dir}: results.json is not JSON`, [
      {
        path: file,
        message: (err as Error).message,
        fix: "run the benchmark again; results.json is never edited by hand",
      },
    ]);
  }
  const results = validateResults(json);
  await writeReport(results, dir);
  printSummary(results, dir);
  return 0;
}
