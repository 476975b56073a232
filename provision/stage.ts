// The command every null_resource provisioner runs, without a shell on every OS:
// `node --import tsx provision/stage.ts apply|destroy` with the stage's spec (its
// triggers.spec) in DVC_SPEC. It always runs, whatever path or link the checkout is
// reached through, and exits 0 only when the stage did its work.
import { runCli } from "./lib/errors.js";
import { runStage } from "./stages/index.js";

const resource = process.env.DVC_RESOURCE;
await runCli(() => runStage(process.argv[2] ?? "", process.env.DVC_SPEC, process.env.DVC_EXPECT, undefined, undefined, resource ? { resource, observed: process.env.DVC_OBSERVED } : undefined));
