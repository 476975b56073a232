// The classroom kit without building one: --platforms, the manifest read and its items
// verified (missing, truncated, changed), what a deploy takes from a kit and what it refuses
// (a config whose bundle the kit lacks, another computer), the provider lock with every
// platform's hash, and the installers `kit check` looks for in tools/, by the names their
// download pages give. test/kit.local.test.ts builds a real kit and deploys from it offline.
import { mkdirSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { resolveCluster } from "../provision/config/resolve.js";
import { UserError } from "../provision/core/errors.js";
import { installersFor } from "../provision/host/installers.js";
import { lockFileText } from "../provision/host/toolchain.js";
import { bundleIdOf, runtimeRef } from "../provision/runtime/bundle.js";
import {
  hashPath,
  hostOf,
  kitCheck,
  KIT_PLATFORMS,
  kitInUse,
  kitUseFile,
  parsePlatforms,
  readKit,
  takeFromKit,
  verifyItems,
  type KitItem,
} from "../provision/runtime/kit.js";
import { fakeHost } from "./helpers/fake-host.js";
import { REPO } from "./helpers/project.js";

const work = mkdtempSync(path.join(os.tmpdir(), "dvc-kit-unit-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function refusal(f: () => unknown, code = 2): UserError {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(UserError);
    expect((err as UserError).exitCode).toBe(code);
    return err as UserError;
  }
  throw new Error("accepted");
}

/** A kit folder with these files and a manifest listing them (as the build writes it). */
function makeKit(name: string, files: Record<string, string>, extra: (items: KitItem[]) => KitItem[] = (i) => i) {
  const dir = path.join(work, name);
  const items: KitItem[] = [];
  for (const [rel, text] of Object.entries(files)) {
    const abs = path.join(dir, ...rel.split("/"));
    mkdirSync(path.dirname(abs), { recursive: true });
    writeFileSync(abs, text);
    items.push({ path: rel, kind: "config", ...hashPath(abs), what: rel });
  }
  writeFileSync(
    path.join(dir, "kit.json"),
    JSON.stringify({
      format: 1,
      created: "2026-12-05T00:00:00Z",
      commit: "0".repeat(40),
      describe: "000000000000 (2026-12-05)",
      platforms: ["linux-x64"],
      config: "class/cluster.config.json",
      buildSeconds: 1,
      items: extra(items),
      missing: [],
    }),
  );
  return dir;
}

describe("--platforms", () => {
  it("takes a list or all, and refuses an unknown computer naming the allowed ones", () => {
    expect(parsePlatforms("linux-x64,darwin-arm64,linux-x64")).toEqual(["linux-x64", "darwin-arm64"]);
    expect(parsePlatforms("all")).toEqual([...KIT_PLATFORMS]);
    const e = refusal(() => parsePlatforms("linux-x64,win32-ia32"));
    expect(e.message).toBe("--platforms names win32-ia32");
    expect(e.problems[0]!.fix).toContain("linux-x64, linux-arm64, darwin-x64, darwin-arm64, win32-x64, win32-arm64");
  });
});

describe("the manifest and its items", () => {
  it("a folder without kit.json, or a manifest of another format, is not a kit (exit 2)", () => {
    expect(refusal(() => readKit(path.join(work, "none"))).problems[0]!.message).toBe("no such folder");
    const dir = makeKit("future", { "a.txt": "a" });
    writeFileSync(path.join(dir, "kit.json"), JSON.stringify({ format: 9, items: [], platforms: [] }));
    expect(refusal(() => readKit(dir)).problems.map((p) => p.path)).toEqual(["/format"]);
    writeFileSync(
      path.join(dir, "kit.json"),
      JSON.stringify({ format: 1, platforms: [], items: [{ path: "../../etc/passwd", sha256: "x" }] }),
    );
    expect(refusal(() => readKit(dir)).problems.map((p) => p.path)).toEqual(["/items/0/path", "/items/0/sha256"]);
  });

  it("verification names what is missing, truncated or changed", () => {
    const dir = makeKit("damaged", { "a.txt": "aaaa", "b/c.txt": "cccc", "d.txt": "dddd" });
    const m = readKit(dir);
    expect(verifyItems(dir, m.items)).toEqual([]);
    rmSync(path.join(dir, "a.txt"));
    truncateSync(path.join(dir, "b", "c.txt"), 2);
    writeFileSync(path.join(dir, "d.txt"), "DDDD");
    expect(verifyItems(dir, m.items).map((p) => `${p.path}: ${p.message.replace(/[0-9a-f]{12}…/g, "…")}`)).toEqual([
      "a.txt: missing (a.txt)",
      "b/c.txt: 2 B on disk, the manifest says 4 B: truncated or changed",
      "d.txt: sha256 …, the manifest says …: damaged or changed",
    ]);
  });

  it("a folder's hash covers every file and its name", () => {
    const dir = path.join(work, "tree");
    mkdirSync(path.join(dir, "x"), { recursive: true });
    writeFileSync(path.join(dir, "x", "1"), "one");
    const before = hashPath(dir);
    expect(before).toMatchObject({ bytes: 3, files: 1 });
    writeFileSync(path.join(dir, "x", "2"), "");
    expect(hashPath(dir).sha256).not.toBe(before.sha256);
  });
});

describe("a deploy from a kit", () => {
  const cluster = resolveCluster({ provider: "local" }, REPO, { host: { platform: "linux", arch: "x64" } });
  const runtime = runtimeRef(REPO, cluster.config.runtime.python, cluster.config.runtime.platform);

  it("DVC_KIT wins over what kit use recorded; neither: no kit", () => {
    const project = path.join(work, "checkout");
    expect(kitInUse({}, project)).toBeUndefined();
    mkdirSync(path.dirname(kitUseFile(project)), { recursive: true });
    writeFileSync(kitUseFile(project), JSON.stringify({ dir: "/media/usb/kit" }));
    expect(kitInUse({}, project)).toBe("/media/usb/kit");
    expect(kitInUse({ DVC_KIT: "/other" }, project)).toBe("/other");
  });

  it("refuses a config whose runtime bundle the kit does not hold, saying what it holds (exit 2)", async () => {
    const dir = makeKit("other-bundle", { "runtime/bundle-1111222233334444.tar": "tar" }, (items) =>
      items.map((i) => ({ ...i, kind: "bundle" as const, key: "1111222233334444", platform: "aarch64" })),
    );
    const host = fakeHost({ env: { DVC_CACHE_DIR: path.join(work, "cache") } });
    const err = await takeFromKit(dir, { cluster, runtime, host, log: { step: () => {}, timed: (_s, _w, f) => f() } })
      .then(() => undefined)
      .catch((e: unknown) => e as UserError);
    expect(err).toBeInstanceOf(UserError);
    expect(err!.exitCode).toBe(2);
    expect(err!.message).toMatch(
      /^the kit at .* has no runtime bundle for this config \(bundle [0-9a-f]{16}: Python 3\.\d+, x86_64\)$/,
    );
    expect(err!.problems[0]!.message).toContain("it holds runtime bundle 1111222233334444 (aarch64)");
    expect(err!.problems[0]!.fix).toContain("npm run kit -- use");
  });
});

describe("doctor's row for a kit in use", () => {
  const cluster = resolveCluster({ provider: "local" }, REPO, { host: { platform: "linux", arch: "x64" } });
  const runtime = runtimeRef(REPO, cluster.config.runtime.python, cluster.config.runtime.platform);
  const host = (env: NodeJS.ProcessEnv) => ({ env, platform: "linux" as const, arch: "x64" });

  it("none without a kit; a warning when it is not plugged in; what it lacks; ok when it holds both", () => {
    expect(kitCheck(path.join(work, "no-checkout"), runtime, host({}))).toBeUndefined();
    expect(kitCheck(work, runtime, host({ DVC_KIT: path.join(work, "unplugged") }))).toMatchObject({
      status: "warn",
      found: expect.stringMatching(/unplugged \(DVC_KIT\) is not there$/),
    });
    const bare = makeKit("doctor-bare", { "class/cluster.config.json": "{}" });
    expect(kitCheck(work, runtime, host({ DVC_KIT: bare }))).toMatchObject({
      status: "fail",
      found: expect.stringMatching(
        /has no runtime bundle [0-9a-f]{16}, no hashicorp\/null for linux_amd64 for this config and computer$/,
      ),
    });
    const whole = makeKit("doctor-whole", { "runtime/b.tar": "b", "providers/p": "p" }, (items) => [
      { ...items[0]!, kind: "bundle", key: bundleIdOf(runtime) },
      { ...items[1]!, kind: "provider", platform: "linux_amd64" },
    ]);
    expect(kitCheck(work, runtime, host({ DVC_KIT: whole }))).toMatchObject({
      status: "ok",
      found: expect.stringContaining("so a deploy fetches nothing"),
    });
  });
});

describe("the provider lock of a kit", () => {
  it("names every platform's hash once, sorted, under both registries", () => {
    const text = lockFileText(["h1:bbb=", "h1:aaa=", "h1:bbb="]);
    for (const registry of ["registry.terraform.io", "registry.opentofu.org"])
      expect(text).toContain(
        `provider "${registry}/hashicorp/null" {\n  version     = "2.2.0"\n  constraints = ">= 2.1.2, < 4.0.0"\n  hashes = [\n    "h1:aaa=",\n    "h1:bbb=",\n  ]\n}`,
      );
  });
});

describe("the installers kit check looks for in tools/", () => {
  it("match the names of the official downloads, per computer and provider", () => {
    for (const p of KIT_PLATFORMS)
      for (const t of installersFor(hostOf(p).platform, hostOf(p).arch, "virtualbox"))
        expect(t.pattern.test(t.example), `${p} ${t.tool}`).toBe(true);
    expect(installersFor("win32", "x64", "local").map((t) => t.tool)).toEqual([
      "Node.js (22, 24 or 26)",
      "Terraform or OpenTofu",
    ]);
    const mac = installersFor("darwin", "arm64", "virtualbox");
    expect(mac.map((t) => t.tool)).toEqual([
      "Node.js (22, 24 or 26)",
      "Terraform or OpenTofu",
      "Vagrant",
      "VirtualBox 7",
    ]);
    expect(mac.find((t) => t.tool === "VirtualBox 7")!.pattern.test("VirtualBox-7.2.4-170995-OSX.dmg")).toBe(false);
    expect(mac.find((t) => t.tool === "Terraform or OpenTofu")!.pattern.test("tofu_1.12.6_darwin_arm64.zip")).toBe(
      true,
    );
    expect(installersFor("linux", "x64", "local")[0]!.pattern.test("node-v20.19.0-linux-x64.tar.xz")).toBe(false);
  });
});
