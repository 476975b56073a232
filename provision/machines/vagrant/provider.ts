// The machine layer shared by the virtualbox and libvirt providers: Vagrant creates and
// destroys the VMs from provision/machines/vagrant/Vagrantfile and the machine list written here; a small
// per-provider strategy (virtualbox.ts, libvirt.ts) adds its host checks and the private
// network. Every program runs through the host's one process runner as an argv array
// (no shell), so tests assert the exact sequence of commands each step runs.
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { chmod, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fail, ok, warn, type CheckRow } from "../../core/check-rows.js";

import { UserError, badInput } from "../../core/errors.js";
import type { Host } from "../../host/host.js";
import { parseCidr, type Cidr } from "../../core/ipv4.js";
import { describeFailure, tail, type ProcessOptions, type ProcessResult } from "../../host/process.js";
import { clashingRoutes, freeSubnet, hostRoutes, type HostRoute } from "../../host/routes.js";
import type { ClusterRef } from "../../core/stage-spec.js";
import { SshTransport, VM_ROOT, sshControlDir, withConnectionSharing } from "../ssh-transport.js";
import { NodeCommandError, type Transport } from "../transport.js";
import { atLeast, compareVersions, parseVersion, versionParts, versionText } from "../../core/version-number.js";
import type { MachineProvider, MachineStatus, ProviderCapabilities } from "../provider.js";
import type { NodeSpec, BoxConfig, HostNeeds } from "../../core/model.js";

export type VagrantProviderName = "virtualbox" | "libvirt";

/** Oldest Vagrant the Vagrantfile accepts (its Vagrant.require_version says the same; a test holds them together). */
export const MIN_VAGRANT = [2, 2, 19] as const;

/** Vagrant starts Ruby and loads its plugins: give version commands time. */
const VAGRANT_QUICK_MS = 30_000;

/** What createNetwork made, kept in <clusterDir>/network.json so destroy removes exactly it. */
export interface NetworkRecord {
  readonly provider: VagrantProviderName;
  /**
   * hostonlyif: a VirtualBox host-only interface; hostonlynet: a VirtualBox >= 7 host-only network (macOS); libvirt: a
   * libvirt network.
   */
  readonly kind: "hostonlyif" | "hostonlynet" | "libvirt";
  /** The name Vagrant attaches the nodes to (private_network name: / libvirt__network_name). */
  readonly name: string;
  readonly subnet: string;
  /** The host interface that carries the subnet, when known (a libvirt bridge, a vboxnetN). */
  readonly device?: string;
  /** The host's own address on it (how Windows' route table names the interface). */
  readonly hostIp?: string;
  /** false when it existed before this cluster (an adapter VirtualBox's installer made): destroy keeps it. */
  readonly created?: boolean;
}

/** Files of one cluster's Vagrant layer, all under <clusterDir>. */
export function vagrantPaths(cluster: Pick<ClusterRef, "projectDir" | "clusterDir">) {
  return {
    vagrantCwd: path.join(cluster.projectDir, "provision", "machines", "vagrant"),
    machines: path.join(cluster.clusterDir, "machines.json"),
    network: path.join(cluster.clusterDir, "network.json"),
    dotfile: path.join(cluster.clusterDir, "vagrant"),
    sshDir: path.join(cluster.clusterDir, "ssh"),
    sshConfig: (node: string) => path.join(cluster.clusterDir, "ssh", `${node}.conf`),
  };
}

/** The environment every vagrant command of a cluster runs with. */
export function vagrantEnv(
  cluster: Pick<ClusterRef, "projectDir" | "clusterDir">,
  base: NodeJS.ProcessEnv,
): NodeJS.ProcessEnv {
  const p = vagrantPaths(cluster);
  return {
    ...base,
    VAGRANT_CWD: p.vagrantCwd,
    VAGRANT_DOTFILE_PATH: p.dotfile,
    DVC_MACHINES: p.machines,
    // Output lands in terraform's log and in CI logs, never on a terminal of its own.
    VAGRANT_NO_COLOR: "1",
    VAGRANT_CHECKPOINT_DISABLE: "1",
  };
}

/** Subnet of a ClusterRef, parsed; the config layer validated it already. */
export function clusterSubnet(cluster: Pick<ClusterRef, "subnet">): Cidr {
  const c = parseCidr(cluster.subnet);
  if (!c)
    throw badInput(`cluster subnet ${JSON.stringify(cluster.subnet)} is not a CIDR subnet`, [
      {
        path: "/network/subnet",
        message: `"${cluster.subnet}" is not a CIDR subnet`,
        fix: "write it like 192.168.56.0/24",
      },
    ]);
  return c;
}

/**
 * Whether a box version satisfies a Vagrant version constraint ("", "1.2", "= 1.2",
 * ">= 1.2, < 2", "~> 1.2"), with the operators Vagrant documents for box_version.
 */
export function satisfiesConstraint(version: string, constraint: string): boolean {
  const v = versionParts(version);
  return constraint
    .split(",")
    .map((c) => c.trim())
    .filter(Boolean)
    .every((c) => {
      const m = /^(=|!=|>=|<=|>|<|~>)?\s*(\S+)$/.exec(c);
      if (!m) return false;
      const want = versionParts(m[2]!);
      const cmp = compareVersions(v, want);
      switch (m[1] ?? "=") {
        case "=":
          return cmp === 0;
        case "!=":
          return cmp !== 0;
        case ">":
          return cmp > 0;
        case "<":
          return cmp < 0;
        case ">=":
          return cmp >= 0;
        case "<=":
          return cmp <= 0;
        default: {
          // ~> 1.2.3 means >= 1.2.3 and < 1.3; ~> 1.2 means >= 1.2 and < 2.0
          const upper = want.length > 1 ? [...want.slice(0, -2), want[want.length - 2]! + 1] : [want[0]! + 1];
          return cmp >= 0 && compareVersions(v, upper) < 0;
        }
      }
    });
}

/** Boxes from `vagrant box list`: "debian/bookworm64 (virtualbox, 12.20240905.1)" and the newer ", (amd64))" form. */
export function parseBoxList(stdout: string): { name: string; provider: string; version: string; arch?: string }[] {
  const boxes: { name: string; provider: string; version: string; arch?: string }[] = [];
  for (const line of stdout.split("\n")) {
    const m = /^(\S+)\s+\(([^,\s]+),\s*([^,)\s]+)(?:,\s*\(([^)\s]+)\))?/.exec(line.trim());
    if (m) boxes.push({ name: m[1]!, provider: m[2]!, version: m[3]!, ...(m[4] ? { arch: m[4] } : {}) });
  }
  return boxes;
}

/**
 * Programs and host facts one step needs: the host, the vagrant environment, and helpers
 * that turn a failed program into a UserError naming what ran and how to fix it.
 */
export class VagrantContext {
  constructor(readonly host: Host) {}

  /** Runs a host program (not vagrant) in the project folder. */
  run(
    argv: readonly string[],
    cluster: Pick<ClusterRef, "projectDir">,
    extra: ProcessOptions = {},
  ): Promise<ProcessResult> {
    return this.host.run(argv, { cwd: cluster.projectDir, env: this.host.env, ...extra });
  }

  /** Like run, but a non-zero exit throws a UserError with the program, its stderr and the fix. */
  async must(
    argv: readonly string[],
    cluster: Pick<ClusterRef, "projectDir">,
    fix: string,
    extra: ProcessOptions = {},
  ): Promise<ProcessResult> {
    return check(await this.run(argv, cluster, extra), fix);
  }

  /** Runs `vagrant <args>` with the cluster's Vagrant environment, from provision/. */
  vagrant(
    args: readonly string[],
    cluster: Pick<ClusterRef, "projectDir" | "clusterDir">,
    extra: ProcessOptions = {},
  ): Promise<ProcessResult> {
    return this.host.run(["vagrant", ...args], {
      cwd: vagrantPaths(cluster).vagrantCwd,
      env: vagrantEnv(cluster, this.host.env),
      ...extra,
    });
  }

  async mustVagrant(
    args: readonly string[],
    cluster: Pick<ClusterRef, "projectDir" | "clusterDir">,
    fix: string,
    extra: ProcessOptions = {},
  ): Promise<ProcessResult> {
    return check(await this.vagrant(args, cluster, extra), fix);
  }
}

function check(r: ProcessResult, fix: string): ProcessResult {
  if (r.exitCode === 0) return r;
  const what = r.missing
    ? `${r.argv[0]} is not installed or not on PATH`
    : `exit code ${r.exitCode}: ${tail(r.stderr || r.stdout) || "(no output)"}`;
  throw new UserError(`\`${r.argv.join(" ")}\` failed`, 1, [
    { path: r.argv.slice(0, 2).join(" "), message: what, fix },
  ]);
}

/** What the shared checks learnt, for the strategy's checks. */
export interface CheckFacts {
  /** Vagrant's version; undefined when Vagrant is missing (already a failed row). */
  readonly vagrantVersion: readonly number[] | undefined;
  /** The network of an earlier deploy, if any: its own routes are no clash. */
  readonly network: NetworkRecord | undefined;
}

/** The per-provider part of the Vagrant machine layer. */
export interface VagrantStrategy {
  readonly name: VagrantProviderName;
  readonly capabilities: ProviderCapabilities;
  /** Host checks beyond Vagrant itself, as rows (doctor prints them, preflight enforces them). */
  checks(ctx: VagrantContext, cluster: ClusterRef, needs: HostNeeds, facts: CheckFacts): Promise<CheckRow[]>;
  /**
   * Creates (or finds, when `existing` still exists) the private network; records what it made as soon as it exists.
   */
  createNetwork(
    ctx: VagrantContext,
    cluster: ClusterRef,
    existing: NetworkRecord | undefined,
    record: (r: NetworkRecord) => Promise<void>,
  ): Promise<NetworkRecord>;
  /** Whether the recorded network exists and is up on the hypervisor (never changes anything). */
  networkPresent(ctx: VagrantContext, cluster: ClusterRef, record: NetworkRecord): Promise<boolean>;
  /**
   * The hypervisor's word on the VM Vagrant recorded under `id` (the content of
   * <dotfile>/machines/<node>/<provider>/id): running, stopped (powered off, saved,
   * aborted: its disk is there) or missing. Asks the hypervisor directly, in well under a
   * second: `vagrant status` starts Ruby and every plugin, seconds per call.
   */
  machineState(ctx: VagrantContext, cluster: ClusterRef, node: NodeSpec, id: string): Promise<MachineStatus>;
  /** Removes the recorded network if this cluster made it; succeeds when it is already gone. */
  destroyNetwork(ctx: VagrantContext, cluster: ClusterRef, record: NetworkRecord | undefined): Promise<void>;
  /** The network record prepareBox uses when network.json is missing, or undefined when it must exist. */
  defaultNetwork(cluster: ClusterRef): NetworkRecord | undefined;
  /** Provider keys of machines.json besides the shared ones (the libvirt block). */
  machineListExtras(ctx: VagrantContext): Record<string, unknown>;
  /** Runs once the cluster's last machine is destroyed. */
  afterLastMachine(ctx: VagrantContext, cluster: ClusterRef, box: BoxConfig | undefined): Promise<void>;
  /**
   * Runs in prepareBox once the box is in Vagrant's cache, with the version Vagrant will
   * use, before any machine stage: work that parallel `vagrant up`s must not race for.
   */
  afterBoxAdded?(ctx: VagrantContext, cluster: ClusterRef, box: BoxConfig, version: string): Promise<void>;
  /**
   * Runs when Vagrant records no VM for the node, before `vagrant up` and in destroy:
   * removes a VM the hypervisor still has under the cluster's name (a `vagrant up` killed
   * before Vagrant wrote the machine's id leaves one, and the next up would stop on the
   * name). Succeeds when there is none or the hypervisor cannot be asked.
   */
  removeUnrecorded?(ctx: VagrantContext, cluster: ClusterRef, node: NodeSpec): Promise<void>;
  /** How many times slower than native the machines in this list run (VMs under emulation); 1 by default. */
  slowness?(list: MachineList): number;
  /** Where to look when `vagrant up` fails: the hypervisor's own error and tools. */
  readonly upHint: string;
  /** The command that removes a VM by hand, by its name (vmName). */
  removeByHand(name: string): string;
}

/**
 * The hypervisor's name for a node's VM: "<clusterId>-<node>", as provision/machines/vagrant/Vagrantfile
 * names it (vb.name for VirtualBox; libvirt.default_prefix + the machine for libvirt).
 */
export function vmName(cluster: ClusterRef, node: NodeSpec): string {
  return `${cluster.id}-${node.name}`;
}

/** The machine list provision/machines/vagrant/Vagrantfile reads. */
export interface MachineList {
  readonly clusterId: string;
  readonly provider: VagrantProviderName;
  readonly box: BoxConfig;
  readonly network: { readonly name: string; readonly subnet: string; readonly prefix: number };
  readonly nodes: readonly {
    readonly name: string;
    readonly ip: string;
    readonly cpus: number;
    readonly memoryMb: number;
  }[];
  readonly [extra: string]: unknown;
}

/** The Vagrant version row, and the version for the strategy's checks. */
async function vagrantCheck(
  ctx: VagrantContext,
  cluster: ClusterRef,
  provider: VagrantProviderName,
): Promise<{ row: CheckRow; version?: number[] }> {
  const r = await ctx.vagrant(["--version"], cluster, { timeoutMs: VAGRANT_QUICK_MS });
  const version = r.exitCode === 0 ? parseVersion(r.stdout) : undefined;
  const install = `the ${provider} provider creates its VMs with Vagrant ${versionText(MIN_VAGRANT)} or newer: install it (https://developer.hashicorp.com/vagrant/install; Debian/Ubuntu: sudo apt-get install vagrant), or use "provider": "local" in cluster.config.json`;
  if (!version) return { row: fail("vagrant", r.missing ? "not found" : describeFailure(r), install) };
  if (!atLeast(version, MIN_VAGRANT))
    return {
      row: fail(
        "vagrant",
        versionText(version),
        `Vagrant ${versionText(version)} is older than ${versionText(MIN_VAGRANT)}, which provision/machines/vagrant/Vagrantfile requires: upgrade it`,
      ),
      version,
    };
  return { row: ok("vagrant", versionText(version)), version };
}

/**
 * The subnet against the host's routes: a route on another interface means traffic to
 * the nodes would leave through it. ownDevices are the cluster's own interface names (or,
 * on Windows, its host address): their routes are no clash.
 */
export async function routeCheck(
  host: Host,
  cluster: ClusterRef,
  ownDevices: readonly string[],
  ownRoute?: (r: HostRoute) => boolean,
): Promise<CheckRow> {
  const name = "subnet free";
  const subnet = clusterSubnet(cluster);
  const table = await hostRoutes(host);
  if ("error" in table)
    return warn(
      name,
      `could not list host routes (${table.error})`,
      `make sure no network of this host uses ${subnet.text}`,
      "/network/subnet",
    );
  const mine = ownRoute ? table.routes.filter(ownRoute) : [];
  const own = [...ownDevices, ...mine.map((r) => r.dev).filter((d) => !ownDevices.includes(d))];
  const clashes = clashingRoutes(table.routes, subnet, own);
  if (!clashes.length)
    return ok(
      name,
      `no host route overlaps ${subnet.text}${own.length ? ` (besides this cluster's ${own.join(", ")})` : ""}`,
    );
  const suggestion = freeSubnet(table.routes);
  return fail(
    name,
    `${subnet.text} overlaps ${clashes.map((c) => `the host route ${c.dst.text} on ${c.dev || "?"} (\`${table.source}\`: ${c.text})`).join(", ")}: traffic to the nodes would leave through that interface`,
    `pick a free subnet in network.subnet of cluster.config.json${suggestion ? ` (e.g. ${suggestion})` : ""}, or remove the other network if it is stale`,
    "/network/subnet",
  );
}

const ENABLE_VT =
  "enable Intel VT-x (sometimes called Intel Virtualization Technology) or AMD-V (SVM Mode) in the firmware (BIOS/UEFI) setup, usually under CPU or Advanced settings, then power-cycle";
const NESTED =
  "this host is itself a VM (cpuinfo has the hypervisor flag): enable nested virtualization for it on the outer hypervisor (KVM: kvm_intel nested=1 / kvm_amd nested=1 and cpu mode host-passthrough; VMware: Expose hardware assisted virtualization; Hyper-V: Set-VMProcessor -ExposeVirtualizationExtensions $true; VirtualBox: --nested-hw-virt on)";

/**
 * Hardware virtualization (VT-x/AMD-V, or an arm64 host's EL2 KVM). required: VirtualBox
 * cannot run a VM without it; libvirt falls back to emulation, so a lack of it is a warning.
 */
export async function virtualizationCheck(host: Host, required: boolean): Promise<CheckRow> {
  const name = "virtualization";
  const missing = (found: string, fix: string) =>
    required ? fail(name, found, fix) : warn(name, `${found}: qemu emulation (TCG), several times slower`, fix);
  if (host.platform === "linux") {
    const cpuinfo = host.readText("/proc/cpuinfo");
    if (cpuinfo === undefined)
      return warn(name, "/proc/cpuinfo unreadable", `make sure VT-x/AMD-V is on: ${ENABLE_VT}`);
    const flags = new Set(
      cpuinfo
        .split("\n")
        .filter((l) => /^(flags|Features)\s*:/.test(l))
        .flatMap((l) => l.split(":")[1]!.trim().split(/\s+/)),
    );
    if (flags.has("vmx")) return ok(name, "vmx (Intel VT-x) in /proc/cpuinfo");
    if (flags.has("svm")) return ok(name, "svm (AMD-V) in /proc/cpuinfo");
    // ARM CPUs list no such flag; KVM's device is the evidence there.
    if (host.arch === "arm64")
      return host.exists("/dev/kvm")
        ? ok(name, "arm64 with /dev/kvm")
        : missing("arm64 without /dev/kvm", "boot a kernel with KVM (EL2) support");
    const inVm = flags.has("hypervisor");
    return missing(
      `no vmx or svm flag in /proc/cpuinfo${inVm ? " (running inside a VM)" : ""}`,
      inVm ? NESTED : ENABLE_VT,
    );
  }
  if (host.platform === "darwin") {
    const r = await host.run(["sysctl", "-n", "kern.hv_support"], { timeoutMs: 10_000 });
    if (r.exitCode === 0 && r.stdout.trim() === "1") return ok(name, "kern.hv_support = 1");
    return missing(
      r.exitCode === 0 ? `kern.hv_support = ${r.stdout.trim()}` : describeFailure(r),
      "this Mac has no hardware virtualization available (inside a VM: enable nested virtualization on its hypervisor)",
    );
  }
  return warn(
    name,
    `not checked on ${host.platform}`,
    `make sure it is on (Task Manager > Performance > CPU: Virtualization: Enabled); otherwise ${ENABLE_VT}`,
  );
}

/** The nodes' architecture as VMs of this host have it (VirtualBox and KVM run guests of the host's own). */
export function nodeArchOfHost(arch: string): "x86_64" | "aarch64" | undefined {
  return arch === "x64" ? "x86_64" : arch === "arm64" ? "aarch64" : undefined;
}

/** runtime.platform against the architecture this host's VMs will have. */
export function platformCheck(host: Host, needs: HostNeeds, extra: Readonly<Record<string, unknown>> = {}): CheckRow {
  const vmArch = nodeArchOfHost(host.arch);
  if (!vmArch)
    return fail(
      "node architecture",
      `this host is ${host.arch}`,
      "run the cluster on an x86_64 or arm64 host",
      "/runtime/platform",
    );
  if (vmArch === needs.platform)
    return ok("node architecture", `${vmArch} VMs, the runtime is locked for ${needs.platform}`);
  const config = JSON.stringify({ runtime: { platform: vmArch }, ...extra });
  return fail(
    "node architecture",
    `runtime.platform is ${needs.platform}, but the VMs of this ${host.arch} host are ${vmArch}`,
    `write ${config} into cluster.config.json (the lock cluster-runtime/requirements-${vmArch}.lock is shipped)`,
    "/runtime/platform",
  );
}

export class VagrantProvider implements MachineProvider {
  readonly ctx: VagrantContext;

  constructor(
    readonly strategy: VagrantStrategy,
    readonly host: Host,
  ) {
    this.ctx = new VagrantContext(host);
  }

  get name(): VagrantProviderName {
    return this.strategy.name;
  }

  get capabilities(): ProviderCapabilities {
    return this.strategy.capabilities;
  }

  async checks(cluster: ClusterRef, needs: HostNeeds): Promise<CheckRow[]> {
    const vagrant = await vagrantCheck(this.ctx, cluster, this.strategy.name);
    const rows = await this.strategy.checks(this.ctx, cluster, needs, {
      vagrantVersion: vagrant.version,
      network: await this.readNetworkRecord(cluster),
    });
    return [vagrant.row, ...rows];
  }

  async createNetwork(cluster: ClusterRef): Promise<void> {
    await this.strategy.createNetwork(this.ctx, cluster, await this.readNetworkRecord(cluster), (r) =>
      this.writeNetworkRecord(cluster, r),
    );
  }

  async destroyNetwork(cluster: ClusterRef): Promise<void> {
    const record = await this.readNetworkRecord(cluster);
    await this.strategy.destroyNetwork(this.ctx, cluster, record);
    await rm(vagrantPaths(cluster).network, { force: true });
  }

  /** The machine list for this cluster: what provision/machines/vagrant/Vagrantfile turns into VMs. */
  machineList(cluster: ClusterRef, box: BoxConfig, network: NetworkRecord): MachineList {
    const subnet = clusterSubnet(cluster);
    return {
      clusterId: cluster.id,
      provider: this.strategy.name,
      box: { name: box.name, version: box.version, url: box.url },
      network: { name: network.name, subnet: subnet.text, prefix: subnet.prefix },
      nodes: cluster.nodes.map((n) => ({ name: n.name, ip: n.ip, cpus: n.cpus, memoryMb: n.memoryMb })),
      ...this.strategy.machineListExtras(this.ctx),
    };
  }

  async prepareBox(cluster: ClusterRef, box: BoxConfig): Promise<void> {
    const network = (await this.readNetworkRecord(cluster)) ?? this.strategy.defaultNetwork(cluster);
    if (!network) {
      throw badInput(`no private network is recorded for cluster ${cluster.id}`, [
        {
          path: vagrantPaths(cluster).network,
          message: "missing: the network stage has not run (or its record was deleted)",
          fix: "run `npx cdktf deploy` again; it creates the network before the box",
        },
      ]);
    }
    const paths = vagrantPaths(cluster);
    await mkdir(cluster.clusterDir, { recursive: true });
    await writeFile(paths.machines, `${JSON.stringify(this.machineList(cluster, box, network), null, 2)}\n`);

    const listFix = "check that `vagrant box list` works in a terminal (a broken ~/.vagrant.d is the usual cause)";
    // The version Vagrant will use: the highest one of this box that satisfies the constraint.
    const usable = (stdout: string) =>
      parseBoxList(stdout)
        .filter(
          (b) =>
            b.name === box.name &&
            b.provider === this.strategy.name &&
            (!box.version || satisfiesConstraint(b.version, box.version)),
        )
        .map((b) => b.version)
        .sort((a, b) => compareVersions(versionParts(a), versionParts(b)))
        .pop();
    let version = usable((await this.ctx.mustVagrant(["box", "list"], cluster, listFix)).stdout);
    if (version === undefined) {
      await this.ctx.mustVagrant(boxAddArgs(box, this.strategy.name), cluster, boxAddFix(box, this.strategy.name), {
        echo: true,
      });
      if (!this.strategy.afterBoxAdded) return;
      version = usable((await this.ctx.mustVagrant(["box", "list"], cluster, listFix)).stdout);
    }
    if (version !== undefined) await this.strategy.afterBoxAdded?.(this.ctx, cluster, box, version);
  }

  /**
   * Forgets the machine list once no VM is left (a full destroy removes the machines
   * first), with Vagrant's per-cluster state. While VMs remain (the box stage being
   * replaced because a node was added) the list stays for their destroy; the new box
   * stage rewrites it.
   */
  async removeBox(cluster: ClusterRef, _box?: BoxConfig): Promise<void> {
    const paths = vagrantPaths(cluster);
    if (recordedMachines(paths.dotfile, this.strategy.name).length) return;
    await rm(paths.machines, { force: true });
    await rm(paths.dotfile, { recursive: true, force: true });
    await rm(paths.sshDir, { recursive: true, force: true });
  }

  async createMachine(cluster: ClusterRef, node: NodeSpec): Promise<void> {
    const p = this.strategy.name;
    const paths = vagrantPaths(cluster);
    if (!recordedMachines(paths.dotfile, p).includes(node.name))
      await this.strategy.removeUnrecorded?.(this.ctx, cluster, node);
    await this.ctx.mustVagrant(
      ["up", node.name, `--provider=${p}`, "--no-provision"],
      cluster,
      `${this.strategy.upHint}; \`vagrant destroy -f ${node.name}\` then deploy again clears a half-created VM`,
      { echo: true },
    );
    const conf = await this.ctx.mustVagrant(
      ["ssh-config", node.name],
      cluster,
      `run \`vagrant up ${node.name}\` from provision/ with the cluster's environment to see why the VM has no ssh access`,
    );
    await mkdir(paths.sshDir, { recursive: true, mode: 0o700 });
    await writeFile(
      paths.sshConfig(node.name),
      withConnectionSharing(
        conf.stdout,
        sshControlDir(this.host.platform, this.host.uid, this.host.socketDir, this.host.warn),
      ),
      { mode: 0o600 },
    );
    await chmod(paths.sshConfig(node.name), 0o600);

    const subnet = clusterSubnet(cluster);
    const t = this.transport(cluster, node);
    try {
      await t.run(BOOTSTRAP_SCRIPT, {
        env: { DVC_ROOT: VM_ROOT, DVC_IP: node.ip, DVC_PREFIX: String(subnet.prefix), DVC_HOSTNAME: node.name },
        timeoutMs: 120_000,
      });
    } catch (err) {
      if (!(err instanceof NodeCommandError)) throw err;
      throw new UserError(`${node.name} was created but is not usable`, 1, [
        {
          path: node.name,
          message: tail(err.result.stderr || err.result.stdout) || `exit code ${err.result.exitCode}`,
          fix:
            err.result.exitCode === 3
              ? `the private address ${node.ip}/${subnet.prefix} is missing in the VM: the box must let Vagrant configure networks (Debian/Ubuntu boxes do); try \`vagrant reload ${node.name}\``
              : `check that \`ssh -F ${paths.sshConfig(node.name)} ${node.name} true\` works and the box's user may sudo without a password`,
        },
      ]);
    }
  }

  async networkPresent(cluster: ClusterRef): Promise<boolean> {
    const record = await this.readNetworkRecord(cluster);
    return record !== undefined && (await this.strategy.networkPresent(this.ctx, cluster, record));
  }

  async machineState(cluster: ClusterRef, node: NodeSpec): Promise<MachineStatus> {
    const paths = vagrantPaths(cluster);
    const id = recordedMachineId(paths.dotfile, this.strategy.name, node.name);
    if (id === undefined) return { state: "missing", detail: "Vagrant records no VM for it" };
    const found = await this.strategy.machineState(this.ctx, cluster, node, id);
    // Without its ssh config (written last by createMachine) the VM was never usable.
    if (found.state === "running" && !existsSync(paths.sshConfig(node.name)))
      return { state: "stopped", detail: `${found.detail}, but createMachine never finished (no ssh config)` };
    return found;
  }

  async stopMachine(cluster: ClusterRef, node: NodeSpec): Promise<void> {
    if ((await this.machineState(cluster, node)).state !== "running") return;
    if (existsSync(vagrantPaths(cluster).sshConfig(node.name)))
      await this.sshTransport(cluster, node).closeConnection();
    await this.ctx.mustVagrant(
      ["halt", node.name],
      cluster,
      `${this.strategy.upHint}; \`vagrant halt --force ${node.name}\` from provision/ with the cluster's environment powers it off at once`,
      {
        echo: true,
      },
    );
  }

  async destroyMachine(cluster: ClusterRef, node: NodeSpec): Promise<void> {
    const paths = vagrantPaths(cluster);
    // Without Vagrant's record of the VM there is nothing to destroy, and asking
    // vagrant-libvirt anyway needs a running libvirt daemon just to say so.
    if (existsSync(paths.sshConfig(node.name))) await this.sshTransport(cluster, node).closeConnection();
    if (recordedMachines(paths.dotfile, this.strategy.name).includes(node.name)) {
      const list = await this.readMachineList(cluster);
      if (!list) {
        throw badInput(`cannot destroy ${node.name}: its machine list is gone`, [
          {
            path: paths.machines,
            message: "missing, but Vagrant still records a VM for this node",
            fix: `run \`npx cdktf deploy\` once (it rewrites the list), then destroy again; or remove the VM by hand (${this.strategy.removeByHand(vmName(cluster, node))})`,
          },
        ]);
      }
      const listed = Array.isArray(list.nodes) ? list.nodes : [];
      if (!listed.some((n) => n.name === node.name)) {
        // A node dropped from the config: Vagrant can only destroy a machine it has defined.
        const nodes = [...listed, { name: node.name, ip: node.ip, cpus: node.cpus, memoryMb: node.memoryMb }];
        await writeFile(paths.machines, `${JSON.stringify({ ...list, nodes }, null, 2)}\n`);
      }
      await this.ctx.mustVagrant(
        ["destroy", "-f", node.name],
        cluster,
        `run \`vagrant destroy -f ${node.name}\` from provision/machines/vagrant/ with VAGRANT_DOTFILE_PATH=${paths.dotfile} DVC_MACHINES=${paths.machines} to see the full error`,
        { echo: true },
      );
    } else {
      await this.strategy.removeUnrecorded?.(this.ctx, cluster, node);
    }
    await rm(paths.sshConfig(node.name), { force: true });
    // The stage sees only its own node; the cluster's other VMs are those Vagrant records.
    if (!recordedMachines(paths.dotfile, this.strategy.name).length) {
      await this.strategy.afterLastMachine(this.ctx, cluster, (await this.readMachineList(cluster))?.box);
    }
  }

  /**
   * How much longer than native every command may take: the strategy's slowness for the machine list (VMs under
   * emulation), else 1.
   */
  timeoutFactor(cluster: ClusterRef): number {
    let list: MachineList;
    try {
      list = JSON.parse(readFileSync(vagrantPaths(cluster).machines, "utf8")) as MachineList;
    } catch {
      return 1;
    }
    return this.strategy.slowness?.(list) ?? 1;
  }

  transport(cluster: ClusterRef, node: NodeSpec): Transport {
    return this.sshTransport(cluster, node);
  }

  private sshTransport(cluster: ClusterRef, node: NodeSpec): SshTransport {
    return new SshTransport(
      node.name,
      vagrantPaths(cluster).sshConfig(node.name),
      this.host.run,
      this.timeoutFactor(cluster),
      this.host.platform === "win32",
    );
  }

  async readNetworkRecord(cluster: ClusterRef): Promise<NetworkRecord | undefined> {
    try {
      return JSON.parse(await readFile(vagrantPaths(cluster).network, "utf8")) as NetworkRecord;
    } catch {
      return undefined;
    }
  }

  private async writeNetworkRecord(cluster: ClusterRef, record: NetworkRecord): Promise<void> {
    await mkdir(cluster.clusterDir, { recursive: true });
    await writeFile(vagrantPaths(cluster).network, `${JSON.stringify(record, null, 2)}\n`);
  }

  private async readMachineList(cluster: ClusterRef): Promise<MachineList | undefined> {
    try {
      return JSON.parse(await readFile(vagrantPaths(cluster).machines, "utf8")) as MachineList;
    } catch {
      return undefined;
    }
  }
}

/**
 * Run on each new VM over ssh: the runtime root owned by the login user, and a check that
 * Vagrant put the private address on an interface (a VM that only has its NAT address is
 * the failure the design warns about).
 */
export const BOOTSTRAP_SCRIPT = `set -eu
PATH="$PATH:/usr/sbin:/sbin"
sudo -n install -d -m 0755 -o "$(id -un)" -g "$(id -gn)" "$DVC_ROOT"
# The node's name as its hostname, now and after a reboot, resolvable locally (Debian's
# 127.0.1.1 convention).
if [ "$(hostname)" != "$DVC_HOSTNAME" ]; then
  # /etc/hosts rewritten in place, not renamed over (sed -i): it may be a bind mount.
  sudo -n sh -ec 'echo "$1" > /etc/hostname; hostname "$1"
    if grep -q "^127\\.0\\.1\\.1[[:space:]]" /etc/hosts; then
      hosts=$(sed "s/^127\\.0\\.1\\.1[[:space:]].*/127.0.1.1\\t$1/" /etc/hosts); printf "%s\\n" "$hosts" > /etc/hosts
    else printf "127.0.1.1\\t%s\\n" "$1" >> /etc/hosts; fi' sh "$DVC_HOSTNAME"
fi
if ! ip -o -4 addr show | awk '{print $4}' | grep -qx "$DVC_IP/$DVC_PREFIX"; then
  echo "$DVC_IP/$DVC_PREFIX is on no interface of $(hostname); it has:" >&2
  ip -o -4 addr show >&2
  exit 3
fi
`;

/** The hypervisor's id of a node's VM as Vagrant recorded it, or undefined when it records none. */
export function recordedMachineId(dotfile: string, provider: VagrantProviderName, node: string): string | undefined {
  try {
    return readFileSync(path.join(dotfile, "machines", node, provider, "id"), "utf8").trim() || undefined;
  } catch {
    return undefined;
  }
}

/**
 * Machines Vagrant has created and not destroyed: it keeps each one's id in <dotfile>/machines/<node>/<provider>/id.
 */
export function recordedMachines(dotfile: string, provider: VagrantProviderName): string[] {
  let names: string[];
  try {
    names = readdirSync(path.join(dotfile, "machines"));
  } catch {
    return [];
  }
  return names.filter((n) => existsSync(path.join(dotfile, "machines", n, provider, "id"))).sort();
}

/** `vagrant box add` for a box: by name (Vagrant Cloud or a mirror), or from a URL/file. */
export function boxAddArgs(box: BoxConfig, provider: VagrantProviderName): string[] {
  // A version constraint only works with box metadata (a catalogue name or a .json URL);
  // a .box file has no versions.
  const versioned = box.version && (!box.url || box.url.endsWith(".json"));
  return [
    "box",
    "add",
    ...(box.url ? ["--name", box.name] : [box.name]),
    ...(versioned ? ["--box-version", box.version] : []),
    "--provider",
    provider,
    ...(box.url ? [box.url] : []),
  ];
}

function boxAddFix(box: BoxConfig, provider: VagrantProviderName): string {
  return box.url
    ? `check that ${box.url} is a ${provider} box that can be read from here (box.url in cluster.config.json)`
    : `this host needs to reach Vagrant's box catalogue for ${box.name} (${provider}); without it, download or build the box elsewhere and set box.url in cluster.config.json to the .box file`;
}

/** Home of Vagrant's boxes: VAGRANT_HOME or ~/.vagrant.d (USERPROFILE on Windows). */
export function vagrantHome(host: Host): string {
  const home = host.env.HOME || host.env.USERPROFILE || os.homedir();
  return (
    host.env.VAGRANT_HOME ||
    (host.platform === "win32" ? path.win32.join(home, ".vagrant.d") : path.join(home, ".vagrant.d"))
  );
}

/** A box's name as Vagrant writes it into file and volume names: "/" becomes "-VAGRANTSLASH-". */
export function vagrantEscapedBoxName(boxName: string): string {
  return boxName.replace(/\//g, "-VAGRANTSLASH-");
}

/** The folder Vagrant keeps a box's versions in: <vagrantHome>/boxes/<escaped name>. */
export function vagrantBoxDir(host: Host, boxName: string): string {
  return (host.platform === "win32" ? path.win32.join : path.join)(
    vagrantHome(host),
    "boxes",
    vagrantEscapedBoxName(boxName),
  );
}

/**
 * The folder Vagrant unpacked a box into, for provider: the newest version, in the layout of
 * Vagrant 2.3 (<version>/<provider>) or 2.4 (<version>/<architecture>/<provider>).
 */
export function vagrantBoxInStore(
  host: Host,
  name: string,
  provider: string,
): { dir: string; version: string } | undefined {
  const base = vagrantBoxDir(host, name);
  const versions = host
    .listDir(base)
    .filter((v) => /^\d/.test(v))
    .sort((a, b) => a.localeCompare(b, undefined, { numeric: true }))
    .reverse();
  for (const v of versions) {
    for (const sub of [
      path.join(base, v, provider),
      ...host.listDir(path.join(base, v)).map((a) => path.join(base, v, a, provider)),
    ])
      if (existsSync(path.join(sub, "metadata.json"))) return { dir: sub, version: v };
  }
  return undefined;
}

/** The provider a .box file is for (its metadata.json, at the top of the tar, with or without "./"). */
export function boxFileProvider(file: string): string | undefined {
  for (const name of ["./metadata.json", "metadata.json"]) {
    try {
      const text = execFileSync("tar", ["-xOf", file, name], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
      return (JSON.parse(text) as { provider?: string }).provider;
    } catch {
      // not under this name, or not a tar at all
    }
  }
  return undefined;
}
