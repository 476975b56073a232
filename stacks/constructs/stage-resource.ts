// One stage of the cluster as two null_resources:
// - `<stage>` holds what the stage is: its whole input (triggers.spec) and the ids of the
//   stages it builds on, so a change of input, or a new upstream stage, replaces it (and,
//   through the ids, what builds on it). Its destroy-time local-exec runs
//   provision/stage.ts destroy (when the stage has something to undo) from self.triggers.
// - `converge-<stage>` does the stage: its local-exec runs provision/stage.ts apply with
//   that spec. Its `observed` trigger is what the plan saw (state/observe.ts): a stage whose
//   outcome is gone (a VM powered off, a namespace lost with a reboot, a killed service, a
//   stage a killed deploy left half-done) gets a new value with the reason, so the plan
//   lists it as a replacement and the apply runs the stage again, without destroying
//   anything and without replacing the stages that build on it.
// Apart, a repair never runs a destroy provisioner (which would delete a machine that is
// only powered off) and never looks like a new input to the stages downstream.
import { Construct } from "constructs";
import { Token } from "cdktf";
import { resource } from "@cdktf/provider-null";
import { CONVERGE_PREFIX, FIRST_APPLY, OBSERVED_TRIGGER } from "../../provision/state/observe.js";
import { stableJson, type StageSpec } from "../../provision/core/stage-spec.js";
import type { StageExpectations } from "../../provision/stages/stage-types.js";

export interface StageResourceProps {
  /** Everything the stage script needs, serialised into triggers.spec. */
  readonly spec: StageSpec;
  /** Stages that must be applied first (and destroyed after this one). Default: none. */
  readonly after?: readonly StageResource[];
  /** Upstream stages whose replacement must replace this one, by trigger key. Default: none. */
  readonly upstream?: Readonly<Record<string, StageResource>>;
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
 * quoting of the project path, which may hold spaces or non-ASCII letters. Through
 * provision/launch.mjs: the stage runner compiled once (by the synth that planned it), so a
 * stage process starts in 0.2 s instead of tsx's 1 s.
 */
export function stageInterpreter(nodeBinary: string): string[] {
  return [nodeBinary, "provision/launch.mjs", "provision/stage.ts"];
}

/** Construct context key of the node binary the stages run with (set by the stack). */
export const NODE_BINARY_CONTEXT = "dask-vm-cluster:nodeBinary";
/** Construct context key of the `observed` values (state/observe.ts), by stage resource name. */
export const OBSERVED_CONTEXT = "dask-vm-cluster:observed";

export class StageResource extends Construct {
  /** What the stage is: its id goes into the triggers of the stages that build on it. */
  readonly resource: resource.Resource;
  /** What does it: the stages after this one are applied after it. */
  readonly converge: resource.Resource;

  constructor(scope: Construct, id: string, props: StageResourceProps) {
    super(scope, id);
    const triggers: Record<string, string> = {
      stage: props.spec.stage,
      project_dir: props.spec.cluster.projectDir,
      spec: stableJson(props.spec),
    };
    for (const [key, up] of Object.entries(props.upstream ?? {})) triggers[`${key}_id`] = up.resource.id;
    const upstream = [...(props.after ?? []), ...Object.values(props.upstream ?? {})];

    const nodeBinary = String(this.node.getContext(NODE_BINARY_CONTEXT));
    const observed = (this.node.tryGetContext(OBSERVED_CONTEXT) ?? {}) as Readonly<Record<string, string>>;

    this.resource = new resource.Resource(this, "resource", {
      triggers,
      dependsOn: upstream.map((u) => u.resource),
      // No provisioner at all where destroy has nothing to undo: Terraform's JSON syntax
      // refuses an empty provisioner list.
      ...(props.undo === false
        ? {}
        : {
            provisioners: [
              {
                type: "local-exec" as const,
                when: "destroy" as const,
                interpreter: stageInterpreter(nodeBinary),
                command: "destroy",
                workingDir: "${self.triggers.project_dir}",
                environment: { DVC_SPEC: "${self.triggers.spec}", DVC_RESOURCE: id },
              },
            ],
          }),
    });
    // Readable, stable addresses (null_resource.machine-node2) in plans and state:
    // the construct id is the resource name, so renaming one replaces real machines.
    this.resource.overrideLogicalId(id);

    const spec = Token.asString(this.resource.interpolationForAttribute("triggers.spec"));
    this.converge = new resource.Resource(this, "converge", {
      triggers: {
        [`${props.spec.stage.replace(/-/g, "_")}_id`]: this.resource.id,
        [OBSERVED_TRIGGER]: observed[id] ?? FIRST_APPLY,
      },
      dependsOn: [this.resource, ...upstream.map((u) => u.converge)],
      provisioners: [
        {
          type: "local-exec",
          interpreter: stageInterpreter(nodeBinary),
          command: "apply",
          workingDir: props.spec.cluster.projectDir,
          // DVC_OBSERVED: what this apply runs for; the stage records it once done (state/observe.ts).
          environment: {
            DVC_SPEC: spec,
            DVC_RESOURCE: id,
            DVC_OBSERVED: "${self.triggers.observed}",
            ...(props.expect ? { DVC_EXPECT: stableJson(props.expect) } : {}),
          },
        },
      ],
    });
    this.converge.overrideLogicalId(`${CONVERGE_PREFIX}${id}`);
  }
}
