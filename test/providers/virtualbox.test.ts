// The virtualbox provider with a scripted runner (VirtualBox cannot run on this machine):
// the exact VBoxManage commands of each step on Linux, macOS and Windows, and what
// preflight tells the user. Vagrant's side of the same files is checked by the real
// `vagrant validate` in test/vagrantfile.test.ts.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { resolveCluster } from "../../provision/lib/config.js";
import { UserError } from "../../provision/lib/errors.js";
import type { ClusterRef } from "../../provision/lib/spec.js";
import type { CommandResult, CommandRunner, Host } from "../../provision/lib/providers/vagrant.js";
import { virtualboxProvider, masterIds } from "../../provision/lib/providers/virtualbox.js";

type Reply = Partial<CommandResult>;

function fakeRunner(replies: Record<string, Reply> = {}, effect: (argv: readonly string[]) => void = () => undefined) {
  const calls: string[][] = [];
  const runner: CommandRunner = async (argv) => {
    calls.push([...argv]);
    effect(argv);
    return { stdout: "", stderr: "", exitCode: 0, ...replies[argv.join(" ")] };
  };
  return { runner, calls };
}

function fakeHost(over: Partial<Host> & { files?: Record<string, string>; dirs?: Record<string, string[]> } = {}): Host & { warnings: string[] } {
  const warnings: string[] = [];
  const { files = {}, dirs = {}, ...rest } = over;
  return {
    platform: "linux",
    arch: "x64",
    env: { HOME: "/home/u" },
    readText: (f) => files[f],
    exists: (f) => f in files,
    listDir: (d) => dirs[d] ?? [],
    kvmUsable: () => false,
    warn: (m) => warnings.push(m),
    warnings,
    ...rest,
  };
}

const CPU_VMX = { "/proc/cpuinfo": "processor\t: 0\nflags\t\t: fpu vme de pse vmx sse4_2\n" };
const GOOD = {
  "vagrant --version": { stdout: "Vagrant 2.3.4\n" },
  "VBoxManage --version": { stdout: "7.0.14r161095\n" },
  "ip -j route": { stdout: JSON.stringify([{ dst: "default", gateway: "10.0.0.1", dev: "eth0" }, { dst: "10.0.0.0/24", dev: "eth0" }]) },
};

let dir: string;
let cluster: ClusterRef;

function ref(config: object = {}, ranges?: string[]): ClusterRef {
  const c = resolveCluster({ provider: "virtualbox", nodes: { count: 2 }, ...config }, dir, { vboxAllowedRanges: ranges });
  return { id: c.id, provider: "virtualbox", projectDir: c.projectDir, clusterDir: c.clusterDir, subnet: c.subnet.text, head: c.nodes[0]!, nodes: c.nodes };
}

beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), "dvc-vbox-"));
  cluster = ref();
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const BOX = { name: "debian/bookworm64", version: "", url: "" };

async function preflightError(replies: Record<string, Reply>, host: Host, c = cluster): Promise<UserError> {
  const err = await virtualboxProvider({ runner: fakeRunner(replies).runner, host }).preflight(c, BOX).then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(UserError);
  expect((err as UserError).exitCode).toBe(2);
  return err as UserError;
}

describe("preflight", () => {
  it("passes on a Linux host with Vagrant, VirtualBox 7.0, VT-x and a free subnet, running exactly these checks", async () => {
    const f = fakeRunner(GOOD);
    const host = fakeHost({ files: CPU_VMX });
    await virtualboxProvider({ runner: f.runner, host }).preflight(cluster, BOX);
    expect(f.calls).toEqual([["vagrant", "--version"], ["VBoxManage", "--version"], ["ip", "-j", "route"]]);
    expect(host.warnings).toEqual([]);
  });

  it("says VBoxManage is missing and how to get it", async () => {
    const err = await preflightError({ ...GOOD, "VBoxManage --version": { exitCode: 127, stderr: "VBoxManage: command not found" } }, fakeHost({ files: CPU_VMX }));
    expect(err.render()).toContain("VBoxManage: VBoxManage (VirtualBox) is not installed or not on PATH");
    expect(err.render()).toContain("fix: install VirtualBox 6.1 or newer");
  });

  it("refuses VirtualBox older than 6.1", async () => {
    const err = await preflightError({ ...GOOD, "VBoxManage --version": { stdout: "6.0.24r139119\n" } }, fakeHost({ files: CPU_VMX }));
    expect(err.render()).toContain("VirtualBox 6.0.24 is older than 6.1");
  });

  it("says Vagrant is missing", async () => {
    const err = await preflightError({ ...GOOD, "vagrant --version": { exitCode: 127 } }, fakeHost({ files: CPU_VMX }));
    expect(err.render()).toContain("vagrant: vagrant is not installed or not on PATH");
    expect(err.render()).toContain("sudo apt-get install vagrant");
  });

  it("refuses a Vagrant too old for the installed VirtualBox", async () => {
    const err = await preflightError({ ...GOOD, "VBoxManage --version": { stdout: "7.1.4r165100\n" } }, fakeHost({ files: CPU_VMX }));
    expect(err.render()).toContain("Vagrant 2.3.4 cannot drive VirtualBox 7.1.4");
    expect(err.render()).toContain("upgrade Vagrant to 2.4.2 or newer");
  });

  it("names the networks.conf line that would allow a subnet outside 192.168.56.0/21", async () => {
    const c = ref({ network: { subnet: "10.20.30.0/24" } }, ["10.0.0.0/8"]);
    const err = await preflightError(GOOD, fakeHost({ files: CPU_VMX }), c);
    expect(err.render()).toContain("/network/subnet: 10.20.30.0/24 is outside the ranges VirtualBox allows for host-only networks (192.168.56.0/21, the default)");
    expect(err.render()).toContain(`add the line "* 10.20.30.0/24" to /etc/vbox/networks.conf`);
  });

  it("accepts that subnet once /etc/vbox/networks.conf allows it", async () => {
    const c = ref({ network: { subnet: "10.20.30.0/24" } }, ["10.0.0.0/8"]);
    const f = fakeRunner(GOOD);
    await virtualboxProvider({ runner: f.runner, host: fakeHost({ files: { ...CPU_VMX, "/etc/vbox/networks.conf": "# ranges\n* 10.0.0.0/8 192.168.0.0/16\n" } }) }).preflight(c, BOX);
  });

  it("does not apply the range rule on Windows, where VirtualBox does not enforce it", async () => {
    const c = ref({ network: { subnet: "10.20.30.0/24" } }, ["10.0.0.0/8"]);
    const f = fakeRunner(GOOD);
    await virtualboxProvider({ runner: f.runner, host: fakeHost({ platform: "win32" }) }).preflight(c, BOX);
    expect(f.calls).toEqual([["vagrant", "--version"], ["VBoxManage", "--version"]]);
  });

  it("names the host route the subnet clashes with", async () => {
    const routes = JSON.stringify([{ dst: "192.168.56.0/24", dev: "wlp2s0", protocol: "kernel" }]);
    const err = await preflightError({ ...GOOD, "ip -j route": { stdout: routes } }, fakeHost({ files: CPU_VMX }));
    expect(err.render()).toContain("192.168.56.0/24 overlaps the host route 192.168.56.0/24 on wlp2s0 (`ip route`: 192.168.56.0/24 dev wlp2s0)");
    expect(err.render()).toContain("pick a free subnet in network.subnet");
  });

  it("does not count the cluster's own host-only interface as a clash on a second deploy", async () => {
    mkdirSync(path.join(dir, ".cluster"), { recursive: true });
    writeFileSync(path.join(dir, ".cluster", "network.json"), JSON.stringify({ provider: "virtualbox", kind: "hostonlyif", name: "vboxnet2", subnet: "192.168.56.0/24", device: "vboxnet2" }));
    const routes = JSON.stringify([{ dst: "192.168.56.0/24", dev: "vboxnet2" }]);
    await virtualboxProvider({ runner: fakeRunner({ ...GOOD, "ip -j route": { stdout: routes } }).runner, host: fakeHost({ files: CPU_VMX }) }).preflight(cluster, BOX);
  });

  it("reads macOS routes with netstat", async () => {
    const netstat = "Destination Gateway Flags Netif Expire\n192.168.56 link#17 UC vboxnet9 !\n";
    const err = await preflightError({ ...GOOD, "netstat -rn -f inet": { stdout: netstat } }, fakeHost({ platform: "darwin" }));
    expect(err.render()).toContain("overlaps the host route 192.168.56.0/24 on vboxnet9 (`netstat -rn`");
  });

  it("explains missing VT-x/AMD-V and hints at KVM holding it", async () => {
    const host = fakeHost({ files: { "/proc/cpuinfo": "flags\t\t: fpu sse2\n", "/sys/module/kvm_intel": "" } });
    const err = await preflightError(GOOD, host);
    expect(err.render()).toContain("no hardware virtualization (no vmx or svm flag)");
    expect(err.render()).toContain("enable Intel VT-x or AMD-V (SVM) in the firmware setup");
    expect(host.warnings.join("\n")).toContain("VERR_VMX_IN_VMX_ROOT_MODE");
  });
});

describe("createNetwork", () => {
  it("on Linux creates a host-only interface, gives the host .1, and records its name", async () => {
    const f = fakeRunner({
      "VBoxManage --version": { stdout: "7.0.14r161095\n" },
      "VBoxManage list hostonlyifs": { stdout: "Name:            vboxnet0\nIPAddress:       192.168.60.1\n" },
      "VBoxManage hostonlyif create": { stdout: "0%...10%...100%\nInterface 'vboxnet1' was successfully created\n" },
    });
    await virtualboxProvider({ runner: f.runner, host: fakeHost() }).createNetwork(cluster);
    expect(f.calls).toEqual([
      ["VBoxManage", "--version"],
      ["VBoxManage", "list", "hostonlyifs"],
      ["VBoxManage", "hostonlyif", "create"],
      ["VBoxManage", "hostonlyif", "ipconfig", "vboxnet1", "--ip", "192.168.56.1", "--netmask", "255.255.255.0"],
    ]);
    expect(JSON.parse(readFileSync(path.join(dir, ".cluster", "network.json"), "utf8"))).toEqual({ provider: "virtualbox", kind: "hostonlyif", name: "vboxnet1", subnet: "192.168.56.0/24", device: "vboxnet1" });
  });

  it("reuses the recorded interface on a second run", async () => {
    mkdirSync(path.join(dir, ".cluster"), { recursive: true });
    writeFileSync(path.join(dir, ".cluster", "network.json"), JSON.stringify({ provider: "virtualbox", kind: "hostonlyif", name: "vboxnet1", subnet: "192.168.56.0/24", device: "vboxnet1" }));
    const f = fakeRunner({ "VBoxManage --version": { stdout: "7.0.14\n" }, "VBoxManage list hostonlyifs": { stdout: "Name:            vboxnet1\n" } });
    await virtualboxProvider({ runner: f.runner, host: fakeHost() }).createNetwork(cluster);
    expect(f.calls).toEqual([
      ["VBoxManage", "--version"],
      ["VBoxManage", "list", "hostonlyifs"],
      ["VBoxManage", "hostonlyif", "ipconfig", "vboxnet1", "--ip", "192.168.56.1", "--netmask", "255.255.255.0"],
    ]);
  });

  it("uses the netmask of the configured prefix", async () => {
    const c = ref({ network: { subnet: "192.168.56.0/21" } });
    const f = fakeRunner({ "VBoxManage --version": { stdout: "6.1.50r161033\n" }, "VBoxManage hostonlyif create": { stdout: "Interface 'vboxnet0' was successfully created\n" } });
    await virtualboxProvider({ runner: f.runner, host: fakeHost() }).createNetwork(c);
    expect(f.calls.at(-1)).toEqual(["VBoxManage", "hostonlyif", "ipconfig", "vboxnet0", "--ip", "192.168.56.1", "--netmask", "255.255.248.0"]);
  });

  it("on macOS with VirtualBox 7 adds a host-only network named after the cluster", async () => {
    const f = fakeRunner({ "VBoxManage --version": { stdout: "7.0.20r163906\n" }, "VBoxManage list hostonlynets": { stdout: "Name:            other\n" } });
    await virtualboxProvider({ runner: f.runner, host: fakeHost({ platform: "darwin" }) }).createNetwork(cluster);
    expect(f.calls).toEqual([
      ["VBoxManage", "--version"],
      ["VBoxManage", "list", "hostonlynets"],
      ["VBoxManage", "hostonlynet", "add", "--name", cluster.id, "--netmask", "255.255.255.0", "--lower-ip", "192.168.56.0", "--upper-ip", "192.168.56.0"],
    ]);
    expect(JSON.parse(readFileSync(path.join(dir, ".cluster", "network.json"), "utf8"))).toEqual({ provider: "virtualbox", kind: "hostonlynet", name: cluster.id, subnet: "192.168.56.0/24" });
  });

  it("on macOS with VirtualBox 6.1 still uses a host-only interface", async () => {
    const f = fakeRunner({ "VBoxManage --version": { stdout: "6.1.50r161033\n" }, "VBoxManage hostonlyif create": { stdout: "Interface 'vboxnet0' was successfully created\n" } });
    await virtualboxProvider({ runner: f.runner, host: fakeHost({ platform: "darwin" }) }).createNetwork(cluster);
    expect(f.calls[2]).toEqual(["VBoxManage", "hostonlyif", "create"]);
  });

  it("on Windows runs VirtualBox's VBoxManage.exe and keeps the adapter name with spaces as one argument", async () => {
    const exe = "C:\\Program Files\\Oracle\\VirtualBox\\VBoxManage.exe";
    const f = fakeRunner({
      [`${exe} --version`]: { stdout: "7.0.14r161095\n" },
      [`${exe} hostonlyif create`]: { stdout: "Interface 'VirtualBox Host-Only Ethernet Adapter #2' was successfully created\n" },
    });
    const host = fakeHost({ platform: "win32", env: { VBOX_MSI_INSTALL_PATH: "C:\\Program Files\\Oracle\\VirtualBox\\" } });
    await virtualboxProvider({ runner: f.runner, host }).createNetwork(cluster);
    expect(f.calls.at(-1)).toEqual([exe, "hostonlyif", "ipconfig", "VirtualBox Host-Only Ethernet Adapter #2", "--ip", "192.168.56.1", "--netmask", "255.255.255.0"]);
  });

  it("passes VirtualBox's refusal on with the networks.conf fix", async () => {
    const f = fakeRunner({
      "VBoxManage --version": { stdout: "7.0.14\n" },
      "VBoxManage hostonlyif create": { stdout: "Interface 'vboxnet0' was successfully created\n" },
      "VBoxManage hostonlyif ipconfig vboxnet0 --ip 192.168.56.1 --netmask 255.255.255.0": { exitCode: 1, stderr: "VBoxManage: error: Code E_ACCESSDENIED (0x80070005) - Access denied" },
    });
    const err = (await virtualboxProvider({ runner: f.runner, host: fakeHost() }).createNetwork(cluster).catch((e: unknown) => e)) as UserError;
    expect(err.render()).toContain("E_ACCESSDENIED");
    expect(err.render()).toContain(`allow the subnet in /etc/vbox/networks.conf with the line "* 192.168.56.0/24"`);
  });
});

describe("destroyNetwork", () => {
  function record(r: object): void {
    mkdirSync(path.join(dir, ".cluster"), { recursive: true });
    writeFileSync(path.join(dir, ".cluster", "network.json"), JSON.stringify(r));
  }

  it("removes exactly the recorded interface and forgets it", async () => {
    record({ provider: "virtualbox", kind: "hostonlyif", name: "vboxnet1", subnet: "192.168.56.0/24" });
    const f = fakeRunner({ "VBoxManage list hostonlyifs": { stdout: "Name:            vboxnet0\n\nName:            vboxnet1\n" } });
    await virtualboxProvider({ runner: f.runner, host: fakeHost() }).destroyNetwork(cluster);
    expect(f.calls).toEqual([["VBoxManage", "list", "hostonlyifs"], ["VBoxManage", "hostonlyif", "remove", "vboxnet1"]]);
    expect(existsSync(path.join(dir, ".cluster", "network.json"))).toBe(false);
  });

  it("succeeds when the interface is already gone", async () => {
    record({ provider: "virtualbox", kind: "hostonlyif", name: "vboxnet1", subnet: "192.168.56.0/24" });
    const f = fakeRunner({ "VBoxManage list hostonlyifs": { stdout: "Name:            vboxnet0\n" } });
    await virtualboxProvider({ runner: f.runner, host: fakeHost() }).destroyNetwork(cluster);
    expect(f.calls).toEqual([["VBoxManage", "list", "hostonlyifs"]]);
  });

  it("does nothing without a record", async () => {
    const f = fakeRunner();
    await virtualboxProvider({ runner: f.runner, host: fakeHost() }).destroyNetwork(cluster);
    expect(f.calls).toEqual([]);
  });

  it("removes a macOS host-only network by name", async () => {
    record({ provider: "virtualbox", kind: "hostonlynet", name: cluster.id, subnet: "192.168.56.0/24" });
    const f = fakeRunner({ "VBoxManage list hostonlynets": { stdout: `Name:            ${cluster.id}\nGUID: x\n` } });
    await virtualboxProvider({ runner: f.runner, host: fakeHost({ platform: "darwin" }) }).destroyNetwork(cluster);
    expect(f.calls).toEqual([["VBoxManage", "list", "hostonlynets"], ["VBoxManage", "hostonlynet", "remove", "--name", cluster.id]]);
  });
});

describe("destroyMachine of the last node", () => {
  const boxDir = "/home/u/.vagrant.d/boxes/debian-VAGRANTSLASH-bookworm64";
  const masterHost = () =>
    fakeHost({
      dirs: { [boxDir]: ["12.20240905.1"], [`${boxDir}/12.20240905.1`]: ["virtualbox", "metadata_url"] },
      files: { [`${boxDir}/12.20240905.1/virtualbox/master_id`]: "aaaa-1111\n" },
    });
  const VMS = `"debian-12-generic-amd64_1700000000000_12345" {aaaa-1111}\n"other" {bbbb-2222}\n`;
  const disk = (uuid: string, parent: string, inUse: string) => `UUID:           ${uuid}\nParent UUID:    ${parent}\nState:          created\nIn use by VMs:  ${inUse}\n`;

  beforeEach(() => {
    mkdirSync(path.join(dir, ".cluster"), { recursive: true });
    writeFileSync(path.join(dir, ".cluster", "machines.json"), JSON.stringify({ box: BOX }));
  });

  const idFile = (node: string) => path.join(dir, ".cluster", "vagrant", "machines", node, "virtualbox", "id");
  /** What Vagrant leaves for a created VM. */
  function recordVm(node: string): void {
    mkdirSync(path.dirname(idFile(node)), { recursive: true });
    writeFileSync(idFile(node), `uuid-${node}`);
  }
  /** What `vagrant destroy -f <node>` does to that record. */
  const destroyEffect = (argv: readonly string[]) => {
    if (argv[0] === "vagrant" && argv[1] === "destroy") rmSync(idFile(argv[3]!), { force: true });
  };

  it("finds the box's linked-clone master and deletes it when no clone hangs off it", async () => {
    const hdds = [disk("d-base", "base", "debian-12-generic-amd64_1700000000000_12345 (UUID: aaaa-1111) [base (UUID: s-1)]"), disk("d-other", "base", "other (UUID: bbbb-2222)")].join("\n");
    recordVm("node2");
    const f = fakeRunner({ "VBoxManage list vms": { stdout: VMS }, "VBoxManage list hdds": { stdout: hdds } }, destroyEffect);
    await virtualboxProvider({ runner: f.runner, host: masterHost() }).destroyMachine(cluster, cluster.nodes[1]!);
    expect(f.calls).toEqual([
      ["vagrant", "destroy", "-f", "node2"],
      ["VBoxManage", "list", "vms"],
      ["VBoxManage", "list", "hdds"],
      ["VBoxManage", "unregistervm", "aaaa-1111", "--delete"],
    ]);
  });

  it("keeps the master while another project's linked clone uses it, and says so", async () => {
    const hdds = [disk("d-base", "base", "debian-12-generic-amd64_1700000000000_12345 (UUID: aaaa-1111) [base (UUID: s-1)]"), disk("d-clone", "d-base", "someproject_default_1 (UUID: cccc-3333)")].join("\n");
    const host = masterHost();
    recordVm("node2");
    const f = fakeRunner({ "VBoxManage list vms": { stdout: VMS }, "VBoxManage list hdds": { stdout: hdds } }, destroyEffect);
    await virtualboxProvider({ runner: f.runner, host }).destroyMachine(cluster, cluster.nodes[1]!);
    expect(f.calls.map((c) => c[1])).toEqual(["destroy", "list", "list"]);
    expect(host.warnings.join("\n")).toContain("kept the linked-clone master VM \"debian-12-generic-amd64_1700000000000_12345\"");
  });

  it("runs no VirtualBox command when another node of the cluster still exists", async () => {
    recordVm("node1");
    recordVm("node2");
    const f = fakeRunner({}, destroyEffect);
    await virtualboxProvider({ runner: f.runner, host: masterHost() }).destroyMachine(cluster, cluster.nodes[1]!);
    expect(f.calls).toEqual([["vagrant", "destroy", "-f", "node2"]]);
  });

  it("finds master ids in the per-architecture box layout of newer Vagrant too", () => {
    const host = fakeHost({
      env: { VAGRANT_HOME: "/vh" },
      dirs: { "/vh/boxes/debian-VAGRANTSLASH-bookworm64": ["1"], "/vh/boxes/debian-VAGRANTSLASH-bookworm64/1": ["amd64"] },
      files: { "/vh/boxes/debian-VAGRANTSLASH-bookworm64/1/amd64/virtualbox/master_id": "m-2" },
    });
    expect(masterIds(host, "debian/bookworm64")).toEqual(["m-2"]);
  });
});
