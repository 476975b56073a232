// What the demo shows of cdktf's output (stages/deploy-progress.ts), fed lines as cdktf
// prints them without a terminal (the stack name on some lines, colours, status lines in
// between): a line per stage as it starts and as it is done, the stage's own resource
// only (converge-<stage> on deploy, <stage> on destroy), and after a failure the failing
// stage's own error lines, or Terraform's when no stage says more.
import { describe, expect, it } from "vitest";
import { DeployProgress, type DeployVerb } from "../provision/stages/deploy-progress.js";

const ESC = String.fromCharCode(27);

function feed(verb: DeployVerb, lines: readonly (string | number)[]) {
  let clock = 0;
  const shown: string[] = [];
  const p = new DeployProgress(
    verb,
    (l) => shown.push(l),
    () => clock,
  );
  for (const l of lines) {
    if (typeof l === "number") clock = l;
    else p.line(l);
  }
  return { p, shown };
}

describe("DeployProgress", () => {
  it("shows a start and a done line per stage, with the time since the start and the stage's own seconds, and nothing else", () => {
    const { p, shown } = feed("deploy", [
      `${ESC}[2K${ESC}[1A${ESC}[2K${ESC}[Gdask-cluster  ${ESC}[0m${ESC}[1mInitializing the backend...${ESC}[0m`,
      "              Terraform will perform the following actions:",
      `              ${ESC}[1m  # null_resource.benchmark (benchmark/resource)${ESC}[0m will be created`,
      "              null_resource.preflight: Creating...",
      "              null_resource.preflight: Creation complete after 0s [id=6816975555451857742]",
      1000,
      "              null_resource.converge-preflight: Creating...",
      '              null_resource.converge-preflight (local-exec): Executing: ["/usr/bin/node" "provision/launch.mjs" "provision/stage.ts" "apply"]',
      "1 Stack deploying     0 Stacks done     0 Stacks waiting",
      "dask-cluster  null_resource.converge-preflight (local-exec): [preflight] checking the host for the local provider...",
      1400,
      "dask-cluster  null_resource.converge-preflight: Creation complete after 0s [id=5546085285591670645]",
      2000,
      "dask-cluster  null_resource.converge-bundle: Creating...",
      12_000,
      "dask-cluster  null_resource.converge-bundle: Still creating... [10s elapsed]",
      75_500,
      "dask-cluster  null_resource.converge-bundle: Creation complete after 11s [id=1290739329970901199]",
    ]);
    expect(shown).toEqual([
      "+0:01 preflight: started",
      "+0:01 preflight: done in 0.4 s",
      "+0:02 bundle: started",
      "+1:15 bundle: done in 73.5 s",
    ]);
    expect(p.unfinished()).toEqual([]);
    expect(p.finished().map((f) => f.stage)).toEqual(["preflight", "bundle"]);
    expect(p.failure()).toEqual([]);
  });

  it("reads the lines as cdktf prints them with CI set, each resource followed by its construct path", () => {
    const { p, shown } = feed("deploy", [
      "              null_resource.install-node1 (install-node1/resource): Creating...",
      "              null_resource.install-node1 (install-node1/resource): Creation complete after 0s [id=1367033186907726928]",
      "dask-cluster  null_resource.converge-install-node1 (install-node1/converge): Creating...",
      "dask-cluster  null_resource.converge-install-node1 (install-node1/converge) (local-exec): error: the bundle is damaged",
      2000,
      "dask-cluster  null_resource.converge-machine-node1 (machine-node1/converge): Creating...",
      "dask-cluster  null_resource.converge-machine-node1 (machine-node1/converge): Creation complete after 2s [id=3104734542282768629]",
    ]);
    expect(shown).toEqual([
      "+0:00 install-node1: started",
      "+0:02 machine-node1: started",
      "+0:02 machine-node1: done in 0.0 s",
    ]);
    expect(p.failure()).toEqual(["install-node1 failed:", "  error: the bundle is damaged"]);
  });

  it("says once a minute that a long stage is still running, from Terraform's every-10-seconds lines", () => {
    const lines: (string | number)[] = ["dask-cluster  null_resource.converge-benchmark: Creating..."];
    for (let t = 10; t <= 150; t += 10)
      lines.push(
        t * 1000,
        `dask-cluster  null_resource.converge-benchmark: Still creating... [${Math.floor(t / 60) ? `${Math.floor(t / 60)}m` : ""}${t % 60}s elapsed]`,
      );
    lines.push(155_000, "dask-cluster  null_resource.converge-benchmark: Creation complete after 2m35s [id=7]");
    const { shown } = feed("deploy", lines);
    expect(shown).toEqual([
      "+0:00 benchmark: started",
      "+1:00 benchmark: still running (1 min)",
      "+2:00 benchmark: still running (2 min)",
      "+2:35 benchmark: done in 155.0 s",
    ]);
  });

  it("on destroy, follows the stages' own resources, whose destroy provisioners remove them", () => {
    const { shown } = feed("destroy", [
      "dask-cluster  null_resource.converge-worker-node1: Destroying... [id=8036583338885788838]",
      "dask-cluster  null_resource.converge-worker-node1: Destruction complete after 0s",
      500,
      "              null_resource.worker-node1: Destroying... [id=5202274892641389997]",
      1500,
      "dask-cluster  null_resource.worker-node1: Destruction complete after 1s",
    ]);
    expect(shown).toEqual(["+0:00 worker-node1: started", "+0:01 worker-node1: done in 1.0 s"]);
  });

  it("after a failure, gives the failing stage's error as the stage printed it, from its error: line", () => {
    const { p } = feed("deploy", [
      "dask-cluster  null_resource.converge-machine-node1: Creating...",
      "dask-cluster  null_resource.converge-machine-node2: Creating...",
      "dask-cluster  null_resource.converge-machine-node1 (local-exec): [machine] creating node1...",
      "dask-cluster  null_resource.converge-machine-node1 (local-exec): error: node1's root folder cannot be made",
      "dask-cluster  null_resource.converge-machine-node1 (local-exec):   /work/.cluster/nodes: not a folder",
      "dask-cluster  null_resource.converge-machine-node1 (local-exec):     fix: remove it",
      "dask-cluster  null_resource.converge-machine-node1 (local-exec):     at async mkdir (node:internal/fs/promises:1719:10)",
      "dask-cluster  null_resource.converge-machine-node2: Creation complete after 1s [id=1]",
      "dask-cluster  ╷",
      "              │ Error: local-exec provisioner error",
      "              │   with null_resource.converge-machine-node1,",
    ]);
    expect(p.unfinished()).toEqual(["machine-node1"]);
    expect(p.failure()).toEqual([
      "machine-node1 failed:",
      "  error: node1's root folder cannot be made",
      "    /work/.cluster/nodes: not a folder",
      "      fix: remove it",
    ]);
  });

  it("gives Terraform's own error when no stage ran (a synth or init error)", () => {
    const { p } = feed("deploy", [
      "dask-cluster  Initializing the backend...",
      "              ╷",
      "              │ Error: Failed to query available provider packages",
      "              │ Could not retrieve the list of available versions for provider hashicorp/null",
      "              ╵",
    ]);
    expect(p.failure()).toEqual([
      "│ Error: Failed to query available provider packages",
      "│ Could not retrieve the list of available versions for provider hashicorp/null",
    ]);
  });
});
