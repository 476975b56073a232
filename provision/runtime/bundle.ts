// The runtime bundle, built once on the host and copied to every node: the wheelhouse of
// the platform's lock (downloaded by the host itself, no Python needed, checked against
// the lock's hashes: runtime/wheels.ts), the lock,
// the dask_vm_runtime package, install.sh and a manifest (text with LF line endings,
// whatever the checkout holds: core/line-endings.ts), in one reproducible tar named by
// its content (bundle-<id>.tar in the cache). Also the content hashes the stack puts into
// the triggers at synth time, so a changed lock or runtime re-provisions what it concerns.
import { createHash, randomBytes } from "node:crypto";
import {
  closeSync,
  copyFileSync,
  existsSync,
  linkSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import path from "node:path";
import type { Platform } from "../core/config-schema.js";
import { badInput, UserError } from "../core/errors.js";
import { readLf, sha256Lf } from "../core/line-endings.js";
import type { RuntimeRef } from "../core/stage-spec.js";
import { WheelError, fetchWheels, wheelTags } from "./wheels.js";
import { normalizeName, parseLock, type LockEntry, type ParsedLock } from "./lock.js";

/**
 * The oldest glibc the nodes may have: wheels are locked and downloaded for
 * manylinux_2_28 and older. Debian 10+, Ubuntu 20.04+ and every supported box qualify;
 * Debian 12 (the default box, glibc 2.36) with room to spare.
 */
export const MANYLINUX_GLIBC_MINOR = 28;
/** Oldest manylinux tag pip may pick; older wheels are rare and unmaintained. */
const OLDEST_GLIBC_MINOR = 17;

/** Where the runtime lives in the project. */
export const RUNTIME_DIR = "cluster-runtime";
export const PACKAGE_NAME = "dask_vm_runtime";

/** Fixed mtime of every tar entry (1980-01-01, the zip epoch): same input, same bytes. */
export const TAR_MTIME = 315532800;

export interface BundleManifest {
  readonly bundleId: string;
  readonly lockSha256: string;
  readonly sourceSha256: string;
  readonly python: string;
  readonly platform: Platform;
}

export interface BundleResult {
  readonly bundleId: string;
  readonly tarPath: string;
  readonly manifest: BundleManifest;
}

export interface BuildOptions {
  readonly projectDir: string;
  /** Shared cache: wheelhouse-<lock>-<platform>/ and bundle-<id>.tar live here. */
  readonly cacheDir: string;
  readonly onProgress?: (msg: string) => void;
  /** Where PIP_INDEX_URL and the proxy variables come from. Default: this process's environment. */
  readonly env?: NodeJS.ProcessEnv;
}

export function lockPath(projectDir: string, platform: Platform): string {
  return path.join(projectDir, RUNTIME_DIR, `requirements-${platform}.lock`);
}

/** JupyterLab's lock (`npm run notebook`), made with the runtime's lock as a constraint. */
export function notebookLockPath(projectDir: string, platform: Platform): string {
  return path.join(projectDir, RUNTIME_DIR, `notebook-${platform}.lock`);
}

/** The lock a runtime installs: the packages lock when it has one, else the runtime's own. */
export function lockFileOf(runtime: Pick<RuntimeRef, "platform" | "lock">, projectDir: string): string {
  return runtime.lock ? path.resolve(projectDir, runtime.lock) : lockPath(projectDir, runtime.platform);
}

/** The uv --python-platform target the locks are resolved for. */
export function uvTarget(platform: Platform): string {
  return `${platform}-manylinux_2_${MANYLINUX_GLIBC_MINOR}`;
}

/**
 * The platform tags a node accepts, newest first (runtime/wheels.ts ranks wheels by them):
 * every manylinux_2_X from the lock's glibc down, with the legacy aliases
 * manylinux2014/2010/1 that older wheels carry.
 */
export function manylinuxTags(platform: Platform): string[] {
  const tags: string[] = [];
  for (let minor = MANYLINUX_GLIBC_MINOR; minor >= OLDEST_GLIBC_MINOR; minor--)
    tags.push(`manylinux_2_${minor}_${platform}`);
  tags.push(`manylinux2014_${platform}`);
  if (platform === "x86_64")
    tags.push("manylinux_2_12_x86_64", "manylinux2010_x86_64", "manylinux_2_5_x86_64", "manylinux1_x86_64");
  return tags;
}

/** The command that regenerates the runtime's lock for a Python version. */
function relockCommand(python: string): string {
  return `npm run lock -- --python ${python}`;
}

interface SourceFile {
  /** Path inside the bundle, with forward slashes: install.sh, runtime/dask_vm_runtime/... */
  readonly rel: string;
  readonly abs: string;
}

function byteOrder(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Files of the runtime that go into the bundle: the package (without caches) and install.sh. */
export function runtimeSourceFiles(projectDir: string): SourceFile[] {
  const runtimeDir = path.join(projectDir, RUNTIME_DIR);
  const files: SourceFile[] = [{ rel: "install.sh", abs: path.join(runtimeDir, "install.sh") }];
  const walk = (dir: string, rel: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      // Dot files (editor and tool state) and byte-code are not sources.
      if (entry.name.startsWith(".") || entry.name === "__pycache__" || entry.name.endsWith(".pyc")) continue;
      const abs = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(abs, `${rel}/${entry.name}`);
      else if (entry.isFile()) files.push({ rel: `${rel}/${entry.name}`, abs });
    }
  };
  const pkg = path.join(runtimeDir, PACKAGE_NAME);
  if (!existsSync(pkg))
    throw badInput(`the runtime package ${pkg} is missing`, [
      {
        path: pkg,
        message: "no such folder",
        fix: "restore cluster-runtime/ from git (git checkout -- cluster-runtime)",
      },
    ]);
  walk(pkg, `runtime/${PACKAGE_NAME}`);
  return files.sort((a, b) => byteOrder(a.rel, b.rel));
}

export function sha256File(file: string): string {
  return createHash("sha256").update(readFileSync(file)).digest("hex");
}

/**
 * The runtime of a checkout for a Python version and platform: those, and its hashes; with
 * packages, the lock that holds them (runtime/packages.ts) instead of the runtime's own.
 */
export function runtimeRef(
  projectDir: string,
  python: string,
  platform: Platform,
  withPackages?: { readonly lockFile: string; readonly packages: readonly string[] },
): RuntimeRef {
  if (!withPackages) return { python, platform, ...runtimeHashes(projectDir, platform) };
  const lock = path.relative(projectDir, withPackages.lockFile).split(path.sep).join("/");
  return {
    python,
    platform,
    ...runtimeHashes(projectDir, platform, withPackages.lockFile),
    lock,
    packages: [...withPackages.packages].sort(),
  };
}

/**
 * sha256 of the platform's lock, and of the runtime's sources (sorted bundle paths, each
 * with its length and content), as they go into the bundle: with LF line endings, so a
 * CRLF checkout (Git for Windows) and an LF one of the same commit make the same bundle.
 * Synchronous and cheap: stacks/main.ts calls it at synth.
 */
export function runtimeHashes(
  projectDir: string,
  platform: Platform,
  lock = lockPath(projectDir, platform),
): { lockSha256: string; sourceSha256: string } {
  if (!existsSync(lock)) {
    const fix =
      lock === lockPath(projectDir, platform)
        ? "create it with: npm run lock"
        : "run npx cdktf deploy (or cdktf synth): it locks runtime.packages again";
    throw badInput(`there is no runtime lock for ${platform}`, [
      { path: path.relative(projectDir, lock), message: "file not found", fix },
    ]);
  }
  const source = createHash("sha256");
  for (const f of runtimeSourceFiles(projectDir)) {
    const data = readLf(f.abs);
    source.update(`${f.rel}\0${data.length}\0`);
    source.update(data);
  }
  return { lockSha256: sha256Lf(lock), sourceSha256: source.digest("hex") };
}

/** The content address of a bundle: lock, sources, Python and platform, 16 hex digits. */
export function bundleIdOf(runtime: Pick<RuntimeRef, "lockSha256" | "sourceSha256" | "python" | "platform">): string {
  return createHash("sha256")
    .update(`${runtime.lockSha256}\n${runtime.sourceSha256}\n${runtime.python}\n${runtime.platform}\n`)
    .digest("hex")
    .slice(0, 16);
}

// --- wheelhouse ----------------------------------------------------------------------

interface WheelCheck {
  readonly ok: boolean;
  readonly problems: readonly string[];
  readonly files: readonly string[];
}

/** Every lock entry has exactly one wheel whose sha256 is among the entry's hashes. */
function checkWheelhouse(dir: string, entries: readonly LockEntry[]): WheelCheck {
  if (!existsSync(dir)) return { ok: false, problems: ["missing"], files: [] };
  const wheels = readdirSync(dir).filter((f) => f.endsWith(".whl"));
  const problems: string[] = [];
  const files: string[] = [];
  for (const e of entries) {
    const matching = wheels.filter((w) => {
      const nv = wheelTags(w);
      return nv && normalizeName(nv.name) === e.name && nv.version === e.version;
    });
    if (matching.length !== 1) {
      problems.push(`${e.name}==${e.version}: ${matching.length} wheels`);
      continue;
    }
    const file = matching[0]!;
    const digest = sha256File(path.join(dir, file));
    if (!e.hashes.includes(digest)) problems.push(`${file}: sha256 ${digest} is not in the lock`);
    files.push(file);
  }
  const extra = wheels.filter((w) => !files.includes(w));
  if (extra.length) problems.push(`not in the lock: ${extra.join(", ")}`);
  return { ok: problems.length === 0, problems, files: files.sort(byteOrder) };
}

/** Turns a wheel that cannot be served into a message saying which file to regenerate and how. */
function wheelFailure(err: WheelError, lockRel: string, runtime: RuntimeRef): Error {
  const relock = relockCommand(runtime.python);
  if (err.kind === "hash-mismatch") {
    return badInput(`${lockRel} does not match the files on the package index`, [
      {
        path: lockRel,
        message: `the wheels on the index have other hashes than the lock records (${err.requirement}); the lock was probably edited by hand`,
        fix: `regenerate it, never edit it: ${relock}`,
      },
    ]);
  }
  if (err.kind === "no-wheel") {
    return badInput(
      `${lockRel} names ${err.requirement}, which has no wheel for Python ${runtime.python} on ${runtime.platform}`,
      [{ path: lockRel, message: err.message, fix: `regenerate the lock for this Python and platform: ${relock}` }],
    );
  }
  return new UserError(
    `the runtime's wheels could not be downloaded (a network problem or an index outage?): ${err.message}`,
    1,
    [
      {
        path: "PIP_INDEX_URL",
        message: err.message,
        fix: "check the connection to the package index (PyPI, or PIP_INDEX_URL and HTTPS_PROXY when you use a mirror or a proxy), then deploy again",
      },
    ],
  );
}

/** The cache folder of a runtime's wheels (one per lock and platform). */
export function wheelhouseDir(cacheDir: string, runtime: RuntimeRef): string {
  return path.join(cacheDir, `wheelhouse-${runtime.lockSha256.slice(0, 16)}-${runtime.platform}`);
}

/**
 * Links (or copies) into dir the wheels of entries that a cached wheelhouse of the same
 * platform already holds with a locked sha256; returns the entries still to download.
 */
function reuseCachedWheels(
  cacheDir: string,
  platform: Platform,
  entries: readonly LockEntry[],
  dir: string,
): LockEntry[] {
  const byName = new Map<string, string>();
  const suffix = `-${platform}`;
  for (const house of existsSync(cacheDir) ? readdirSync(cacheDir) : []) {
    if (!house.startsWith("wheelhouse-") || !house.endsWith(suffix)) continue;
    for (const f of readdirSync(path.join(cacheDir, house)))
      if (f.endsWith(".whl") && !byName.has(f)) byName.set(f, path.join(cacheDir, house, f));
  }
  const missing: LockEntry[] = [];
  for (const e of entries) {
    const found = [...byName].find(([f]) => {
      const t = wheelTags(f);
      return t && normalizeName(t.name) === e.name && t.version === e.version;
    });
    if (!found || !e.hashes.includes(sha256File(found[1]))) {
      missing.push(e);
      continue;
    }
    const target = path.join(dir, found[0]);
    try {
      linkSync(found[1], target);
    } catch {
      copyFileSync(found[1], target);
    }
  }
  return missing;
}

export async function ensureWheelhouse(
  runtime: RuntimeRef,
  lock: ParsedLock,
  opts: BuildOptions & { lockFile: string },
): Promise<{ dir: string; files: readonly string[] }> {
  const progress = opts.onProgress ?? (() => {});
  const dir = wheelhouseDir(opts.cacheDir, runtime);
  const cached = checkWheelhouse(dir, lock.entries);
  if (cached.ok) {
    progress(`wheelhouse cached: ${cached.files.length} wheels in ${dir}`);
    return { dir, files: cached.files };
  }
  const lockRel = path.relative(opts.projectDir, opts.lockFile);
  const tmp = `${dir}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;
  mkdirSync(tmp, { recursive: true });
  const t0 = performance.now();
  // Another lock's wheelhouse may hold most of these wheels already (runtime.packages adds
  // a few to the runtime's): those are linked, hash-checked, and only the rest downloaded.
  const missing = reuseCachedWheels(opts.cacheDir, runtime.platform, lock.entries, tmp);
  const reused = lock.entries.length - missing.length;
  if (reused) progress(`${reused} of ${lock.entries.length} wheels found in the cache`);
  if (missing.length)
    progress(`downloading ${missing.length} wheels for Python ${runtime.python} on ${runtime.platform}`);
  let saved = 0;
  try {
    await fetchWheels(
      missing,
      { python: runtime.python, platform: runtime.platform, platformTags: manylinuxTags(runtime.platform) },
      tmp,
      {
        env: opts.env,
        onSaved: (f) => progress(`downloaded ${++saved}/${missing.length}: ${f}`),
      },
    ).catch((err: unknown) => {
      throw err instanceof WheelError ? wheelFailure(err, lockRel, runtime) : err;
    });
    const check = checkWheelhouse(tmp, lock.entries);
    if (!check.ok) {
      throw badInput(
        `the wheels downloaded do not match ${lockRel}`,
        check.problems.map((p) => ({
          path: lockRel,
          message: p,
          fix: `regenerate the lock: ${relockCommand(runtime.python)}`,
        })),
      );
    }
    rmSync(dir, { recursive: true, force: true });
    renameSync(tmp, dir);
    progress(`wheelhouse ready: ${check.files.length} wheels in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    return { dir, files: check.files };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

// --- tar -----------------------------------------------------------------------------

export interface TarEntry {
  readonly name: string;
  readonly mode: number;
  /** A file's content, read when written; absent for a folder. */
  readonly source?: string;
  readonly data?: Buffer;
  /**
   * source is a checkout's text file: written with LF line endings whatever the checkout holds. Default: false (bytes
   * as they are).
   */
  readonly text?: boolean;
}

function octal(value: number, width: number): string {
  return `${value.toString(8).padStart(width - 1, "0")}\0`;
}

/** Where ustar puts a name: over 100 bytes, split into prefix and name at a slash; undefined when it does not fit. */
function ustarName(name: string): { prefix: string; base: string } | undefined {
  if (Buffer.byteLength(name) <= 100) return { prefix: "", base: name };
  const cut = name.lastIndexOf("/", name.length - 2);
  const prefix = name.slice(0, cut);
  const base = name.slice(cut + 1);
  if (cut < 0 || Buffer.byteLength(prefix) > 155 || Buffer.byteLength(base) > 100) return undefined;
  return { prefix, base };
}

/**
 * The POSIX (pax) extended header that carries a name ustar cannot hold (a wheel named by
 * many platform tags), followed by the entry's own header with a shortened name.
 */
function paxHeaders(name: string, mode: number, size: number, isDir: boolean): Buffer {
  const body = (len: number) => `${len} path=${name}\n`;
  let len = Buffer.byteLength(body(0));
  while (Buffer.byteLength(body(len)) !== len) len = Buffer.byteLength(body(len));
  const record = Buffer.from(body(len));
  const pad = (512 - (record.length % 512)) % 512;
  const short = `${name.slice(0, 40)}-${createHash("sha256").update(name).digest("hex").slice(0, 16)}`;
  return Buffer.concat([
    rawHeader("", "PaxHeader", 0o644, record.length, "x"),
    record,
    Buffer.alloc(pad, 0),
    rawHeader("", short, mode, size, isDir ? "5" : "0"),
  ]);
}

/** A ustar header block; a name too long for ustar goes into a pax header before it. */
function tarHeader(name: string, mode: number, size: number, isDir: boolean): Buffer {
  const where = ustarName(name);
  if (!where) return paxHeaders(name, mode, size, isDir);
  return rawHeader(where.prefix, where.base, mode, size, isDir ? "5" : "0");
}

function rawHeader(prefix: string, base: string, mode: number, size: number, type: string): Buffer {
  const h = Buffer.alloc(512, 0);
  h.write(base, 0, 100, "utf8");
  h.write(octal(mode, 8), 100, 8, "ascii");
  h.write(octal(0, 8), 108, 8, "ascii");
  h.write(octal(0, 8), 116, 8, "ascii");
  h.write(octal(size, 12), 124, 12, "ascii");
  h.write(octal(TAR_MTIME, 12), 136, 12, "ascii");
  h.write("        ", 148, 8, "ascii");
  h.write(type, 156, 1, "ascii");
  h.write("ustar\0", 257, 6, "ascii");
  h.write("00", 263, 2, "ascii");
  h.write(prefix, 345, 155, "utf8");
  let sum = 0;
  for (const byte of h) sum += byte;
  h.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, 8, "ascii");
  return h;
}

/** Writes entries (sorted by name, parents implied) to file: no owners, fixed times. */
function writeTar(file: string, files: readonly TarEntry[]): void {
  const dirs = new Set<string>();
  for (const f of files) {
    const parts = f.name.split("/");
    for (let i = 1; i < parts.length; i++) dirs.add(`${parts.slice(0, i).join("/")}/`);
  }
  const all: TarEntry[] = [...[...dirs].map((d) => ({ name: d, mode: 0o755 })), ...files].sort((a, b) =>
    byteOrder(a.name, b.name),
  );
  const fd = openSync(file, "w", 0o644);
  try {
    for (const e of all) {
      const isDir = e.source === undefined && e.data === undefined;
      const data = isDir ? Buffer.alloc(0) : (e.data ?? (e.text ? readLf(e.source!) : readFileSync(e.source!)));
      writeSync(fd, tarHeader(e.name, e.mode, data.length, isDir));
      if (data.length) {
        writeSync(fd, data);
        const pad = (512 - (data.length % 512)) % 512;
        if (pad) writeSync(fd, Buffer.alloc(pad, 0));
      }
    }
    writeSync(fd, Buffer.alloc(1024, 0));
  } finally {
    closeSync(fd);
  }
}

// --- the bundle ----------------------------------------------------------------------

/** bundle-<id>.tar.sha256 beside the tar, in sha256sum's format. */
function digestPathOf(tarPath: string): string {
  return `${tarPath}.sha256`;
}

/**
 * Why a cached bundle cannot be used as it is (undefined when it can): the id names the
 * inputs, not the bytes, so a tar truncated or overwritten in the cache would otherwise be
 * shipped to every node and fail there, far from its cause. Checked against the sha256
 * recorded when it was written (about 0.1 s for a 40 MB bundle).
 */
export function cachedBundleDamage(tarPath: string): string | undefined {
  const digestPath = digestPathOf(tarPath);
  if (!existsSync(digestPath)) return `no ${path.basename(digestPath)} recorded with it`;
  const recorded = readFileSync(digestPath, "utf8").split(/\s+/)[0] ?? "";
  const actual = sha256File(tarPath);
  return actual === recorded
    ? undefined
    : `its sha256 is ${actual.slice(0, 12)}…, ${recorded.slice(0, 12)}… was recorded: truncated or overwritten`;
}

/**
 * Builds (or finds in the cache) the bundle for a runtime. Throws UserError when the lock
 * was made for another Python or platform, when cluster-runtime/ changed since the stack
 * was synthesized, or when the lock does not match the index (edited by hand).
 */
export async function buildBundle(runtime: RuntimeRef, opts: BuildOptions): Promise<BundleResult> {
  const progress = opts.onProgress ?? (() => {});
  const lockFile = lockFileOf(runtime, opts.projectDir);
  const lockRel = path.relative(opts.projectDir, lockFile);
  const now = runtimeHashes(opts.projectDir, runtime.platform, lockFile);
  if (now.lockSha256 !== runtime.lockSha256 || now.sourceSha256 !== runtime.sourceSha256) {
    const what = now.lockSha256 !== runtime.lockSha256 ? lockRel : "the runtime package or install.sh";
    throw badInput(`${what} changed after the stack was synthesized`, [
      {
        path: now.lockSha256 !== runtime.lockSha256 ? lockRel : RUNTIME_DIR,
        message: "the files on disk differ from what this deploy planned with",
        fix: "run cdktf deploy again, so every stage uses the same bundle",
      },
    ]);
  }
  const lock = parseLock(readFileSync(lockFile, "utf8"));
  const relock = relockCommand(runtime.python);
  if (lock.python !== runtime.python) {
    throw badInput(
      `${lockRel} was locked for Python ${lock.python ?? "(unknown: no '# python-version:' line)"}, but runtime.python is ${runtime.python}`,
      [
        {
          path: "/runtime/python",
          message: `the lock and the nodes' Python must agree`,
          fix: `re-lock for ${runtime.python}: ${relock}, or set runtime.python to ${lock.python ?? "the lock's version"}`,
        },
      ],
    );
  }
  if (lock.platform !== runtime.platform) {
    throw badInput(`${lockRel} records platform ${lock.platform ?? "(none)"}, not ${runtime.platform}`, [
      { path: lockRel, message: "the lock's header does not match its file name", fix: `regenerate it: ${relock}` },
    ]);
  }
  const missingHashes = lock.entries.filter((e) => e.hashes.length === 0).map((e) => `${e.name}==${e.version}`);
  if (!lock.entries.length || missingHashes.length) {
    throw badInput(`${lockRel} is not a hashed lock`, [
      {
        path: lockRel,
        message: lock.entries.length ? `no --hash for ${missingHashes.join(", ")}` : "no pinned requirement",
        fix: `regenerate it: ${relock}`,
      },
    ]);
  }

  const bundleId = bundleIdOf(runtime);
  const manifest: BundleManifest = {
    bundleId,
    lockSha256: runtime.lockSha256,
    sourceSha256: runtime.sourceSha256,
    python: runtime.python,
    platform: runtime.platform,
  };
  const tarPath = path.join(opts.cacheDir, `bundle-${bundleId}.tar`);
  if (existsSync(tarPath)) {
    const damage = cachedBundleDamage(tarPath);
    if (!damage) {
      progress(`bundle ${bundleId} cached: ${tarPath}`);
      return { bundleId, tarPath, manifest };
    }
    progress(`bundle ${bundleId} in the cache is not usable (${damage}): rebuilding ${tarPath}`);
  }
  mkdirSync(opts.cacheDir, { recursive: true });
  const wheelhouse = await ensureWheelhouse(runtime, lock, { ...opts, lockFile });

  const t0 = performance.now();
  const entries: TarEntry[] = [
    { name: "manifest.json", mode: 0o644, data: Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`) },
    { name: "requirements.lock", mode: 0o644, source: lockFile, text: true },
    ...runtimeSourceFiles(opts.projectDir).map((f) => ({
      name: f.rel,
      mode: f.rel === "install.sh" ? 0o755 : 0o644,
      source: f.abs,
      text: true,
    })),
    ...wheelhouse.files.map((w) => ({ name: `wheelhouse/${w}`, mode: 0o644, source: path.join(wheelhouse.dir, w) })),
  ];
  writeCachedTar(tarPath, entries);
  progress(
    `bundle ${bundleId} written: ${(statSync(tarPath).size / 1e6).toFixed(1)} MB in ${((performance.now() - t0) / 1000).toFixed(1)} s (${tarPath})`,
  );
  return { bundleId, tarPath, manifest };
}

/**
 * Writes a tar into the cache with its digest beside it, each written aside and renamed:
 * a tar at the final path is always complete, and the digest tells one damaged later
 * (cachedBundleDamage).
 */
export function writeCachedTar(tarPath: string, entries: readonly TarEntry[]): void {
  const tmp = `${tarPath}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;
  const digestTmp = `${digestPathOf(tarPath)}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;
  try {
    writeTar(tmp, entries);
    writeFileSync(digestTmp, `${sha256File(tmp)}  ${path.basename(tarPath)}\n`);
    renameSync(tmp, tarPath);
    renameSync(digestTmp, digestPathOf(tarPath));
  } finally {
    rmSync(tmp, { force: true });
    rmSync(digestTmp, { force: true });
  }
}
