// The one stack, "dask-cluster": every stage of design.md as a construct, ordered by
// depends_on, with outputs a user needs after `cdktf deploy`.
import type { Construct } from "constructs";
import { LocalBackend, TerraformOutput, TerraformStack } from "cdktf";
import { provider } from "@cdktf/provider-null";
import path from "node:path";

import { clusterRefOf, type ClusterRef, type RuntimeRef } from "../provision/core/stage-spec.js";
import { CAPABILITIES } from "../provision/machines/registry.js";
import { NODE_BINARY_CONTEXT, OBSERVED_CONTEXT } from "./constructs/stage-resource.js";
import { Preflight } from "./constructs/preflight.js";
import { PrivateNetwork } from "./constructs/network.js";
import { Box } from "./constructs/box.js";
import { Machine } from "./constructs/machine.js";
import { Bundle } from "./constructs/bundle.js";
import { Install } from "./constructs/install.js";
import { VersionGate } from "./constructs/version-gate.js";
import { TlsMaterial } from "./constructs/tls.js";
import { Scheduler } from "./constructs/scheduler.js";
import { Worker } from "./constructs/worker.js";
import { Benchmark } from "./constructs/benchmark.js";
import type { Cluster, NodeSpec } from "../provision/core/model.js";

export const STACK_NAME = "dask-cluster";

// hashicorp/null versions this stack works with (provision/host/toolchain.ts): we use only
// null_resource with triggers, the same in 2.x and 3.x, and the build from the Go module
// proxy where the registry is unreachable is 2.2.0.
import { NULL_PROVIDER_CONSTRAINT } from "../provision/host/toolchain.js";

export interface DaskClusterStackProps {
  /** The validated, frozen cluster from cluster.config.json. */
  readonly cluster: Cluster;
  /** Target Python and the content hashes of the runtime lock and sources. */
  readonly runtime: RuntimeRef;
  /** Absolute path of the node binary Terraform starts every stage with (the synth's own, from stacks/main.ts). */
  readonly nodeBinary: string;
  /**
   * What the plan observed, by stage resource name (state/observe.ts): the converge resources' `observed` triggers.
   * Default: every stage's first apply.
   */
  readonly observed?: ReadonlyMap<string, string>;
}

export class DaskClusterStack extends TerraformStack {
  constructor(scope: Construct, id: string, props: DaskClusterStackProps) {
    super(scope, id);
    const { cluster, runtime } = props;
    this.node.setContext(NODE_BINARY_CONTEXT, props.nodeBinary);
    this.node.setContext(OBSERVED_CONTEXT, Object.fromEntries(props.observed ?? []));
    const { config } = cluster;

    new provider.NullProvider(this, "null");
    this.addOverride("terraform.required_providers.null.source", "hashicorp/null");
    this.addOverride("terraform.required_providers.null.version", NULL_PROVIDER_CONSTRAINT);
    new LocalBackend(this, { path: path.join(cluster.clusterDir, "terraform.tfstate") });

    const ref = (nodes: readonly NodeSpec[]): ClusterRef => clusterRefOf(cluster, nodes);
    const all = ref(cluster.nodes);
    const one = (n: NodeSpec) => ref([n]);

    const preflight = new Preflight(this, "preflight", { cluster: all, box: config.box, runtime, dask: config.dask });
    const network = new PrivateNetwork(this, "network", { cluster: ref([]), preflight });
    const box = new Box(this, "box", { cluster: all, box: config.box, network });

    // A provider that cannot create machines in parallel (VirtualBox: box import and port
    // 2222 races) gets them chained; libvirt and local create them in parallel.
    const serial = !CAPABILITIES[config.provider].parallelMachines;
    const machines: Machine[] = [];
    for (const node of cluster.nodes) {
      machines.push(
        new Machine(this, `machine-${node.name}`, {
          cluster: one(node),
          node: node.name,
          boxConfig: config.box,
          box,
          network,
          previous: serial ? machines.at(-1) : undefined,
          python: runtime.python,
        }),
      );
    }

    const bundle = new Bundle(this, "bundle", { cluster: ref([]), runtime, preflight });
    const installs = cluster.nodes.map(
      (node, i) =>
        new Install(this, `install-${node.name}`, {
          cluster: one(node),
          node: node.name,
          runtime,
          machine: machines[i]!,
          bundle,
        }),
    );
    const gate = new VersionGate(this, "version-gate", { cluster: all, runtime, installs });
    const tls = new TlsMaterial(this, "tls", { cluster: all, dask: config.dask, machines });
    const scheduler = new Scheduler(this, "scheduler", {
      cluster: one(cluster.nodes[0]!),
      dask: config.dask,
      gate,
      tls,
      install: installs[0]!,
    });
    const workers = cluster.nodes.map(
      (node, i) =>
        new Worker(this, `worker-${node.name}`, {
          cluster: one(node),
          node: node.name,
          dask: config.dask,
          scheduler,
          install: installs[i]!,
          gate,
        }),
    );
    if (config.benchmark.onDeploy) {
      new Benchmark(this, "benchmark", { cluster: all, benchmark: config.benchmark, dask: config.dask, workers });
    }

    new TerraformOutput(this, "scheduler_address", {
      value: cluster.schedulerAddress,
      description:
        "Connect a dask.distributed Client here (with the client certificate in .cluster/tls when TLS is on).",
    });
    new TerraformOutput(this, "dashboard_url", {
      value: cluster.dashboardUrl,
      description: "The scheduler's dashboard.",
    });
    new TerraformOutput(this, "node_ips", {
      value: Object.fromEntries(cluster.nodes.map((n) => [n.name, n.ip])),
      description: "Private IP of every node.",
    });
    new TerraformOutput(this, "results_dir", {
      value: path.join(cluster.projectDir, "results", "latest"),
      description: "The newest benchmark results.",
    });
  }
}
