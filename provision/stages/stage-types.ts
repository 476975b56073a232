// What every stage is: apply (and, when it has something to undo, destroy) over an
// injected context, so a test runs any stage against a fake host, provider and transport
// (test/helpers/fake-host.ts) and provision/stage.ts runs it for Terraform.
import type { Host } from "../host/host.js";
import type { Log } from "../core/log.js";
import type { MachineProvider } from "../machines/provider.js";
import type { StageName, StageSpec } from "../core/stage-spec.js";

/**
 * What a stage checks but must not be replaced for (not in its triggers): the apply
 * provisioner passes them in DVC_EXPECT. A change of runtime.python must not re-create the
 * machines, yet each machine stage checks the box has that Python.
 */
export interface StageExpectations {
  /** runtime.python, major.minor: the machine stage checks the node has it (with venv). */
  readonly python?: string;
}

export interface StageContext {
  readonly spec: StageSpec;
  readonly host: Host;
  readonly provider: MachineProvider;
  readonly expect: StageExpectations;
  readonly log: Log;
}

export interface Stage {
  readonly name: StageName;
  apply(ctx: StageContext): Promise<void>;
  /** Absent when destroy has nothing of its own to undo (checks, host caches, kept results). */
  destroy?(ctx: StageContext): Promise<void>;
}
