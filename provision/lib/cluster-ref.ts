// For CLIs: the ClusterRef and RuntimeRef of the deployed cluster, from the same config
// the stack was synthesized from, and a Transport to each node.
import type { Cluster, NodeSpec } from "./config.js";
import { runtimeHashes } from "./bundle.js";
import { providerFor } from "./providers/index.js";
import type { ClusterRef, RuntimeRef } from "./spec.js";
import type { Transport } from "./transport.js";
import { badInput } from "./errors.js";

export function clusterRefOf(cluster: Cluster, nodes: readonly NodeSpec[] = cluster.nodes): ClusterRef {
  return {
    id: cluster.id,
    provider: cluster.config.provider,
    projectDir: cluster.projectDir,
    clusterDir: cluster.clusterDir,
    subnet: cluster.subnet.text,
    head: cluster.nodes[0]!,
    nodes,
  };
}

export function runtimeRefOf(cluster: Cluster): RuntimeRef {
  const { python, platform } = cluster.config.runtime;
  return { python, platform, ...runtimeHashes(cluster.projectDir, platform) };
}

export async function transportsOf(ref: ClusterRef): Promise<Transport[]> {
  const provider = await providerFor(ref.provider);
  return ref.nodes.map((n) => provider.transport(ref, n));
}

/** A node named on a command line; bad input lists the allowed names. */
export function nodeByName(cluster: Cluster, name: string, flag = "node"): NodeSpec {
  const node = cluster.nodes.find((n) => n.name === name);
  if (!node) {
    throw badInput(`no node named "${name}"`, [{ path: flag, message: `"${name}" is not a node of cluster ${cluster.id}`, fix: `use one of: ${cluster.nodes.map((n) => n.name).join(", ")}` }]);
  }
  return node;
}

/** The transport of one node of a loaded cluster. */
export async function transportOf(cluster: Cluster, node: NodeSpec): Promise<Transport> {
  return (await providerFor(cluster.config.provider)).transport(clusterRefOf(cluster), node);
}
