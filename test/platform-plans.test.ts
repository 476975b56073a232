// The exact command plan of the first four stages of `cdktf deploy` with the virtualbox
// provider on each host platform, run through runStage (what Terraform starts) with the
// specs the stack synthesizes, on scripted hosts answering as VirtualBox, Vagrant and
// OpenSSH do there (test/fixtures/recorded): how Terraform starts every stage (node itself
// as local-exec's interpreter, no shell), then every program each stage runs, in order.
// VirtualBox cannot run on this machine; this is the virtualbox path's command-level proof.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { resolveCluster } from "../provision/config/resolve.js";
import { runStage } from "../provision/stages/index.js";
import { memoryLog } from "./helpers/fake-cluster.js";
import { fakeHost, fakeSocketDir, recorded, type FakeHostOptions } from "./helpers/fake-host.js";
import { stackSpecs } from "./helpers/stack-specs.js";

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

interface Platform {
  readonly name: string;
  readonly host: FakeHostOptions;
  readonly node: string;
  readonly vbox: string;
  /** `list hostonlyifs` before and after `hostonlyif create` (or `list hostonlynets`). */
  readonly before: string;
  readonly after?: string;
  readonly box: string;
}

const uid = process.getuid?.() ?? 0;
// The control folder of the macOS and Linux plans is made on this computer (sshControlDir):
// on Windows it has no uid, no mode 0700 and a temp folder too deep for a socket path.
const posix = process.platform !== "win32";
if (!posix)
  console.log(
    `platform-plans: the macOS and Linux plans' ssh connection sharing not checked: its control folder needs a uid and mode 0700 here, on ${process.platform}`,
  );
const SSH_CONFIG = "Host node1\n  HostName 127.0.0.1\n  User vagrant\n  Port 2222\n";
const WIN_EXE = "C:\\Program Files\\Oracle\\VirtualBox\\VBoxManage.exe";
const vboxnet0 = `${recorded("vbox-7.0-list-hostonlyifs.txt").split("\n\n")[0]!}\n\n`;

const PLATFORMS: readonly Platform[] = [
  {
    name: "Windows 11 on an 8 GB laptop (7.6 GiB usable), VirtualBox 7.1 (the installer's adapter on 192.168.56.1/24)",
    host: {
      platform: "win32",
      arch: "x64",
      uid: undefined,
      totalGiB: 7.6,
      freeGiB: 4.1,
      // A non-ASCII profile, with VAGRANT_HOME on an ASCII path as doctor tells such a user to set (Vagrant cannot use
      // the profile's).
      env: {
        VBOX_MSI_INSTALL_PATH: "C:\\Program Files\\Oracle\\VirtualBox\\",
        USERPROFILE: "C:\\Users\\Léa Martin",
        VAGRANT_HOME: "C:\\vagrant-home",
      },
      commands: {
        "route print -4": "",
        "ssh -V": { stderr: recorded("openssh-for-windows-8.1-version.stderr.txt") },
        "powershell.exe -NoProfile -NonInteractive -Command": "False\r\n",
        [`${WIN_EXE} list systemproperties`]: recorded("vbox-7.0-win-list-systemproperties.txt"),
      },
    },
    node: "C:\\Program Files\\nodejs\\node.exe",
    vbox: WIN_EXE,
    before: recorded("vbox-7.0-win-list-hostonlyifs.txt"),
    box: "debian/bookworm64",
  },
  {
    name: "macOS on Intel, VirtualBox 7.0 (host-only networks)",
    host: {
      platform: "darwin",
      arch: "x64",
      uid,
      env: { HOME: "/Users/lea" },
      commands: { "netstat -rn -f inet": "", "sysctl -n kern.hv_support": "1\n" },
    },
    node: "/usr/local/bin/node",
    vbox: "VBoxManage",
    before: "",
    box: "debian/bookworm64",
  },
  {
    name: "macOS on Apple Silicon, VirtualBox 7.1 (arm64 box and lock by default)",
    host: {
      platform: "darwin",
      arch: "arm64",
      uid,
      env: { HOME: "/Users/lea" },
      commands: { "netstat -rn -f inet": "", "sysctl -n kern.hv_support": "1\n" },
    },
    node: "/opt/homebrew/bin/node",
    vbox: "VBoxManage",
    before: "",
    box: "bento/debian-12",
  },
  {
    name: "Linux, VirtualBox 7.0 (no adapter yet)",
    host: {
      platform: "linux",
      arch: "x64",
      uid,
      env: { HOME: "/home/lea" },
      files: { "/proc/cpuinfo": "flags\t\t: fpu vmx\n" },
      commands: { "ip -j route": "[]" },
    },
    node: "/usr/bin/node",
    vbox: "VBoxManage",
    before: recorded("vbox-6.1-list-hostonlyifs-empty.txt"),
    after: vboxnet0,
    box: "debian/bookworm64",
  },
];

/** `list hostonlynets` (VirtualBox 7, macOS) with the cluster's own network, as `hostonlynet add` made it. */
function hostOnlyNet(name: string): string {
  return `Name:            ${name}\nGUID:            0e4c1f7a-92b6-4d35-8a1e-6f2d9c3b7a54\n\nState:           Enabled\nNetworkMask:     255.255.255.0\nLowerIP:         192.168.56.0\nUpperIP:         192.168.56.0\nVBoxNetworkName: hostonly-${name}\n\n`;
}

async function plan(p: Platform) {
  const dir = mkdtempSync(path.join(os.tmpdir(), "dvc-plan-"));
  dirs.push(dir);
  // As stacks/main.ts loads it: the defaults of this host (its platform, architecture and total memory).
  const totalMemBytes = (p.host.totalGiB ?? 16) * 1024 ** 3;
  const cluster = resolveCluster({}, path.join(dir, "Cours Dask é"), {
    host: { platform: p.host.platform!, arch: p.host.arch!, totalMemBytes },
  });
  const specs = stackSpecs(
    cluster,
    {
      python: "3.11",
      platform: cluster.config.runtime.platform,
      lockSha256: "a".repeat(64),
      sourceSha256: "b".repeat(64),
    },
    p.node,
  );
  const version =
    p.host.arch === "arm64" || p.host.platform === "win32" ? "7.1.6r167084\n" : recorded("vbox-7.0-version.txt");
  const host = fakeHost({
    ...p.host,
    unscripted: "missing",
    commands: {
      ...p.host.commands,
      "vagrant --version": "Vagrant 2.4.3\n",
      [`${p.vbox} --version`]: version,
      // preflight, the network stage before and after its create, and its check that the network is there
      [`${p.vbox} list hostonlyifs`]: p.after ? [p.before, p.before, p.after] : p.before,
      // preflight, the network stage, and its check that the network is there
      [`${p.vbox} list hostonlynets`]: ["", "", hostOnlyNet(cluster.id)],
      [`${p.vbox} hostonlyif`]: "",
      [`${p.vbox} hostonlynet add`]: "",
      [`${p.vbox} list vms`]: "",
      "vagrant box list": `${p.box} (virtualbox, 12.20240905.1)\n`,
      "vagrant up": "",
      "vagrant ssh-config": SSH_CONFIG,
      ssh: "3.11.2\n",
    },
  });
  const starts: string[][] = [];
  for (const stage of ["preflight", "network", "box", "machine-node1"]) {
    const s = specs.get(stage)!;
    starts.push([...s.interpreter, "apply"]);
    const log = memoryLog();
    await runStage("apply", JSON.stringify(s.spec), JSON.stringify(s.expect), host, log);
    expect(log.lines.at(-1)).toBe(
      stage === "machine-node1" ? "[machine node1] apply complete" : `[${stage}] apply complete`,
    );
  }
  return { cluster, starts, argvs: host.argvs(), dir };
}

describe("the command plan of preflight, network, box and machine-node1 on each platform", () => {
  it.each(PLATFORMS)("$name", async (p) => {
    const { starts, argvs, cluster } = await plan(p);
    // How Terraform starts each stage: no cmd /C, no sh shim; the project path is working_dir, never parsed.
    for (const s of starts) expect(s).toEqual([p.node, "provision/launch.mjs", "provision/stage.ts", "apply"]);
    const conf = path.join(cluster.clusterDir, "ssh", "node1.conf");
    const noMux = p.host.platform === "win32" ? ["-o", "ControlMaster=no", "-o", "ControlPath=none"] : [];
    const ssh = ["ssh", "-F", conf, "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", ...noMux, "node1", "bash", "-s"];
    const routes = {
      win32: ["route", "print", "-4"],
      darwin: ["netstat", "-rn", "-f", "inet"],
      linux: ["ip", "-j", "route"],
    }[p.host.platform as "win32" | "darwin" | "linux"];
    const v = p.vbox;
    const macNets = p.host.platform === "darwin";
    const win = p.host.platform === "win32";
    const hypervisor = [
      "powershell.exe",
      "-NoProfile",
      "-NonInteractive",
      "-Command",
      "(Get-CimInstance -ClassName Win32_ComputerSystem).HypervisorPresent",
    ];
    const preflight = [
      ["vagrant", "--version"],
      [v, "--version"],
      [v, "list", macNets ? "hostonlynets" : "hostonlyifs"],
      routes,
      ...(macNets ? [["sysctl", "-n", "kern.hv_support"]] : []),
      [v, "list", "systemproperties"], // where VirtualBox puts VMs, for the disk check
      ...(win ? [["ssh", "-V"], hypervisor] : []),
      ...(macNets ? [["vm_stat"]] : []), // available memory as macOS counts it
    ];
    const network = macNets
      ? [
          [v, "--version"],
          [v, "list", "hostonlynets"],
          [
            v,
            "hostonlynet",
            "add",
            "--name",
            cluster.id,
            "--netmask",
            "255.255.255.0",
            "--lower-ip",
            "192.168.56.0",
            "--upper-ip",
            "192.168.56.0",
          ],
          [v, "list", "hostonlynets"], // the stage's check of its outcome
        ]
      : p.after
        ? [
            [v, "--version"],
            [v, "list", "hostonlyifs"],
            [v, "hostonlyif", "create"],
            [v, "list", "hostonlyifs"],
            [v, "hostonlyif", "ipconfig", "vboxnet0", "--ip", "192.168.56.1", "--netmask", "255.255.255.0"],
            [v, "list", "hostonlyifs"], // the stage's check of its outcome
          ]
        : [
            [v, "--version"],
            [v, "list", "hostonlyifs"],
            [v, "list", "hostonlyifs"],
          ]; // Windows: the installer's adapter is reused (and found by the stage's check)
    const box = [["vagrant", "box", "list"]];
    const machine = [
      [v, "list", "vms"],
      ["vagrant", "up", "node1", "--provider=virtualbox", "--no-provision"],
      ["vagrant", "ssh-config", "node1"],
      ssh,
      ssh,
    ];
    expect(argvs).toEqual([...preflight, ...network, ...box, ...machine]);
    // The VMs Vagrant makes have this host's default size: 1 GiB each on the 8 GB laptop, which preflight let through.
    const machines = JSON.parse(readFileSync(path.join(cluster.clusterDir, "machines.json"), "utf8")) as {
      nodes: { memoryMb: number }[];
    };
    expect(machines.nodes.map((n) => n.memoryMb)).toEqual(Array(3).fill(p.host.totalGiB === 7.6 ? 1024 : 2048));
    const sshConfig = readFileSync(conf, "utf8");
    if (p.host.platform === "win32") expect(sshConfig).not.toContain("ControlMaster");
    else if (posix) expect(sshConfig).toContain(`ControlPath ${fakeSocketDir()}/dvc-ssh-${uid}/%C`);
  });

  it("on Apple Silicon the defaults are the arm64 box and the aarch64 lock; the machine list says so", async () => {
    const { cluster } = await plan(PLATFORMS[2]!);
    expect([cluster.config.runtime.platform, cluster.config.box.name]).toEqual(["aarch64", "bento/debian-12"]);
    const list = JSON.parse(readFileSync(path.join(cluster.clusterDir, "machines.json"), "utf8")) as {
      box: { name: string };
    };
    expect(list.box.name).toBe("bento/debian-12");
  });
});
