// The machine layer shared by the virtualbox and libvirt providers: Vagrant creates and
// destroys the VMs from provision/Vagrantfile and the machine list written here; a small
// per-provider strategy (virtualbox.ts, libvirt.ts) adds the host checks and the private
// network. Every command goes through an injectable runner as an argv array (no shell),
// so tests can assert the exact sequence of commands each step runs.
import { spawn } from "node:child_process";
import { accessSync, constants as fsConstants, existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { chmod, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { UserError, badInput, type Problem } from "../errors.js";
import { parseCidr, intToIp, type Cidr } from "../ipv4.js";
import { debug } from "../log.js";
import type { NodeSpec } from "../config.js";
import type { ClusterRef } from "../spec.js";
import { NodeCommandError, runProcess, type Transport } from "../transport.js";
import { SshTransport, VM_ROOT, withConnectionSharing, type ProcessExec } from "../ssh-transport.js";
import { cacheDir } from "../paths.js";
import type { BoxConfig, MachineProvider } from "./provider.js";

export type VagrantProviderName = "virtualbox" | "libvirt";

/** Oldest Vagrant the Vagrantfile accepts (Vagrant.require_version there says the same). */
export const MIN_VAGRANT = "2.2.19";

export interface CommandResult {
  readonly stdout: string;
  readonly stderr: string;
  readonly exitCode: number;
}

export interface CommandOptions {
  readonly cwd: string;
  readonly env: NodeJS.ProcessEnv;
  /** Standard input for the command. Default: none. */
  readonly input?: string;
  /** Copy the command's output to this process's stderr as it arrives (long steps like vagrant up). Default: false. */
  readonly echo?: boolean;
}

/** Runs argv and resolves with its outcome; a missing program resolves with exit code 127. */
export type CommandRunner = (argv: readonly string[], opts: CommandOptions) => Promise<CommandResult>;

/** The real runner: spawns argv directly (no shell, so no quoting), never throws on a non-zero exit. */
export const spawnRunner: CommandRunner = (argv, opts) =>
  new Promise((resolve) => {
    let stdout = "";
    let stderr = "";
    let settled = false;
    const t0 = performance.now();
    debug("host", `$ ${argv.join(" ")}`);
    const done = (r: CommandResult) => {
      if (!settled) {
        debug("host", `exit ${r.exitCode} in ${((performance.now() - t0) / 1000).toFixed(2)} s: ${argv.join(" ")}`);
        resolve(r);
      }
      settled = true;
    };
    const child = spawn(argv[0]!, argv.slice(1), { cwd: opts.cwd, env: opts.env, stdio: ["pipe", "pipe", "pipe"] });
    child.stdout.on("data", (b: Buffer) => {
      stdout += b.toString();
      if (opts.echo) process.stderr.write(b);
    });
    child.stderr.on("data", (b: Buffer) => {
      stderr += b.toString();
      if (opts.echo) process.stderr.write(b);
    });
    child.on("error", (err: NodeJS.ErrnoException) =>
      done({ stdout, stderr: `${stderr}${err.code === "ENOENT" ? `${argv[0]}: command not found` : err.message}`, exitCode: err.code === "ENOENT" ? 127 : 1 }),
    );
    child.on("close", (code, signal) => done({ stdout, stderr, exitCode: code ?? (signal ? 128 : 1) }));
    child.stdin.on("error", () => undefined);
    child.stdin.end(opts.input ?? "");
  });

/** What the providers need to know about this host, injectable for tests. */
export interface Host {
  readonly platform: NodeJS.Platform;
  /** process.arch: x64 or arm64. */
  readonly arch: string;
  /** Environment of the stage (VAGRANT_HOME, LIBVIRT_DEFAULT_URI, VBOX_MSI_INSTALL_PATH, PATH...). */
  readonly env: NodeJS.ProcessEnv;
  /** A file's text, or undefined when it does not exist or cannot be read. */
  readText(file: string): string | undefined;
  /** Whether a path exists. */
  exists(file: string): boolean;
  /** A file's modification time in whole seconds since the epoch; undefined when it cannot be read. */
  mtimeSeconds?(file: string): number | undefined;
  /** Names in a folder; empty when it does not exist. */
  listDir(dir: string): string[];
  /**
   * Whether hardware KVM can run the VMs: /dev/kvm exists, this user may open it
   * read-write, and (on x86_64) it is backed by VT-x/AMD-V (kvm_intel or kvm_amd). A
   * /dev/kvm from a paravirtual flavour (kvm_pvm, inside a cloud VM) cannot boot stock
   * kernels, so it does not count.
   */
  kvmUsable(): boolean;
  /** Prints a hint that does not stop the stage. */
  warn(message: string): void;
}

export function realHost(): Host {
  return {
    platform: process.platform,
    arch: process.arch,
    env: process.env,
    readText: (file) => {
      try {
        return readFileSync(file, "utf8");
      } catch {
        return undefined;
      }
    },
    exists: (file) => existsSync(file),
    mtimeSeconds: (file) => {
      try {
        return Math.floor(statSync(file).mtimeMs / 1000);
      } catch {
        return undefined;
      }
    },
    listDir: (dir) => {
      try {
        return readdirSync(dir);
      } catch {
        return [];
      }
    },
    kvmUsable: () => {
      try {
        accessSync("/dev/kvm", fsConstants.R_OK | fsConstants.W_OK);
      } catch {
        return false;
      }
      return process.arch !== "x64" || existsSync("/sys/module/kvm_intel") || existsSync("/sys/module/kvm_amd");
    },
    warn: (message) => process.stderr.write(`warning: ${message}\n`),
  };
}

/** What createNetwork made, kept in <clusterDir>/network.json so destroy removes exactly it. */
export interface NetworkRecord {
  readonly provider: VagrantProviderName;
  /** hostonlyif: a VirtualBox host-only interface; hostonlynet: a VirtualBox >= 7 host-only network (macOS); libvirt: a libvirt network. */
  readonly kind: "hostonlyif" | "hostonlynet" | "libvirt";
  /** The name Vagrant attaches the nodes to (private_network name: / libvirt__network_name). */
  readonly name: string;
  readonly subnet: string;
  /** The host interface that carries the subnet, when known (a libvirt bridge, a vboxnetN). */
  readonly device?: string;
}

/** Files of one cluster's Vagrant layer, all under <clusterDir>. */
export function vagrantPaths(cluster: Pick<ClusterRef, "projectDir" | "clusterDir">) {
  return {
    vagrantCwd: path.join(cluster.projectDir, "provision"),
    machines: path.join(cluster.clusterDir, "machines.json"),
    network: path.join(cluster.clusterDir, "network.json"),
    dotfile: path.join(cluster.clusterDir, "vagrant"),
    sshDir: path.join(cluster.clusterDir, "ssh"),
    sshConfig: (node: string) => path.join(cluster.clusterDir, "ssh", `${node}.conf`),
  };
}

/** The environment every vagrant command of a cluster runs with. */
export function vagrantEnv(cluster: Pick<ClusterRef, "projectDir" | "clusterDir">, base: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
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
  if (!c) throw badInput(`cluster subnet ${JSON.stringify(cluster.subnet)} is not a CIDR subnet`, [{ path: "/network/subnet", message: `"${cluster.subnet}" is not a CIDR subnet`, fix: "write it like 192.168.56.0/24" }]);
  return c;
}

export function netmaskOf(prefix: number): string {
  return intToIp(prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0);
}

/** The host's address on the private network: the subnet's first host (.1). */
export function hostAddress(subnet: Cidr): string {
  return intToIp(subnet.network + 1);
}

/** Numeric parts of the first dotted version in a text: "Vagrant 2.3.4" -> [2, 3, 4]. */
export function parseVersion(text: string): number[] | undefined {
  const m = /(\d+)\.(\d+)(?:\.(\d+))?/.exec(text);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)] : undefined;
}

export function compareVersions(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}

/** "2.3.4" -> [2, 3, 4]; non-numeric parts count as 0. */
export function versionParts(v: string): number[] {
  return v.split(".").map((p) => Number.parseInt(p, 10) || 0);
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
export function parseBoxList(stdout: string): { name: string; provider: string; version: string }[] {
  const boxes: { name: string; provider: string; version: string }[] = [];
  for (const line of stdout.split("\n")) {
    const m = /^(\S+)\s+\(([^,\s]+),\s*([^,)\s]+)/.exec(line.trim());
    if (m) boxes.push({ name: m[1]!, provider: m[2]!, version: m[3]! });
  }
  return boxes;
}

/** Routes of this host, as CIDRs with the interface that carries them. */
export interface HostRoute {
  readonly dst: Cidr;
  readonly dev: string;
  /** The route as the host prints it, for the message. */
  readonly text: string;
}

/** Parses `ip -j route` (Linux). Host routes ("10.0.0.1") count as /32; default routes are skipped. */
export function parseIpRouteJson(stdout: string): HostRoute[] {
  let rows: { dst?: string; dev?: string }[];
  try {
    rows = JSON.parse(stdout) as { dst?: string; dev?: string }[];
  } catch {
    return [];
  }
  return rows.flatMap((r) => {
    if (!r.dst || r.dst === "default") return [];
    const dst = parseCidr(r.dst.includes("/") ? r.dst : `${r.dst}/32`);
    return dst ? [{ dst, dev: r.dev ?? "", text: `${r.dst} dev ${r.dev ?? "?"}` }] : [];
  });
}

/**
 * Parses `netstat -rn -f inet` (macOS): destinations like "192.168.56", "10/8",
 * "192.168.1.0/24"; short forms imply the prefix from the octets written.
 * Host entries (four octets, no prefix: neighbours) and link-local are skipped.
 */
export function parseNetstatRoutes(stdout: string): HostRoute[] {
  const routes: HostRoute[] = [];
  for (const line of stdout.split("\n")) {
    const cols = line.trim().split(/\s+/);
    const [dst, , flags = "", netif = ""] = cols;
    if (!dst || !/^\d/.test(dst)) continue;
    const [addr = "", prefixText] = dst.split("/");
    const octets = addr.split(".");
    if (octets.length === 4 && prefixText === undefined) continue;
    if (flags.includes("W")) continue;
    while (octets.length < 4) octets.push("0");
    const prefix = prefixText !== undefined ? Number(prefixText) : 8 * addr.split(".").length;
    const cidr = parseCidr(`${octets.join(".")}/${prefix}`);
    if (cidr && !cidr.text.startsWith("169.254.") && !cidr.text.startsWith("127.")) routes.push({ dst: cidr, dev: netif, text: line.trim() });
  }
  return routes;
}

export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  return a.network <= b.broadcast && b.network <= a.broadcast;
}

/**
 * Commands and host facts one step needs: the runner, the vagrant environment, and
 * helpers that turn a failed command into a UserError naming what ran.
 */
export class VagrantContext {
  constructor(
    readonly runner: CommandRunner,
    readonly host: Host,
  ) {}

  /** Runs a host command (not vagrant) in the project folder. */
  run(argv: readonly string[], cluster: Pick<ClusterRef, "projectDir">, extra: Partial<CommandOptions> = {}): Promise<CommandResult> {
    return this.runner(argv, { cwd: cluster.projectDir, env: this.host.env, ...extra });
  }

  /** Like run, but a non-zero exit throws a UserError with the command, its stderr and the fix. */
  async must(argv: readonly string[], cluster: Pick<ClusterRef, "projectDir">, fix: string, extra: Partial<CommandOptions> = {}): Promise<CommandResult> {
    return check(argv, await this.run(argv, cluster, extra), fix);
  }

  /** Runs `vagrant <args>` with the cluster's Vagrant environment, from provision/. */
  vagrant(args: readonly string[], cluster: Pick<ClusterRef, "projectDir" | "clusterDir">, extra: Partial<CommandOptions> = {}): Promise<CommandResult> {
    return this.runner(["vagrant", ...args], { cwd: vagrantPaths(cluster).vagrantCwd, env: vagrantEnv(cluster, this.host.env), ...extra });
  }

  async mustVagrant(args: readonly string[], cluster: Pick<ClusterRef, "projectDir" | "clusterDir">, fix: string, extra: Partial<CommandOptions> = {}): Promise<CommandResult> {
    return check(["vagrant", ...args], await this.vagrant(args, cluster, extra), fix);
  }
}

function tail(text: string, lines = 15): string {
  return text.trim().split("\n").slice(-lines).join("\n");
}

function check(argv: readonly string[], r: CommandResult, fix: string): CommandResult {
  if (r.exitCode === 0) return r;
  const what = r.exitCode === 127 ? `${argv[0]} is not installed or not on PATH` : `exit code ${r.exitCode}: ${tail(r.stderr || r.stdout) || "(no output)"}`;
  throw new UserError(`\`${argv.join(" ")}\` failed`, 1, [{ path: argv.slice(0, 2).join(" "), message: what, fix }]);
}

/** The per-provider part of the Vagrant machine layer. */
export interface VagrantStrategy {
  readonly name: VagrantProviderName;
  /** Host checks beyond Vagrant itself; adds a Problem (what, why, how to fix) for each failure. */
  preflight(ctx: VagrantContext, cluster: ClusterRef, problems: Problem[], facts: PreflightFacts): Promise<void>;
  /** Creates (or finds, when `existing` still exists) the private network. */
  createNetwork(ctx: VagrantContext, cluster: ClusterRef, existing: NetworkRecord | undefined): Promise<NetworkRecord>;
  /** Removes the recorded network; succeeds when it is already gone. */
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
   * Runs in destroyMachine when Vagrant records no VM for the node: removes a VM the
   * hypervisor still has under the cluster's name (a `vagrant up` killed before Vagrant
   * wrote the machine's id leaves one). Succeeds when there is none or the hypervisor
   * cannot be asked.
   */
  removeUnrecorded?(ctx: VagrantContext, cluster: ClusterRef, node: NodeSpec): Promise<void>;
}

/** What the shared preflight learnt, for the strategy's checks. */
export interface PreflightFacts {
  /** Vagrant's version; undefined when Vagrant is missing (already reported). */
  readonly vagrantVersion: readonly number[] | undefined;
  /** The network of an earlier deploy, if any: its own routes are no clash. */
  readonly network: NetworkRecord | undefined;
}

/** The machine list provision/Vagrantfile reads. */
export interface MachineList {
  readonly clusterId: string;
  readonly provider: VagrantProviderName;
  readonly box: BoxConfig;
  readonly network: { readonly name: string; readonly subnet: string; readonly prefix: number };
  readonly nodes: readonly { readonly name: string; readonly ip: string; readonly cpus: number; readonly memoryMb: number }[];
  readonly [extra: string]: unknown;
}

export interface VagrantProviderOptions {
  /** Runs vagrant, VBoxManage, virsh, ip. Default: spawnRunner. */
  readonly runner?: CommandRunner;
  /** Runs ssh and scp for the node transports. Default: runProcess. */
  readonly sshExec?: ProcessExec;
  /** Host facts. Default: this host. */
  readonly host?: Host;
}

export class VagrantProvider implements MachineProvider {
  private readonly ctx: VagrantContext;
  private readonly sshExec: ProcessExec | undefined;

  constructor(
    readonly strategy: VagrantStrategy,
    options: VagrantProviderOptions = {},
  ) {
    this.ctx = new VagrantContext(options.runner ?? spawnRunner, options.host ?? realHost());
    this.sshExec = options.sshExec;
  }

  get name(): VagrantProviderName {
    return this.strategy.name;
  }

  async preflight(cluster: ClusterRef, _box?: BoxConfig): Promise<void> {
    const problems: Problem[] = [];
    const r = await this.ctx.vagrant(["--version"], cluster);
    const version = r.exitCode === 0 ? parseVersion(r.stdout) : undefined;
    if (r.exitCode !== 0 || !version) {
      problems.push({
        path: "vagrant",
        message: r.exitCode === 127 ? "vagrant is not installed or not on PATH" : `\`vagrant --version\` failed: ${tail(r.stderr || r.stdout, 3)}`,
        fix: `the ${this.strategy.name} provider creates its VMs with Vagrant >= ${MIN_VAGRANT}: install it (Debian/Ubuntu: sudo apt-get install vagrant; others: the Vagrant installer), or use "provider": "local" in cluster.config.json`,
      });
    } else if (compareVersions(version, versionParts(MIN_VAGRANT)) < 0) {
      problems.push({
        path: "vagrant",
        message: `Vagrant ${version.join(".")} is older than ${MIN_VAGRANT}, which provision/Vagrantfile requires`,
        fix: `upgrade Vagrant to ${MIN_VAGRANT} or newer`,
      });
    }
    await this.strategy.preflight(this.ctx, cluster, problems, { vagrantVersion: version, network: await this.readNetworkRecord(cluster) });
    if (problems.length) throw badInput(`preflight for provider ${this.strategy.name} failed: this host cannot run the cluster yet`, problems);
  }

  async createNetwork(cluster: ClusterRef): Promise<void> {
    const existing = await this.readNetworkRecord(cluster);
    const record = await this.strategy.createNetwork(this.ctx, cluster, existing);
    await mkdir(cluster.clusterDir, { recursive: true });
    await writeFile(vagrantPaths(cluster).network, `${JSON.stringify(record, null, 2)}\n`);
  }

  async destroyNetwork(cluster: ClusterRef): Promise<void> {
    const record = await this.readNetworkRecord(cluster);
    await this.strategy.destroyNetwork(this.ctx, cluster, record);
    await rm(vagrantPaths(cluster).network, { force: true });
  }

  /** The machine list for this cluster: what provision/Vagrantfile turns into VMs. */
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
        { path: vagrantPaths(cluster).network, message: "missing: the network stage has not run (or its record was deleted)", fix: "run `npx cdktf deploy` again; it creates the network before the box" },
      ]);
    }
    const paths = vagrantPaths(cluster);
    await mkdir(cluster.clusterDir, { recursive: true });
    await writeFile(paths.machines, `${JSON.stringify(this.machineList(cluster, box, network), null, 2)}\n`);

    const listFix = "check that `vagrant box list` works in a terminal (a broken ~/.vagrant.d is the usual cause)";
    // The version Vagrant will use: the highest one of this box that satisfies the constraint.
    const usable = (stdout: string) =>
      parseBoxList(stdout)
        .filter((b) => b.name === box.name && b.provider === this.strategy.name && (!box.version || satisfiesConstraint(b.version, box.version)))
        .map((b) => b.version)
        .sort((a, b) => compareVersions(versionParts(a), versionParts(b)))
        .pop();
    let version = usable((await this.ctx.mustVagrant(["box", "list"], cluster, listFix)).stdout);
    if (version === undefined) {
      await this.ctx.mustVagrant(boxAddArgs(box, this.strategy.name), cluster, boxAddFix(box, this.strategy.name), { echo: true });
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
    await this.ctx.mustVagrant(["up", node.name, `--provider=${p}`, "--no-provision"], cluster, upFix(p, node.name), { echo: true });
    const conf = await this.ctx.mustVagrant(["ssh-config", node.name], cluster, `run \`vagrant up ${node.name}\` from provision/ with the cluster's environment to see why the VM has no ssh access`);
    const paths = vagrantPaths(cluster);
    await mkdir(paths.sshDir, { recursive: true, mode: 0o700 });
    await mkdir(sshControlDir(), { recursive: true, mode: 0o700 });
    await writeFile(paths.sshConfig(node.name), withConnectionSharing(conf.stdout, sshControlDir()), { mode: 0o600 });
    await chmod(paths.sshConfig(node.name), 0o600);

    const subnet = clusterSubnet(cluster);
    const t = this.transport(cluster, node);
    try {
      await t.run(BOOTSTRAP_SCRIPT, { env: { DVC_ROOT: VM_ROOT, DVC_IP: node.ip, DVC_PREFIX: String(subnet.prefix), DVC_HOSTNAME: node.name }, timeoutMs: 120_000 });
    } catch (err) {
      if (!(err instanceof NodeCommandError)) throw err;
      throw new UserError(`${node.name} was created but is not usable`, 1, [
        {
          path: node.name,
          message: tail(err.result.stderr || err.result.stdout) || `exit code ${err.result.exitCode}`,
          fix: err.result.exitCode === 3
            ? `the private address ${node.ip}/${subnet.prefix} is missing in the VM: the box must let Vagrant configure networks (Debian/Ubuntu boxes do); try \`vagrant reload ${node.name}\``
            : `check that \`ssh -F ${paths.sshConfig(node.name)} ${node.name} true\` works and the box's user may sudo without a password`,
        },
      ]);
    }
  }

  async destroyMachine(cluster: ClusterRef, node: NodeSpec): Promise<void> {
    const paths = vagrantPaths(cluster);
    // Without Vagrant's record of the VM there is nothing to destroy, and asking
    // vagrant-libvirt anyway needs a running libvirt daemon just to say so.
    if (existsSync(paths.sshConfig(node.name))) await (this.transport(cluster, node) as SshTransport).closeConnection();
    if (recordedMachines(paths.dotfile, this.strategy.name).includes(node.name)) {
      const list = await this.readMachineList(cluster);
      if (!list) {
        throw badInput(`cannot destroy ${node.name}: its machine list is gone`, [
          { path: paths.machines, message: "missing, but Vagrant still records a VM for this node", fix: `run \`npx cdktf deploy\` once (it rewrites the list), then destroy again; or remove the VM by hand (${this.strategy.name === "virtualbox" ? `VBoxManage unregistervm ${cluster.id}-${node.name} --delete` : `virsh undefine ${cluster.id}-${node.name} --remove-all-storage`})` },
        ]);
      }
      const listed = Array.isArray(list.nodes) ? list.nodes : [];
      if (!listed.some((n) => n.name === node.name)) {
        // A node dropped from the config: Vagrant can only destroy a machine it has defined.
        const nodes = [...listed, { name: node.name, ip: node.ip, cpus: node.cpus, memoryMb: node.memoryMb }];
        await writeFile(paths.machines, `${JSON.stringify({ ...list, nodes }, null, 2)}\n`);
      }
      await this.ctx.mustVagrant(["destroy", "-f", node.name], cluster, `run \`vagrant destroy -f ${node.name}\` from provision/ with VAGRANT_DOTFILE_PATH=${paths.dotfile} DVC_MACHINES=${paths.machines} to see the full error`, { echo: true });
    } else {
      await this.strategy.removeUnrecorded?.(this.ctx, cluster, node);
    }
    await rm(paths.sshConfig(node.name), { force: true });
    // The stage sees only its own node; the cluster's other VMs are those Vagrant records.
    if (!recordedMachines(paths.dotfile, this.strategy.name).length) {
      await this.strategy.afterLastMachine(this.ctx, cluster, (await this.readMachineList(cluster))?.box);
    }
  }

  /** 4 for VMs under qemu emulation (the machine list says so), else 1. */
  timeoutFactor(cluster: ClusterRef): number {
    try {
      const list = JSON.parse(readFileSync(vagrantPaths(cluster).machines, "utf8")) as MachineList;
      return (list.libvirt as { driver?: string } | undefined)?.driver === "qemu" ? 4 : 1;
    } catch {
      return 1;
    }
  }

  transport(cluster: ClusterRef, node: NodeSpec): Transport {
    return new SshTransport(
      node.name,
      vagrantPaths(cluster).sshConfig(node.name),
      this.sshExec ?? ((argv, script, opts) => runProcess(argv, node.name, script, opts)),
      this.timeoutFactor(cluster),
    );
  }

  private async readNetworkRecord(cluster: ClusterRef): Promise<NetworkRecord | undefined> {
    try {
      return JSON.parse(await readFile(vagrantPaths(cluster).network, "utf8")) as NetworkRecord;
    } catch {
      return undefined;
    }
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

/** Where the shared ssh connections' sockets live (short: a socket path has ~104 bytes). */
export function sshControlDir(): string {
  return path.join(cacheDir(), "ssh");
}

/** Machines Vagrant has created and not destroyed: it keeps each one's id in <dotfile>/machines/<node>/<provider>/id. */
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

function upFix(provider: VagrantProviderName, node: string): string {
  return provider === "virtualbox"
    ? `read the VirtualBox error above; \`vagrant destroy -f ${node}\` then deploy again clears a half-created VM`
    : `read the libvirt error above (\`virsh list --all\`, \`journalctl -u libvirtd\`); \`vagrant destroy -f ${node}\` then deploy again clears a half-created VM`;
}

/** Adds a Problem when a host route overlaps the subnet on an interface other than the cluster's own. */
export async function checkRouteClash(ctx: VagrantContext, cluster: ClusterRef, ownDevices: readonly string[], problems: Problem[]): Promise<void> {
  const subnet = clusterSubnet(cluster);
  let routes: HostRoute[];
  let source: string;
  if (ctx.host.platform === "linux") {
    const r = await ctx.run(["ip", "-j", "route"], cluster);
    if (r.exitCode !== 0) {
      ctx.host.warn(`could not list host routes (\`ip -j route\`: ${tail(r.stderr, 1) || `exit ${r.exitCode}`}); not checking ${subnet.text} against them`);
      return;
    }
    routes = parseIpRouteJson(r.stdout);
    source = "ip route";
  } else if (ctx.host.platform === "darwin") {
    const r = await ctx.run(["netstat", "-rn", "-f", "inet"], cluster);
    if (r.exitCode !== 0) {
      ctx.host.warn(`could not list host routes (\`netstat -rn\`: exit ${r.exitCode}); not checking ${subnet.text} against them`);
      return;
    }
    routes = parseNetstatRoutes(r.stdout);
    source = "netstat -rn";
  } else {
    return;
  }
  for (const route of routes) {
    if (ownDevices.includes(route.dev) || !cidrsOverlap(route.dst, subnet)) continue;
    problems.push({
      path: "/network/subnet",
      message: `${subnet.text} overlaps the host route ${route.dst.text} on ${route.dev || "?"} (\`${source}\`: ${route.text}): traffic to the nodes would leave through that interface`,
      fix: `pick a free subnet in network.subnet of cluster.config.json (e.g. one of 192.168.56.0/24..192.168.63.0/24 that no route uses), or remove the other network if it is stale`,
    });
  }
}

/** Home of Vagrant's boxes: VAGRANT_HOME or ~/.vagrant.d. */
export function vagrantHome(host: Host): string {
  return host.env.VAGRANT_HOME || path.join(host.env.HOME || os.homedir(), ".vagrant.d");
}
