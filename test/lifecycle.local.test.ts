// The full lifecycle for real on the local provider: cdktf deploy (3 namespaces, the
// bundled runtime, TLS, scheduler, workers, a small benchmark), a second deploy that
// plans nothing, a stage that fails on purpose and a deploy that completes it, and a
// destroy that leaves nothing behind. Needs root (namespaces).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { makeProject, tail, type TestProject } from "./helpers/project.js";
import { writeTestOutput } from "./helpers/test-output.js";
import { residue, type Residue } from "./helpers/residue.js";
import { terraformBinary } from "./helpers/terraform.js";
import { realHost } from "../provision/host/host.js";
import { LocalProvider } from "../provision/machines/local/provider.js";
import { clusterRefOf } from "../provision/core/stage-spec.js";
import { waitForWorkers } from "../provision/services/probe.js";
import { rootOrSkip } from "./helpers/root.js";

const isRoot = rootOrSkip("lifecycle.local", "the local provider needs root to create network namespaces");

const timings: Record<string, number> = {};

describe.runIf(isRoot)("local provider lifecycle", () => {
  let p: TestProject;
  let before: Residue;
  const ips = () => p.cluster.nodes.map((n) => n.ip);

  beforeAll(async () => {
    p = makeProject({
      provider: "local",
      nodes: { count: 3, cpus: 1, memoryMb: 1536 },
      benchmark: { onDeploy: true, size: "small", workloads: ["inc-sleep", "placement"] },
    });
    before = await residue(p.dir, p.cluster.id, ips());
  });

  afterAll(async () => {
    if (!p) return;
    // Whatever happened above, leave the host clean.
    if (existsSync(path.join(p.dir, ".cluster", "terraform.tfstate"))) await p.cdktf("destroy");
    writeTestOutput("lifecycle-local-timings.json", timings);
    console.log("lifecycle timings (s):", JSON.stringify(timings));
    p.remove();
  });

  it("a stage that fails leaves a state the next deploy completes", async () => {
    // A file where node2's root folder must go: its machine stage fails for real.
    const blocker = path.join(p.dir, ".cluster", "nodes", "node2");
    mkdirSync(path.dirname(blocker), { recursive: true });
    writeFileSync(blocker, "in the way\n");
    const failed = await p.cdktf("deploy");
    timings.failedDeploy = failed.seconds;
    expect(failed.out.exitCode, tail(failed.out)).not.toBe(0);
    expect(`${failed.out.stdout}${failed.out.stderr}`).toMatch(/machine-node2/);
    rmSync(blocker);

    const ok = await p.cdktf("deploy");
    timings.deployAfterFailure = ok.seconds;
    expect(ok.out.exitCode, tail(ok.out)).toBe(0);
  });

  it("brings up 3 workers, each registered under its own private IP", async () => {
    const ref = clusterRefOf(p.cluster);
    const head = new LocalProvider(realHost()).transport(ref, ref.head);
    const workers = await waitForWorkers(head, p.cluster.schedulerAddress, true, ["node1", "node2", "node3"], 30);
    expect(workers.map((w) => [w.name, w.host]).sort()).toEqual([
      ["node1", "192.168.56.11"],
      ["node2", "192.168.56.12"],
      ["node3", "192.168.56.13"],
    ]);
    for (const w of workers) expect(w.address).toMatch(/^tls:\/\/192\.168\.56\.1[1-3]:8788$/);
  });

  it("ran the benchmark as the final stage and kept results", () => {
    const latest = path.join(p.dir, "results", "latest", "results.json");
    expect(existsSync(latest)).toBe(true);
    const results = JSON.parse(readFileSync(latest, "utf8")) as { workloads: Record<string, unknown> };
    expect(Object.keys(results.workloads).sort()).toEqual(["inc-sleep", "placement"]);
  });

  it("a second deploy plans no changes", async () => {
    const again = await p.cdktf("deploy");
    timings.warmDeploy = again.seconds;
    expect(again.out.exitCode, tail(again.out)).toBe(0);
    const stackDir = path.join(p.dir, "cdktf.out", "stacks", "dask-cluster");
    const plan = await p.sh([terraformBinary(), `-chdir=${stackDir}`, "plan", "-detailed-exitcode", "-input=false"]);
    expect(plan.exitCode, tail(plan)).toBe(0);
  });

  it("cdktf destroy leaves no namespace, process, listener or file behind", async () => {
    const d = await p.cdktf("destroy");
    timings.destroy = d.seconds;
    expect(d.out.exitCode, tail(d.out)).toBe(0);
    const after = await residue(p.dir, p.cluster.id, ips());
    expect(after.namespaces).toEqual([]);
    expect(after.processes).toEqual([]);
    expect(after.hostListeners).toEqual(before.hostListeners);
    expect(after.files).toEqual(before.files);
    expect(existsSync(path.join(p.dir, ".cluster", "nodes", "node1"))).toBe(false);
    expect(existsSync(path.join(p.dir, ".cluster", "tls"))).toBe(false);
    expect(existsSync(path.join(p.dir, "results", "latest", "results.json"))).toBe(true);
  });
});
