// The virtualbox provider: Vagrant + VirtualBox VMs on a host-only network that this
// stage creates (or finds) and records, so destroy removes exactly what it made.
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
//   attaches VMs to them on macOS only (hashicorp/vagrant#12983). On Linux and Windows
//   VirtualBox 7 keeps host-only adapters.
// - VBoxManage 7 translates its output, labels included (hashicorp/vagrant#12968; the
//   Russian catalogue VBoxManageNls_ru.ts translates "Name:", "IP address:", "Parent
//   UUID:", even "base"). It takes the language from LC_ALL, LC_MESSAGES or LANG, where
//   only "ll"/"ll_CC" counts (a C locale falls back to the system's language;
//   VirtualBoxTranslator), and the VirtualBox service's LanguageId setting overrides that.
//   So VBoxManage runs with LC_MESSAGES=en_US.UTF-8 (vboxEnv), and the parsers read
//   shapes (a GUID after a name, an IPv4 address, "(UUID: ...)") rather than labels.
// - `VBoxManage hostonlyif create` names the interface it made only in a translated
//   message; which one is new is learnt by listing the interfaces before and after.
// - Windows' VirtualBox installer makes "VirtualBox Host-Only Ethernet Adapter" on
//   192.168.56.1/24, exactly the default subnet: an adapter that already carries the
//   host's address on the subnet is reused (and kept on destroy), never duplicated.
// - A private_network with `name:` makes Vagrant use that host-only interface or network
//   and fail (NetworkNotFound) instead of creating one (action/network.rb hostonly_adapter).
// - Which VirtualBox versions a Vagrant release drives: 7.0 from 2.3.2 (#12959 shows 2.3.2
//   driving 7.0.0), 7.1 from 2.4.2 (2.4.1 rejects it: #13501; support #13513), 7.2 after
//   2.4.8 (#13709). VirtualBox 6.1 is the oldest we accept: it dropped software
//   virtualization, so it needs VT-x/AMD-V.
// - On the Linux host the VBoxManage wrapper prints "WARNING: The vboxdrv kernel module is
//   not loaded ..." (naming the kernel, e.g. 5.15.0-91-generic) before the version when
//   the module is missing: the version is the last line, and the fix is /sbin/vboxconfig.
// - Linked clones share one master VM per box and box version, imported once and recorded
//   in <VAGRANT_HOME>/boxes/<box>/<version>/[<arch>/]virtualbox/master_id (Vagrant
//   action/import_master.rb); other projects' clones may still hang off it. Vagrant itself
//   never removes a master; here it goes only when `list --long hdds` (the only form that
//   prints "In use by VMs") shows no other VM on a disk descended from the master's.
// - VirtualBox 7.1 runs on Apple Silicon and there only arm64 guests; debian/bookworm64
//   has no arm64 build.
import path from "node:path";
import { fail, ok, warn, type CheckRow } from "../../core/check-rows.js";

import { badInput, UserError } from "../../core/errors.js";
import type { Host } from "../../host/host.js";
import {
  cidrContains,
  cidrWithin,
  hostAddress,
  ipToInt,
  isIpv4,
  netmaskOf,
  parseCidr,
  type Cidr,
} from "../../core/ipv4.js";
import { describeFailure, tail, type ProcessOptions, type ProcessResult } from "../../host/process.js";
import type { HostRoute } from "../../host/routes.js";
import type { ClusterRef } from "../../core/stage-spec.js";
import { atLeast, compareVersions, parseVersion, versionText } from "../../core/version-number.js";
import type { MachineStatus, ProviderCapabilities } from "../provider.js";
import {
  VagrantProvider,
  vagrantBoxDir,
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
import {
  defaultMachineFolder,
  hypervisorCheck,
  parseMachineFolder,
  profilePathCheck,
  sshClientCheck,
  vboxDiskRows,
} from "./host-checks.js";
import type { NodeSpec, BoxConfig, HostNeeds } from "../../core/model.js";

export const MIN_VIRTUALBOX = [6, 1, 0] as const;
/** VirtualBox's first release for Apple Silicon hosts. */
export const MIN_VIRTUALBOX_ARM64_MAC = [7, 1, 0] as const;
/** The newest VirtualBox this project was checked against. */
const NEWEST_CHECKED = [7, 2] as const;

/** The oldest Vagrant that drives each VirtualBox major.minor (see the header). */
export const VAGRANT_FOR_VIRTUALBOX: readonly {
  readonly vbox: readonly [number, number];
  readonly vagrant: readonly number[];
}[] = [
  { vbox: [7, 0], vagrant: [2, 3, 2] },
  { vbox: [7, 1], vagrant: [2, 4, 2] },
  { vbox: [7, 2], vagrant: [2, 4, 9] },
];

/** What VirtualBox >= 6.1.28 allows for host-only networks without /etc/vbox/networks.conf. */
export const VBOX_DEFAULT_RANGE = "192.168.56.0/21";
export const VBOX_NETWORKS_CONF = "/etc/vbox/networks.conf";

/** Public boxes whose builds we know, for the box row (see the README's box table). */
export const KNOWN_BOXES: Readonly<
  Record<string, { readonly arches: readonly ("x86_64" | "aarch64")[]; readonly python: string }>
> = {
  "debian/bookworm64": { arches: ["x86_64"], python: "3.11" },
  "bento/debian-12": { arches: ["x86_64", "aarch64"], python: "3.11" },
};

/** VBoxManage, or on Windows the one in VirtualBox's install folder (as Vagrant finds it). */
export function vboxManage(host: Host): string {
  const dir =
    host.platform === "win32" ? (host.env.VBOX_MSI_INSTALL_PATH || host.env.VBOX_INSTALL_PATH || "").split(";")[0] : "";
  return dir ? path.win32.join(dir, "VBoxManage.exe") : "VBoxManage";
}

/**
 * The environment VBoxManage runs with: English messages. VBoxManage picks its language
 * from LC_ALL, then LC_MESSAGES, then LANG, and only an "ll" or "ll_CC" name counts ("C"
 * and "C.UTF-8" fall back to the system's language), so LC_ALL=C would not do it. LC_ALL
 * is dropped (it would override the character set too) and LC_MESSAGES names English;
 * the character set stays the user's UTF-8 one. The VirtualBox service's own language
 * setting can still win, which is why the parsers below read shapes, not labels.
 */
export function vboxEnv(host: Host): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...host.env, LC_MESSAGES: "en_US.UTF-8", LANGUAGE: "en" };
  delete env.LC_ALL;
  return env;
}

/** Runs VBoxManage with its arguments (untranslated, in the project folder). */
function vbox(
  ctx: VagrantContext,
  cluster: ClusterRef,
  args: readonly string[],
  extra: ProcessOptions = {},
): Promise<ProcessResult> {
  return ctx.run([vboxManage(ctx.host), ...args], cluster, { env: vboxEnv(ctx.host), timeoutMs: 120_000, ...extra });
}

async function mustVbox(
  ctx: VagrantContext,
  cluster: ClusterRef,
  args: readonly string[],
  fix: string,
): Promise<ProcessResult> {
  return ctx.must([vboxManage(ctx.host), ...args], cluster, fix, { env: vboxEnv(ctx.host), timeoutMs: 120_000 });
}

export interface VboxVersion {
  /** [major, minor, patch]; undefined when no version line was printed. */
  readonly version?: number[];
  /** The line it came from, e.g. 7.0.14r161095. */
  readonly text: string;
  /** The Linux wrapper said vboxdrv is not loaded (the kernel it names comes first, and is not the version). */
  readonly driverMissing: boolean;
}

/** Reads `VBoxManage --version`: the last line shaped like 7.0.14r161095, and the vboxdrv warning. */
export function parseVboxVersion(stdout: string, stderr = ""): VboxVersion {
  const lines = `${stdout}`
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter(Boolean);
  const line = [...lines].reverse().find((l) => /^\d+\.\d+\.\d+/.test(l)) ?? "";
  return {
    version: line ? parseVersion(line) : undefined,
    text: line,
    driverMissing: /vboxdrv/.test(`${stdout}\n${stderr}`),
  };
}

/**
 * `VBoxManage showvminfo <uuid> --machinereadable` as a machine state, read the way
 * Vagrant's VirtualBox driver reads it (read_state): name="<inaccessible>", else the
 * VMState="..." line; VBOX_E_OBJECT_NOT_FOUND ("Could not find a registered machine")
 * when VirtualBox has no such VM. Saved, aborted, paused and guru-meditation VMs keep their
 * disk: `vagrant up` resumes or boots them, so they are "stopped".
 */
export function vboxMachineState(r: Pick<ProcessResult, "exitCode" | "stdout" | "stderr">): MachineStatus {
  const out = `${r.stdout}\n${r.stderr}`;
  if (r.exitCode !== 0) {
    if (/VBOX_E_OBJECT_NOT_FOUND|Could not find a registered machine/.test(out))
      return { state: "missing", detail: "VirtualBox has no such VM" };
    return {
      state: "stopped",
      detail: `VBoxManage showvminfo: ${tail(r.stderr || r.stdout, 1) || `exit ${r.exitCode}`}`,
    };
  }
  if (/^name="<inaccessible>"$/m.test(r.stdout)) return { state: "stopped", detail: "VirtualBox: inaccessible" };
  const state = /^VMState="(.+?)"$/m.exec(r.stdout)?.[1];
  if (!state) return { state: "stopped", detail: "VBoxManage showvminfo printed no VMState" };
  return { state: state === "running" ? "running" : "stopped", detail: `VirtualBox: ${state}` };
}

const UUID = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}";
const IS_UUID = new RegExp(`^${UUID}$`);

/**
 * The records of `list hostonlyifs` / `list hostonlynets` as arrays of values in printed
 * order. A record is its name followed by its GUID: that shape, not a label or a blank
 * line, starts one (labels are translated; `list hostonlynets` prints a blank line
 * inside each record, after the GUID).
 */
function records(stdout: string): string[][] {
  const values = stdout
    .split(/\r?\n/)
    .filter((l) => l.trim())
    .map((l) => {
      const i = l.indexOf(":");
      return i < 0 ? l.trim() : l.slice(i + 1).trim();
    });
  const out: string[][] = [];
  values.forEach((v, i) => {
    if (IS_UUID.test(values[i + 1] ?? "") && !IS_UUID.test(v)) out.push([v]);
    else out.at(-1)?.push(v);
  });
  return out;
}

export interface HostOnlyIf {
  readonly name: string;
  /** IPv4 address and netmask of the host side; undefined when none is set. */
  readonly ip?: string;
  readonly mask?: string;
}

/**
 * `VBoxManage list hostonlyifs`: per block Name, GUID, DHCP, IPAddress, NetworkMask, ...
 * The name is the first value; the address and mask are the first two values shaped like
 * IPv4 addresses, which holds whatever language the labels are in.
 */
export function parseHostOnlyIfs(stdout: string): HostOnlyIf[] {
  return records(stdout).map((values) => {
    const v4 = values.slice(1).filter(isIpv4);
    return { name: values[0]!, ...(v4[0] ? { ip: v4[0] } : {}), ...(v4[1] ? { mask: v4[1] } : {}) };
  });
}

export interface HostOnlyNet {
  readonly name: string;
  readonly mask?: string;
  readonly lowerIp?: string;
  readonly upperIp?: string;
}

/** `VBoxManage list hostonlynets` (VirtualBox >= 7, macOS): Name, GUID, State, NetworkMask, LowerIP, UpperIP, ... */
export function parseHostOnlyNets(stdout: string): HostOnlyNet[] {
  return records(stdout).map((values) => {
    const v4 = values.slice(1).filter(isIpv4);
    return {
      name: values[0]!,
      ...(v4[0] ? { mask: v4[0] } : {}),
      ...(v4[1] ? { lowerIp: v4[1] } : {}),
      ...(v4[2] ? { upperIp: v4[2] } : {}),
    };
  });
}

/** `"name" {uuid}` lines of `VBoxManage list vms`. */
export function parseVboxVms(stdout: string): { name: string; uuid: string }[] {
  return stdout.split(/\r?\n/).flatMap((l) => {
    const m = /^"(.*)"\s+\{([0-9a-fA-F-]+)\}\s*$/.exec(l.trim());
    return m ? [{ name: m[1]!, uuid: m[2]! }] : [];
  });
}

export interface VboxDisk {
  readonly uuid: string;
  /** "base" for a base disk. */
  readonly parent: string;
  /** UUIDs of the VMs that use it (snapshots named in brackets left out). */
  readonly vms: readonly string[];
}

/**
 * Blocks of `VBoxManage list --long hdds` (plain `list hdds` has no "In use by VMs", so
 * every disk would look unused there). Read by shape, whatever the language: the first
 * line holds the disk's UUID, the second its parent's (or a word for "base"), and the
 * VMs using it are the "(UUID: ...)" of the one line that has them, snapshots in
 * brackets left out.
 */
export function parseVboxHdds(stdout: string): VboxDisk[] {
  const uuidIn = (line = "") => new RegExp(UUID).exec(line)?.[0]?.toLowerCase() ?? "";
  return stdout
    .replace(/\r\n/g, "\n")
    .split(/\n\s*\n/)
    .map((block) => {
      const lines = block.split("\n").filter((l) => l.trim());
      const inUse = lines.find((l) => /\(UUID: /.test(l))?.replace(/\[[^\]]*\]/g, "") ?? "";
      const vms = [...inUse.matchAll(new RegExp(`\\(UUID: (${UUID})\\)`, "g"))].map((m) => m[1]!.toLowerCase());
      return { uuid: uuidIn(lines[0]), parent: uuidIn(lines[1]) || "base", vms };
    })
    .filter((d) => d.uuid);
}

/**
 * Whether VMs other than the master still use a disk descended from the master's disks
 * (its linked clones, and their snapshots). Unknown (no disk of the master found) counts
 * as in use: a master is removed only when that is certain.
 */
export function masterStillUsed(disks: readonly VboxDisk[], masterUuid: string): { used: boolean; by: string[] } {
  const master = masterUuid.toLowerCase();
  const own = disks.filter((d) => d.vms.includes(master)).map((d) => d.uuid);
  if (!own.length) return { used: true, by: ["(no disk of the master found in `VBoxManage list --long hdds`)"] };
  const descendants = new Set(own);
  for (let grew = true; grew; ) {
    grew = false;
    for (const d of disks) {
      if (descendants.has(d.parent) && !descendants.has(d.uuid)) {
        descendants.add(d.uuid);
        grew = true;
      }
    }
  }
  const by = [
    ...new Set(disks.filter((d) => descendants.has(d.uuid)).flatMap((d) => d.vms.filter((vm) => vm !== master))),
  ];
  return { used: by.length > 0, by };
}

/** Parses /etc/vbox/networks.conf lines like "* 10.0.0.0/8 192.168.0.0/16". */
export function parseVboxNetworksConf(text: string): string[] {
  return text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l.startsWith("*"))
    .flatMap((l) => l.slice(1).trim().split(/\s+/))
    .filter(Boolean);
}

/** Where VirtualBox enforces its host-only range rule: Linux, and macOS before 7.0 (never Windows). */
export function rangeRuleApplies(platform: NodeJS.Platform, version: readonly number[] | undefined): boolean {
  return platform === "linux" || (platform === "darwin" && (!version || version[0]! < 7));
}

/** The subnet against VirtualBox's host-only range rule, where it applies (the one definition of it). */
export function subnetAllowedCheck(host: Host, subnet: Cidr, version: readonly number[] | undefined): CheckRow {
  const name = "subnet allowed";
  if (!rangeRuleApplies(host.platform, version))
    return ok(
      name,
      `${subnet.text} (VirtualBox on ${host.platform}${version ? ` ${versionText(version, 2)}` : ""} has no range rule)`,
    );
  const conf = host.readText(VBOX_NETWORKS_CONF);
  const allowedText = conf !== undefined ? parseVboxNetworksConf(conf) : [VBOX_DEFAULT_RANGE];
  const source = conf !== undefined ? VBOX_NETWORKS_CONF : "the default";
  const inside = allowedText.find((t) => {
    const c = parseCidr(t);
    return c && cidrWithin(c, subnet);
  });
  if (inside) return ok(name, `${subnet.text} inside ${inside} (${source})`);
  return fail(
    name,
    `${subnet.text} is outside the ranges VirtualBox allows for host-only networks (${allowedText.join(", ") || "none"}, ${source})`,
    `use a subnet inside ${VBOX_DEFAULT_RANGE} (e.g. 192.168.56.0/24) in network.subnet of cluster.config.json, or allow it: add the line "* ${subnet.text}" to ${VBOX_NETWORKS_CONF} (sudo mkdir -p /etc/vbox && echo '* ${subnet.text}' | sudo tee -a ${VBOX_NETWORKS_CONF})`,
    "/network/subnet",
  );
}

/**
 * macOS, VirtualBox >= 7: a route that is the cluster's own host-only network. VirtualBox
 * makes its host-only networks with Apple's vmnet, which shows each as a bridgeNNN
 * interface (bridge100, bridge101, ...) with the network's route, and `list hostonlynets`
 * names no interface. So a route on a bridge interface is VirtualBox's when it is exactly
 * the subnet of a host-only network VirtualBox lists there: the one this cluster recorded,
 * or one the network stage reuses (its range inside the subnet, the same mask). Another
 * vmnet user (UTM, Docker Desktop) on that very subnet would clash with VirtualBox itself.
 */
export function hostOnlyNetRoute(
  nets: readonly HostOnlyNet[],
  subnet: Cidr,
  recorded: NetworkRecord | undefined,
): ((r: HostRoute) => boolean) | undefined {
  const mask = netmaskOf(subnet.prefix);
  const ours = nets.some(
    (n) =>
      (recorded?.provider === "virtualbox" && recorded.name === n.name) ||
      (n.lowerIp && cidrContains(subnet, ipToInt(n.lowerIp)) && n.mask === mask),
  );
  if (!ours) return undefined;
  return (r) => /^bridge\d+$/.test(r.dev) && r.dst.text === subnet.text;
}

/**
 * Host-only adapters on the subnet: one carrying the host's .1 with the cluster's mask can be reused; any other is in
 * the way.
 */
export function adaptersOnSubnet(
  ifs: readonly HostOnlyIf[],
  subnet: Cidr,
): { reusable?: HostOnlyIf; inTheWay: HostOnlyIf[] } {
  const hostIp = hostAddress(subnet);
  const mask = netmaskOf(subnet.prefix);
  const onIt = ifs.filter((i) => i.ip && cidrContains(subnet, ipToInt(i.ip)));
  const reusable = onIt.find((i) => i.ip === hostIp && i.mask === mask);
  return { reusable, inTheWay: onIt.filter((i) => i !== reusable) };
}

function adapterInTheWay(subnet: Cidr, others: readonly HostOnlyIf[]): CheckRow {
  return fail(
    "host-only adapter",
    `${others.map((i) => `"${i.name}" (${i.ip}/${i.mask ?? "?"})`).join(", ")} already carries an address on ${subnet.text}, which is not the host's ${hostAddress(subnet)}/${netmaskOf(subnet.prefix)}`,
    `pick another subnet in network.subnet (e.g. 192.168.57.0/24), or give that adapter ${hostAddress(subnet)} (VBoxManage hostonlyif ipconfig "${others[0]!.name}" --ip ${hostAddress(subnet)} --netmask ${netmaskOf(subnet.prefix)}) if nothing else uses it`,
    "/network/subnet",
  );
}

/** The version-dependent rows: VirtualBox itself, the Vagrant that drives it, Apple Silicon. */
function versionRows(
  host: Host,
  v: VboxVersion,
  r: ProcessResult,
  vagrantVersion: readonly number[] | undefined,
): CheckRow[] {
  const install = `install VirtualBox ${versionText(MIN_VIRTUALBOX, 2)} or newer (7.x recommended, https://www.virtualbox.org/wiki/Downloads)${host.platform === "win32" ? "; the installer sets VBOX_MSI_INSTALL_PATH, which a new terminal sees" : ""}, or use "provider": "libvirt" or "local" in cluster.config.json`;
  if (v.driverMissing) {
    return [
      fail(
        "virtualbox",
        `VirtualBox ${v.text || "(version not printed)"} is installed, but its kernel module vboxdrv is not loaded`,
        "load it: sudo /sbin/vboxconfig (on Secure Boot hosts, sign the module or disable Secure Boot first)",
      ),
    ];
  }
  if (!v.version) return [fail("virtualbox", r.missing ? "not found" : describeFailure(r), install)];
  const rows: CheckRow[] = [];
  const armMac = host.platform === "darwin" && host.arch === "arm64";
  if (compareVersions(v.version, MIN_VIRTUALBOX) < 0)
    rows.push(
      fail(
        "virtualbox",
        v.text,
        `VirtualBox ${versionText(v.version)} is older than ${versionText(MIN_VIRTUALBOX, 2)}: upgrade it (7.x recommended)`,
      ),
    );
  else if (armMac && compareVersions(v.version, MIN_VIRTUALBOX_ARM64_MAC) < 0)
    rows.push(
      fail(
        "virtualbox",
        v.text,
        `VirtualBox runs on Apple Silicon from ${versionText(MIN_VIRTUALBOX_ARM64_MAC, 2)}: upgrade it`,
      ),
    );
  else if (compareVersions(v.version.slice(0, 2), NEWEST_CHECKED) > 0)
    rows.push(
      warn(
        "virtualbox",
        v.text,
        `newer than any this project was checked against (${versionText(NEWEST_CHECKED)}); if Vagrant reports it unsupported, upgrade Vagrant`,
      ),
    );
  else rows.push(ok("virtualbox", v.text));
  if (vagrantVersion) {
    const need = VAGRANT_FOR_VIRTUALBOX.find((e) => e.vbox[0] === v.version![0] && e.vbox[1] === v.version![1])
      ?.vagrant ?? [0];
    const macNets = host.platform === "darwin" && v.version[0]! >= 7 ? [2, 3, 3] : [0];
    const required = compareVersions(need, macNets) > 0 ? need : macNets;
    const row = "vagrant for virtualbox";
    if (!atLeast(vagrantVersion, required)) {
      rows.push(
        fail(
          row,
          `Vagrant ${versionText(vagrantVersion)} cannot drive VirtualBox ${versionText(v.version)}${macNets.length > 1 ? " host-only networks on macOS" : ""}`,
          `upgrade Vagrant to ${versionText(required)} or newer, or install a VirtualBox release it supports`,
          "vagrant",
        ),
      );
    } else rows.push(ok(row, `Vagrant ${versionText(vagrantVersion)} drives VirtualBox ${versionText(v.version, 2)}`));
  }
  return rows;
}

/** The box row: a box we know to have no build for the nodes' architecture is refused with the config to write. */
function boxCheck(needs: HostNeeds): CheckRow {
  const known = KNOWN_BOXES[needs.box.name];
  if (!known)
    return ok(
      "box",
      `${needs.box.name} (not one this project knows: it must have a ${needs.platform} VirtualBox build with Python ${needs.python})`,
    );
  if (!known.arches.includes(needs.platform)) {
    return fail(
      "box",
      `${needs.box.name} has no ${needs.platform} build`,
      `write ${JSON.stringify({ box: { name: ARM64_BOX }, runtime: { platform: needs.platform } })} into cluster.config.json`,
      "/box/name",
    );
  }
  if (known.python !== needs.python) {
    return fail(
      "box",
      `${needs.box.name} ships Python ${known.python}, the runtime is locked for ${needs.python}`,
      `set "runtime": {"python": "${known.python}"} (and re-lock: npm run lock -- --python ${known.python}), or pick a box with Python ${needs.python}`,
      "/runtime/python",
    );
  }
  return ok("box", `${needs.box.name}: ${needs.platform}, Python ${known.python}`);
}

/** The box the defaults switch to where VirtualBox runs only arm64 guests (one of KNOWN_BOXES with aarch64). */
export const ARM64_BOX = "bento/debian-12";

export const VIRTUALBOX_CAPABILITIES: ProviderCapabilities = {
  // Parallel `vagrant up`s race for the box import and the forwarded ssh port 2222.
  parallelMachines: false,
  hostReachesNodes: true,
  reservesResources: true,
  nodesOnThisHost: true,
  // Its checks measure the machine folder and Vagrant's home (virtualbox-host-checks.ts).
  measuresOwnDisks: true,
  // VirtualBox 7.1 on Apple Silicon runs only arm64 guests: an aarch64 runtime and an arm64 box.
  defaultsOn: (host) =>
    host.platform === "darwin" && host.arch === "arm64"
      ? { runtime: { platform: "aarch64" }, box: { name: ARM64_BOX } }
      : undefined,
};

export function virtualboxStrategy(): VagrantStrategy {
  return {
    name: "virtualbox",
    capabilities: VIRTUALBOX_CAPABILITIES,

    async checks(ctx: VagrantContext, cluster: ClusterRef, needs: HostNeeds, facts: CheckFacts): Promise<CheckRow[]> {
      const { host } = ctx;
      const subnet = clusterSubnet(cluster);
      const r = await vbox(ctx, cluster, ["--version"], { timeoutMs: 30_000 });
      const v = parseVboxVersion(r.stdout, r.stderr);
      const rows = versionRows(host, v, r, facts.vagrantVersion);
      const extra =
        host.platform === "darwin" && host.arch === "arm64" && !KNOWN_BOXES[needs.box.name]?.arches.includes("aarch64")
          ? { box: { name: ARM64_BOX } }
          : {};
      rows.push(platformCheck(host, needs, extra), boxCheck(needs), subnetAllowedCheck(host, subnet, v.version));

      const own: string[] = [];
      if (facts.network?.provider === "virtualbox")
        own.push(...[facts.network.device ?? facts.network.name, facts.network.hostIp ?? ""].filter(Boolean));
      const macNets = host.platform === "darwin" && !!v.version && v.version[0]! >= 7;
      let ownRoute: ((r: HostRoute) => boolean) | undefined;
      if (macNets && !v.driverMissing) {
        const list = await vbox(ctx, cluster, ["list", "hostonlynets"]);
        if (list.exitCode === 0) ownRoute = hostOnlyNetRoute(parseHostOnlyNets(list.stdout), subnet, facts.network);
      }
      if (v.version && !v.driverMissing && !macNets) {
        const list = await vbox(ctx, cluster, ["list", "hostonlyifs"]);
        if (list.exitCode === 0) {
          const { reusable, inTheWay } = adaptersOnSubnet(parseHostOnlyIfs(list.stdout), subnet);
          const mine = (i: HostOnlyIf) => facts.network?.provider === "virtualbox" && facts.network.name === i.name;
          const others = inTheWay.filter((i) => !mine(i));
          if (others.length) rows.push(adapterInTheWay(subnet, others));
          else if (reusable) {
            rows.push(
              ok(
                "host-only adapter",
                `"${reusable.name}" already has ${reusable.ip}/${reusable.mask}${mine(reusable) ? " (this cluster's)" : ": the cluster will use it, and leave it on destroy"}`,
              ),
            );
            own.push(reusable.name, reusable.ip!);
          } else rows.push(ok("host-only adapter", `none on ${subnet.text} yet: the network stage creates one`));
        } else
          rows.push(
            warn(
              "host-only adapter",
              describeFailure(list),
              "check that VirtualBox works (on Linux: `sudo /sbin/vboxconfig` loads its kernel modules)",
            ),
          );
      }
      rows.push(await routeCheck(host, cluster, own, ownRoute), await virtualizationCheck(host, true));
      let machineFolder = defaultMachineFolder(host);
      if (v.version && !v.driverMissing) {
        const props = await vbox(ctx, cluster, ["list", "systemproperties"], { timeoutMs: 30_000 });
        machineFolder = (props.exitCode === 0 ? parseMachineFolder(props.stdout) : undefined) ?? machineFolder;
      }
      rows.push(...vboxDiskRows(host, cluster, machineFolder));
      if (host.platform === "win32")
        rows.push(
          profilePathCheck(host),
          await sshClientCheck(host),
          await hypervisorCheck(host, cluster, machineFolder),
        );
      if (host.platform === "linux" && (host.exists("/sys/module/kvm_intel") || host.exists("/sys/module/kvm_amd"))) {
        rows.push(
          warn(
            "kvm modules",
            "KVM kernel modules are loaded",
            'if VirtualBox fails with VERR_VMX_IN_VMX_ROOT_MODE or VERR_SVM_IN_USE, stop KVM guests and run `sudo modprobe -r kvm_intel kvm_amd`, or use "provider": "libvirt"',
          ),
        );
      }
      return rows;
    },

    async createNetwork(ctx, cluster, existing, recordIt): Promise<NetworkRecord> {
      const subnet = clusterSubnet(cluster);
      const mask = netmaskOf(subnet.prefix);
      const version = parseVboxVersion(
        (await mustVbox(ctx, cluster, ["--version"], "run preflight: VirtualBox must be installed")).stdout,
      ).version ?? [0, 0, 0];
      const rangeFix = rangeRuleApplies(ctx.host.platform, version)
        ? `if VirtualBox says E_ACCESSDENIED, allow the subnet in ${VBOX_NETWORKS_CONF} with the line "* ${subnet.text}"`
        : "read VirtualBox's error above";

      if (ctx.host.platform === "darwin" && version[0]! >= 7) {
        const nets = parseHostOnlyNets(
          (
            await mustVbox(
              ctx,
              cluster,
              ["list", "hostonlynets"],
              "check that VirtualBox works: open it once, and allow its system extension in System Settings > Privacy & Security",
            )
          ).stdout,
        );
        const theirs = nets.find(
          (n) => n.name !== cluster.id && n.lowerIp && cidrContains(subnet, ipToInt(n.lowerIp)) && n.mask === mask,
        );
        if (theirs) {
          const record: NetworkRecord = {
            provider: "virtualbox",
            kind: "hostonlynet",
            name: theirs.name,
            subnet: subnet.text,
            created: false,
          };
          await recordIt(record);
          return record;
        }
        // Recorded first: a failed add leaves nothing this record does not name.
        const record: NetworkRecord = {
          provider: "virtualbox",
          kind: "hostonlynet",
          name: cluster.id,
          subnet: subnet.text,
          created: true,
        };
        await recordIt(record);
        if (!nets.some((n) => n.name === cluster.id)) {
          // As Vagrant makes them for a static IP: lower = upper = the network address; the host takes the first
          // address.
          const lower = subnet.text.split("/")[0]!;
          await mustVbox(
            ctx,
            cluster,
            ["hostonlynet", "add", "--name", cluster.id, "--netmask", mask, "--lower-ip", lower, "--upper-ip", lower],
            rangeFix,
          );
        }
        return record;
      }

      const listFix = "check that VirtualBox works (on Linux: `sudo /sbin/vboxconfig` loads its kernel modules)";
      const before = parseHostOnlyIfs((await mustVbox(ctx, cluster, ["list", "hostonlyifs"], listFix)).stdout);
      const recorded =
        existing?.provider === "virtualbox" && existing.kind === "hostonlyif"
          ? before.find((i) => i.name === existing.name)
          : undefined;
      const { reusable, inTheWay } = adaptersOnSubnet(before, subnet);
      const others = inTheWay.filter((i) => i !== recorded);
      if (others.length) {
        const row = adapterInTheWay(subnet, others);
        throw badInput(`the host-only network cannot be made: ${row.found}`, [
          { path: row.path ?? row.check, message: row.found, fix: row.fix },
        ]);
      }
      if (recorded) {
        // Ours from an earlier run (perhaps one that failed before its address was set).
        const record: NetworkRecord = { ...existing!, device: recorded.name, hostIp: hostAddress(subnet) };
        if (recorded.ip !== hostAddress(subnet) || recorded.mask !== mask)
          await mustVbox(
            ctx,
            cluster,
            ["hostonlyif", "ipconfig", recorded.name, "--ip", hostAddress(subnet), "--netmask", mask],
            rangeFix,
          );
        await recordIt(record);
        return record;
      }
      if (reusable) {
        const record: NetworkRecord = {
          provider: "virtualbox",
          kind: "hostonlyif",
          name: reusable.name,
          subnet: subnet.text,
          device: reusable.name,
          hostIp: hostAddress(subnet),
          created: false,
        };
        await recordIt(record);
        return record;
      }
      await mustVbox(
        ctx,
        cluster,
        ["hostonlyif", "create"],
        "on Linux the vboxnetadp kernel module must be loaded (`sudo /sbin/vboxconfig`); on Windows run the deploy from an administrator terminal once",
      );
      const after = parseHostOnlyIfs((await mustVbox(ctx, cluster, ["list", "hostonlyifs"], listFix)).stdout);
      const made = after.filter((i) => !before.some((b) => b.name === i.name));
      if (made.length !== 1) {
        throw new UserError(
          `\`VBoxManage hostonlyif create\` succeeded, but ${made.length ? `${made.length} new host-only adapters appeared (${made.map((m) => m.name).join(", ")})` : "no new host-only adapter appeared"}`,
          1,
          [
            {
              path: "VBoxManage list hostonlyifs",
              message: "cannot tell which adapter is this cluster's",
              fix: "remove the extra adapters in VirtualBox (File > Tools > Network Manager) if no VM uses them, then deploy again",
            },
          ],
        );
      }
      const name = made[0]!.name;
      // Recorded before its address is set: a failure below leaves an adapter that the
      // next deploy reuses and destroy removes, never a second one.
      const record: NetworkRecord = {
        provider: "virtualbox",
        kind: "hostonlyif",
        name,
        subnet: subnet.text,
        device: name,
        hostIp: hostAddress(subnet),
        created: true,
      };
      await recordIt(record);
      await mustVbox(
        ctx,
        cluster,
        ["hostonlyif", "ipconfig", name, "--ip", hostAddress(subnet), "--netmask", mask],
        rangeFix,
      );
      return record;
    },

    async destroyNetwork(ctx, cluster, record): Promise<void> {
      if (record?.provider !== "virtualbox") return;
      if (record.created === false) return; // it was there before the cluster (the installer's adapter): it stays
      if (record.kind === "hostonlynet") {
        const names = parseHostOnlyNets(
          (await mustVbox(ctx, cluster, ["list", "hostonlynets"], "check that VirtualBox works")).stdout,
        ).map((n) => n.name);
        if (names.includes(record.name))
          await mustVbox(
            ctx,
            cluster,
            ["hostonlynet", "remove", "--name", record.name],
            `remove it by hand: VBoxManage hostonlynet remove --name ${record.name}`,
          );
        return;
      }
      const names = parseHostOnlyIfs(
        (await mustVbox(ctx, cluster, ["list", "hostonlyifs"], "check that VirtualBox works")).stdout,
      ).map((i) => i.name);
      if (names.includes(record.name))
        await mustVbox(
          ctx,
          cluster,
          ["hostonlyif", "remove", record.name],
          `a VM may still use it (VBoxManage list vms); remove it by hand: VBoxManage hostonlyif remove "${record.name}"`,
        );
    },

    async networkPresent(ctx, cluster, record): Promise<boolean> {
      if (record.provider !== "virtualbox") return false;
      const list = await vbox(ctx, cluster, ["list", record.kind === "hostonlynet" ? "hostonlynets" : "hostonlyifs"], {
        timeoutMs: 30_000,
      });
      if (list.exitCode !== 0) return false;
      const names =
        record.kind === "hostonlynet"
          ? parseHostOnlyNets(list.stdout).map((n) => n.name)
          : parseHostOnlyIfs(list.stdout).map((i) => i.name);
      return names.includes(record.name);
    },

    async machineState(ctx, cluster, _node, id): Promise<MachineStatus> {
      const r = await vbox(ctx, cluster, ["showvminfo", id, "--machinereadable"], { timeoutMs: 30_000 });
      return vboxMachineState(r);
    },

    defaultNetwork(): NetworkRecord | undefined {
      return undefined;
    },

    machineListExtras(): Record<string, unknown> {
      return {};
    },

    upHint: "read the VirtualBox error above",
    removeByHand: (name) => `VBoxManage unregistervm ${name} --delete`,

    async removeUnrecorded(ctx: VagrantContext, cluster: ClusterRef, node: NodeSpec): Promise<void> {
      const name = vmName(cluster, node);
      const list = await vbox(ctx, cluster, ["list", "vms"]);
      if (list.exitCode !== 0) return;
      const vm = parseVboxVms(list.stdout).find((x) => x.name === name);
      if (!vm) return;
      ctx.host.warn(
        `VirtualBox has a VM named ${name} that Vagrant has no record of (an interrupted vagrant up?): removing it with its disks`,
      );
      await vbox(ctx, cluster, ["controlvm", vm.uuid, "poweroff"]); // fails when it is not running: fine
      await mustVbox(
        ctx,
        cluster,
        ["unregistervm", vm.uuid, "--delete"],
        `remove it by hand: VBoxManage unregistervm "${name}" --delete (close the VirtualBox window first if it shows that VM)`,
      );
    },

    async afterLastMachine(ctx: VagrantContext, cluster: ClusterRef, box: BoxConfig | undefined): Promise<void> {
      if (!box) return;
      const masters = masterIds(ctx.host, box.name);
      if (!masters.length) return;
      const vms = parseVboxVms((await mustVbox(ctx, cluster, ["list", "vms"], "check that VirtualBox works")).stdout);
      const registered = vms.filter((vm) => masters.includes(vm.uuid.toLowerCase()));
      if (!registered.length) return;
      const disks = parseVboxHdds(
        (await mustVbox(ctx, cluster, ["list", "--long", "hdds"], "check that VirtualBox works")).stdout,
      );
      for (const master of registered) {
        const { used, by } = masterStillUsed(disks, master.uuid);
        if (used) {
          ctx.host.warn(
            `kept the linked-clone master VM "${master.name}" of box ${box.name}: ${by.map((u) => vms.find((vm) => vm.uuid.toLowerCase() === u)?.name ?? u).join(", ")} still use it`,
          );
          continue;
        }
        const r = await vbox(ctx, cluster, ["unregistervm", master.uuid, "--delete"]);
        if (r.exitCode !== 0)
          ctx.host.warn(
            `could not remove the linked-clone master VM "${master.name}" (${tail(r.stderr, 1)}); remove it by hand: VBoxManage unregistervm ${master.uuid} --delete`,
          );
      }
    },
  };
}

/** UUIDs (lower case) in the master_id files of every stored version of a box (see the header). */
export function masterIds(host: Host, boxName: string): string[] {
  const join = host.platform === "win32" ? path.win32.join : path.join;
  const boxDir = vagrantBoxDir(host, boxName);
  const ids: string[] = [];
  for (const version of host.listDir(boxDir)) {
    const vdir = join(boxDir, version);
    for (const dir of [vdir, ...host.listDir(vdir).map((a) => join(vdir, a))]) {
      const id = host
        .readText(join(dir, "virtualbox", "master_id"))
        ?.trim()
        .toLowerCase();
      if (id && !ids.includes(id)) ids.push(id);
    }
  }
  return ids;
}

/** The MachineProvider for "virtualbox". */
export function virtualboxProvider(host: Host): VagrantProvider {
  return new VagrantProvider(virtualboxStrategy(), host);
}
