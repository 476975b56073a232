// npm run doctor on this machine, for the local provider (root): its real Node, Terraform,
// uid, iproute2 and Python, through the checks and through the real CLI with its exit codes.
import { describe, expect, it } from "vitest";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { $ } from "zx";
import { runChecks } from "../provision/commands/doctor.js";
import { verdictOf, type CheckRow } from "../provision/core/check-rows.js";
import { resolveCluster } from "../provision/config/resolve.js";
import { realHost } from "../provision/host/host.js";
import { rootOrSkip } from "./helpers/root.js";

const root = path.resolve(import.meta.dirname, "..");
const isRoot = rootOrSkip("doctor.local", "the local provider's checks pass only as root");

function rowOf(rows: readonly CheckRow[], check: string): CheckRow {
  const r = rows.find((x) => x.check === check);
  if (!r) throw new Error(`no row "${check}" in: ${rows.map((x) => x.check).join(", ")}`);
  return r;
}

describe.runIf(isRoot)("doctor on this machine", () => {
  it("for the local provider: node, terraform, root and python are ok (root, Python 3.11 here)", async () => {
    const c = resolveCluster({ provider: "local" }, root);
    const rows = await runChecks(c, { provider: "local", online: false }, realHost());
    for (const check of ["node", "terraform", "root", "python3.11", "iproute2"])
      expect(rowOf(rows, check), JSON.stringify(rows, null, 2)).toMatchObject({ status: "ok", fix: "" });
    expect(rowOf(rows, "node").found).toBe(`v${process.versions.node}`);
    expect(rowOf(rows, "python3.11").found).toMatch(/^3\.11\.\d+$/);
    expect(verdictOf(rows)).not.toBe("not ready");
  });

  it("the CLI: --json for the local provider exits 0, bad arguments exit 2", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "dvc-doctor-"));
    try {
      const config = path.join(dir, "cluster.config.json");
      writeFileSync(config, JSON.stringify({ provider: "local" }));
      const env = { ...process.env, CLUSTER_CONFIG: config };
      const r = await $({
        cwd: root,
        env,
        nothrow: true,
        quiet: true,
        timeout: 60_000,
      })`node_modules/.bin/tsx provision/cli.ts doctor --json`;
      expect(r.exitCode, r.stderr).toBe(0);
      const report = JSON.parse(r.stdout) as { provider: string; verdict: string; rows: CheckRow[] };
      expect(report.provider).toBe("local");
      expect(report.rows.map((x) => x.check)).toContain("python3.11");
      const table = await $({
        cwd: root,
        env,
        nothrow: true,
        quiet: true,
        timeout: 60_000,
      })`node_modules/.bin/tsx provision/cli.ts doctor --provider local`;
      expect(table.stdout).toMatch(/^check\s+status\s+found \/ what to do$/m);
      expect(table.stdout.trim().split("\n").pop()).toMatch(/^ready for local/);
      const bad = await $({
        cwd: root,
        env,
        nothrow: true,
        quiet: true,
      })`node_modules/.bin/tsx provision/cli.ts doctor --provider docker`;
      expect(bad.exitCode).toBe(2);
      expect(bad.stderr).toContain("use one of: virtualbox, libvirt, local");
      expect(bad.stderr).not.toMatch(/\bat .*\.ts:\d+/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
