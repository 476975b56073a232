// SVG charts of a benchmark run: vega-lite specs compiled and rendered by vega inside
// Node (renderer "none", toSVG), with the data inlined and a loader that refuses every
// URL, so that rendering never touches the network (no remote data, fonts or images).
import * as vega from "vega";
import * as vl from "vega-lite";
import type { TopLevelSpec } from "vega-lite";
import type {
  IncSleepResults,
  MapReduceResults,
  PlacementResults,
  Results,
  SvdRatingsResults,
  SvdResults,
} from "./results-schema.js";

export interface Chart {
  /** File name inside the results folder, e.g. inc-sleep.svg. */
  readonly file: string;
  /** What the chart shows, for the report's link text. */
  readonly title: string;
  readonly svg: string;
}

const FONT = "DejaVu Sans, Helvetica, Arial, sans-serif";
const CONFIG = {
  font: FONT,
  background: "white",
  view: { stroke: "#ccc" },
  axis: { labelFontSize: 11, titleFontSize: 12, grid: true, gridColor: "#eee" },
  legend: { labelFontSize: 11, titleFontSize: 12, labelLimit: 800 },
  // Without a canvas, vega estimates text widths generously: generous limits keep labels whole.
  axisY: { labelLimit: 400 },
  title: { fontSize: 14, subtitleFontSize: 11, anchor: "start" as const },
};

type VegaLogger = ReturnType<typeof vega.logger>;

/** A logger that keeps errors instead of printing them and drops warnings: the specs
 * here are fixed code, so a warning is a bug to fix in the spec, not console noise. */
function collectingLogger(errors: string[]): VegaLogger {
  const logger = vega.logger(vega.Warn);
  const text = (args: readonly unknown[]) => args.map((a) => (a instanceof Error ? a.message : String(a))).join(" ");
  logger.error = (...args: readonly unknown[]) => {
    errors.push(text(args));
    return logger;
  };
  logger.warn = () => logger;
  logger.info = () => logger;
  logger.debug = () => logger;
  return logger;
}

/**
 * Compiles a vega-lite spec and renders it to an SVG string, offline: a chart that tries
 * to load anything (data, images, fonts) fails instead of reaching the network.
 */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const errors: string[] = [];
  const attempted: string[] = [];
  const logger = collectingLogger(errors);
  const loader = vega.loader();
  const refuse = async (uri: string): Promise<never> => {
    attempted.push(uri);
    throw new Error(`chart rendering is offline: refused to load ${uri}`);
  };
  loader.load = refuse;
  loader.sanitize = refuse;
  const compiled = vl.compile({ ...spec, config: { ...CONFIG, ...(spec.config ?? {}) } } as TopLevelSpec, {
    logger,
  }).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: "none", loader, logger });
  try {
    const svg = await view.toSVG();
    if (attempted.length)
      throw new Error(`chart rendering is offline: the chart tried to load ${attempted.join(", ")}`);
    if (errors.length) throw new Error(`vega could not render the chart: ${errors.join("; ")}`);
    return svg;
  } finally {
    view.finalize();
  }
}

const fmtS = (s: number) => `${s.toFixed(s < 10 ? 2 : 1)} s`;

/** (a) inc-sleep: measured time against k nodes, with the ideal and the sequential lines. */
export function incSleepSpec(r: IncSleepResults): TopLevelSpec {
  const ideal = `ideal: ceil(${r.tasks} / slots) × ${r.delaySeconds} s (no overhead at all; computed, not measured)`;
  const sequential = "sequential, no Dask (measured once)";
  const measured: Record<string, string> = {
    "python-sum": "measured, total = sum(results) as in the write-up (median)",
    "delayed-sum": "measured, total = delayed(sum)(results) (median)",
  };
  const counts = [...new Set(r.cases.map((c) => c.nodes))];
  const rows = [
    ...r.cases.map((c) => ({
      nodes: c.nodes,
      series: measured[c.reduction]!,
      seconds: c.seconds,
      label: c.reduction === "python-sum" ? fmtS(c.seconds) : "",
    })),
    ...counts.flatMap((k) => {
      const c = r.cases.find((x) => x.nodes === k)!;
      return [
        { nodes: k, series: ideal, seconds: c.idealSeconds, label: "" },
        { nodes: k, series: sequential, seconds: r.sequentialSeconds, label: "" },
      ];
    }),
  ];
  const present = [...new Set(r.cases.map((c) => c.reduction))];
  const domain = [...present.map((x) => measured[x]!), ideal, sequential];
  const colors: Record<string, string> = { "python-sum": "#1f77b4", "delayed-sum": "#ff7f0e" };
  const dashes: Record<string, number[]> = { "python-sum": [1, 0], "delayed-sum": [1, 0] };
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: {
      text: `inc-sleep: ${r.tasks} tasks that sleep ${r.delaySeconds} s`,
      subtitle: "wall time against the number of nodes used",
    },
    width: 420,
    height: 260,
    data: { values: rows },
    encoding: {
      x: { field: "nodes", type: "ordinal", title: "nodes (workers of the first k nodes)", axis: { labelAngle: 0 } },
      y: { field: "seconds", type: "quantitative", title: "seconds", scale: { zero: true } },
      color: {
        field: "series",
        type: "nominal",
        title: null,
        scale: { domain, range: [...present.map((x) => colors[x]!), "#2ca02c", "#7f7f7f"] },
        legend: { orient: "bottom", direction: "vertical", labelLimit: 800 },
      },
    },
    layer: [
      {
        mark: { type: "line", point: true },
        encoding: {
          strokeDash: {
            field: "series",
            type: "nominal",
            scale: { domain, range: [...present.map((x) => dashes[x]!), [6, 4], [2, 3]] },
            legend: null,
          },
        },
      },
      { mark: { type: "text", dy: -10, fontSize: 11 }, encoding: { text: { field: "label" } } },
    ],
  } as TopLevelSpec;
}

/** (b) map-reduce: rate of each variant on a log scale. */
export function mapReduceSpec(r: MapReduceResults): TopLevelSpec {
  const names: Record<string, string> = {
    "per-item": "per-item (seed), cluster",
    batched: "batched, cluster",
    "local-cluster": "per-item, LocalCluster",
  };
  const rows = r.variants.map((v) => ({
    variant: names[v.variant] ?? v.variant,
    rate: v.tasksPerSecond,
    label: `${Math.round(v.tasksPerSecond).toLocaleString("en-US")} /s${v.correct ? "" : " (WRONG TOTAL)"}`,
  }));
  // A log scale has no zero: bars start from a decade below the slowest variant.
  const rates = rows.map((x) => x.rate);
  const lo = 10 ** Math.floor(Math.log10(Math.min(...rates)) - 0.5);
  const hi = 10 ** Math.ceil(Math.log10(Math.max(...rates)) + 0.5);
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: {
      text: `map-reduce: ${r.items.toLocaleString("en-US")} items, square → neg → sum`,
      subtitle: `seed tasks per second (2·items + 1 = ${r.seedTasks.toLocaleString("en-US")} for every variant), log scale`,
    },
    width: 420,
    height: 40 * rows.length + 20,
    data: { values: rows },
    encoding: {
      y: { field: "variant", type: "nominal", title: null, sort: null },
      x: {
        field: "rate",
        type: "quantitative",
        title: "tasks per second (log)",
        scale: { type: "log", domain: [lo, hi] },
      },
    },
    layer: [
      { mark: { type: "bar", color: "#1f77b4" }, encoding: { x2: { datum: lo } } },
      { mark: { type: "text", align: "left", dx: 4, fontSize: 11 }, encoding: { text: { field: "label" } } },
    ],
  } as TopLevelSpec;
}

/** placement: tasks per node against the share the node's slots predict. */
export function placementSpec(r: PlacementResults): TopLevelSpec {
  const observed = "observed (mean over repeats)";
  const expected = `expected: ${r.tasks} × slots / ${r.totalSlots}`;
  const rows = r.perNode.flatMap((p) => [
    { node: p.node, series: observed, tasks: p.tasks },
    { node: p.node, series: expected, tasks: p.expectedTasks },
  ]);
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: {
      text: `placement: ${r.tasks} equal tasks of ${r.delaySeconds} s`,
      subtitle: "tasks per node against the node's share of worker threads",
    },
    width: 420,
    height: 220,
    data: { values: rows },
    mark: "bar",
    encoding: {
      x: { field: "node", type: "nominal", title: null, axis: { labelAngle: 0 } },
      xOffset: { field: "series", type: "nominal", sort: [observed, expected] },
      y: { field: "tasks", type: "quantitative", title: "tasks" },
      color: {
        field: "series",
        type: "nominal",
        title: null,
        scale: { domain: [observed, expected], range: ["#1f77b4", "#bbbbbb"] },
        legend: { orient: "bottom" },
      },
    },
  } as TopLevelSpec;
}

interface ChartCase {
  readonly nodes: number;
  readonly seconds: number;
  readonly maxRelativeError: number | null;
}

/** Time against nodes, with a dashed line for a one-machine peer when there is one. */
function timePanel(title: string, cases: readonly ChartCase[], peer?: { seconds: number; label: string }) {
  const line = {
    data: { values: cases.map((c) => ({ nodes: c.nodes, seconds: c.seconds, label: fmtS(c.seconds) })) },
    encoding: {
      x: { field: "nodes", type: "ordinal", title: "nodes", axis: { labelAngle: 0 } },
      y: { field: "seconds", type: "quantitative", title: "seconds", scale: { zero: true } },
    },
    layer: [
      { mark: { type: "line", point: true, color: "#1f77b4" } },
      { mark: { type: "text", dy: -10, fontSize: 11 }, encoding: { text: { field: "label" } } },
    ],
  };
  const rule = peer
    ? [
        {
          data: { values: [{ seconds: peer.seconds }] },
          mark: { type: "rule", color: "#2ca02c", strokeDash: [4, 3] },
          encoding: { y: { field: "seconds", type: "quantitative" } },
        },
        {
          data: { values: [{ seconds: peer.seconds, text: peer.label }] },
          mark: { type: "text", color: "#2ca02c", align: "left", dy: -6, x: 4 },
          encoding: { y: { field: "seconds", type: "quantitative" }, text: { field: "text" } },
        },
      ]
    : [];
  return { title: { text: title, fontSize: 12 }, width: 300, height: 220, layer: [line, ...rule] };
}

/** The largest relative error of the top k against the 1 % goal, log scale. */
function accuracyPanel(k: number, cases: readonly ChartCase[], against: string) {
  return {
    title: { text: `largest relative error of the top ${k} singular values`, fontSize: 12 },
    width: 300,
    height: 220,
    layer: [
      {
        data: {
          values: cases.map((c) => ({
            nodes: c.nodes,
            error: Math.max(c.maxRelativeError ?? 0, 1e-12),
            label: `${((c.maxRelativeError ?? 0) * 100).toFixed(3)} %`,
          })),
        },
        encoding: {
          x: { field: "nodes", type: "ordinal", title: "nodes", axis: { labelAngle: 0 } },
          y: {
            field: "error",
            type: "quantitative",
            title: `max |ŝᵢ − sᵢ| / sᵢ against ${against} (log)`,
            scale: { type: "log" },
          },
        },
        layer: [
          { mark: { type: "line", point: true, color: "#9467bd" } },
          { mark: { type: "text", dy: -10, fontSize: 11 }, encoding: { text: { field: "label" } } },
        ],
      },
      {
        data: { values: [{ goal: 0.01 }] },
        mark: { type: "rule", color: "#d62728", strokeDash: [4, 3] },
        encoding: { y: { field: "goal", type: "quantitative" } },
      },
      {
        data: { values: [{ goal: 0.01, text: "goal 1 %" }] },
        mark: { type: "text", color: "#d62728", align: "left", dy: -6, x: 4 },
        encoding: { y: { field: "goal", type: "quantitative" }, text: { field: "text" } },
      },
    ],
  };
}

/** Residuals ‖X·vᵢ − sᵢ·uᵢ‖ / sᵢ, where no reference values exist. */
function residualPanel(residuals: readonly number[], why: string) {
  return {
    title: { text: `residual ‖X·vᵢ − sᵢ·uᵢ‖ / sᵢ (${why})`, fontSize: 12 },
    width: 300,
    height: 220,
    data: { values: residuals.map((e, i) => ({ index: i + 1, residual: Math.max(e, 1e-12) })) },
    mark: { type: "line", point: true },
    encoding: {
      x: { field: "index", type: "ordinal", title: "singular value i", axis: { labelAngle: 0 } },
      y: { field: "residual", type: "quantitative", title: "relative residual (log)", scale: { type: "log" } },
    },
  };
}

/** (c) svd: time against nodes, and the recovered singular values' relative error. */
export function svdSpec(r: SvdResults): TopLevelSpec {
  const gib = (r.matrixBytes / 2 ** 30).toFixed(2);
  const planted = r.cases.every((c) => c.relativeErrors !== null);
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: {
      text: `svd: ${r.shape[0].toLocaleString("en-US")} films × ${r.shape[1].toLocaleString("en-US")} users (${gib} GiB, ${r.memoryRatio.toFixed(2)} × the smallest worker memory limit), k = ${r.k}`,
      subtitle: `${r.source === "planted" ? "planted spectrum, generated block by block on the workers" : "ratings file"}; ${r.passesOverMatrix} passes over the matrix`,
    },
    hconcat: [
      timePanel("time (svd_compressed + compute)", r.cases),
      planted
        ? accuracyPanel(r.k, r.cases, "the planted values")
        : residualPanel(r.check.relativeResiduals, "no planted spectrum"),
    ],
  } as TopLevelSpec;
}

/** (d) svd-ratings: time against nodes with the one-machine peer, and the error against the reference. */
export function svdRatingsSpec(r: SvdRatingsResults): TopLevelSpec {
  const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
  const judged = r.cases.every((c) => c.maxRelativeError !== null);
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: {
      text: `svd-ratings: ${r.shape[0].toLocaleString("en-US")} films × ${r.shape[1].toLocaleString("en-US")} users, ${r.dataset.ratings.toLocaleString("en-US")} ratings (${mib(r.sparseBytes)} sparse, ${(r.denseBytes / 2 ** 30).toFixed(1)} GiB dense), k = ${r.k}`,
      subtitle: `${r.source.label}; n_power_iter ${r.nPowerIter}, n_oversamples ${r.nOversamples}: ${r.passesOverMatrix} passes over the matrix`,
    },
    hconcat: [
      timePanel(
        "time (svd_compressed + compute)",
        r.cases,
        r.peer ? { seconds: r.peer.seconds, label: `svds on ${r.peer.node}: ${fmtS(r.peer.seconds)}` } : undefined,
      ),
      judged && r.reference
        ? accuracyPanel(r.k, r.cases, r.reference.kind === "exact" ? "the exact SVD" : "svds")
        : residualPanel(r.check.relativeResiduals, "no reference"),
    ],
  } as TopLevelSpec;
}

/** Every chart the results allow, in report order. */
export async function renderCharts(results: Results): Promise<Chart[]> {
  const w = results.workloads;
  const specs: { file: string; title: string; spec: TopLevelSpec }[] = [];
  if (w["inc-sleep"])
    specs.push({
      file: "inc-sleep.svg",
      title: "inc-sleep: time against nodes, with the ideal and sequential lines",
      spec: incSleepSpec(w["inc-sleep"]),
    });
  if (w["map-reduce"])
    specs.push({
      file: "map-reduce.svg",
      title: "map-reduce: tasks per second, per-item vs batched vs LocalCluster",
      spec: mapReduceSpec(w["map-reduce"]),
    });
  if (w.placement)
    specs.push({
      file: "placement.svg",
      title: "placement: tasks per node against slots",
      spec: placementSpec(w.placement),
    });
  if (w.svd) specs.push({ file: "svd.svg", title: "svd: time against nodes and relative error", spec: svdSpec(w.svd) });
  if (w["svd-ratings"])
    specs.push({
      file: "svd-ratings.svg",
      title: "svd-ratings: time against nodes, the one-machine peer, and the error against the reference",
      spec: svdRatingsSpec(w["svd-ratings"]),
    });
  const charts: Chart[] = [];
  for (const s of specs) charts.push({ file: s.file, title: s.title, svg: await renderSvg(s.spec) });
  return charts;
}
