// The first hour on each supported Node line, as a student has it: a fresh `git clone` into
// a folder whose path has a space and a non-ASCII letter, `npm install` (on Node 22 with
// install scripts skipped, as npm 11 may do: "not yet covered by allowScripts"), `npx cdktf
// synth`, then `npm run demo` (deploy, verify, benchmark, destroy on the local provider).
// And the same on the current LTS from a clone whose text files are CRLF, as Git for
// Windows checked this repository out before its .gitattributes (test/helpers/crlf.ts).
// Node comes from the npm registry (test/helpers/node-lines.ts). Needs root (namespaces)
// and the npm registry. Each line prints one summary line, quoted in the closing notes.
import { existsSync, mkdtempSync, readFileSync, realpathSync } from "node:fs";
import { rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { $ } from "zx";
import { resolveCluster } from "../provision/config/resolve.js";
import { checkOutWithCrlf } from "./helpers/crlf.js";
import { NODE_RELEASES, nodeBinDir, studentShell, withNode } from "./helpers/node-lines.js";
import { REPO, SPACED_FOLDER } from "./helpers/project.js";
import { residue } from "./helpers/residue.js";
import { rootOrSkip } from "./helpers/root.js";
import { cdktfEnv } from "./helpers/terraform.js";

const isRoot = rootOrSkip("node-lines.local", "the demo's local provider needs root to create network namespaces");
const top = realpathSync(mkdtempSync(path.join(os.tmpdir(), "dvc-node-lines-")));

// Asynchronously: three clones' node_modules take long enough to remove that a synchronous
// rm blocks the test worker past vitest's fixed 60 s RPC timeout ("Timeout calling
// onTaskUpdate", vitest-dev/vitest#6479), failing a run whose tests all passed.
afterAll(() => rm(top, { recursive: true, force: true }));

/**
 * Each supported line from an LF clone, and the current LTS from a CRLF one (Git for Windows' before .gitattributes).
 */
const CASES = [
  ...Object.entries(NODE_RELEASES).map(([major, version]) => ({
    title: `Node ${major} (${version}) from a fresh clone`,
    folder: `node ${major}`,
    major,
    version,
    crlf: false,
  })),
  {
    title: `Node 26 (${NODE_RELEASES[26]}) from a fresh clone with CRLF line endings`,
    folder: "node 26 crlf",
    major: "26",
    version: NODE_RELEASES[26]!,
    crlf: true,
  },
];

describe.runIf(isRoot).each(CASES)("$title", ({ folder, major, version, crlf }) => {
  const dir = path.join(top, SPACED_FOLDER, folder);
  const skipScripts = major === "22";
  const seconds: Record<string, number> = {};
  let env: NodeJS.ProcessEnv;
  const run = async (step: string, argv: string[], timeoutMs = 900_000) => {
    const t0 = performance.now();
    const r = await $({ cwd: dir, nothrow: true, quiet: true, env, timeout: timeoutMs })`${argv}`;
    seconds[step] = (performance.now() - t0) / 1000;
    return r;
  };

  afterAll(async () => {
    // Whatever happened, leave nothing: a demo cut short is destroyed with its own config.
    const demoConfig = path.join(dir, ".cluster", "demo", "cluster.config.json");
    if (env && existsSync(path.join(dir, ".cluster", "terraform.tfstate"))) {
      await $({
        cwd: dir,
        nothrow: true,
        quiet: true,
        env: { ...env, CLUSTER_CONFIG: demoConfig },
      })`node_modules/.bin/cdktf destroy --auto-approve`;
    }
    console.log(
      `node-lines: Node v${version}${crlf ? " (CRLF clone)" : ""}: ${Object.entries(seconds)
        .map(([k, s]) => `${k} ${s.toFixed(1)} s`)
        .join(", ")}`,
    );
  });

  it(`npm install${skipScripts ? " --ignore-scripts" : ""} installs cdktf with a pseudo-terminal that loads`, async () => {
    env = withNode(await nodeBinDir(version), studentShell(cdktfEnv()));
    const clone = await $({ quiet: true, nothrow: true })`git clone --quiet ${REPO} ${dir}`;
    expect(clone.exitCode, clone.stderr).toBe(0);
    if (crlf) {
      await checkOutWithCrlf(dir);
      expect(readFileSync(path.join(dir, "cluster-runtime", "install.sh"), "utf8")).toContain("set -euo pipefail\r\n");
    }
    const v = await run("node", ["node", "--version"]);
    expect(v.stdout.trim()).toBe(`v${version}`);
    const install = await run("npm install", [
      "npm",
      "install",
      "--no-audit",
      "--no-fund",
      "--loglevel=error",
      ...(skipScripts ? ["--ignore-scripts"] : []),
    ]);
    expect(install.exitCode, install.stderr).toBe(0);
    // A student's clone stays clean: npm install rewrites no tracked file (package-lock.json).
    expect((await run("git status", ["git", "status", "--porcelain"])).stdout).toBe("");
    const pty = await run("pty", [
      "node",
      "-e",
      'require("@cdktf/node-pty-prebuilt-multiarch").spawn("node", ["-e", "process.stdout.write(\\"pty ok\\")"], {}).onData((d) => process.stdout.write(d))',
    ]);
    expect(pty.stdout, pty.stderr).toContain("pty ok");
  });

  it("npx cdktf synth writes the stack", async () => {
    const synth = await run("synth", ["npx", "cdktf", "synth"]);
    expect(synth.exitCode, `${synth.stdout}\n${synth.stderr}`.slice(-2000)).toBe(0);
    expect(existsSync(path.join(dir, "cdktf.out", "stacks", "dask-cluster", "cdk.tf.json"))).toBe(true);
  });

  it("npm run demo deploys, verifies, benchmarks and destroys, leaving nothing", async () => {
    const cluster = resolveCluster({ provider: "local", nodes: { count: 3 } }, dir);
    const ips = cluster.nodes.map((n) => n.ip);
    const before = await residue(dir, cluster.id, ips);
    const demo = await run("demo", ["npm", "run", "demo"], 1_200_000);
    expect(demo.exitCode, `${demo.stdout}\n${demo.stderr}`.slice(-3000)).toBe(0);
    expect(existsSync(path.join(dir, "results", "latest", "report.md"))).toBe(true);
    const after = await residue(dir, cluster.id, ips);
    expect(after.namespaces).toEqual([]);
    expect(after.processes).toEqual([]);
    expect(after.hostListeners).toEqual(before.hostListeners);
  });
});
