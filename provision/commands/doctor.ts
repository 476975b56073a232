// `npm run doctor`: are this host's prerequisites in place for the configured provider?
// One row per check (ok, warn or fail, what was found, what to do) and a verdict, before
// a deploy finds out the slow way. Read-only: it runs version commands, reads files and,
// only with --online, sends one HEAD request to the Terraform registry. Every probe goes
// through an injectable Probes, so tests can stand in for a host without VirtualBox.
// Exit 0 when nothing fails, 1 when something does, 2 on bad arguments or a bad config.
import { accessSync, constants as fsConstants, existsSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { $ } from "zx";
import { PROVIDERS, type Platform, type ProviderName } from "../lib/config-schema.js";
import { loadCluster, parseVboxNetworksConf, VBOX_DEFAULT_RANGE, type Cluster } from "../lib/config.js";
import { badInput } from "../lib/errors.js";
import { parseCli } from "../lib/cli.js";
import { cidrContains, parseCidr, type Cidr } from "../lib/ipv4.js";
import { PROJECT_DIR, cacheDir } from "../lib/paths.js";

export type Status = "ok" | "warn" | "fail";

export interface CheckRow {
  /** What was checked, e.g. "virtualbox", "subnet free". */
  readonly check: string;
  readonly status: Status;
  /** What the host has: a version, a path, a value; "not found" when absent. */
  readonly found: string;
  /** What to do about a warn or fail; empty when ok. */
  readonly fix: string;
}

export interface CommandResult {
  readonly stdout: string;
  readonly stderr: string;
  /** 127: the program is not installed; 124: it did not finish in time. */
  readonly exitCode: number;
}

/** Everything the checks learn about the host; the real one is realProbes(). */
export interface Probes {
  /** Runs argv (no shell quoting needed); never throws, never waits longer than timeoutMs. */
  run(argv: readonly string[], timeoutMs?: number): Promise<CommandResult>;
  /** A file's text, or undefined when it is missing or unreadable. */
  readText(file: string): string | undefined;
  exists(file: string): boolean;
  /** Whether this process may open the file for reading and writing (what QEMU does with /dev/kvm). */
  openable(file: string): boolean;
  /** HTTPS HEAD; resolves with the HTTP status line, or throws with the network error. */
  head(url: string, timeoutMs: number): Promise<string>;
  readonly env: NodeJS.ProcessEnv;
  readonly platform: NodeJS.Platform;
  /** process.arch: x64, arm64. */
  readonly arch: string;
  /** Effective user id; undefined where there is none (Windows). */
  readonly uid: number | undefined;
  /** The running Node's version, e.g. 20.20.2. */
  readonly nodeVersion: string;
  readonly totalMemBytes: number;
  /** What the OS can give without swapping (MemAvailable on Linux). */
  readonly freeMemBytes: number;
}

export interface DoctorOptions {
  readonly provider: ProviderName;
  readonly projectDir: string;
  /** <project>/.cluster: network.json there names the cluster's own network, if deployed. */
  readonly clusterDir: string;
  /** The cluster's private network, CIDR. */
  readonly subnet: string;
  readonly nodes: ReadonlyArray<{ readonly name: string; readonly memoryMb: number }>;
  /** runtime.python, major.minor. */
  readonly python: string;
  /** runtime.platform: which qemu-system-<arch> libvirt needs. */
  readonly platform: Platform;
  /** Also test whether registry.terraform.io answers (one 3 s HEAD request). Default: false. */
  readonly online: boolean;
}

/** Timeouts: version commands answer at once; Vagrant starts Ruby and loads its plugins. */
const QUICK_MS = 5_000;
const VAGRANT_MS = 20_000;
const REGISTRY_MS = 3_000;
const REGISTRY_URL = "https://registry.terraform.io/.well-known/terraform.json";

export const MIN_NODE = [20, 0, 0] as const;
export const MIN_TERRAFORM = [1, 5, 0] as const;
/** Same as Vagrant.require_version in provision/Vagrantfile. */
export const MIN_VAGRANT = [2, 2, 19] as const;
/** VirtualBox 6.1 dropped software virtualization; older releases are not supported. */
export const MIN_VIRTUALBOX = [6, 1, 0] as const;
/** Disk each VM's linked clone, logs and runtime bundle may take. */
export const DISK_PER_NODE_GIB = 3;
/** Memory the host keeps for itself next to the nodes. */
export const HOST_RESERVE_MB = 2048;

const GIB = 1024 ** 3;
const MIB = 1024 ** 2;

// ---------------------------------------------------------------------------------------
// Small parsers (pure)
// ---------------------------------------------------------------------------------------

/** The first dotted version in a text: "Vagrant 2.3.4" -> [2, 3, 4]; "7.0.14r161095" -> [7, 0, 14]. */
export function parseVersion(text: string): number[] | undefined {
  const m = /(\d+)\.(\d+)(?:\.(\d+))?/.exec(text);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)] : undefined;
}

export function atLeast(v: readonly number[], min: readonly number[]): boolean {
  for (let i = 0; i < Math.max(v.length, min.length); i++) {
    const d = (v[i] ?? 0) - (min[i] ?? 0);
    if (d !== 0) return d > 0;
  }
  return true;
}

const dotted = (v: readonly number[]) => v.join(".");
const short = (v: readonly number[]) => v.slice(0, 2).join(".");
const gib = (bytes: number) => `${(bytes / GIB).toFixed(1)} GiB`;

/** `terraform version -json` (or its text form) -> the version; undefined when it did not run. */
export function parseTerraformVersion(r: CommandResult): string | undefined {
  if (r.exitCode !== 0) return undefined;
  try {
    const v = (JSON.parse(r.stdout) as { terraform_version?: string }).terraform_version;
    if (v) return v;
  } catch {
    // Not JSON (very old releases): the first line reads "Terraform v1.5.7" / "OpenTofu v1.8.0".
  }
  return /v(\d+\.\d+\.\d+\S*)/.exec(r.stdout.split("\n")[0] ?? "")?.[1];
}

export interface Route {
  readonly dst: Cidr;
  readonly dev: string;
  /** The route as `ip route` would print it, for messages. */
  readonly text: string;
}

/** Parses `ip -j route`; default routes are skipped, a bare address is a /32. */
export function parseIpRoutes(stdout: string): Route[] {
  let rows: Array<{ dst?: string; dev?: string; protocol?: string }>;
  try {
    rows = JSON.parse(stdout) as typeof rows;
  } catch {
    return [];
  }
  return rows.flatMap((r) => {
    if (!r.dst || r.dst === "default") return [];
    const dst = parseCidr(r.dst.includes("/") ? r.dst : `${r.dst}/32`);
    const text = `${r.dst} dev ${r.dev ?? "?"}${r.protocol ? ` proto ${r.protocol}` : ""}`;
    return dst ? [{ dst, dev: r.dev ?? "", text }] : [];
  });
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  return a.network <= b.broadcast && b.network <= a.broadcast;
}

/** Available bytes and mount point from `df -Pk <dir>`. */
export function parseDf(stdout: string): { availableBytes: number; mount: string } | undefined {
  const cols = stdout.trim().split("\n")[1]?.trim().split(/\s+/);
  if (!cols || cols.length < 6 || !/^\d+$/.test(cols[3]!)) return undefined;
  return { availableBytes: Number(cols[3]) * 1024, mount: cols.slice(5).join(" ") };
}

// ---------------------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------------------

const ok = (check: string, found: string): CheckRow => ({ check, status: "ok", found, fix: "" });
const warn = (check: string, found: string, fix: string): CheckRow => ({ check, status: "warn", found, fix });
const fail = (check: string, found: string, fix: string): CheckRow => ({ check, status: "fail", found, fix });

/** Why a command gave no answer, in a few words. */
function failure(argv: readonly string[], r: CommandResult): string {
  if (r.exitCode === 127) return "not found";
  if (r.exitCode === 124) return `\`${argv.join(" ")}\` did not answer in time`;
  const last = (r.stderr || r.stdout).trim().split("\n").pop() ?? "";
  return `\`${argv.join(" ")}\` exited ${r.exitCode}${last ? `: ${last.slice(0, 120)}` : ""}`;
}

const isVm = (p: ProviderName) => p !== "local";

function checkNode(p: Probes): CheckRow {
  const v = parseVersion(p.nodeVersion);
  if (v && atLeast(v, MIN_NODE)) return ok("node", `v${p.nodeVersion}`);
  return fail("node", `v${p.nodeVersion}`, `install Node.js ${MIN_NODE[0]} or newer (e.g. \`nvm install ${MIN_NODE[0]}\`, or https://nodejs.org)`);
}

async function checkTerraform(p: Probes): Promise<CheckRow> {
  const versionOf = async (bin: string) => {
    const argv = [bin, "version", "-json"];
    const r = await p.run(argv);
    const v = parseTerraformVersion(r);
    return { v, text: v ?? failure(argv, r) };
  };
  const [tf, tofu] = await Promise.all([versionOf("terraform"), versionOf("tofu")]);
  const recent = (v: string | undefined) => !!v && atLeast(parseVersion(v) ?? [0], MIN_TERRAFORM);
  // cdktf runs $TERRAFORM_BINARY_NAME, else `terraform`.
  const chosen = p.env.TERRAFORM_BINARY_NAME;
  const found = `terraform ${tf.text}; tofu ${tofu.text}${chosen ? `; TERRAFORM_BINARY_NAME=${chosen}` : ""}`;
  if (chosen && !["terraform", "tofu"].includes(chosen)) {
    const c = await versionOf(chosen);
    const isTofu = path.basename(chosen).includes("tofu");
    if (c.v && (isTofu || recent(c.v))) return ok("terraform", `${found} (${c.v})`);
    return fail("terraform", `${found}: ${c.text}`, `point TERRAFORM_BINARY_NAME at terraform >= ${short(MIN_TERRAFORM)} or tofu, or unset it`);
  }
  if (chosen === "tofu") {
    if (tofu.v) return ok("terraform", found);
    return fail("terraform", found, "TERRAFORM_BINARY_NAME=tofu but tofu does not run: install OpenTofu (https://opentofu.org/docs/intro/install), run `npm run setup`, or unset it");
  }
  if (recent(tf.v)) return ok("terraform", found);
  if (tofu.v) return warn("terraform", found, "cdktf runs `terraform` unless told otherwise: export TERRAFORM_BINARY_NAME=tofu (eval \"$(provision/setup-toolchain.sh --print-env)\" does it)");
  const setupCli = p.readText(path.join(cacheDir(p.env), "toolchain", "cli"))?.trim();
  if (setupCli && p.exists(setupCli)) {
    return warn("terraform", `${found}; npm run setup made ${setupCli}`, `put it on PATH for cdktf: eval "$(provision/setup-toolchain.sh --print-env)"`);
  }
  const why = tf.v ? `terraform ${tf.v} is older than ${short(MIN_TERRAFORM)}: upgrade it, or ` : "";
  return fail("terraform", found, `${why}install Terraform >= ${short(MIN_TERRAFORM)} (https://developer.hashicorp.com/terraform/install) or OpenTofu, or run \`npm run setup\` (builds OpenTofu with Go)`);
}

async function checkProviderMirror(p: Probes, online: boolean): Promise<CheckRow> {
  const name = "terraform providers";
  const rc = path.join(cacheDir(p.env), "toolchain", "terraformrc");
  const rcText = p.readText(rc);
  const mirrorDir = rcText ? /^\s*path\s*=\s*"([^"]+)"/m.exec(rcText)?.[1] : undefined;
  const hasMirror = !!mirrorDir && p.exists(path.join(mirrorDir, "registry.terraform.io", "hashicorp", "null"));
  const configured = p.env.TF_CLI_CONFIG_FILE;
  const pointsAtMirror = !!configured && path.resolve(configured) === rc;

  let registry = "";
  let reachable: boolean | undefined;
  if (online) {
    try {
      registry = `registry.terraform.io answers (${await p.head(REGISTRY_URL, REGISTRY_MS)})`;
      reachable = true;
    } catch (err) {
      registry = `registry.terraform.io unreachable (${(err as Error).message})`;
      reachable = false;
    }
  }
  const withRegistry = (s: string) => (registry ? `${s}; ${registry}` : s);
  const exportRc = `export TF_CLI_CONFIG_FILE=${rc} (or eval "$(provision/setup-toolchain.sh --print-env)"); npm run demo sets it when it is unset`;

  if (hasMirror && pointsAtMirror) return ok(name, withRegistry(`offline hashicorp/null mirror at ${mirrorDir}; TF_CLI_CONFIG_FILE points at it`));
  if (hasMirror) {
    const now = configured ? `TF_CLI_CONFIG_FILE is ${configured}` : "TF_CLI_CONFIG_FILE is not set";
    if (reachable) return ok(name, withRegistry(`offline mirror at ${mirrorDir} (unused: ${now})`));
    return warn(name, withRegistry(`offline mirror at ${mirrorDir}, but ${now}`), exportRc);
  }
  const missing = `no offline hashicorp/null mirror (${rc} ${rcText === undefined ? "missing" : "names no mirror with hashicorp/null"})`;
  if (reachable === true) return ok(name, withRegistry(missing));
  if (reachable === false) return warn(name, withRegistry(missing), "the registry is unreachable from here: run `npm run setup` to build the offline mirror, then export TF_CLI_CONFIG_FILE as it prints");
  return warn(name, `${missing}; terraform init will download it from registry.terraform.io`, "fine if this host reaches the registry (`npm run doctor -- --online` tests it); if not, run `npm run setup`");
}

async function checkVagrant(p: Probes): Promise<{ row: CheckRow; present: boolean }> {
  const argv = ["vagrant", "--version"];
  const r = await p.run(argv, VAGRANT_MS);
  const v = r.exitCode === 0 ? parseVersion(r.stdout) : undefined;
  const install = `install Vagrant ${dotted(MIN_VAGRANT)} or newer (https://developer.hashicorp.com/vagrant/install)`;
  if (!v) return { row: fail("vagrant", failure(argv, r), install), present: false };
  if (!atLeast(v, MIN_VAGRANT)) return { row: fail("vagrant", dotted(v), `Vagrant ${dotted(v)} is older than ${dotted(MIN_VAGRANT)}: ${install}`), present: true };
  return { row: ok("vagrant", dotted(v)), present: true };
}

async function checkVirtualBox(p: Probes): Promise<{ row: CheckRow; version?: number[] }> {
  const argv = ["VBoxManage", "--version"];
  const r = await p.run(argv);
  // A missing kernel module is a warning before the version, on stdout or stderr.
  const lastLine = r.stdout.trim().split("\n").pop() ?? "";
  const v = r.exitCode === 0 ? parseVersion(lastLine) : undefined;
  const install = `install VirtualBox ${short(MIN_VIRTUALBOX)} or newer (7.x recommended, https://www.virtualbox.org/wiki/Downloads), or use "provider": "libvirt" or "local" in cluster.config.json`;
  if (!v) return { row: fail("virtualbox", failure(argv, r), install) };
  if (!atLeast(v, MIN_VIRTUALBOX)) return { row: fail("virtualbox", lastLine, `VirtualBox ${dotted(v)} is older than ${short(MIN_VIRTUALBOX)}: upgrade it (7.x recommended)`), version: v };
  if (/vboxdrv/.test(`${r.stdout}\n${r.stderr}`)) {
    return { row: warn("virtualbox", `${lastLine}; the vboxdrv kernel module is not loaded`, "load it: sudo /sbin/vboxconfig (on Secure Boot hosts, sign the module or disable Secure Boot)"), version: v };
  }
  return { row: ok("virtualbox", lastLine), version: v };
}

async function checkLibvirt(p: Probes, o: DoctorOptions, vagrantPresent: boolean): Promise<CheckRow[]> {
  const rows: CheckRow[] = [];
  const virsh = ["virsh", "--version"];
  const rv = await p.run(virsh);
  rows.push(
    rv.exitCode === 0 && parseVersion(rv.stdout)
      ? ok("virsh", rv.stdout.trim())
      : fail("virsh", failure(virsh, rv), "install libvirt: sudo apt-get install libvirt-daemon-system libvirt-clients (Fedora: sudo dnf install @virtualization), then add yourself to the libvirt group"),
  );

  const qemuBin = `qemu-system-${o.platform}`;
  const qemu = [qemuBin, "--version"];
  const rq = await p.run(qemu);
  const pkg = o.platform === "x86_64" ? "qemu-system-x86" : "qemu-system-arm";
  rows.push(
    rq.exitCode === 0 && parseVersion(rq.stdout)
      ? ok(qemuBin, rq.stdout.trim().split("\n")[0]!)
      : fail(qemuBin, failure(qemu, rq), `install QEMU for runtime.platform ${o.platform}: sudo apt-get install ${pkg} (Fedora: sudo dnf install qemu-kvm)`),
  );

  if (!vagrantPresent) {
    rows.push(fail("vagrant-libvirt", "not checked: vagrant is missing", "install Vagrant first, then: vagrant plugin install vagrant-libvirt"));
  } else {
    const plugins = ["vagrant", "plugin", "list"];
    const rp = await p.run(plugins, VAGRANT_MS);
    const line = rp.stdout.split("\n").find((l) => /^vagrant-libvirt\b/.test(l.trim()));
    if (line) rows.push(ok("vagrant-libvirt", line.trim()));
    else if (rp.exitCode !== 0) rows.push(fail("vagrant-libvirt", failure(plugins, rp), "make `vagrant plugin list` work (`vagrant plugin repair`), then: vagrant plugin install vagrant-libvirt"));
    else rows.push(fail("vagrant-libvirt", "not installed", "vagrant plugin install vagrant-libvirt (it needs libvirt-dev and a compiler: https://vagrant-libvirt.github.io/vagrant-libvirt/installation.html)"));
  }

  if (p.openable("/dev/kvm")) rows.push(ok("/dev/kvm", "readable and writable"));
  else if (p.exists("/dev/kvm")) rows.push(fail("/dev/kvm", "present, but this user may not open it", "add yourself to the kvm group: sudo usermod -aG kvm $USER, then log out and in again"));
  else rows.push(fail("/dev/kvm", "missing", "load KVM (sudo modprobe kvm_intel, or kvm_amd) after enabling virtualization in the firmware; see the virtualization row"));
  return rows;
}

const ENABLE_VT = "enable Intel VT-x (sometimes called Intel Virtualization Technology) or AMD-V (SVM Mode) in the firmware (BIOS/UEFI) setup, usually under CPU or Advanced settings, then power-cycle";
const NESTED = "this host is itself a VM (cpuinfo has the hypervisor flag): enable nested virtualization for it on the outer hypervisor (KVM: kvm_intel nested=1 / kvm_amd nested=1 and cpu mode host-passthrough; VMware: Expose hardware assisted virtualization; Hyper-V: Set-VMProcessor -ExposeVirtualizationExtensions $true; VirtualBox: --nested-hw-virt on)";

async function checkVirtualization(p: Probes, provider: ProviderName): Promise<CheckRow> {
  const name = "virtualization";
  if (p.platform === "linux") {
    const cpuinfo = p.readText("/proc/cpuinfo");
    if (cpuinfo === undefined) return warn(name, "/proc/cpuinfo unreadable", `make sure VT-x/AMD-V is on: ${ENABLE_VT}`);
    const flags = new Set(cpuinfo.split("\n").filter((l) => /^(flags|Features)\s*:/.test(l)).flatMap((l) => l.split(":")[1]!.trim().split(/\s+/)));
    if (flags.has("vmx")) return ok(name, "vmx (Intel VT-x) in /proc/cpuinfo");
    if (flags.has("svm")) return ok(name, "svm (AMD-V) in /proc/cpuinfo");
    // ARM CPUs list no such flag; KVM's device is the evidence there.
    if (p.arch === "arm64") return p.exists("/dev/kvm") ? ok(name, "arm64 with /dev/kvm") : fail(name, "arm64 without /dev/kvm", "boot a kernel with KVM (EL2) support");
    const inVm = flags.has("hypervisor");
    // A paravirtual KVM (e.g. PVM inside a cloud VM) gives /dev/kvm without VT-x: QEMU may
    // run on it, VirtualBox cannot.
    if (provider === "libvirt" && p.openable("/dev/kvm")) {
      return warn(name, "no vmx or svm flag in /proc/cpuinfo, but /dev/kvm opens (paravirtual KVM?)", `if vagrant up fails with a KVM error: ${inVm ? NESTED : ENABLE_VT}`);
    }
    return fail(name, `no vmx or svm flag in /proc/cpuinfo${inVm ? " (running inside a VM)" : ""}`, inVm ? NESTED : ENABLE_VT);
  }
  if (p.platform === "darwin") {
    const argv = ["sysctl", "-n", "kern.hv_support"];
    const r = await p.run(argv);
    if (r.exitCode === 0 && r.stdout.trim() === "1") return ok(name, "kern.hv_support = 1");
    return fail(name, r.exitCode === 0 ? `kern.hv_support = ${r.stdout.trim()}` : failure(argv, r), "this Mac has no hardware virtualization available (inside a VM: enable nested virtualization on its hypervisor)");
  }
  return warn(name, `not checked on ${p.platform}`, `make sure it is on (Task Manager > Performance > CPU: Virtualization: Enabled); otherwise ${ENABLE_VT}`);
}

function checkSubnetAllowed(p: Probes, subnet: Cidr, vboxVersion: number[] | undefined): CheckRow {
  const name = "subnet allowed";
  // Where VirtualBox enforces its host-only range rule: Linux, and macOS before 7.0.
  const enforced = p.platform === "linux" || (p.platform === "darwin" && (!vboxVersion || vboxVersion[0]! < 7));
  if (!enforced) return ok(name, `${subnet.text} (VirtualBox on ${p.platform} has no range rule)`);
  const conf = p.readText("/etc/vbox/networks.conf");
  const allowedText = conf !== undefined ? parseVboxNetworksConf(conf) : [VBOX_DEFAULT_RANGE];
  const source = conf !== undefined ? "/etc/vbox/networks.conf" : "VirtualBox default";
  const inside = allowedText.find((t) => {
    const c = parseCidr(t);
    return c && cidrContains(c, subnet.network) && cidrContains(c, subnet.broadcast);
  });
  if (inside) return ok(name, `${subnet.text} inside ${inside} (${source})`);
  return fail(
    name,
    `${subnet.text} is outside ${allowedText.join(", ") || "every range"} (${source})`,
    `use a subnet inside ${VBOX_DEFAULT_RANGE} (e.g. 192.168.56.0/24) in network.subnet, or allow it: echo '* ${subnet.text}' | sudo tee -a /etc/vbox/networks.conf`,
  );
}

/** The cluster's own network device, once deployed: its route is not a clash. */
function ownDevice(p: Probes, clusterDir: string): string | undefined {
  const text = p.readText(path.join(clusterDir, "network.json"));
  if (!text) return undefined;
  try {
    const rec = JSON.parse(text) as { device?: string; name?: string };
    return rec.device ?? rec.name;
  } catch {
    return undefined;
  }
}

/** A /24 inside VirtualBox's default range that no route touches, to suggest. */
function freeSubnet(routes: readonly Route[]): string | undefined {
  for (let third = 56; third <= 63; third++) {
    const c = parseCidr(`192.168.${third}.0/24`)!;
    if (!routes.some((r) => overlaps(r.dst, c))) return c.text;
  }
  return undefined;
}

async function checkSubnetFree(p: Probes, subnet: Cidr, clusterDir: string): Promise<CheckRow> {
  const name = "subnet free";
  if (p.platform !== "linux") return warn(name, `not checked on ${p.platform}`, `make sure no network of this host uses ${subnet.text} (\`netstat -rn\`)`);
  const argv = ["ip", "-j", "route"];
  const r = await p.run(argv);
  if (r.exitCode !== 0) return warn(name, failure(argv, r), `could not list routes; make sure no interface of this host uses ${subnet.text}`);
  const routes = parseIpRoutes(r.stdout);
  const own = ownDevice(p, clusterDir);
  const clashes = routes.filter((route) => overlaps(route.dst, subnet) && route.dev !== own);
  if (!clashes.length) return ok(name, `no host route overlaps ${subnet.text}${own ? ` (besides this cluster's ${own})` : ""}`);
  const suggestion = freeSubnet(routes);
  return fail(
    name,
    `${subnet.text} overlaps ${clashes.map((c) => `${c.text} (interface ${c.dev || "?"})`).join(", ")}`,
    `set network.subnet to a free subnet${suggestion ? ` (e.g. ${suggestion})` : ""} in cluster.config.json, or remove ${clashes.map((c) => c.dev).join(", ")} if it is a stale network of an old cluster`,
  );
}

async function checkDisk(p: Probes, o: DoctorOptions): Promise<CheckRow> {
  const argv = ["df", "-Pk", o.projectDir];
  const r = await p.run(argv);
  const df = r.exitCode === 0 ? parseDf(r.stdout) : undefined;
  const needBytes = o.nodes.length * DISK_PER_NODE_GIB * GIB;
  const need = `${o.nodes.length} nodes × ${DISK_PER_NODE_GIB} GiB = ${gib(needBytes)}`;
  if (!df) return warn("disk", failure(argv, r), `make sure ${o.projectDir} has ${gib(needBytes)} free`);
  const found = `${gib(df.availableBytes)} free on ${df.mount} (need ${need})`;
  if (df.availableBytes >= needBytes) return ok("disk", found);
  return fail("disk", found, `free ${gib(needBytes - df.availableBytes)} on ${df.mount}, or lower nodes.count`);
}

function checkMemory(p: Probes, o: DoctorOptions): CheckRow {
  const nodesMb = o.nodes.reduce((s, n) => s + n.memoryMb, 0);
  const needBytes = (nodesMb + HOST_RESERVE_MB) * MIB;
  const found = `${gib(p.totalMemBytes)} total, ${gib(p.freeMemBytes)} available (need ${gib(nodesMb * MIB)} for ${o.nodes.length} nodes + ${gib(HOST_RESERVE_MB * MIB)} for the host)`;
  const lower = "lower nodes.memoryMb or nodes.count in cluster.config.json";
  if (!isVm(o.provider)) {
    // Namespaces reserve nothing; node memory only sets the workers' limits.
    if (p.totalMemBytes < needBytes) return warn("memory", found, `the workers' memory limits add up to more than this host has, so they would be killed before they spill: ${lower}`);
    return ok("memory", found);
  }
  if (p.totalMemBytes < needBytes) return fail("memory", found, `the VMs do not fit in this host's memory: ${lower}`);
  if (p.freeMemBytes < needBytes) return warn("memory", found, `close programs to free ${gib(needBytes - p.freeMemBytes)}, or ${lower}`);
  return ok("memory", found);
}

function checkRoot(p: Probes): CheckRow {
  if (p.platform !== "linux") return fail("root", `${p.platform} host`, 'the local provider uses Linux network namespaces: use "provider": "virtualbox" or "libvirt" here');
  if (p.uid === 0) return ok("root", "uid 0");
  return fail("root", `uid ${p.uid ?? "?"}`, "the local provider creates network namespaces, which only root may do: run as root (sudo -E npm run doctor, sudo -E npx cdktf deploy)");
}

async function checkIproute(p: Probes): Promise<CheckRow> {
  const argv = ["ip", "-V"];
  const r = await p.run(argv);
  if (r.exitCode === 0) return ok("iproute2", r.stdout.trim());
  return fail("iproute2", failure(argv, r), "install iproute2 (sudo apt-get install iproute2)");
}

async function checkPython(p: Probes, python: string): Promise<CheckRow> {
  const bin = `python${python}`;
  // install.sh makes the node's venv with `pythonX.Y -m venv --without-pip`: venv must import.
  const argv = [bin, "-c", "import sys, venv; print('.'.join(map(str, sys.version_info[:3])))"];
  const r = await p.run(argv);
  const install = `install Python ${python} with its venv module (Debian/Ubuntu: sudo apt-get install ${bin} ${bin}-venv; or pyenv install ${python}), or set runtime.python to a Python this host has and re-lock (npx tsx provision/lock.ts --python X.Y)`;
  if (r.exitCode === 0) return ok(bin, r.stdout.trim());
  if (/No module named .?venv/.test(r.stderr)) return fail(bin, `${bin} has no venv module`, `sudo apt-get install ${bin}-venv`);
  return fail(bin, r.exitCode === 127 ? "not found" : failure([bin, "-c", "import venv"], r), install);
}

/** Every check for the provider, in the order a person fixes them. */
export async function runChecks(o: DoctorOptions, p: Probes): Promise<CheckRow[]> {
  const subnet = parseCidr(o.subnet);
  if (!subnet) throw badInput(`subnet ${JSON.stringify(o.subnet)} is not a CIDR subnet`, [{ path: "/network/subnet", message: `"${o.subnet}"`, fix: "write it like 192.168.56.0/24" }]);
  const rows: CheckRow[] = [checkNode(p), await checkTerraform(p), await checkProviderMirror(p, o.online)];
  if (o.provider === "local") {
    rows.push(checkRoot(p), await checkIproute(p), await checkPython(p, o.python), checkMemory(p, o));
    return rows;
  }
  const vagrant = await checkVagrant(p);
  rows.push(vagrant.row);
  let vboxVersion: number[] | undefined;
  if (o.provider === "virtualbox") {
    const vbox = await checkVirtualBox(p);
    vboxVersion = vbox.version;
    rows.push(vbox.row);
  } else {
    rows.push(...(await checkLibvirt(p, o, vagrant.present)));
  }
  rows.push(await checkVirtualization(p, o.provider));
  if (o.provider === "virtualbox") rows.push(checkSubnetAllowed(p, subnet, vboxVersion));
  rows.push(await checkSubnetFree(p, subnet, o.clusterDir), await checkDisk(p, o), checkMemory(p, o));
  return rows;
}

// ---------------------------------------------------------------------------------------
// The real host
// ---------------------------------------------------------------------------------------

/** This host: commands through zx (nothrow, quiet, short timeout), files through node:fs. */
export function realProbes(): Probes {
  return {
    async run(argv, timeoutMs = QUICK_MS) {
      const t0 = performance.now();
      const r = await $({ nothrow: true, quiet: true, timeout: timeoutMs })`${argv}`;
      if (r.exitCode === null && performance.now() - t0 >= timeoutMs) {
        return { stdout: r.stdout, stderr: `${r.stderr}timed out after ${timeoutMs / 1000} s`, exitCode: 124 };
      }
      return { stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode ?? 128 };
    },
    readText(file) {
      try {
        return readFileSync(file, "utf8");
      } catch {
        return undefined;
      }
    },
    exists: (file) => existsSync(file),
    openable(file) {
      try {
        accessSync(file, fsConstants.R_OK | fsConstants.W_OK);
        return true;
      } catch {
        return false;
      }
    },
    async head(url, timeoutMs) {
      try {
        const res = await fetch(url, { method: "HEAD", signal: AbortSignal.timeout(timeoutMs), redirect: "manual" });
        return `HTTP ${res.status}`;
      } catch (err) {
        // fetch says only "fetch failed"; the cause names DNS, refusal or TLS.
        const e = err as Error & { cause?: { code?: string; message?: string } };
        if (e.name === "TimeoutError") throw new Error(`no answer in ${timeoutMs / 1000} s`);
        throw new Error(e.cause?.code ?? e.cause?.message ?? e.message);
      }
    },
    env: process.env,
    platform: process.platform,
    arch: process.arch,
    uid: process.getuid?.(),
    nodeVersion: process.versions.node,
    totalMemBytes: os.totalmem(),
    freeMemBytes: os.freemem(),
  };
}

/** The checks' view of a loaded cluster, with the provider (and --online) chosen by the caller. */
export function optionsFor(cluster: Cluster, provider: ProviderName = cluster.config.provider, online = false): DoctorOptions {
  return {
    provider,
    projectDir: cluster.projectDir,
    clusterDir: cluster.clusterDir,
    subnet: cluster.subnet.text,
    nodes: cluster.nodes.map((n) => ({ name: n.name, memoryMb: n.memoryMb })),
    python: cluster.config.runtime.python,
    platform: cluster.config.runtime.platform,
    online,
  };
}

// ---------------------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------------------

export type Verdict = "ready" | "ready with warnings" | "not ready";

export function verdictOf(rows: readonly CheckRow[]): Verdict {
  if (rows.some((r) => r.status === "fail")) return "not ready";
  return rows.some((r) => r.status === "warn") ? "ready with warnings" : "ready";
}

/** check, status and found aligned in columns; what to do on the line below, under found. */
export function renderTable(rows: readonly CheckRow[]): string {
  const header: CheckRow = { check: "check", status: "ok", found: "found / what to do", fix: "" };
  const w1 = Math.max(...[header, ...rows].map((r) => r.check.length));
  const w2 = Math.max("status".length, ...rows.map((r) => r.status.length));
  const line = (a: string, b: string, c: string) => `${a.padEnd(w1)}  ${b.padEnd(w2)}  ${c}`.trimEnd();
  const out = [line("check", "status", header.found), line("-".repeat(w1), "-".repeat(w2), "-".repeat(18))];
  for (const r of rows) {
    out.push(line(r.check, r.status, r.found));
    if (r.fix) out.push(line("", "", `→ ${r.fix}`));
  }
  return out.join("\n");
}

export function verdictLine(provider: ProviderName, rows: readonly CheckRow[]): string {
  const names = (s: Status) => rows.filter((r) => r.status === s).map((r) => r.check);
  const fails = names("fail");
  const warns = names("warn");
  const oks = names("ok").length;
  const list = (n: readonly string[], word: string) => `${n.length} ${word}${n.length === 1 ? "" : "s"} (${n.join(", ")})`;
  switch (verdictOf(rows)) {
    case "ready":
      return `ready for ${provider}: all ${oks} checks ok`;
    case "ready with warnings":
      return `ready for ${provider}, with ${list(warns, "warning")}; ${oks} ok`;
    case "not ready":
      return `NOT READY for ${provider}: ${list(fails, "failure")}${warns.length ? `, ${list(warns, "warning")}` : ""}; ${oks} ok`;
  }
}

export interface MainOptions {
  /** Default: the configured provider. */
  readonly provider?: ProviderName;
  readonly online: boolean;
  readonly json: boolean;
  readonly projectDir: string;
  readonly env?: NodeJS.ProcessEnv;
}

/** Loads the config, runs the checks, prints; returns 0 when nothing fails, else 1. */
export async function main(opts: MainOptions, probes: Probes = realProbes()): Promise<number> {
  const cluster = loadCluster({ projectDir: opts.projectDir, env: opts.env });
  const provider = opts.provider ?? cluster.config.provider;
  const rows = await runChecks(optionsFor(cluster, provider, opts.online), probes);
  const verdict = verdictOf(rows);
  if (opts.json) {
    process.stdout.write(`${JSON.stringify({ provider, online: opts.online, verdict, rows }, null, 2)}\n`);
  } else {
    process.stdout.write(`${renderTable(rows)}\n\n${verdictLine(provider, rows)}\n`);
  }
  return verdict === "not ready" ? 1 : 0;
}

const USAGE = `usage: npm run doctor [-- [--provider ${PROVIDERS.join("|")}] [--online] [--json]]
  --provider P  check the prerequisites of provider P (default: "provider" of cluster.config.json, virtualbox)
  --online      also test that registry.terraform.io answers (one 3 s HEAD request; default: offline)
  --json        machine-readable rows on stdout (default: a table and a verdict)
exit: 0 nothing fails, 1 something fails, 2 bad arguments or an invalid cluster.config.json`;

export async function cli(argv: readonly string[], projectDir = PROJECT_DIR): Promise<number> {
  const parsed = parseCli(argv, USAGE, { provider: { type: "string" }, online: { type: "boolean", default: false }, json: { type: "boolean", default: false } });
  if (!parsed) return 0;
  const { values } = parsed;
  const provider = values.provider;
  if (provider !== undefined && !(PROVIDERS as readonly string[]).includes(provider)) {
    throw badInput(`--provider ${provider} is not a provider`, [{ path: "--provider", message: `"${provider}"`, fix: `use one of: ${PROVIDERS.join(", ")}` }]);
  }
  return main({ provider: provider as ProviderName | undefined, online: values.online, json: values.json, projectDir });
}
