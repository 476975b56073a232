// `npm run demo` as a student runs it: from a checkout under "Cours Dask é" (a space and a
// non-ASCII letter), reached through a symlink. Once, a guard comparing import.meta.url
// with argv[1] made it print nothing and exit 0 there, and made `cdktf deploy` report
// "Apply complete" with no node created. Needs root (namespaces).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync, readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { $ } from "zx";
import { resolveCluster } from "../provision/lib/config.js";
import { makeCheckout } from "./helpers/project.js";
import { residue, type Residue } from "./helpers/residue.js";
import { cdktfEnv } from "./helpers/terraform.js";
import { rootOrSkip } from "./helpers/root.js";

const isRoot = rootOrSkip("demo.local", "the local provider needs root to create network namespaces");

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
    const r = await $({ cwd: checkout.link, nothrow: true, quiet: true, env: cdktfEnv(), timeout: 1_200_000 })`npm run demo`;
    out = `${r.stdout}\n${r.stderr}`;
    code = r.exitCode;
  });

  afterAll(async () => {
    // Whatever happened, leave nothing: the demo's own config names the cluster.
    if (existsSync(path.join(checkout.dir, ".cluster", "terraform.tfstate"))) {
      const env = cdktfEnv({ CLUSTER_CONFIG: path.join(checkout.dir, ".cluster", "demo", "cluster.config.json") });
      await $({ cwd: checkout.link, nothrow: true, quiet: true, env })`node_modules/.bin/cdktf destroy --auto-approve`;
    }
    rmSync(checkout.top, { recursive: true, force: true });
  });

  it("exits 0 after registering 3 workers, each on its own private IP", () => {
    expect(code, out.slice(-3000)).toBe(0);
    for (const [i, ip] of ips.entries()) expect(out).toContain(`[node${i + 1}] registered with the scheduler as tls://${ip}:8788`);
    expect(out).toMatch(/identical: 3 nodes run Python 3\.11/);
  });

  it("wrote the benchmark report into the checkout", () => {
    const report = path.join(checkout.dir, "results", "latest", "report.md");
    expect(existsSync(report)).toBe(true);
    expect(readFileSync(report, "utf8")).toMatch(/inc-sleep/);
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
