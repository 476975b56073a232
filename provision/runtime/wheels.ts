// The wheels of a hashed lock, fetched by the host itself, with no Python on it (a
// Windows or macOS laptop often has none, or the wrong one): for every pin, the package
// index's page (PEP 691 JSON, or PEP 503 HTML as any simple index or a plain folder
// listing serves it), the one wheel that installs on the nodes' Python and platform, its
// bytes checked against the lock's hashes. The index is PIP_INDEX_URL when set, else PyPI;
// proxies come from HTTPS_PROXY/HTTP_PROXY/NO_PROXY, as pip takes them.
import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
import path from "node:path";
import type { fetch as undiciFetch } from "undici";
import type { Platform } from "../core/config-schema.js";

import { networkErrorText } from "../host/host.js";
import { normalizeName, type LockEntry } from "./lock.js";

export const DEFAULT_INDEX = "https://pypi.org/simple/";

export interface IndexFile {
  readonly filename: string;
  readonly url: string;
  /** sha256 the index states for it, when it states one. */
  readonly sha256?: string;
}

export interface WheelTarget {
  /** major.minor */
  readonly python: string;
  readonly platform: Platform;
  /** Platform tags the nodes accept (manylinux_2_28_x86_64 and older), newest first. */
  readonly platformTags: readonly string[];
}

/** Why a pin has no usable wheel: none for the target, or none whose bytes the lock names. */
export class WheelError extends Error {
  constructor(
    readonly kind: "no-wheel" | "hash-mismatch" | "unreachable",
    readonly requirement: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The tag triples a wheel file name carries ({name}-{ver}(-{build})?-{py}-{abi}-{plat}.whl,
 * each part possibly a dotted set), and its name and version.
 */
export function wheelTags(
  filename: string,
): { name: string; version: string; tags: { py: string; abi: string; plat: string }[] } | undefined {
  if (!filename.endsWith(".whl")) return undefined;
  const parts = filename.slice(0, -4).split("-");
  if (parts.length !== 5 && parts.length !== 6) return undefined;
  const [name, version] = parts as [string, string];
  const [py, abi, plat] = parts.slice(-3) as [string, string, string];
  const tags = py
    .split(".")
    .flatMap((p) => abi.split(".").flatMap((a) => plat.split(".").map((t) => ({ py: p, abi: a, plat: t }))));
  return { name, version, tags };
}

/**
 * How well a wheel suits the target, as pip ranks it (higher is better), or -1 when it
 * does not install there: an exact CPython build, then the stable ABI, then pure Python;
 * for platforms, the newest manylinux first, "any" last.
 */
export function wheelRank(filename: string, target: WheelTarget): number {
  const parsed = wheelTags(filename);
  if (!parsed) return -1;
  const [major, minor] = target.python.split(".").map(Number) as [number, number];
  const cp = `cp${major}${minor}`;
  let best = -1;
  for (const { py, abi, plat } of parsed.tags) {
    const platRank = plat === "any" ? 0 : target.platformTags.length - target.platformTags.indexOf(plat);
    if (plat !== "any" && !target.platformTags.includes(plat)) continue;
    let abiRank: number;
    if (py === cp && abi === cp) abiRank = 3000;
    else if (abi === "abi3" && /^cp3\d+$/.test(py) && Number(py.slice(3)) <= minor)
      abiRank = 2000 + Number(py.slice(3));
    else if (
      abi === "none" &&
      (py === `py${major}` ||
        py === `py${major}${minor}` ||
        py === cp ||
        (/^py3\d+$/.test(py) && Number(py.slice(3)) <= minor))
    )
      abiRank = 1000;
    else continue;
    best = Math.max(best, abiRank * 100 + platRank);
  }
  return best;
}

/** The files of a project page: PEP 691 JSON, or the links of an HTML page (PEP 503, or a folder listing). */
export function parseIndexPage(body: string, contentType: string, pageUrl: string): IndexFile[] {
  if (contentType.includes("json")) {
    const doc = JSON.parse(body) as { files?: { filename: string; url: string; hashes?: Record<string, string> }[] };
    return (doc.files ?? []).map((f) => ({
      filename: f.filename,
      url: new URL(f.url, pageUrl).href,
      ...(f.hashes?.sha256 ? { sha256: f.hashes.sha256 } : {}),
    }));
  }
  const files: IndexFile[] = [];
  for (const m of body.matchAll(/<a\s[^>]*href="([^"]+)"[^>]*>([^<]*)<\/a>/gi)) {
    const href = m[1]!.replace(/&amp;/g, "&");
    const url = new URL(href, pageUrl);
    const sha = /^sha256=([0-9a-f]{64})$/.exec(url.hash.slice(1))?.[1];
    url.hash = "";
    const filename = decodeURIComponent(path.posix.basename(url.pathname));
    files.push({ filename, url: url.href, ...(sha ? { sha256: sha } : {}) });
  }
  return files;
}

/** PEP 503: a project's page is <index>/<normalized name>/. */
export function projectUrl(index: string, name: string): string {
  return new URL(`${normalizeName(name)}/`, index.endsWith("/") ? index : `${index}/`).href;
}

export interface FetchOptions {
  readonly index?: string;
  /** How many downloads at once. Default: 4. */
  readonly parallel?: number;
  readonly onSaved?: (file: string) => void;
  readonly env?: NodeJS.ProcessEnv;
}

function normalizeVersion(v: string): string {
  return v.toLowerCase().replace(/^v/, "");
}

/**
 * Downloads one wheel per lock entry into dir; every file's sha256 is one of the entry's
 * hashes. Throws WheelError naming the first pin that cannot be served.
 */
export async function fetchWheels(
  entries: readonly LockEntry[],
  target: WheelTarget,
  dir: string,
  opts: FetchOptions = {},
): Promise<string[]> {
  const env = opts.env ?? process.env;
  const index = opts.index ?? env.PIP_INDEX_URL ?? DEFAULT_INDEX;
  // Loaded here, not at the top: every stage process imports this module for its names,
  // and only the bundle stage downloads.
  const { EnvHttpProxyAgent, fetch: fetchWithProxy } = await import("undici");
  const dispatcher = new EnvHttpProxyAgent();
  const get = async (url: string, accept: string) => {
    let res: Awaited<ReturnType<typeof undiciFetch>>;
    try {
      res = await fetchWithProxy(url, {
        headers: { Accept: accept, "User-Agent": "dask-vm-cluster" },
        dispatcher,
        signal: AbortSignal.timeout(180_000),
      });
    } catch (err) {
      throw new WheelError("unreachable", url, `cannot reach ${new URL(url).host} (${networkErrorText(err)})`);
    }
    if (!res.ok)
      throw new WheelError(res.status === 404 ? "no-wheel" : "unreachable", url, `${url}: HTTP ${res.status}`);
    return res;
  };
  const saved: string[] = [];
  const queue = [...entries];
  const worker = async () => {
    for (let e = queue.shift(); e; e = queue.shift()) {
      const req = `${e.name}==${e.version}`;
      const page = await get(projectUrl(index, e.name), "application/vnd.pypi.simple.v1+json, text/html;q=0.1").catch(
        (err: unknown) => {
          if (err instanceof WheelError && err.kind === "no-wheel")
            throw new WheelError("no-wheel", req, `the index has no project ${e.name}`);
          throw err;
        },
      );
      const files = parseIndexPage(await page.text(), page.headers.get("content-type") ?? "", page.url)
        .filter((f) => {
          const t = wheelTags(f.filename);
          return t && normalizeName(t.name) === e.name && normalizeVersion(t.version) === normalizeVersion(e.version);
        })
        .map((f) => ({ ...f, rank: wheelRank(f.filename, target) }))
        .filter((f) => f.rank >= 0)
        .sort((a, b) => b.rank - a.rank);
      if (!files.length)
        throw new WheelError(
          "no-wheel",
          req,
          `no wheel of ${req} installs on Python ${target.python} on ${target.platform}`,
        );
      // The index's stated hash, where it states one, picks the locked file without a download.
      const stated = files.find((f) => f.sha256 && e.hashes.includes(f.sha256));
      if (!stated && files.every((f) => f.sha256))
        throw new WheelError("hash-mismatch", req, `no wheel of ${req} on the index has a hash the lock records`);
      let done = false;
      for (const f of stated ? [stated] : files) {
        const data = Buffer.from(await (await get(f.url, "*/*")).arrayBuffer());
        const digest = createHash("sha256").update(data).digest("hex");
        if (!e.hashes.includes(digest)) continue;
        writeFileSync(path.join(dir, f.filename), data);
        saved.push(f.filename);
        opts.onSaved?.(f.filename);
        done = true;
        break;
      }
      if (!done)
        throw new WheelError(
          "hash-mismatch",
          req,
          `the wheel of ${req} on the index has a sha256 the lock does not record`,
        );
    }
  };
  const guarded = async () => {
    try {
      await worker();
    } catch (err) {
      queue.length = 0; // the others stop after the file they are on
      throw err;
    }
  };
  const outcomes = await Promise.allSettled(
    Array.from({ length: Math.min(opts.parallel ?? 4, entries.length) }, guarded),
  );
  await dispatcher.close();
  const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === "rejected");
  if (failed) throw failed.reason;
  return saved.sort();
}
