// The command every null_resource provisioner runs: `tsx provision/stage.ts apply|destroy`
// with the stage's spec (its triggers.spec) in DVC_SPEC. Dispatches to provision/stages/.
import { runCli, badInput } from "./lib/errors.js";
import { STAGES, type StageSpec } from "./lib/spec.js";
import { stageImpl } from "./stages/index.js";

export type StageAction = "apply" | "destroy";

export async function main(action: string, specJson: string | undefined): Promise<void> {
  if (action !== "apply" && action !== "destroy") {
    throw badInput(`unknown action "${action}"`, [{ path: "argv[2]", message: `"${action}" is not an action`, fix: "use apply or destroy" }]);
  }
  if (!specJson) throw badInput("DVC_SPEC is empty", [{ path: "DVC_SPEC", message: "no stage spec", fix: "this command is run by Terraform from the stack's null_resources; run cdktf deploy" }]);
  const spec = JSON.parse(specJson) as StageSpec;
  if (!STAGES.includes(spec.stage)) {
    throw badInput(`unknown stage "${spec.stage}"`, [{ path: "DVC_SPEC.stage", message: `"${spec.stage}"`, fix: `one of: ${STAGES.join(", ")}` }]);
  }
  const impl = await stageImpl(spec.stage);
  await impl[action](spec);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await runCli(() => main(process.argv[2] ?? "", process.env.DVC_SPEC));
}
