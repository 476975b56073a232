// The config corpus: every invalid config in test/fixtures/invalid-configs must be
// refused with its own message (field path, what, how to fix), exit code 2 from the real
// app (tsx stacks/main.ts, what cdktf synth runs) and nothing synthesized.
import { describe, expect, it } from "vitest";
import { mkdtempSync, readdirSync, readFileSync, existsSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { $ } from "zx";
import { loadCluster, resolveCluster } from "../provision/config/resolve.js";
import { ARM64_BOX } from "../provision/machines/virtualbox/provider.js";
import { UserError } from "../provision/core/errors.js";

const root = path.resolve(import.meta.dirname, "..");
const corpus = path.join(import.meta.dirname, "fixtures", "invalid-configs");
const expectations = JSON.parse(readFileSync(path.join(corpus, "expectations.json"), "utf8")) as Record<
  string,
  { path: string; message: string; fix: string }
>;
const files = readdirSync(corpus)
  .filter((f) => f.endsWith(".json") && f !== "expectations.json")
  .sort();

describe("invalid configs", () => {
  it("the corpus has at least 20 configs, each with an expectation", () => {
    expect(files.length).toBeGreaterThanOrEqual(20);
    expect(files.map((f) => f.replace(/\.json$/, "")).sort()).toEqual(Object.keys(expectations).sort());
  });

  it.each(files)("%s is refused with its message", (file) => {
    const want = expectations[file.replace(/\.json$/, "")]!;
    let err: unknown;
    try {
      loadCluster({ projectDir: root, env: { CLUSTER_CONFIG: path.join(corpus, file) } });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UserError);
    const u = err as UserError;
    expect(u.exitCode).toBe(2);
    const text = u.render();
    const problem = u.problems.find((p) => p.path.endsWith(want.path) && p.message.includes(want.message));
    expect(problem, `no problem at ${want.path} saying "${want.message}" in:\n${text}`).toBeDefined();
    expect(problem!.fix ?? "").toContain(want.fix);
  });

  it("the app (what cdktf synth runs) exits 2 with the message and synthesizes nothing", async () => {
    for (const file of ["01-unknown-top-key.json", "09-duplicate-ip.json", "24-invalid-json.json"]) {
      const out = mkdtempSync(path.join(os.tmpdir(), "dvc-synth-"));
      const r = await $({
        cwd: root,
        nothrow: true,
        quiet: true,
        env: { ...process.env, CLUSTER_CONFIG: path.join(corpus, file), CDKTF_OUTDIR: out },
      })`node_modules/.bin/tsx stacks/main.ts`;
      expect(r.exitCode, r.stderr).toBe(2);
      expect(r.stderr).toMatch(/^error: .*is not valid/m);
      expect(r.stderr).not.toMatch(/\bat .*\.ts:\d+/); // no stack trace
      expect(readdirSync(out)).toEqual([]);
      rmSync(out, { recursive: true, force: true });
    }
  });
});

describe("valid configs", () => {
  it("defaults describe 3 VirtualBox nodes on 192.168.56.11-13", () => {
    const c = resolveCluster({}, root);
    expect(c.config.provider).toBe("virtualbox");
    expect(c.nodes.map((n) => [n.name, n.ip, n.threads, n.memoryLimitMb])).toEqual([
      ["node1", "192.168.56.11", 1, 1536],
      ["node2", "192.168.56.12", 1, 1536],
      ["node3", "192.168.56.13", 1, 1536],
    ]);
    expect(c.schedulerAddress).toBe("tls://192.168.56.11:8786");
    expect(c.dashboardUrl).toBe("http://192.168.56.11:8787/status");
    expect(Object.isFrozen(c.nodes[0])).toBe(true);
  });

  it("overrides, threads and memory limits resolve per node", () => {
    const c = resolveCluster(
      {
        provider: "local",
        nodes: { count: 3, overrides: [{ name: "node3", cpus: 4, memoryMb: 4096 }] },
        dask: { tls: false },
      },
      root,
    );
    expect(c.nodes[2]).toMatchObject({ cpus: 4, threads: 4, memoryLimitMb: 3584 });
    expect(c.schedulerAddress).toBe("tcp://192.168.56.11:8786");
  });

  it("reads no host file: VirtualBox's host-only range rule is the virtualbox checks' (preflight, doctor), not the config's", () => {
    expect(() => resolveCluster({ network: { subnet: "10.10.0.0/24" } }, root)).not.toThrow();
    expect(() => resolveCluster({ provider: "local", network: { subnet: "10.10.0.0/24" } }, root)).not.toThrow();
  });

  it("on an Apple Silicon Mac, VirtualBox's defaults become arm64: the aarch64 lock and an arm64 box, unless the config says otherwise", () => {
    const mac = { host: { platform: "darwin" as const, arch: "arm64" } };
    const c = resolveCluster({}, root, mac);
    expect([c.config.runtime.platform, c.config.box.name]).toEqual(["aarch64", ARM64_BOX]);
    expect(
      resolveCluster({ box: { name: "my/box" }, runtime: { platform: "x86_64" } }, root, mac).config.runtime.platform,
    ).toBe("x86_64");
    expect(resolveCluster({ provider: "libvirt" }, root, mac).config.runtime.platform).toBe("x86_64");
    expect(resolveCluster({}, root, { host: { platform: "darwin", arch: "x64" } }).config.box.name).toBe(
      "debian/bookworm64",
    );
  });

  it("a missing CLUSTER_CONFIG file is refused", () => {
    expect(() => loadCluster({ projectDir: root, env: { CLUSTER_CONFIG: "/nonexistent/c.json" } })).toThrow(
      /does not exist/,
    );
    expect(existsSync("/nonexistent")).toBe(false);
  });
});
