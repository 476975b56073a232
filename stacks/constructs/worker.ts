// A Dask worker (with its nanny) on one node, bound to the node's private IP and pointed
// at the scheduler's private address, with explicit threads and memory limit.
import type { Construct } from "constructs";

import type { ClusterRef } from "../../provision/core/stage-spec.js";
import { StageResource } from "./stage-resource.js";
import type { Scheduler } from "./scheduler.js";
import type { Install } from "./install.js";
import type { VersionGate } from "./version-gate.js";
import type { ClusterConfig } from "../../provision/core/config-schema.js";

export interface WorkerProps {
  /** The cluster the node belongs to. */
  readonly cluster: ClusterRef;
  /** The node's name. */
  readonly node: string;
  /** Ports, TLS and limits. */
  readonly dask: ClusterConfig["dask"];
  /** The scheduler to join; a new scheduler means new workers. */
  readonly scheduler: Scheduler;
  /** This node's runtime: a new install (a new bundle, the node re-made) restarts its worker, and no other. */
  readonly install: Install;
  /** The version gate, which re-checks the nodes after any install: only ordered. */
  readonly gate: VersionGate;
}

export class Worker extends StageResource {
  constructor(scope: Construct, id: string, props: WorkerProps) {
    super(scope, id, {
      spec: { stage: "worker", cluster: props.cluster, node: props.node, dask: props.dask },
      after: [props.gate],
      upstream: { scheduler: props.scheduler, install: props.install },
    });
  }
}
