// The host cache kept in bounds (provision/runtime/cache.ts): what deployed clusters use and the
// most recently used bundles stay, the rest goes; the toolchain and unknown files are never
// touched; doctor's row says how big it is. On real folders and files in a scratch cache.
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  truncateSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { cacheCheck, cacheItems, cacheSummary, pruneCache, recordClusterUse } from "../provision/runtime/cache.js";

let dir: string;
let clusters: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), "dvc-cache-test-"));
  clusters = mkdtempSync(path.join(os.tmpdir(), "dvc-cache-clusters-"));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
  rmSync(clusters, { recursive: true, force: true });
});

const HOUR = 3_600_000;
function file(name: string, bytes: number, ageHours: number): void {
  const p = path.join(dir, name);
  mkdirSync(path.dirname(p), { recursive: true });
  writeFileSync(p, Buffer.alloc(bytes));
  const t = new Date(Date.now() - ageHours * HOUR);
  utimesSync(p, t, t);
}
/** A bundle as the bundle stage leaves it: tar, digest and byte-code tar, used `ageHours` ago. */
function bundle(id: string, ageHours: number): void {
  file(`bundle-${id}.tar`, 4000, ageHours);
  file(`bundle-${id}.tar.sha256`, 90, ageHours);
  file(`pycache-${id}.tar`, 1000, ageHours);
}
function wheelhouse(name: string, ageHours: number): void {
  file(`${name}/a-1.0-py3-none-any.whl`, 500, ageHours);
  const t = new Date(Date.now() - ageHours * HOUR);
  utimesSync(path.join(dir, name), t, t);
}
/** A cluster folder whose Terraform state holds resources (deployed) or none (destroyed), written two hours ago. */
function clusterDir(name: string, deployed: boolean): string {
  const d = path.join(clusters, name);
  mkdirSync(d, { recursive: true });
  writeFileSync(
    path.join(d, "terraform.tfstate"),
    JSON.stringify({ version: 4, resources: deployed ? [{ type: "null_resource" }] : [] }),
  );
  const t = new Date(Date.now() - 2 * HOUR);
  utimesSync(path.join(d, "terraform.tfstate"), t, t);
  return d;
}
const ids = (n: number) => Array.from({ length: n }, (_, k) => `${k}`.repeat(16).slice(0, 16));

describe("the host cache", () => {
  it("groups a bundle's tar, digest and byte-code, and sums sizes", () => {
    bundle("aaaaaaaaaaaaaaaa", 1);
    wheelhouse("wheelhouse-0123456789abcdef-x86_64", 1);
    file("toolchain/null/terraform-provider-null", 2000, 5);
    file("test-venv-787d07154bca36b2-aafce59f/bin/python", 10, 5);
    const items = cacheItems(dir);
    expect(items.find((i) => i.kind === "bundle")).toMatchObject({
      key: "aaaaaaaaaaaaaaaa",
      bytes: 5090,
      names: expect.arrayContaining(["bundle-aaaaaaaaaaaaaaaa.tar", "pycache-aaaaaaaaaaaaaaaa.tar"]),
    });
    expect(items.find((i) => i.kind === "wheelhouse")?.bytes).toBe(500);
    expect(items.find((i) => i.kind === "toolchain")?.bytes).toBe(2000);
    expect(cacheSummary(dir).text).toBe(
      `${dir}: 0.0 MB (1 runtime bundle 0.0 MB, 1 wheelhouse 0.0 MB, 1 toolchain 0.0 MB, 1 test venv 0.0 MB)`,
    );
  });

  it("keeps the 3 most recently used bundles and those a deployed cluster uses; removes the rest, never the toolchain or unknown files", () => {
    const [b0, b1, b2, b3, b4, b5] = ids(6);
    // b5 is the oldest but a deployed cluster uses it; b4 was used by a cluster since destroyed.
    for (const [k, id] of [b0, b1, b2, b3, b4, b5].entries()) bundle(id!, k + 1);
    for (const k of [0, 1, 2, 3, 4]) wheelhouse(`wheelhouse-${k}${"0".repeat(15)}-x86_64`, k + 1);
    file("toolchain/terraform-provider-null", 100, 100);
    file("test-venv-787d07154bca36b2-aafce59f/bin/python", 100, 100);
    file("notes.txt", 10, 100);
    recordClusterUse(dir, {
      clusterId: "live",
      clusterDir: clusterDir("live", true),
      bundleId: b5!,
      wheelhouse: `wheelhouse-4${"0".repeat(15)}-x86_64`,
    });
    recordClusterUse(dir, {
      clusterId: "gone",
      clusterDir: clusterDir("gone", false),
      bundleId: b4!,
      wheelhouse: `wheelhouse-3${"0".repeat(15)}-x86_64`,
    });

    const r = pruneCache(dir);
    expect(r.removed.map((i) => `${i.kind} ${i.key}`).sort()).toEqual(
      [`bundle ${b3}`, `bundle ${b4}`, `wheelhouse wheelhouse-3${"0".repeat(15)}-x86_64`].sort(),
    );
    expect(r.freedBytes).toBe(2 * 5090 + 500);
    const left = readdirSync(dir).sort();
    for (const id of [b0, b1, b2, b5]) expect(left).toContain(`bundle-${id}.tar`);
    for (const id of [b3, b4])
      for (const f of [`bundle-${id}.tar`, `bundle-${id}.tar.sha256`, `pycache-${id}.tar`])
        expect(left).not.toContain(f);
    expect(left).toEqual(expect.arrayContaining(["toolchain", "test-venv-787d07154bca36b2-aafce59f", "notes.txt"]));
    // The destroyed cluster's record is gone with it; the deployed one's stays.
    expect(readdirSync(path.join(dir, "clusters"))).toEqual(["live.json"]);
    // Pruning again removes nothing.
    expect(pruneCache(dir).removed).toEqual([]);
  });

  it("a cluster whose first deploy is still running (state written in the last hour, no resources yet) keeps its bundle", () => {
    const [b0, b1, b2, b3] = ids(4);
    for (const [k, id] of [b0, b1, b2, b3].entries()) bundle(id!, k + 1);
    const d = path.join(clusters, "new");
    mkdirSync(d);
    writeFileSync(path.join(d, "terraform.tfstate"), JSON.stringify({ version: 4, resources: [] }));
    recordClusterUse(dir, { clusterId: "new", clusterDir: d, bundleId: b3!, wheelhouse: "wheelhouse-x" });
    expect(pruneCache(dir).removed).toEqual([]);
    expect(existsSync(path.join(dir, `bundle-${b3}.tar`))).toBe(true);
  });

  it("doctor's row: the size and what it holds; a warning with the way out past 2 GB", () => {
    expect(cacheCheck(path.join(dir, "none"))).toMatchObject({
      check: "cache",
      status: "ok",
      found: `${path.join(dir, "none")}: 0.0 MB (empty)`,
    });
    bundle("bbbbbbbbbbbbbbbb", 1);
    truncateSync(path.join(dir, "bundle-bbbbbbbbbbbbbbbb.tar"), 2.1e9);
    const row = cacheCheck(dir);
    expect(row.status).toBe("warn");
    expect(row.found).toMatch(/: 2100 MB \(1 runtime bundle 2100 MB\)$/);
    expect(row.fix).toMatch(/most recent; remove what you do not need from/);
  });
});
