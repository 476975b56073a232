// Mutual TLS material: a CA, a certificate per node (its private IP in the SAN) and one
// for clients, generated into .cluster/tls (0600) and copied to the nodes. Keys never
// enter Terraform state: triggers hold only names and addresses.
import type { Construct } from "constructs";
import type { ClusterConfig } from "../../provision/lib/config.js";
import type { ClusterRef } from "../../provision/lib/spec.js";
import { StageResource } from "./stage-resource.js";
import type { Machine } from "./machine.js";

export interface TlsMaterialProps {
  /** The cluster whose nodes get certificates. */
  readonly cluster: ClusterRef;
  /** dask.tls decides whether there is anything to make. */
  readonly dask: ClusterConfig["dask"];
  /** Every node; a new node needs its material copied again. */
  readonly machines: readonly Machine[];
}

export class TlsMaterial extends StageResource {
  constructor(scope: Construct, id: string, props: TlsMaterialProps) {
    super(scope, id, {
      spec: { stage: "tls", cluster: props.cluster, dask: props.dask },
      upstream: Object.fromEntries(props.machines.map((m, k) => [`machine_${k + 1}`, m])),
    });
  }
}
