// One node: a VM (vagrant up) or, for the local provider, a network namespace with its
// private address and its own root folder. Destroy removes the node and all on it.
import type { Construct } from "constructs";
import type { ClusterRef } from "../../provision/core/stage-spec.js";
import { StageResource } from "./stage-resource.js";

import type { Box } from "./box.js";
import type { PrivateNetwork } from "./network.js";
import type { ClusterConfig } from "../../provision/core/config-schema.js";

export interface MachineProps {
  /** The cluster the node belongs to. */
  readonly cluster: ClusterRef;
  /** The node's name, e.g. node2. */
  readonly node: string;
  /** Box name and version: a different box means a new machine. */
  readonly boxConfig: ClusterConfig["box"];
  /** Imports the box and writes the machine list before any machine is made. */
  readonly box: Box;
  /** A new network means a new machine (its interface is on the old one). */
  readonly network: PrivateNetwork;
  /** The machine created just before this one, when the provider cannot create them in parallel. Default: none. */
  readonly previous?: StageResource;
  /** runtime.python: checked on the new node (not a trigger: a new Python needs no new machine). */
  readonly python: string;
}

export class Machine extends StageResource {
  constructor(scope: Construct, id: string, props: MachineProps) {
    super(scope, id, {
      spec: { stage: "machine", cluster: props.cluster, node: props.node, box: props.boxConfig },
      upstream: { network: props.network },
      after: [props.box, ...(props.previous ? [props.previous] : [])],
      expect: { python: props.python },
    });
  }
}
