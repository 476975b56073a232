// The Dask scheduler on node 1, bound to its private IP (never 0.0.0.0, never the NAT
// address), dashboard on the same IP; a systemd unit on VMs, a supervised process locally.
import type { Construct } from "constructs";

import type { ClusterRef } from "../../provision/core/stage-spec.js";
import { StageResource } from "./stage-resource.js";
import type { TlsMaterial } from "./tls.js";
import type { VersionGate } from "./version-gate.js";
import type { Install } from "./install.js";
import type { ClusterConfig } from "../../provision/core/config-schema.js";

export interface SchedulerProps {
  /** The cluster; its first node runs the scheduler. */
  readonly cluster: ClusterRef;
  /** Ports, TLS and limits. */
  readonly dask: ClusterConfig["dask"];
  /** No service starts before the versions are identical. */
  readonly gate: VersionGate;
  /** The certificates the scheduler serves with. */
  readonly tls: TlsMaterial;
  /** Node 1's runtime: a new install (a new bundle, node 1 re-made) restarts the scheduler. */
  readonly install: Install;
}

export class Scheduler extends StageResource {
  constructor(scope: Construct, id: string, props: SchedulerProps) {
    const head = props.cluster.nodes[0]!.name;
    super(scope, id, {
      spec: { stage: "scheduler", cluster: props.cluster, node: head, dask: props.dask },
      // The gate only orders: it is re-checked (replaced) whenever any node's install is, and
      // that must not restart the scheduler, nor through it every worker.
      after: [props.gate],
      upstream: { tls: props.tls, install: props.install },
    });
  }
}
