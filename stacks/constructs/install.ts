// Installs the bundle on one node, offline, into a venv (--no-index --require-hashes).
// Replaced when the node or the bundle is. No destroy of its own: the next install
// replaces the venv atomically and removes the old one, and the machine's destroy
// removes everything on the node.
import type { Construct } from "constructs";
import type { ClusterRef, RuntimeRef } from "../../provision/core/stage-spec.js";
import { StageResource } from "./stage-resource.js";
import type { Bundle } from "./bundle.js";
import type { Machine } from "./machine.js";

export interface InstallProps {
  /** The cluster the node belongs to. */
  readonly cluster: ClusterRef;
  /** The node's name. */
  readonly node: string;
  /** Target Python and platform, checked on the node. */
  readonly runtime: RuntimeRef;
  /** The node to install on. */
  readonly machine: Machine;
  /** The bundle to install. */
  readonly bundle: Bundle;
}

export class Install extends StageResource {
  constructor(scope: Construct, id: string, props: InstallProps) {
    super(scope, id, {
      spec: { stage: "install", cluster: props.cluster, node: props.node, runtime: props.runtime },
      upstream: { machine: props.machine, bundle: props.bundle },
      undo: false,
    });
  }
}
