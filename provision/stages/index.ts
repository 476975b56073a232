// Stage implementations by name; each module exports apply(spec) and destroy(spec).
// runStage is what provision/stage.ts (Terraform's provisioners) calls.
import { badInput } from "../lib/errors.js";
import { step } from "../lib/log.js";
import { STAGES, type StageName, type StageSpec } from "../lib/spec.js";

export type StageAction = "apply" | "destroy";

export interface StageImpl {
  apply(spec: StageSpec): Promise<void>;
  destroy(spec: StageSpec): Promise<void>;
}

const modules: Record<StageName, () => Promise<StageImpl>> = {
  preflight: () => import("./machines.js").then((m) => m.preflight),
  network: () => import("./machines.js").then((m) => m.network),
  box: () => import("./machines.js").then((m) => m.box),
  machine: () => import("./machines.js").then((m) => m.machine),
  bundle: () => import("./runtime.js").then((m) => m.bundle),
  install: () => import("./runtime.js").then((m) => m.install),
  "version-gate": () => import("./runtime.js").then((m) => m.versionGate),
  tls: () => import("./services.js").then((m) => m.tls),
  scheduler: () => import("./services.js").then((m) => m.scheduler),
  worker: () => import("./services.js").then((m) => m.worker),
  benchmark: () => import("./services.js").then((m) => m.benchmark),
};

export function stageImpl(name: StageName): Promise<StageImpl> {
  return modules[name]();
}

/** Parses the action and the spec, runs the stage, and says so when it is done. */
export async function runStage(action: string, specJson: string | undefined): Promise<void> {
  if (action !== "apply" && action !== "destroy") {
    throw badInput(`unknown action "${action}"`, [{ path: "argv[2]", message: `"${action}" is not an action`, fix: "use apply or destroy" }]);
  }
  if (!specJson) throw badInput("DVC_SPEC is empty", [{ path: "DVC_SPEC", message: "no stage spec", fix: "this command is run by Terraform from the stack's null_resources; run cdktf deploy" }]);
  let spec: StageSpec;
  try {
    spec = JSON.parse(specJson) as StageSpec;
  } catch (err) {
    throw badInput("DVC_SPEC is not JSON", [{ path: "DVC_SPEC", message: (err as Error).message, fix: "run cdktf deploy: the stack writes the spec" }]);
  }
  if (!STAGES.includes(spec.stage)) {
    throw badInput(`unknown stage "${spec.stage}"`, [{ path: "DVC_SPEC.stage", message: `"${spec.stage}"`, fix: `one of: ${STAGES.join(", ")}` }]);
  }
  const impl = await stageImpl(spec.stage);
  await impl[action](spec);
  step(spec.node ? `${spec.stage} ${spec.node}` : spec.stage, `${action} complete`);
}
