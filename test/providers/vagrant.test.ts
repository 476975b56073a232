// The shared Vagrant machine layer with a scripted runner (VirtualBox and a libvirt
// daemon cannot run here): the exact commands of prepareBox, createMachine,
// destroyMachine, the files they write, and the parsers the steps depend on. The real
// vagrant runs on the real Vagrantfile in test/vagrantfile.test.ts.
import { spawnSync } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { resolveCluster } from "../../provision/lib/config.js";
import type { ClusterRef } from "../../provision/lib/spec.js";
import { NodeCommandError, type RunOptions, type RunResult } from "../../provision/lib/transport.js";
import { UserError } from "../../provision/lib/errors.js";
import {
  boxAddArgs,
  parseBoxList,
  parseIpRouteJson,
  parseNetstatRoutes,
  satisfiesConstraint,
  spawnRunner,
  sshControlDir,
  BOOTSTRAP_SCRIPT,
  vagrantEnv,
  type CommandResult,
  type CommandRunner,
  type Host,
} from "../../provision/lib/providers/vagrant.js";
import { virtualboxProvider } from "../../provision/lib/providers/virtualbox.js";
import { libvirtProvider } from "../../provision/lib/providers/libvirt.js";
import { withConnectionSharing } from "../../provision/lib/ssh-transport.js";

type Reply = Partial<CommandResult>;

/** Records every command; answers from `replies` (keyed by argv joined with spaces), else exit 0. */
function fakeRunner(replies: Record<string, Reply | Reply[]> = {}) {
  const calls: { argv: string[]; cwd: string; env: NodeJS.ProcessEnv; input?: string }[] = [];
  const runner: CommandRunner = async (argv, opts) => {
    calls.push({ argv: [...argv], cwd: opts.cwd, env: opts.env, input: opts.input });
    const r = replies[argv.join(" ")];
    const reply = Array.isArray(r) ? (r.shift() ?? {}) : (r ?? {});
    return { stdout: "", stderr: "", exitCode: 0, ...reply };
  };
  return { runner, calls, argvs: () => calls.map((c) => c.argv) };
}

/** Records ssh/scp calls of the node transports. */
function fakeSsh(result: Partial<RunResult> = {}) {
  const calls: { argv: string[]; script: string; opts: RunOptions }[] = [];
  const exec = async (argv: readonly string[], script: string, opts: RunOptions): Promise<RunResult> => {
    calls.push({ argv: [...argv], script, opts });
    return { stdout: "", stderr: "", exitCode: 0, ...result };
  };
  return { exec, calls };
}

function fakeHost(over: Partial<Host> = {}): Host & { warnings: string[] } {
  const warnings: string[] = [];
  return {
    platform: "linux",
    arch: "x64",
    env: { PATH: "/usr/bin", HOME: "/home/test" },
    readText: () => undefined,
    exists: () => false,
    listDir: () => [],
    kvmUsable: () => true,
    warn: (m) => warnings.push(m),
    warnings,
    ...over,
  };
}

let dir: string;
let cluster: ClusterRef;

function refFor(provider: "virtualbox" | "libvirt", projectDir: string): ClusterRef {
  const c = resolveCluster({ provider, nodes: { count: 2 } }, projectDir);
  return { id: c.id, provider, projectDir: c.projectDir, clusterDir: c.clusterDir, subnet: c.subnet.text, head: c.nodes[0]!, nodes: c.nodes };
}

beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), "dvc-vagrant-"));
  cluster = refFor("virtualbox", dir);
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const BOX = { name: "debian/bookworm64", version: "", url: "" };
const node1 = () => cluster.nodes[0]!;

describe("vagrant environment", () => {
  it("points Vagrant at provision/Vagrantfile, the cluster's dotfile folder and machine list, without colour or checkpoint calls", () => {
    const env = vagrantEnv(cluster, { PATH: "/bin" });
    expect(env).toEqual({
      PATH: "/bin",
      VAGRANT_CWD: path.join(dir, "provision"),
      VAGRANT_DOTFILE_PATH: path.join(dir, ".cluster", "vagrant"),
      DVC_MACHINES: path.join(dir, ".cluster", "machines.json"),
      VAGRANT_NO_COLOR: "1",
      VAGRANT_CHECKPOINT_DISABLE: "1",
    });
  });
});

describe("prepareBox", () => {
  it("writes the machine list the Vagrantfile reads, then adds the box only when it is missing", async () => {
    writeNetwork({ provider: "virtualbox", kind: "hostonlyif", name: "vboxnet3", subnet: "192.168.56.0/24", device: "vboxnet3" });
    const f = fakeRunner({ "vagrant box list": { stdout: "ubuntu/jammy64 (virtualbox, 1.0)\n" } });
    await virtualboxProvider({ runner: f.runner, host: fakeHost() }).prepareBox(cluster, BOX);
    expect(f.argvs()).toEqual([
      ["vagrant", "box", "list"],
      ["vagrant", "box", "add", "debian/bookworm64", "--provider", "virtualbox"],
    ]);
    expect(f.calls.every((c) => c.cwd === path.join(dir, "provision") && c.env.DVC_MACHINES === path.join(dir, ".cluster", "machines.json"))).toBe(true);
    const list = JSON.parse(readFileSync(path.join(dir, ".cluster", "machines.json"), "utf8"));
    expect(list).toEqual({
      clusterId: cluster.id,
      provider: "virtualbox",
      box: BOX,
      network: { name: "vboxnet3", subnet: "192.168.56.0/24", prefix: 24 },
      nodes: [
        { name: "node1", ip: "192.168.56.11", cpus: 1, memoryMb: 2048 },
        { name: "node2", ip: "192.168.56.12", cpus: 1, memoryMb: 2048 },
      ],
    });
  });

  it("does not add a box that is already there for this provider and version", async () => {
    writeNetwork({ provider: "virtualbox", kind: "hostonlyif", name: "vboxnet0", subnet: "192.168.56.0/24" });
    const f = fakeRunner({ "vagrant box list": { stdout: "debian/bookworm64 (libvirt, 12.1)\ndebian/bookworm64 (virtualbox, 12.20240905.1)\n" } });
    await virtualboxProvider({ runner: f.runner, host: fakeHost() }).prepareBox(cluster, { ...BOX, version: ">= 12.2024" });
    expect(f.argvs()).toEqual([["vagrant", "box", "list"]]);
  });

  it("adds the wanted version when only another one is present", async () => {
    writeNetwork({ provider: "virtualbox", kind: "hostonlyif", name: "vboxnet0", subnet: "192.168.56.0/24" });
    const f = fakeRunner({ "vagrant box list": { stdout: "debian/bookworm64 (virtualbox, 12.20230723.1, (amd64))\n" } });
    await virtualboxProvider({ runner: f.runner, host: fakeHost() }).prepareBox(cluster, { ...BOX, version: "12.20240905.1" });
    expect(f.argvs()[1]).toEqual(["vagrant", "box", "add", "debian/bookworm64", "--box-version", "12.20240905.1", "--provider", "virtualbox"]);
  });

  it("refuses to write a machine list before the virtualbox network exists, naming the fix", async () => {
    const f = fakeRunner();
    const err = await virtualboxProvider({ runner: f.runner, host: fakeHost() }).prepareBox(cluster, BOX).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as UserError).render()).toMatch(/network\.json: missing: the network stage has not run[\s\S]*fix: run `npx cdktf deploy` again/);
    expect(f.calls).toEqual([]);
  });

  it("reports a failed box add with the command, its error and a fix", async () => {
    writeNetwork({ provider: "virtualbox", kind: "hostonlyif", name: "vboxnet0", subnet: "192.168.56.0/24" });
    const f = fakeRunner({ "vagrant box add debian/bookworm64 --provider virtualbox": { exitCode: 1, stderr: "The box 'debian/bookworm64' could not be found" } });
    const err = (await virtualboxProvider({ runner: f.runner, host: fakeHost() }).prepareBox(cluster, BOX).catch((e: unknown) => e)) as UserError;
    expect(err.exitCode).toBe(1);
    expect(err.render()).toContain("`vagrant box add debian/bookworm64 --provider virtualbox` failed");
    expect(err.render()).toContain("could not be found");
    expect(err.render()).toContain("set box.url in cluster.config.json");
  });
});

describe("box add arguments", () => {
  it("adds a catalogue box by name, with the version constraint", () => {
    expect(boxAddArgs({ name: "debian/bookworm64", version: "~> 12.2024", url: "" }, "libvirt")).toEqual(["box", "add", "debian/bookworm64", "--box-version", "~> 12.2024", "--provider", "libvirt"]);
  });
  it("adds a .box file under the configured name, without a version it could not honour", () => {
    expect(boxAddArgs({ name: "local/deb12", version: "1.0", url: "/boxes/deb12.box" }, "virtualbox")).toEqual(["box", "add", "--name", "local/deb12", "--provider", "virtualbox", "/boxes/deb12.box"]);
  });
  it("keeps the version for a metadata URL", () => {
    expect(boxAddArgs({ name: "org/deb", version: "2.0", url: "file:///m/deb.json" }, "virtualbox")).toEqual(["box", "add", "--name", "org/deb", "--box-version", "2.0", "--provider", "virtualbox", "file:///m/deb.json"]);
  });
});

describe("createMachine", () => {
  it("brings one VM up without provisioning, saves its ssh config 0600, then prepares the runtime root and checks the private IP over ssh", async () => {
    const conf = "Host node1\n  HostName 127.0.0.1\n  User vagrant\n  Port 2222\n";
    const f = fakeRunner({ "vagrant ssh-config node1": { stdout: conf } });
    const ssh = fakeSsh();
    await virtualboxProvider({ runner: f.runner, host: fakeHost(), sshExec: ssh.exec }).createMachine(cluster, node1());
    expect(f.argvs()).toEqual([
      ["vagrant", "up", "node1", "--provider=virtualbox", "--no-provision"],
      ["vagrant", "ssh-config", "node1"],
    ]);
    const file = path.join(dir, ".cluster", "ssh", "node1.conf");
    // Vagrant's config, with one shared connection per VM (10 s per login under emulation).
    expect(readFileSync(file, "utf8")).toBe(withConnectionSharing(conf, sshControlDir()));
    expect(readFileSync(file, "utf8")).toContain(`  ControlMaster auto\n  ControlPath ${sshControlDir()}/%C\n`);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(ssh.calls).toHaveLength(1);
    expect(ssh.calls[0]!.argv).toEqual(["ssh", "-F", file, "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "node1", "bash", "-s"]);
    const input = ssh.calls[0]!.opts.input!;
    expect(input).toMatch(/^export DVC_ROOT='\/opt\/dask-vm-cluster'\nexport DVC_IP='192\.168\.56\.11'\nexport DVC_PREFIX='24'\n/);
    expect(input).toContain('sudo -n install -d -m 0755 -o "$(id -un)" -g "$(id -gn)" "$DVC_ROOT"');
    expect(input).toContain('grep -qx "$DVC_IP/$DVC_PREFIX"');
  });

  it("the bootstrap sets the hostname (kernel, /etc/hostname, 127.0.1.1 in /etc/hosts) and checks the private IP", async () => {
    // Run for real in a UTS and mount namespace of its own, with /etc/hostname and
    // /etc/hosts bound to scratch copies and a sudo that just runs the command.
    const work = mkdtempSync(path.join(os.tmpdir(), "dvc-bootstrap-"));
    try {
      writeFileSync(path.join(work, "hostname"), "debian\n");
      writeFileSync(path.join(work, "hosts"), "127.0.0.1\tlocalhost\n127.0.1.1\tdebian\n");
      mkdirSync(path.join(work, "bin"));
      writeFileSync(path.join(work, "bin", "sudo"), '#!/bin/sh\n[ "$1" = -n ] && shift\nexec "$@"\n', { mode: 0o755 });
      writeFileSync(path.join(work, "bootstrap.sh"), BOOTSTRAP_SCRIPT);
      const inner = [
        `mount --bind ${work}/hostname /etc/hostname`,
        `mount --bind ${work}/hosts /etc/hosts`,
        `export PATH=${work}/bin:$PATH DVC_ROOT=${work}/root DVC_IP=127.0.0.1 DVC_PREFIX=8 DVC_HOSTNAME=node2`,
        `bash ${work}/bootstrap.sh; echo "exit $?"`,
        "hostname",
        `DVC_IP=192.0.2.1 DVC_PREFIX=24 bash ${work}/bootstrap.sh; echo "exit $?"`,
      ].join("; ");
      const r = spawnSync("unshare", ["--uts", "--mount", "sh", "-c", inner], { encoding: "utf8" });
      if (r.error || /unshare failed|Operation not permitted/.test(r.stderr)) throw new Error(`unshare is needed for this test (root on Linux): ${r.error?.message ?? r.stderr}`);
      expect(r.stdout.split("\n").slice(0, 2)).toEqual(["exit 0", "node2"]);
      expect(r.stdout).toMatch(/exit 3/);
      expect(r.stderr).toMatch(/192\.0\.2\.1\/24 is on no interface of node2/);
      expect(readFileSync(path.join(work, "hostname"), "utf8")).toBe("node2\n");
      expect(readFileSync(path.join(work, "hosts"), "utf8")).toBe("127.0.0.1\tlocalhost\n127.0.1.1\tnode2\n");
      expect(statSync(path.join(work, "root")).isDirectory()).toBe(true);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });

  it("uses --provider=libvirt for libvirt", async () => {
    const ref = refFor("libvirt", dir);
    const f = fakeRunner();
    await libvirtProvider({ runner: f.runner, host: fakeHost(), sshExec: fakeSsh().exec }).createMachine(ref, ref.nodes[1]!);
    expect(f.argvs()[0]).toEqual(["vagrant", "up", "node2", "--provider=libvirt", "--no-provision"]);
  });

  it("explains a VM whose private address is missing", async () => {
    const f = fakeRunner();
    const ssh = fakeSsh({ exitCode: 3, stderr: "192.168.56.11/24 is on no interface of node1; it has:\n1: lo inet 127.0.0.1/8\n2: eth0 inet 10.0.2.15/24" });
    const provider = virtualboxProvider({
      runner: f.runner,
      host: fakeHost(),
      sshExec: async (argv, script, opts) => {
        throw new NodeCommandError("node1", script, await ssh.exec(argv, script, opts));
      },
    });
    const err = (await provider.createMachine(cluster, node1()).catch((e: unknown) => e)) as UserError;
    expect(err).toBeInstanceOf(UserError);
    expect(err.render()).toContain("node1 was created but is not usable");
    expect(err.render()).toContain("10.0.2.15");
    expect(err.render()).toContain("vagrant reload node1");
  });
});

describe("destroyMachine", () => {
  beforeEach(() => {
    mkdirSync(path.join(dir, ".cluster"), { recursive: true });
    writeFileSync(path.join(dir, ".cluster", "machines.json"), JSON.stringify({ box: BOX }));
  });

  it("destroys the VM and removes its ssh config; with nodes left nothing else runs", async () => {
    mkdirSync(path.join(dir, ".cluster", "ssh"), { recursive: true });
    writeFileSync(path.join(dir, ".cluster", "ssh", "node1.conf"), "Host node1\n");
    recordVm("node1", "virtualbox");
    recordVm("node2", "virtualbox");
    const f = fakeRunner();
    const ssh = fakeSsh();
    await virtualboxProvider({ runner: f.runner, host: fakeHost(), sshExec: ssh.exec }).destroyMachine(cluster, node1());
    // The shared ssh connection ends first: no ssh master outlives the VM.
    expect(ssh.calls.map((c) => c.argv.slice(-3))).toEqual([["-O", "exit", "node1"]]);
    expect(f.argvs()).toEqual([["vagrant", "destroy", "-f", "node1"]]);
    expect(existsSync(path.join(dir, ".cluster", "ssh", "node1.conf"))).toBe(false);
  });

  it("succeeds without asking Vagrant when it records no VM for the node (already destroyed, or never created)", async () => {
    writeFileSync(path.join(dir, ".cluster", "machines.json"), JSON.stringify({ box: BOX }));
    const f = fakeRunner();
    const ref = refFor("libvirt", dir);
    await libvirtProvider({ runner: f.runner, host: fakeHost() }).destroyMachine(ref, node1());
    // Only libvirt is asked whether a VM of that name exists anyway (it answers 0 with the fake runner: removed).
    expect(f.argvs()).toEqual([
      ["virsh", "--connect", "qemu:///system", "dominfo", `${ref.id}-node1`],
      ["virsh", "--connect", "qemu:///system", "destroy", `${ref.id}-node1`],
      ["virsh", "--connect", "qemu:///system", "undefine", `${ref.id}-node1`, "--remove-all-storage"],
      // the cluster's last machine: is vagrant-libvirt's management network still there to remove? (no)
      ["virsh", "--connect", "qemu:///system", "net-list", "--all", "--name"],
    ]);
    const none = fakeRunner({ [`virsh --connect qemu:///system dominfo ${ref.id}-node1`]: { exitCode: 1, stderr: "error: failed to get domain" } });
    await libvirtProvider({ runner: none.runner, host: fakeHost() }).destroyMachine(ref, node1());
    expect(none.argvs()).toEqual([["virsh", "--connect", "qemu:///system", "dominfo", `${ref.id}-node1`], ["virsh", "--connect", "qemu:///system", "net-list", "--all", "--name"]]);
  });

  it("refuses when Vagrant still records the VM but its machine list is gone, naming both fixes", async () => {
    rmSync(path.join(dir, ".cluster", "machines.json"));
    recordVm("node1", "virtualbox");
    const err = (await virtualboxProvider({ runner: fakeRunner().runner, host: fakeHost() }).destroyMachine(cluster, node1()).catch((e: unknown) => e)) as UserError;
    expect(err.render()).toContain("cannot destroy node1: its machine list is gone");
    expect(err.render()).toContain(`VBoxManage unregistervm ${cluster.id}-node1 --delete`);
  });
});

describe("destroyMachine of a node dropped from the config", () => {
  it("adds it back to the machine list so Vagrant can destroy it", async () => {
    mkdirSync(path.join(dir, ".cluster"), { recursive: true });
    writeFileSync(path.join(dir, ".cluster", "machines.json"), JSON.stringify({ clusterId: cluster.id, provider: "virtualbox", box: BOX, nodes: [{ name: "node1", ip: "192.168.56.11", cpus: 1, memoryMb: 2048 }] }));
    recordVm("node2", "virtualbox");
    const f = fakeRunner();
    await virtualboxProvider({ runner: f.runner, host: fakeHost() }).destroyMachine({ ...cluster, nodes: [cluster.nodes[1]!] }, cluster.nodes[1]!);
    expect(f.argvs()).toEqual([["vagrant", "destroy", "-f", "node2"]]);
    const list = JSON.parse(readFileSync(path.join(dir, ".cluster", "machines.json"), "utf8"));
    expect(list.nodes.map((n: { name: string }) => n.name)).toEqual(["node1", "node2"]);
  });
});

describe("removeBox", () => {
  it("keeps the machine list while Vagrant still records VMs (the box stage is being replaced)", async () => {
    mkdirSync(path.join(dir, ".cluster"), { recursive: true });
    writeFileSync(path.join(dir, ".cluster", "machines.json"), "{}");
    recordVm("node1", "virtualbox");
    await virtualboxProvider({ runner: fakeRunner().runner, host: fakeHost() }).removeBox(cluster, BOX);
    expect(existsSync(path.join(dir, ".cluster", "machines.json"))).toBe(true);
  });

  it("removes the machine list, Vagrant's folder and the ssh configs once no VM is left", async () => {
    mkdirSync(path.join(dir, ".cluster", "ssh"), { recursive: true });
    writeFileSync(path.join(dir, ".cluster", "machines.json"), "{}");
    mkdirSync(path.join(dir, ".cluster", "vagrant", "machines", "node1", "virtualbox"), { recursive: true });
    writeFileSync(path.join(dir, ".cluster", "vagrant", "machines", "node1", "virtualbox", "vagrant_cwd"), "/x");
    const f = fakeRunner();
    await virtualboxProvider({ runner: f.runner, host: fakeHost() }).removeBox(cluster, BOX);
    for (const p of ["machines.json", "vagrant", "ssh"]) expect(existsSync(path.join(dir, ".cluster", p))).toBe(false);
    expect(f.calls).toEqual([]);
  });
});

describe("transport", () => {
  it("hands out an ssh transport on the node's config with the VM runtime root and systemd", () => {
    const t = virtualboxProvider({ runner: fakeRunner().runner, host: fakeHost() }).transport(cluster, node1());
    expect(t.node).toBe("node1");
    expect(t.root).toBe("/opt/dask-vm-cluster");
    expect(t.serviceManager).toBe("systemd");
  });
});

describe("parsers", () => {
  it("reads vagrant box list in the 2.3 and the 2.4 (architecture) format", () => {
    expect(parseBoxList("debian/bookworm64 (virtualbox, 12.20240905.1)\ngeneric/debian12 (libvirt, 4.3.12, (amd64))\nThere are no installed boxes!\n")).toEqual([
      { name: "debian/bookworm64", provider: "virtualbox", version: "12.20240905.1" },
      { name: "generic/debian12", provider: "libvirt", version: "4.3.12" },
    ]);
  });

  it.each([
    ["12.20240905.1", "", true],
    ["12.20240905.1", "12.20240905.1", true],
    ["12.20240905.1", "= 12.20240905.2", false],
    ["12.20240905.1", ">= 12.2024, < 13", true],
    ["13.0", ">= 12.2024, < 13", false],
    ["1.2.9", "~> 1.2.3", true],
    ["1.3.0", "~> 1.2.3", false],
    ["1.9", "~> 1.2", true],
    ["2.0", "~> 1.2", false],
    ["1.0", "!= 1.0", false],
  ])("box version %s against %j is %s", (v, c, ok) => {
    expect(satisfiesConstraint(v, c)).toBe(ok);
  });

  it("reads ip -j route, skipping the default route and treating a bare address as /32", () => {
    const routes = parseIpRouteJson(JSON.stringify([{ dst: "default", dev: "eth0" }, { dst: "10.0.0.0/8", dev: "eth0" }, { dst: "192.168.56.7", dev: "tun0" }]));
    expect(routes.map((r) => [r.dst.text, r.dev])).toEqual([
      ["10.0.0.0/8", "eth0"],
      ["192.168.56.7/32", "tun0"],
    ]);
  });

  it("reads macOS netstat -rn destinations in their short forms", () => {
    const out = [
      "Routing tables",
      "",
      "Internet:",
      "Destination        Gateway            Flags        Netif Expire",
      "default            192.168.1.1        UGScg          en0",
      "10/8               utun3              UScg         utun3",
      "127                127.0.0.1          UCS            lo0",
      "192.168.1          link#6             UCS            en0      !",
      "192.168.1.1/32     link#6             UCS            en0      !",
      "192.168.1.20       a4:83:e7:0:0:1     UHLWIi         en0   1185",
      "192.168.57         link#18            UC       bridge100      !",
    ].join("\n");
    expect(parseNetstatRoutes(out).map((r) => [r.dst.text, r.dev])).toEqual([
      ["10.0.0.0/8", "utun3"],
      ["192.168.1.0/24", "en0"],
      ["192.168.1.1/32", "en0"],
      ["192.168.57.0/24", "bridge100"],
    ]);
  });
});

describe("spawnRunner (the real one)", () => {
  it("passes argv without a shell, feeds stdin, and reports exit codes without throwing", async () => {
    const r = await spawnRunner([process.execPath, "-e", "process.stdin.pipe(process.stdout); process.on('exit', () => process.exitCode = 4)", "a b; $(x)"], { cwd: dir, env: process.env, input: "in put" });
    expect(r).toEqual({ stdout: "in put", stderr: "", exitCode: 4 });
  });

  it("answers a missing program with exit code 127", async () => {
    const r = await spawnRunner(["dvc-no-such-program"], { cwd: dir, env: process.env });
    expect(r.exitCode).toBe(127);
    expect(r.stderr).toContain("dvc-no-such-program: command not found");
  });
});

/** What Vagrant leaves for a created VM: <dotfile>/machines/<node>/<provider>/id. */
function recordVm(node: string, provider: string): void {
  mkdirSync(path.join(dir, ".cluster", "vagrant", "machines", node, provider), { recursive: true });
  writeFileSync(path.join(dir, ".cluster", "vagrant", "machines", node, provider, "id"), `uuid-${node}`);
}

function writeNetwork(record: object): void {
  mkdirSync(path.join(dir, ".cluster"), { recursive: true });
  writeFileSync(path.join(dir, ".cluster", "network.json"), JSON.stringify(record));
}
