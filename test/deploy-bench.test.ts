// The deploy benchmark's results (provision/bench/deploy-results.ts) on the committed
// real run (test/fixtures/deploy-bench/): it matches its schema, its report.md is exactly
// what this version renders from it (the README quotes it), goals are judged as stated,
// the chart is valid SVG drawn offline; a broken file is refused with each error's path.
import { readFileSync } from "node:fs";
import path from "node:path";
import { XMLValidator } from "fast-xml-parser";
import { describe, expect, it } from "vitest";
import { renderSvg } from "../provision/bench/charts.js";
import {
  type DeployBenchResults,
  deployTimeSpec,
  evaluateDeployGoals,
  renderDeployMarkdown,
  stageGroups,
  validateDeployBench,
} from "../provision/bench/deploy-results.js";
import { UserError } from "../provision/core/errors.js";

const DIR = path.join(import.meta.dirname, "fixtures", "deploy-bench");
const raw = () => JSON.parse(readFileSync(path.join(DIR, "results.json"), "utf8")) as DeployBenchResults;

describe("deploy benchmark results", () => {
  it("the committed run matches the schema, for 1, 3, 4, 8 and 16 nodes, every stage of every cold deploy timed", () => {
    const r = validateDeployBench(raw());
    expect(r.runs.map((x) => x.nodes)).toEqual([1, 3, 4, 8, 16]);
    for (const x of r.runs) {
      const resources = new Set(x.ours.cold.stages.map((s) => s.resource));
      for (let k = 1; k <= x.nodes; k++)
        for (const s of ["machine", "install", "worker"])
          expect(resources.has(`${s}-node${k}`), `${s}-node${k} of ${x.nodes}`).toBe(true);
      expect(x.ours.cold.stages.every((s) => s.ok)).toBe(true);
      expect(x.ours.noop.stages).toEqual([]);
      expect(x.baseline.total).toBeGreaterThan(x.baseline.venvs);
    }
  });

  it("its report.md is what this version renders from its results.json", () => {
    expect(readFileSync(path.join(DIR, "report.md"), "utf8")).toBe(renderDeployMarkdown(raw()));
  });

  it("judges the goals as the issue states them, and says which could not be judged", () => {
    const r = raw();
    const three = r.runs.find((x) => x.nodes === 3)!;
    const goals = evaluateDeployGoals(r);
    expect(goals.map((g) => g.goal)).toEqual([
      "3 nodes, bundle cached: cold deploy ≤ 2 × the by-hand baseline",
      "3 nodes: no-op deploy ≤ 5 s",
      "3 nodes: destroy ≤ 10 s",
      "16 nodes: cold deploy ≤ 2 × the 4-node one",
    ]);
    expect(goals[0]!.status).toBe(three.ours.cold.seconds <= 2 * three.baseline.total ? "met" : "missed");
    expect(goals[2]!.status).toBe(three.ours.destroy.seconds <= 10 ? "met" : "missed");
    const onlyOne = { ...r, runs: r.runs.filter((x) => x.nodes === 1) };
    expect(evaluateDeployGoals(onlyOne).map((g) => g.status)).toEqual([
      "not judged",
      "not judged",
      "not judged",
      "not judged",
    ]);
  });

  it("groups stage processes by stage, with load and work summed and their span", () => {
    const g = stageGroups({
      seconds: 10,
      firstStage: 2,
      stages: [
        { resource: "install-node1", action: "apply", start: 3, load: 0.2, work: 4, ok: true },
        { resource: "install-node2", action: "apply", start: 3.5, load: 0.3, work: 5, ok: true },
        { resource: "machine-node1", action: "apply", start: 2, load: 0.2, work: 0.5, ok: true },
      ],
    });
    expect(g).toEqual([
      { stage: "machine", processes: 1, load: 0.2, work: 0.5, from: 2, to: 2.7 },
      { stage: "install", processes: 2, load: 0.5, work: 9, from: 3, to: 8.8 },
    ]);
  });

  it("the chart is valid SVG, drawn offline, with ours and the by-hand series", async () => {
    const svg = await renderSvg(deployTimeSpec(raw()));
    expect(XMLValidator.validate(svg)).toBe(true);
    for (const label of ["ours: cold deploy (bundle cached)", "by hand: namespaces, venvs, services", "ours: destroy"])
      expect(svg).toContain(label);
    expect(readFileSync(path.join(DIR, "deploy-time.svg"), "utf8")).toBe(svg);
  });

  it("refuses a broken results file naming each error's path", () => {
    const broken = raw() as unknown as { runs: { nodes: number; ours: Record<string, unknown> }[] };
    broken.runs[0]!.nodes = 17;
    delete broken.runs[1]!.ours.destroy;
    let err: unknown;
    try {
      validateDeployBench(broken);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UserError);
    const text = (err as UserError).render();
    expect(text).toMatch(/\/runs\/0\/nodes/);
    expect(text).toMatch(/\/runs\/1\/ours.*destroy/);
  });
});
