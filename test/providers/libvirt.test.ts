// The libvirt provider with a scripted runner: the isolated network's XML and the exact
// virsh commands that define, start and remove it, the libvirt block of the machine list
// (kvm, or qemu emulation with a CPU model), and preflight's messages. The real
// vagrant-libvirt validates the Vagrantfile in test/vagrantfile.test.ts.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { XMLParser } from "fast-xml-parser";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { resolveCluster } from "../../provision/config/resolve.js";
import { UserError } from "../../provision/core/errors.js";
import { parseCidr } from "../../provision/core/ipv4.js";
import { clusterRefOf, type ClusterRef } from "../../provision/core/stage-spec.js";
import { enforce } from "../../provision/core/check-rows.js";
import type { Host } from "../../provision/host/host.js";
import type { ProcessResult, ProcessRunner } from "../../provision/host/process.js";
import {
  bridgeName,
  libvirtNetworkXml,
  libvirtProvider,
  managementNetworkXml,
  type LibvirtOptions,
} from "../../provision/machines/libvirt/provider.js";
import { fakeHost as sharedFakeHost } from "../helpers/fake-host.js";

type Reply = Partial<Pick<ProcessResult, "stdout" | "stderr" | "exitCode">>;

/** Records argv; answers from replies (a list answers call after call), else exit 0. */
function fakeRunner(replies: Record<string, Reply | Reply[]> = {}) {
  const calls: string[][] = [];
  const run: ProcessRunner = async (argv) => {
    calls.push([...argv]);
    const r = replies[argv.join(" ")];
    const reply = { stdout: "", stderr: "", exitCode: 0, ...(Array.isArray(r) ? r.shift() : r) };
    return { argv, missing: reply.exitCode === 127, timedOut: false, seconds: 0, ...reply };
  };
  return { run, calls };
}

/** A Linux x86_64 host with usable KVM and VT-x, unless told otherwise; warnings collected. */
function fakeHost(over: Partial<Host> = {}): Host & { warnings: string[] } {
  const base = sharedFakeHost({ env: {}, kvm: true, files: { "/proc/cpuinfo": "flags\t\t: fpu vmx sse4_2\n" } });
  return { ...base, ...over, warnings: base.warnings };
}

function lv(f: { run: ProcessRunner }, host: Host = fakeHost(), options: LibvirtOptions = {}) {
  return libvirtProvider({ ...host, run: f.run }, options);
}

const NEEDS = { box: { name: "debian/bookworm64", version: "", url: "" }, python: "3.11", platform: "x86_64" as const };

/** What the preflight stage does with the provider's checks (warnings printed, a failure throws exit 2). */
async function preflight(provider: ReturnType<typeof lv>, host: Host, c: ClusterRef): Promise<void> {
  enforce(await provider.checks(c, NEEDS), "preflight for provider libvirt", host.warn);
}

let dir: string;
let cluster: ClusterRef;
const V = ["virsh", "--connect", "qemu:///system"];
const BOX = { name: "debian/bookworm64", version: "", url: "" };

beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), "dvc-libvirt-"));
  cluster = clusterRefOf(resolveCluster({ provider: "libvirt", nodes: { count: 3 } }, dir));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe("network XML", () => {
  it("is isolated: no forward element, DNS off, no DHCP, the host on .1 of the subnet, a bridge name Linux accepts", () => {
    const xml = libvirtNetworkXml("dask-abc123", bridgeName("dask-abc123"), parseCidr("192.168.56.0/24")!);
    const doc = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: "" }).parse(xml) as {
      network: Record<string, unknown>;
    };
    const net = doc.network;
    expect(Object.keys(net).sort()).toEqual(["bridge", "dns", "ip", "name"]);
    expect(net.forward).toBeUndefined();
    expect(net.dns).toEqual({ enable: "no" });
    expect(net.ip).toEqual({ address: "192.168.56.1", netmask: "255.255.255.0" });
    expect(net.name).toBe("dask-abc123");
    const bridge = (net.bridge as { name: string }).name;
    expect(bridge).toMatch(/^dvc[0-9a-f]{8}$/);
    expect(bridge.length).toBeLessThanOrEqual(15);
    expect(bridgeName("dask-abc124")).not.toBe(bridge);
  });
});

describe("createNetwork", () => {
  it("defines the network and vagrant-libvirt's management network from files, starts them, and records it", async () => {
    const f = fakeRunner({ [[...V, "net-list", "--all", "--name"].join(" ")]: { stdout: "default\n" } });
    await lv(f, fakeHost()).createNetwork(cluster);
    const file = path.join(dir, ".cluster", "libvirt-network.xml");
    const mgmt = path.join(dir, ".cluster", "libvirt-management-network.xml");
    // The management network before any machine stage: parallel vagrant ups would race to create it.
    expect(f.calls).toEqual([
      [...V, "net-list", "--all", "--name"],
      [...V, "net-define", file],
      [...V, "net-define", mgmt],
      [...V, "net-list", "--name"],
      [...V, "net-start", cluster.id],
      [...V, "net-start", "vagrant-libvirt"],
    ]);
    expect(readFileSync(file, "utf8")).toBe(
      libvirtNetworkXml(cluster.id, bridgeName(cluster.id), parseCidr(cluster.subnet)!),
    );
    // Isolated (no <forward>), DHCP on (vagrant-libvirt finds VMs by their leases), 192.168.121.0/24 as
    // vagrant-libvirt's default.
    const xml = readFileSync(mgmt, "utf8");
    expect(xml).toBe(managementNetworkXml("none"));
    expect(xml).not.toContain("<forward");
    expect(xml).toContain('<ip address="192.168.121.1" netmask="255.255.255.0">');
    expect(xml).toContain('<range start="192.168.121.2" end="192.168.121.254"/>');
    expect(managementNetworkXml("default")).toContain('<forward mode="nat"/>');
    expect(JSON.parse(readFileSync(path.join(dir, ".cluster", "network.json"), "utf8"))).toEqual({
      provider: "libvirt",
      kind: "libvirt",
      name: cluster.id,
      subnet: "192.168.56.0/24",
      device: bridgeName(cluster.id),
    });
  });

  it("only starts a network that is defined but inactive, and does nothing for an active one", async () => {
    const f = fakeRunner({
      [[...V, "net-list", "--all", "--name"].join(" ")]: { stdout: `default\n${cluster.id}\nvagrant-libvirt\n` },
      [[...V, "net-list", "--name"].join(" ")]: [
        { stdout: "default\nvagrant-libvirt\n" },
        { stdout: `${cluster.id}\nvagrant-libvirt\n` },
      ],
    });
    const p = lv(f, fakeHost());
    await p.createNetwork(cluster);
    expect(f.calls.map((c) => c[3])).toEqual(["net-list", "net-list", "net-start"]);
    f.calls.length = 0;
    await p.createNetwork(cluster);
    expect(f.calls.map((c) => c[3])).toEqual(["net-list", "net-list"]);
  });

  it("uses LIBVIRT_DEFAULT_URI like vagrant-libvirt does", async () => {
    const f = fakeRunner();
    await lv(f, fakeHost({ env: { LIBVIRT_DEFAULT_URI: "qemu+ssh://h/system" } })).createNetwork(cluster);
    expect(f.calls[0]).toEqual(["virsh", "--connect", "qemu+ssh://h/system", "net-list", "--all", "--name"]);
  });
});

describe("destroyNetwork", () => {
  it("stops and undefines the network, then forgets it", async () => {
    mkdirSync(path.join(dir, ".cluster"), { recursive: true });
    writeFileSync(
      path.join(dir, ".cluster", "network.json"),
      JSON.stringify({ provider: "libvirt", kind: "libvirt", name: cluster.id, subnet: "192.168.56.0/24" }),
    );
    const f = fakeRunner({
      [[...V, "net-list", "--all", "--name"].join(" ")]: { stdout: `${cluster.id}\n` },
      [[...V, "net-list", "--name"].join(" ")]: { stdout: `${cluster.id}\n` },
    });
    await lv(f, fakeHost()).destroyNetwork(cluster);
    expect(f.calls).toEqual([
      [...V, "net-list", "--all", "--name"],
      [...V, "net-list", "--name"],
      [...V, "net-destroy", cluster.id],
      [...V, "net-undefine", cluster.id],
      // No management network left to remove (a deploy that failed before any machine would leave one).
      [...V, "net-list", "--all", "--name"],
    ]);
    expect(existsSync(path.join(dir, ".cluster", "network.json"))).toBe(false);
  });

  it("undefines an inactive one without net-destroy, and succeeds when it is gone (even without a record)", async () => {
    const f = fakeRunner({
      [[...V, "net-list", "--all", "--name"].join(" ")]: [{ stdout: `${cluster.id}\n` }, { stdout: "default\n" }],
    });
    const p = lv(f, fakeHost());
    await p.destroyNetwork(cluster);
    expect(f.calls.map((c) => c[3])).toEqual(["net-list", "net-list", "net-undefine", "net-list"]);
    f.calls.length = 0;
    await p.destroyNetwork(cluster);
    expect(f.calls).toEqual([
      [...V, "net-list", "--all", "--name"],
      [...V, "net-list", "--all", "--name"],
    ]);
  });
});

describe("machine list", () => {
  async function libvirtBlock(host: Host, options = {}) {
    const f = fakeRunner();
    await lv(f, host, options).prepareBox(cluster, BOX);
    // The second list finds the version just added, for the box volume (none here: the fake host has no box files).
    expect(f.calls).toEqual([
      ["vagrant", "box", "list"],
      ["vagrant", "box", "add", "debian/bookworm64", "--provider", "libvirt"],
      ["vagrant", "box", "list"],
    ]);
    const list = JSON.parse(readFileSync(path.join(dir, ".cluster", "machines.json"), "utf8"));
    expect(list.network).toEqual({ name: cluster.id, subnet: "192.168.56.0/24", prefix: 24 });
    return list.libvirt;
  }

  it("uses KVM where /dev/kvm is usable, with an isolated management network", async () => {
    expect(await libvirtBlock(fakeHost())).toEqual({ driver: "kvm", managementNetwork: "none" });
  });

  it("falls back to qemu emulation with a named CPU model where it is not", async () => {
    expect(await libvirtBlock(fakeHost({ kvmUsable: () => false }))).toEqual({
      driver: "qemu",
      cpuModel: "Nehalem",
      managementNetwork: "none",
    });
  });

  it("takes the driver and CPU model from DVC_LIBVIRT_DRIVER / DVC_LIBVIRT_CPU_MODEL", async () => {
    expect(await libvirtBlock(fakeHost({ env: { DVC_LIBVIRT_DRIVER: "qemu" } }))).toEqual({
      driver: "qemu",
      cpuModel: "Nehalem",
      managementNetwork: "none",
    });
    expect(
      await libvirtBlock(fakeHost({ env: { DVC_LIBVIRT_DRIVER: "qemu", DVC_LIBVIRT_CPU_MODEL: "Haswell" } })),
    ).toEqual({ driver: "qemu", cpuModel: "Haswell", managementNetwork: "none" });
    expect(await libvirtBlock(fakeHost({ kvmUsable: () => false, env: { DVC_LIBVIRT_DRIVER: "auto" } }))).toEqual({
      driver: "qemu",
      cpuModel: "Nehalem",
      managementNetwork: "none",
    });
  });

  it("honours an explicit driver, model and management network", async () => {
    expect(
      await libvirtBlock(fakeHost(), { driver: "qemu", cpuModel: "qemu64", managementNetwork: "default" }),
    ).toEqual({ driver: "qemu", cpuModel: "qemu64", managementNetwork: "default" });
  });
});

describe("box volume", () => {
  const HOME = "/home/u";
  const BOXDIR = `${HOME}/.vagrant.d/boxes/dvc-VAGRANTSLASH-debian12/0/libvirt`;
  const LOCAL = { name: "dvc/debian12", version: "", url: "/cache/dvc-debian12.box" };
  const boxHost = (files: Record<string, string>) =>
    fakeHost({ env: { HOME }, exists: (f) => f in files, readText: (f) => files[f], mtimeSeconds: () => 1795327107 });
  const files = {
    [`${BOXDIR}/box.img`]: "",
    [`${BOXDIR}/metadata.json`]: '{"provider":"libvirt","format":"qcow2","virtual_size":8}',
  };
  const VOL = "dvc-VAGRANTSLASH-debian12_vagrant_box_image_0_1795327107_box.img";

  it("is uploaded once into the pool under vagrant-libvirt's own name, before any machine stage", async () => {
    const f = fakeRunner({
      "vagrant box list": [{ stdout: "" }, { stdout: "dvc/debian12 (libvirt, 0)\n" }],
      [[...V, "vol-info", "--pool", "default", VOL].join(" ")]: {
        exitCode: 1,
        stderr: "error: Storage volume not found",
      },
    });
    await lv(f, boxHost(files)).prepareBox(cluster, LOCAL);
    expect(f.calls).toEqual([
      ["vagrant", "box", "list"],
      ["vagrant", "box", "add", "--name", "dvc/debian12", "--provider", "libvirt", "/cache/dvc-debian12.box"],
      ["vagrant", "box", "list"],
      [...V, "vol-info", "--pool", "default", VOL],
      [...V, "vol-create-as", "default", VOL, String(8 * 1024 ** 3), "--format", "qcow2"],
      [...V, "vol-upload", "--pool", "default", VOL, `${BOXDIR}/box.img`],
    ]);
  });

  it("is left alone when the pool has it, and named by the box version when there is one", async () => {
    const vdir = `${HOME}/.vagrant.d/boxes/debian-VAGRANTSLASH-bookworm64/12.20240905.1/libvirt`;
    const f = fakeRunner({
      "vagrant box list": {
        stdout: "debian/bookworm64 (libvirt, 12.20240503.1)\ndebian/bookworm64 (libvirt, 12.20240905.1)\n",
      },
    });
    const host = boxHost({
      [`${vdir}/box.img`]: "",
      [`${vdir}/metadata.json`]: '{"format":"qcow2","virtual_size":20}',
    });
    await lv(f, host).prepareBox(cluster, BOX);
    expect(f.calls).toEqual([
      ["vagrant", "box", "list"],
      [...V, "vol-info", "--pool", "default", "debian-VAGRANTSLASH-bookworm64_vagrant_box_image_12.20240905.1_box.img"],
    ]);
  });

  it("removes a half-uploaded volume and says so when the upload fails", async () => {
    const f = fakeRunner({
      "vagrant box list": { stdout: "dvc/debian12 (libvirt, 0)\n" },
      [[...V, "vol-info", "--pool", "default", VOL].join(" ")]: { exitCode: 1 },
      [[...V, "vol-upload", "--pool", "default", VOL, `${BOXDIR}/box.img`].join(" ")]: {
        exitCode: 1,
        stderr: "error: cannot upload: No space left on device",
      },
    });
    const err = (await lv(f, boxHost(files))
      .prepareBox(cluster, LOCAL)
      .catch((e: unknown) => e)) as UserError;
    expect(err).toBeInstanceOf(UserError);
    expect(err.render()).toContain("No space left on device");
    expect(f.calls.at(-1)).toEqual([...V, "vol-delete", "--pool", "default", VOL]);
  });
});

describe("after the cluster's last machine", () => {
  const N = "vagrant-libvirt";
  it("removes vagrant-libvirt's management network when no domain uses it, and leaves it when one does", async () => {
    const free = fakeRunner({
      [[...V, "net-list", "--all", "--name"].join(" ")]: { stdout: `default\n${N}\n` },
      [[...V, "list", "--all", "--name"].join(" ")]: { stdout: "other-vm\n" },
      [[...V, "dumpxml", "other-vm"].join(" ")]: {
        stdout: "<domain><interface type='network'><source network='default'/></interface></domain>",
      },
    });
    const p = lv(free, fakeHost());
    await p.strategy.afterLastMachine((p as unknown as { ctx: never }).ctx, cluster, undefined);
    expect(free.calls.slice(-2)).toEqual([
      [...V, "net-destroy", N],
      [...V, "net-undefine", N],
    ]);

    const used = fakeRunner({
      [[...V, "net-list", "--all", "--name"].join(" ")]: { stdout: `${N}\n` },
      [[...V, "list", "--all", "--name"].join(" ")]: { stdout: "someone-else\n" },
      [[...V, "dumpxml", "someone-else"].join(" ")]: {
        stdout: `<domain><interface type='network'><source network='${N}'/></interface></domain>`,
      },
    });
    const q = lv(used, fakeHost());
    await q.strategy.afterLastMachine((q as unknown as { ctx: never }).ctx, cluster, undefined);
    expect(used.calls.map((c) => c[3])).toEqual(["net-list", "list", "dumpxml"]);
  });
});

describe("timeoutFactor", () => {
  it("is 4 under qemu emulation and 1 with KVM (from the machine list)", async () => {
    const f = fakeRunner();
    await lv(f, fakeHost({ kvmUsable: () => false })).prepareBox(cluster, BOX);
    expect(lv(f, fakeHost()).timeoutFactor(cluster)).toBe(4);
    await lv(f, fakeHost()).prepareBox(cluster, BOX);
    expect(lv(f, fakeHost()).timeoutFactor(cluster)).toBe(1);
  });
});

describe("preflight", () => {
  const GOOD: Record<string, Reply> = {
    "vagrant --version": { stdout: "Vagrant 2.3.4\n" },
    "vagrant plugin list": { stdout: "vagrant-libvirt (0.11.2, system)\n" },
    [[...V, "version"].join(" ")]: { stdout: "Compiled against library: libvirt 9.0.0\n" },
    "qemu-system-x86_64 --version": { stdout: "QEMU emulator version 7.2.0\n" },
    "qemu-img --version": { stdout: "qemu-img version 7.2.0\n" },
    "ip -j route": { stdout: "[]" },
    [[...V, "net-dumpxml", "vagrant-libvirt"].join(" ")]: { exitCode: 1, stderr: "error: Network not found" },
  };

  async function failure(replies: Record<string, Reply>, host: Host = fakeHost()): Promise<string> {
    const err = await preflight(lv(fakeRunner(replies), host), host, cluster).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(UserError);
    expect((err as UserError).exitCode).toBe(2);
    return (err as UserError).render();
  }

  it("passes with vagrant-libvirt, libvirt, qemu and KVM, running exactly these checks", async () => {
    const f = fakeRunner(GOOD);
    const host = fakeHost();
    await preflight(lv(f, host), host, cluster);
    expect(f.calls).toEqual([
      ["vagrant", "--version"],
      ["vagrant", "plugin", "list"],
      [...V, "version"],
      ["qemu-system-x86_64", "--version"],
      ["qemu-img", "--version"],
      ["ip", "-j", "route"],
      [...V, "net-dumpxml", "vagrant-libvirt"],
    ]);
    expect(host.warnings).toEqual([]);
  });

  it("says the plugin is missing and how to install it", async () => {
    const msg = await failure({ ...GOOD, "vagrant plugin list": { stdout: "No plugins installed.\n" } });
    expect(msg).toContain("vagrant-libvirt: the vagrant-libvirt plugin is not installed");
    expect(msg).toContain("sudo apt-get install vagrant-libvirt");
  });

  it("tells a missing virsh from an unreachable daemon", async () => {
    expect(await failure({ ...GOOD, [[...V, "version"].join(" ")]: { exitCode: 127 } })).toContain(
      "virsh (libvirt) is not installed",
    );
    const msg = await failure({
      ...GOOD,
      [[...V, "version"].join(" ")]: {
        exitCode: 1,
        stderr:
          "error: failed to connect to the hypervisor\nerror: Failed to connect socket to '/var/run/libvirt/libvirt-sock': No such file or directory",
      },
    });
    expect(msg).toContain("cannot connect to libvirt at qemu:///system");
    expect(msg).toContain("sudo systemctl enable --now libvirtd");
  });

  it("names the qemu packages that are missing", async () => {
    const msg = await failure({
      ...GOOD,
      "qemu-system-x86_64 --version": { exitCode: 127 },
      "qemu-img --version": { exitCode: 127 },
    });
    expect(msg).toContain("sudo apt-get install qemu-system-x86");
    expect(msg).toContain("sudo apt-get install qemu-utils");
  });

  it("warns that nodes will be emulated without KVM, and refuses an explicit kvm driver then", async () => {
    const host = fakeHost({ kvmUsable: () => false });
    await preflight(lv(fakeRunner(GOOD), host), host, cluster);
    expect(host.warnings.join("\n")).toContain("qemu emulation (TCG)");
    const err = (await preflight(lv(fakeRunner(GOOD), host, { driver: "kvm" }), host, cluster).catch(
      (e: unknown) => e,
    )) as UserError;
    expect(err.render()).toContain("driver kvm was asked for, but /dev/kvm is missing");
  });

  it("refuses a DVC_LIBVIRT_DRIVER or DVC_LIBVIRT_CPU_MODEL it cannot use, with exit 2", async () => {
    const msg = await failure(
      GOOD,
      fakeHost({ env: { DVC_LIBVIRT_DRIVER: "xen", DVC_LIBVIRT_CPU_MODEL: "bad model;" } }),
    );
    expect(msg).toContain('DVC_LIBVIRT_DRIVER="xen" is not a libvirt driver');
    expect(msg).toContain("kvm, qemu or auto");
    expect(msg).toContain('DVC_LIBVIRT_CPU_MODEL="bad model;" is not a CPU model name');
  });

  it("does not warn about emulation when qemu is asked for through the environment", async () => {
    const host = fakeHost({ kvmUsable: () => false, env: { DVC_LIBVIRT_DRIVER: "qemu" } });
    await preflight(lv(fakeRunner(GOOD), host), host, cluster);
    expect(host.warnings).toEqual([]);
  });

  it("warns when an existing NAT management network would give the nodes a way out", async () => {
    const host = fakeHost();
    const replies = {
      ...GOOD,
      [[...V, "net-dumpxml", "vagrant-libvirt"].join(" ")]: {
        stdout: "<network><name>vagrant-libvirt</name><forward mode='nat'/></network>",
      },
    };
    await preflight(lv(fakeRunner(replies), host), host, cluster);
    expect(host.warnings.join("\n")).toContain("virsh net-destroy vagrant-libvirt; virsh net-undefine vagrant-libvirt");
  });

  it("names a clashing route but not the cluster's own bridge", async () => {
    const own = JSON.stringify([{ dst: "192.168.56.0/24", dev: bridgeName(cluster.id) }]);
    const host = fakeHost();
    await preflight(lv(fakeRunner({ ...GOOD, "ip -j route": { stdout: own } }), host), host, cluster);
    const other = JSON.stringify([{ dst: "192.168.0.0/16", dev: "virbr3" }]);
    expect(await failure({ ...GOOD, "ip -j route": { stdout: other } })).toContain(
      "192.168.56.0/24 overlaps the host route 192.168.0.0/16 on virbr3",
    );
  });
});

describe("what the plan and status see of a libvirt VM (virsh domstate, never vagrant status)", () => {
  const UUID = "5a1f3c2e-0b7d-4e8a-9c61-2f4d8e7b9a10";
  function recorded(node: string, sshConfig = true): void {
    const idDir = path.join(cluster.clusterDir, "vagrant", "machines", node, "libvirt");
    mkdirSync(idDir, { recursive: true });
    writeFileSync(path.join(idDir, "id"), UUID);
    if (sshConfig) {
      mkdirSync(path.join(cluster.clusterDir, "ssh"), { recursive: true });
      writeFileSync(path.join(cluster.clusterDir, "ssh", `${node}.conf`), "Host node2\n");
    }
  }
  const node2 = () => cluster.nodes[1]!;

  it("reads virsh's words for a domain: running, shut off (virsh destroy, a host reboot), no such domain", async () => {
    recorded("node2");
    const ask = async (reply: Reply) =>
      lv(fakeRunner({ [[...V, "domstate", UUID].join(" ")]: reply })).machineState(cluster, node2());
    expect(await ask({ stdout: "running\n\n" })).toEqual({ state: "running", detail: "virsh: running" });
    expect(await ask({ stdout: "shut off\n\n" })).toEqual({ state: "stopped", detail: "virsh: shut off" });
    expect(await ask({ stdout: "paused\n\n" })).toEqual({ state: "stopped", detail: "virsh: paused" });
    // libvirt's message for a UUID it does not know (virsh domstate, VIR_ERR_NO_DOMAIN).
    expect(await ask({ exitCode: 1, stderr: `error: failed to get domain '${UUID}'\n` })).toEqual({
      state: "missing",
      detail: "libvirt has no such domain",
    });
  });

  it("no Vagrant record is a missing machine, without asking libvirt; a running VM without its ssh config never finished", async () => {
    const f = fakeRunner();
    expect(await lv(f).machineState(cluster, node2())).toEqual({
      state: "missing",
      detail: "Vagrant records no VM for it",
    });
    expect(f.calls).toEqual([]);
    recorded("node2", false);
    const r = await lv(fakeRunner({ [[...V, "domstate", UUID].join(" ")]: { stdout: "running\n" } })).machineState(
      cluster,
      node2(),
    );
    expect(r.state).toBe("stopped");
    expect(r.detail).toMatch(/createMachine never finished/);
  });

  it("stop: vagrant halt for a running VM, nothing for one already off", async () => {
    recorded("node2");
    const on = fakeRunner({ [[...V, "domstate", UUID].join(" ")]: { stdout: "running\n" } });
    await lv(on).stopMachine(cluster, node2());
    expect(on.calls.filter((c) => c[0] === "vagrant")).toEqual([["vagrant", "halt", "node2"]]);
    const off = fakeRunner({ [[...V, "domstate", UUID].join(" ")]: { stdout: "shut off\n" } });
    await lv(off).stopMachine(cluster, node2());
    expect(off.calls.filter((c) => c[0] === "vagrant")).toEqual([]);
  });

  it("the network is present only while libvirt lists it active (net-list --name)", async () => {
    mkdirSync(cluster.clusterDir, { recursive: true });
    writeFileSync(
      path.join(cluster.clusterDir, "network.json"),
      JSON.stringify({ provider: "libvirt", kind: "libvirt", name: "dvc-net", subnet: cluster.subnet }),
    );
    const list = (names: string) =>
      lv(fakeRunner({ [[...V, "net-list", "--name"].join(" ")]: { stdout: names } })).networkPresent(cluster);
    expect(await list("default\ndvc-net\n\n")).toBe(true);
    expect(await list("default\n\n")).toBe(false);
  });
});
