// The CDK for Terraform app: reads and validates the cluster config (CLUSTER_CONFIG or
// ./cluster.config.json), hashes the runtime lock and sources, and builds the one stack.
// Bad config stops here, before Terraform creates anything, with exit code 2. Then it
// makes sure Terraform can get hashicorp/null (host/toolchain.ts), from a classroom kit when
// one is in use (runtime/kit.ts). runtime.packages are
// locked here when their lock is missing or stale (runtime/packages.ts), so a package the
// nodes cannot install is refused before anything changes. When something is
// deployed, it first looks at what is really there (state/observe.ts): the stages whose
// outcome is gone get a new `observed` trigger, so the plan lists them as repairs.
import { existsSync } from "node:fs";
import path from "node:path";
import { App } from "cdktf";
import { loadCluster } from "../provision/config/resolve.js";
import { runCli, UserError } from "../provision/core/errors.js";
import { realHost } from "../provision/host/host.js";
import { consoleLog } from "../provision/core/log.js";
import { stateFile } from "../provision/state/deployed.js";
import { ensureRuntime } from "../provision/runtime/packages.js";
import { observeCluster, recordedObservations, type Observation } from "../provision/state/observe.js";
import { PROJECT_DIR } from "../provision/host/paths.js";
import { providerFor } from "../provision/machines/registry.js";
import { ensureStackProviders } from "../provision/host/toolchain.js";
import { kitInUse, takeFromKit, type KitUse } from "../provision/runtime/kit.js";
import { DaskClusterStack, STACK_NAME } from "./dask-cluster-stack.js";

await runCli(async () => {
  const host = realHost();
  // The stage runner compiled while this synth runs (provision/launch.mjs), so the stages
  // Terraform starts together find it ready.
  const stageRunner = host.run(
    [process.execPath, path.join(PROJECT_DIR, "provision", "launch.mjs"), "--prepare", "provision/stage.ts"],
    { cwd: PROJECT_DIR },
  );
  const cluster = loadCluster({ projectDir: PROJECT_DIR, host });
  let runtime: Awaited<ReturnType<typeof ensureRuntime>>;
  try {
    runtime = await ensureRuntime(cluster, host, consoleLog);
  } catch (err) {
    // Every cdktf verb synthesizes first, destroy too: say how to get out of a cluster
    // whose config now names packages that cannot be locked here.
    if (err instanceof UserError && existsSync(stateFile(cluster.clusterDir)))
      throw new UserError(err.message, err.exitCode, [
        ...err.problems,
        {
          path: "/runtime/packages",
          message: "cdktf destroy reads the config too",
          fix: "to destroy the deployed cluster meanwhile, undo the change to runtime.packages (its lock from the last deploy is still current)",
        },
      ]);
    throw err;
  }
  // A classroom kit (DVC_KIT, or npm run kit -- use): what the deploy needs, from it into the cache.
  // A kit no longer there (a USB drive taken out) does not stop a destroy: the cache holds
  // what the deploy took from it; a deploy then fetches what the cache lacks.
  let kitDir = kitInUse(host.env, PROJECT_DIR);
  if (kitDir && !existsSync(kitDir)) {
    host.warn(`the kit at ${kitDir} is not there (DVC_KIT, or npm run kit -- use): going on with what the cache holds`);
    kitDir = undefined;
  }
  const kit: KitUse | undefined = kitDir
    ? await takeFromKit(kitDir, { cluster, runtime, host, log: consoleLog })
    : undefined;
  let seen: Observation;
  try {
    seen = await observeCluster(cluster.clusterDir, (name) => providerFor(name, host));
  } catch (err) {
    // Looking is read-only and best effort: without it the plan is what the state says.
    host.warn(
      `could not observe the deployed cluster (${(err as Error).message.split("\n")[0]}): the plan trusts Terraform's state alone`,
    );
    seen = { values: recordedObservations(stateFile(cluster.clusterDir)), repairs: new Map() };
  }
  for (const [stage, why] of seen.repairs) consoleLog.step("observed", `${stage} will be applied again: ${why}`);
  const app = new App();
  new DaskClusterStack(app, STACK_NAME, { cluster, runtime, nodeBinary: process.execPath, observed: seen.values });
  app.synth();
  const prepared = await stageRunner;
  if (prepared.exitCode !== 0 || prepared.stderr.trim())
    host.warn(`preparing the stage runner: ${prepared.stderr.trim() || `exit ${prepared.exitCode}`}`);
  // Where the registry is unreachable, hashicorp/null from the cache, before terraform init.
  await ensureStackProviders(
    path.join(app.outdir, "stacks", STACK_NAME),
    host,
    consoleLog,
    kit && { hashes: kit.providerHashes, from: `the kit at ${kit.dir}` },
  );
});
