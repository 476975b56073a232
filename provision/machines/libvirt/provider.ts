// The libvirt provider: Vagrant + vagrant-libvirt VMs (KVM, or qemu emulation where KVM
// cannot serve) on an isolated libvirt network that this stage defines and removes.
//
// vagrant-libvirt facts this file relies on (read in the 0.11.2 source Debian 12 ships,
// lib/vagrant-libvirt/):
// - A private_network with an ip is matched to an existing libvirt network by its network
//   address, and must then carry the same libvirt__network_name (else
//   NetworkNameAndAddressMismatch); a network with DHCP where dhcp_enabled false is asked
//   is accepted, the reverse is an error (action/create_networks.rb).
// - Networks vagrant-libvirt did not create are still written to its created_networks
//   file and undefined on `vagrant destroy` once unused, unless libvirt__always_destroy is
//   false, which the Vagrantfile sets: this stage owns the network.
// - Without qemu_use_agent, vagrant-libvirt finds a VM's address in the DHCP leases of its
//   management network (driver.rb get_ipaddress), and the static address on our network
//   is only configured over ssh afterwards; so the management network stays, and
//   management_network_mode "none" makes it isolated: its template writes no <forward>
//   element (templates/private_network.xml.erb).
// - The domain type is `driver` ("kvm" or "qemu"); with cpu_mode "custom" the model
//   defaults to qemu64 (config.rb finalize!). The connection is LIBVIRT_DEFAULT_URI when
//   set, else qemu:///system (config.rb), which is the URI virsh must use here too.
// - Box images are inspected with `qemu-img info` (action/handle_box_image.rb).
import { createHash } from "node:crypto";
import { mkdir, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { UserError } from "../../core/errors.js";
import type { ClusterRef } from "../../core/stage-spec.js";

import { fail, ok, warn, type CheckRow } from "../../core/check-rows.js";
import type { Host } from "../../host/host.js";
import { hostAddress, netmaskOf, type Cidr } from "../../core/ipv4.js";
import { describeFailure, tail, type ProcessResult } from "../../host/process.js";
import {
  VagrantProvider,
  vagrantBoxDir,
  vagrantEscapedBoxName,
  vmName,
  clusterSubnet,
  platformCheck,
  routeCheck,
  virtualizationCheck,
  type CheckFacts,
  type NetworkRecord,
  type VagrantContext,
  type VagrantStrategy,
} from "../vagrant/provider.js";
import type { MachineStatus, ProviderCapabilities } from "../provider.js";
import type { NodeSpec, BoxConfig, HostNeeds } from "../../core/model.js";

export type LibvirtDriver = "kvm" | "qemu";
export type ManagementNetwork = "none" | "default";

export interface LibvirtOptions {
  /** Domain type. Default: kvm when /dev/kvm is usable, else qemu (emulation). */
  readonly driver?: LibvirtDriver;
  /** CPU model under qemu emulation. Default: Nehalem on x86_64 hosts, cortex-a57 on arm64. */
  readonly cpuModel?: string;
  /**
   * none: vagrant-libvirt's management network gets no route out of the host; default: its usual NAT network. Default:
   * none.
   */
  readonly managementNetwork?: ManagementNetwork;
}

/** The management network vagrant-libvirt creates unless told otherwise (config.rb). */
export const VAGRANT_LIBVIRT_MANAGEMENT_NETWORK = "vagrant-libvirt";

export function libvirtUri(host: Host): string {
  return host.env.LIBVIRT_DEFAULT_URI || "qemu:///system";
}

/** vagrant-libvirt's storage_pool_name default: where box and machine volumes go. */
export const STORAGE_POOL = "default";

/** The pool volume vagrant-libvirt keeps a box image in (handle_box_image.rb get_volume_name). */
export function boxVolumeName(boxName: string, version: string): string {
  return `${vagrantEscapedBoxName(boxName)}_vagrant_box_image_${version}_box.img`;
}

/** vagrant-libvirt's default management_network_address (config.rb). */
export const MANAGEMENT_SUBNET = "192.168.121.0/24";

/**
 * vagrant-libvirt's management network as its own template would write it for
 * management_network_mode "none" (no <forward>: no route off the host) or its default NAT;
 * DHCP on, which vagrant-libvirt requires of it (it finds each VM's address in the
 * leases). The bridge name is left to libvirt (virbrN), as vagrant-libvirt does. DNS is
 * off when isolated: nothing on it needs names.
 */
export function managementNetworkXml(mode: ManagementNetwork): string {
  return [
    "<network>",
    `  <name>${VAGRANT_LIBVIRT_MANAGEMENT_NETWORK}</name>`,
    `  <bridge stp="on" delay="0"/>`,
    ...(mode === "none" ? [`  <dns enable="no"/>`] : [`  <forward mode="nat"/>`]),
    `  <ip address="192.168.121.1" netmask="255.255.255.0">`,
    `    <dhcp>`,
    `      <range start="192.168.121.2" end="192.168.121.254"/>`,
    `    </dhcp>`,
    `  </ip>`,
    "</network>",
    "",
  ].join("\n");
}

/** Linux bridge names are at most 15 characters: "dvc" + 8 hex digits of the cluster id. */
export function bridgeName(clusterId: string): string {
  return `dvc${createHash("sha256").update(clusterId).digest("hex").slice(0, 8)}`;
}

/**
 * An isolated network: no <forward> (nothing routed off the host), no DHCP (nodes have
 * static addresses), no DNS (dnsmasq would answer on it otherwise); the host takes .1.
 */
export function libvirtNetworkXml(name: string, bridge: string, subnet: Cidr): string {
  return [
    "<network>",
    `  <name>${name}</name>`,
    `  <bridge name="${bridge}" stp="on" delay="0"/>`,
    `  <dns enable="no"/>`,
    `  <ip address="${hostAddress(subnet)}" netmask="${netmaskOf(subnet.prefix)}"/>`,
    "</network>",
    "",
  ].join("\n");
}

/**
 * x86-64-v2 (SSE4.2, POPCNT), which current Python wheels assume: NumPy >= 2.4's x86_64
 * wheels refuse to import without it ("NumPy was built with baseline optimizations:
 * (X86_V2) but your machine doesn't support"), so qemu64 (x86-64-v1) is not enough. TCG
 * emulates it.
 */
function defaultCpuModel(host: Host): string {
  return host.arch === "arm64" ? "cortex-a57" : "Nehalem";
}

function qemuBinary(host: Host): string {
  return host.arch === "arm64" ? "qemu-system-aarch64" : "qemu-system-x86_64";
}

function lines(stdout: string): string[] {
  return stdout
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);
}

/**
 * `virsh domstate <uuid>` as a machine state: "running" (and "idle"); "shut off", "paused",
 * "crashed", "in shutdown", "pmsuspended" keep the disk (`vagrant up` starts or resumes
 * them); "failed to get domain" (VIR_ERR_NO_DOMAIN) is no VM at all.
 */
export function libvirtMachineState(r: Pick<ProcessResult, "exitCode" | "stdout" | "stderr">): MachineStatus {
  if (r.exitCode !== 0) {
    if (/failed to get domain|Domain not found|no domain with matching/.test(`${r.stdout}\n${r.stderr}`))
      return { state: "missing", detail: "libvirt has no such domain" };
    return { state: "stopped", detail: `virsh domstate: ${tail(r.stderr || r.stdout, 1) || `exit ${r.exitCode}`}` };
  }
  const state = r.stdout.trim().split("\n")[0]!.trim();
  return {
    state: state === "running" || state === "idle" ? "running" : "stopped",
    detail: `virsh: ${state || "no state"}`,
  };
}

/** virsh translates its state words ("running", "shut off") with gettext: read them in the C locale. */
function untranslated(host: Host): NodeJS.ProcessEnv {
  return { ...host.env, LC_ALL: "C" };
}

/** argv of virsh on the connection vagrant-libvirt uses. */
function virsh(host: Host, ...args: string[]): string[] {
  return ["virsh", "--connect", libvirtUri(host), ...args];
}

/** DVC_LIBVIRT_DRIVER: kvm, qemu or auto (empty); anything else is bad input. */
export const DRIVER_ENV = "DVC_LIBVIRT_DRIVER";
/** DVC_LIBVIRT_CPU_MODEL: the CPU model under qemu emulation (libvirt model name). */
export const CPU_MODEL_ENV = "DVC_LIBVIRT_CPU_MODEL";

/** What DVC_LIBVIRT_DRIVER says, trimmed ("" when unset). */
function askedDriver(host: Host): string {
  return (host.env[DRIVER_ENV] ?? "").trim();
}

function envDriver(host: Host): LibvirtDriver | undefined {
  const v = askedDriver(host);
  return v === "kvm" || v === "qemu" ? v : undefined;
}

/** vagrant-libvirt's machines come up in parallel once the box stage has uploaded the image. */
export const LIBVIRT_CAPABILITIES: ProviderCapabilities = {
  parallelMachines: true,
  hostReachesNodes: true,
  reservesResources: true,
  nodesOnThisHost: true,
  hostPlatforms: ["linux"],
};

export function libvirtStrategy(options: LibvirtOptions = {}): VagrantStrategy {
  const management: ManagementNetwork = options.managementNetwork ?? "none";
  const driverOf = (host: Host): LibvirtDriver =>
    options.driver ?? envDriver(host) ?? (host.kvmUsable() ? "kvm" : "qemu");
  const cpuModelOf = (host: Host): string =>
    options.cpuModel ?? ((host.env[CPU_MODEL_ENV] ?? "").trim() || defaultCpuModel(host));
  const networkOf = (cluster: ClusterRef): NetworkRecord & { device: string } => ({
    provider: "libvirt",
    kind: "libvirt",
    name: cluster.id,
    subnet: clusterSubnet(cluster).text,
    device: bridgeName(cluster.id),
  });

  return {
    name: "libvirt",
    capabilities: LIBVIRT_CAPABILITIES,

    async checks(ctx: VagrantContext, cluster: ClusterRef, needs: HostNeeds, facts: CheckFacts): Promise<CheckRow[]> {
      const { host } = ctx;
      const rows: CheckRow[] = [];
      if (!facts.vagrantVersion) {
        rows.push(
          fail(
            "vagrant-libvirt",
            "not checked: vagrant is missing",
            "install Vagrant first, then the plugin (Debian/Ubuntu: sudo apt-get install vagrant-libvirt)",
          ),
        );
      } else {
        const plugins = await ctx.vagrant(["plugin", "list"], cluster, { timeoutMs: 60_000 });
        const line = plugins.stdout.split("\n").find((l) => /^vagrant-libvirt\b/.test(l.trim()));
        if (line) rows.push(ok("vagrant-libvirt", line.trim()));
        else if (plugins.exitCode !== 0)
          rows.push(
            fail(
              "vagrant-libvirt",
              describeFailure(plugins),
              "make `vagrant plugin list` work (`vagrant plugin repair`), then: vagrant plugin install vagrant-libvirt",
            ),
          );
        else
          rows.push(
            fail(
              "vagrant-libvirt",
              "the vagrant-libvirt plugin is not installed (`vagrant plugin list` does not show it)",
              "Debian/Ubuntu: sudo apt-get install vagrant-libvirt (it matches the distribution's vagrant); elsewhere: vagrant plugin install vagrant-libvirt",
            ),
          );
      }

      const uri = libvirtUri(host);
      const v = await ctx.run(virsh(host, "version"), cluster, { timeoutMs: 30_000 });
      if (v.missing)
        rows.push(
          fail(
            "virsh",
            "virsh (libvirt) is not installed or not on PATH",
            "Debian/Ubuntu: sudo apt-get install libvirt-daemon-system libvirt-clients (Fedora: sudo dnf install @virtualization)",
          ),
        );
      else if (v.exitCode !== 0) {
        rows.push(
          fail(
            "virsh",
            `cannot connect to libvirt at ${uri}: ${tail(v.stderr || v.stdout, 2).replace(/\n/g, " ")}`,
            "start the daemon (sudo systemctl enable --now libvirtd) and let your user manage it (sudo usermod -aG libvirt $USER, then log in again)",
          ),
        );
      } else rows.push(ok("virsh", `${uri}: ${tail(v.stdout, 3).replace(/\n/g, "; ")}`));

      for (const [bin, pkg] of [
        [qemuBinary(host), host.arch === "arm64" ? "qemu-system-arm" : "qemu-system-x86"],
        ["qemu-img", "qemu-utils"],
      ] as const) {
        const q = await ctx.run([bin, "--version"], cluster, { timeoutMs: 15_000 });
        rows.push(
          q.exitCode === 0
            ? ok(bin, q.stdout.trim().split("\n")[0] ?? "")
            : fail(
                bin,
                q.missing ? "not found" : describeFailure(q),
                `Debian/Ubuntu: sudo apt-get install ${pkg} (Fedora: sudo dnf install qemu-kvm)`,
              ),
        );
      }

      const asked = askedDriver(host);
      if (asked && asked !== "auto" && !envDriver(host)) {
        rows.push(
          fail(
            DRIVER_ENV,
            `${DRIVER_ENV}=${JSON.stringify(asked)} is not a libvirt driver this provider knows`,
            "set it to kvm, qemu or auto (or unset it: kvm when hardware KVM is usable, else qemu)",
          ),
        );
      }
      const cpuAsked = (host.env[CPU_MODEL_ENV] ?? "").trim();
      if (cpuAsked && !/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(cpuAsked)) {
        rows.push(
          fail(
            CPU_MODEL_ENV,
            `${CPU_MODEL_ENV}=${JSON.stringify(cpuAsked)} is not a CPU model name`,
            "use a name from `virsh cpu-models x86_64` (e.g. Nehalem), or unset it",
          ),
        );
      }
      const kvm = host.kvmUsable();
      const driver = options.driver ?? envDriver(host);
      rows.push(platformCheck(host, needs));
      if (driver !== "qemu") rows.push(await virtualizationCheck(host, driver === "kvm"));
      if (kvm) rows.push(ok("/dev/kvm", "usable (hardware virtualization): driver kvm"));
      else if (driver === "qemu") rows.push(ok("/dev/kvm", `not used: ${DRIVER_ENV} asks for qemu emulation`));
      else if (driver === "kvm") {
        rows.push(
          fail(
            "/dev/kvm",
            "driver kvm was asked for, but /dev/kvm is missing, not writable by this user, or not backed by VT-x/AMD-V",
            "enable VT-x/AMD-V in the firmware and load kvm_intel or kvm_amd; add your user to the kvm group (sudo usermod -aG kvm $USER); or let the driver default to qemu emulation",
          ),
        );
      } else {
        rows.push(
          warn(
            "/dev/kvm",
            `${host.exists("/dev/kvm") ? "present but not usable" : "missing"}: the nodes will run under qemu emulation (TCG), several times slower than KVM`,
            "enable VT-x/AMD-V, load kvm_intel or kvm_amd and join the kvm group to avoid it",
          ),
        );
      }

      const own = [bridgeName(cluster.id), ...(facts.network?.device ? [facts.network.device] : [])];
      rows.push(await routeCheck(host, cluster, own));

      if (management === "none" && v.exitCode === 0) {
        const mgmt = await ctx.run(virsh(host, "net-dumpxml", VAGRANT_LIBVIRT_MANAGEMENT_NETWORK), cluster, {
          timeoutMs: 30_000,
        });
        if (mgmt.exitCode === 0 && /<forward\b/.test(mgmt.stdout)) {
          rows.push(
            warn(
              "management network",
              `the libvirt network ${VAGRANT_LIBVIRT_MANAGEMENT_NETWORK} already exists with a <forward> (NAT) element; vagrant-libvirt reuses it, so the nodes will have a route out of the host`,
              `to isolate them, remove it while no VM uses it: virsh net-destroy ${VAGRANT_LIBVIRT_MANAGEMENT_NETWORK}; virsh net-undefine ${VAGRANT_LIBVIRT_MANAGEMENT_NETWORK}`,
            ),
          );
        }
      }
      return rows;
    },

    /**
     * Defines and starts the cluster's isolated network and, before any machine stage
     * runs, vagrant-libvirt's management network as vagrant-libvirt would define it
     * (templates/private_network.xml.erb). Left to vagrant-libvirt, parallel `vagrant up`s
     * each try to create it, and all but one fail with "network 'vagrant-libvirt' already
     * exists" (seen here). An existing management network is used as it is (preflight
     * warns when it routes off the host).
     */
    async createNetwork(
      ctx: VagrantContext,
      cluster: ClusterRef,
      _existing: NetworkRecord | undefined,
      recordIt: (r: NetworkRecord) => Promise<void>,
    ): Promise<NetworkRecord> {
      const { host } = ctx;
      const record = networkOf(cluster);
      const fix = `check that libvirt works: \`virsh --connect ${libvirtUri(host)} net-list --all\`; another network on ${record.subnet} (or on ${MANAGEMENT_SUBNET} for ${VAGRANT_LIBVIRT_MANAGEMENT_NETWORK}) makes net-start fail`;
      const all = lines((await ctx.must(virsh(host, "net-list", "--all", "--name"), cluster, fix)).stdout);
      const wanted: [string, string, string][] = [
        [record.name, "libvirt-network.xml", libvirtNetworkXml(record.name, record.device, clusterSubnet(cluster))],
        [VAGRANT_LIBVIRT_MANAGEMENT_NETWORK, "libvirt-management-network.xml", managementNetworkXml(management)],
      ];
      for (const [name, fileName, xml] of wanted) {
        if (all.includes(name)) continue;
        const file = path.join(cluster.clusterDir, fileName);
        await mkdir(cluster.clusterDir, { recursive: true });
        await writeFile(file, xml);
        await ctx.must(virsh(host, "net-define", file), cluster, fix);
      }
      const active = lines((await ctx.must(virsh(host, "net-list", "--name"), cluster, fix)).stdout);
      for (const [name] of wanted) {
        if (!active.includes(name)) await ctx.must(virsh(host, "net-start", name), cluster, fix);
      }
      await recordIt(record);
      return record;
    },

    async networkPresent(ctx: VagrantContext, cluster: ClusterRef, record: NetworkRecord): Promise<boolean> {
      const active = await ctx.run(virsh(ctx.host, "net-list", "--name"), cluster, {
        timeoutMs: 30_000,
        env: untranslated(ctx.host),
      });
      return active.exitCode === 0 && lines(active.stdout).includes(record.name);
    },

    async machineState(ctx: VagrantContext, cluster: ClusterRef, _node: NodeSpec, id: string): Promise<MachineStatus> {
      return libvirtMachineState(
        await ctx.run(virsh(ctx.host, "domstate", id), cluster, { timeoutMs: 30_000, env: untranslated(ctx.host) }),
      );
    },

    async destroyNetwork(ctx: VagrantContext, cluster: ClusterRef, record: NetworkRecord | undefined): Promise<void> {
      const { host } = ctx;
      const name = record?.provider === "libvirt" ? record.name : cluster.id;
      const fix = `remove it by hand: virsh --connect ${libvirtUri(host)} net-destroy ${name}; virsh --connect ${libvirtUri(host)} net-undefine ${name}`;
      const all = lines((await ctx.must(virsh(host, "net-list", "--all", "--name"), cluster, fix)).stdout);
      if (all.includes(name)) {
        const active = lines((await ctx.must(virsh(host, "net-list", "--name"), cluster, fix)).stdout);
        if (active.includes(name)) await ctx.must(virsh(host, "net-destroy", name), cluster, fix);
        await ctx.must(virsh(host, "net-undefine", name), cluster, fix);
      }
      await rm(path.join(cluster.clusterDir, "libvirt-network.xml"), { force: true });
      await removeManagementNetworkIfUnused(ctx, cluster);
      await rm(path.join(cluster.clusterDir, "libvirt-management-network.xml"), { force: true });
    },

    defaultNetwork: networkOf,

    machineListExtras(ctx: VagrantContext): Record<string, unknown> {
      const driver = driverOf(ctx.host);
      return {
        libvirt: {
          driver,
          ...(driver === "qemu" ? { cpuModel: cpuModelOf(ctx.host) } : {}),
          managementNetwork: management,
        },
      };
    },

    /**
     * Uploads the box image into the storage pool once, under the exact name
     * vagrant-libvirt gives it (action/handle_box_image.rb get_volume_name). vagrant-libvirt
     * guards its own upload with a mutex of one process only: parallel `vagrant up`s of a
     * fresh box race, and a VM whose overlay was made on a half-uploaded base volume boots
     * into "EXT4-fs (vda): error loading journal" (seen here). With the volume already in
     * the pool every machine stage skips the upload.
     */
    async afterBoxAdded(ctx: VagrantContext, cluster: ClusterRef, box: BoxConfig, version: string): Promise<void> {
      const { host } = ctx;
      const boxDir = path.join(vagrantBoxDir(host, box.name), version, "libvirt");
      const image = path.join(boxDir, "box.img");
      if (!host.exists(image)) return; // a multi-disk (v2) box or an unusual layout: vagrant-libvirt uploads it itself
      let meta: { format?: string; virtual_size?: number; disks?: unknown[] };
      try {
        meta = JSON.parse(host.readText(path.join(boxDir, "metadata.json")) ?? "{}") as typeof meta;
      } catch {
        return;
      }
      if (meta.disks?.length || meta.format !== "qcow2" || typeof meta.virtual_size !== "number") return;
      const mtime = host.mtimeSeconds(image);
      if (version === "0" || version === "") {
        if (mtime === undefined) return;
        version = `0_${mtime}`;
      }
      const volume = boxVolumeName(box.name, version);
      const fix = `check the pool: \`virsh --connect ${libvirtUri(host)} pool-info ${STORAGE_POOL}\` (provision/machines/libvirt/setup-libvirt-host.sh defines it); a half-uploaded volume is removed with virsh vol-delete --pool ${STORAGE_POOL} ${volume}`;
      const info = await ctx.run(virsh(host, "vol-info", "--pool", STORAGE_POOL, volume), cluster);
      if (info.exitCode === 0) return;
      const capacity = String(meta.virtual_size * 1024 ** 3);
      await ctx.must(virsh(host, "vol-create-as", STORAGE_POOL, volume, capacity, "--format", "qcow2"), cluster, fix);
      const up = await ctx.run(virsh(host, "vol-upload", "--pool", STORAGE_POOL, volume, image), cluster);
      if (up.exitCode !== 0) {
        await ctx.run(virsh(host, "vol-delete", "--pool", STORAGE_POOL, volume), cluster);
        throw new UserError(
          `uploading the box image into libvirt's pool ${STORAGE_POOL} failed (the half-uploaded volume was removed)`,
          1,
          [
            {
              path: volume,
              message: `virsh vol-upload ${image}: ${(up.stderr || up.stdout).trim().split("\n").slice(-3).join(" ") || `exit ${up.exitCode}`}`,
              fix,
            },
          ],
        );
      }
    },

    upHint: "read the libvirt error above (`virsh list --all`, `journalctl -u libvirtd`)",
    removeByHand: (domain) => `virsh undefine ${domain} --remove-all-storage`,
    // 4 for VMs under qemu emulation (the machine list says so), else 1.
    slowness: (list) => ((list.libvirt as { driver?: string } | undefined)?.driver === "qemu" ? 4 : 1),

    async removeUnrecorded(ctx: VagrantContext, cluster: ClusterRef, node: NodeSpec): Promise<void> {
      const { host } = ctx;
      const domain = vmName(cluster, node);
      if ((await ctx.run(virsh(host, "dominfo", domain), cluster)).exitCode !== 0) return; // none, or no libvirt to ask
      host.warn(
        `${domain} exists in libvirt but Vagrant has no record of it (an interrupted vagrant up?): removing it with its storage`,
      );
      const fix = `remove it by hand: virsh --connect ${libvirtUri(host)} destroy ${domain}; virsh --connect ${libvirtUri(host)} undefine ${domain} --remove-all-storage`;
      await ctx.run(virsh(host, "destroy", domain), cluster); // fails when it is not running: fine
      await ctx.must(virsh(host, "undefine", domain, "--remove-all-storage"), cluster, fix);
    },

    /**
     * The box volume stays in libvirt's pool like a box in Vagrant's cache. The management
     * network (kept by vagrant destroy: management_network_keep) is removed here once no
     * domain on this host uses it any more. Parallel destroy stages may both get here:
     * a network already gone is success.
     */
    async afterLastMachine(ctx: VagrantContext, cluster: ClusterRef): Promise<void> {
      await removeManagementNetworkIfUnused(ctx, cluster);
    },
  };
}

/**
 * Removes vagrant-libvirt's management network once no domain on this host uses it: after
 * the cluster's last machine, and with the cluster's network (a deploy that failed before
 * any machine still defined it). Parallel callers may both get here: gone is success.
 */
async function removeManagementNetworkIfUnused(ctx: VagrantContext, cluster: ClusterRef): Promise<void> {
  const { host } = ctx;
  const net = VAGRANT_LIBVIRT_MANAGEMENT_NETWORK;
  const all = await ctx.run(virsh(host, "net-list", "--all", "--name"), cluster);
  if (all.exitCode !== 0 || !lines(all.stdout).includes(net)) return;
  const doms = await ctx.run(virsh(host, "list", "--all", "--name"), cluster);
  if (doms.exitCode !== 0) return;
  for (const dom of lines(doms.stdout)) {
    const xml = await ctx.run(virsh(host, "dumpxml", dom), cluster);
    if (xml.exitCode !== 0 || new RegExp(`<source network=['"]${net}['"]`).test(xml.stdout)) return; // in use (or unknown): leave it
  }
  await ctx.run(virsh(host, "net-destroy", net), cluster);
  const undef = await ctx.run(virsh(host, "net-undefine", net), cluster);
  if (
    undef.exitCode !== 0 &&
    lines((await ctx.run(virsh(host, "net-list", "--all", "--name"), cluster)).stdout).includes(net)
  ) {
    host.warn(
      `could not remove libvirt's ${net} network: ${(undef.stderr || undef.stdout).trim()}; remove it by hand once no VM uses it: virsh net-destroy ${net}; virsh net-undefine ${net}`,
    );
  }
}

/** The MachineProvider for "libvirt". */
export function libvirtProvider(host: Host, options: LibvirtOptions = {}): VagrantProvider {
  return new VagrantProvider(libvirtStrategy(options), host);
}
