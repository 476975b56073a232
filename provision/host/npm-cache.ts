// npm's cache for computers other than this one: `npm install --os --cpu` in a scratch
// folder fills a cache (--cache) with the packages of that computer's optional
// dependencies too (esbuild, biome and node-pty ship one package per OS and CPU), and
// `npm install --offline --cache` installs from it alone. A classroom kit holds one cache
// for every platform of the class (commands/kit.ts).
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { UserError } from "../core/errors.js";
import type { Host } from "./host.js";
import type { ProcessResult } from "./process.js";

/** A computer npm installs for: process.platform and process.arch values. */
export interface NpmTarget {
  readonly platform: string;
  readonly arch: string;
}

/** npm's command: the npm running this script (npm_execpath), else npm on PATH. */
export function npmArgv(host: Pick<Host, "env" | "platform">): string[] {
  const cli = host.env.npm_execpath;
  if (cli && /npm-cli\.js$/.test(cli) && existsSync(cli)) return [process.execPath, cli];
  return [host.platform === "win32" ? "npm.cmd" : "npm"];
}

/** The package that shows npm installed a target's own packages: esbuild's for that computer (a dependency of ours). */
export function esbuildPackage(t: NpmTarget): string {
  return `@esbuild/${t.platform}-${t.arch}`;
}

/**
 * `npm install` in work for a target computer (npm --os/--cpu, no install scripts) with
 * cache as npm's cache, offline or filling it; filled: that computer's own packages are there.
 */
export async function npmInstallFor(
  host: Host,
  t: NpmTarget,
  work: string,
  cache: string,
  offline: boolean,
): Promise<{ r: ProcessResult; filled: boolean; seconds: number }> {
  const t0 = performance.now();
  const r = await host.run(
    [
      ...npmArgv(host),
      "install",
      ...(offline ? ["--offline"] : []),
      "--cache",
      cache,
      "--ignore-scripts",
      "--no-audit",
      "--no-fund",
      "--loglevel=error",
      "--os",
      t.platform,
      "--cpu",
      t.arch,
    ],
    { cwd: work, timeoutMs: 1_800_000 },
  );
  const filled = existsSync(path.join(work, "node_modules", ...esbuildPackage(t).split("/")));
  return { r, filled, seconds: (performance.now() - t0) / 1000 };
}

/**
 * Fills npmDir with what `npm install` of projectDir's lock needs on each target, one
 * scratch install each (before/after report progress); keeps only npm's content cache.
 */
export async function fillNpmCache(
  host: Host,
  projectDir: string,
  targets: readonly (NpmTarget & { readonly name: string })[],
  npmDir: string,
  progress: { before(t: NpmTarget & { readonly name: string }): void; after(name: string, seconds: number): void },
): Promise<void> {
  const scratch = mkdtempSync(path.join(os.tmpdir(), "dvc-kit-npm-"));
  try {
    for (const t of targets) {
      progress.before(t);
      const work = path.join(scratch, t.name);
      mkdirSync(work);
      for (const f of ["package.json", "package-lock.json", ".npmrc"])
        if (existsSync(path.join(projectDir, f))) copyFileSync(path.join(projectDir, f), path.join(work, f));
      const { r, filled, seconds } = await npmInstallFor(host, t, work, npmDir, false);
      if (r.exitCode !== 0)
        throw new UserError(`npm install for ${t.name} failed`, 1, [
          {
            path: "npm install",
            message: (r.stderr || r.stdout).trim().split("\n").slice(-4).join(" "),
            fix: "this computer must reach the npm registry to fill the cache",
          },
        ]);
      if (!filled)
        throw new UserError(`npm did not fetch ${t.name}'s packages (no ${esbuildPackage(t)})`, 1, [
          {
            path: "npm",
            message: "this npm ignores --os/--cpu",
            fix: "use the npm of Node 22 or later (npm 10.9+)",
          },
        ]);
      progress.after(t.name, seconds);
      rmSync(work, { recursive: true, force: true });
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  // Only the content cache: npm's logs and notices are not the class's.
  for (const e of readdirSync(npmDir))
    if (e !== "_cacache") rmSync(path.join(npmDir, e), { recursive: true, force: true });
}
