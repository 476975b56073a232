// The CDK for Terraform app: reads and validates the cluster config (CLUSTER_CONFIG or
// ./cluster.config.json), hashes the runtime lock and sources, and builds the one stack.
// Bad config stops here, before Terraform creates anything, with exit code 2.
import { App } from "cdktf";
import { loadCluster } from "../provision/lib/config.js";
import { runtimeHashes } from "../provision/lib/bundle.js";
import { runCli } from "../provision/lib/errors.js";
import { PROJECT_DIR } from "../provision/lib/paths.js";
import { DaskClusterStack, STACK_NAME } from "./dask-cluster-stack.js";

await runCli(async () => {
  const cluster = loadCluster({ projectDir: PROJECT_DIR });
  const { platform, python } = cluster.config.runtime;
  const runtime = { python, platform, ...runtimeHashes(PROJECT_DIR, platform) };
  const app = new App();
  new DaskClusterStack(app, STACK_NAME, { cluster, runtime, nodeBinary: process.execPath });
  app.synth();
});
