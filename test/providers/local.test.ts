// The local provider's command sequences against a scripted host (no root needed): the
// `ip` commands that make the network namespace and its bridge, a node with its veth and
// private address, what an interrupted deploy's half-made node gets, and the removal of
// all of it. The same code runs for real, as root, in the *.local.test.ts suites.
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { resolveCluster } from "../../provision/config/resolve.js";
import type { UserError } from "../../provision/core/errors.js";
import { LocalProvider, networkNamespace, nodeNamespace } from "../../provision/machines/local/provider.js";
import { clusterRefOf, type ClusterRef } from "../../provision/core/stage-spec.js";
import { fakeHost, type Script } from "../helpers/fake-host.js";

let dir: string;
let cluster: ClusterRef;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), "dvc-local-"));
  cluster = clusterRefOf(resolveCluster({ provider: "local", nodes: { count: 2 } }, dir));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const nsList = (...names: string[]) => `${names.map((n, i) => `${n} (id: ${i})`).join("\n")}\n`;

function host(commands: Record<string, Script> = {}) {
  return fakeHost({ uid: 0, commands: { "ip netns list": "", ip: "", kill: "", ...commands } });
}

describe("local provider", () => {
  it("creates the network namespace and its bridge once", async () => {
    const net = networkNamespace(cluster);
    const h = host({ [`ip -n ${net} link show br0`]: { exitCode: 1, stderr: 'Device "br0" does not exist.' } });
    await new LocalProvider(h).createNetwork(cluster);
    expect(h.argvs()).toEqual([
      ["ip", "netns", "list"],
      ["ip", "netns", "add", net],
      ["ip", "-n", net, "link", "show", "br0"],
      ["ip", "-n", net, "link", "add", "br0", "type", "bridge"],
      ["ip", "-n", net, "link", "set", "lo", "up"],
      ["ip", "-n", net, "link", "set", "br0", "up"],
    ]);
    const again = host({ "ip netns list": nsList(net) });
    await new LocalProvider(again).createNetwork(cluster);
    expect(again.argvs().filter((a) => a.includes("add"))).toEqual([]);
  });

  it("makes a node: its namespace, a veth whose far end is on the bridge, the private address on eth1, its root folder", async () => {
    const net = networkNamespace(cluster);
    const ns = nodeNamespace(cluster, "node2");
    const h = host({ "ip netns list": nsList(net) });
    const p = new LocalProvider(h);
    await p.createMachine(cluster, cluster.nodes[1]!);
    expect(h.argvs()).toEqual([
      ["ip", "netns", "list"],
      ["ip", "-n", net, "link", "del", "v-node2"],
      ["ip", "netns", "add", ns],
      ["ip", "-n", net, "link", "add", "v-node2", "type", "veth", "peer", "name", "eth1", "netns", ns],
      ["ip", "-n", net, "link", "set", "v-node2", "master", "br0", "up"],
      ["ip", "-n", ns, "addr", "add", "192.168.56.12/24", "dev", "eth1"],
      ["ip", "-n", ns, "link", "set", "eth1", "up"],
      ["ip", "-n", ns, "link", "set", "lo", "up"],
    ]);
    expect(existsSync(path.join(dir, ".cluster", "nodes", "node2", "machine.json"))).toBe(true);
    expect(
      await new LocalProvider(host({ "ip netns list": nsList(net, ns) })).machineState(cluster, cluster.nodes[1]!),
    ).toEqual({ state: "running", detail: `namespace ${ns}` });
    // After a reboot the node's root folder is still there, its namespace is not.
    expect(
      await new LocalProvider(host({ "ip netns list": nsList(net) })).machineState(cluster, cluster.nodes[1]!),
    ).toEqual({ state: "missing", detail: `no namespace ${ns}` });
  });

  it("removes a half-made node of an interrupted deploy (its processes first) before making it again", async () => {
    const net = networkNamespace(cluster);
    const ns = nodeNamespace(cluster, "node1");
    const h = host({ "ip netns list": nsList(net, ns), [`ip netns pids ${ns}`]: ["4242\n", ""] });
    await new LocalProvider(h).createMachine(cluster, cluster.nodes[0]!);
    const argvs = h.argvs().map((a) => a.join(" "));
    expect(argvs.slice(0, 6)).toEqual([
      "ip netns list",
      "ip netns list",
      `ip netns pids ${ns}`,
      "kill -TERM 4242",
      `ip netns pids ${ns}`,
      `ip netns del ${ns}`,
    ]);
  });

  it("refuses to make a node without the network namespace, naming the fix", async () => {
    const err = (await new LocalProvider(host())
      .createMachine(cluster, cluster.nodes[0]!)
      .catch((e: unknown) => e)) as UserError;
    expect(err.render()).toContain(`the cluster network namespace ${networkNamespace(cluster)} is missing`);
    expect(err.render()).toContain("run cdktf deploy again");
  });

  it("destroys a node and the network, and succeeds when they are already gone", async () => {
    const net = networkNamespace(cluster);
    const ns = nodeNamespace(cluster, "node2");
    const h = host({ "ip netns list": nsList(net, ns) });
    const p = new LocalProvider(h);
    await p.destroyMachine(cluster, cluster.nodes[1]!);
    await p.destroyNetwork(cluster);
    expect(h.argvs().map((a) => a.join(" "))).toEqual([
      "ip netns list",
      `ip netns pids ${ns}`,
      `ip netns del ${ns}`,
      `ip -n ${net} link del v-node2`,
      "ip netns list",
      `ip netns pids ${net}`,
      `ip netns del ${net}`,
    ]);
    const gone = host();
    await new LocalProvider(gone).destroyMachine(cluster, cluster.nodes[1]!);
    expect(gone.argvs().map((a) => a.join(" "))).toEqual(["ip netns list", `ip -n ${net} link del v-node2`]);
  });

  it("runs a node's script inside its namespace, in its root folder, with its HOME", async () => {
    const h = host({ ip: { stdout: "hi\n" } });
    const t = new LocalProvider(h).transport(cluster, cluster.nodes[0]!);
    expect((await t.run("echo hi")).stdout).toBe("hi\n");
    const c = h.calls[0]!;
    expect(c.argv.slice(0, 6)).toEqual(["ip", "netns", "exec", nodeNamespace(cluster, "node1"), "bash", "-c"]);
    expect(c.argv[6]).toBe('mkdir -p "$HOME" && cd "$DVC_ROOT" || exit 1\necho hi');
    expect(c.env?.DVC_ROOT).toBe(path.join(dir, ".cluster", "nodes", "node1"));
    expect(c.env?.HOME).toBe(path.join(dir, ".cluster", "nodes", "node1", "home"));
  });

  it("checks: Linux, root, iproute2 and the host's pythonX.Y with venv; elsewhere, says to use a VM provider", async () => {
    const needs = { box: { name: "", version: "", url: "" }, python: "3.11", platform: "x86_64" as const };
    const rows = await new LocalProvider(
      fakeHost({ uid: 1000, commands: { "ip -V": "ip utility, iproute2-6.1.0\n", "python3.11 -c": "3.11.9\n" } }),
    ).checks(cluster, needs);
    expect(rows.map((r) => [r.check, r.status])).toEqual([
      ["root", "fail"],
      ["iproute2", "ok"],
      ["python3.11", "ok"],
    ]);
    const mac = await new LocalProvider(fakeHost({ platform: "darwin" })).checks(cluster, needs);
    expect(mac).toHaveLength(1);
    expect(mac[0]!.fix).toContain('use "provider": "virtualbox" or "libvirt"');
  });
});
