// The specs the real stack synthesizes for a config: each stage's triggers.spec, and what
// the apply provisioner of its converge resource expects (DVC_EXPECT), by stage name. Tests run stages
// with exactly what Terraform would hand them.
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { type App, Testing } from "cdktf";
import { runtimeRef } from "../../provision/runtime/bundle.js";

import { CONVERGE_PREFIX } from "../../provision/state/observe.js";
import type { RuntimeRef, StageSpec } from "../../provision/core/stage-spec.js";
import type { StageExpectations } from "../../provision/stages/stage-types.js";
import { DaskClusterStack } from "../../stacks/dask-cluster-stack.js";
import { REPO } from "./project.js";
import type { Cluster } from "../../provision/core/model.js";

export type StackSpecs = Map<string, { spec: StageSpec; expect: StageExpectations; interpreter: string[] }>;

/** The runtime of this checkout's x86_64 lock, as stacks/main.ts hashes it. */
export function repoRuntime(): RuntimeRef {
  return runtimeRef(REPO, "3.11", "x86_64");
}

export function stackSpecs(
  cluster: Cluster,
  runtime: RuntimeRef = repoRuntime(),
  nodeBinary = process.execPath,
): StackSpecs {
  const outdir = mkdtempSync(path.join(os.tmpdir(), "dvc-stack-specs-"));
  try {
    const app = Testing.app({ outdir });
    const stack = new DaskClusterStack(app as App, "dask-cluster", { cluster, runtime, nodeBinary });
    type Exec = { environment: Record<string, string>; when?: string; interpreter: string[] };
    const tf = JSON.parse(Testing.synth(stack)) as {
      resource: {
        null_resource: Record<string, { triggers: { spec: string }; provisioner?: Array<{ "local-exec": Exec }> }>;
      };
    };
    const all = tf.resource.null_resource;
    return new Map(
      Object.entries(all)
        .filter(([name]) => !name.startsWith(CONVERGE_PREFIX))
        .map(([name, r]) => {
          const apply = all[`${CONVERGE_PREFIX}${name}`]!.provisioner!.find((p) => !p["local-exec"].when)![
            "local-exec"
          ];
          const expect = apply.environment.DVC_EXPECT
            ? (JSON.parse(apply.environment.DVC_EXPECT) as StageExpectations)
            : {};
          return [name, { spec: JSON.parse(r.triggers.spec) as StageSpec, expect, interpreter: apply.interpreter }];
        }),
    );
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}
