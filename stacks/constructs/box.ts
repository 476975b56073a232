// The base image, made available once before any machine (VirtualBox box imports race
// when machines are created in parallel), and the machine list the Vagrantfile reads.
import type { Construct } from "constructs";

import type { ClusterRef } from "../../provision/core/stage-spec.js";
import { StageResource } from "./stage-resource.js";
import type { PrivateNetwork } from "./network.js";
import type { ClusterConfig } from "../../provision/core/config-schema.js";

export interface BoxProps {
  /** The cluster whose machines use the box. */
  readonly cluster: ClusterRef;
  /** Box name, version and optional URL from the config. */
  readonly box: ClusterConfig["box"];
  /** The network the machine list names. */
  readonly network: PrivateNetwork;
}

export class Box extends StageResource {
  constructor(scope: Construct, id: string, props: BoxProps) {
    super(scope, id, { spec: { stage: "box", cluster: props.cluster, box: props.box }, after: [props.network] });
  }
}
