// The local provider: each node is a Linux network namespace with its private IP on a
// veth whose other end sits on a bridge in a namespace of its own, so the host's own
// addresses and routes are never touched and two clusters on one subnet never meet.
// Each node has its own root folder under .cluster/nodes/<node>: separate installs.
// Every `ip` command goes through the host's process runner, so the exact command
// sequence of each step is tested without root (test/providers/local.test.ts).
import { createReadStream, createWriteStream, existsSync } from "node:fs";
import { pipeline } from "node:stream/promises";
import { chmod, copyFile, mkdir, rm, writeFile } from "node:fs/promises";
import type { Server } from "node:net";
import path from "node:path";
import { fail, ok, type CheckRow } from "../../core/check-rows.js";

import { UserError } from "../../core/errors.js";
import type { Host } from "../../host/host.js";
import { parseCidr } from "../../core/ipv4.js";
import { describeFailure, type ProcessResult } from "../../host/process.js";
import { PYTHON_PROBE, pythonProbeOutcome } from "../../core/python-probe.js";
import { relayServer } from "../relay.js";

import type { ClusterRef } from "../../core/stage-spec.js";
import { runForNode, shq, type RunOptions, type RunResult, type Transport } from "../transport.js";
import type { MachineProvider, MachineStatus, ProviderCapabilities } from "../provider.js";
import type { NodeSpec, HostNeeds } from "../../core/model.js";
import { nodePaths } from "../../core/node-paths.js";

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

export class LocalTransport implements Transport {
  readonly serviceManager = "supervisor" as const;
  readonly slowness = 1;

  constructor(
    readonly node: string,
    readonly namespace: string,
    readonly root: string,
    private readonly host: Host,
  ) {}

  run(script: string, opts: RunOptions = {}): Promise<RunResult> {
    const env = {
      ...nodeEnvironment(this.host.env),
      HOME: path.join(this.root, "home"),
      DVC_ROOT: this.root,
      DVC_NODE: this.node,
      ...opts.env,
    };
    // The script on a line of its own: a trailing `&` in it must background its own
    // command, not the whole `cd && script` list (which would hold our pipes open).
    const argv = [
      "ip",
      "netns",
      "exec",
      this.namespace,
      "bash",
      "-c",
      `mkdir -p "$HOME" && cd "$DVC_ROOT" || exit 1\n${script}`,
    ];
    return runForNode(this.host.run, this.node, argv, script, opts, env);
  }

  async put(localPath: string, remotePath: string, mode?: number, onProgress?: (bytes: number) => void): Promise<void> {
    await mkdir(path.dirname(remotePath), { recursive: true });
    if (onProgress) {
      let sent = 0;
      const from = createReadStream(localPath);
      from.on("data", (chunk) => {
        sent += chunk.length;
        onProgress(sent);
      });
      await pipeline(from, createWriteStream(remotePath));
    } else {
      await copyFile(localPath, remotePath);
    }
    if (mode !== undefined) await chmod(remotePath, mode);
  }

  async get(remotePath: string, localPath: string): Promise<void> {
    await mkdir(path.dirname(localPath), { recursive: true });
    await copyFile(remotePath, localPath);
  }

  shell(): { argv: string[]; env: Record<string, string> } {
    const env = {
      HOME: path.join(this.root, "home"),
      DVC_ROOT: this.root,
      DVC_NODE: this.node,
      PS1: `${this.node}:\\w# `,
    };
    return {
      argv: [
        "ip",
        "netns",
        "exec",
        this.namespace,
        "bash",
        "--norc",
        "-c",
        `cd ${shq(this.root)} && exec bash --norc -i`,
      ],
      env,
    };
  }
}

/**
 * Proxy settings of the host, which mean nothing inside a node (no route out) and would send its requests to the
 * private network astray.
 */
const PROXY_VARIABLES = /^(https?|all|no|ftp)_proxy$/i;

/** The host's environment as a node's processes get it: without the host's proxy settings. */
export function nodeEnvironment(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([k]) => !PROXY_VARIABLES.test(k)));
}

/** Copies bytes between stdin/stdout and host:port; runs with the node's Python inside its namespace. */
const RELAY = `
import socket, sys, threading
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
s.settimeout(None)
def up():
    while True:
        b = sys.stdin.buffer.read1(65536)
        if not b:
            s.shutdown(socket.SHUT_WR); return
        s.sendall(b)
threading.Thread(target=up, daemon=True).start()
while True:
    b = s.recv(65536)
    if not b: break
    sys.stdout.buffer.write(b); sys.stdout.buffer.flush()
`;

/** Namespaces are made in parallel, share the host's memory and disk, and are not reachable from it. */
export const LOCAL_CAPABILITIES: ProviderCapabilities = {
  parallelMachines: true,
  hostReachesNodes: false,
  reservesResources: false,
  nodesOnThisHost: true,
  hostPlatforms: ["linux"],
};

export class LocalProvider implements MachineProvider {
  readonly name = "local" as const;
  readonly capabilities = LOCAL_CAPABILITIES;

  constructor(readonly host: Host) {}

  /** Runs `ip ...`; a failure throws with the command and its stderr. */
  private async ip(args: readonly string[], fix = "run it by hand as root to see why"): Promise<ProcessResult> {
    const r = await this.host.run(["ip", ...args], { timeoutMs: 30_000 });
    if (r.exitCode !== 0)
      throw new UserError(`\`ip ${args.join(" ")}\` failed`, 1, [
        { path: `ip ${args[0]}`, message: describeFailure(r), fix },
      ]);
    return r;
  }

  /** Runs `ip ...` when its failure is an answer ("no such link"), not an error. */
  private ipMaybe(args: readonly string[]): Promise<ProcessResult> {
    return this.host.run(["ip", ...args], { timeoutMs: 30_000 });
  }

  /** Namespaces that exist now (ip netns list prints "name (id: N)" lines). */
  async listNamespaces(): Promise<string[]> {
    const out = await this.ip(["netns", "list"]);
    return out.stdout
      .split("\n")
      .map((l) => l.trim().split(/\s+/)[0] ?? "")
      .filter(Boolean);
  }

  /** Ends every process in a namespace: TERM, a grace period, then KILL. */
  private async killNamespacePids(ns: string): Promise<void> {
    const pids = async () => (await this.ipMaybe(["netns", "pids", ns])).stdout.split(/\s+/).filter(Boolean);
    let left = await pids();
    if (!left.length) return;
    await this.host.run(["kill", "-TERM", ...left]);
    for (let i = 0; i < 50 && left.length; i++) {
      await new Promise((r) => setTimeout(r, 100));
      left = await pids();
    }
    if (left.length) await this.host.run(["kill", "-KILL", ...left]);
  }

  private async deleteNamespace(ns: string): Promise<void> {
    if (!(await this.listNamespaces()).includes(ns)) return;
    await this.killNamespacePids(ns);
    await this.ip(["netns", "del", ns]);
  }

  async checks(_cluster: ClusterRef, needs: HostNeeds): Promise<CheckRow[]> {
    const { host } = this;
    const rows: CheckRow[] = [];
    if (host.platform !== "linux") {
      return [
        fail(
          "root",
          `${host.platform} host`,
          'the local provider uses Linux network namespaces: use "provider": "virtualbox" or "libvirt" here',
          "/provider",
        ),
      ];
    }
    rows.push(
      host.uid === 0
        ? ok("root", "uid 0")
        : fail(
            "root",
            `uid ${host.uid ?? "?"}: the local provider creates network namespaces, a bridge and veth pairs, which only root may do`,
            'run as root (sudo -E npx cdktf deploy), or set "provider": "virtualbox" or "libvirt" in cluster.config.json',
            "/provider",
          ),
    );
    const ip = await host.run(["ip", "-V"], { timeoutMs: 10_000 });
    rows.push(
      ip.exitCode === 0
        ? ok("iproute2", ip.stdout.trim())
        : fail(
            "iproute2",
            ip.missing ? "not found" : describeFailure(ip),
            "install iproute2 (sudo apt-get install iproute2)",
          ),
    );
    rows.push(await hostPythonCheck(host, needs.python));
    return rows;
  }

  async createNetwork(cluster: ClusterRef): Promise<void> {
    const ns = networkNamespace(cluster);
    if (!(await this.listNamespaces()).includes(ns)) await this.ip(["netns", "add", ns]);
    if ((await this.ipMaybe(["-n", ns, "link", "show", BRIDGE])).exitCode !== 0)
      await this.ip(["-n", ns, "link", "add", BRIDGE, "type", "bridge"]);
    await this.ip(["-n", ns, "link", "set", "lo", "up"]);
    await this.ip(["-n", ns, "link", "set", BRIDGE, "up"]);
  }

  async destroyNetwork(cluster: ClusterRef): Promise<void> {
    await this.deleteNamespace(networkNamespace(cluster));
  }

  async prepareBox(cluster: ClusterRef): Promise<void> {
    // No image: a node's "disk" is its root folder. Record the machine list all the same,
    // so operators and the Vagrant providers see one format.
    await mkdir(cluster.clusterDir, { recursive: true });
    await writeFile(
      path.join(cluster.clusterDir, "machines.json"),
      JSON.stringify({ clusterId: cluster.id, provider: "local", nodes: cluster.nodes }, null, 2),
    );
  }

  async removeBox(cluster: ClusterRef): Promise<void> {
    await rm(path.join(cluster.clusterDir, "machines.json"), { force: true });
  }

  async createMachine(cluster: ClusterRef, node: NodeSpec): Promise<void> {
    const net = networkNamespace(cluster);
    const ns = nodeNamespace(cluster, node.name);
    const prefix = parseCidr(cluster.subnet)!.prefix;
    const peer = `v-${node.name}`;
    const names = await this.listNamespaces();
    if (!names.includes(net)) {
      throw new UserError(`the cluster network namespace ${net} is missing`, 1, [
        {
          path: net,
          message: "not in `ip netns list`",
          fix: "run cdktf deploy again (it recreates the network stage)",
        },
      ]);
    }
    // A half-made node from an interrupted deploy is removed and made again, whole.
    if (names.includes(ns)) await this.deleteNamespace(ns);
    await this.ipMaybe(["-n", net, "link", "del", peer]);
    await this.ip(["netns", "add", ns]);
    await this.ip(["-n", net, "link", "add", peer, "type", "veth", "peer", "name", NODE_IF, "netns", ns]);
    await this.ip(["-n", net, "link", "set", peer, "master", BRIDGE, "up"]);
    await this.ip(["-n", ns, "addr", "add", `${node.ip}/${prefix}`, "dev", NODE_IF]);
    await this.ip(["-n", ns, "link", "set", NODE_IF, "up"]);
    await this.ip(["-n", ns, "link", "set", "lo", "up"]);
    const root = nodeRoot(cluster, node.name);
    await mkdir(path.join(root, "home"), { recursive: true });
    await writeFile(path.join(root, "machine.json"), JSON.stringify({ node, namespace: ns }, null, 2));
  }

  async networkPresent(cluster: ClusterRef): Promise<boolean> {
    const ns = networkNamespace(cluster);
    return (
      (await this.listNamespaces()).includes(ns) &&
      (await this.ipMaybe(["-n", ns, "link", "show", BRIDGE, "up"])).stdout.includes(BRIDGE)
    );
  }

  async machineState(cluster: ClusterRef, node: NodeSpec): Promise<MachineStatus> {
    // createMachine writes machine.json last: with the namespace, the node is whole. Its
    // root folder (the runtime, the certificates) outlives the namespace, as a VM's disk
    // outlives its power; a namespace cannot be "off", so no namespace is "missing".
    const ns = nodeNamespace(cluster, node.name);
    if (!(await this.listNamespaces()).includes(ns)) return { state: "missing", detail: `no namespace ${ns}` };
    if (!existsSync(path.join(nodeRoot(cluster, node.name), "machine.json")))
      return { state: "missing", detail: `namespace ${ns} is half-made (no machine.json)` };
    return { state: "running", detail: `namespace ${ns}` };
  }

  async stopMachine(): Promise<void> {
    // Nothing to power off: the services the caller stopped were all the node used.
  }

  async destroyMachine(cluster: ClusterRef, node: NodeSpec): Promise<void> {
    await this.deleteNamespace(nodeNamespace(cluster, node.name));
    await this.ipMaybe(["-n", networkNamespace(cluster), "link", "del", `v-${node.name}`]);
    const root = nodeRoot(cluster, node.name);
    if (existsSync(root)) await rm(root, { recursive: true, force: true });
  }

  transport(cluster: ClusterRef, node: NodeSpec): Transport {
    return new LocalTransport(node.name, nodeNamespace(cluster, node.name), nodeRoot(cluster, node.name), this.host);
  }

  /**
   * Serves node:targetPort on 127.0.0.1:localPort: the host cannot reach a namespace's
   * address, so every connection gets a relay process inside the node's namespace.
   */
  forward(cluster: ClusterRef, node: NodeSpec, targetPort: number, localPort: number): Promise<Server> {
    const python = nodePaths(nodeRoot(cluster, node.name)).python;
    return relayServer(localPort, [
      "ip",
      "netns",
      "exec",
      nodeNamespace(cluster, node.name),
      python,
      "-c",
      RELAY,
      node.ip,
      String(targetPort),
    ]);
  }
}

/**
 * The host's pythonX.Y with its venv module: the local provider's nodes run the host's
 * Python (install.sh makes each node's venv with `pythonX.Y -m venv --without-pip`).
 */
export async function hostPythonCheck(host: Host, python: string): Promise<CheckRow> {
  const bin = `python${python}`;
  const r = await host.run([bin, "-c", PYTHON_PROBE], { timeoutMs: 15_000 });
  const install = `install Python ${python} with its venv module (Debian/Ubuntu: sudo apt-get install ${bin} ${bin}-venv; or pyenv install ${python}), or set runtime.python to a Python this host has and re-lock (npm run lock -- --python X.Y)`;
  const found = pythonProbeOutcome(r);
  if ("version" in found) return ok(bin, found.version);
  if (found.problem === "no-venv")
    return fail(bin, `${bin} has no venv module`, `sudo apt-get install ${bin}-venv`, "/runtime/python");
  return fail(bin, r.missing ? "not found" : describeFailure(r), install, "/runtime/python");
}
