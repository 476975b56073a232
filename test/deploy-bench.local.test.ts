// npm run bench:deploy for real, at one node, from a checkout at "Cours Dask é" reached
// through a symlink: real cdktf deploys and destroy of the local provider in its scratch
// copy, the by-hand baseline, results that match the schema with every stage timed, the
// report and chart, and nothing left behind (no namespace, no scratch folder). Bad options
// are refused with exit 2 before anything is made.
import { existsSync, readdirSync, readFileSync, realpathSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { $ } from "zx";
import { validateDeployBench } from "../provision/bench/deploy-results.js";
import { makeCheckout } from "./helpers/project.js";
import { cdktfEnv } from "./helpers/terraform.js";

const why =
  process.platform !== "linux"
    ? "needs Linux (network namespaces)"
    : process.getuid?.() !== 0
      ? "needs root (network namespaces)"
      : undefined;
if (why) console.log(`deploy-bench.local: skipped: ${why}`);

const scratch = () =>
  readdirSync(os.tmpdir()).filter((f) => f.startsWith("dvc-bench-deploy-") || f.startsWith("dvc-baseline-"));
const namespaces = async () =>
  (await $({ nothrow: true, quiet: true })`ip netns list`).stdout.split("\n").filter((l) => /^dvcb\d+-/.test(l));

describe.skipIf(!!why)("npm run bench:deploy, one node, for real", () => {
  const checkout = makeCheckout("dvc-bench-");
  const run = (...args: string[]) =>
    $({
      cwd: checkout.link,
      nothrow: true,
      quiet: true,
      env: cdktfEnv(),
      timeout: 900_000,
    })`node_modules/.bin/tsx provision/cli.ts bench-deploy ${args}`;
  const before = scratch();
  afterAll(() => rmSync(checkout.top, { recursive: true, force: true }));

  it("refuses a node count out of range with exit 2, the allowed values, and nothing made", async () => {
    const r = await run("--nodes", "0,17");
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/--nodes/);
    expect(r.stderr).toMatch(/from 1 to 16/);
    expect(existsSync(path.join(checkout.dir, "results"))).toBe(false);
    expect(scratch()).toEqual(before);
  });

  it("measures deploy, no-op, one-node change and destroy against the by-hand baseline, and leaves nothing", async () => {
    const r = await run("--nodes", "1");
    expect(r.exitCode, `${r.stdout}\n${r.stderr}`.slice(-3000)).toBe(0);
    const latest = path.join(checkout.dir, "results", "deploy", "latest");
    const dir = realpathSync(latest);
    const results = validateDeployBench(JSON.parse(readFileSync(path.join(dir, "results.json"), "utf8")));
    const one = results.runs[0]!;
    expect(one.nodes).toBe(1);
    const cold = new Map(one.ours.cold.stages.map((s) => [s.resource, s]));
    for (const s of [
      "preflight",
      "network",
      "box",
      "machine-node1",
      "bundle",
      "install-node1",
      "version-gate",
      "tls",
      "scheduler",
      "worker-node1",
    ])
      expect(cold.get(s)?.ok, s).toBe(true);
    expect(one.ours.cold.firstStage).toBeGreaterThan(0);
    expect(one.ours.noop.stages).toEqual([]);
    // The one-node change re-makes node1's machine, install and worker (node 1 also runs the scheduler).
    expect(one.ours.oneNodeChange.stages.map((s) => s.resource)).toEqual(
      expect.arrayContaining(["machine-node1", "install-node1", "worker-node1"]),
    );
    expect(one.ours.destroy.stages.every((s) => s.action === "destroy" && s.ok)).toBe(true);
    for (const k of ["namespaces", "venvs", "services", "total", "teardown"] as const)
      expect(one.baseline[k], k).toBeGreaterThan(0);
    expect(readFileSync(path.join(dir, "report.md"), "utf8")).toMatch(/^# Deploy benchmark/);
    expect(readFileSync(path.join(dir, "deploy-time.svg"), "utf8")).toMatch(/^<svg/);
    expect(r.stdout).toMatch(/ 1 nodes: cold deploy [\d.]+ s \(by hand [\d.]+ s\)/);
    // Nothing left: no scratch checkout or baseline folder, no namespace of either.
    expect(scratch()).toEqual(before);
    expect(await namespaces()).toEqual([]);
    // (The scratch cluster's own namespaces and processes are checked by the bench itself after each destroy: it fails
    // otherwise.)
  });
});
