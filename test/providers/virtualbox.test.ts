// The virtualbox provider's real code against a scripted host (VirtualBox cannot run on
// this machine), fed outputs recorded from VBoxManage's own formats (test/fixtures/recorded):
// the checks preflight and doctor share, the host-only network on Linux, macOS and
// Windows, the linked-clone master, a VM Vagrant has no record of, and the locale every
// VBoxManage runs in. Vagrant's side of the same files is checked by the real `vagrant
// validate` in test/vagrantfile.test.ts.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { CheckRow } from "../../provision/core/check-rows.js";
import { resolveCluster } from "../../provision/config/resolve.js";
import type { UserError } from "../../provision/core/errors.js";
import {
  adaptersOnSubnet,
  masterIds,
  masterStillUsed,
  parseHostOnlyIfs,
  parseHostOnlyNets,
  parseVboxHdds,
  parseVboxVersion,
  parseVboxVms,
  rangeRuleApplies,
  vboxEnv,
  vboxMachineState,
  virtualboxProvider,
} from "../../provision/machines/virtualbox/provider.js";
import { parseCidr } from "../../provision/core/ipv4.js";
import { clusterRefOf, type ClusterRef } from "../../provision/core/stage-spec.js";
import { fakeHost, recorded, type FakeHostOptions, type Script } from "../helpers/fake-host.js";

let dir: string;
let cluster: ClusterRef;

function ref(config: object = {}): ClusterRef {
  return clusterRefOf(resolveCluster({ provider: "virtualbox", nodes: { count: 2 }, ...config }, dir));
}

beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), "dvc-vbox-"));
  cluster = ref();
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const NEEDS = { box: { name: "debian/bookworm64", version: "", url: "" }, python: "3.11", platform: "x86_64" as const };
const CPU_VMX = { "/proc/cpuinfo": "processor\t: 0\nflags\t\t: fpu vme de pse vmx sse4_2\n" };
const NO_HOSTONLYIFS = recorded("vbox-6.1-list-hostonlyifs-empty.txt");
/** A Linux laptop with Vagrant 2.3.4, VirtualBox 7.0.14, VT-x, a Wi-Fi route and no host-only adapter yet. */
const LINUX: Record<string, Script> = {
  "vagrant --version": "Vagrant 2.3.4\n",
  "VBoxManage --version": recorded("vbox-7.0-version.txt"),
  "VBoxManage list hostonlyifs": NO_HOSTONLYIFS,
  "ip -j route": JSON.stringify([
    { dst: "default", gateway: "10.0.0.1", dev: "wlp2s0" },
    { dst: "10.0.0.0/24", dev: "wlp2s0" },
  ]),
};

function linuxHost(over: FakeHostOptions = {}) {
  return fakeHost({ files: CPU_VMX, ...over, commands: { ...LINUX, ...over.commands } });
}

const rowsOf = (rows: CheckRow[]) => Object.fromEntries(rows.map((r) => [r.check, r]));

describe("checks (what preflight enforces and doctor shows)", () => {
  it("pass on a Linux host with Vagrant, VirtualBox 7.0, VT-x and a free subnet, running exactly these programs", async () => {
    const host = linuxHost();
    const rows = await virtualboxProvider(host).checks(cluster, NEEDS);
    expect(rows.filter((r) => r.status !== "ok")).toEqual([]);
    expect(host.argvs()).toEqual([
      ["vagrant", "--version"],
      ["VBoxManage", "--version"],
      ["VBoxManage", "list", "hostonlyifs"],
      ["ip", "-j", "route"],
      ["VBoxManage", "list", "systemproperties"], // where the VMs go, for the disk row
    ]);
  });

  it("run every VBoxManage with English messages: LC_MESSAGES=en_US.UTF-8, and no LC_ALL that would override it", async () => {
    const host = linuxHost({ env: { HOME: "/home/u", LC_ALL: "ru_RU.UTF-8", LANG: "ru_RU.UTF-8" } });
    await virtualboxProvider(host).checks(cluster, NEEDS);
    const vbox = host.calls.filter((c) => c.argv[0] === "VBoxManage");
    expect(vbox.length).toBeGreaterThan(0);
    for (const c of vbox) {
      expect(c.env?.LC_MESSAGES).toBe("en_US.UTF-8");
      expect(c.env?.LC_ALL).toBeUndefined();
      expect(c.env?.LANG).toBe("ru_RU.UTF-8"); // the character set stays the user's
    }
    expect(vboxEnv(host).LC_ALL).toBeUndefined();
  });

  it("say VBoxManage is missing and how to get it", async () => {
    const rows = rowsOf(
      await virtualboxProvider(
        linuxHost({ commands: { "VBoxManage --version": { missing: true, exitCode: 127 } } }),
      ).checks(cluster, NEEDS),
    );
    expect(rows.virtualbox).toMatchObject({ status: "fail", found: "not found" });
    expect(rows.virtualbox!.fix).toContain("install VirtualBox 6.1 or newer");
  });

  it.each([
    ["the VirtualBox wrapper", "vbox-7.0-version-vboxdrv-not-loaded.txt", "7.0.14r161095"],
    ["Ubuntu's package", "vbox-7.0-ubuntu-version-vboxdrv-missing.txt", "7.0.10_Ubuntur158379"],
  ])(
    "read a version after the vboxdrv warning of %s as VirtualBox's, not the kernel's, and say: run /sbin/vboxconfig",
    async (_who, file, line) => {
      const out = recorded(file);
      expect(parseVboxVersion(out)).toMatchObject({ text: line, driverMissing: true });
      const rows = rowsOf(
        await virtualboxProvider(linuxHost({ commands: { "VBoxManage --version": out } })).checks(cluster, NEEDS),
      );
      expect(rows.virtualbox!.status).toBe("fail");
      expect(rows.virtualbox!.found).toBe(
        `VirtualBox ${line} is installed, but its kernel module vboxdrv is not loaded`,
      );
      expect(rows.virtualbox!.fix).toContain("sudo /sbin/vboxconfig");
      expect(rows.virtualbox!.found).not.toMatch(/older|6\.5|5\.15/);
    },
  );

  it("refuse VirtualBox older than 6.1, and a Vagrant too old for the VirtualBox installed", async () => {
    const old = rowsOf(
      await virtualboxProvider(linuxHost({ commands: { "VBoxManage --version": "6.0.24r139119\n" } })).checks(
        cluster,
        NEEDS,
      ),
    );
    expect(old.virtualbox!.fix).toContain("VirtualBox 6.0.24 is older than 6.1");
    const v71 = rowsOf(
      await virtualboxProvider(linuxHost({ commands: { "VBoxManage --version": "7.1.4r165100\n" } })).checks(
        cluster,
        NEEDS,
      ),
    );
    expect(v71["vagrant for virtualbox"]).toMatchObject({
      status: "fail",
      found: "Vagrant 2.3.4 cannot drive VirtualBox 7.1.4",
    });
    expect(v71["vagrant for virtualbox"]!.fix).toContain("upgrade Vagrant to 2.4.2 or newer");
  });

  it("apply the 192.168.56.0/21 rule only where VirtualBox enforces it: Linux, and macOS before 7.0", async () => {
    expect([
      rangeRuleApplies("linux", [7, 0, 0]),
      rangeRuleApplies("darwin", [6, 1, 50]),
      rangeRuleApplies("darwin", [7, 0, 0]),
      rangeRuleApplies("win32", [6, 1, 0]),
    ]).toEqual([true, true, false, false]);
    const wide = ref({ network: { subnet: "10.20.30.0/24" } });
    const linux = rowsOf(await virtualboxProvider(linuxHost()).checks(wide, NEEDS));
    expect(linux["subnet allowed"]!.status).toBe("fail");
    expect(linux["subnet allowed"]!.found).toContain(
      "10.20.30.0/24 is outside the ranges VirtualBox allows for host-only networks (192.168.56.0/21, the default)",
    );
    expect(linux["subnet allowed"]!.fix).toContain(`add the line "* 10.20.30.0/24" to /etc/vbox/networks.conf`);
    const allowed = rowsOf(
      await virtualboxProvider(
        linuxHost({ files: { ...CPU_VMX, "/etc/vbox/networks.conf": "# ranges\n* 10.0.0.0/8 192.168.0.0/16\n" } }),
      ).checks(wide, NEEDS),
    );
    expect(allowed["subnet allowed"]!.status).toBe("ok");
    const win = rowsOf(
      await virtualboxProvider(
        fakeHost({
          platform: "win32",
          commands: {
            "vagrant --version": "Vagrant 2.4.3\n",
            "VBoxManage --version": "7.1.4r165100\n",
            "VBoxManage list hostonlyifs": NO_HOSTONLYIFS,
            "route print -4": "",
          },
        }),
      ).checks(wide, NEEDS),
    );
    expect(win["subnet allowed"]).toMatchObject({
      status: "ok",
      found: "10.20.30.0/24 (VirtualBox on win32 7.1 has no range rule)",
    });
  });

  it("name the host route the subnet clashes with, on Linux (ip route) and macOS (netstat)", async () => {
    const routes = JSON.stringify([{ dst: "192.168.56.0/24", dev: "wlp2s0", protocol: "kernel" }]);
    const linux = rowsOf(
      await virtualboxProvider(linuxHost({ commands: { "ip -j route": routes } })).checks(cluster, NEEDS),
    );
    expect(linux["subnet free"]!.found).toContain(
      "the host route 192.168.56.0/24 on wlp2s0 (`ip -j route`: 192.168.56.0/24 dev wlp2s0 proto kernel)",
    );
    const netstat = "Destination Gateway Flags Netif Expire\n192.168.56 link#17 UC en7 !\n";
    const mac = rowsOf(
      await virtualboxProvider(
        fakeHost({
          platform: "darwin",
          commands: {
            "vagrant --version": "Vagrant 2.4.3\n",
            "VBoxManage --version": "7.0.20r163906\n",
            "netstat -rn -f inet": netstat,
            "sysctl -n kern.hv_support": "1\n",
          },
        }),
      ).checks(cluster, NEEDS),
    );
    expect(mac["subnet free"]!.found).toContain("on en7 (`netstat -rn -f inet`");
  });

  it("will reuse a host-only adapter that already has the host's address on the subnet (another project's vboxnet0), and its route is no clash", async () => {
    const host = linuxHost({
      commands: {
        "VBoxManage list hostonlyifs": recorded("vbox-7.0-list-hostonlyifs.txt"),
        "ip -j route": JSON.stringify([{ dst: "192.168.56.0/24", dev: "vboxnet0" }]),
      },
    });
    const rows = rowsOf(await virtualboxProvider(host).checks(cluster, NEEDS));
    expect(rows["host-only adapter"]).toMatchObject({
      status: "ok",
      found: `"vboxnet0" already has 192.168.56.1/255.255.255.0: the cluster will use it, and leave it on destroy`,
    });
    expect(rows["subnet free"]!.status).toBe("ok");
  });

  it("refuse an adapter on the subnet with another address, naming it and both fixes", async () => {
    const other =
      "Name:            vboxnet4\nGUID:            786f6276-656e-4474-8000-0a0027000004\nDHCP:            Disabled\nIPAddress:       192.168.56.100\nNetworkMask:     255.255.255.0\n\n";
    const rows = rowsOf(
      await virtualboxProvider(linuxHost({ commands: { "VBoxManage list hostonlyifs": other } })).checks(
        cluster,
        NEEDS,
      ),
    );
    expect(rows["host-only adapter"]!.status).toBe("fail");
    expect(rows["host-only adapter"]!.found).toContain(
      `"vboxnet4" (192.168.56.100/255.255.255.0) already carries an address on 192.168.56.0/24`,
    );
    expect(rows["host-only adapter"]!.fix).toContain("pick another subnet");
  });

  it("explain missing VT-x/AMD-V and hint at KVM holding it", async () => {
    const host = linuxHost({ files: { "/proc/cpuinfo": "flags\t\t: fpu sse2\n", "/sys/module/kvm_intel": "" } });
    const rows = rowsOf(await virtualboxProvider(host).checks(cluster, NEEDS));
    expect(rows.virtualization).toMatchObject({ status: "fail", found: "no vmx or svm flag in /proc/cpuinfo" });
    expect(rows["kvm modules"]!.fix).toContain("VERR_VMX_IN_VMX_ROOT_MODE");
  });

  it("on an Apple Silicon Mac, refuse x86_64 nodes and a box without an arm64 build, with the exact config to write", async () => {
    const host = fakeHost({
      platform: "darwin",
      arch: "arm64",
      commands: {
        "vagrant --version": "Vagrant 2.4.3\n",
        "VBoxManage --version": "7.1.6r167084\n",
        "netstat -rn -f inet": "",
        "sysctl -n kern.hv_support": "1\n",
      },
    });
    const rows = rowsOf(await virtualboxProvider(host).checks(cluster, NEEDS));
    expect(rows["node architecture"]!.status).toBe("fail");
    expect(rows["node architecture"]!.fix).toBe(
      `write {"runtime":{"platform":"aarch64"},"box":{"name":"bento/debian-12"}} into cluster.config.json (the lock cluster-runtime/requirements-aarch64.lock is shipped)`,
    );
    const arm = rowsOf(await virtualboxProvider(host).checks(cluster, { ...NEEDS, platform: "aarch64" }));
    expect(arm.box).toMatchObject({
      status: "fail",
      found: "debian/bookworm64 has no aarch64 build",
      path: "/box/name",
    });
    const good = rowsOf(
      await virtualboxProvider(host).checks(cluster, {
        ...NEEDS,
        platform: "aarch64",
        box: { name: "bento/debian-12", version: "", url: "" },
      }),
    );
    expect([good["node architecture"]!.status, good.box!.status, good.virtualbox!.status]).toEqual(["ok", "ok", "ok"]);
    const v70 = rowsOf(
      await virtualboxProvider(
        fakeHost({
          platform: "darwin",
          arch: "arm64",
          commands: { "vagrant --version": "Vagrant 2.4.3\n", "VBoxManage --version": "7.0.8r156879\n" },
        }),
      ).checks(cluster, NEEDS),
    );
    expect(v70.virtualbox!.fix).toContain("VirtualBox runs on Apple Silicon from 7.1");
  });

  it("on Windows, find VBoxManage.exe through VBOX_MSI_INSTALL_PATH (the folder has spaces) as Vagrant does", async () => {
    const exe = "C:\\Program Files\\Oracle\\VirtualBox\\VBoxManage.exe";
    const host = fakeHost({
      platform: "win32",
      env: { VBOX_MSI_INSTALL_PATH: "C:\\Program Files\\Oracle\\VirtualBox\\", USERPROFILE: "C:\\Users\\Léa" },
      commands: {
        "vagrant --version": "Vagrant 2.4.3\n",
        [`${exe} --version`]: "7.1.4r165100\r\n",
        [`${exe} list hostonlyifs`]: recorded("vbox-7.0-win-list-hostonlyifs.txt"),
        "route print -4": "",
      },
    });
    const rows = rowsOf(await virtualboxProvider(host).checks(cluster, NEEDS));
    expect(rows.virtualbox).toMatchObject({ status: "ok", found: "7.1.4r165100" });
    expect(host.argvs().map((a) => a[0])).toContain(exe);
    expect(rows["host-only adapter"]!.found).toContain(
      `"VirtualBox Host-Only Ethernet Adapter" already has 192.168.56.1/255.255.255.0`,
    );
  });
});

describe("the parsers, against recorded VBoxManage output", () => {
  it("showvminfo --machinereadable as a machine state, as Vagrant's driver reads it: running, or stopped with its disk, or no VM", () => {
    const state = (f: string, exitCode = 0) =>
      vboxMachineState({ exitCode, stdout: exitCode ? "" : recorded(f), stderr: exitCode ? recorded(f) : "" });
    expect(state("vbox-7.0-showvminfo-machinereadable-running.txt")).toEqual({
      state: "running",
      detail: "VirtualBox: running",
    });
    expect(state("vbox-7.0-showvminfo-machinereadable-poweroff.txt")).toEqual({
      state: "stopped",
      detail: "VirtualBox: poweroff",
    });
    expect(state("vbox-7.0-showvminfo-machinereadable-saved.txt")).toEqual({
      state: "stopped",
      detail: "VirtualBox: saved",
    });
    expect(state("vbox-7.0-showvminfo-not-found.stderr.txt", 1)).toEqual({
      state: "missing",
      detail: "VirtualBox has no such VM",
    });
    expect(vboxMachineState({ exitCode: 0, stdout: 'name="<inaccessible>"\nUUID="x"\n', stderr: "" }).state).toBe(
      "stopped",
    );
  });

  it("list hostonlyifs in English (6.1, 7.0), on Windows and in Russian give the same records", () => {
    const want = [
      { name: "vboxnet0", ip: "192.168.56.1", mask: "255.255.255.0" },
      { name: "vboxnet1", ip: "192.168.57.1", mask: "255.255.255.0" },
    ];
    for (const f of [
      "vbox-6.1-list-hostonlyifs.txt",
      "vbox-7.0-list-hostonlyifs.txt",
      "vbox-7.0-ru-list-hostonlyifs.txt",
    ])
      expect(parseHostOnlyIfs(recorded(f)), f).toEqual(want);
    expect(parseHostOnlyIfs(recorded("vbox-7.0-win-list-hostonlyifs.txt")).map((i) => i.name)).toEqual([
      "VirtualBox Host-Only Ethernet Adapter",
      "VirtualBox Host-Only Ethernet Adapter #2",
    ]);
    expect(parseHostOnlyIfs(NO_HOSTONLYIFS)).toEqual([]);
  });

  it("list hostonlynets (macOS), whose records have a blank line inside", () => {
    expect(parseHostOnlyNets(recorded("vbox-7.0-macos-list-hostonlynets.txt"))).toEqual([
      { name: "HostNetwork", mask: "255.255.255.0", lowerIp: "192.168.56.1", upperIp: "192.168.56.199" },
      { name: "vagrantnet-vbox1", mask: "255.255.255.0", lowerIp: "192.168.60.0", upperIp: "192.168.60.0" },
    ]);
  });

  it("list vms, with an inaccessible VM", () => {
    expect(parseVboxVms(recorded("vbox-7.0-list-vms.txt")).map((v) => v.name)).toEqual([
      "base-master",
      "clone-web",
      "clone-db",
      "standalone",
    ]);
    expect(parseVboxVms(recorded("vbox-7.0-list-vms-inaccessible.txt")).some((v) => v.name === "<inaccessible>")).toBe(
      true,
    );
  });

  it("list --long hdds (English 6.1/7.1 and Russian): the master's clones are in use; plain list hdds cannot tell, so it would keep the master", () => {
    const master = "0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e";
    for (const f of [
      "vbox-6.1-list-long-hdds-linked-clones.txt",
      "vbox-7.1-list-long-hdds-linked-clones.txt",
      "vbox-7.0-ru-list-long-hdds-linked-clones.txt",
    ]) {
      expect(masterStillUsed(parseVboxHdds(recorded(f)), master), f).toEqual({
        used: true,
        by: ["1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d", "2b3c4d5e-6f7a-4b8c-9d0e-1f2a3b4c5d6e"],
      });
    }
    expect(masterStillUsed(parseVboxHdds(recorded("vbox-7.1-list-hdds-linked-clones.txt")), master).used).toBe(true);
    const ru = parseVboxHdds(recorded("vbox-7.0-ru-list-long-hdds-linked-clones.txt"));
    expect(ru[0]).toMatchObject({ uuid: "3f1c2e5a-7b8d-4c9e-a1f2-0d3e4b5c6a71", parent: "base", vms: [master] });
  });

  it("a master whose clones are all gone is unused", () => {
    const long = recorded("vbox-7.1-list-long-hdds-linked-clones.txt")
      .split("\n\n")
      .filter((b) => !/clone-(web|db)/.test(b))
      .join("\n\n");
    expect(masterStillUsed(parseVboxHdds(long), "0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e")).toEqual({
      used: false,
      by: [],
    });
  });

  it("adapters on the subnet: the host's .1 with the right mask is reusable, others are in the way", () => {
    const ifs = parseHostOnlyIfs(recorded("vbox-7.0-list-hostonlyifs.txt"));
    expect(adaptersOnSubnet(ifs, parseCidr("192.168.56.0/24")!)).toEqual({ reusable: ifs[0], inTheWay: [] });
    expect(adaptersOnSubnet(ifs, parseCidr("192.168.56.0/21")!).inTheWay.map((i) => i.name)).toEqual([
      "vboxnet0",
      "vboxnet1",
    ]);
  });
});

describe("createNetwork", () => {
  const networkJson = () => JSON.parse(readFileSync(path.join(dir, ".cluster", "network.json"), "utf8"));
  const created = `${recorded("vbox-7.0-list-hostonlyifs.txt").split("\n\n")[1]!}\n\n`; // vboxnet1 alone
  const other = () => ref({ network: { subnet: "192.168.57.0/24" } });

  it("on Linux learns the adapter it created by listing before and after, not from the message (here in Russian), records it, then gives the host .1", async () => {
    const host = fakeHost({
      commands: {
        "VBoxManage --version": "7.0.14r161095\n",
        "VBoxManage list hostonlyifs": [NO_HOSTONLYIFS, created.replace("192.168.57.1", "0.0.0.0")],
        "VBoxManage hostonlyif create": recorded("vbox-7.0-ru-hostonlyif-create.stdout.txt"),
        "VBoxManage hostonlyif ipconfig": "",
      },
    });
    await virtualboxProvider(host).createNetwork(other());
    expect(host.argvs()).toEqual([
      ["VBoxManage", "--version"],
      ["VBoxManage", "list", "hostonlyifs"],
      ["VBoxManage", "hostonlyif", "create"],
      ["VBoxManage", "list", "hostonlyifs"],
      ["VBoxManage", "hostonlyif", "ipconfig", "vboxnet1", "--ip", "192.168.57.1", "--netmask", "255.255.255.0"],
    ]);
    expect(networkJson()).toEqual({
      provider: "virtualbox",
      kind: "hostonlyif",
      name: "vboxnet1",
      subnet: "192.168.57.0/24",
      device: "vboxnet1",
      hostIp: "192.168.57.1",
      created: true,
    });
  });

  it("never leaks an adapter: when ipconfig fails, the adapter is recorded, and the retry uses it instead of creating another", async () => {
    const denied = { exitCode: 1, stderr: "VBoxManage: error: Code E_ACCESSDENIED (0x80070005) - Access denied" };
    const first = fakeHost({
      commands: {
        "VBoxManage --version": "7.0.14r161095\n",
        "VBoxManage list hostonlyifs": [NO_HOSTONLYIFS, created],
        "VBoxManage hostonlyif create": "Interface 'vboxnet1' was successfully created\n",
        "VBoxManage hostonlyif ipconfig": denied,
      },
    });
    const err = (await virtualboxProvider(first)
      .createNetwork(ref({ network: { subnet: "192.168.57.0/24" } }))
      .catch((e: unknown) => e)) as UserError;
    expect(err.render()).toContain("E_ACCESSDENIED");
    expect(err.render()).toContain(`allow the subnet in /etc/vbox/networks.conf with the line "* 192.168.57.0/24"`);
    expect(networkJson()).toMatchObject({ name: "vboxnet1", created: true });
    const retry = fakeHost({
      commands: {
        "VBoxManage --version": "7.0.14r161095\n",
        "VBoxManage list hostonlyifs": created.replace("192.168.57.1", "0.0.0.0"),
        "VBoxManage hostonlyif ipconfig": "",
      },
    });
    await virtualboxProvider(retry).createNetwork(other());
    expect(retry.argvs().map((a) => a.slice(1, 3).join(" "))).toEqual([
      "--version",
      "list hostonlyifs",
      "hostonlyif ipconfig",
    ]);
  });

  it("reuses the Windows installer's adapter on 192.168.56.1/24 (a name with spaces), and destroy leaves it", async () => {
    const exe = "C:\\Program Files\\Oracle\\VirtualBox\\VBoxManage.exe";
    const win = {
      platform: "win32" as const,
      env: { VBOX_MSI_INSTALL_PATH: "C:\\Program Files\\Oracle\\VirtualBox\\" },
    };
    const host = fakeHost({
      ...win,
      commands: {
        [`${exe} --version`]: "7.1.4r165100\r\n",
        [`${exe} list hostonlyifs`]: recorded("vbox-7.0-win-list-hostonlyifs.txt"),
      },
    });
    await virtualboxProvider(host).createNetwork(cluster);
    expect(host.argvs()).toEqual([
      [exe, "--version"],
      [exe, "list", "hostonlyifs"],
    ]);
    expect(networkJson()).toEqual({
      provider: "virtualbox",
      kind: "hostonlyif",
      name: "VirtualBox Host-Only Ethernet Adapter",
      subnet: "192.168.56.0/24",
      device: "VirtualBox Host-Only Ethernet Adapter",
      hostIp: "192.168.56.1",
      created: false,
    });
    const d = fakeHost({ ...win, commands: {} });
    await virtualboxProvider(d).destroyNetwork(cluster);
    expect(d.argvs()).toEqual([]);
    expect(existsSync(path.join(dir, ".cluster", "network.json"))).toBe(false);
  });

  it("on Windows names a new adapter with spaces as one argument", async () => {
    const exe = "C:\\Program Files\\Oracle\\VirtualBox\\VBoxManage.exe";
    const only2 = `${recorded("vbox-7.0-win-list-hostonlyifs.txt").split("\n\n")[1]!}\n\n`;
    const host = fakeHost({
      platform: "win32",
      env: { VBOX_MSI_INSTALL_PATH: "C:\\Program Files\\Oracle\\VirtualBox\\" },
      commands: {
        [`${exe} --version`]: "7.1.4r165100\r\n",
        [`${exe} list hostonlyifs`]: [NO_HOSTONLYIFS, only2],
        [`${exe} hostonlyif create`]: recorded("vbox-7.0-win-hostonlyif-create.stdout.txt"),
        [`${exe} hostonlyif ipconfig`]: "",
      },
    });
    await virtualboxProvider(host).createNetwork(ref({ network: { subnet: "192.168.60.0/24" } }));
    expect(host.argvs().at(-1)).toEqual([
      exe,
      "hostonlyif",
      "ipconfig",
      "VirtualBox Host-Only Ethernet Adapter #2",
      "--ip",
      "192.168.60.1",
      "--netmask",
      "255.255.255.0",
    ]);
  });

  it("refuses with exit 2 when another adapter has an address on the subnet, creating nothing", async () => {
    const in56 =
      "Name:            vboxnet4\nGUID:            786f6276-656e-4474-8000-0a0027000004\nDHCP:            Disabled\nIPAddress:       192.168.56.100\nNetworkMask:     255.255.255.0\n\n";
    const host = fakeHost({
      commands: { "VBoxManage --version": "7.0.14r161095\n", "VBoxManage list hostonlyifs": in56 },
    });
    const err = (await virtualboxProvider(host)
      .createNetwork(cluster)
      .catch((e: unknown) => e)) as UserError;
    expect(err.exitCode).toBe(2);
    expect(host.argvs().some((a) => a.includes("create"))).toBe(false);
  });

  it("on macOS with VirtualBox 7 adds a host-only network named after the cluster, recording it first", async () => {
    const host = fakeHost({
      platform: "darwin",
      commands: {
        "VBoxManage --version": "7.0.20r163906\n",
        "VBoxManage list hostonlynets": recorded("vbox-7.0-macos-list-hostonlynets.txt"),
        "VBoxManage hostonlynet add": "",
      },
    });
    const c = ref({ network: { subnet: "192.168.58.0/24" } });
    await virtualboxProvider(host).createNetwork(c);
    expect(host.argvs().at(-1)).toEqual([
      "VBoxManage",
      "hostonlynet",
      "add",
      "--name",
      c.id,
      "--netmask",
      "255.255.255.0",
      "--lower-ip",
      "192.168.58.0",
      "--upper-ip",
      "192.168.58.0",
    ]);
    expect(networkJson()).toEqual({
      provider: "virtualbox",
      kind: "hostonlynet",
      name: c.id,
      subnet: "192.168.58.0/24",
      created: true,
    });
  });

  it("on macOS with VirtualBox 7 reuses a host-only network already on the subnet", async () => {
    const host = fakeHost({
      platform: "darwin",
      commands: {
        "VBoxManage --version": "7.0.20r163906\n",
        "VBoxManage list hostonlynets": recorded("vbox-7.0-macos-list-hostonlynets.txt"),
      },
    });
    await virtualboxProvider(host).createNetwork(ref({ network: { subnet: "192.168.60.0/24" } }));
    expect(networkJson()).toMatchObject({ name: "vagrantnet-vbox1", created: false });
    expect(host.argvs().some((a) => a[1] === "hostonlynet")).toBe(false);
  });
});

describe("destroyNetwork", () => {
  function record(r: object): void {
    mkdirSync(path.join(dir, ".cluster"), { recursive: true });
    writeFileSync(path.join(dir, ".cluster", "network.json"), JSON.stringify(r));
  }

  it("removes exactly the adapter it created and forgets it; succeeds when it is already gone; does nothing without a record", async () => {
    record({ provider: "virtualbox", kind: "hostonlyif", name: "vboxnet1", subnet: "192.168.57.0/24", created: true });
    const h = fakeHost({
      commands: {
        "VBoxManage list hostonlyifs": recorded("vbox-7.0-list-hostonlyifs.txt"),
        "VBoxManage hostonlyif remove": "",
      },
    });
    await virtualboxProvider(h).destroyNetwork(cluster);
    expect(h.argvs()).toEqual([
      ["VBoxManage", "list", "hostonlyifs"],
      ["VBoxManage", "hostonlyif", "remove", "vboxnet1"],
    ]);
    record({ provider: "virtualbox", kind: "hostonlyif", name: "vboxnet9", subnet: "192.168.57.0/24", created: true });
    const gone = fakeHost({ commands: { "VBoxManage list hostonlyifs": recorded("vbox-7.0-list-hostonlyifs.txt") } });
    await virtualboxProvider(gone).destroyNetwork(cluster);
    expect(gone.argvs()).toEqual([["VBoxManage", "list", "hostonlyifs"]]);
    const none = fakeHost();
    await virtualboxProvider(none).destroyNetwork(cluster);
    expect(none.argvs()).toEqual([]);
  });
});

describe("machines", () => {
  const boxDir = "/home/u/.vagrant.d/boxes/debian-VAGRANTSLASH-bookworm64";
  const idFile = (node: string) => path.join(dir, ".cluster", "vagrant", "machines", node, "virtualbox", "id");
  const recordVm = (node: string) => {
    mkdirSync(path.dirname(idFile(node)), { recursive: true });
    writeFileSync(idFile(node), `uuid-${node}`);
  };
  const destroyEffect = (argv: readonly string[]) => {
    if (argv[0] === "vagrant" && argv[1] === "destroy") rmSync(idFile(argv[3]!), { force: true });
  };
  const masterHost = (hdds: string) =>
    fakeHost({
      dirs: { [boxDir]: ["12.20240905.1"], [`${boxDir}/12.20240905.1`]: ["virtualbox"] },
      files: { [`${boxDir}/12.20240905.1/virtualbox/master_id`]: "0B1C2D3E-4F5A-4B6C-8D7E-9F0A1B2C3D4E\n" },
      commands: {
        "vagrant destroy": "",
        "VBoxManage list vms": recorded("vbox-7.0-list-vms.txt"),
        "VBoxManage list --long hdds": hdds,
        "VBoxManage unregistervm": "",
      },
      effect: destroyEffect,
    });

  beforeEach(() => {
    mkdirSync(path.join(dir, ".cluster"), { recursive: true });
    writeFileSync(path.join(dir, ".cluster", "machines.json"), JSON.stringify({ box: NEEDS.box }));
  });

  it("keeps the box's linked-clone master after the last node while another checkout's clones use it (list --long hdds), and says who", async () => {
    recordVm("node2");
    const host = masterHost(recorded("vbox-7.1-list-long-hdds-linked-clones.txt"));
    await virtualboxProvider(host).destroyMachine(cluster, cluster.nodes[1]!);
    expect(host.argvs()).toEqual([
      ["vagrant", "destroy", "-f", "node2"],
      ["VBoxManage", "list", "vms"],
      ["VBoxManage", "list", "--long", "hdds"],
    ]);
    expect(host.warnings.join("\n")).toContain(
      `kept the linked-clone master VM "base-master" of box debian/bookworm64: clone-web, clone-db still use it`,
    );
  });

  it("removes the master once no other VM uses a disk of it", async () => {
    recordVm("node2");
    const long = recorded("vbox-7.1-list-long-hdds-linked-clones.txt")
      .split("\n\n")
      .filter((b) => !/clone-(web|db)/.test(b))
      .join("\n\n");
    const host = masterHost(long);
    await virtualboxProvider(host).destroyMachine(cluster, cluster.nodes[1]!);
    expect(host.argvs().at(-1)).toEqual([
      "VBoxManage",
      "unregistervm",
      "0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e",
      "--delete",
    ]);
  });

  it("runs no VirtualBox command while another node of the cluster exists", async () => {
    recordVm("node1");
    recordVm("node2");
    const host = masterHost("");
    await virtualboxProvider(host).destroyMachine(cluster, cluster.nodes[1]!);
    expect(host.argvs()).toEqual([["vagrant", "destroy", "-f", "node2"]]);
  });

  it("removes a VM with the cluster's name that Vagrant has no record of, before vagrant up (it would stop on the name)", async () => {
    const name = `${cluster.id}-node1`;
    const host = fakeHost({
      unscripted: "ok",
      commands: {
        "VBoxManage list vms": `"${name}" {aaaaaaaa-1111-4222-8333-444455556666}\n"other" {bbbbbbbb-1111-4222-8333-444455556666}\n`,
        "vagrant ssh-config": "Host node1\n  HostName 127.0.0.1\n  Port 2222\n",
      },
    });
    await virtualboxProvider(host).createMachine(cluster, cluster.nodes[0]!);
    expect(host.argvs().slice(0, 4)).toEqual([
      ["VBoxManage", "list", "vms"],
      ["VBoxManage", "controlvm", "aaaaaaaa-1111-4222-8333-444455556666", "poweroff"],
      ["VBoxManage", "unregistervm", "aaaaaaaa-1111-4222-8333-444455556666", "--delete"],
      ["vagrant", "up", "node1", "--provider=virtualbox", "--no-provision"],
    ]);
    expect(host.warnings.join("\n")).toContain(`VirtualBox has a VM named ${name} that Vagrant has no record of`);
  });

  it("finds master ids in the per-architecture box layout of newer Vagrant too", () => {
    const host = fakeHost({
      env: { VAGRANT_HOME: "/vh" },
      dirs: {
        "/vh/boxes/debian-VAGRANTSLASH-bookworm64": ["1"],
        "/vh/boxes/debian-VAGRANTSLASH-bookworm64/1": ["amd64"],
      },
      files: { "/vh/boxes/debian-VAGRANTSLASH-bookworm64/1/amd64/virtualbox/master_id": "m-2" },
    });
    expect(masterIds(host, "debian/bookworm64")).toEqual(["m-2"]);
  });
});
