// Byte-code for a runtime bundle, made once on the host and shipped to the nodes beside
// the bundle (pycache-<bundleId>.tar in the cache). Without it every node compiles what
// the services import itself: 3 s natively, but 150 s on each VM under qemu emulation,
// all of them at once (measured). Made only where the host has the nodes' Python X.Y
// (byte-code depends on X.Y alone, not on the platform); elsewhere the nodes compile as
// before. The .pyc files are "checked-hash" ones (PEP 552): each records a hash of its
// source, and the node's Python uses it only when the source matches, whatever the files'
// timestamps; the source path inside is corrected by the import system on load.
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { RUNTIME_DIR, TAR_MTIME, type BundleResult } from "./bundle.js";
import { readLf } from "../core/line-endings.js";
import { findOnPath, runProcess, tail } from "../host/process.js";

export interface PycacheOptions {
  readonly projectDir: string;
  readonly cacheDir: string;
  readonly onProgress?: (msg: string) => void;
  /** The host's interpreter for the nodes' Python. Default: pythonX.Y on PATH. */
  readonly hostPython?: string;
  /** The environment the host's programs run with. Default: this process's. */
  readonly env?: NodeJS.ProcessEnv;
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
export async function pycacheFor(bundle: BundleResult, opts: PycacheOptions): Promise<string | undefined> {
  const progress = opts.onProgress ?? (() => {});
  const target = pycachePathOf(opts.cacheDir, bundle.bundleId);
  if (existsSync(target)) return target;
  const py = bundle.manifest.python;
  // Made with install.sh and bash: a speed-up where the host has them, never a need.
  if (process.platform === "win32") {
    progress("byte-code is compiled on the nodes (it is made on the host only on Linux and macOS)");
    return undefined;
  }
  const env = opts.env ?? process.env;
  const hostPython = opts.hostPython ?? `python${py}`;
  const probe = await runProcess([hostPython, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"], { env });
  if (probe.exitCode !== 0 || probe.stdout.trim() !== py) {
    progress(`no Python ${py} on this host (${hostPython}): the nodes will compile their own byte-code`);
    return undefined;
  }
  const t0 = performance.now();
  const scratch = mkdtempSync(path.join(opts.cacheDir, ".pycache-build-"));
  const tmp = `${target}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;
  const list = path.join(scratch, "pyc-files");
  try {
    // install.sh runs pythonX.Y from PATH: put the chosen interpreter's folder first.
    const interpreter = hostPython.includes("/") ? hostPython : (findOnPath(hostPython, env) ?? hostPython);
    const installEnv = { ...env, PATH: `${path.dirname(interpreter)}${path.delimiter}${env.PATH ?? ""}` };
    // The script with LF line endings, as the nodes get it from the bundle (a Git for
    // Windows checkout holds CRLF, which bash cannot run).
    const script = path.join(scratch, "install.sh");
    writeFileSync(script, readLf(path.join(opts.projectDir, RUNTIME_DIR, "install.sh")));
    const install = await runProcess(["bash", script, scratch, bundle.tarPath, py], { env: installEnv });
    if (install.exitCode !== 0)
      throw new Error(`install.sh: ${tail(install.stderr || install.stdout, 2).replace(/\n/g, " ")}`);
    const recompile = await runProcess([path.join(scratch, "venv", "bin", "python"), "-c", RECOMPILE], { env });
    if (recompile.exitCode !== 0) throw new Error(`recompiling: ${tail(recompile.stderr, 2).replace(/\n/g, " ")}`);
    const [site, count] = recompile.stdout.trim().split("\n") as [string, string];
    // The .pyc files in byte order (as LC_ALL=C sort), NUL-separated for tar -T.
    const files = pycFiles(site).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    writeFileSync(list, files.map((f) => `${f}\0`).join(""));
    const tar = await runProcess(
      ["tar", "--null", "-T", list, "--owner=0", "--group=0", "--numeric-owner", `--mtime=@${TAR_MTIME}`, "-cf", tmp],
      { cwd: site, env },
    );
    if (tar.exitCode !== 0) throw new Error(`tar: ${tar.stderr.trim()}`);
    renameSync(tmp, target);
    progress(
      `byte-code for bundle ${bundle.bundleId}: ${count} files compiled on the host with ${hostPython} in ${((performance.now() - t0) / 1000).toFixed(1)} s (${target})`,
    );
    return target;
  } catch (err) {
    progress(`could not make the byte-code on the host (${(err as Error).message}): the nodes will compile their own`);
    return undefined;
  } finally {
    rmSync(tmp, { force: true });
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** Every .pyc file in a __pycache__ folder under dir, as ./relative paths (what `find .` prints). */
function pycFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .filter((rel) => rel.endsWith(".pyc") && path.basename(path.dirname(rel)) === "__pycache__")
    .map((rel) => `./${rel}`);
}
