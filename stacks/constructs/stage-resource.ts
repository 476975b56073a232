// One stage of the cluster as a null_resource: its local-exec runs provision/stage.ts
// apply, its destroy-time local-exec (when the stage has something to undo) runs
// provision/stage.ts destroy, and both read only
// self.triggers, which hold the stage's whole input (spec) and the ids of the stages it
// builds on, so replacing an upstream stage replaces this one too.
import { Construct } from "constructs";
import type { ITerraformDependable } from "cdktf";
import { resource } from "@cdktf/provider-null";
import { stableJson, type StageSpec } from "../../provision/lib/spec.js";
import type { StageExpectations } from "../../provision/lib/stage.js";

export interface StageResourceProps {
  /** Everything the stage script needs, serialised into triggers.spec. */
  readonly spec: StageSpec;
  /** Stages that must be applied first (and destroyed after this one). Default: none. */
  readonly after?: readonly ITerraformDependable[];
  /** Upstream stages whose replacement must replace this one, by trigger key. Default: none. */
  readonly upstream?: Readonly<Record<string, resource.Resource>>;
  /** What apply checks but must not replace the stage for (DVC_EXPECT, not a trigger). Default: nothing. */
  readonly expect?: StageExpectations;
  /**
   * Whether destroy has something to undo on its own. Checks (preflight, the version gate),
   * host caches (the bundle), kept results (benchmark) and what the machine's destroy
   * removes with it (the install) have none: no destroy provisioner, no process to start.
   * Default: true.
   */
  readonly undo?: boolean;
}

/**
 * How Terraform starts a stage: node itself as local-exec's interpreter, the action as its
 * last argument, in triggers.project_dir. No shell on any OS (on Windows local-exec would
 * otherwise run `cmd /C`, which cannot run node_modules/.bin/tsx, a sh script), and no
 * quoting of the project path, which may hold spaces or non-ASCII letters.
 */
export function stageInterpreter(nodeBinary: string): string[] {
  return [nodeBinary, "--import", "tsx", "provision/stage.ts"];
}

/** Construct context key of the node binary the stages run with (set by the stack). */
export const NODE_BINARY_CONTEXT = "dask-vm-cluster:nodeBinary";

export class StageResource extends Construct {
  /** The null_resource, for dependsOn and upstream ids of later stages. */
  readonly resource: resource.Resource;

  constructor(scope: Construct, id: string, props: StageResourceProps) {
    super(scope, id);
    const triggers: Record<string, string> = {
      stage: props.spec.stage,
      project_dir: props.spec.cluster.projectDir,
      spec: stableJson(props.spec),
    };
    for (const [key, up] of Object.entries(props.upstream ?? {})) triggers[`${key}_id`] = up.id;

    const nodeBinary = String(this.node.getContext(NODE_BINARY_CONTEXT));
    const provisioner = (action: "apply" | "destroy") => ({
      type: "local-exec" as const,
      interpreter: stageInterpreter(nodeBinary),
      command: action,
      workingDir: "${self.triggers.project_dir}",
      environment: { DVC_SPEC: "${self.triggers.spec}", ...(action === "apply" && props.expect ? { DVC_EXPECT: stableJson(props.expect) } : {}) },
      ...(action === "destroy" ? { when: "destroy" as const } : {}),
    });

    this.resource = new resource.Resource(this, "resource", {
      triggers,
      dependsOn: [...(props.after ?? []), ...Object.values(props.upstream ?? {})],
      provisioners: props.undo === false ? [provisioner("apply")] : [provisioner("apply"), provisioner("destroy")],
    });
    // Readable, stable addresses (null_resource.machine-node2) in plans and state:
    // the construct id is the resource name, so renaming one replaces real machines.
    this.resource.overrideLogicalId(id);
  }
}
