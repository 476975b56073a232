// A throwaway copy of the project for lifecycle tests: its own folder, so its own
// cluster id, .cluster/ and results/, never the developer's cluster. node_modules is a
// symlink to the checkout's; everything else is copied as cdktf and the stages read it.
import { cpSync, mkdtempSync, symlinkSync, writeFileSync, rmSync, existsSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { $, type ProcessOutput } from "zx";
import { resolveCluster, type Cluster } from "../../provision/lib/config.js";
import { terraformEnv } from "./terraform.js";

export const REPO = path.resolve(import.meta.dirname, "..", "..");
const COPIED = ["package.json", "cdktf.json", "tsconfig.json", "stacks", "provision", "cluster-runtime"];

export interface TestProject {
  readonly dir: string;
  readonly cluster: Cluster;
  /** Runs a command in the project with the offline Terraform environment. */
  sh(argv: readonly string[], opts?: { env?: Record<string, string>; timeoutMs?: number }): Promise<ProcessOutput>;
  /** cdktf deploy/destroy --auto-approve, timed. */
  cdktf(verb: "deploy" | "destroy" | "synth"): Promise<{ out: ProcessOutput; seconds: number }>;
  remove(): void;
}

export function makeProject(config: object, prefix = "dvc-e2e-"): TestProject {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  for (const f of COPIED) cpSync(path.join(REPO, f), path.join(dir, f), { recursive: true, filter: (src) => !src.includes("__pycache__") });
  symlinkSync(path.join(REPO, "node_modules"), path.join(dir, "node_modules"));
  writeFileSync(path.join(dir, "cluster.config.json"), JSON.stringify(config, null, 2));
  const cluster = resolveCluster(config, dir);
  // CDKTF_SKIP_PROVIDER_LOCK: cdktf's `terraform providers lock` ignores the filesystem
  // mirror and asks the registry, which these machines cannot reach.
  const env = { ...terraformEnv(), CI: "true", CHECKPOINT_DISABLE: "1", FORCE_COLOR: "0", CDKTF_SKIP_PROVIDER_LOCK: "true" };
  const sh: TestProject["sh"] = (argv, opts = {}) =>
    $({ cwd: dir, nothrow: true, quiet: true, env: { ...env, ...opts.env }, timeout: opts.timeoutMs ?? 1_200_000 })`${argv}`;
  return {
    dir,
    cluster,
    sh,
    async cdktf(verb) {
      const t0 = performance.now();
      const args = verb === "synth" ? ["synth"] : [verb, "--auto-approve"];
      const out = await sh(["node_modules/.bin/cdktf", ...args]);
      return { out, seconds: (performance.now() - t0) / 1000 };
    },
    remove() {
      if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The last lines of a failed command, for assertion messages. */
export function tail(out: ProcessOutput, n = 40): string {
  return `${out.stdout}\n${out.stderr}`.trim().split("\n").slice(-n).join("\n");
}
