// The command every null_resource provisioner runs, without a shell on every OS:
// `node provision/launch.mjs provision/stage.ts apply|destroy` with the stage's spec (its
// triggers.spec) in DVC_SPEC. It always runs, whatever path or link the checkout is
// reached through, and exits 0 only when the stage did its work.
// With DVC_STAGE_TIMES set (npm run bench:deploy sets it), it appends one JSON line to that
// file: which stage, when its process started, when its work began and ended, and whether
// it succeeded (bench/stage-times.ts).
import { runCli } from "./core/errors.js";
import { recordStageTime } from "./bench/stage-times.js";
import { runStage } from "./stages/index.js";

const resource = process.env.DVC_RESOURCE;
const action = process.argv[2] ?? "";
const began = Date.now();
await runCli(() =>
  runStage(
    action,
    process.env.DVC_SPEC,
    process.env.DVC_EXPECT,
    undefined,
    undefined,
    resource ? { resource, observed: process.env.DVC_OBSERVED } : undefined,
  ),
);
recordStageTime(process.env, {
  resource: resource ?? "",
  action,
  processStart: performance.timeOrigin,
  began,
  ended: Date.now(),
  ok: process.exitCode === 0,
});
