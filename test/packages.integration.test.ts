// runtime.packages through the real app (what cdktf synth runs) with the real uv and the
// real package index: the lock written beside the config with the runtime's pins kept,
// made again only when the packages change, and each package the nodes cannot install
// (no wheel, conflict with the runtime, unknown) refused with exit 2, naming it, with
// nothing synthesized and the lock left as it was. Needs uv and PyPI (CI installs uv).
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { $ } from "zx";
import { afterAll, describe, expect, it } from "vitest";

import { makeCheckout } from "./helpers/project.js";
import { parseLock } from "../provision/runtime/lock.js";

const checkout = makeCheckout("dvc-packages-");
afterAll(() => rmSync(checkout.top, { recursive: true, force: true }));
const lockFile = path.join(checkout.dir, "cluster.config.lock");

async function synth(packages: string[]) {
  writeFileSync(
    path.join(checkout.dir, "cluster.config.json"),
    JSON.stringify({ provider: "local", runtime: { packages } }),
  );
  const out = mkdtempSync(path.join(os.tmpdir(), "dvc-synth-"));
  const r = await $({
    cwd: checkout.link,
    nothrow: true,
    quiet: true,
    env: { ...process.env, CDKTF_OUTDIR: out },
  })`node_modules/.bin/tsx stacks/main.ts`;
  const synthesized = readdirSync(out).length > 0;
  rmSync(out, { recursive: true, force: true });
  return { ...r, exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr, synthesized };
}

describe("runtime.packages at synth", () => {
  it("locks them with the runtime, whose pins stay, beside the config; a second synth does not lock again", async () => {
    const r = await synth(["tabulate", "humanize>=4"]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.synthesized).toBe(true);
    expect(r.stdout).toMatch(/\[packages\] locking humanize>=4, tabulate|\[packages\] locking tabulate, humanize>=4/);
    const text = readFileSync(lockFile, "utf8");
    expect(text).toMatch(/^# python-version: 3\.11$/m);
    expect(text).toMatch(/^# packages: \["humanize>=4","tabulate"\]$/m);
    const lock = new Map(parseLock(text).entries.map((e) => [e.name, e]));
    expect(lock.get("tabulate")?.hashes.length).toBeGreaterThan(0);
    expect(lock.has("humanize")).toBe(true);
    const runtime = parseLock(
      readFileSync(path.join(checkout.dir, "cluster-runtime", "requirements-x86_64.lock"), "utf8"),
    ).entries;
    for (const e of runtime) expect(lock.get(e.name)?.version, e.name).toBe(e.version);
    const mtime = statSync(lockFile).mtimeMs;
    const again = await synth(["humanize>=4", "tabulate"]);
    expect(again.exitCode, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/\[packages\] cluster\.config\.lock is current/);
    expect(statSync(lockFile).mtimeMs).toBe(mtime);
  }, 180_000);

  it.each([
    [["tabulate", "docopt"], 1, /"docopt": docopt has no wheel for Python 3\.11 on Linux x86_64/],
    [["numpy<2"], 0, /"numpy<2" conflicts with the runtime or another package: .*numpy==/],
    [["no-such-package-dvc-test"], 0, /no package named no-such-package-dvc-test/],
  ])(
    "refuses %j with exit 2 at /runtime/packages/%i, naming why, synthesizing nothing and leaving the lock",
    async (packages, index, why) => {
      const before = existsSync(lockFile) ? readFileSync(lockFile, "utf8") : undefined;
      const r = await synth(packages);
      expect(r.exitCode, r.stdout).toBe(2);
      expect(r.stderr).toMatch(/^error: runtime\.packages cannot be installed on the nodes \(nothing was changed\)/m);
      expect(r.stderr).toContain(`/runtime/packages/${index}:`);
      expect(r.stderr).toMatch(why);
      expect(r.stderr).toMatch(/fix: /);
      expect(r.synthesized).toBe(false);
      expect(existsSync(lockFile) ? readFileSync(lockFile, "utf8") : undefined).toBe(before);
    },
    120_000,
  );
});
