// The benchmark report of one run: results.json, report.md (every figure in tables, each
// goal met or missed with its numbers, versions and hardware, links to the charts) and
// the SVG charts, in one folder; a compact plain-text table for the terminal; and the
// results/latest symlink that follows the newest run.
import { lstat, mkdir, readlink, rename, symlink, unlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { renderCharts } from "./charts.js";
import { UserError } from "../core/errors.js";
import type { Results, SvdRatingsResults } from "./results-schema.js";

export type GoalStatus = "met" | "missed" | "not judged";

export interface Goal {
  readonly workload: string;
  /** What is measured, e.g. "3 nodes: time over ideal". */
  readonly what: string;
  /** The goal in words, e.g. "≤ 1 % over ideal". */
  readonly target: string;
  /** The measured figure(s) in words. */
  readonly measured: string;
  readonly status: GoalStatus;
  /** Why a goal is not judged. */
  readonly note?: string;
}

// The goals of the suite, in one place. Timing goals are stated for the full size only.
// What a machine can give is judged against that machine: rates against the LocalCluster
// the same run measures on the client node (no fixed tasks/s), and the 3-node speed-up
// against the cores the nodes really have (svdMinSpeedup3 is for 3 nodes with a core each;
// fewer cores lower it in proportion, see speedupCeiling).
export const GOALS = {
  incSleepMaxOverhead: 0.01,
  perItemVsLocalCluster: 0.9,
  batchedVsPerItem: 300,
  placementMaxTaskDeviation: 1,
  svdMaxRelativeError: 0.01,
  svdMinMemoryRatio: 3,
  svdMinSpeedup3: 1.7,
} as const;

const int = (n: number) => Math.round(n).toLocaleString("en-US");
const pct = (f: number, digits = 2) => `${(f * 100).toFixed(digits)} %`;
const signedPct = (f: number) => `${f >= 0 ? "+" : ""}${(f * 100).toFixed(2)} %`;
const secs = (s: number) => `${s.toFixed(3)} s`;
const gib = (b: number) => `${(b / 2 ** 30).toFixed(2)} GiB`;
const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
const bytes = (b: number) => (b >= 2 ** 30 ? gib(b) : mib(b));
const sci = (x: number) => (x === 0 ? "0" : x.toExponential(2));
const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;

function judged(ok: boolean, applies: boolean): GoalStatus {
  if (!applies) return "not judged";
  return ok ? "met" : "missed";
}

const fmt = (x: number) => (Number.isInteger(x) ? String(x) : x.toFixed(2));

/**
 * CPU cores the workers of a case can use at once: on each machine (workers with one
 * hostname), their threads but at most the CPUs their processes may run on; summed over
 * the machines; at most the CPUs of the computer they all run on (config.hostCpus: local
 * namespaces share it, and VMs' vCPUs together cannot use more than it has).
 */
export function usableCores(results: Results, workers: readonly string[]): number {
  const byMachine = new Map<string, { threads: number; cpus: number }>();
  for (const h of results.hardware.filter((x) => workers.includes(x.address))) {
    const m = byMachine.get(h.hostname) ?? { threads: 0, cpus: 0 };
    m.threads += h.nthreads;
    m.cpus = Math.max(m.cpus, h.cpuAffinity || h.cpuCount);
    byMachine.set(h.hostname, m);
  }
  const total = [...byMachine.values()].reduce((s, m) => s + Math.min(m.threads, m.cpus), 0);
  return Math.min(total, results.config.hostCpus ?? Infinity);
}

/**
 * What the 3-node speed-up can be on this run's machines: slotsRatio is the speed-up with a
 * core per thread (3 for one-thread nodes), ceiling the one the cores allow (cores of the 3
 * nodes' workers over those of the 1 node's, so min(nodes, cores) for one-thread nodes),
 * target the goal scaled from the first to the second (the same share of ideal).
 */
export function speedupBound(
  results: Results,
  one: { slots: number; workers: readonly string[] },
  three: { slots: number; workers: readonly string[] },
) {
  const slotsRatio = three.slots / one.slots;
  const coresOne = usableCores(results, one.workers);
  const coresThree = usableCores(results, three.workers);
  const ceiling = Math.min(slotsRatio, coresThree / Math.max(coresOne, 1));
  const target = (GOALS.svdMinSpeedup3 * ceiling) / slotsRatio;
  const why =
    ceiling < slotsRatio
      ? `${GOALS.svdMinSpeedup3} × ${fmt(ceiling)}/${fmt(slotsRatio)}: ${plural(three.slots, "worker thread")} share ${plural(coresThree, "core")}${coresOne > 1 ? `, 1 node has ${coresOne}` : ""}`
      : `a core for each of the ${plural(three.slots, "worker thread")}`;
  return { slotsRatio, ceiling, target, coresOne, coresThree, why };
}

/** Every goal of the run with its numbers. Timing goals are judged in the full size only. */
export function evaluateGoals(results: Results): Goal[] {
  const goals: Goal[] = [];
  const full = results.config.size === "full";
  const smallNote = full ? undefined : "timing goals are stated for --size full";
  const w = results.workloads;

  const inc = w["inc-sleep"];
  if (inc) {
    for (const c of inc.cases) {
      goals.push({
        workload: "inc-sleep",
        what: `${plural(c.nodes, "node")} (${plural(c.slots, "slot")}), ${c.reduction}: time over ideal`,
        target: `≤ ${pct(GOALS.incSleepMaxOverhead, 0)} over ideal ${secs(c.idealSeconds)}`,
        measured: `${secs(c.seconds)} (${signedPct(c.overheadFraction)})`,
        status: judged(c.overheadFraction <= GOALS.incSleepMaxOverhead, full),
        ...(smallNote ? { note: smallNote } : {}),
      });
    }
    goals.push({
      workload: "inc-sleep",
      what: "totals",
      target: `= ${inc.expectedTotal} in every run`,
      measured: inc.cases.every((c) => c.correct) ? "all correct" : "WRONG in some runs",
      status: judged(
        inc.cases.every((c) => c.correct),
        true,
      ),
    });
  }

  const mr = w["map-reduce"];
  if (mr) {
    const v = (name: string) => mr.variants.find((x) => x.variant === name);
    const perItem = v("per-item");
    const batched = v("batched");
    const local = v("local-cluster");
    if (perItem && local) {
      const ratio = perItem.tasksPerSecond / local.tasksPerSecond;
      goals.push({
        workload: "map-reduce",
        what: "per-item rate vs this run's LocalCluster",
        target: `≥ ${GOALS.perItemVsLocalCluster} × LocalCluster (${mr.localCluster.nWorkers} × ${mr.localCluster.threadsPerWorker} thread, on the client, this run)`,
        measured: `${ratio.toFixed(2)} × (${int(perItem.tasksPerSecond)} vs ${int(local.tasksPerSecond)} tasks/s)`,
        status: judged(ratio >= GOALS.perItemVsLocalCluster, full),
        ...(smallNote ? { note: smallNote } : {}),
      });
    }
    if (perItem && batched) {
      const ratio = batched.tasksPerSecond / perItem.tasksPerSecond;
      goals.push({
        workload: "map-reduce",
        what: "batched vs per-item",
        target: `≥ ${GOALS.batchedVsPerItem} × per-item`,
        measured: `${int(ratio)} × (${int(batched.tasksPerSecond)} vs ${int(perItem.tasksPerSecond)} tasks/s)`,
        status: judged(ratio >= GOALS.batchedVsPerItem, full),
        ...(smallNote ? { note: smallNote } : {}),
      });
    }
    goals.push({
      workload: "map-reduce",
      what: "totals",
      target: `= ${mr.expectedTotal} in every run`,
      measured: mr.variants.every((x) => x.correct)
        ? "all correct"
        : `WRONG: ${mr.variants
            .filter((x) => !x.correct)
            .map((x) => x.variant)
            .join(", ")}`,
      status: judged(
        mr.variants.every((x) => x.correct),
        true,
      ),
    });
  }

  const pl = w.placement;
  if (pl) {
    const worst = Math.max(...pl.perNode.map((p) => Math.abs(p.tasks - p.expectedTasks)));
    goals.push({
      workload: "placement",
      what: "tasks per node follow slots",
      target: `every node within ${GOALS.placementMaxTaskDeviation} task of tasks × slots / total slots`,
      measured: pl.perNode.map((p) => `${p.node} ${p.tasks.toFixed(1)}/${p.expectedTasks.toFixed(1)}`).join(", "),
      status: judged(worst <= GOALS.placementMaxTaskDeviation + 1e-9, true),
    });
  }

  const svd = w.svd;
  if (svd) {
    for (const c of svd.cases) {
      if (c.maxRelativeError === null) continue;
      goals.push({
        workload: "svd",
        what: `${plural(c.nodes, "node")}: top-${svd.k} singular values`,
        target: `relative error ≤ ${pct(GOALS.svdMaxRelativeError, 0)}`,
        measured: `max ${pct(c.maxRelativeError, 3)}`,
        status: judged(c.maxRelativeError <= GOALS.svdMaxRelativeError, true),
      });
    }
    if (svd.source === "planted") {
      goals.push({
        workload: "svd",
        what: "matrix larger than a worker",
        target: `> ${GOALS.svdMinMemoryRatio} × the smallest worker memory limit`,
        measured: `${gib(svd.matrixBytes)} = ${svd.memoryRatio.toFixed(2)} × ${mib(svd.minWorkerMemoryLimitBytes)}`,
        status: judged(svd.memoryRatio > GOALS.svdMinMemoryRatio, full),
        ...(smallNote ? { note: "the small size uses a small matrix" } : {}),
      });
    }
    goals.push(...speedupGoal("svd", results, svd.cases, full ? undefined : smallNote));
    goals.push(memoryGoal("svd", results, svd.cases));
  }

  const sr = w["svd-ratings"];
  if (sr) {
    for (const c of sr.cases) {
      goals.push({
        workload: "svd-ratings",
        what: `${plural(c.nodes, "node")}: top-${sr.k} singular values`,
        target: `within ${pct(GOALS.svdMaxRelativeError, 0)} of ${sr.reference ? referenceName(sr.reference.kind) : "a reference"}`,
        measured: c.maxRelativeError === null ? "no reference" : `max ${pct(c.maxRelativeError, 3)}`,
        status: judged((c.maxRelativeError ?? Infinity) <= GOALS.svdMaxRelativeError, c.maxRelativeError !== null),
        ...(sr.peerSkipped ? { note: sr.peerSkipped } : {}),
      });
    }
    const spread = sr.workToSpread;
    const why = !full
      ? smallNote
      : spread.enough
        ? undefined
        : `too little work to spread: ${sr.blocks} blocks of ${int(spread.ratingsPerBlock)} ratings (needs ${spread.rule})`;
    goals.push(...speedupGoal("svd-ratings", results, sr.cases, why));
    goals.push(memoryGoal("svd-ratings", results, sr.cases));
    goals.push({
      workload: "svd-ratings",
      what: "one machine or the cluster",
      target: "stated, not judged",
      measured: oneMachineMeasured(sr),
      status: "not judged",
      note: "a comparison to read, see the report",
    });
  }
  return goals;
}

const referenceName = (kind: "exact" | "svds") => (kind === "exact" ? "the exact SVD" : "svds to machine precision");

interface ScaledCase {
  readonly nodes: number;
  readonly slots: number;
  readonly seconds: number;
  readonly workers: readonly string[];
}

/** The 3-node speed-up against the 1-node time, bounded by the cores the nodes have; not judged when `why` says so. */
function speedupGoal(workload: string, results: Results, cases: readonly ScaledCase[], why?: string): Goal[] {
  const one = cases.find((c) => c.nodes === 1);
  const three = cases.find((c) => c.nodes === 3);
  if (!one || !three) return [];
  const speedup = one.seconds / three.seconds;
  const bound = speedupBound(results, one, three);
  const possible = bound.ceiling > 1 + 1e-9;
  const note = why ?? (possible ? undefined : "the cores the nodes have allow no speedup");
  return [
    {
      workload,
      what: "3-node speedup",
      target: possible
        ? `≥ ${bound.target.toFixed(2)} × the 1-node time (${bound.why})`
        : `none possible: ${bound.why}`,
      measured: `${speedup.toFixed(2)} × (${secs(one.seconds)} → ${secs(three.seconds)})`,
      status: judged(speedup >= bound.target, why === undefined && possible),
      ...(note ? { note } : {}),
    },
  ];
}

interface MemoryCase {
  readonly workerMemory: readonly { readonly address: string; readonly node: string; readonly maxRssBytes: number }[];
}

function memoryGoal(workload: string, results: Results, cases: readonly MemoryCase[]): Goal {
  const limits = new Map(results.hardware.map((h) => [h.address, h.memoryLimitBytes]));
  const over = cases.flatMap((c) =>
    c.workerMemory.filter((m) => (limits.get(m.address) ?? 0) > 0 && m.maxRssBytes > (limits.get(m.address) ?? 0)),
  );
  const peak = Math.max(...cases.flatMap((c) => c.workerMemory.map((m) => m.maxRssBytes)));
  return {
    workload,
    what: "memory-safe",
    target: "no worker above its memory limit",
    measured: `peak worker RSS ${mib(peak)}${over.length ? `; over the limit: ${over.map((m) => m.node).join(", ")}` : ""}`,
    status: judged(over.length === 0, true),
  };
}

function oneMachineMeasured(r: SvdRatingsResults): string {
  const best = r.cases.reduce((a, c) => (c.seconds < a.seconds ? c : a));
  const cluster = `cluster best ${secs(best.seconds)} on ${plural(best.nodes, "node")}`;
  if (!r.peer) return `svds on one machine: not run; ${cluster}`;
  return `svds on ${r.peer.node} ${secs(r.peer.seconds)}, ${mib(r.peer.peakRssBytes)}; ${cluster}`;
}

/**
 * Where one machine suffices and where the cluster wins, in plain words, from this run's
 * figures: the peer's time and memory, the cluster's best time, the dense path's need and
 * the ceiling the cores set. Nothing here is a goal.
 */
export function oneMachineVerdict(r: SvdRatingsResults, results: Results): string {
  const best = r.cases.reduce((a, c) => (c.seconds < a.seconds ? c : a));
  const totalLimit = results.hardware.reduce((a, h) => a + h.memoryLimitBytes, 0);
  const out: string[] = [];
  if (!r.peer) {
    out.push(
      `**The cluster wins on memory here**: ${r.peerSkipped}. The cluster held the ${int(r.dataset.ratings)} ratings across its workers and took ${secs(best.seconds)} on ${plural(best.nodes, "node")}.`,
    );
  } else if (r.peer.seconds <= best.seconds) {
    out.push(
      `**One machine suffices at this size**: SciPy's svds on ${r.peer.node} took ${secs(r.peer.seconds)} (and ${secs(r.peer.loadSeconds)} to load) with a peak of ${mib(r.peer.peakRssBytes)}; ` +
        `the cluster's best was ${secs(best.seconds)} on ${plural(best.nodes, "node")}. The cluster wins once the sparse matrix and its solver outgrow one machine's memory ` +
        `(about ${mib(r.peer.peakRssBytes)} for ${int(r.peer.ratings)} ratings here), or with nodes that have cores of their own.`,
    );
  } else {
    out.push(
      `**The cluster wins at this size**: ${plural(best.nodes, "node")} took ${secs(best.seconds)}, SciPy's svds on ${r.peer.node} ${secs(r.peer.seconds)} ` +
        `(peak ${mib(r.peer.peakRssBytes)}).`,
    );
  }
  out.push(
    `Densifying, as the write-up did, would need ${bytes(r.denseBytes)} for the ${int(r.shape[0])} × ${int(r.shape[1])} matrix` +
      (totalLimit > 0
        ? ` (${(r.denseBytes / totalLimit).toFixed(1)} × the memory limit of all the workers together)`
        : "") +
      `; sparse, it is ${mib(r.sparseBytes)}.`,
  );
  const one = r.cases.find((c) => c.nodes === 1);
  const last = r.cases.at(-1)!;
  if (one && last !== one) {
    const bound = speedupBound(results, one, last);
    if (bound.ceiling < bound.slotsRatio)
      out.push(
        `On this machine the ${plural(last.slots, "worker thread")} of ${plural(last.nodes, "node")} share ${plural(bound.coresThree, "core")}: no speed-up over 1 node can pass ${fmt(bound.ceiling)} ×, whatever the software does.`,
      );
  }
  return out.join(" ");
}

// --- Markdown ----------------------------------------------------------------------

function mdTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const esc = (s: string) => s.replace(/\|/g, "\\|").replace(/\n/g, " ");
  return [
    `| ${header.map(esc).join(" | ")} |`,
    `| ${header.map(() => "---").join(" | ")} |`,
    ...rows.map((r) => `| ${r.map(esc).join(" | ")} |`),
  ].join("\n");
}

const statusMark = (s: GoalStatus) => (s === "met" ? "✅ met" : s === "missed" ? "❌ missed" : "➖ not judged");

function limitsNote(results: Results): string[] {
  const hosts = new Set(results.hardware.map((h) => h.hostname));
  const notes: string[] = [];
  if (hosts.size === 1) {
    const h = results.hardware[0]!;
    const threads = results.hardware.reduce((a, x) => a + x.nthreads, 0);
    notes.push(
      `All ${results.hardware.length} workers ran on one machine (${h.hostname}, ${h.cpuCount} CPUs, ${h.cpuModel}), with the scheduler and the client: ` +
        `nodes are processes, not machines. ${threads > h.cpuCount ? `${threads} worker threads share ${h.cpuCount} CPUs, so CPU-bound work (map-reduce, svd) cannot scale past ${h.cpuCount} nodes; ` : ""}` +
        "sleep-bound work (inc-sleep, placement) still scales.",
    );
  }
  const load = results.client.loadAverage;
  const cpus = results.hardware[0]?.cpuCount ?? 0;
  const worst = Math.max(
    ...[load?.start?.[0], load?.end?.[0], load?.end?.[1]].filter((x): x is number => typeof x === "number"),
  );
  if (hosts.size === 1 && cpus > 0 && worst >= cpus / 2) {
    notes.push(
      `Other work loaded the machine during the run (load average up to ${worst.toFixed(1)} on ${cpus} CPUs, ` +
        "counting this run's own processes): latency-bound figures (inc-sleep overhead, per-item rates) are worse than on an idle machine.",
    );
  }
  return notes;
}

function incSleepSection(r: NonNullable<Results["workloads"]["inc-sleep"]>): string {
  const rows = r.cases.map((c) => [
    String(c.nodes),
    c.reduction === "python-sum" ? "`sum(results)`" : "`delayed(sum)(results)`",
    c.nodeNames.join(", "),
    String(c.slots),
    secs(c.seconds),
    secs(c.minSeconds),
    secs(c.idealSeconds),
    signedPct(c.overheadFraction),
    c.speedup.toFixed(2),
    pct(c.efficiency, 1),
    c.runs
      .map((run) =>
        Object.entries(run.tasksPerNode)
          .map(([n, k]) => `${n}:${k}`)
          .join(" "),
      )
      .join(" / "),
    c.correct ? "yes" : "NO",
  ]);
  return [
    "## inc-sleep (seed 1)",
    "",
    `${r.tasks} × \`inc\` that sleeps ${r.delaySeconds} s, as \`dask.delayed\`, on the workers of the first k nodes; summed with \`sum(results)\` as in the write-up ` +
      "(a chain of `add` tasks that one-thread workers can only run after the incs, one hop after another) and with `delayed(sum)(results)` (one task). " +
      `Sequential (the same calls in the client process, no Dask): **${secs(r.sequentialSeconds)}**. ` +
      `Ideal = ceil(${r.tasks} / slots) × ${r.delaySeconds} s: the time with no overhead at all, computed, not measured.`,
    "",
    mdTable(
      [
        "nodes",
        "reduction",
        "node names",
        "slots",
        "time (median)",
        "fastest",
        "ideal",
        "over ideal",
        "speedup",
        "efficiency",
        "inc tasks per node (each run)",
        "total correct",
      ],
      rows,
    ),
    "",
    "![inc-sleep: time against nodes](inc-sleep.svg)",
  ].join("\n");
}

function mapReduceSection(r: NonNullable<Results["workloads"]["map-reduce"]>, results: Results): string {
  const rows = r.variants.map((v) => [
    v.variant,
    v.target === "cluster"
      ? "cluster"
      : `LocalCluster on the client (${r.localCluster.nWorkers} processes × ${r.localCluster.threadsPerWorker} thread)`,
    int(v.partitions),
    int(v.graphTasks),
    secs(v.seconds),
    secs(v.minSeconds),
    int(v.tasksPerSecond),
    int(v.graphTasksPerSecond),
    int(v.itemsPerSecond),
    v.correct ? "yes" : "NO",
  ]);
  return [
    "## map-reduce (seed 2)",
    "",
    `\`A = client.map(square, range(${r.items})); B = client.map(neg, A); total = client.submit(sum, B)\`, expected total ${r.expectedTotal}. ` +
      `"batched" runs the same square and neg on chunks, one task per worker thread, then sums the partial sums. ` +
      `Rates count the seed's ${int(r.seedTasks)} tasks (2·items + 1) for every variant. The variants take turns repeat by repeat, so that the machine's load weighs on each alike. ` +
      `Scheduler worker-saturation: cluster ${results.scheduler.workerSaturation}, LocalCluster ${r.localCluster.workerSaturation} ` +
      "(with queuing, a worker holds about saturation × threads tasks at once, so tiny tasks wait for scheduler round trips).",
    "",
    mdTable(
      [
        "variant",
        "where",
        "tasks per stage",
        "graph tasks",
        "time (median)",
        "fastest",
        "seed tasks/s",
        "graph tasks/s",
        "items/s",
        "total correct",
      ],
      rows,
    ),
    "",
    "![map-reduce: tasks per second](map-reduce.svg)",
  ].join("\n");
}

function placementSection(r: NonNullable<Results["workloads"]["placement"]>): string {
  const rows = r.perNode.map((p) => [
    p.node,
    String(p.slots),
    pct(p.expectedShare, 1),
    p.expectedTasks.toFixed(2),
    p.tasks.toFixed(2),
    pct(p.share, 1),
  ]);
  return [
    "## placement (seed 2, the Dispy observation)",
    "",
    `${r.tasks} tasks of ${r.delaySeconds} s over all nodes, no restriction. Time ${secs(r.seconds)} (median; ideal ${secs(r.idealSeconds)} with ${r.totalSlots} slots). ` +
      `Largest share deviation: ${pct(r.maxShareDeviation, 1)}. Runs: ${r.runs
        .map((run) =>
          Object.entries(run.tasksPerNode)
            .map(([n, k]) => `${n}:${k}`)
            .join(" "),
        )
        .join(" / ")}.`,
    "",
    mdTable(["node", "slots", "expected share", "expected tasks", "tasks (mean)", "share"], rows),
    "",
    "![placement: tasks per node](placement.svg)",
  ].join("\n");
}

function svdSection(r: NonNullable<Results["workloads"]["svd"]>, results: Results): string {
  const rows = r.cases.map((c) => [
    String(c.nodes),
    String(c.slots),
    secs(c.seconds),
    secs(c.minSeconds),
    c.maxRelativeError === null ? "n/a" : pct(c.maxRelativeError, 4),
    c.workerMemory.map((m) => `${m.node} ${mib(m.maxRssBytes)}`).join(", "),
    c.workerMemory.map((m) => mib(m.spilledBytes)).join(", "),
  ]);
  const values = r.cases.at(-1)!;
  const sv = values.singularValues.map((s, i) => [
    String(i + 1),
    r.plantedSingularValues ? r.plantedSingularValues[i]!.toFixed(3) : "n/a",
    s.toFixed(3),
    values.relativeErrors ? sci(values.relativeErrors[i]!) : "n/a",
    sci(r.check.relativeResiduals[i] ?? NaN),
  ]);
  const limit = results.hardware.length ? Math.min(...results.hardware.map((h) => h.memoryLimitBytes || Infinity)) : 0;
  return [
    "## svd (seed 2)",
    "",
    `\`da.linalg.svd_compressed(X, k=${r.k}, n_power_iter=${r.nPowerIter}, n_oversamples=${r.nOversamples}, seed=${r.seed}, compute=True)\` of a ` +
      `${int(r.shape[0])} films × ${int(r.shape[1])} users float64 matrix (${gib(r.matrixBytes)}, ${r.memoryRatio.toFixed(2)} × the smallest worker memory limit ${mib(r.minWorkerMemoryLimitBytes)}), ` +
      `${r.blocks} blocks of ${int(r.chunks[0])} × ${int(r.chunks[1])}, ${r.passesOverMatrix} passes over the matrix. ` +
      (r.source === "planted"
        ? `Generated block by block on the workers: U·diag(s)·Vᵀ with exactly orthonormal U, V plus i.i.d. uniform noise of standard deviation ${r.noise}; never whole anywhere.`
        : `Read from ${r.file?.path} (${int(r.file?.ratings ?? 0)} ratings, density ${pct(r.file?.density ?? 0, 3)}), densified one block at a time on the workers.`),
    "",
    mdTable(
      ["nodes", "slots", "time (median)", "fastest", "max relative error", "peak worker RSS", "spilled to disk"],
      rows,
    ),
    "",
    `Singular values of the last run (${plural(values.nodes, "node")}); residual ‖X·vᵢ − sᵢ·uᵢ‖ / sᵢ checked with one more pass on ${plural(r.check.nodes, "node")} (${secs(r.check.seconds)}, not timed with the cases):`,
    "",
    mdTable(["i", "planted", "recovered", "relative error", "residual"], sv),
    "",
    `Worker memory limit: ${limit === Infinity ? "none" : mib(limit)}.`,
    "",
    "![svd: time and error](svd.svg)",
  ].join("\n");
}

function svdRatingsSection(r: SvdRatingsResults, results: Results): string {
  const d = r.dataset;
  const what =
    r.source.kind === "generated"
      ? `A generated ratings set with MovieLens ${r.source.shape}'s shape (seed ${d.seed}), made block by block on the workers: half stars 0.5–5, film and user biases, taste factors and noise, on films and users as unevenly popular as MovieLens'.`
      : `${r.source.kind === "data" ? "Each node's own copy of" : "Sent to the workers in byte ranges from"} \`${r.source.label}\` (${int(d.lines ?? 0)} lines, ${mib(d.bytes ?? 0)}; columns ${(d.columns ?? []).join(", ")}), parsed in parallel on the workers, every line checked.`;
  const rows = r.cases.map((c) => [
    String(c.nodes),
    String(c.slots),
    c.blocks === undefined ? "" : String(c.blocks),
    c.held ? "held" : "made per pass",
    secs(c.loadSeconds),
    secs(c.seconds),
    secs(c.minSeconds),
    c.maxRelativeError === null ? "n/a" : pct(c.maxRelativeError, 4),
    c.workerMemory.map((m) => `${m.node} ${mib(m.maxRssBytes)}`).join(", "),
    c.workerMemory.map((m) => mib(m.spilledBytes)).join(", "),
  ]);
  const peerRows = r.peer
    ? [
        [
          r.peer.tool,
          r.peer.node,
          secs(r.peer.loadSeconds),
          secs(r.peer.seconds),
          mib(r.peer.peakRssBytes),
          pct(r.peer.maxRelativeError, 4),
        ],
        ...(r.peer.exact
          ? [
              [
                r.peer.exact.tool,
                r.peer.node,
                "(same load)",
                secs(r.peer.exact.seconds),
                mib(r.peer.exact.peakRssBytes),
                "0 (the reference)",
              ],
            ]
          : []),
      ]
    : [];
  const last = r.cases.at(-1)!;
  const sv = last.singularValues.map((s, i) => [
    String(i + 1),
    r.reference ? r.reference.singularValues[i]!.toFixed(3) : "n/a",
    s.toFixed(3),
    last.relativeErrors ? sci(last.relativeErrors[i]!) : "n/a",
    sci(r.check.relativeResiduals[i] ?? NaN),
  ]);
  return [
    "## svd-ratings (seed 2, the write-up's own SVD)",
    "",
    `${what} ${int(r.shape[0])} films × ${int(r.shape[1])} users, ${int(d.ratings)} ratings (density ${pct(d.density, 3)}): ` +
      `${mib(r.sparseBytes)} as SciPy csr_matrix row blocks (two per worker thread: ${r.blocks} of about ${int(r.ratingsPerBlock)} ratings on ${plural(r.cases.at(-1)!.nodes, "node")}), never densified; dense it would be ${bytes(r.denseBytes)}.`,
    "",
    `\`da.linalg.svd_compressed(X, k=${r.k}, iterator="${r.iterator}", n_power_iter=${r.nPowerIter}, n_oversamples=${r.nOversamples}, seed=${r.seed}, compute=True)\` on the raw ratings (centring would make X dense), ${r.passesOverMatrix} passes over the matrix.` +
      (r.reference
        ? ` Reference: ${referenceName(r.reference.kind)} (${r.reference.tool}).`
        : ` No reference: ${r.peerSkipped}.`),
    "",
    oneMachineVerdict(r, results),
    "",
    mdTable(
      [
        "nodes",
        "slots",
        "blocks",
        "matrix",
        "load",
        "SVD (median)",
        "fastest",
        "max relative error",
        "peak worker RSS",
        "spilled to disk",
      ],
      rows,
    ),
    "",
    ...(peerRows.length
      ? [
          "One machine, the same matrix, in a process of its own:",
          "",
          mdTable(["tool", "node", "load", "time", "peak memory", "max relative error"], peerRows),
          "",
        ]
      : []),
    `Singular values of the last run (${plural(last.nodes, "node")}); residual ‖X·vᵢ − sᵢ·uᵢ‖ / sᵢ checked with one more pass (${secs(r.check.seconds)}, not timed):`,
    "",
    mdTable(["i", "reference", "cluster", "relative error", "residual"], sv),
    "",
    "![svd-ratings: time and error](svd-ratings.svg)",
  ].join("\n");
}

function environmentSection(results: Results): string {
  const c = results.client;
  const hw = results.hardware.map((h) => [
    h.node,
    h.name,
    h.address,
    h.hostname,
    String(h.nthreads),
    h.memoryLimitBytes ? mib(h.memoryLimitBytes) : "none",
    `${h.cpuAffinity}/${h.cpuCount}`,
    h.cpuModel,
    gib(h.totalMemoryBytes),
    `${h.python} / ${h.dask} / ${h.distributed} / ${h.numpy}`,
  ]);
  return [
    "## Versions and hardware",
    "",
    `Client: ${c.hostname}, Python ${c.python}, dask ${c.dask}, distributed ${c.distributed}, numpy ${c.numpy}, ${c.platform}.` +
      (c.loadAverage?.start && c.loadAverage.end
        ? ` Load average (1/5/15 min) on the client's machine: ${c.loadAverage.start.join(" / ")} at the start, ${c.loadAverage.end.join(" / ")} at the end.`
        : ""),
    `Scheduler: ${results.scheduler.address} (${plural(results.scheduler.workers, "worker")}, ${plural(results.scheduler.threads, "thread")}).` +
      (results.config.hostCpus
        ? ` Every node runs on one computer with ${plural(results.config.hostCpus, "CPU")}: the speed-up goals count no more cores than that.`
        : ""),
    "",
    mdTable(
      [
        "node",
        "worker",
        "address",
        "host",
        "threads",
        "memory limit",
        "CPUs (usable/all)",
        "CPU model",
        "machine memory",
        "python / dask / distributed / numpy",
      ],
      hw,
    ),
  ].join("\n");
}

/** report.md for a run; the charts it links are written beside it by writeReport. */
export function renderMarkdown(results: Results): string {
  const goals = evaluateGoals(results);
  const cfg = results.config;
  const sections = [
    "# dask-vm-cluster benchmark",
    "",
    `Run ${results.startedAt} → ${results.finishedAt} (${results.durationSeconds.toFixed(0)} s). Size **${cfg.size}**, ${plural(cfg.repeats, "repeat")} per case (times are medians), seed ${cfg.seed}, ` +
      `node counts ${cfg.nodeCounts.join(", ")}, workloads ${cfg.workloads.join(", ")}.`,
    ...limitsNote(results).map((n) => `\n> ${n}`),
    "",
    "## Goals",
    "",
    mdTable(
      ["workload", "what", "goal", "measured", "status"],
      goals.map((g) => [
        g.workload,
        g.what,
        g.target,
        g.measured,
        `${statusMark(g.status)}${g.note ? ` (${g.note})` : ""}`,
      ]),
    ),
  ];
  const w = results.workloads;
  if (w["inc-sleep"]) sections.push("", incSleepSection(w["inc-sleep"]));
  if (w["map-reduce"]) sections.push("", mapReduceSection(w["map-reduce"], results));
  if (w.placement) sections.push("", placementSection(w.placement));
  if (w.svd) sections.push("", svdSection(w.svd, results));
  if (w["svd-ratings"]) sections.push("", svdRatingsSection(w["svd-ratings"], results));
  sections.push(
    "",
    environmentSection(results),
    "",
    "## Configuration",
    "",
    "```json",
    JSON.stringify(cfg, null, 2),
    "```",
    "",
  );
  return sections.join("\n");
}

/** Writes results.json, report.md and the charts into outDir; returns the files written. */
export async function writeReport(results: Results, outDir: string): Promise<{ files: string[] }> {
  await mkdir(outDir, { recursive: true });
  const files: string[] = [];
  const put = async (name: string, text: string) => {
    const file = path.join(outDir, name);
    await writeFile(file, text, "utf8");
    files.push(file);
  };
  await put("results.json", `${JSON.stringify(results, null, 2)}\n`);
  for (const chart of await renderCharts(results)) await put(chart.file, chart.svg);
  await put("report.md", renderMarkdown(results));
  return { files };
}

// --- terminal ----------------------------------------------------------------------

/** A compact plain-text table of every goal and its numbers, for the terminal. */
export function renderTable(results: Results): string {
  const goals = evaluateGoals(results);
  const rows = [
    ["workload", "what", "measured", "goal", "status"],
    ...goals.map((g) => [g.workload, g.what, g.measured, g.target, g.status]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join("  ");
  const met = goals.filter((g) => g.status === "met").length;
  const missed = goals.filter((g) => g.status === "missed").length;
  return [
    line(rows[0]!),
    widths.map((wd) => "-".repeat(wd)).join("  "),
    ...rows.slice(1).map(line),
    "",
    `${met} met, ${missed} missed, ${goals.length - met - missed} not judged (size ${results.config.size})`,
  ].join("\n");
}

// --- results/latest ----------------------------------------------------------------

/**
 * Points <resultsRoot>/latest at the newest run folder with a relative symlink, swapped
 * in atomically (a new link renamed over the old one). Run folders are named by their
 * UTC timestamp, so "newest" is the greater name: an older dir leaves latest alone.
 */
export async function updateLatest(resultsRoot: string, dir: string): Promise<void> {
  const link = path.join(resultsRoot, "latest");
  const target = path.relative(resultsRoot, path.resolve(dir));
  if (target.startsWith("..") || path.isAbsolute(target) || target === "") {
    throw new UserError(`cannot point ${link} at ${dir}: the run folder must be inside ${resultsRoot}`, 2);
  }
  let current: string | undefined;
  try {
    const st = await lstat(link);
    if (!st.isSymbolicLink()) {
      throw new UserError(`${link} exists and is not a symlink: move it away so that it can follow the newest run`, 1);
    }
    current = await readlink(link);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  if (current !== undefined && path.basename(current) > path.basename(target)) {
    try {
      await lstat(path.resolve(resultsRoot, current));
      return;
    } catch {
      // the newer run it points at is gone: take the new one
    }
  }
  const tmp = path.join(resultsRoot, `.latest-${process.pid}-${Date.now()}`);
  await symlink(target, tmp, "dir");
  try {
    await rename(tmp, link);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}
