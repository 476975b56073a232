// The deploy benchmark's results (npm run bench:deploy, bench/deploy-run.ts): a TypeBox
// schema that is real JSON Schema, its validation with every error's path, the goals of
// the deploy-speed work judged against a run, the markdown report and the chart (time
// against nodes, ours and the by-hand baseline).
import { Type, type Static } from "@sinclair/typebox";
import { Ajv, type ValidateFunction } from "ajv";
import type { TopLevelSpec } from "vega-lite";
import { UserError } from "../core/errors.js";
import type { StageTime } from "./stage-times.js";

export const DEPLOY_BENCH_SCHEMA_VERSION = 1;

const strict = { additionalProperties: false } as const;
const Seconds = (description: string) => Type.Number({ minimum: 0, description });

const StageRun = Type.Object(
  {
    resource: Type.String({ description: "The stage's resource: machine-node2, scheduler." }),
    action: Type.Union([Type.Literal("apply"), Type.Literal("destroy")]),
    start: Type.Number({ description: "When its process started, seconds from the command's start." }),
    load: Seconds("From its process start to the start of its work: node and the stage runner's code."),
    work: Seconds("The stage's own work."),
    ok: Type.Boolean({ description: "Whether it succeeded." }),
  },
  { ...strict, description: "One stage process Terraform started." },
);

const Verb = Type.Object(
  {
    seconds: Seconds("Wall time of the whole command (cdktf deploy or destroy)."),
    firstStage: Type.Union([
      Seconds("From the command's start to its first stage process: cdktf, the synth, terraform init and plan."),
      Type.Null(),
    ]),
    stages: Type.Array(StageRun),
  },
  { ...strict, description: "One cdktf command, timed." },
);

const Ours = Type.Object(
  {
    coldUncached: Type.Optional(Verb),
    cold: Verb,
    noop: Verb,
    oneNodeChange: Verb,
    destroy: Verb,
  },
  {
    ...strict,
    description:
      "cdktf deploy from nothing with nothing cached (only with --cold), from nothing with the bundle cached, again with no change, after one node's cpus changed, then cdktf destroy.",
  },
);

const Baseline = Type.Object(
  {
    namespaces: Seconds("Namespaces and the bridge."),
    venvs: Seconds("Every node's venv from the wheelhouse, in parallel."),
    services: Seconds("TLS material, the scheduler and the workers, until every worker is registered."),
    total: Seconds("All of the above: the by-hand cold deploy."),
    teardown: Seconds("Processes stopped, namespaces and files removed."),
  },
  { ...strict, description: "provision/bench/deploy-baseline.sh: the same cluster by hand." },
);

const Run = Type.Object(
  {
    nodes: Type.Integer({ minimum: 1, maximum: 16 }),
    ours: Ours,
    baseline: Baseline,
  },
  strict,
);

export const DeployBenchSchema = Type.Object(
  {
    schemaVersion: Type.Literal(DEPLOY_BENCH_SCHEMA_VERSION),
    kind: Type.Literal("deploy"),
    startedAt: Type.String({ format: "date-time" }),
    finishedAt: Type.String({ format: "date-time" }),
    provider: Type.Literal("local"),
    bundleId: Type.String({ pattern: "^[0-9a-f]{16}$" }),
    host: Type.Object(
      {
        cpus: Type.Integer({ minimum: 1 }),
        cpuModel: Type.String(),
        memoryGiB: Type.Number({ minimum: 0 }),
        platform: Type.String(),
        node: Type.String(),
        terraform: Type.String(),
      },
      strict,
    ),
    runs: Type.Array(Run, { minItems: 1 }),
  },
  { ...strict, description: "One run of npm run bench:deploy." },
);

export type DeployBenchResults = Static<typeof DeployBenchSchema>;
export type VerbTiming = Static<typeof Verb>;
export type StageTiming = Static<typeof StageRun>;
export type BaselineTiming = Static<typeof Baseline>;
export type DeployBenchRun = Static<typeof Run>;

let compiled: ValidateFunction | undefined;

/** Checks a parsed results file; returns it typed, or throws with every error and its path. */
export function validateDeployBench(json: unknown): DeployBenchResults {
  compiled ??= new Ajv({ allErrors: true, strict: false, validateFormats: false }).compile(DeployBenchSchema);
  if (compiled(json)) return json as DeployBenchResults;
  const problems = (compiled.errors ?? []).map((e) => ({
    path: e.instancePath || "/",
    message: e.message ?? e.keyword,
  }));
  throw new UserError(
    `the deploy benchmark results do not match their schema (${problems.length} error${problems.length === 1 ? "" : "s"})`,
    1,
    problems,
  );
}

// --- goals --------------------------------------------------------------------------

export type GoalStatus = "met" | "missed" | "not judged";
export interface DeployGoal {
  readonly goal: string;
  readonly measured: string;
  readonly status: GoalStatus;
}

const s1 = (x: number) => `${x.toFixed(1)} s`;
const runOf = (r: DeployBenchResults, nodes: number) => r.runs.find((x) => x.nodes === nodes);

export function evaluateDeployGoals(r: DeployBenchResults): DeployGoal[] {
  const three = runOf(r, 3);
  const four = runOf(r, 4);
  const sixteen = runOf(r, 16);
  const none = (goal: string, why: string): DeployGoal => ({ goal, measured: why, status: "not judged" });
  const judge = (goal: string, ok: boolean, measured: string): DeployGoal => ({
    goal,
    measured,
    status: ok ? "met" : "missed",
  });
  const goals: DeployGoal[] = [];
  const g1 = "3 nodes, bundle cached: cold deploy ≤ 2 × the by-hand baseline";
  goals.push(
    three
      ? judge(
          g1,
          three.ours.cold.seconds <= 2 * three.baseline.total,
          `${s1(three.ours.cold.seconds)} vs ${s1(three.baseline.total)} by hand: ${(three.ours.cold.seconds / three.baseline.total).toFixed(2)} ×`,
        )
      : none(g1, "no 3-node run"),
  );
  const g2 = "3 nodes: no-op deploy ≤ 5 s";
  goals.push(three ? judge(g2, three.ours.noop.seconds <= 5, s1(three.ours.noop.seconds)) : none(g2, "no 3-node run"));
  const g3 = "3 nodes: destroy ≤ 10 s";
  goals.push(
    three ? judge(g3, three.ours.destroy.seconds <= 10, s1(three.ours.destroy.seconds)) : none(g3, "no 3-node run"),
  );
  const g4 = "16 nodes: cold deploy ≤ 2 × the 4-node one";
  goals.push(
    four && sixteen
      ? judge(
          g4,
          sixteen.ours.cold.seconds <= 2 * four.ours.cold.seconds,
          `${s1(sixteen.ours.cold.seconds)} vs ${s1(four.ours.cold.seconds)}: ${(sixteen.ours.cold.seconds / four.ours.cold.seconds).toFixed(2)} ×`,
        )
      : none(g4, "needs a 4-node and a 16-node run"),
  );
  return goals;
}

// --- where the time goes ------------------------------------------------------------

/** The stage records of one command (bench/stage-times.ts) on its clock: seconds from t0, its start in epoch ms. */
export function stageRunsOf(times: readonly StageTime[], t0: number): StageTiming[] {
  return times.map((s) => ({
    resource: s.resource,
    action: s.action === "destroy" ? ("destroy" as const) : ("apply" as const),
    start: Math.max(0, (s.processStart - t0) / 1000),
    load: Math.max(0, (s.began - s.processStart) / 1000),
    work: Math.max(0, (s.ended - s.began) / 1000),
    ok: s.ok,
  }));
}

export interface StageGroup {
  /** The stage without its node: machine, install, worker, scheduler. */
  readonly stage: string;
  readonly processes: number;
  /** Sum over its processes of the time to load node and the stage runner. */
  readonly load: number;
  /** Sum over its processes of their work. */
  readonly work: number;
  /** From the first of its processes' start to the last one's end, on the command's clock. */
  readonly from: number;
  readonly to: number;
}

/** The command's stages grouped by stage (every node's machine-nodeK together), in start order. */
export function stageGroups(v: VerbTiming): StageGroup[] {
  const groups = new Map<string, { processes: number; load: number; work: number; from: number; to: number }>();
  for (const s of v.stages) {
    const stage = s.resource.replace(/-node\d+$/, "").replace(/-[a-z]+\d+$/, "");
    const g = groups.get(stage) ?? { processes: 0, load: 0, work: 0, from: Number.POSITIVE_INFINITY, to: 0 };
    g.processes += 1;
    g.load += s.load;
    g.work += s.work;
    g.from = Math.min(g.from, s.start);
    g.to = Math.max(g.to, s.start + s.load + s.work);
    groups.set(stage, g);
  }
  return [...groups.entries()].map(([stage, g]) => ({ stage, ...g })).sort((a, b) => a.from - b.from);
}

// --- report -------------------------------------------------------------------------

function breakdown(title: string, v: VerbTiming): string[] {
  const groups = stageGroups(v);
  const last = Math.max(0, ...groups.map((g) => g.to));
  return [
    `### ${title}: ${s1(v.seconds)}`,
    "",
    "| stage | processes | load, summed | work, summed | wall clock (from the command's start) |",
    "|---|---:|---:|---:|---|",
    `| cdktf, synth, terraform init and plan | | | | 0 → ${v.firstStage === null ? s1(v.seconds) : s1(v.firstStage)} |`,
    ...groups.map(
      (g) => `| ${g.stage} | ${g.processes} | ${s1(g.load)} | ${s1(g.work)} | ${s1(g.from)} → ${s1(g.to)} |`,
    ),
    ...(groups.length ? [`| terraform: state, outputs, exit | | | | ${s1(last)} → ${s1(v.seconds)} |`] : []),
    "",
  ];
}

export function renderDeployMarkdown(r: DeployBenchResults): string {
  const goals = evaluateDeployGoals(r);
  const cold = r.runs.some((x) => x.ours.coldUncached);
  const lines = [
    "# Deploy benchmark",
    "",
    `${r.startedAt} → ${r.finishedAt}; provider local; ${r.host.cpus} CPUs (${r.host.cpuModel}), ${r.host.memoryGiB} GiB; ${r.host.platform}, node ${r.host.node}, ${r.host.terraform}; runtime bundle ${r.bundleId}.`,
    "",
    "Ours: `cdktf deploy` from nothing with the runtime bundle cached (to every worker registered on its private IP, versions gated, TLS on), again with no change, after one node's `cpus` changed, then `cdktf destroy` (checked to leave no namespace or process). By hand: provision/bench/deploy-baseline.sh, the same namespaces, venvs from the same wheelhouse and the same TLS scheduler and workers, without our machinery.",
    "",
    `| nodes | cold deploy | by hand | ratio | no-op deploy | one-node change | destroy | by-hand teardown |${cold ? " nothing cached |" : ""}`,
    `|---:|---:|---:|---:|---:|---:|---:|---:|${cold ? "---:|" : ""}`,
    ...r.runs.map(
      (x) =>
        `| ${x.nodes} | ${s1(x.ours.cold.seconds)} | ${s1(x.baseline.total)} | ${(x.ours.cold.seconds / x.baseline.total).toFixed(2)} × | ${s1(x.ours.noop.seconds)} | ${s1(x.ours.oneNodeChange.seconds)} | ${s1(x.ours.destroy.seconds)} | ${s1(x.baseline.teardown)} |${cold ? ` ${x.ours.coldUncached ? s1(x.ours.coldUncached.seconds) : "—"} |` : ""}`,
    ),
    "",
    "By hand, in parts (namespaces / venvs / services until registered): " +
      r.runs
        .map((x) => `${x.nodes}: ${s1(x.baseline.namespaces)} / ${s1(x.baseline.venvs)} / ${s1(x.baseline.services)}`)
        .join("; ") +
      ".",
    "",
    "## Goals",
    "",
    "| goal | measured | |",
    "|---|---|---|",
    ...goals.map((g) => `| ${g.goal} | ${g.measured} | ${g.status} |`),
    "",
    "![deploy time against nodes, ours and by hand](deploy-time.svg)",
    "",
    "## Where the time goes",
    "",
    "Per stage: how many processes Terraform started, their load time (node and the stage runner) and work summed over the processes, and when the first began and the last ended.",
    "",
  ];
  const big = r.runs.at(-1)!;
  const three = runOf(r, 3) ?? r.runs[0]!;
  for (const x of three === big ? [three] : [three, big]) {
    lines.push(...breakdown(`Cold deploy, ${x.nodes} node${x.nodes === 1 ? "" : "s"}`, x.ours.cold));
    lines.push(...breakdown(`One-node change, ${x.nodes} node${x.nodes === 1 ? "" : "s"}`, x.ours.oneNodeChange));
    lines.push(...breakdown(`Destroy, ${x.nodes} node${x.nodes === 1 ? "" : "s"}`, x.ours.destroy));
  }
  return `${lines.join("\n").trimEnd()}\n`;
}

/** Time against nodes: our cold deploy, no-op, one-node change and destroy, and the baseline's deploy and teardown. */
export function deployTimeSpec(r: DeployBenchResults): TopLevelSpec {
  const series = {
    cold: "ours: cold deploy (bundle cached)",
    hand: "by hand: namespaces, venvs, services",
    change: "ours: one-node change",
    noop: "ours: no-op deploy",
    destroy: "ours: destroy",
    teardown: "by hand: teardown",
  };
  const rows = r.runs.flatMap((x) => [
    { nodes: x.nodes, series: series.cold, seconds: x.ours.cold.seconds },
    { nodes: x.nodes, series: series.hand, seconds: x.baseline.total },
    { nodes: x.nodes, series: series.change, seconds: x.ours.oneNodeChange.seconds },
    { nodes: x.nodes, series: series.noop, seconds: x.ours.noop.seconds },
    { nodes: x.nodes, series: series.destroy, seconds: x.ours.destroy.seconds },
    { nodes: x.nodes, series: series.teardown, seconds: x.baseline.teardown },
  ]);
  const domain = Object.values(series);
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: {
      text: "Deploy time against nodes (local provider)",
      subtitle: `${r.host.cpus} CPUs; ours is cdktf deploy/destroy, by hand is provision/bench/deploy-baseline.sh`,
    },
    width: 420,
    height: 260,
    data: { values: rows },
    mark: { type: "line", point: true },
    encoding: {
      x: {
        field: "nodes",
        type: "quantitative",
        title: "nodes",
        scale: { domain: [0, Math.max(...r.runs.map((x) => x.nodes))] },
        axis: { tickMinStep: 1 },
      },
      y: { field: "seconds", type: "quantitative", title: "seconds", scale: { zero: true } },
      color: {
        field: "series",
        type: "nominal",
        title: null,
        scale: { domain, range: ["#1f77b4", "#2ca02c", "#9467bd", "#17becf", "#d62728", "#7f7f7f"] },
        legend: { orient: "bottom", direction: "vertical", labelLimit: 800 },
      },
      strokeDash: {
        field: "series",
        type: "nominal",
        scale: {
          domain,
          range: [
            [1, 0],
            [6, 4],
            [1, 0],
            [1, 0],
            [1, 0],
            [6, 4],
          ],
        },
        legend: null,
      },
    },
  } as TopLevelSpec;
}
