// npm run bench:deploy: how long a deploy takes, and where the time goes, for 1..16 nodes
// on the local provider, against a by-hand baseline (provision/bench/deploy-baseline.sh) made in
// the same run. Each node count: `cdktf deploy` from nothing (runtime bundle cached), a
// no-op deploy, a one-node change (the last node's cpus), `cdktf destroy`, checked to
// leave nothing; every stage process times itself (DVC_STAGE_TIMES, bench/stage-times.ts).
// It all happens in a scratch copy of this checkout, so its cluster is never the user's.
// Results: <out>/<UTC time>/results.json (schema: bench/deploy-results.ts), report.md
// and deploy-time.svg, and <out>/latest.
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import os from "node:os";
import path from "node:path";
import { timestamp } from "./run.js";
import { bundleIdOf } from "../runtime/bundle.js";
import { renderSvg } from "./charts.js";
import { copyCheckout } from "../host/checkout-copy.js";
import { resolveCluster } from "../config/resolve.js";
import {
  type BaselineTiming,
  type DeployBenchResults,
  type DeployBenchRun,
  DEPLOY_BENCH_SCHEMA_VERSION,
  deployTimeSpec,
  evaluateDeployGoals,
  renderDeployMarkdown,
  stageRunsOf,
  validateDeployBench,
  type VerbTiming,
} from "./deploy-results.js";
import { UserError } from "../core/errors.js";
import type { Host } from "../host/host.js";
import type { Log } from "../core/log.js";
import { ensureRuntime } from "../runtime/packages.js";
import { cacheDir, PROJECT_DIR } from "../host/paths.js";
import { pycachePathOf } from "../runtime/pycache.js";
import { updateLatest } from "./report.js";
import { readStageTimes } from "./stage-times.js";
import { terraformCli, terraformEnvironment } from "../host/terraform.js";
import type { Cluster } from "../core/model.js";

export const DEFAULT_NODE_COUNTS = [1, 3, 4, 8, 16] as const;

export interface DeployBenchOptions {
  readonly nodeCounts: readonly number[];
  /** Also a deploy with nothing cached (wheels, bundle, byte-code), at the first node count. */
  readonly cold: boolean;
  /** Results root: a folder per run and `latest` go here. */
  readonly outRoot: string;
  readonly host: Host;
  readonly log: Log;
}

/** Refuses, with exit 2 and what to do, a host where the local provider cannot run. */
export function checkBenchHost(host: Host): void {
  const problems = [];
  if (host.platform !== "linux")
    problems.push({
      path: "host",
      message: `this is ${host.platform}`,
      fix: "run it on Linux: the local provider is network namespaces",
    });
  else if (process.getuid?.() !== 0)
    problems.push({
      path: "host",
      message: "not root",
      fix: "run it as root (sudo npm run bench:deploy): namespaces need it",
    });
  if (problems.length)
    throw new UserError("npm run bench:deploy measures the local provider, which cannot run here", 2, problems);
}

function configFor(nodes: number, change = false): object {
  return {
    provider: "local",
    nodes: { count: nodes, ...(change ? { overrides: [{ name: `node${nodes}`, cpus: 2 }] } : {}) },
    benchmark: { onDeploy: false },
  };
}

/** What is left of a cluster on this host: its namespaces, and processes started from its folder. */
async function leftovers(host: Host, cluster: Cluster): Promise<string[]> {
  const left: string[] = [];
  const ns = await host.run(["ip", "netns", "list"]);
  for (const line of ns.stdout.split("\n"))
    if (line.startsWith(`dvc-${cluster.id}-`)) left.push(`namespace ${line.split(" ")[0]}`);
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ");
      if (cmd.includes(cluster.clusterDir)) left.push(`process ${pid}: ${cmd.slice(0, 120)}`);
    } catch {
      // gone meanwhile
    }
  }
  return left;
}

export async function runDeployBench(opts: DeployBenchOptions): Promise<string> {
  const { host, log } = opts;
  checkBenchHost(host);
  const started = new Date();
  const runDir = path.join(opts.outRoot, timestamp(started));
  const logs = path.join(runDir, "logs");
  mkdirSync(logs, { recursive: true });
  const top = mkdtempSync(path.join(os.tmpdir(), "dvc-bench-deploy-"));
  const checkout = path.join(top, "checkout");
  copyCheckout(PROJECT_DIR, checkout);
  const cdktf = path.join(PROJECT_DIR, "node_modules", "cdktf-cli", "bundle", "bin", "cdktf");
  const configFile = path.join(checkout, "cluster.config.json");
  const baseEnv = { ...terraformEnvironment(host.env), CI: "true", FORCE_COLOR: "0" };
  let deployed = false;

  /** One cdktf command in the scratch checkout, timed, its stages too; its output in logs/. */
  const verb = async (what: "deploy" | "destroy", label: string, env: NodeJS.ProcessEnv = {}): Promise<VerbTiming> => {
    const times = path.join(top, `${label}.stages.jsonl`);
    rmSync(times, { force: true });
    log.step("bench:deploy", `${label}…`);
    const t0 = Date.now();
    const r = await host.run([process.execPath, cdktf, what, "--auto-approve"], {
      cwd: checkout,
      env: { ...baseEnv, ...env, DVC_STAGE_TIMES: times },
      timeoutMs: 1_800_000,
    });
    const seconds = (Date.now() - t0) / 1000;
    const logFile = path.join(logs, `${label}.log`);
    writeFileSync(logFile, `${r.stdout}\n${r.stderr}`);
    deployed = what === "deploy" || r.exitCode !== 0;
    if (r.exitCode !== 0) throw new Error(`cdktf ${what} (${label}) failed with exit ${r.exitCode}: see ${logFile}`);
    const stages = stageRunsOf(readStageTimes(times), t0);
    log.step("bench:deploy", `${label}: ${seconds.toFixed(1)} s (${stages.length} stage processes)`);
    return { seconds, firstStage: stages.length ? Math.min(...stages.map((s) => s.start)) : null, stages };
  };

  try {
    // The runtime bundle every node count installs, and whether it is cached already.
    writeFileSync(configFile, JSON.stringify(configFor(opts.nodeCounts[0]!)));
    const runtime = await ensureRuntime(resolveCluster(configFor(opts.nodeCounts[0]!), checkout), host, log);
    const bundleId = bundleIdOf(runtime);
    const bundleTar = path.join(cacheDir(host.env), `bundle-${bundleId}.tar`);

    let coldUncached: VerbTiming | undefined;
    if (opts.cold) {
      // Nothing cached but the Terraform provider build (npm run setup's, not the deploy's).
      const empty = path.join(top, "cache");
      mkdirSync(empty);
      const toolchain = path.join(cacheDir(host.env), "toolchain");
      if (existsSync(toolchain)) symlinkSync(toolchain, path.join(empty, "toolchain"));
      coldUncached = await verb("deploy", `${opts.nodeCounts[0]}-nodes-cold-nothing-cached`, { DVC_CACHE_DIR: empty });
      await verb("destroy", `${opts.nodeCounts[0]}-nodes-destroy-after-nothing-cached`, { DVC_CACHE_DIR: empty });
    }
    if (!existsSync(bundleTar) || !existsSync(pycachePathOf(cacheDir(host.env), bundleId))) {
      log.step("bench:deploy", "the runtime bundle is not cached yet: a first deploy builds it (not measured)");
      await verb("deploy", "warm-up-deploy");
      await verb("destroy", "warm-up-destroy");
    }
    // The baseline's wheelhouse: the same bundle, unpacked once.
    const unpacked = path.join(top, "bundle");
    mkdirSync(unpacked);
    const tar = await host.run(["tar", "-xf", bundleTar, "-C", unpacked]);
    if (tar.exitCode !== 0) throw new Error(`cannot unpack ${bundleTar}: ${tar.stderr.trim()}`);

    const runs: DeployBenchRun[] = [];
    for (const [i, n] of opts.nodeCounts.entries()) {
      writeFileSync(configFile, JSON.stringify(configFor(n)));
      const cluster = resolveCluster(configFor(n), checkout);
      const cold = await verb("deploy", `${n}-nodes-cold`);
      const noop = await verb("deploy", `${n}-nodes-no-op`);
      writeFileSync(configFile, JSON.stringify(configFor(n, true)));
      const oneNodeChange = await verb("deploy", `${n}-nodes-one-node-change`);
      const destroy = await verb("destroy", `${n}-nodes-destroy`);
      const left = await leftovers(host, cluster);
      if (left.length) throw new Error(`cdktf destroy of ${n} nodes left ${left.join("; ")}`);
      rmSync(path.join(checkout, ".cluster"), { recursive: true, force: true });

      log.step("bench:deploy", `${n} nodes by hand (provision/bench/deploy-baseline.sh)…`);
      const b = await host.run(
        [
          "bash",
          path.join(PROJECT_DIR, "provision", "bench", "deploy-baseline.sh"),
          String(n),
          unpacked,
          runtime.python,
          path.join(top, "baseline"),
        ],
        {
          timeoutMs: 900_000,
        },
      );
      writeFileSync(path.join(logs, `${n}-nodes-by-hand.log`), `${b.stdout}\n${b.stderr}`);
      if (b.exitCode !== 0)
        throw new Error(
          `the by-hand baseline for ${n} nodes failed with exit ${b.exitCode}: see ${path.join(logs, `${n}-nodes-by-hand.log`)}`,
        );
      const parsed = JSON.parse(b.stdout.trim().split("\n").at(-1)!) as BaselineTiming & { nodes: number };
      const baseline: BaselineTiming = {
        namespaces: parsed.namespaces,
        venvs: parsed.venvs,
        services: parsed.services,
        total: parsed.total,
        teardown: parsed.teardown,
      };
      log.step(
        "bench:deploy",
        `${n} nodes by hand: ${baseline.total.toFixed(1)} s, teardown ${baseline.teardown.toFixed(1)} s`,
      );
      runs.push({
        nodes: n,
        ours: { ...(i === 0 && coldUncached ? { coldUncached } : {}), cold, noop, oneNodeChange, destroy },
        baseline,
      });
    }

    const tf = await host.run([terraformCli(baseEnv), "version"], { env: baseEnv });
    const results: DeployBenchResults = validateDeployBench({
      schemaVersion: DEPLOY_BENCH_SCHEMA_VERSION,
      kind: "deploy",
      startedAt: started.toISOString(),
      finishedAt: new Date().toISOString(),
      provider: "local",
      bundleId,
      host: {
        cpus: os.cpus().length,
        cpuModel: os.cpus()[0]?.model.trim() ?? "unknown",
        memoryGiB: Math.round(os.totalmem() / 2 ** 30),
        platform: `${os.type()} ${os.release()} ${os.arch()}`,
        node: process.version,
        terraform: tf.stdout.split("\n")[0]?.trim() || "unknown",
      },
      runs,
    });
    await writeDeployReport(results, runDir);
    await updateLatest(opts.outRoot, runDir);
    return runDir;
  } catch (err) {
    if (deployed) {
      log.step("bench:deploy", "removing what the failed run deployed");
      await verb("destroy", "cleanup-destroy").catch((e: Error) =>
        host.warn(`${e.message}; the scratch cluster is in ${checkout}: cd there and run npx cdktf destroy`),
      );
    }
    throw err;
  } finally {
    if (!deployed) rmSync(top, { recursive: true, force: true });
  }
}

/** results.json, report.md and the chart into dir. */
export async function writeDeployReport(results: DeployBenchResults, dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, "results.json"), `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(path.join(dir, "report.md"), renderDeployMarkdown(results));
  writeFileSync(path.join(dir, "deploy-time.svg"), await renderSvg(deployTimeSpec(results)));
}

/** --render: the report and chart of an earlier run, again, from its results.json. */
export async function renderDeployBench(dir: string): Promise<DeployBenchResults> {
  const file = path.join(dir, "results.json");
  if (!existsSync(file))
    throw new UserError(`${file} does not exist`, 2, [
      {
        path: "--render",
        message: "no results.json in that folder",
        fix: "give a folder written by npm run bench:deploy",
      },
    ]);
  const results = validateDeployBench(JSON.parse(readFileSync(file, "utf8")));
  writeFileSync(path.join(dir, "report.md"), renderDeployMarkdown(results));
  writeFileSync(path.join(dir, "deploy-time.svg"), await renderSvg(deployTimeSpec(results)));
  return results;
}

/** The summary printed at the end: the table and the goals. */
export function deploySummary(results: DeployBenchResults, dir: string): string {
  const goals = evaluateDeployGoals(results);
  return [
    ...results.runs.map(
      (r) =>
        `${String(r.nodes).padStart(2)} nodes: cold deploy ${r.ours.cold.seconds.toFixed(1)} s (by hand ${r.baseline.total.toFixed(1)} s), no-op ${r.ours.noop.seconds.toFixed(1)} s, one-node change ${r.ours.oneNodeChange.seconds.toFixed(1)} s, destroy ${r.ours.destroy.seconds.toFixed(1)} s`,
    ),
    ...goals.map((g) => `${g.status.padEnd(10)} ${g.goal}: ${g.measured}`),
    `report: ${path.join(dir, "report.md")}`,
  ].join("\n");
}
