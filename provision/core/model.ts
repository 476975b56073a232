// The model every layer shares: a node, the resolved cluster, and what the cluster needs of
// this computer. Types only, derived from the one description of cluster.config.json
// (config-schema.ts, here in core/); config/resolve.ts makes them from a config file, and
// every layer reads them. Here, below the providers, so that config and machines can both
// use them without importing each other back (the circle they once made).
import type { ClusterConfig } from "./config-schema.js";
import type { Cidr } from "./ipv4.js";

export interface NodeSpec {
  /** node1..nodeN */
  readonly name: string;
  /** 1-based position; node 1 runs the scheduler. */
  readonly index: number;
  readonly ip: string;
  readonly cpus: number;
  readonly memoryMb: number;
  /** Dask worker threads on this node. */
  readonly threads: number;
  /** Dask worker memory limit in MiB. */
  readonly memoryLimitMb: number;
  /** Provider ssh: how to reach this machine and where the runtime goes on it. */
  readonly ssh?: NodeSsh;
}

/** A machine of provider ssh, resolved: absolute paths, defaults filled in. */
export interface NodeSsh {
  readonly address: string;
  readonly user: string;
  readonly port: number;
  /** Absolute path of the private key; absent: ssh's own keys and agent. */
  readonly identityFile?: string;
  /** Absolute path of the known_hosts file the host's key must be in. */
  readonly knownHosts: string;
  /** Absolute folder of the runtime on the host. */
  readonly root: string;
  readonly serviceManager: ClusterConfig["ssh"]["serviceManager"];
  readonly sudo: boolean;
}

export interface Cluster {
  readonly config: ClusterConfig;
  /**
   * The config file this cluster was read from (absolute; it need not exist: all defaults).
   * runtime.packages are locked beside it (runtime/packages.ts).
   */
  readonly configFile: string;
  /** name plus a short hash of the project folder: unique per checkout on one host. */
  readonly id: string;
  readonly projectDir: string;
  /** <project>/.cluster: generated files, keys, logs, local node roots, state. */
  readonly clusterDir: string;
  readonly nodes: readonly NodeSpec[];
  readonly subnet: Cidr;
  /** tls://ip:port or tcp://ip:port on node 1. */
  readonly schedulerAddress: string;
  readonly dashboardUrl: string;
}

export type BoxConfig = ClusterConfig["box"];

/** What the cluster needs of the host and its nodes, for the checks. */
export interface HostNeeds {
  readonly box: BoxConfig;
  /** runtime.python, major.minor. */
  readonly python: string;
  /** runtime.platform: the nodes' CPU architecture. */
  readonly platform: ClusterConfig["runtime"]["platform"];
  /** The Dask settings (ports a node's services take), where the checks look at the nodes themselves (ssh). */
  readonly dask?: ClusterConfig["dask"];
}
