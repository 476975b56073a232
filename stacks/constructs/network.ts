// The private network the nodes share: a VirtualBox host-only network, an isolated
// libvirt network, or (local) a bridge in a namespace of its own. Destroy removes it.
import type { Construct } from "constructs";
import type { ClusterRef } from "../../provision/core/stage-spec.js";
import { StageResource } from "./stage-resource.js";
import type { Preflight } from "./preflight.js";

export interface PrivateNetworkProps {
  /** The cluster whose subnet this network carries. */
  readonly cluster: ClusterRef;
  /** Must have passed first. */
  readonly preflight: Preflight;
}

export class PrivateNetwork extends StageResource {
  constructor(scope: Construct, id: string, props: PrivateNetworkProps) {
    super(scope, id, { spec: { stage: "network", cluster: props.cluster }, after: [props.preflight] });
  }
}
