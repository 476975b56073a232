// The machine layer: the only code that differs between virtualbox, libvirt, local and ssh.
// Everything above it (bundle, install, gate, TLS, services, benchmark) talks to nodes
// through the Transport a provider hands out, and asks a provider what it can do
// (capabilities) instead of which one it is.
import type { Server } from "node:net";
import type { CheckRow } from "../core/check-rows.js";

import type { ClusterRef } from "../core/stage-spec.js";
import type { Transport } from "./transport.js";
import type { ProviderName } from "../core/config-schema.js";
import type { BoxConfig, HostNeeds, NodeSpec } from "../core/model.js";

export interface ProviderCapabilities {
  /**
   * Whether machines may be created at the same time. VirtualBox may not: parallel
   * `vagrant up`s race for the box import and the forwarded ssh port 2222.
   */
  readonly parallelMachines: boolean;
  /**
   * Whether this host reaches the nodes' private IPs itself (VMs on a host network); the local provider's namespaces it
   * does not.
   */
  readonly hostReachesNodes: boolean;
  /** Whether each node takes its memory and a disk of its own (VMs), or shares the host's (namespaces). */
  readonly reservesResources: boolean;
  /**
   * Whether the nodes run on this computer (VMs, namespaces), so its memory and disk are theirs; not for machines
   * elsewhere (ssh).
   */
  readonly nodesOnThisHost: boolean;
  /**
   * Whether the provider's own checks measure the disk where its VM disks and boxes go
   * (VirtualBox's machine folder, Vagrant's home), so the project folder needs only room
   * for logs and bundles.
   */
  readonly measuresOwnDisks?: boolean;
  /** The operating systems it runs on (process.platform); absent: any. */
  readonly hostPlatforms?: readonly NodeJS.Platform[];
  /**
   * Config values this provider needs by default on some hosts, for the keys the user left
   * unset (e.g. VirtualBox on an Apple Silicon Mac runs only arm64 guests).
   */
  readonly defaultsOn?: (host: {
    readonly platform: NodeJS.Platform;
    readonly arch: string;
  }) => ConfigDefaults | undefined;
}

/** The config keys a provider may default by host. */
export interface ConfigDefaults {
  readonly runtime?: { readonly platform: "x86_64" | "aarch64" };
  readonly box?: { readonly name: string };
}

/**
 * What a node is right now. "stopped": it exists with its disk but is not running (a VM
 * powered off by `npm run stop`, a host reboot or `virsh destroy`); "missing": there is no
 * such machine (never made, deleted, or a namespace gone with a reboot).
 */
export type MachineState = "running" | "stopped" | "missing";

export interface MachineStatus {
  readonly state: MachineState;
  /** What the hypervisor said, for plans and status ("virsh: shut off", "no namespace dvc-x-node3"). */
  readonly detail: string;
}

export interface MachineProvider {
  readonly name: ProviderName;
  readonly capabilities: ProviderCapabilities;
  /**
   * The host checks this provider needs, as rows: `npm run doctor` prints them and the
   * preflight stage refuses the deploy when one fails. Never changes anything.
   */
  checks(cluster: ClusterRef, needs: HostNeeds): Promise<CheckRow[]>;
  /** Creates the private network the nodes share (idempotent). */
  createNetwork(cluster: ClusterRef): Promise<void>;
  /** Removes it; succeeds when it is already gone. */
  destroyNetwork(cluster: ClusterRef): Promise<void>;
  /** Makes the base image available once, before any machine, and writes the machine list. */
  prepareBox(cluster: ClusterRef, box: BoxConfig): Promise<void>;
  /** Undoes prepareBox (the box itself stays in the user's Vagrant cache). */
  removeBox(cluster: ClusterRef, box: BoxConfig): Promise<void>;
  /** Creates one node, or powers on a stopped one, and makes its transport usable (idempotent). */
  createMachine(cluster: ClusterRef, node: NodeSpec): Promise<void>;
  /** Whether the private network createNetwork made is there and up (never changes anything). */
  networkPresent(cluster: ClusterRef): Promise<boolean>;
  /**
   * Whether the node createMachine made is there and running (never changes anything).
   * What the deploy observes at plan time (state/observe.ts) and status shows. Terraform can
   * also record a machine stage as created while its provisioner is still running (a state
   * snapshot taken mid-apply): the stages after it ask this before they rely on it.
   */
  machineState(cluster: ClusterRef, node: NodeSpec): Promise<MachineStatus>;
  /**
   * Powers a node off and keeps its disk (`vagrant halt`); createMachine brings it back.
   * The local provider's namespaces hold no memory: stopping their services is the stop.
   */
  stopMachine(cluster: ClusterRef, node: NodeSpec): Promise<void>;
  /** Removes one node and everything on it; succeeds when it is already gone. */
  destroyMachine(cluster: ClusterRef, node: NodeSpec): Promise<void>;
  /** How stages reach a created node (its slowness says how long to wait for it). */
  transport(cluster: ClusterRef, node: NodeSpec): Transport;
  /**
   * Serves a node's ip:port on 127.0.0.1:localPort, for providers whose nodes this host
   * cannot reach (capabilities.hostReachesNodes false).
   */
  forward?(cluster: ClusterRef, node: NodeSpec, targetPort: number, localPort: number): Promise<Server>;
}
