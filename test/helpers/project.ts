// A throwaway copy of the project for lifecycle tests: its own folder, so its own
// cluster id, .cluster/ and results/, never the developer's cluster. node_modules is a
// symlink to the checkout's; everything else is copied as cdktf and the stages read it.
// The copy lives where students clone: under a folder whose name has a space and a
// non-ASCII letter, and every command is run through a symlink to it.
import { mkdtempSync, realpathSync, symlinkSync, writeFileSync, rmSync, existsSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { $, type ProcessOutput } from "zx";
import { CHECKOUT_FILES, copyCheckout } from "../../provision/host/checkout-copy.js";
import { resolveCluster } from "../../provision/config/resolve.js";
import { cdktfEnv } from "./terraform.js";
import type { Cluster } from "../../provision/core/model.js";

export const REPO = path.resolve(import.meta.dirname, "..", "..");
// What a clone has (git ls-files), less what no command reads.
const COPIED = [...CHECKOUT_FILES, "README.md", "test"];

export interface TestProject {
  /** The checkout itself: <tmp>/Cours Dask é/checkout, as node and the stages see it. */
  readonly dir: string;
  /** A symlink to dir, which every command of sh() and cdktf() runs from. */
  readonly link: string;
  readonly cluster: Cluster;
  /** Runs a command in the project with the offline Terraform environment. */
  sh(argv: readonly string[], opts?: { env?: Record<string, string>; timeoutMs?: number }): Promise<ProcessOutput>;
  /** cdktf deploy/destroy --auto-approve, timed. */
  cdktf(verb: "deploy" | "destroy" | "synth"): Promise<{ out: ProcessOutput; seconds: number }>;
  remove(): void;
}

/** A folder name as students have them: a space and a non-ASCII letter. */
export const SPACED_FOLDER = "Cours Dask é";

/** A copy of the project's files at <tmp>/<prefix>XXXX/Cours Dask é/checkout, and a symlink to it. */
export function makeCheckout(prefix = "dvc-e2e-"): { top: string; dir: string; link: string } {
  const top = realpathSync(mkdtempSync(path.join(os.tmpdir(), prefix)));
  const dir = path.join(top, SPACED_FOLDER, "checkout");
  copyCheckout(REPO, dir, COPIED);
  const link = path.join(top, "lien");
  // A junction on Windows: a directory symlink needs a privilege (or developer mode) there.
  symlinkSync(dir, link, process.platform === "win32" ? "junction" : "dir");
  return { top, dir, link };
}

export function makeProject(config: object, prefix = "dvc-e2e-"): TestProject {
  const { top, dir, link } = makeCheckout(prefix);
  writeFileSync(path.join(dir, "cluster.config.json"), JSON.stringify(config, null, 2));
  const cluster = resolveCluster(config, dir);
  const env = cdktfEnv();
  const sh: TestProject["sh"] = (argv, opts = {}) =>
    $({
      cwd: link,
      nothrow: true,
      quiet: true,
      env: { ...env, ...opts.env },
      timeout: opts.timeoutMs ?? 1_200_000,
    })`${argv}`;
  return {
    dir,
    link,
    cluster,
    sh,
    async cdktf(verb) {
      const t0 = performance.now();
      const args = verb === "synth" ? ["synth"] : [verb, "--auto-approve"];
      const out = await sh(["node_modules/.bin/cdktf", ...args]);
      return { out, seconds: (performance.now() - t0) / 1000 };
    },
    remove() {
      if (existsSync(top)) rmSync(top, { recursive: true, force: true });
    },
  };
}

/** The last lines of a failed command, for assertion messages. */
export function tail(out: ProcessOutput, n = 40): string {
  return `${out.stdout}\n${out.stderr}`.trim().split("\n").slice(-n).join("\n");
}
