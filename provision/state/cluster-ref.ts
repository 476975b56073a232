// For CLIs: the ClusterRef and RuntimeRef of a loaded config, and what the operator
// commands act on: the cluster deployed from this checkout (Terraform's state), its
// provider on this host, and a node named on the command line.

import { loadCluster } from "../config/resolve.js";
import { runtimeOfCluster } from "../runtime/packages.js";
import { requireDeployed, type Deployed } from "./deployed.js";
import { badInput } from "../core/errors.js";
import { realHost, type Host } from "../host/host.js";
import { PROJECT_DIR } from "../host/paths.js";
import { providerFor } from "../machines/registry.js";
import type { MachineProvider } from "../machines/provider.js";
import type { ClusterRef, RuntimeRef } from "../core/stage-spec.js";
import type { Cluster, NodeSpec } from "../core/model.js";

/**
 * The runtime of a config as it stands (with runtime.packages, their lock must be current: see runtime/packages.ts).
 */
export function runtimeRefOf(cluster: Cluster): RuntimeRef {
  return runtimeOfCluster(cluster);
}

export interface OperatorContext {
  /** The checkout's config (where its files are; what the next deploy would make). */
  readonly config: Cluster;
  /** What is deployed: the cluster the command acts on. */
  readonly deployed: Deployed;
  readonly host: Host;
  readonly provider: MachineProvider;
}

/** The deployed cluster of this checkout, with its provider; bad input when nothing is deployed. */
export function operatorContext(projectDir = PROJECT_DIR, env: NodeJS.ProcessEnv = process.env): OperatorContext {
  const config = loadCluster({ projectDir, env });
  const deployed = requireDeployed(config);
  const host = realHost();
  return { config, deployed, host, provider: providerFor(deployed.cluster.provider, host) };
}

/** A node named on a command line; bad input lists the allowed names. */
export function nodeByName(ref: ClusterRef, name: string, flag = "node"): NodeSpec {
  const node = ref.nodes.find((n) => n.name === name);
  if (!node) {
    throw badInput(`no node named "${name}"`, [
      {
        path: flag,
        message: `"${name}" is not a node of cluster ${ref.id}`,
        fix: `use one of: ${ref.nodes.map((n) => n.name).join(", ")}`,
      },
    ]);
  }
  return node;
}
