// The review of the VirtualBox path (issue 24), one finding each, through the provider's
// real checks (what doctor shows and preflight enforces) on scripted hosts fed recorded
// outputs (test/fixtures/recorded/README.md says where each comes from): macOS VirtualBox
// 7's own host-only network is no foreign route; a non-ASCII Windows profile gets the
// VAGRANT_HOME to set; Windows' ssh.exe; Windows' hypervisor (NEM); disk where the VMs and
// boxes go.
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { CheckRow } from "../../provision/core/check-rows.js";
import { resolveCluster } from "../../provision/config/resolve.js";
import { parseNetstatRoutes } from "../../provision/host/routes.js";
import { nemLines, parseMachineFolder } from "../../provision/machines/virtualbox/host-checks.js";
import { virtualboxProvider } from "../../provision/machines/virtualbox/provider.js";
import { clusterRefOf, type ClusterRef } from "../../provision/core/stage-spec.js";
import { fakeHost, recorded, type FakeHostOptions, type Script } from "../helpers/fake-host.js";

let dir: string;
let cluster: ClusterRef;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), "dvc-vbox-host-"));
  cluster = clusterRefOf(resolveCluster({ provider: "virtualbox", nodes: { count: 2 } }, dir));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const NEEDS = { box: { name: "debian/bookworm64", version: "", url: "" }, python: "3.11", platform: "x86_64" as const };
const rowsOf = (rows: CheckRow[]) => Object.fromEntries(rows.map((r) => [r.check, r]));

/** An Intel Mac with Vagrant 2.4.3 and VirtualBox 7.0, after a deploy: its host-only network is up as bridge100. */
const MAC: Record<string, Script> = {
  "vagrant --version": "Vagrant 2.4.3\n",
  "VBoxManage --version": recorded("vbox-7.0-version.txt"),
  "VBoxManage list hostonlynets": recorded("vbox-7.0-macos-list-hostonlynets.txt"),
  "netstat -rn -f inet": recorded("macos-netstat-rn-vbox7-hostonlynet.txt"),
  "sysctl -n kern.hv_support": "1\n",
};
const mac = (commands: Record<string, Script> = {}) =>
  fakeHost({ platform: "darwin", env: { HOME: "/Users/lea" }, commands: { ...MAC, ...commands } });

const WIN_EXE = "C:\\Program Files\\Oracle\\VirtualBox\\VBoxManage.exe";
const HYPERVISOR = "powershell.exe -NoProfile -NonInteractive -Command";
/** A Windows 11 laptop with Vagrant 2.4.3, VirtualBox 7.1, the OpenSSH client and no hypervisor. */
function windows(o: FakeHostOptions = {}) {
  return fakeHost({
    platform: "win32",
    uid: undefined,
    ...o,
    env: { VBOX_MSI_INSTALL_PATH: "C:\\Program Files\\Oracle\\VirtualBox\\", USERPROFILE: "C:\\Users\\lea", ...o.env },
    commands: {
      "vagrant --version": "Vagrant 2.4.3\n",
      [`${WIN_EXE} --version`]: "7.1.6r167084\n",
      [`${WIN_EXE} list hostonlyifs`]: recorded("vbox-7.0-win-list-hostonlyifs.txt"),
      [`${WIN_EXE} list systemproperties`]: recorded("vbox-7.0-win-list-systemproperties.txt"),
      "route print -4": "",
      "ssh -V": { stderr: recorded("openssh-for-windows-8.1-version.stderr.txt") },
      [HYPERVISOR]: "False\r\n",
      ...o.commands,
    },
  });
}

describe("macOS, VirtualBox 7: the cluster's own host-only network (a bridgeNNN interface) is not a foreign route", () => {
  it("after a deploy, doctor and a redeploy's preflight find the subnet free: bridge100 carries VirtualBox's network on it", async () => {
    // The recorded table really routes 192.168.56/24 through bridge100.
    expect(
      parseNetstatRoutes(recorded("macos-netstat-rn-vbox7-hostonlynet.txt"))
        .filter((r) => r.dev === "bridge100")
        .map((r) => r.dst.text),
    ).toEqual(["192.168.56.0/24", "192.168.56.1/32"]);
    const host = mac();
    const rows = rowsOf(await virtualboxProvider(host).checks(cluster, NEEDS));
    expect(rows["subnet free"]).toMatchObject({
      status: "ok",
      found: "no host route overlaps 192.168.56.0/24 (besides this cluster's bridge100)",
    });
    expect(host.argvs()).toContainEqual(["VBoxManage", "list", "hostonlynets"]);
  });

  it("the network the stage made (named after the cluster, lower = upper = the network address) counts too", async () => {
    const own = `Name:            ${cluster.id}\nGUID:            0e4c1f7a-92b6-4d35-8a1e-6f2d9c3b7a54\n\nState:           Enabled\nNetworkMask:     255.255.255.0\nLowerIP:         192.168.56.0\nUpperIP:         192.168.56.0\nVBoxNetworkName: hostonly-${cluster.id}\n`;
    expect(
      rowsOf(await virtualboxProvider(mac({ "VBoxManage list hostonlynets": own })).checks(cluster, NEEDS))[
        "subnet free"
      ]!.status,
    ).toBe("ok");
  });

  it("a bridge on the subnet with no VirtualBox network there (UTM, Docker Desktop) still fails, naming it", async () => {
    const row = rowsOf(await virtualboxProvider(mac({ "VBoxManage list hostonlynets": "" })).checks(cluster, NEEDS))[
      "subnet free"
    ]!;
    expect(row.status).toBe("fail");
    expect(row.found).toContain("the host route 192.168.56.0/24 on bridge100");
  });
});

describe("Windows: what breaks or slows Vagrant and VirtualBox there", () => {
  it("a complete laptop passes these rows, running ssh -V and one PowerShell query", async () => {
    const host = windows();
    const rows = rowsOf(await virtualboxProvider(host).checks(cluster, NEEDS));
    expect(rows["vagrant home path"]).toMatchObject({ status: "ok", found: "C:\\Users\\lea\\.vagrant.d" });
    expect(rows["ssh client"]).toMatchObject({ status: "ok", found: "OpenSSH_for_Windows_8.1p1, LibreSSL 3.0.2" });
    expect(rows["hyper-v"]!.status).toBe("ok");
    expect(host.argvs()).toContainEqual([
      "powershell.exe",
      "-NoProfile",
      "-NonInteractive",
      "-Command",
      "(Get-CimInstance -ClassName Win32_ComputerSystem).HypervisorPresent",
    ]);
  });

  it("a non-ASCII profile fails and says to set VAGRANT_HOME to an ASCII path; with it set, it passes", async () => {
    const bad = rowsOf(
      await virtualboxProvider(windows({ env: { USERPROFILE: "C:\\Users\\Žan Moškotevc" } })).checks(cluster, NEEDS),
    )["vagrant home path"]!;
    expect(bad).toMatchObject({ status: "fail", path: "VAGRANT_HOME" });
    expect(bad.found).toBe(
      "C:\\Users\\Žan Moškotevc\\.vagrant.d (from USERPROFILE) has characters outside ASCII, which Vagrant on Windows cannot handle (hashicorp/vagrant#11431, #12982)",
    );
    expect(bad.fix).toContain("setx VAGRANT_HOME C:\\vagrant-home");
    const fixed = rowsOf(
      await virtualboxProvider(
        windows({ env: { USERPROFILE: "C:\\Users\\Žan Moškotevc", VAGRANT_HOME: "C:\\vagrant-home" } }),
      ).checks(cluster, NEEDS),
    );
    expect(fixed["vagrant home path"]).toMatchObject({ status: "ok" });
    expect(fixed["vagrant home path"]!.found).toContain("VAGRANT_HOME keeps Vagrant off the non-ASCII profile path");
    const stillBad = rowsOf(
      await virtualboxProvider(windows({ env: { VAGRANT_HOME: "D:\\Vagrant Léa" } })).checks(cluster, NEEDS),
    )["vagrant home path"]!;
    expect(stillBad.status).toBe("fail");
    expect(stillBad.found).toContain("(from VAGRANT_HOME)");
  });

  it("no ssh.exe fails with both ways to add Windows' OpenSSH client", async () => {
    const row = rowsOf(
      await virtualboxProvider(windows({ commands: { "ssh -V": { missing: true, exitCode: 127 } } })).checks(
        cluster,
        NEEDS,
      ),
    )["ssh client"]!;
    expect(row).toMatchObject({ status: "fail", found: "ssh.exe not found" });
    expect(row.fix).toContain("Settings > Apps > Optional features");
    expect(row.fix).toContain("Add-WindowsCapability -Online -Name OpenSSH.Client~~~~0.0.1.0");
  });

  it("Windows' hypervisor (HypervisorPresent) warns with how to turn it off; a VM's VBox.log in NEM mode is quoted", async () => {
    const present = rowsOf(
      await virtualboxProvider(windows({ commands: { [HYPERVISOR]: "True\r\n" } })).checks(cluster, NEEDS),
    )["hyper-v"]!;
    expect(present.status).toBe("warn");
    expect(present.fix).toContain("bcdedit /set hypervisorlaunchtype off");
    expect(present.fix).toContain("Memory integrity");
    // After a deploy: node1's log in the machine folder VBoxManage names (D:\VirtualBox VMs, recorded).
    const log = path.win32.join("D:\\VirtualBox VMs", `${cluster.id}-node1`, "Logs", "VBox.log");
    const host = windows({ files: { [log]: recorded("vbox-7.0-win-vbox-log-nem.txt") } });
    const fromLog = rowsOf(await virtualboxProvider(host).checks(cluster, NEEDS))["hyper-v"]!;
    expect(fromLog).toMatchObject({
      status: "warn",
      found: `${cluster.id}-node1's VBox.log: NEM: NEMR3Init: Snail execution mode is active!`,
    });
    expect(nemLines(recorded("vbox-7.0-win-vbox-log-nem.txt"))).toHaveLength(1);
    const unknown = rowsOf(
      await virtualboxProvider(windows({ commands: { [HYPERVISOR]: { missing: true, exitCode: 127 } } })).checks(
        cluster,
        NEEDS,
      ),
    )["hyper-v"]!;
    expect(unknown.status).toBe("warn");
  });
});

describe("disk where VirtualBox puts the VMs and Vagrant puts the boxes", () => {
  it("measures VirtualBox's machine folder (list systemproperties) and VAGRANT_HOME, not the project's drive", async () => {
    expect(parseMachineFolder(recorded("vbox-7.0-win-list-systemproperties.txt"))).toBe("D:\\VirtualBox VMs");
    const host = windows({ env: { VAGRANT_HOME: "E:\\vagrant" }, freeDiskGiB: { "C:\\": 200, "D:\\": 5, "E:\\": 1 } });
    const rows = rowsOf(await virtualboxProvider(host).checks(cluster, NEEDS));
    expect(rows["disk for VMs"]).toMatchObject({ status: "fail" });
    expect(rows["disk for VMs"]!.found).toBe(
      "5.0 GiB free at D:\\VirtualBox VMs (need 2 nodes × 3 GiB + 2 GiB for the box's master VM = 8.0 GiB, VirtualBox's default machine folder)",
    );
    expect(rows["disk for VMs"]!.fix).toContain("VBoxManage setproperty machinefolder");
    expect(rows["disk for boxes"]).toMatchObject({
      status: "fail",
      found: "1.0 GiB free at E:\\vagrant (need 2.0 GiB for the box, Vagrant's home)",
    });
    expect(rows["disk for boxes"]!.fix).toContain("set VAGRANT_HOME to a folder on a drive with room");
  });

  it("without an answer from VBoxManage, VirtualBox's own default folder in the home is measured", async () => {
    const host = windows({
      commands: { [`${WIN_EXE} list systemproperties`]: { exitCode: 1, stderr: "VBoxManage.exe: error" } },
      freeDiskGiB: { "C:\\Users\\lea": 50 },
    });
    expect(rowsOf(await virtualboxProvider(host).checks(cluster, NEEDS))["disk for VMs"]!.found).toMatch(
      /^50\.0 GiB free at C:\\Users\\lea\\VirtualBox VMs /,
    );
  });
});
