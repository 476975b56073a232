// Byte-code for a runtime bundle, made once on the host and shipped to the nodes beside
// the bundle (pycache-<bundleId>.tar in the cache). Without it every node compiles what
// the services import itself: 3 s natively, but 150 s on each VM under qemu emulation,
// all of them at once (measured). Made only where the host has the nodes' Python X.Y
// (byte-code depends on X.Y alone, not on the platform); elsewhere the nodes compile as
// before. The .pyc files are "checked-hash" ones (PEP 552): each records a hash of its
// source, and the node's Python uses it only when the source matches, whatever the files'
// timestamps; the source path inside is corrected by the import system on load.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, renameSync, rmSync } from "node:fs";
import path from "node:path";
import { randomBytes } from "node:crypto";
import type { BundleResult } from "./bundle.js";

export interface PycacheOptions {
  readonly projectDir: string;
  readonly cacheDir: string;
  readonly onProgress?: (msg: string) => void;
  /** The host's interpreter for the nodes' Python. Default: pythonX.Y on PATH. */
  readonly hostPython?: string;
}

/** Rewrites every .pyc the warm-up import wrote under site-packages as a checked-hash one. */
const RECOMPILE = `
import importlib.util, pathlib, py_compile, sys, sysconfig
site = pathlib.Path(sysconfig.get_paths()["purelib"])
n = 0
for pyc in sorted(site.rglob("__pycache__/*.pyc")):
    src = importlib.util.source_from_cache(str(pyc))
    py_compile.compile(src, cfile=str(pyc), invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH, doraise=True)
    n += 1
print(site)
print(n)
`;

export function pycachePathOf(cacheDir: string, bundleId: string): string {
  return path.join(cacheDir, `pycache-${bundleId}.tar`);
}

/**
 * The byte-code tar for this bundle: cached, or made now by installing the bundle into a
 * scratch folder with the host's pythonX.Y (the same install.sh as on the nodes, which
 * imports what the services import), then recompiling those files as checked-hash .pyc.
 * undefined (with a progress line saying why) when the host has no pythonX.Y or the build
 * fails, and on Windows: the nodes then compile their own. It is the only step that may use
 * the host's Python, and only to save the nodes time.
 */
export function pycacheFor(bundle: BundleResult, opts: PycacheOptions): string | undefined {
  const progress = opts.onProgress ?? (() => {});
  const target = pycachePathOf(opts.cacheDir, bundle.bundleId);
  if (existsSync(target)) return target;
  const py = bundle.manifest.python;
  // Made with install.sh and bash: a speed-up where the host has them, never a need.
  if (process.platform === "win32") {
    progress("byte-code is compiled on the nodes (it is made on the host only on Linux and macOS)");
    return undefined;
  }
  const hostPython = opts.hostPython ?? `python${py}`;
  const probe = spawnSync(hostPython, ["-c", "import sys; print('%d.%d' % sys.version_info[:2])"], { encoding: "utf8" });
  if (probe.status !== 0 || probe.stdout.trim() !== py) {
    progress(`no Python ${py} on this host (${hostPython}): the nodes will compile their own byte-code`);
    return undefined;
  }
  const t0 = performance.now();
  const scratch = mkdtempSync(path.join(opts.cacheDir, ".pycache-build-"));
  const tmp = `${target}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;
  try {
    // install.sh runs pythonX.Y from PATH: put the chosen interpreter's folder first.
    const env = { ...process.env, PATH: `${path.dirname(whichOf(hostPython))}:${process.env.PATH ?? ""}` };
    const install = spawnSync("bash", [path.join(opts.projectDir, "cluster-runtime", "install.sh"), scratch, bundle.tarPath, py], { encoding: "utf8", env });
    if (install.status !== 0) throw new Error(`install.sh: ${(install.stderr || install.stdout).trim().split("\n").slice(-2).join(" ")}`);
    const recompile = spawnSync(path.join(scratch, "venv", "bin", "python"), ["-c", RECOMPILE], { encoding: "utf8" });
    if (recompile.status !== 0) throw new Error(`recompiling: ${recompile.stderr.trim().split("\n").slice(-2).join(" ")}`);
    const [site, count] = recompile.stdout.trim().split("\n");
    const tar = spawnSync(
      "bash",
      [
        "-c",
        `cd "$1" && find . -name '*.pyc' -path '*/__pycache__/*' -print0 | LC_ALL=C sort -z | tar --null -T - --owner=0 --group=0 --numeric-owner --mtime=@315532800 -cf "$2"`,
        "pycache",
        site!,
        tmp,
      ],
      { encoding: "utf8" },
    );
    if (tar.status !== 0) throw new Error(`tar: ${tar.stderr.trim()}`);
    renameSync(tmp, target);
    progress(`byte-code for bundle ${bundle.bundleId}: ${count} files compiled on the host with ${hostPython} in ${((performance.now() - t0) / 1000).toFixed(1)} s (${target})`);
    return target;
  } catch (err) {
    progress(`could not make the byte-code on the host (${(err as Error).message}): the nodes will compile their own`);
    return undefined;
  } finally {
    rmSync(tmp, { force: true });
    rmSync(scratch, { recursive: true, force: true });
  }
}

function whichOf(cmd: string): string {
  if (cmd.includes("/")) return cmd;
  const r = spawnSync("bash", ["-c", 'command -v "$1"', "which", cmd], { encoding: "utf8" });
  return r.stdout.trim() || cmd;
}
