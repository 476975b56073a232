// The local provider: each node is a Linux network namespace with its private IP on a
// veth whose other end sits on a bridge in a namespace of its own, so the host's own
// addresses and routes are never touched and two clusters on one subnet never meet.
// Each node has its own root folder under .cluster/nodes/<node>: separate installs.
import { existsSync } from "node:fs";
import { copyFile, chmod, mkdir, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { $ } from "zx";
import type { NodeSpec } from "../config.js";
import { badInput } from "../errors.js";
import { parseCidr } from "../ipv4.js";
import type { ClusterRef } from "../spec.js";
import { runProcess, shq, type RunOptions, type RunResult, type Transport } from "../transport.js";
import type { BoxConfig, MachineProvider } from "./provider.js";

const BRIDGE = "br0";
/** The node's interface on the private network, as eth1 is on a Vagrant VM. */
const NODE_IF = "eth1";

export function networkNamespace(cluster: Pick<ClusterRef, "id">): string {
  return `dvc-${cluster.id}-net`;
}

export function nodeNamespace(cluster: Pick<ClusterRef, "id">, node: string): string {
  return `dvc-${cluster.id}-${node}`;
}

export function nodeRoot(cluster: Pick<ClusterRef, "clusterDir">, node: string): string {
  return path.join(cluster.clusterDir, "nodes", node);
}

/** Namespaces that exist now (ip netns list prints "name (id: N)" lines). */
export async function listNamespaces(): Promise<string[]> {
  const out = await $({ quiet: true })`ip netns list`;
  return out.stdout.split("\n").map((l) => l.trim().split(/\s+/)[0] ?? "").filter(Boolean);
}

/** Ends every process in a namespace: TERM, a grace period, then KILL. */
async function killNamespacePids(ns: string): Promise<void> {
  const pids = async () => (await $({ quiet: true, nothrow: true })`ip netns pids ${ns}`).stdout.split(/\s+/).filter(Boolean);
  let left = await pids();
  if (!left.length) return;
  await $({ quiet: true, nothrow: true })`kill -TERM ${left}`;
  for (let i = 0; i < 50 && left.length; i++) {
    await new Promise((r) => setTimeout(r, 100));
    left = await pids();
  }
  if (left.length) await $({ quiet: true, nothrow: true })`kill -KILL ${left}`;
}

async function deleteNamespace(ns: string): Promise<void> {
  if (!(await listNamespaces()).includes(ns)) return;
  await killNamespacePids(ns);
  await $({ quiet: true })`ip netns del ${ns}`;
}

export class LocalTransport implements Transport {
  readonly serviceManager = "supervisor" as const;
  readonly slowness = 1;
  readonly root: string;

  constructor(
    readonly node: string,
    readonly namespace: string,
    root: string,
  ) {
    this.root = root;
  }

  run(script: string, opts: RunOptions = {}): Promise<RunResult> {
    const env = { ...process.env, HOME: path.join(this.root, "home"), DVC_ROOT: this.root, DVC_NODE: this.node, ...opts.env };
    // The script on a line of its own: a trailing `&` in it must background its own
    // command, not the whole `cd && script` list (which would hold our pipes open).
    const argv = ["ip", "netns", "exec", this.namespace, "bash", "-c", `mkdir -p "$HOME" && cd "$DVC_ROOT" || exit 1
${script}`];
    return runProcess(argv, this.node, script, opts, env);
  }

  async put(localPath: string, remotePath: string, mode?: number): Promise<void> {
    await mkdir(path.dirname(remotePath), { recursive: true });
    await copyFile(localPath, remotePath);
    if (mode !== undefined) await chmod(remotePath, mode);
  }

  async get(remotePath: string, localPath: string): Promise<void> {
    await mkdir(path.dirname(localPath), { recursive: true });
    await copyFile(remotePath, localPath);
  }

  shell(): { argv: string[]; env: Record<string, string> } {
    const env = { HOME: path.join(this.root, "home"), DVC_ROOT: this.root, DVC_NODE: this.node, PS1: `${this.node}:\\w# ` };
    return { argv: ["ip", "netns", "exec", this.namespace, "bash", "--norc", "-c", `cd ${shq(this.root)} && exec bash --norc -i`], env };
  }
}

export class LocalProvider implements MachineProvider {
  async preflight(cluster: ClusterRef, _box: BoxConfig): Promise<void> {
    if (process.getuid?.() !== 0) {
      throw badInput("the local provider needs root", [
        {
          path: "/provider",
          message: "it creates network namespaces, a bridge and veth pairs, which only root may do",
          fix: 'run cdktf deploy as root (e.g. sudo -E npx cdktf deploy), or set "provider": "virtualbox" or "libvirt" in cluster.config.json',
        },
      ]);
    }
    const ip = await $({ quiet: true, nothrow: true })`ip -V`;
    if (ip.exitCode !== 0) {
      throw badInput("the local provider needs the ip command", [{ path: "/provider", message: "ip (iproute2) is not installed", fix: "apt-get install iproute2" }]);
    }
    if (!parseCidr(cluster.subnet)) throw badInput(`bad subnet ${cluster.subnet}`);
  }

  async createNetwork(cluster: ClusterRef): Promise<void> {
    const ns = networkNamespace(cluster);
    if (!(await listNamespaces()).includes(ns)) await $({ quiet: true })`ip netns add ${ns}`;
    const q = $({ quiet: true, nothrow: true });
    if ((await q`ip -n ${ns} link show ${BRIDGE}`).exitCode !== 0) await $({ quiet: true })`ip -n ${ns} link add ${BRIDGE} type bridge`;
    await $({ quiet: true })`ip -n ${ns} link set lo up`;
    await $({ quiet: true })`ip -n ${ns} link set ${BRIDGE} up`;
  }

  async destroyNetwork(cluster: ClusterRef): Promise<void> {
    await deleteNamespace(networkNamespace(cluster));
  }

  async prepareBox(cluster: ClusterRef, _box: BoxConfig): Promise<void> {
    // No image: a node's "disk" is its root folder. Record the machine list all the same,
    // so operators and the Vagrant providers see one format.
    await mkdir(cluster.clusterDir, { recursive: true });
    await writeFile(path.join(cluster.clusterDir, "machines.json"), JSON.stringify({ clusterId: cluster.id, provider: "local", nodes: cluster.nodes }, null, 2));
  }

  async removeBox(cluster: ClusterRef, _box: BoxConfig): Promise<void> {
    await rm(path.join(cluster.clusterDir, "machines.json"), { force: true });
  }

  async createMachine(cluster: ClusterRef, node: NodeSpec): Promise<void> {
    const net = networkNamespace(cluster);
    const ns = nodeNamespace(cluster, node.name);
    const prefix = parseCidr(cluster.subnet)!.prefix;
    const peer = `v-${node.name}`;
    const names = await listNamespaces();
    if (!names.includes(net)) {
      throw new Error(`the cluster network namespace ${net} is missing: run cdktf deploy again (it recreates the network stage)`);
    }
    // A half-made node from an interrupted deploy is removed and made again, whole.
    if (names.includes(ns)) await deleteNamespace(ns);
    await $({ quiet: true, nothrow: true })`ip -n ${net} link del ${peer}`;
    await $({ quiet: true })`ip netns add ${ns}`;
    await $({ quiet: true })`ip -n ${net} link add ${peer} type veth peer name ${NODE_IF} netns ${ns}`;
    await $({ quiet: true })`ip -n ${net} link set ${peer} master ${BRIDGE} up`;
    await $({ quiet: true })`ip -n ${ns} addr add ${`${node.ip}/${prefix}`} dev ${NODE_IF}`;
    await $({ quiet: true })`ip -n ${ns} link set ${NODE_IF} up`;
    await $({ quiet: true })`ip -n ${ns} link set lo up`;
    const root = nodeRoot(cluster, node.name);
    await mkdir(path.join(root, "home"), { recursive: true });
    await writeFile(path.join(root, "machine.json"), JSON.stringify({ node, namespace: ns }, null, 2));
  }

  async machineExists(cluster: ClusterRef, node: NodeSpec): Promise<boolean> {
    // createMachine writes machine.json last: with the namespace, the node is whole.
    return (await listNamespaces()).includes(nodeNamespace(cluster, node.name)) && existsSync(path.join(nodeRoot(cluster, node.name), "machine.json"));
  }

  async destroyMachine(cluster: ClusterRef, node: NodeSpec): Promise<void> {
    await deleteNamespace(nodeNamespace(cluster, node.name));
    await $({ quiet: true, nothrow: true })`ip -n ${networkNamespace(cluster)} link del ${`v-${node.name}`}`;
    const root = nodeRoot(cluster, node.name);
    if (existsSync(root)) await rm(root, { recursive: true, force: true });
  }

  transport(cluster: ClusterRef, node: NodeSpec): Transport {
    return new LocalTransport(node.name, nodeNamespace(cluster, node.name), nodeRoot(cluster, node.name));
  }
}
