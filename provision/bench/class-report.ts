// The class's report (`npm run class -- collect`): for each student of the roster, the
// verdict of their cluster (healthy, unhealthy, drifting versions, missing) and their last
// benchmark, then one chart per workload with every student's time against the number of
// nodes. Pure: what each student's checkout showed comes in, markdown and charts go out.
import type { TopLevelSpec } from "vega-lite";
import { renderSvg } from "./charts.js";
import type { Results } from "./results-schema.js";

/** What `npm run status -- --json` says, the part the report reads. */
export interface StudentStatus {
  readonly deployed: boolean;
  readonly healthy: boolean;
  readonly versions: string;
  readonly workers: ReadonlyArray<{ readonly name: string }>;
  readonly nodes: ReadonlyArray<{ readonly name: string; readonly state: string }>;
  readonly workersError?: string;
}

export interface StudentSeen {
  readonly student: string;
  readonly name: string;
  /** Their checkout, where it was looked for. */
  readonly checkout: string;
  readonly status?: StudentStatus;
  /** Why there is no status (no checkout, nothing deployed, status failed). */
  readonly missing?: string;
  readonly results?: Results;
  /** Why the last benchmark could not be read, when there is one. */
  readonly resultsError?: string;
}

export type Verdict = "healthy" | "unhealthy" | "drifting" | "missing";

export function verdictOf(s: StudentSeen): { verdict: Verdict; why: string } {
  if (!s.status) return { verdict: "missing", why: s.missing ?? "no status" };
  if (!s.status.deployed) return { verdict: "missing", why: "nothing deployed" };
  if (s.status.versions !== "identical") return { verdict: "drifting", why: `versions: ${s.status.versions}` };
  if (!s.status.healthy) {
    const down = s.status.nodes.filter((n) => n.state !== "up").map((n) => `${n.name} ${n.state}`);
    const why = down.length
      ? down.join(", ")
      : `${s.status.workers.length} of ${s.status.nodes.length} workers registered${s.status.workersError ? ` (${s.status.workersError})` : ""}`;
    return { verdict: "unhealthy", why };
  }
  return { verdict: "healthy", why: `${s.status.workers.length} workers, versions identical` };
}

/**
 * A workload's best times, by what varies in it: every object of its results with a
 * `nodes` count and `seconds` (a case: "2 nodes"), or a `variant` and `seconds' (map-reduce:
 * "batched"); a workload with neither (placement) is one time, "all nodes". The least
 * seconds per label; labels in order (node counts first, by number).
 */
export function bestTimes(workload: unknown): Map<string, number> {
  const best = new Map<string, number>();
  const keep = (label: string, seconds: number) =>
    best.set(label, Math.min(best.get(label) ?? Number.POSITIVE_INFINITY, seconds));
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) {
      for (const x of v) walk(x);
      return;
    }
    if (!v || typeof v !== "object") return;
    const o = v as Record<string, unknown>;
    if (typeof o.seconds === "number" && o.seconds > 0) {
      if (typeof o.nodes === "number") keep(`${o.nodes} node${o.nodes > 1 ? "s" : ""}`, o.seconds);
      else if (typeof o.variant === "string") keep(o.variant, o.seconds);
    }
    for (const [k, x] of Object.entries(o)) if (k !== "runs") walk(x);
  };
  walk(workload);
  const top = (workload as { seconds?: unknown } | undefined)?.seconds;
  if (!best.size && typeof top === "number") keep("all nodes", top);
  const order = (l: string) => Number.parseInt(l, 10) || Number.POSITIVE_INFINITY;
  return new Map([...best.entries()].sort(([a], [b]) => order(a) - order(b) || a.localeCompare(b)));
}

function chartSpec(workload: string, points: Array<{ student: string; x: string; seconds: number }>): TopLevelSpec {
  return {
    title: `${workload}: best time, each student's cluster`,
    width: 420,
    height: 240,
    data: { values: points },
    mark: { type: "line", point: true },
    encoding: {
      x: { field: "x", type: "ordinal", title: null, sort: null },
      y: { field: "seconds", type: "quantitative", title: "seconds (lower is better)" },
      color: { field: "student", type: "nominal", title: "student" },
    },
  } as TopLevelSpec;
}

export interface ClassReport {
  readonly markdown: string;
  readonly charts: ReadonlyArray<{ readonly file: string; readonly svg: string }>;
  readonly verdicts: ReadonlyArray<{ readonly student: string; readonly verdict: Verdict; readonly why: string }>;
}

export async function classReport(seen: readonly StudentSeen[], when: Date): Promise<ClassReport> {
  const verdicts = seen.map((s) => ({ student: s.student, ...verdictOf(s) }));
  const lines = [
    `# The class, ${when.toISOString().replace(/\.\d+Z$/, "Z")}`,
    "",
    `${seen.length} students: ${(["healthy", "unhealthy", "drifting", "missing"] as const)
      .map((v) => `${verdicts.filter((x) => x.verdict === v).length} ${v}`)
      .join(", ")}.`,
    "",
    "| student | cluster | verdict | why | last benchmark |",
    "|---|---|---|---|---|",
  ];
  seen.forEach((s, i) => {
    const v = verdicts[i]!;
    const bench = s.results
      ? `${s.results.finishedAt} (${s.results.config.size}, ${Object.keys(s.results.workloads).join(", ")})`
      : (s.resultsError ?? "none");
    lines.push(`| ${s.student} | ${s.name} | **${v.verdict}** | ${v.why} | ${bench} |`);
  });
  const attention = verdicts.filter((v) => v.verdict !== "healthy");
  lines.push(
    "",
    attention.length
      ? `Needs a look: ${attention.map((v) => `${v.student} (${v.verdict})`).join(", ")}.`
      : "Every cluster is healthy.",
  );

  const workloads = [...new Set(seen.flatMap((s) => Object.keys(s.results?.workloads ?? {})))].sort();
  const charts: Array<{ file: string; svg: string }> = [];
  for (const w of workloads) {
    const points = seen.flatMap((s) =>
      [...bestTimes((s.results?.workloads as Record<string, unknown> | undefined)?.[w]).entries()].map(
        ([x, seconds]) => ({
          student: s.student,
          x,
          seconds: Number(seconds.toFixed(3)),
        }),
      ),
    );
    if (!points.length) continue;
    const file = `${w}.svg`;
    charts.push({ file, svg: await renderSvg(chartSpec(w, points)) });
    const labels = [...new Set(points.map((p) => p.x))];
    lines.push(
      "",
      `## ${w}`,
      "",
      `![${w}](${file})`,
      "",
      `| student | ${labels.join(" | ")} |`,
      `|---|${labels.map(() => "---").join("|")}|`,
    );
    for (const s of seen) {
      const mine = points.filter((p) => p.student === s.student);
      if (mine.length)
        lines.push(
          `| ${s.student} | ${labels.map((l) => mine.find((p) => p.x === l)?.seconds.toFixed(2) ?? "—").join(" | ")} |`,
        );
    }
  }
  return { markdown: `${lines.join("\n")}\n`, charts, verdicts };
}
