// The Dask scheduler on node 1, bound to its private IP (never 0.0.0.0, never the NAT
// address), dashboard on the same IP; a systemd unit on VMs, a supervised process locally.
import type { Construct } from "constructs";
import type { ClusterConfig } from "../../provision/lib/config.js";
import type { ClusterRef } from "../../provision/lib/spec.js";
import { StageResource } from "./stage-resource.js";
import type { TlsMaterial } from "./tls-material.js";
import type { VersionGate } from "./version-gate.js";

export interface SchedulerProps {
  /** The cluster; its first node runs the scheduler. */
  readonly cluster: ClusterRef;
  /** Ports, TLS and limits. */
  readonly dask: ClusterConfig["dask"];
  /** No service starts before the versions are identical. */
  readonly gate: VersionGate;
  /** The certificates the scheduler serves with. */
  readonly tls: TlsMaterial;
}

export class Scheduler extends StageResource {
  constructor(scope: Construct, id: string, props: SchedulerProps) {
    const head = props.cluster.nodes[0]!.name;
    super(scope, id, {
      spec: { stage: "scheduler", cluster: props.cluster, node: head, dask: props.dask },
      upstream: { gate: props.gate, tls: props.tls },
    });
  }
}
