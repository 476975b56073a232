// The runtime bundle, for real: the host (no Python needed) downloads the x86_64 wheelhouse of the committed lock
// (once, into the shared cache ${DVC_CACHE_DIR:-~/.cache/dask-vm-cluster} so later runs
// and CI reuse it), the tar is reproducible and cached, and install.sh installs it with
// the host's python3.11 inside a network namespace without any network. Also the errors a
// user meets: a lock for another Python, a lock edited by hand, a node without the Python.
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { $ } from "zx";
import {
  buildBundle,
  notebookLockPath,
  bundleIdOf,
  lockPath,
  runtimeHashes,
  runtimeRef,
  type BundleResult,
} from "../provision/runtime/bundle.js";
import { UserError } from "../provision/core/errors.js";
import { cacheDir } from "../provision/host/paths.js";
import { pycacheFor, pycachePathOf } from "../provision/runtime/pycache.js";
import type { RuntimeRef } from "../provision/core/stage-spec.js";
import { parseLock } from "../provision/runtime/lock.js";

const REPO = path.resolve(import.meta.dirname, "..");
const SHARED_CACHE = cacheDir();
const temps: string[] = [];

function tempDir(prefix: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  temps.push(dir);
  return dir;
}

/** A copy of the project's cluster-runtime/, to change files without touching the checkout. */
function projectCopy(): string {
  const dir = tempDir("dvc-bundle-proj-");
  cpSync(path.join(REPO, "cluster-runtime"), path.join(dir, "cluster-runtime"), {
    recursive: true,
    filter: (src) => !src.includes("__pycache__"),
  });
  return dir;
}

function runtimeOf(projectDir: string, python = "3.11"): RuntimeRef {
  return runtimeRef(projectDir, python, "x86_64");
}

const lock = parseLock(readFileSync(lockPath(REPO, "x86_64"), "utf8"));
const locked = new Map(lock.entries.map((e) => [e.name, e.version]));
let runtime: RuntimeRef;
let shared: BundleResult;

beforeAll(async () => {
  runtime = runtimeOf(REPO);
  shared = await buildBundle(runtime, {
    projectDir: REPO,
    cacheDir: SHARED_CACHE,
    onProgress: (m) => process.stderr.write(`bundle: ${m}\n`),
  });
}, 900_000);

afterAll(() => {
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
});

describe("buildBundle", () => {
  it("writes a content-addressed tar with the manifest, lock, runtime, install.sh and one wheel per locked package", async () => {
    expect(shared.bundleId).toMatch(/^[0-9a-f]{16}$/);
    expect(shared.bundleId).toBe(bundleIdOf(runtime));
    expect(shared.tarPath).toBe(path.join(SHARED_CACHE, `bundle-${shared.bundleId}.tar`));
    expect(shared.manifest).toEqual({
      bundleId: shared.bundleId,
      lockSha256: runtime.lockSha256,
      sourceSha256: runtime.sourceSha256,
      python: "3.11",
      platform: "x86_64",
    });

    const names = (await $({ quiet: true })`tar -tf ${shared.tarPath}`).stdout.trim().split("\n");
    expect(names).toEqual([...names].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
    for (const n of [
      "manifest.json",
      "requirements.lock",
      "install.sh",
      "runtime/dask_vm_runtime/__main__.py",
      "runtime/dask_vm_runtime/services/supervisor.py",
      `wheelhouse/dask-${locked.get("dask")}-py3-none-any.whl`,
    ]) {
      expect(names).toContain(n);
    }
    expect(names.some((n) => n.includes("__pycache__") || n.endsWith(".pyc"))).toBe(false);
    const wheels = names.filter((n) => n.startsWith("wheelhouse/") && n.endsWith(".whl"));
    expect(wheels).toHaveLength(lock.entries.length);
    expect(wheels.filter((w) => !w.endsWith("-any.whl") && !/manylinux[^/]*_x86_64/.test(w))).toEqual([]);

    // No owner, one fixed time: the same inputs give the same bytes on any host.
    const verbose = (await $({ quiet: true })`tar --numeric-owner -tvf ${shared.tarPath}`).stdout.trim().split("\n");
    for (const line of verbose) expect(line).toMatch(/^\S+ 0\/0 +\d+ 1980-01-01 /);
    expect(verbose.find((l) => l.endsWith(" install.sh"))).toMatch(/^-rwxr-xr-x/);

    const manifest = JSON.parse((await $({ quiet: true })`tar -xOf ${shared.tarPath} manifest.json`).stdout) as unknown;
    expect(manifest).toEqual(shared.manifest);
    const lockInside = (await $({ quiet: true })`tar -xOf ${shared.tarPath} requirements.lock`).stdout;
    expect(lockInside).toBe(readFileSync(lockPath(REPO, "x86_64"), "utf8"));
  });

  it("is reproducible byte for byte, and a second build is a cache hit", async () => {
    // A fresh cache holding only the wheelhouse: the tar is written again from scratch.
    const cache = tempDir("dvc-bundle-cache-");
    const wheelhouse = readdirSync(SHARED_CACHE).find(
      (d) => d.startsWith(`wheelhouse-${runtime.lockSha256.slice(0, 16)}-x86_64`) && !d.includes(".tmp-"),
    );
    expect(wheelhouse).toBeDefined();
    cpSync(path.join(SHARED_CACHE, wheelhouse!), path.join(cache, wheelhouse!), { recursive: true });

    const progress: string[] = [];
    const fresh = await buildBundle(runtime, {
      projectDir: REPO,
      cacheDir: cache,
      onProgress: (m) => progress.push(m),
    });
    expect(progress.join("\n")).toMatch(/wheelhouse cached/);
    expect(progress.join("\n")).toMatch(/written/);
    expect(fresh.bundleId).toBe(shared.bundleId);
    expect(readFileSync(fresh.tarPath).equals(readFileSync(shared.tarPath))).toBe(true);

    const mtime = statSync(fresh.tarPath).mtimeMs;
    const again: string[] = [];
    const hit = await buildBundle(runtime, { projectDir: REPO, cacheDir: cache, onProgress: (m) => again.push(m) });
    expect(hit).toEqual(fresh);
    expect(again).toEqual([`bundle ${shared.bundleId} cached: ${fresh.tarPath}`]);
    expect(statSync(hit.tarPath).mtimeMs).toBe(mtime);
    expect(readdirSync(cache).filter((f) => f.includes(".tmp-"))).toEqual([]);
  });

  it("refuses a runtime.python the lock was not made for, saying how to re-lock", async () => {
    const other = { ...runtime, python: "3.12" };
    const err = await buildBundle(other, { projectDir: REPO, cacheDir: tempDir("dvc-bundle-cache-") }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(UserError);
    expect((err as UserError).exitCode).toBe(2);
    expect((err as UserError).render()).toMatch(
      /locked for Python 3\.11, but runtime\.python is 3\.12[\s\S]*npm run lock -- --python 3\.12/,
    );
  });

  it("refuses a lock edited by hand: its hashes do not match the files on the index", async () => {
    const proj = projectCopy();
    const toolz = lock.entries.find((e) => e.name === "toolz")!;
    writeFileSync(
      lockPath(proj, "x86_64"),
      [
        "# python-version: 3.11",
        "# platform: x86_64",
        `toolz==${toolz.version} \\`,
        `    --hash=sha256:${"0".repeat(64)}`,
        "",
      ].join("\n"),
    );
    const err = await buildBundle(runtimeOf(proj), { projectDir: proj, cacheDir: tempDir("dvc-bundle-cache-") }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(UserError);
    expect((err as UserError).render()).toMatch(
      /does not match the files on the package index[\s\S]*edited by hand[\s\S]*npm run lock -- --python 3\.11/,
    );
  }, 120_000);

  it("refuses cluster-runtime files that changed after synth", async () => {
    const proj = projectCopy();
    const planned = runtimeOf(proj);
    writeFileSync(path.join(proj, "cluster-runtime", "dask_vm_runtime", "extra.py"), "X = 1\n");
    const err = await buildBundle(planned, { projectDir: proj, cacheDir: tempDir("dvc-bundle-cache-") }).catch(
      (e: unknown) => e,
    );
    expect((err as UserError).render()).toMatch(/changed after the stack was synthesized[\s\S]*cdktf deploy again/);
  });
});

describe("runtimeHashes", () => {
  it("is deterministic, follows the sources and the lock, and ignores byte-code", () => {
    const proj = projectCopy();
    const a = runtimeHashes(proj, "x86_64");
    expect(runtimeHashes(proj, "x86_64")).toEqual(a);
    expect(a).toEqual(runtimeHashes(REPO, "x86_64"));

    mkdirSync(path.join(proj, "cluster-runtime", "dask_vm_runtime", "__pycache__"), { recursive: true });
    writeFileSync(path.join(proj, "cluster-runtime", "dask_vm_runtime", "__pycache__", "cli.cpython-311.pyc"), "junk");
    expect(runtimeHashes(proj, "x86_64")).toEqual(a);

    writeFileSync(
      path.join(proj, "cluster-runtime", "install.sh"),
      `${readFileSync(path.join(proj, "cluster-runtime", "install.sh"), "utf8")}\n`,
    );
    const b = runtimeHashes(proj, "x86_64");
    expect(b.lockSha256).toBe(a.lockSha256);
    expect(b.sourceSha256).not.toBe(a.sourceSha256);

    writeFileSync(lockPath(proj, "x86_64"), `${readFileSync(lockPath(proj, "x86_64"), "utf8")}# touched\n`);
    expect(runtimeHashes(proj, "x86_64").lockSha256).not.toBe(a.lockSha256);
    expect(runtimeHashes(proj, "aarch64").lockSha256).not.toBe(a.lockSha256);
  });
});

describe("install.sh", () => {
  it("installs the bundle offline (no network at all), then is a fast no-op", async () => {
    const root = tempDir("dvc-node-");
    const install = path.join(REPO, "cluster-runtime", "install.sh");
    // A network namespace of its own has only a downed loopback: any download would fail.
    const r = await $({ quiet: true, nothrow: true })`unshare --net bash ${install} ${root} ${shared.tarPath} 3.11`;
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`installed bundle ${shared.bundleId} in \\d+ s`));
    // Byte-code for what the services import is written at install, even though this
    // machine's environment may set PYTHONDONTWRITEBYTECODE (services then only read it).
    expect(r.stdout).toMatch(/byte-compiled the modules the services import in \d+ s/);
    const site = (
      await $({
        quiet: true,
      })`${path.join(root, "venv", "bin", "python")} -c ${"import sysconfig; print(sysconfig.get_paths()['purelib'])"}`
    ).stdout.trim();
    for (const mod of [
      "distributed/__pycache__/scheduler.cpython-311.pyc",
      "distributed/cli/__pycache__/dask_worker.cpython-311.pyc",
      "dask/array/__pycache__/core.cpython-311.pyc",
    ]) {
      expect(existsSync(path.join(site, mod)), mod).toBe(true);
    }

    expect(readFileSync(path.join(root, "bundle-id"), "utf8").trim()).toBe(shared.bundleId);
    expect((await $({ quiet: true })`readlink ${path.join(root, "venv")}`).stdout.trim()).toBe(
      `venv-${shared.bundleId}`,
    );
    const v = await $({
      quiet: true,
      nothrow: true,
    })`${path.join(root, "venv", "bin", "python")} -m dask_vm_runtime versions`;
    expect(v.exitCode, v.stderr).toBe(0);
    const report = JSON.parse(v.stdout) as {
      python: { version_info: string };
      bundle_id: string;
      distributions: Record<string, string>;
    };
    expect(report.bundle_id).toBe(shared.bundleId);
    expect(report.python.version_info).toMatch(/^3\.11\./);
    expect(report.distributions.dask).toBe(locked.get("dask"));
    expect(report.distributions.distributed).toBe(locked.get("distributed"));
    // The venv holds exactly what the lock names: nothing from ensurepip or elsewhere.
    expect(new Map(Object.entries(report.distributions))).toEqual(locked);

    const again = await $({ quiet: true, nothrow: true })`unshare --net bash ${install} ${root} ${shared.tarPath} 3.11`;
    expect(again.exitCode, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/already installed/);
  }, 180_000);

  it("takes byte-code made on the host (checked-hash .pyc), and the node's Python uses it as it is", async () => {
    const progress: string[] = [];
    const cacheOf = mkdtempSync(path.join(os.tmpdir(), "dvc-pyc-cache-"));
    try {
      const pyc = await pycacheFor(shared, {
        projectDir: REPO,
        cacheDir: cacheOf,
        onProgress: (m) => progress.push(m),
      });
      expect(pyc, progress.join("\n")).toBe(pycachePathOf(cacheOf, shared.bundleId));
      expect(progress.join("\n")).toMatch(/byte-code for bundle \w+: \d{3,} files compiled on the host/);
      expect(await pycacheFor(shared, { projectDir: REPO, cacheDir: cacheOf })).toBe(pyc); // cached
      const root = tempDir("dvc-node-");
      const r = await $({
        quiet: true,
        nothrow: true,
      })`unshare --net bash ${path.join(REPO, "cluster-runtime", "install.sh")} ${root} ${shared.tarPath} 3.11 ${pyc!}`;
      expect(r.exitCode, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/byte-code from the host: \d{3,} files in \d+ s/);
      expect(r.stdout).not.toMatch(/byte-compiled the modules/);
      const py = path.join(root, "venv", "bin", "python");
      // Importing with byte-code writing on compiles nothing more: the host's files are used.
      const site = (
        await $({ quiet: true })`${py} -c ${"import sysconfig; print(sysconfig.get_paths()['purelib'])"}`
      ).stdout.trim();
      const count = async () =>
        Number((await $({ quiet: true })`find ${site} -name *.pyc`.pipe($({ quiet: true })`wc -l`)).stdout.trim());
      const before = await count();
      const imp = await $({
        quiet: true,
        nothrow: true,
        env: { ...process.env, PYTHONDONTWRITEBYTECODE: "" },
      })`${py} -c ${"import distributed, distributed.cli.dask_worker, dask.array; print(distributed.__file__)"}`;
      expect(imp.exitCode, imp.stderr).toBe(0);
      expect(await count()).toBe(before);
      // Checked-hash (PEP 552 flags 3): the node uses a .pyc only while its source is unchanged.
      const flag = (
        await $({
          quiet: true,
        })`${py} -c ${"import importlib.util, sys; data = open(importlib.util.cache_from_source(sys.argv[1]), 'rb').read(); print(int.from_bytes(data[4:8], 'little'))"} ${path.join(site, "distributed", "scheduler.py")}`
      ).stdout.trim();
      expect(flag).toBe("3"); // hash-based (1) and checked (2)
    } finally {
      rmSync(cacheOf, { recursive: true, force: true });
    }
  }, 300_000);

  it("exits 3 on a node without the bundle's Python, naming what it found and how to fix it", async () => {
    const root = tempDir("dvc-node-");
    const r = await $({
      quiet: true,
      nothrow: true,
    })`bash ${path.join(REPO, "cluster-runtime", "install.sh")} ${root} ${shared.tarPath} 3.9`;
    expect(r.exitCode).toBe(3);
    expect(r.stderr).toMatch(/no working python3\.9/);
    expect(r.stderr).toMatch(/found: .*python3\.11 = 3\.11\./);
    expect(r.stderr).toMatch(/apt-get install python3\.9 python3\.9-venv/);
    expect(r.stderr).toMatch(/npm run lock -- --python X\.Y/);
    expect(existsSync(path.join(root, "venv"))).toBe(false);
  });
});

describe("npm run lock (provision/commands/lock.ts)", () => {
  it("regenerates the committed locks (the runtime's, then JupyterLab's against it) with the same pins and hashes, and their headers (uv fetched when missing)", async () => {
    const proj = projectCopy();
    const { main } = await import("../provision/commands/lock.js");
    const results = await main({ projectDir: proj, python: "3.11", platforms: ["x86_64"] });
    const notebook = parseLock(readFileSync(notebookLockPath(REPO, "x86_64"), "utf8"));
    expect(results).toMatchObject([
      { platform: "x86_64", packages: lock.entries.length, file: lockPath(proj, "x86_64") },
      { platform: "x86_64", packages: notebook.entries.length, file: notebookLockPath(proj, "x86_64") },
    ]);
    const regenerated = parseLock(readFileSync(lockPath(proj, "x86_64"), "utf8"));
    expect(regenerated).toEqual(lock);
    expect(regenerated).toMatchObject({ python: "3.11", platform: "x86_64" });
    expect(parseLock(readFileSync(notebookLockPath(proj, "x86_64"), "utf8"))).toEqual(notebook);
    // Every package both locks name is at the runtime's version: the kernel imports the runtime's.
    for (const e of notebook.entries) if (locked.has(e.name)) expect(e.version, e.name).toBe(locked.get(e.name));
  }, 120_000);
});
