// Every stage by name, one module each, and runStage: what provision/stage.ts (Terraform's
// provisioners) runs. It builds the stage's context from the spec Terraform passes in
// DVC_SPEC, runs apply or destroy, and says so when the stage is done.
import { badInput } from "../core/errors.js";
import { forgetApplied, recordApplied } from "../state/observe.js";
import { realHost, type Host } from "../host/host.js";
import { consoleLog, type Log } from "../core/log.js";
import { providerFor } from "../machines/registry.js";
import { STAGES, type StageName, type StageSpec } from "../core/stage-spec.js";
import type { Stage, StageContext, StageExpectations } from "./stage-types.js";
import { benchmark } from "./benchmark.js";
import { box } from "./box.js";
import { bundle } from "./bundle.js";
import { install } from "./install.js";
import { machine } from "./machine.js";
import { network } from "./network.js";
import { preflight } from "./preflight.js";
import { scheduler } from "./scheduler.js";
import { tls } from "./tls.js";
import { versionGate } from "./version-gate.js";
import { worker } from "./worker.js";

export const STAGE_MODULES: Readonly<Record<StageName, Stage>> = {
  preflight,
  network,
  box,
  machine,
  bundle,
  install,
  "version-gate": versionGate,
  tls,
  scheduler,
  worker,
  benchmark,
};

function parseJson<T>(text: string, what: string): T {
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw badInput(`${what} is not JSON`, [
      { path: what, message: (err as Error).message, fix: "run cdktf deploy: the stack writes it" },
    ]);
  }
}

/** The context a stage runs with; runStage's caller gives the host, and thereby the provider. */
function stageContext(
  spec: StageSpec,
  host: Host,
  expect: StageExpectations = {},
  log: Log = consoleLog,
): StageContext {
  return { spec, host, provider: providerFor(spec.cluster.provider, host), expect, log };
}

/** Runs one stage's apply or destroy; a stage that did not do its work throws (the exit code is not 0). */
export async function runStage(
  action: string,
  specJson: string | undefined,
  expectJson = "",
  host: Host = realHost(),
  log: Log = consoleLog,
  /**
   * The stage's resource name (DVC_RESOURCE: machine-node2, scheduler) and, for an apply,
   * its converge resource's `observed` value (DVC_OBSERVED), recorded once the apply is done.
   */
  record: { readonly resource: string; readonly observed?: string } | undefined = undefined,
): Promise<void> {
  if (action !== "apply" && action !== "destroy") {
    throw badInput(`unknown action "${action}"`, [
      { path: "argv[2]", message: `"${action}" is not an action`, fix: "use apply or destroy" },
    ]);
  }
  if (!specJson)
    throw badInput("DVC_SPEC is empty", [
      {
        path: "DVC_SPEC",
        message: "no stage spec",
        fix: "this command is run by Terraform from the stack's null_resources; run cdktf deploy",
      },
    ]);
  const spec = parseJson<StageSpec>(specJson, "DVC_SPEC");
  if (!STAGES.includes(spec.stage)) {
    throw badInput(`unknown stage "${spec.stage}"`, [
      { path: "DVC_SPEC.stage", message: `"${spec.stage}"`, fix: `one of: ${STAGES.join(", ")}` },
    ]);
  }
  const stage = STAGE_MODULES[spec.stage];
  const ctx = stageContext(spec, host, expectJson ? parseJson<StageExpectations>(expectJson, "DVC_EXPECT") : {}, log);
  if (action === "apply") {
    await stage.apply(ctx);
    if (record?.observed !== undefined) recordApplied(spec.cluster.clusterDir, record.resource, record.observed);
  } else {
    await stage.destroy?.(ctx);
    if (record) forgetApplied(spec.cluster.clusterDir, record.resource);
  }
  log.step(spec.node ? `${spec.stage} ${spec.node}` : spec.stage, `${action} complete`);
}
