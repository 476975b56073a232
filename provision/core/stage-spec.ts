// What each stage receives. The stack serialises a StageSpec into the null_resource's
// triggers (so a change of input re-provisions exactly the stages it concerns, and the
// destroy-time provisioner has everything it needs from self.triggers), and
// provision/stage.ts parses it back. Only stable values: no timestamps, no random ids.

import type { ProviderName, ClusterConfig } from "./config-schema.js";
import type { Cluster, NodeSpec } from "./model.js";

export const STAGES = [
  "preflight",
  "network",
  "box",
  "machine",
  "bundle",
  "install",
  "version-gate",
  "tls",
  "scheduler",
  "worker",
  "benchmark",
] as const;
export type StageName = (typeof STAGES)[number];

/** Who the cluster is; enough to find its nodes and files from a destroy provisioner. */
export interface ClusterRef {
  readonly id: string;
  readonly provider: ProviderName;
  readonly projectDir: string;
  readonly clusterDir: string;
  /** Subnet in CIDR form: every provider needs it. */
  readonly subnet: string;
  /** Node 1: it runs the scheduler and the benchmark client. */
  readonly head: NodeSpec;
  /**
   * The nodes this stage concerns, and no others: a per-node stage sees only its node, so
   * adding node4 changes no trigger of node1..node3.
   */
  readonly nodes: readonly NodeSpec[];
}

export interface RuntimeRef {
  readonly python: string;
  readonly platform: ClusterConfig["runtime"]["platform"];
  /** sha256 of cluster-runtime/requirements-<platform>.lock */
  readonly lockSha256: string;
  /** sha256 of the runtime package and service files (cluster-runtime/, minus the lock) */
  readonly sourceSha256: string;
  /**
   * With runtime.packages: the lock of the runtime and those packages (runtime/packages.ts),
   * relative to the project folder, with forward slashes; lockSha256 is its hash. Absent:
   * the runtime's own cluster-runtime/requirements-<platform>.lock.
   */
  readonly lock?: string;
  /** runtime.packages as configured, sorted; absent when there are none. */
  readonly packages?: readonly string[];
}

export interface StageSpec {
  readonly stage: StageName;
  readonly cluster: ClusterRef;
  /** The node a per-node stage (machine, install, worker) acts on. */
  readonly node?: string;
  readonly box?: ClusterConfig["box"];
  readonly runtime?: RuntimeRef;
  readonly dask?: ClusterConfig["dask"];
  readonly benchmark?: ClusterConfig["benchmark"];
}

/** Stable JSON: keys sorted, so two synths of one config give byte-identical triggers. */
export function stableJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)))
      : v,
  );
}

export function nodeOf(spec: StageSpec): NodeSpec {
  const node = spec.cluster.nodes.find((n) => n.name === spec.node);
  if (!node)
    throw new Error(
      `stage ${spec.stage}: node ${spec.node ?? "(none)"} is not in the cluster (${spec.cluster.nodes.map((n) => n.name).join(", ")})`,
    );
  return node;
}

/** The stage's Dask settings (scheduler, worker, TLS): every service stage has them. */
export function daskOf(spec: StageSpec): NonNullable<StageSpec["dask"]> {
  if (!spec.dask) throw new Error(`stage ${spec.stage} has no dask settings in its spec`);
  return spec.dask;
}

/** The stage's runtime (Python, platform, lock hashes). */
export function runtimeOf(spec: StageSpec): NonNullable<StageSpec["runtime"]> {
  if (!spec.runtime) throw new Error(`stage ${spec.stage} has no runtime in its spec`);
  return spec.runtime;
}

/** The stage's box; none for providers without one (local): empty name, version and url. */
export function boxOf(spec: StageSpec): ClusterConfig["box"] {
  return spec.box ?? { name: "", version: "", url: "" };
}

/**
 * A node as a stage that must not change with the node's size sees it: its identity (name,
 * address, how to reach it) with cpus, memory, threads and memory limit left out (0). The
 * TLS material's spec: resizing a node must not make new certificates, which would restart
 * every service of the cluster.
 */
export function sizeless(n: NodeSpec): NodeSpec {
  return { ...n, cpus: 0, memoryMb: 0, threads: 0, memoryLimitMb: 0 };
}

/** The ClusterRef of a loaded config, with the nodes a stage concerns (all of them by default). */
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
