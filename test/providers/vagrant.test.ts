// The shared Vagrant machine layer with a scripted runner (VirtualBox and a libvirt
// daemon cannot run here): the exact commands of prepareBox, createMachine,
// destroyMachine, the files they write, and the parsers the steps depend on. The real
// vagrant runs on the real Vagrantfile in test/vagrantfile.test.ts.
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { resolveCluster } from "../../provision/config/resolve.js";
import { clusterRefOf, type ClusterRef } from "../../provision/core/stage-spec.js";
import { UserError } from "../../provision/core/errors.js";
import { runProcess } from "../../provision/host/process.js";
import { parseIpRouteJson, parseNetstatRoutes, parseRoutePrint } from "../../provision/host/routes.js";
import {
  boxAddArgs,
  parseBoxList,
  satisfiesConstraint,
  vagrantEnv,
} from "../../provision/machines/vagrant/provider.js";
import { virtualboxProvider } from "../../provision/machines/virtualbox/provider.js";
import { libvirtProvider } from "../../provision/machines/libvirt/provider.js";
import { controlPathFits, sshControlDir, withConnectionSharing } from "../../provision/machines/ssh-transport.js";
import { fakeHost, type FakeHostOptions, type Script } from "../helpers/fake-host.js";

// What needs this computer to be POSIX: a uid, file modes, a program found by its shebang
// on PATH, a symlink made without privilege.
const posix = process.platform !== "win32";
if (!posix)
  console.log(
    `vagrant: the ssh config's 0600 and control folder, PATH search and the refused control folders skipped: they need a uid, file modes and symlinks, on ${process.platform}`,
  );

/** A host where every program succeeds unless scripted; ssh calls kept apart from the rest. */
function fakeRunner(replies: Record<string, Script> = {}, over: FakeHostOptions = {}) {
  const host = fakeHost({
    unscripted: "ok",
    env: { PATH: "/usr/bin", HOME: "/home/test" },
    kvm: true,
    uid: process.getuid?.(),
    ...over,
    commands: replies,
  });
  const notSsh = () => host.calls.filter((c) => c.argv[0] !== "ssh");
  return {
    host,
    get calls() {
      return notSsh();
    },
    argvs: () => notSsh().map((c) => c.argv),
    ssh: () => host.calls.filter((c) => c.argv[0] === "ssh"),
  };
}

let dir: string;
let cluster: ClusterRef;

function refFor(provider: "virtualbox" | "libvirt", projectDir: string): ClusterRef {
  return clusterRefOf(resolveCluster({ provider, nodes: { count: 2 } }, projectDir));
}

beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), "dvc-vagrant-"));
  cluster = refFor("virtualbox", dir);
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const BOX = { name: "debian/bookworm64", version: "", url: "" };
const node1 = () => cluster.nodes[0]!;

describe("vagrant environment", () => {
  it("points Vagrant at provision/machines/vagrant/Vagrantfile, the cluster's dotfile folder and machine list, without colour or checkpoint calls", () => {
    const env = vagrantEnv(cluster, { PATH: "/bin" });
    expect(env).toEqual({
      PATH: "/bin",
      VAGRANT_CWD: path.join(dir, "provision", "machines", "vagrant"),
      VAGRANT_DOTFILE_PATH: path.join(dir, ".cluster", "vagrant"),
      DVC_MACHINES: path.join(dir, ".cluster", "machines.json"),
      VAGRANT_NO_COLOR: "1",
      VAGRANT_CHECKPOINT_DISABLE: "1",
    });
  });
});

describe("prepareBox", () => {
  it("writes the machine list the Vagrantfile reads, then adds the box only when it is missing", async () => {
    writeNetwork({
      provider: "virtualbox",
      kind: "hostonlyif",
      name: "vboxnet3",
      subnet: "192.168.56.0/24",
      device: "vboxnet3",
    });
    const f = fakeRunner({ "vagrant box list": { stdout: "ubuntu/jammy64 (virtualbox, 1.0)\n" } });
    await virtualboxProvider(f.host).prepareBox(cluster, BOX);
    expect(f.argvs()).toEqual([
      ["vagrant", "box", "list"],
      ["vagrant", "box", "add", "debian/bookworm64", "--provider", "virtualbox"],
    ]);
    expect(
      f.calls.every(
        (c) =>
          c.cwd === path.join(dir, "provision", "machines", "vagrant") &&
          c.env?.DVC_MACHINES === path.join(dir, ".cluster", "machines.json"),
      ),
    ).toBe(true);
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
    const f = fakeRunner({
      "vagrant box list": {
        stdout: "debian/bookworm64 (libvirt, 12.1)\ndebian/bookworm64 (virtualbox, 12.20240905.1)\n",
      },
    });
    await virtualboxProvider(f.host).prepareBox(cluster, { ...BOX, version: ">= 12.2024" });
    expect(f.argvs()).toEqual([["vagrant", "box", "list"]]);
  });

  it("adds the wanted version when only another one is present", async () => {
    writeNetwork({ provider: "virtualbox", kind: "hostonlyif", name: "vboxnet0", subnet: "192.168.56.0/24" });
    const f = fakeRunner({
      "vagrant box list": { stdout: "debian/bookworm64 (virtualbox, 12.20230723.1, (amd64))\n" },
    });
    await virtualboxProvider(f.host).prepareBox(cluster, { ...BOX, version: "12.20240905.1" });
    expect(f.argvs()[1]).toEqual([
      "vagrant",
      "box",
      "add",
      "debian/bookworm64",
      "--box-version",
      "12.20240905.1",
      "--provider",
      "virtualbox",
    ]);
  });

  it("refuses to write a machine list before the virtualbox network exists, naming the fix", async () => {
    const f = fakeRunner();
    const err = await virtualboxProvider(f.host)
      .prepareBox(cluster, BOX)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as UserError).render()).toMatch(
      /network\.json: missing: the network stage has not run[\s\S]*fix: run `npx cdktf deploy` again/,
    );
    expect(f.calls).toEqual([]);
  });

  it("reports a failed box add with the command, its error and a fix", async () => {
    writeNetwork({ provider: "virtualbox", kind: "hostonlyif", name: "vboxnet0", subnet: "192.168.56.0/24" });
    const f = fakeRunner({
      "vagrant box add debian/bookworm64 --provider virtualbox": {
        exitCode: 1,
        stderr: "The box 'debian/bookworm64' could not be found",
      },
    });
    const err = (await virtualboxProvider(f.host)
      .prepareBox(cluster, BOX)
      .catch((e: unknown) => e)) as UserError;
    expect(err.exitCode).toBe(1);
    expect(err.render()).toContain("`vagrant box add debian/bookworm64 --provider virtualbox` failed");
    expect(err.render()).toContain("could not be found");
    expect(err.render()).toContain("set box.url in cluster.config.json");
  });
});

describe("box add arguments", () => {
  it("adds a catalogue box by name, with the version constraint", () => {
    expect(boxAddArgs({ name: "debian/bookworm64", version: "~> 12.2024", url: "" }, "libvirt")).toEqual([
      "box",
      "add",
      "debian/bookworm64",
      "--box-version",
      "~> 12.2024",
      "--provider",
      "libvirt",
    ]);
  });
  it("adds a .box file under the configured name, without a version it could not honour", () => {
    expect(boxAddArgs({ name: "local/deb12", version: "1.0", url: "/boxes/deb12.box" }, "virtualbox")).toEqual([
      "box",
      "add",
      "--name",
      "local/deb12",
      "--provider",
      "virtualbox",
      "/boxes/deb12.box",
    ]);
  });
  it("keeps the version for a metadata URL", () => {
    expect(boxAddArgs({ name: "org/deb", version: "2.0", url: "file:///m/deb.json" }, "virtualbox")).toEqual([
      "box",
      "add",
      "--name",
      "org/deb",
      "--box-version",
      "2.0",
      "--provider",
      "virtualbox",
      "file:///m/deb.json",
    ]);
  });
});

describe("createMachine", () => {
  it.runIf(posix)(
    "brings one VM up without provisioning, saves its ssh config 0600, then prepares the runtime root and checks the private IP over ssh",
    async () => {
      const conf = "Host node1\n  HostName 127.0.0.1\n  User vagrant\n  Port 2222\n";
      const f = fakeRunner({ "vagrant ssh-config node1": { stdout: conf } });
      await virtualboxProvider(f.host).createMachine(cluster, node1());
      expect(f.argvs()).toEqual([
        // No record of node1 yet: first, is there a VM of that name Vagrant does not know (no)?
        ["VBoxManage", "list", "vms"],
        ["vagrant", "up", "node1", "--provider=virtualbox", "--no-provision"],
        ["vagrant", "ssh-config", "node1"],
      ]);
      const file = path.join(dir, ".cluster", "ssh", "node1.conf");
      // Vagrant's config, with one shared connection per VM (10 s per login under emulation).
      const uid = process.getuid!();
      const control = sshControlDir("linux", uid, f.host.socketDir);
      expect(control).toBe(`${f.host.socketDir}/dvc-ssh-${uid}`);
      expect(readFileSync(file, "utf8")).toBe(withConnectionSharing(conf, control));
      expect(readFileSync(file, "utf8")).toContain(
        `  ControlMaster auto\n  ControlPath ${f.host.socketDir}/dvc-ssh-${uid}/%C\n`,
      );
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(f.ssh()).toHaveLength(1);
      expect(f.ssh()[0]!.argv).toEqual([
        "ssh",
        "-F",
        file,
        "-o",
        "BatchMode=yes",
        "-o",
        "ConnectTimeout=10",
        "node1",
        "bash",
        "-s",
      ]);
      const input = f.ssh()[0]!.input!;
      expect(input).toMatch(
        /^export DVC_ROOT=\/opt\/dask-vm-cluster\nexport DVC_IP=192\.168\.56\.11\nexport DVC_PREFIX=24\n/,
      );
      expect(input).toContain('sudo -n install -d -m 0755 -o "$(id -un)" -g "$(id -gn)" "$DVC_ROOT"');
      expect(input).toContain('grep -qx "$DVC_IP/$DVC_PREFIX"');
    },
  );

  it("uses --provider=libvirt for libvirt", async () => {
    const ref = refFor("libvirt", dir);
    const f = fakeRunner({
      [`virsh --connect qemu:///system dominfo ${ref.id}-node2`]: {
        exitCode: 1,
        stderr: "error: failed to get domain",
      },
    });
    await libvirtProvider(f.host).createMachine(ref, ref.nodes[1]!);
    expect(f.argvs().slice(0, 2)).toEqual([
      ["virsh", "--connect", "qemu:///system", "dominfo", `${ref.id}-node2`],
      ["vagrant", "up", "node2", "--provider=libvirt", "--no-provision"],
    ]);
  });

  it("explains a VM whose private address is missing", async () => {
    const f = fakeRunner({
      ssh: {
        exitCode: 3,
        stderr:
          "192.168.56.11/24 is on no interface of node1; it has:\n1: lo inet 127.0.0.1/8\n2: eth0 inet 10.0.2.15/24",
      },
    });
    const provider = virtualboxProvider(f.host);
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
    await virtualboxProvider(f.host).destroyMachine(cluster, node1());
    // The shared ssh connection ends first: no ssh master outlives the VM.
    expect(f.ssh().map((c) => c.argv.slice(-3))).toEqual([["-O", "exit", "node1"]]);
    expect(f.argvs()).toEqual([["vagrant", "destroy", "-f", "node1"]]);
    expect(existsSync(path.join(dir, ".cluster", "ssh", "node1.conf"))).toBe(false);
  });

  it("succeeds without asking Vagrant when it records no VM for the node (already destroyed, or never created)", async () => {
    writeFileSync(path.join(dir, ".cluster", "machines.json"), JSON.stringify({ box: BOX }));
    const f = fakeRunner();
    const ref = refFor("libvirt", dir);
    await libvirtProvider(f.host).destroyMachine(ref, node1());
    // Only libvirt is asked whether a VM of that name exists anyway (it answers 0 with the fake runner: removed).
    expect(f.argvs()).toEqual([
      ["virsh", "--connect", "qemu:///system", "dominfo", `${ref.id}-node1`],
      ["virsh", "--connect", "qemu:///system", "destroy", `${ref.id}-node1`],
      ["virsh", "--connect", "qemu:///system", "undefine", `${ref.id}-node1`, "--remove-all-storage"],
      // the cluster's last machine: is vagrant-libvirt's management network still there to remove? (no)
      ["virsh", "--connect", "qemu:///system", "net-list", "--all", "--name"],
    ]);
    const none = fakeRunner({
      [`virsh --connect qemu:///system dominfo ${ref.id}-node1`]: {
        exitCode: 1,
        stderr: "error: failed to get domain",
      },
    });
    await libvirtProvider(none.host).destroyMachine(ref, node1());
    expect(none.argvs()).toEqual([
      ["virsh", "--connect", "qemu:///system", "dominfo", `${ref.id}-node1`],
      ["virsh", "--connect", "qemu:///system", "net-list", "--all", "--name"],
    ]);
  });

  it("refuses when Vagrant still records the VM but its machine list is gone, naming both fixes", async () => {
    rmSync(path.join(dir, ".cluster", "machines.json"));
    recordVm("node1", "virtualbox");
    const err = (await virtualboxProvider(fakeRunner().host)
      .destroyMachine(cluster, node1())
      .catch((e: unknown) => e)) as UserError;
    expect(err.render()).toContain("cannot destroy node1: its machine list is gone");
    expect(err.render()).toContain(`VBoxManage unregistervm ${cluster.id}-node1 --delete`);
  });
});

describe("destroyMachine of a node dropped from the config", () => {
  it("adds it back to the machine list so Vagrant can destroy it", async () => {
    mkdirSync(path.join(dir, ".cluster"), { recursive: true });
    writeFileSync(
      path.join(dir, ".cluster", "machines.json"),
      JSON.stringify({
        clusterId: cluster.id,
        provider: "virtualbox",
        box: BOX,
        nodes: [{ name: "node1", ip: "192.168.56.11", cpus: 1, memoryMb: 2048 }],
      }),
    );
    recordVm("node2", "virtualbox");
    const f = fakeRunner();
    await virtualboxProvider(f.host).destroyMachine({ ...cluster, nodes: [cluster.nodes[1]!] }, cluster.nodes[1]!);
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
    await virtualboxProvider(fakeRunner().host).removeBox(cluster, BOX);
    expect(existsSync(path.join(dir, ".cluster", "machines.json"))).toBe(true);
  });

  it("removes the machine list, Vagrant's folder and the ssh configs once no VM is left", async () => {
    mkdirSync(path.join(dir, ".cluster", "ssh"), { recursive: true });
    writeFileSync(path.join(dir, ".cluster", "machines.json"), "{}");
    mkdirSync(path.join(dir, ".cluster", "vagrant", "machines", "node1", "virtualbox"), { recursive: true });
    writeFileSync(path.join(dir, ".cluster", "vagrant", "machines", "node1", "virtualbox", "vagrant_cwd"), "/x");
    const f = fakeRunner();
    await virtualboxProvider(f.host).removeBox(cluster, BOX);
    for (const p of ["machines.json", "vagrant", "ssh"]) expect(existsSync(path.join(dir, ".cluster", p))).toBe(false);
    expect(f.calls).toEqual([]);
  });
});

describe("transport", () => {
  it("hands out an ssh transport on the node's config with the VM runtime root and systemd", () => {
    const t = virtualboxProvider(fakeRunner().host).transport(cluster, node1());
    expect(t.node).toBe("node1");
    expect(t.root).toBe("/opt/dask-vm-cluster");
    expect(t.serviceManager).toBe("systemd");
  });
});

describe("parsers", () => {
  it("reads vagrant box list in the 2.3 and the 2.4 (architecture) format", () => {
    expect(
      parseBoxList(
        "debian/bookworm64 (virtualbox, 12.20240905.1)\ngeneric/debian12 (libvirt, 4.3.12, (amd64))\nThere are no installed boxes!\n",
      ),
    ).toEqual([
      { name: "debian/bookworm64", provider: "virtualbox", version: "12.20240905.1" },
      { name: "generic/debian12", provider: "libvirt", version: "4.3.12", arch: "amd64" },
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
    const routes = parseIpRouteJson(
      JSON.stringify([
        { dst: "default", dev: "eth0" },
        { dst: "10.0.0.0/8", dev: "eth0" },
        { dst: "192.168.56.7", dev: "tun0" },
      ]),
    );
    expect(routes.map((r) => [r.dst.text, r.dev])).toEqual([
      ["10.0.0.0/8", "eth0"],
      ["192.168.56.7/32", "tun0"],
    ]);
  });

  it("reads Windows route print -4: on-link networks by the host's address on them", () => {
    const out = [
      "IPv4 Route Table",
      "===========================================================================",
      "Active Routes:",
      "Network Destination        Netmask          Gateway       Interface  Metric",
      "          0.0.0.0          0.0.0.0      192.168.1.1    192.168.1.100     25",
      "        127.0.0.0        255.0.0.0         On-link         127.0.0.1    331",
      "      192.168.1.0    255.255.255.0         On-link     192.168.1.100    281",
      "     192.168.56.0    255.255.255.0         On-link      192.168.56.1    281",
      "     192.168.56.1  255.255.255.255         On-link      192.168.56.1    281",
      "===========================================================================",
      "Persistent Routes:",
      "  None",
    ].join("\r\n");
    expect(parseRoutePrint(out).map((r) => [r.dst.text, r.dev])).toEqual([
      ["192.168.1.0/24", "192.168.1.100"],
      ["192.168.56.0/24", "192.168.56.1"],
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

describe("runProcess (the one real runner)", () => {
  it("passes argv without a shell, feeds stdin, and reports exit codes without throwing", async () => {
    const r = await runProcess(
      [
        process.execPath,
        "-e",
        "process.stdin.pipe(process.stdout); process.on('exit', () => process.exitCode = 4)",
        "a b; $(x)",
      ],
      { cwd: dir, input: "in put" },
    );
    expect([r.stdout, r.stderr, r.exitCode, r.missing, r.timedOut]).toEqual(["in put", "", 4, false, false]);
  });

  it("answers a missing program and a program out of time with results of their own", async () => {
    const missing = await runProcess(["dvc-no-such-program"], { cwd: dir });
    expect([missing.exitCode, missing.missing]).toEqual([127, true]);
    expect(missing.stderr).toContain("dvc-no-such-program: command not found");
    const slow = await runProcess([process.execPath, "-e", "setTimeout(() => {}, 10000)"], { timeoutMs: 300 });
    expect([slow.exitCode, slow.timedOut, slow.missing]).toEqual([124, true, false]);
    expect(slow.seconds).toBeLessThan(5);
    // Longer than a timer can wait (a week-long job on an emulated VM: 7 days × 4): no limit, not an instant kill.
    const long = await runProcess([process.execPath, "-e", "setTimeout(() => {}, 300)"], {
      timeoutMs: 7 * 24 * 3_600_000 * 4,
    });
    expect([long.exitCode, long.timedOut]).toEqual([0, false]);
  });

  it.runIf(posix)(
    "a program found nowhere is missing even when a PATH folder cannot be searched; one that is there but not executable is not",
    async () => {
      const closed = path.join(dir, "closed");
      const bin = path.join(dir, "bin");
      mkdirSync(closed, { mode: 0o000 });
      mkdirSync(bin);
      writeFileSync(path.join(bin, "dvc-not-executable"), "#!/bin/sh\n", { mode: 0o644 });
      try {
        const env = { PATH: [closed, bin, "/usr/bin", "/bin"].join(path.delimiter) };
        // As a normal user execvp answers EACCES here (root may search any folder: ENOENT).
        const missing = await runProcess(["dvc-no-such-program"], { cwd: dir, env });
        expect([missing.exitCode, missing.missing, missing.stderr]).toEqual([
          127,
          true,
          "dvc-no-such-program: command not found",
        ]);
        const denied = await runProcess(["dvc-not-executable"], { cwd: dir, env });
        expect([denied.exitCode, denied.missing]).toEqual([126, false]);
      } finally {
        chmodSync(closed, 0o700);
      }
    },
  );

  it("streams stdout lines as they arrive", async () => {
    const lines: string[] = [];
    await runProcess([process.execPath, "-e", "console.log('one'); console.log('two')"], {
      onLine: (l) => lines.push(l),
    });
    expect(lines).toEqual(["one", "two"]);
  });
});

describe("ssh connection sharing", () => {
  it("counts the 17 bytes OpenSSH adds for the master's temporary socket (mux.c muxserver_listen) and the 40 of %C", () => {
    // sun_path: 104 bytes on macOS, NUL included: dir + "/" + 40 + 17 + NUL <= 104.
    expect(controlPathFits("/".padEnd(45, "x"))).toBe(true);
    expect(controlPathFits("/".padEnd(46, "x"))).toBe(false);
    // A student's home on a Mac: ~/.cache/dask-vm-cluster/ssh would not fit; /tmp/dvc-ssh-<uid> does.
    expect(controlPathFits("/Users/leonardo.da.vinci.etudiant/.cache/dask-vm-cluster/ssh")).toBe(false);
    expect(controlPathFits("/tmp/dvc-ssh-501")).toBe(true);
    expect(withConnectionSharing("Host n\n", "/Users/leonardo.da.vinci.etudiant/.cache/dask-vm-cluster/ssh")).toBe(
      "Host n\n",
    );
  });

  it("is off on Windows (Win32-OpenSSH has no ControlMaster, PowerShell/Win32-OpenSSH#405): nothing in the config, and ControlMaster=no on every ssh", async () => {
    expect(sshControlDir("win32", undefined)).toBeUndefined();
    const conf =
      'Host node1\n  HostName 127.0.0.1\n  User vagrant\n  Port 2222\n  IdentityFile "C:/Users/Léa Martin/.vagrant.d/insecure_private_key"\n';
    const f = fakeRunner(
      { "vagrant ssh-config node1": { stdout: conf } },
      { platform: "win32", uid: undefined, env: { USERPROFILE: "C:\\Users\\Léa Martin" } },
    );
    await virtualboxProvider(f.host).createMachine(cluster, node1());
    expect(readFileSync(path.join(dir, ".cluster", "ssh", "node1.conf"), "utf8")).toBe(conf);
    expect(f.ssh()[0]!.argv).toEqual([
      "ssh",
      "-F",
      path.join(dir, ".cluster", "ssh", "node1.conf"),
      "-o",
      "BatchMode=yes",
      "-o",
      "ConnectTimeout=10",
      "-o",
      "ControlMaster=no",
      "-o",
      "ControlPath=none",
      "node1",
      "bash",
      "-s",
    ]);
  });

  it.runIf(posix)("refuses a control folder someone else made in /tmp (a symlink, or not ours)", () => {
    const base = mkdtempSync(path.join(os.tmpdir(), "dvc-ctl-"));
    try {
      const uid = process.getuid!();
      expect(sshControlDir("linux", uid, base)).toBe(path.join(base, `dvc-ssh-${uid}`));
      expect(statSync(path.join(base, `dvc-ssh-${uid}`)).mode & 0o777).toBe(0o700);
      // Made by this user for another uid (as a root test run would): not that user's.
      const warnings: string[] = [];
      expect(sshControlDir("linux", uid + 1, base, (m) => warnings.push(m))).toBeUndefined();
      expect(warnings).toEqual([
        `ssh connection sharing is off (each command logs in again, slower): ${base}/dvc-ssh-${uid + 1} is not a folder of yours with mode 0700; remove it (rm -rf ${base}/dvc-ssh-${uid + 1}) and deploy again`,
      ]);
      // A symlink planted in its place, even to a folder of ours.
      const target = mkdtempSync(path.join(os.tmpdir(), "dvc-ctl-target-"));
      chmodSync(target, 0o700);
      const other = mkdtempSync(path.join(os.tmpdir(), "dvc-ctl-"));
      symlinkSync(target, path.join(other, `dvc-ssh-${uid}`));
      expect(sshControlDir("linux", uid, other, () => {})).toBeUndefined();
      rmSync(target, { recursive: true, force: true });
      rmSync(other, { recursive: true, force: true });
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
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
