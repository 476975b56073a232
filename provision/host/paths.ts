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

/**
 * A path as the user can use it from the folder they ran the command in (npm runs scripts
 * in the project folder and says where the user was in INIT_CWD); absolute when that is
 * clearer than a walk up.
 */
export function forUser(p: string, env: NodeJS.ProcessEnv = process.env): string {
  const rel = path.relative(env.INIT_CWD ?? process.cwd(), p);
  return !rel || rel.startsWith(`..${path.sep}..`) || path.isAbsolute(rel) ? p : rel;
}
