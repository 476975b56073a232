// uv, the locking tool, for both locks the project makes: the runtime's own
// (npm run lock, by maintainers) and the lock of a user's runtime.packages
// (runtime/packages.ts, at synth). Nobody installs it by hand: like the runtime's wheels, it
// comes pinned and hash-checked. A uv on PATH (or `python3 -m uv`) at exactly the pinned
// version is used as it is; otherwise the project fetches the pinned uv wheel for this
// computer from the package index into its cache (toolchain/uv-<version>-<os>-<arch>),
// checks its sha256 against the pin below, and takes the binary out of it. Another uv
// version on PATH is left alone: the lock's header names the uv that made it, and one
// config then makes the same lock on every machine. uv runs through the host's process
// runner with no uv config or index variable of the user's, so a lock resolves against
// the package index alone and reads the same on every machine.
import { createHash } from "node:crypto";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { inflateRawSync } from "node:zlib";
import { UserError } from "../core/errors.js";
import type { Host } from "../host/host.js";
import type { Log } from "../core/log.js";
import { describeFailure, type ProcessResult } from "../host/process.js";
import { manylinuxTags, uvTarget } from "./bundle.js";
import type { Platform } from "../core/config-schema.js";
import { toolchainDir } from "../host/toolchain.js";
import { fetchWheels, wheelTags, WheelError } from "./wheels.js";

/** One platform's uv wheel: its file name on the index and its sha256 (from PyPI). */
export interface UvWheel {
  readonly file: string;
  readonly sha256: string;
}

/** A uv version and its wheels by "<process.platform>-<process.arch>". */
export interface UvPin {
  readonly version: string;
  readonly wheels: Readonly<Record<string, UvWheel>>;
}

/**
 * The uv the project uses (the version .ci/run installs), with the sha256 PyPI states for
 * each wheel (https://pypi.org/pypi/uv/json, release 0.13.9). To move it: change the
 * version and every hash together, and .ci/run's pin with them.
 */
export const UV_PIN: UvPin = {
  version: "0.13.9",
  wheels: {
    "linux-x64": {
      file: "uv-0.13.9-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
      sha256: "d7f459fe4fd247d830351c75686d3996ace3c6f3f728eb0e85a30b7ada0cef19",
    },
    "linux-arm64": {
      file: "uv-0.13.9-py3-none-manylinux_2_17_aarch64.manylinux2014_aarch64.musllinux_1_1_aarch64.whl",
      sha256: "5435c5ce14a56431208ca0996416d310f1598e8c2c8ba707688985a16bb82dbe",
    },
    "darwin-x64": {
      file: "uv-0.13.9-py3-none-macosx_10_12_x86_64.whl",
      sha256: "c16ed11e013557536b3e60065f1b912f6407bd6518e041b961e23ef9e6b4fbf5",
    },
    "darwin-arm64": {
      file: "uv-0.13.9-py3-none-macosx_11_0_arm64.whl",
      sha256: "66c512266d633bef48384a1f53003f41f2a8e7b36fe6e7fbfd3e0fd52d96fa63",
    },
    "win32-x64": {
      file: "uv-0.13.9-py3-none-win_amd64.whl",
      sha256: "6a44b2ed8111d2f60d2b92627c5dccda3f7ed7570b18ce115e569cd68c28246b",
    },
    "win32-arm64": {
      file: "uv-0.13.9-py3-none-win_arm64.whl",
      sha256: "eeb92051c2123b9730c46b04cc843cfa4bc7d7b0aec56df431a2215ef4cb0273",
    },
  },
};

/** uv variables that would point a lock at another index or make it offline. */
const UV_ENV_DROPPED = [
  "UV_INDEX",
  "UV_INDEX_URL",
  "UV_DEFAULT_INDEX",
  "UV_EXTRA_INDEX_URL",
  "UV_FIND_LINKS",
  "UV_NO_INDEX",
  "UV_CONFIG_FILE",
  "UV_OFFLINE",
];

/** The environment uv runs with: the host's, without the variables above. */
export function uvEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out = { ...env };
  for (const k of UV_ENV_DROPPED) delete out[k];
  return out;
}

export interface Uv {
  /** argv prefix that runs uv: ["uv"], ["python3", "-m", "uv"] or the cached binary. */
  readonly argv: readonly string[];
  /** "uv 0.13.9", without the host triple (two hosts would write different headers). */
  readonly version: string;
}

async function uvVersion(host: Host, argv: readonly string[]): Promise<Uv | undefined> {
  const r = await host.run([...argv, "--version"], { env: uvEnv(host.env), timeoutMs: 30_000 });
  return r.exitCode === 0 ? { argv, version: r.stdout.trim().replace(/\s*\(.*\)$/, "") } : undefined;
}

/**
 * uv on PATH, else the uv that `pip install uv` put into python3's packages, at any version; undefined when neither
 * runs.
 */
export async function probeUv(host: Host): Promise<Uv | undefined> {
  for (const argv of [["uv"], ["python3", "-m", "uv"]]) {
    const uv = await uvVersion(host, argv);
    if (uv) return uv;
  }
  return undefined;
}

/** The pinned wheel for this computer, or bad input naming the computers uv is pinned for. */
export function uvWheelFor(host: Pick<Host, "platform" | "arch">, pin: UvPin = UV_PIN): UvWheel {
  const key = `${host.platform}-${host.arch}`;
  const wheel = pin.wheels[key];
  if (wheel) return wheel;
  throw new UserError(`uv ${pin.version} is not pinned for this computer (${key})`, 2, [
    {
      path: "uv",
      message: `no wheel pinned for ${key}`,
      fix: `use one of ${Object.keys(pin.wheels).join(", ")}, or put uv ${pin.version} on PATH`,
    },
  ]);
}

/** Refuses bytes that are not the pinned wheel: nothing of them is unpacked or run. */
export function checkUvWheel(data: Buffer, wheel: UvWheel, source: string): void {
  const got = createHash("sha256").update(data).digest("hex");
  if (got === wheel.sha256) return;
  throw new UserError(`the uv wheel from ${source} is not the pinned one: refused, nothing of it was run`, 1, [
    {
      path: wheel.file,
      message: `sha256 ${got}, but provision/runtime/uv.ts pins ${wheel.sha256}`,
      fix: "the download was damaged or the index (PIP_INDEX_URL) serves another build: deploy again, or point PIP_INDEX_URL at PyPI",
    },
  ]);
}

/** One file of a zip archive (a wheel), by name; undefined when it has none. Stored or deflated entries. */
export function zipEntry(zip: Buffer, name: string): Buffer | undefined {
  // The end of central directory record: its signature within the last 64 KiB + 22 bytes.
  let eocd = -1;
  for (let i = zip.length - 22; i >= Math.max(0, zip.length - 65_557); i--) {
    if (zip.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new Error("not a zip archive (no end of central directory)");
  const count = zip.readUInt16LE(eocd + 10);
  let at = zip.readUInt32LE(eocd + 16);
  for (let n = 0; n < count; n++) {
    if (zip.readUInt32LE(at) !== 0x02014b50) throw new Error("damaged zip archive (central directory)");
    const method = zip.readUInt16LE(at + 10);
    const compressed = zip.readUInt32LE(at + 20);
    const nameLen = zip.readUInt16LE(at + 28);
    const extraLen = zip.readUInt16LE(at + 30);
    const commentLen = zip.readUInt16LE(at + 32);
    const local = zip.readUInt32LE(at + 42);
    const entry = zip.toString("utf8", at + 46, at + 46 + nameLen);
    at += 46 + nameLen + extraLen + commentLen;
    if (entry !== name) continue;
    const start = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
    const data = zip.subarray(start, start + compressed);
    if (method === 0) return Buffer.from(data);
    if (method === 8) return inflateRawSync(data);
    throw new Error(`${name}: zip compression method ${method} is not supported`);
  }
  return undefined;
}

/** The uv binary inside a uv wheel: uv-<version>.data/scripts/uv (uv.exe on Windows). */
export function uvBinaryOf(wheelBytes: Buffer, version: string, platform: NodeJS.Platform): Buffer {
  const name = `uv-${version}.data/scripts/${platform === "win32" ? "uv.exe" : "uv"}`;
  const data = zipEntry(wheelBytes, name);
  if (!data) throw new Error(`the uv wheel has no ${name}`);
  return data;
}

/** Where the fetched uv lives: the cache's toolchain folder, one folder per version and computer. */
export function cachedUvPath(host: Pick<Host, "platform" | "arch" | "env">, pin: UvPin = UV_PIN): string {
  return path.join(
    toolchainDir(host.env),
    `uv-${pin.version}-${host.platform}-${host.arch}`,
    host.platform === "win32" ? "uv.exe" : "uv",
  );
}

export interface EnsureUvOptions {
  /** The uv to use; default UV_PIN. */
  readonly pin?: UvPin;
  /** The package index to fetch it from; default PIP_INDEX_URL, else PyPI (as the runtime's wheels). */
  readonly index?: string;
}

/**
 * Downloads the pinned uv wheel of a computer (host's platform and arch: give another's to
 * fetch theirs, as a classroom kit does) into dir, checked against the pin; returns its path.
 */
export async function fetchUvWheel(
  host: Pick<Host, "platform" | "arch" | "env">,
  dir: string,
  pin: UvPin = UV_PIN,
  index?: string,
): Promise<string> {
  const wheel = uvWheelFor(host, pin);
  const plats = wheelTags(wheel.file)?.tags.map((t) => t.plat) ?? [];
  try {
    // The wheel fetcher of the runtime's wheels: it takes the file whose hash the index
    // states as the pinned one, and checks the bytes it downloads.
    await fetchWheels(
      [{ name: "uv", version: pin.version, hashes: [wheel.sha256] }],
      { python: "3.12", platform: host.arch === "arm64" ? "aarch64" : "x86_64", platformTags: plats },
      dir,
      {
        ...(index ? { index } : {}),
        env: host.env,
        parallel: 1,
      },
    );
  } catch (err) {
    if (!(err instanceof WheelError)) throw err;
    const fix =
      err.kind === "unreachable"
        ? `check the connection to the package index (or HTTPS_PROXY), or put uv ${pin.version} on PATH`
        : `the index (PIP_INDEX_URL) must serve PyPI's uv wheels: point it at PyPI, or put uv ${pin.version} on PATH`;
    const what =
      err.kind === "hash-mismatch"
        ? "the index's uv wheel is not the pinned one: refused, nothing of it was run"
        : "uv could not be fetched";
    throw new UserError(`${what} (uv ${pin.version} is needed to lock runtime.packages)`, 1, [
      {
        path: wheel.file,
        message:
          err.kind === "hash-mismatch"
            ? `${err.message} (sha256 ${wheel.sha256}, pinned in provision/runtime/uv.ts)`
            : err.message,
        fix,
      },
    ]);
  }
  const file = path.join(dir, wheel.file);
  checkUvWheel(readFileSync(file), wheel, index || host.env.PIP_INDEX_URL || "PyPI");
  return file;
}

/** Puts the binary of a pinned uv wheel (checked again) where ensureUv looks for it: the cache. */
export function installUvFromWheel(
  host: Pick<Host, "platform" | "arch" | "env">,
  bytes: Buffer,
  source: string,
  pin: UvPin = UV_PIN,
): string {
  checkUvWheel(bytes, uvWheelFor(host, pin), source);
  const binary = cachedUvPath(host, pin);
  const dir = path.dirname(binary);
  mkdirSync(path.dirname(dir), { recursive: true });
  const work = mkdtempSync(`${dir}.tmp-`);
  try {
    const exe = path.join(work, path.basename(binary));
    writeFileSync(exe, uvBinaryOf(bytes, pin.version, host.platform));
    chmodSync(exe, 0o755);
    rmSync(dir, { recursive: true, force: true });
    renameSync(work, dir);
    return binary;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Downloads the pinned wheel for this computer, checks it and puts its binary in the cache. */
async function fetchUv(host: Host, log: Log, pin: UvPin, index: string | undefined): Promise<string> {
  const wheel = uvWheelFor(host, pin);
  const dir = path.dirname(cachedUvPath(host, pin));
  mkdirSync(path.dirname(dir), { recursive: true });
  const work = mkdtempSync(`${dir}.dl-`);
  try {
    log.step("uv", `fetching uv ${pin.version} (${wheel.file}) into ${dir}, once`);
    const file = await fetchUvWheel(host, work, pin, index);
    return installUvFromWheel(host, readFileSync(file), index || host.env.PIP_INDEX_URL || "PyPI", pin);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * The pinned uv: on PATH (or `python3 -m uv`) at that version, else the one in the cache,
 * else fetched into the cache now (hash-checked). Fails only when it cannot be fetched.
 */
export async function ensureUv(host: Host, log: Log, opts: EnsureUvOptions = {}): Promise<Uv> {
  const pin = opts.pin ?? UV_PIN;
  const want = `uv ${pin.version}`;
  const found = await probeUv(host);
  if (found?.version === want) return found;
  const cached = cachedUvPath(host, pin);
  if (host.exists(cached)) {
    const uv = await uvVersion(host, [cached]);
    if (uv?.version === want) return uv;
  }
  const binary = await fetchUv(host, log, pin, opts.index);
  const uv = await uvVersion(host, [binary]);
  if (uv?.version === want) return uv;
  throw new UserError(`the uv fetched into ${path.dirname(binary)} does not run as ${want}`, 1, [
    {
      path: binary,
      message: uv ? `it says ${uv.version}` : "it does not start",
      fix: `remove ${path.dirname(binary)} and try again, or put uv ${pin.version} on PATH`,
    },
  ]);
}

/** What doctor says of uv: the one that will be used, or that the pinned one will be fetched. */
export async function uvStatus(host: Host, pin: UvPin = UV_PIN): Promise<string> {
  const want = `uv ${pin.version}`;
  const found = await probeUv(host);
  if (found?.version === want) return `${want} (${found.argv.join(" ")})`;
  const cached = cachedUvPath(host, pin);
  if (host.exists(cached) && (await uvVersion(host, [cached]))?.version === want)
    return `${want} (fetched into ${path.dirname(cached)})`;
  return `${want}, which it fetches into ${path.dirname(cached)} (hash-checked, about 17 MB, once)`;
}

export interface CompileOptions {
  /** Requirement files (.in), relative to cwd. */
  readonly inputs: readonly string[];
  /** Constraint files, relative to cwd: their pins cannot move. */
  readonly constraints?: readonly string[];
  readonly python: string;
  readonly platform: Platform;
  /** What the lock's comment says regenerates it. */
  readonly command: string;
  /** Where uv writes (an existing file there keeps its pins unless upgrade). */
  readonly output: string;
  readonly upgrade?: boolean;
  readonly cwd: string;
}

/**
 * `uv pip compile` for one target Python and node platform, hashed, wheels only (so every
 * pinned version has a wheel the nodes can install offline). Resolves with uv's result;
 * the caller reads its stderr when it failed.
 */
export function uvCompile(host: Host, uv: Uv, o: CompileOptions): Promise<ProcessResult> {
  return host.run(
    [
      ...uv.argv,
      "pip",
      "compile",
      ...o.inputs,
      ...(o.constraints ?? []).flatMap((c) => ["--constraint", c]),
      "--no-config",
      "--python-version",
      o.python,
      "--python-platform",
      uvTarget(o.platform),
      "--only-binary",
      ":all:",
      "--generate-hashes",
      "--custom-compile-command",
      o.command,
      "--quiet",
      ...(o.upgrade ? ["--upgrade"] : []),
      "--output-file",
      o.output,
    ],
    { cwd: o.cwd, env: uvEnv(host.env), timeoutMs: 600_000 },
  );
}

/**
 * The header lines every lock of ours starts with: who made it, and the Python and platform it is for (buildBundle
 * checks them).
 */
export function lockHeader(
  title: string,
  by: string,
  uv: Uv,
  python: string,
  platform: Platform,
  extra: readonly string[] = [],
): string {
  return [
    `# ${title}: generated by ${by} with ${uv.version}; never edit by hand.`,
    `# python-version: ${python}`,
    `# platform: ${platform}`,
    `# wheel-platforms: ${manylinuxTags(platform)[0]} and older manylinux tags`,
    ...extra,
    "",
  ].join("\n");
}

/** uv's own explanation of a failed resolution: its "cause:" lines, or the end of stderr. */
export function uvCause(r: ProcessResult): string {
  if (r.missing || r.timedOut) return describeFailure(r);
  const text = r.stderr.trim();
  const cause = /(?:cause|Caused by):\s*([\s\S]*)$/m.exec(text)?.[1];
  return (cause ?? text.split("\n").slice(-6).join("\n")).trim();
}
