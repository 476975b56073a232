// `npm run demo` as a student runs it: from a checkout under "Cours Dask é" (a space and a
// non-ASCII letter), reached through a symlink. Once, a guard comparing import.meta.url
// with argv[1] made it print nothing and exit 0 there, and made `cdktf deploy` report
// "Apply complete" with no node created. What it prints is what a student reads: a line
// per stage and the goals, Terraform's full output in the log it names; a stage that
// fails prints its own error and the log. Needs root (namespaces).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { $ } from "zx";
import { resolveCluster } from "../provision/config/resolve.js";
import { makeCheckout } from "./helpers/project.js";
import { residue, type Residue } from "./helpers/residue.js";
import { cdktfEnv } from "./helpers/terraform.js";
import { rootOrSkip } from "./helpers/root.js";

const isRoot = rootOrSkip("demo.local", "the local provider needs root to create network namespaces");

type Checkout = ReturnType<typeof makeCheckout>;

/** `npm run demo` in the checkout, as a student types it: its output and exit code. */
async function runDemo(checkout: Checkout): Promise<{ out: string; code: number | null }> {
  const r = await $({
    cwd: checkout.link,
    nothrow: true,
    quiet: true,
    env: cdktfEnv(),
    timeout: 1_200_000,
  })`npm run demo`;
  return { out: `${r.stdout}\n${r.stderr}`, code: r.exitCode };
}

/** Whatever happened, leave nothing: the demo's own config names the cluster to destroy. */
async function removeDemo(checkout: Checkout): Promise<void> {
  if (existsSync(path.join(checkout.dir, ".cluster", "terraform.tfstate"))) {
    const env = cdktfEnv({ CLUSTER_CONFIG: path.join(checkout.dir, ".cluster", "demo", "cluster.config.json") });
    await $({ cwd: checkout.link, nothrow: true, quiet: true, env })`node_modules/.bin/cdktf destroy --auto-approve`;
  }
  rmSync(checkout.top, { recursive: true, force: true });
}

/** The log the demo names as it starts. */
function logOf(out: string): string {
  const m = /^\[demo\] deploying \d+ namespace nodes with cdktf deploy; Terraform's full output goes to (\S+)$/m.exec(
    out,
  );
  expect(m, out.slice(0, 2000)).not.toBeNull();
  return m![1]!;
}

describe.runIf(isRoot)('npm run demo from a checkout at "Cours Dask é", through a symlink', () => {
  const checkout = makeCheckout("dvc-demo-");
  // The demo's own config: what its cluster id and addresses are.
  const cluster = resolveCluster({ provider: "local", nodes: { count: 3 } }, checkout.dir);
  const ips = cluster.nodes.map((n) => n.ip);
  let before: Residue;
  let out = "";
  let code: number | null = null;

  beforeAll(async () => {
    before = await residue(checkout.dir, cluster.id, ips);
    ({ out, code } = await runDemo(checkout));
  });

  afterAll(() => removeDemo(checkout));

  it("exits 0 after registering 3 workers, each on its own private IP (as its log records)", () => {
    expect(code, out.slice(-3000)).toBe(0);
    const log = readFileSync(path.join(checkout.dir, logOf(out)), "utf8");
    for (const [i, ip] of ips.entries())
      expect(log).toContain(`[node${i + 1}] registered with the scheduler as tls://${ip}:8788`);
    expect(out).toMatch(/identical: 3 nodes run Python 3\.11/);
  });

  it("prints a line when each stage starts and one when it is done, with times, and not Terraform's plan", () => {
    const stages = [
      "preflight",
      "network",
      "bundle",
      "box",
      ...ips.map((_, i) => `machine-node${i + 1}`),
      "tls",
      ...ips.map((_, i) => `install-node${i + 1}`),
      "version-gate",
      "scheduler",
      ...ips.map((_, i) => `worker-node${i + 1}`),
      "benchmark",
    ];
    for (const stage of stages) {
      expect(out).toMatch(new RegExp(`^\\[deploy\\] \\+\\d+:\\d\\d ${stage}: started$`, "m"));
      expect(out).toMatch(new RegExp(`^\\[deploy\\] \\+\\d+:\\d\\d ${stage}: done in \\d+\\.\\d s$`, "m"));
    }
    expect(out).toMatch(/^\[deploy\] done in \d+ s \(17 stages\)$/m);
    expect(out).toMatch(/^\[destroy\] \+\d+:\d\d machine-node1: done in \d+\.\d s$/m);
    expect(out).not.toContain("null_resource");
    expect(out).not.toContain("Terraform will perform");
    // About 2,000 lines before; now the stages, the goals table and a few lines of the demo's own.
    expect(out.trim().split("\n").length).toBeLessThan(120);
  });

  it("names the log that holds Terraform's full output, under .cluster/logs, at the start and at the end", () => {
    const log = logOf(out);
    expect(log).toMatch(/^\.cluster\/logs\/demo-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ\.log$/);
    expect(out).toMatch(
      new RegExp(
        `^\\[demo\\] times: deploy \\d+ s, verify-versions \\d+ s, destroy \\d+ s; Terraform's full output: ${log.replace(/\./g, "\\.")}$`,
        "m",
      ),
    );
    const text = readFileSync(path.join(checkout.dir, log), "utf8");
    expect(text).toContain("Terraform will perform the following actions");
    expect(text).toContain("# $ cdktf destroy --auto-approve");
    expect(text).toMatch(/Destruction complete/);
  });

  it("wrote the benchmark report into the checkout and printed its goals", () => {
    const report = path.join(checkout.dir, "results", "latest", "report.md");
    expect(existsSync(report)).toBe(true);
    expect(readFileSync(report, "utf8")).toMatch(/inc-sleep/);
    expect(out).toMatch(/^workload\s+what\s+measured\s+goal\s+status$/m);
    expect(out).toMatch(/^\d+ met, \d+ missed, \d+ not judged \(size small\)$/m);
    expect(out).toContain("[demo] benchmark report: results/latest/report.md");
  });

  it("destroyed everything it made", async () => {
    const after = await residue(checkout.dir, cluster.id, ips);
    expect(after.namespaces).toEqual([]);
    expect(after.processes).toEqual([]);
    expect(after.hostListeners).toEqual(before.hostListeners);
    expect(after.files).toEqual(before.files);
    expect(existsSync(path.join(checkout.dir, ".cluster", "nodes", "node1"))).toBe(false);
  });
});

describe.runIf(isRoot)("npm run demo when a stage fails", () => {
  const checkout = makeCheckout("dvc-demo-fail-");
  const cluster = resolveCluster({ provider: "local", nodes: { count: 3 } }, checkout.dir);
  const ips = cluster.nodes.map((n) => n.ip);
  let out = "";
  let code: number | null = null;

  beforeAll(async () => {
    // Where the machine stage makes each node's root folder, a file: the stage fails as
    // on a disk that refuses it, after preflight, network and box have run.
    mkdirSync(path.join(checkout.dir, ".cluster"), { recursive: true });
    writeFileSync(path.join(checkout.dir, ".cluster", "nodes"), "not a folder\n");
    ({ out, code } = await runDemo(checkout));
  });

  afterAll(() => removeDemo(checkout));

  it("exits 1 and shows the failing stage's own error, then the log with Terraform's full output", () => {
    expect(code, out).toBe(1);
    expect(out).toMatch(/^\[deploy\] FAILED after \d+ s \(cdktf deploy exited with 1\)$/m);
    expect(out).toMatch(/^\[deploy\] machine-node\d failed:$/m);
    expect(out).toMatch(/^\[deploy\] {3}error: .*nodes/m);
    expect(out).not.toMatch(/^\[deploy\]\s+at /m);
    const log = logOf(out);
    expect(out).toContain(`[deploy] Terraform's full output: ${log}`);
    expect(out).toMatch(
      /^error: the demo stopped: a step exited with 1 \(what failed is above; everything Terraform printed is in \.cluster\/logs\/demo-.*\.log\)$/m,
    );
    expect(readFileSync(path.join(checkout.dir, log), "utf8")).toContain("Error:");
    expect(out).not.toContain("Terraform will perform");
  });

  it("still removes what it made", async () => {
    const after = await residue(checkout.dir, cluster.id, ips);
    expect(after.namespaces).toEqual([]);
    expect(after.processes).toEqual([]);
  });
});
