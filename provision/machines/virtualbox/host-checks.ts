// The virtualbox provider's checks of this host beyond VirtualBox itself: free disk where
// VirtualBox puts the VMs and Vagrant puts the boxes, and on Windows what breaks or slows
// Vagrant + VirtualBox there (a non-ASCII profile path, no OpenSSH client, Windows'
// hypervisor). virtualbox.ts runs them with its own; doctor and preflight show the same.
//
// Facts these rest on:
// - `VBoxManage list systemproperties` prints "Default machine folder:" (VBoxManageList.cpp
//   listSystemProperties); VirtualBox 7 translates the label (List::tr), which vboxEnv
//   asks in English; unread, VirtualBox's own default is "VirtualBox VMs" in the home folder.
// - Vagrant keeps boxes in VAGRANT_HOME, else ~/.vagrant.d; a linked clone's master VM and
//   the clones' differencing disks go into the machine folder.
// - Vagrant on Windows fails when its home path holds non-ASCII characters ("U+017D to
//   IBM437 in conversion", hashicorp/vagrant#11431; "home directory ... is not accessible",
//   #2465; #2113, #12982): the workaround the maintainers' threads give is VAGRANT_HOME set
//   to an ASCII path (`setx VAGRANT_HOME C:\vagrant-home`).
// - When Windows' own hypervisor runs (Hyper-V, WSL2, Windows Sandbox, Memory integrity),
//   VirtualBox cannot use VT-x itself and runs on Hyper-V's API (NEM), which its log calls
//   "Snail execution mode" (VBox.log lines quoted in hashicorp/vagrant#11853).
//   Win32_ComputerSystem.HypervisorPresent says so before any VM ran, without admin rights
//   (bcdedit needs them; systeminfo's words are translated).
import path from "node:path";
import { fail, ok, warn, type CheckRow } from "../../core/check-rows.js";
import { diskRow, DISK_PER_NODE_GIB } from "../../host/checks.js";
import type { Host } from "../../host/host.js";
import { describeFailure } from "../../host/process.js";
import type { ClusterRef } from "../../core/stage-spec.js";
import { vagrantHome, vmName } from "../vagrant/provider.js";

const GIB = 1024 ** 3;
/** A box as Vagrant unpacks it (the download and the unpacked disk both exist for a moment). */
export const BOX_DISK_GIB = 2;
/** The linked clones' master VM, imported once per box version into the machine folder. */
export const MASTER_DISK_GIB = 2;

/**
 * The "Default machine folder:" of `VBoxManage list systemproperties`; undefined when the line is not there
 * (translated).
 */
export function parseMachineFolder(stdout: string): string | undefined {
  return /^Default machine folder:\s*(.+?)\s*$/m.exec(stdout)?.[1];
}

/** VirtualBox's own default machine folder: "VirtualBox VMs" in the user's home. */
export function defaultMachineFolder(host: Host): string {
  const home = (host.platform === "win32" ? host.env.USERPROFILE : host.env.HOME) || host.env.HOME || "";
  return (host.platform === "win32" ? path.win32.join : path.posix.join)(home, "VirtualBox VMs");
}

/** Disk rows for where the VMs go and where the boxes go. */
export function vboxDiskRows(host: Host, cluster: Pick<ClusterRef, "nodes">, machineFolder: string): CheckRow[] {
  const n = cluster.nodes.length;
  const vms = (n * DISK_PER_NODE_GIB + MASTER_DISK_GIB) * GIB;
  const home = vagrantHome(host);
  return [
    diskRow(
      host,
      "disk for VMs",
      machineFolder,
      vms,
      `${n} nodes × ${DISK_PER_NODE_GIB} GiB + ${MASTER_DISK_GIB} GiB for the box's master VM = ${n * DISK_PER_NODE_GIB + MASTER_DISK_GIB}.0 GiB, VirtualBox's default machine folder`,
      "move VirtualBox's machine folder to a drive with room (VirtualBox > File > Preferences > General > Default Machine Folder, or VBoxManage setproperty machinefolder <folder>)",
    ),
    diskRow(
      host,
      "disk for boxes",
      home,
      BOX_DISK_GIB * GIB,
      `${BOX_DISK_GIB}.0 GiB for the box, Vagrant's home`,
      "set VAGRANT_HOME to a folder on a drive with room (boxes already there are downloaded again)",
    ),
  ];
}

const NON_ASCII = /[^\x20-\x7e]/;

/**
 * Windows: Vagrant's home path (VAGRANT_HOME, else the profile's .vagrant.d) must be ASCII.
 * A non-ASCII profile with an ASCII VAGRANT_HOME is fine.
 */
export function profilePathCheck(host: Host): CheckRow {
  const name = "vagrant home path";
  const home = vagrantHome(host);
  const set = host.env.VAGRANT_HOME ? "VAGRANT_HOME" : "USERPROFILE";
  if (!NON_ASCII.test(home))
    return ok(
      name,
      `${home}${host.env.VAGRANT_HOME && NON_ASCII.test(host.env.USERPROFILE ?? "") ? " (VAGRANT_HOME keeps Vagrant off the non-ASCII profile path)" : ""}`,
    );
  return fail(
    name,
    `${home} (from ${set}) has characters outside ASCII, which Vagrant on Windows cannot handle (hashicorp/vagrant#11431, #12982)`,
    "give Vagrant an ASCII home: `setx VAGRANT_HOME C:\\vagrant-home` (PowerShell or cmd), then open a new terminal; boxes are downloaded there again",
    "VAGRANT_HOME",
  );
}

/** Windows: the OpenSSH client (ssh.exe), which every stage uses to reach the nodes. */
export async function sshClientCheck(host: Host): Promise<CheckRow> {
  const name = "ssh client";
  const r = await host.run(["ssh", "-V"], { timeoutMs: 15_000 });
  // ssh -V prints its version on stderr.
  const version = `${r.stderr}\n${r.stdout}`
    .split(/\r?\n/)
    .find((l) => /OpenSSH/i.test(l))
    ?.trim();
  if (r.exitCode === 0 && version) return ok(name, version);
  return fail(
    name,
    r.missing ? "ssh.exe not found" : version ? `${version}: ${describeFailure(r)}` : describeFailure(r),
    "add Windows' OpenSSH client: Settings > Apps > Optional features > Add a feature > OpenSSH Client, or in an administrator PowerShell `Add-WindowsCapability -Online -Name OpenSSH.Client~~~~0.0.1.0`; then open a new terminal",
  );
}

/** The lines of a VBox.log that say VirtualBox ran on Hyper-V's API (NEM). */
export function nemLines(log: string): string[] {
  return log
    .split(/\r?\n/)
    .filter((l) => /NEM: NEMR3Init: Snail execution mode is active|HMR3Init: Attempting fall back to NEM/.test(l));
}

const HYPERV_FIX =
  "VirtualBox then runs on Hyper-V's API, several times slower. If you do not need WSL2, Docker Desktop, Windows Sandbox or Memory integrity, turn the hypervisor off: in an administrator terminal `bcdedit /set hypervisorlaunchtype off`, and Windows Security > Device security > Core isolation > Memory integrity: Off; then restart (`bcdedit /set hypervisorlaunchtype auto` undoes it). Otherwise the cluster still runs, slowly: give it fewer nodes";

/**
 * Windows: whether Windows' hypervisor runs under everything. From the log of a VM of this
 * cluster when there is one (proof of what VirtualBox did), else HypervisorPresent.
 */
export async function hypervisorCheck(host: Host, cluster: ClusterRef, machineFolder: string): Promise<CheckRow> {
  const name = "hyper-v";
  for (const node of cluster.nodes) {
    const vm = vmName(cluster, node);
    const log = host.readText(path.win32.join(machineFolder, vm, "Logs", "VBox.log"));
    const lines = log === undefined ? [] : nemLines(log);
    if (lines.length) return warn(name, `${vm}'s VBox.log: ${lines[0]!.replace(/^[\d:.]+\s*/, "")}`, HYPERV_FIX);
  }
  const r = await host.run(
    [
      "powershell.exe",
      "-NoProfile",
      "-NonInteractive",
      "-Command",
      "(Get-CimInstance -ClassName Win32_ComputerSystem).HypervisorPresent",
    ],
    {
      timeoutMs: 30_000,
    },
  );
  const answer = r.stdout.trim();
  if (r.exitCode === 0 && answer === "False")
    return ok(
      name,
      "no hypervisor under Windows (Win32_ComputerSystem.HypervisorPresent = False): VirtualBox uses VT-x/AMD-V itself",
    );
  if (r.exitCode === 0 && answer === "True")
    return warn(
      name,
      "a hypervisor runs under Windows (Win32_ComputerSystem.HypervisorPresent = True: Hyper-V, WSL2, Memory integrity, or Windows is itself a VM)",
      HYPERV_FIX,
    );
  return warn(
    name,
    `could not ask whether Hyper-V runs (${describeFailure(r)})`,
    "if VirtualBox shows a green turtle in its status bar, it runs on Hyper-V: see the README's Windows steps",
  );
}
