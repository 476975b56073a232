// The machine layer: the only code that differs between virtualbox, libvirt and local.
// Everything above it (bundle, install, gate, TLS, services, benchmark) talks to nodes
// through the Transport a provider hands out.
import type { ClusterConfig, NodeSpec } from "../config.js";
import type { ClusterRef } from "../spec.js";
import type { Transport } from "../transport.js";

export type BoxConfig = ClusterConfig["box"];

export interface MachineProvider {
  /** Host prerequisites for this provider; throws UserError naming what is missing and how to get it. */
  preflight(cluster: ClusterRef, box: BoxConfig): Promise<void>;
  /** Creates the private network the nodes share (idempotent). */
  createNetwork(cluster: ClusterRef): Promise<void>;
  /** Removes it; succeeds when it is already gone. */
  destroyNetwork(cluster: ClusterRef): Promise<void>;
  /** Makes the base image available once, before any machine, and writes the machine list. */
  prepareBox(cluster: ClusterRef, box: BoxConfig): Promise<void>;
  /** Undoes prepareBox (the box itself stays in the user's Vagrant cache). */
  removeBox(cluster: ClusterRef, box: BoxConfig): Promise<void>;
  /** Creates one node and makes its transport usable (idempotent). */
  createMachine(cluster: ClusterRef, node: NodeSpec): Promise<void>;
  /**
   * Whether the node createMachine made is there (local only, for now). Terraform can
   * record a machine stage as created while its provisioner is still running (a state
   * snapshot taken mid-apply); a deploy killed right then leaves a "created" node that
   * does not exist, and the stages after it ask this before they rely on it.
   */
  machineExists?(cluster: ClusterRef, node: NodeSpec): Promise<boolean>;
  /** Removes one node and everything on it; succeeds when it is already gone. */
  destroyMachine(cluster: ClusterRef, node: NodeSpec): Promise<void>;
  /** How stages reach a created node (its slowness says how long to wait for it). */
  transport(cluster: ClusterRef, node: NodeSpec): Transport;
}
