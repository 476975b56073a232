// Host-side locations: the project folder (found from this file, whatever path or link the
// checkout was reached through), the cache that outlives clusters and checkouts
// (wheelhouses, bundles, toolchain builds), and the results folder.
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** The checkout this code runs from (node resolves symlinks of the entry module). */
export const PROJECT_DIR = fileURLToPath(new URL("../..", import.meta.url)).replace(/[\\/]$/, "");

/** DVC_CACHE_DIR, else $XDG_CACHE_HOME/dask-vm-cluster, else ~/.cache/dask-vm-cluster. */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.DVC_CACHE_DIR) return path.resolve(env.DVC_CACHE_DIR);
  const base = env.XDG_CACHE_HOME || path.join(os.homedir(), ".cache");
  return path.join(base, "dask-vm-cluster");
}

export function resultsDir(projectDir: string): string {
  return path.join(projectDir, "results");
}
