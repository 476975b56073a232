// The virtualbox provider: Vagrant + VirtualBox VMs on a host-only network that this
// stage creates itself and records, so destroy removes exactly that network.
//
// VirtualBox and Vagrant facts this file relies on (and where they come from):
// - Since VirtualBox 6.1.28, on Linux, macOS and Solaris host-only adapters may only get
//   addresses in 192.168.56.0/21 unless /etc/vbox/networks.conf lists more ranges, one
//   "* <cidr> [<cidr>...]" line each; "* 0.0.0.0/0 ::/0" disables the check. Otherwise
//   `hostonlyif ipconfig` fails with E_ACCESSDENIED. (VirtualBox manual, "Host-Only
//   Networking", quoted with the changelog in cilium/cilium#17900; Vagrant 2.3.4
//   plugins/providers/virtualbox/action/network.rb: validate_hostonly_ip!, load_net_conf,
//   which skips the check on Windows and on macOS with VirtualBox >= 7.)
// - VirtualBox 7 on macOS no longer supports host-only adapters ("Host-only adapters are
//   no longer supported!", hashicorp/vagrant#12959); it has host-only networks instead,
//   `VBoxManage hostonlynet add --name --netmask --lower-ip --upper-ip`. Vagrant >= 2.3.3
//   attaches VMs to them on macOS only (hashicorp/vagrant#12983) and, for a static IP,
//   creates them with lower-ip = upper-ip = the network address; the host then takes the
//   first address (Vagrant driver version_7_0.rb: create_host_only_network,
//   read_host_only_interfaces). On Linux and Windows VirtualBox 7 keeps host-only adapters.
// - `VBoxManage hostonlyif create` prints "Interface '<name>' was successfully created"
//   (Vagrant driver version_5_0.rb parses the same line); the name is vboxnetN on Linux,
//   "VirtualBox Host-Only Ethernet Adapter #N" on Windows.
// - A private_network with `name:` makes Vagrant use that host-only interface or network
//   and fail (NetworkNotFound) instead of creating one (action/network.rb hostonly_adapter).
// - Which VirtualBox versions a Vagrant release drives: 7.0 from 2.3.2 (#12959 shows 2.3.2
//   driving 7.0.0), 7.1 from 2.4.2 (2.4.1 rejects it: #13501; support #13513), 7.2 after
//   2.4.8 (#13709). VirtualBox 6.1 is the oldest we accept: it dropped software
//   virtualization, so it needs VT-x/AMD-V, which preflight checks on Linux.
// - Linked clones share one master VM per box and box version, imported once and recorded
//   in <VAGRANT_HOME>/boxes/<box>/<version>/[<arch>/]virtualbox/master_id (Vagrant
//   action/import_master.rb); other projects' clones may still hang off it.
import path from "node:path";
import { parseVboxNetworksConf, VBOX_DEFAULT_RANGE } from "../config.js";
import type { Problem } from "../errors.js";
import { cidrContains, intToIp, parseCidr } from "../ipv4.js";
import type { ClusterRef } from "../spec.js";
import type { BoxConfig } from "./provider.js";
import {
  VagrantProvider,
  checkRouteClash,
  clusterSubnet,
  compareVersions,
  hostAddress,
  netmaskOf,
  parseVersion,
  vagrantHome,
  type Host,
  type NetworkRecord,
  type PreflightFacts,
  type VagrantContext,
  type VagrantProviderOptions,
  type VagrantStrategy,
} from "./vagrant.js";

export const MIN_VIRTUALBOX = [6, 1, 0] as const;

/** The oldest Vagrant that drives each VirtualBox major.minor (see the header). */
export const VAGRANT_FOR_VIRTUALBOX: readonly { readonly vbox: readonly [number, number]; readonly vagrant: readonly number[] }[] = [
  { vbox: [7, 0], vagrant: [2, 3, 2] },
  { vbox: [7, 1], vagrant: [2, 4, 2] },
  { vbox: [7, 2], vagrant: [2, 4, 9] },
];

/** VBoxManage, or on Windows the one in VirtualBox's install folder (as Vagrant finds it). */
export function vboxManage(host: Host): string {
  const dir = host.platform === "win32" ? (host.env.VBOX_MSI_INSTALL_PATH || host.env.VBOX_INSTALL_PATH || "").split(";")[0] : "";
  return dir ? path.win32.join(dir, "VBoxManage.exe") : "VBoxManage";
}

/** `Name:` values of `VBoxManage list hostonlyifs` or `list hostonlynets`. */
export function parseVboxNames(stdout: string): string[] {
  return stdout
    .split("\n")
    .map((l) => /^Name:\s+(.+?)\s*$/.exec(l)?.[1])
    .filter((n): n is string => !!n);
}

/** `"name" {uuid}` lines of `VBoxManage list vms`. */
export function parseVboxVms(stdout: string): { name: string; uuid: string }[] {
  return stdout.split("\n").flatMap((l) => {
    const m = /^"(.*)"\s+\{([0-9a-fA-F-]+)\}\s*$/.exec(l.trim());
    return m ? [{ name: m[1]!, uuid: m[2]! }] : [];
  });
}

interface VboxDisk {
  readonly uuid: string;
  readonly parent: string;
  readonly inUse: string;
}

/** Blocks of `VBoxManage list hdds`: UUID, Parent UUID, In use by VMs. */
export function parseVboxHdds(stdout: string): VboxDisk[] {
  return stdout
    .split(/\n\s*\n/)
    .map((block) => {
      const field = (k: string) => new RegExp(`^${k}:\\s*(.*)$`, "m").exec(block)?.[1]?.trim() ?? "";
      return { uuid: field("UUID"), parent: field("Parent UUID"), inUse: field("In use by VMs") };
    })
    .filter((d) => d.uuid);
}

export function virtualboxStrategy(): VagrantStrategy {
  return {
    name: "virtualbox",

    async preflight(ctx: VagrantContext, cluster: ClusterRef, problems: Problem[], facts: PreflightFacts): Promise<void> {
      const { host } = ctx;
      const vbm = vboxManage(host);
      const r = await ctx.run([vbm, "--version"], cluster);
      const version = r.exitCode === 0 ? parseVersion(r.stdout) : undefined;
      if (!version) {
        problems.push({
          path: "VBoxManage",
          message: r.exitCode === 127 ? "VBoxManage (VirtualBox) is not installed or not on PATH" : `\`VBoxManage --version\` failed: ${(r.stderr || r.stdout).trim().split("\n").slice(-3).join(" ")}`,
          fix: `install VirtualBox ${MIN_VIRTUALBOX.slice(0, 2).join(".")} or newer (its kernel modules must load: on Linux run \`sudo /sbin/vboxconfig\` after installing), or use "provider": "libvirt" or "local" in cluster.config.json`,
        });
      } else if (compareVersions(version, MIN_VIRTUALBOX) < 0) {
        problems.push({
          path: "VBoxManage",
          message: `VirtualBox ${version.join(".")} is older than ${MIN_VIRTUALBOX.slice(0, 2).join(".")}`,
          fix: "upgrade VirtualBox to 6.1 or newer (7.x recommended)",
        });
      } else if (facts.vagrantVersion) {
        const need = VAGRANT_FOR_VIRTUALBOX.find((e) => e.vbox[0] === version[0] && e.vbox[1] === version[1])?.vagrant;
        const macNets = host.platform === "darwin" && version[0]! >= 7 ? [2, 3, 3] : [0];
        const required = need && compareVersions(need, macNets) > 0 ? need : macNets;
        if (compareVersions(facts.vagrantVersion, required) < 0) {
          problems.push({
            path: "vagrant",
            message: `Vagrant ${facts.vagrantVersion.join(".")} cannot drive VirtualBox ${version.join(".")}${host.platform === "darwin" && version[0]! >= 7 ? " host-only networks on macOS" : ""}`,
            fix: `upgrade Vagrant to ${required.join(".")} or newer, or install a VirtualBox release it supports`,
          });
        }
        if (version[0]! > 7 || (version[0] === 7 && version[1]! > 2)) {
          host.warn(`VirtualBox ${version.join(".")} is newer than any this project was checked against (7.2); if Vagrant reports it unsupported, upgrade Vagrant`);
        }
      }

      // The range rule applies where Vagrant and VirtualBox enforce it (see the header).
      const enforced = host.platform === "linux" || (host.platform === "darwin" && !!version && version[0]! < 7);
      if (enforced) {
        const conf = host.readText("/etc/vbox/networks.conf");
        const allowedText = conf !== undefined ? parseVboxNetworksConf(conf) : [VBOX_DEFAULT_RANGE];
        const allowed = allowedText.map(parseCidr).filter((c) => c !== undefined);
        const subnet = clusterSubnet(cluster);
        if (!allowed.some((a) => cidrContains(a, subnet.network) && cidrContains(a, subnet.broadcast))) {
          problems.push({
            path: "/network/subnet",
            message: `${subnet.text} is outside the ranges VirtualBox allows for host-only networks (${allowedText.join(", ") || "none"}${conf !== undefined ? ", from /etc/vbox/networks.conf" : ", the default"})`,
            fix: `use a subnet inside ${VBOX_DEFAULT_RANGE} (e.g. 192.168.56.0/24) in cluster.config.json, or allow it: add the line "* ${subnet.text}" to /etc/vbox/networks.conf (sudo mkdir -p /etc/vbox && echo '* ${subnet.text}' | sudo tee -a /etc/vbox/networks.conf)`,
          });
        }
      }

      const own = facts.network?.provider === "virtualbox" ? [facts.network.device ?? facts.network.name] : [];
      await checkRouteClash(ctx, cluster, own, problems);

      if (host.platform === "linux") {
        const cpuinfo = host.readText("/proc/cpuinfo");
        if (cpuinfo !== undefined && !/^flags\s*:.*\b(vmx|svm)\b/m.test(cpuinfo)) {
          problems.push({
            path: "/proc/cpuinfo",
            message: "the CPU shows no hardware virtualization (no vmx or svm flag), which VirtualBox >= 6.1 needs for every VM",
            fix: "enable Intel VT-x or AMD-V (SVM) in the firmware setup; inside a VM, enable nested virtualization for it; or use \"provider\": \"local\"",
          });
        }
        if (host.exists("/sys/module/kvm_intel") || host.exists("/sys/module/kvm_amd")) {
          host.warn("KVM kernel modules are loaded; if VirtualBox fails with VERR_VMX_IN_VMX_ROOT_MODE or VERR_SVM_IN_USE, stop KVM guests and run `sudo modprobe -r kvm_intel kvm_amd`, or use \"provider\": \"libvirt\"");
        }
      }
    },

    async createNetwork(ctx: VagrantContext, cluster: ClusterRef, existing: NetworkRecord | undefined): Promise<NetworkRecord> {
      const vbm = vboxManage(ctx.host);
      const subnet = clusterSubnet(cluster);
      const mask = netmaskOf(subnet.prefix);
      const version = parseVersion((await ctx.must([vbm, "--version"], cluster, "run preflight: VirtualBox must be installed")).stdout) ?? [0, 0, 0];
      const rangeFix = `if VirtualBox says E_ACCESSDENIED, allow the subnet in /etc/vbox/networks.conf with the line "* ${subnet.text}"`;

      if (ctx.host.platform === "darwin" && version[0]! >= 7) {
        const names = parseVboxNames((await ctx.must([vbm, "list", "hostonlynets"], cluster, "check that VirtualBox works: open it once, and allow its system extension in System Settings > Privacy & Security")).stdout);
        const name = cluster.id;
        if (!names.includes(name)) {
          const net = intToIp(subnet.network);
          await ctx.must([vbm, "hostonlynet", "add", "--name", name, "--netmask", mask, "--lower-ip", net, "--upper-ip", net], cluster, rangeFix);
        }
        return { provider: "virtualbox", kind: "hostonlynet", name, subnet: subnet.text };
      }

      const names = parseVboxNames((await ctx.must([vbm, "list", "hostonlyifs"], cluster, "check that VirtualBox works (on Linux: `sudo /sbin/vboxconfig` loads its kernel modules)")).stdout);
      let name = existing?.provider === "virtualbox" && existing.kind === "hostonlyif" && names.includes(existing.name) ? existing.name : undefined;
      if (!name) {
        const created = await ctx.must([vbm, "hostonlyif", "create"], cluster, "on Linux the vboxnetadp kernel module must be loaded (`sudo /sbin/vboxconfig`); on Windows run the deploy from an administrator shell once");
        name = /Interface '(.+?)' was successfully created/.exec(created.stdout + created.stderr)?.[1];
        if (!name) throw new Error(`VBoxManage hostonlyif create did not name the interface it created:\n${created.stdout}${created.stderr}`);
      }
      await ctx.must([vbm, "hostonlyif", "ipconfig", name, "--ip", hostAddress(subnet), "--netmask", mask], cluster, rangeFix);
      return { provider: "virtualbox", kind: "hostonlyif", name, subnet: subnet.text, device: name };
    },

    async destroyNetwork(ctx: VagrantContext, cluster: ClusterRef, record: NetworkRecord | undefined): Promise<void> {
      if (!record || record.provider !== "virtualbox") return;
      const vbm = vboxManage(ctx.host);
      if (record.kind === "hostonlynet") {
        const names = parseVboxNames((await ctx.must([vbm, "list", "hostonlynets"], cluster, "check that VirtualBox works")).stdout);
        if (names.includes(record.name)) await ctx.must([vbm, "hostonlynet", "remove", "--name", record.name], cluster, `remove it by hand: VBoxManage hostonlynet remove --name ${record.name}`);
        return;
      }
      const names = parseVboxNames((await ctx.must([vbm, "list", "hostonlyifs"], cluster, "check that VirtualBox works")).stdout);
      if (names.includes(record.name)) await ctx.must([vbm, "hostonlyif", "remove", record.name], cluster, `a VM may still use it (VBoxManage list vms); remove it by hand: VBoxManage hostonlyif remove ${record.name}`);
    },

    defaultNetwork(): NetworkRecord | undefined {
      return undefined;
    },

    machineListExtras(): Record<string, unknown> {
      return {};
    },

    async afterLastMachine(ctx: VagrantContext, cluster: ClusterRef, box: BoxConfig | undefined): Promise<void> {
      if (!box) return;
      const masters = masterIds(ctx.host, box.name);
      if (!masters.length) return;
      const vbm = vboxManage(ctx.host);
      const vms = parseVboxVms((await ctx.must([vbm, "list", "vms"], cluster, "check that VirtualBox works")).stdout);
      const registered = vms.filter((vm) => masters.includes(vm.uuid));
      if (!registered.length) return;
      const disks = parseVboxHdds((await ctx.must([vbm, "list", "hdds"], cluster, "check that VirtualBox works")).stdout);
      for (const master of registered) {
        const own = new Set(disks.filter((d) => d.inUse.includes(master.uuid)).map((d) => d.uuid));
        const clones = disks.filter((d) => own.has(d.parent) && !own.has(d.uuid) && d.inUse);
        if (clones.length) {
          ctx.host.warn(`kept the linked-clone master VM "${master.name}" of box ${box.name}: other VMs still use it (${clones.map((c) => c.inUse).join("; ")})`);
          continue;
        }
        const r = await ctx.run([vbm, "unregistervm", master.uuid, "--delete"], cluster);
        if (r.exitCode !== 0) ctx.host.warn(`could not remove the linked-clone master VM "${master.name}" (${r.stderr.trim().split("\n").pop()}); remove it by hand: VBoxManage unregistervm ${master.uuid} --delete`);
      }
    },
  };
}

/** UUIDs in the master_id files of every stored version of a box (see the header). */
export function masterIds(host: Host, boxName: string): string[] {
  const boxDir = path.join(vagrantHome(host), "boxes", boxName.replace(/\//g, "-VAGRANTSLASH-"));
  const ids: string[] = [];
  for (const version of host.listDir(boxDir)) {
    const vdir = path.join(boxDir, version);
    for (const dir of [vdir, ...host.listDir(vdir).map((a) => path.join(vdir, a))]) {
      const id = host.readText(path.join(dir, "virtualbox", "master_id"))?.trim();
      if (id && !ids.includes(id)) ids.push(id);
    }
  }
  return ids;
}

/** The MachineProvider for "virtualbox". */
export function virtualboxProvider(options: VagrantProviderOptions = {}): VagrantProvider {
  return new VagrantProvider(virtualboxStrategy(), options);
}
