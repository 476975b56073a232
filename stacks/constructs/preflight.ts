// Preflight: checks the host before anything is created: the provider's tools and
// versions, root for the local provider, the subnet against host routes and VirtualBox's
// allowed ranges; for provider ssh, every host (reached, Python, bind address, ports,
// clock, disk). Its destroy does nothing.
import type { Construct } from "constructs";

import type { ClusterRef, RuntimeRef } from "../../provision/core/stage-spec.js";
import { StageResource } from "./stage-resource.js";
import type { ClusterConfig } from "../../provision/core/config-schema.js";

export interface PreflightProps {
  /** The cluster being checked. */
  readonly cluster: ClusterRef;
  /** The Vagrant box (VM providers); checked for a matching provider. */
  readonly box: ClusterConfig["box"];
  /**
   * Target Python and platform: the box, the host's Python (local) and the host's architecture are checked against
   * them.
   */
  readonly runtime: RuntimeRef;
  /** The Dask settings: the ports the services take, checked free on machines that are not ours (ssh). */
  readonly dask: ClusterConfig["dask"];
}

export class Preflight extends StageResource {
  constructor(scope: Construct, id: string, props: PreflightProps) {
    super(scope, id, {
      spec: { stage: "preflight", cluster: props.cluster, box: props.box, runtime: props.runtime, dask: props.dask },
      undo: false,
    });
  }
}
