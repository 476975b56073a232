// Mutual TLS material: a CA, a certificate per node (its private IP in the SAN) and one
// for clients, generated into .cluster/tls (0600) and copied to the nodes. Keys never
// enter Terraform state: triggers hold only names and addresses.
import type { Construct } from "constructs";

import { sizeless, type ClusterRef } from "../../provision/core/stage-spec.js";
import { StageResource } from "./stage-resource.js";
import type { Machine } from "./machine.js";
import type { ClusterConfig } from "../../provision/core/config-schema.js";

export interface TlsMaterialProps {
  /** The cluster whose nodes get certificates. */
  readonly cluster: ClusterRef;
  /** dask.tls decides whether there is anything to make. */
  readonly dask: ClusterConfig["dask"];
  /**
   * Every node: the material is copied once they exist (only ordered: a node re-made alone gets its copy from its
   * worker stage).
   */
  readonly machines: readonly Machine[];
}

export class TlsMaterial extends StageResource {
  constructor(scope: Construct, id: string, props: TlsMaterialProps) {
    super(scope, id, {
      // The nodes' identity, not their size: resizing one must not make a new CA (and with
      // it restart the scheduler and every worker).
      spec: {
        stage: "tls",
        cluster: { ...props.cluster, head: sizeless(props.cluster.head), nodes: props.cluster.nodes.map(sizeless) },
        dask: props.dask,
      },
      after: props.machines,
    });
  }
}
