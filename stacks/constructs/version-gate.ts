// The version gate: every node must have the same Python, distributions and bundle as
// the lock says, or the deploy stops here, before any service starts.
import type { Construct } from "constructs";
import type { ClusterRef, RuntimeRef } from "../../provision/core/stage-spec.js";
import { StageResource } from "./stage-resource.js";
import type { Install } from "./install.js";

export interface VersionGateProps {
  /** The cluster whose nodes are compared. */
  readonly cluster: ClusterRef;
  /** The lock the nodes are compared against. */
  readonly runtime: RuntimeRef;
  /** Every node's install. */
  readonly installs: readonly Install[];
}

export class VersionGate extends StageResource {
  constructor(scope: Construct, id: string, props: VersionGateProps) {
    super(scope, id, {
      spec: { stage: "version-gate", cluster: props.cluster, runtime: props.runtime },
      upstream: Object.fromEntries(props.installs.map((i, k) => [`install_${k + 1}`, i])),
      undo: false,
    });
  }
}
