// The host cache (paths.ts's cacheDir: wheelhouses, runtime bundles, their byte-code,
// notebook bundles, the Terraform toolchain) measured and kept in bounds. Every bundle
// build used to stay forever (about 40 MB each). Now each bundle stage records which
// bundle and wheelhouse its cluster uses (clusters/<cluster id>.json) and marks them used;
// then pruneCache keeps what a deployed cluster uses (its repair or reinstall works
// offline) and the few most recently used, and removes the rest. The toolchain, the test
// runner's venvs and anything it does not know are never touched.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import path from "node:path";
import { type CheckRow, ok, warn } from "../core/check-rows.js";

export type CacheKind = "bundle" | "notebook" | "wheelhouse" | "toolchain" | "boxes" | "test-venv" | "other";

export interface CacheItem {
  /** What it is, and its key: a bundle id, a wheelhouse's name. */
  readonly kind: CacheKind;
  readonly key: string;
  /** Its files and folders, names in the cache folder. */
  readonly names: readonly string[];
  readonly bytes: number;
  /** Epoch ms of its last use (the newest mtime among its files). */
  readonly lastUsed: number;
}

/** What a deployed cluster needs from the cache, recorded by its bundle stage. */
export interface ClusterUse {
  readonly clusterId: string;
  readonly clusterDir: string;
  readonly bundleId: string;
  readonly wheelhouse: string;
}

/** Bundles and wheelhouses kept besides those a deployed cluster uses. */
export const KEEP_RECENT = 3;
const USES = "clusters";

function sizeOf(p: string): number {
  const st = statSync(p, { throwIfNoEntry: false });
  if (!st) return 0;
  if (!st.isDirectory()) return st.size;
  let total = 0;
  for (const e of readdirSync(p)) total += sizeOf(path.join(p, e));
  return total;
}

function classify(name: string): { kind: CacheKind; key: string } {
  let m = /^(?:bundle|pycache)-([0-9a-f]{16})\.tar(?:\.sha256)?$/.exec(name);
  if (m) return { kind: "bundle", key: m[1]! };
  m = /^notebook-([0-9a-f]+)\.tar(?:\.sha256)?$/.exec(name);
  if (m) return { kind: "notebook", key: m[1]! };
  if (name.startsWith("wheelhouse-")) return { kind: "wheelhouse", key: name };
  if (name === "toolchain") return { kind: "toolchain", key: name };
  // provision/machines/libvirt/build-test-box.sh's boxes, and the venvs test/run-python.ts makes for ruff and pytest.
  if (name === "boxes") return { kind: "boxes", key: name };
  if (name.startsWith("test-venv-")) return { kind: "test-venv", key: name };
  return { kind: "other", key: name };
}

/** Everything in the cache, grouped: a bundle is its tar, its digest and its byte-code tar. */
export function cacheItems(dir: string): CacheItem[] {
  if (!existsSync(dir)) return [];
  const groups = new Map<string, { kind: CacheKind; key: string; names: string[]; bytes: number; lastUsed: number }>();
  for (const name of readdirSync(dir)) {
    if (name === USES) continue;
    const { kind, key } = classify(name);
    const st = statSync(path.join(dir, name), { throwIfNoEntry: false });
    if (!st) continue;
    const g = groups.get(`${kind}/${key}`) ?? { kind, key, names: [], bytes: 0, lastUsed: 0 };
    g.names.push(name);
    g.bytes += sizeOf(path.join(dir, name));
    g.lastUsed = Math.max(g.lastUsed, st.mtimeMs);
    groups.set(`${kind}/${key}`, g);
  }
  return [...groups.values()];
}

/** Marks cache files as just used (their mtime), so pruning keeps the ones in use. */
export function markUsed(...files: readonly (string | undefined)[]): void {
  const now = new Date();
  for (const f of files) if (f && existsSync(f)) utimesSync(f, now, now);
}

export function recordClusterUse(dir: string, use: ClusterUse): void {
  mkdirSync(path.join(dir, USES), { recursive: true });
  writeFileSync(path.join(dir, USES, `${use.clusterId}.json`), `${JSON.stringify(use)}\n`);
}

/**
 * Whether a cluster is deployed (even if stopped): its Terraform state holds resources, or
 * it changed in the last hour (a first deploy's state is written every 20 s, not at once).
 */
function deployed(clusterDir: string): boolean {
  const file = path.join(clusterDir, "terraform.tfstate");
  try {
    if (Date.now() - statSync(file).mtimeMs < 3_600_000) return true;
    const state = JSON.parse(readFileSync(file, "utf8")) as { resources?: unknown[] };
    return (state.resources?.length ?? 0) > 0;
  } catch {
    return false;
  }
}

/** The records of clusters still deployed; the others' records are removed. */
export function liveUses(dir: string, isDeployed: (clusterDir: string) => boolean = deployed): ClusterUse[] {
  const folder = path.join(dir, USES);
  if (!existsSync(folder)) return [];
  const live: ClusterUse[] = [];
  for (const f of readdirSync(folder)) {
    const file = path.join(folder, f);
    try {
      const use = JSON.parse(readFileSync(file, "utf8")) as ClusterUse;
      if (isDeployed(use.clusterDir)) {
        live.push(use);
        continue;
      }
    } catch {
      // unreadable: a record is only a hint, drop it
    }
    rmSync(file, { force: true });
  }
  return live;
}

export interface PruneResult {
  readonly removed: readonly CacheItem[];
  readonly freedBytes: number;
  readonly kept: readonly CacheItem[];
}

/**
 * Removes the bundles, notebook bundles and wheelhouses that no deployed cluster uses and
 * that are not among the `keep` most recently used of their kind. Never the toolchain or
 * anything unknown. A file in use by a deploy that is running was just marked used, so it
 * is among the most recent.
 */
export function pruneCache(
  dir: string,
  opts: { keep?: number; isDeployed?: (clusterDir: string) => boolean } = {},
): PruneResult {
  const keep = opts.keep ?? KEEP_RECENT;
  const uses = liveUses(dir, opts.isDeployed);
  const needed = new Set([
    ...uses.map((u) => `bundle/${u.bundleId}`),
    ...uses.map((u) => `wheelhouse/${u.wheelhouse}`),
  ]);
  const items = cacheItems(dir);
  const removed: CacheItem[] = [];
  for (const kind of ["bundle", "notebook", "wheelhouse"] as const) {
    const ofKind = items.filter((i) => i.kind === kind).sort((a, b) => b.lastUsed - a.lastUsed);
    for (const [rank, item] of ofKind.entries()) {
      if (rank < keep || needed.has(`${kind}/${item.key}`)) continue;
      for (const name of item.names) rmSync(path.join(dir, name), { recursive: true, force: true });
      removed.push(item);
    }
  }
  return {
    removed,
    freedBytes: removed.reduce((s, i) => s + i.bytes, 0),
    kept: items.filter((i) => !removed.includes(i)),
  };
}

export const mb = (bytes: number) => `${(bytes / 1e6).toFixed(bytes < 1e7 ? 1 : 0)} MB`;

/** One line: the cache's size and what it holds, for doctor. */
export function cacheSummary(dir: string): { bytes: number; text: string } {
  const items = cacheItems(dir);
  const bytes = items.reduce((s, i) => s + i.bytes, 0);
  const count = (kind: CacheKind, one: string) => {
    const n = items.filter((i) => i.kind === kind);
    return n.length ? `${n.length} ${one}${n.length === 1 ? "" : "s"} ${mb(n.reduce((s, i) => s + i.bytes, 0))}` : "";
  };
  const parts = [
    count("bundle", "runtime bundle"),
    count("wheelhouse", "wheelhouse"),
    count("notebook", "notebook bundle"),
    count("toolchain", "toolchain"),
    count("boxes", "VM box folder"),
    count("test-venv", "test venv"),
    count("other", "other item"),
  ].filter(Boolean);
  return { bytes, text: `${dir}: ${mb(bytes)}${parts.length ? ` (${parts.join(", ")})` : " (empty)"}` };
}

/**
 * Doctor's row: how big the cache is and what it holds. A warning past 2 GB (something
 * else fills it: pruning keeps a few bundles of about 40 MB).
 */
export function cacheCheck(dir: string): CheckRow {
  const { bytes, text } = cacheSummary(dir);
  if (bytes > 2e9)
    return warn(
      "cache",
      text,
      `deploys keep the bundles deployed clusters use and the ${KEEP_RECENT} most recent; remove what you do not need from ${dir} (the toolchain is rebuilt by npm run setup)`,
    );
  return ok("cache", text);
}
