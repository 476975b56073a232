// npm run doctor (provision/doctor.ts). The host situations this machine does not have
// (no or an old VirtualBox, a subnet VirtualBox refuses, a clashing route, no root) run
// against scripted Probes; the real doctor runs here too, for the local provider, on
// this host's real node, terraform, uid and Python, and as the real CLI for its exit codes.
import { describe, expect, it, vi } from "vitest";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { $ } from "zx";
import {
  optionsFor, parseDf, parseIpRoutes, parseVersion, realProbes, renderTable, runChecks, verdictLine, verdictOf,
  type CheckRow, type CommandResult, type DoctorOptions, type Probes,
} from "../provision/commands/doctor.js";
import { resolveCluster } from "../provision/lib/config.js";

const root = path.resolve(import.meta.dirname, "..");
const GIB = 1024 ** 3;
const CACHE = "/home/u/.cache/dask-vm-cluster";
const RC = `${CACHE}/toolchain/terraformrc`;

type Scripted = string | Partial<CommandResult>;

interface FakeHost {
  /** Command line (or its start) -> stdout, or a result; anything else is "not found" (127). */
  readonly commands?: Record<string, Scripted>;
  readonly files?: Record<string, string>;
  /** Paths that exist besides the files (directories, devices). */
  readonly paths?: readonly string[];
  readonly openable?: readonly string[];
  readonly registry?: "up" | "down";
  readonly env?: NodeJS.ProcessEnv;
  readonly uid?: number;
  readonly totalGiB?: number;
  readonly freeGiB?: number;
}

/** A Linux x86_64 host with VT-x, Node 20, Terraform 1.9 and Vagrant 2.4, unless told otherwise. */
function fakeProbes(h: FakeHost = {}) {
  const commands: Record<string, Scripted> = {
    "terraform version -json": JSON.stringify({ terraform_version: "1.9.8" }),
    "vagrant --version": "Vagrant 2.4.1\n",
    "VBoxManage --version": "7.0.14r161095\n",
    "ip -j route": JSON.stringify([{ dst: "default", gateway: "10.0.2.2", dev: "eth0" }, { dst: "10.0.2.0/24", dev: "eth0", protocol: "kernel" }]),
    "df -Pk": "Filesystem 1024-blocks Used Available Capacity Mounted on\n/dev/sda1 500000000 100000000 400000000 20% /home\n",
    "ip -V": "ip utility, iproute2-6.1.0\n",
    "python3.11 -c": "3.11.9\n",
    ...h.commands,
  };
  const files: Record<string, string> = { "/proc/cpuinfo": "processor\t: 0\nflags\t\t: fpu vme sse2 vmx ssse3\n", ...h.files };
  const ran: string[] = [];
  const head = vi.fn(async () => {
    if (h.registry === "down") throw new Error("ENOTFOUND");
    return "HTTP 200";
  });
  const probes: Probes = {
    async run(argv) {
      const line = argv.join(" ");
      ran.push(line);
      const key = Object.keys(commands).find((k) => line === k || line.startsWith(`${k} `));
      if (key === undefined) return { stdout: "", stderr: `bash: ${argv[0]}: command not found`, exitCode: 127 };
      const s = commands[key]!;
      return typeof s === "string" ? { stdout: s, stderr: "", exitCode: 0 } : { stdout: "", stderr: "", exitCode: 0, ...s };
    },
    readText: (file) => files[file],
    exists: (file) => file in files || (h.paths ?? []).includes(file),
    openable: (file) => (h.openable ?? ["/dev/kvm"]).includes(file),
    head,
    env: { HOME: "/home/u", XDG_CACHE_HOME: "/home/u/.cache", ...h.env },
    platform: "linux",
    arch: "x64",
    uid: h.uid ?? 1000,
    nodeVersion: "20.17.0",
    totalMemBytes: (h.totalGiB ?? 32) * GIB,
    freeMemBytes: (h.freeGiB ?? 24) * GIB,
  };
  return { probes, ran, head };
}

function options(o: Partial<DoctorOptions> = {}): DoctorOptions {
  return {
    provider: "virtualbox",
    projectDir: "/home/u/dvc",
    clusterDir: "/home/u/dvc/.cluster",
    subnet: "192.168.56.0/24",
    nodes: [1, 2, 3].map((i) => ({ name: `node${i}`, memoryMb: 2048 })),
    python: "3.11",
    platform: "x86_64",
    online: false,
    ...o,
  };
}

function rowOf(rows: readonly CheckRow[], check: string): CheckRow {
  const r = rows.find((x) => x.check === check);
  if (!r) throw new Error(`no row "${check}" in: ${rows.map((x) => x.check).join(", ")}`);
  return r;
}

describe("doctor on scripted hosts", () => {
  it("a complete VirtualBox host is ready, and every row has its found value", async () => {
    const { probes } = fakeProbes({ files: { [RC]: `path = "${CACHE}/toolchain/providers"\n` }, paths: [`${CACHE}/toolchain/providers/registry.terraform.io/hashicorp/null`], env: { TF_CLI_CONFIG_FILE: RC } });
    const rows = await runChecks(options(), probes);
    expect(rows.map((r) => [r.check, r.status])).toEqual([
      ["node", "ok"], ["terraform", "ok"], ["terraform providers", "ok"], ["vagrant", "ok"], ["virtualbox", "ok"],
      ["virtualization", "ok"], ["subnet allowed", "ok"], ["subnet free", "ok"], ["disk", "ok"], ["memory", "ok"],
    ]);
    expect(rowOf(rows, "virtualbox").found).toBe("7.0.14r161095");
    expect(rowOf(rows, "disk").found).toBe("381.5 GiB free on /home (need 3 nodes × 3 GiB = 9.0 GiB)");
    expect(verdictOf(rows)).toBe("ready");
    expect(verdictLine("virtualbox", rows)).toBe("ready for virtualbox: all 10 checks ok");
  });

  it("missing VirtualBox is a failed row, not a crash", async () => {
    const { probes } = fakeProbes({ commands: { "VBoxManage --version": { exitCode: 127, stderr: "bash: VBoxManage: command not found" } } });
    const rows = await runChecks(options(), probes);
    expect(rowOf(rows, "virtualbox")).toMatchObject({ status: "fail", found: "not found" });
    expect(rowOf(rows, "virtualbox").fix).toMatch(/^install VirtualBox 6\.1 or newer/);
    expect(rowOf(rows, "subnet allowed").status).toBe("ok"); // the other checks still ran
    expect(verdictLine("virtualbox", rows)).toMatch(/^NOT READY for virtualbox: 1 failure \(virtualbox\)/);
  });

  it("VirtualBox older than 6.1 fails, naming the version", async () => {
    const { probes } = fakeProbes({ commands: { "VBoxManage --version": "6.0.24r139119\n" } });
    expect(rowOf(await runChecks(options(), probes), "virtualbox")).toEqual({
      check: "virtualbox", status: "fail", found: "6.0.24r139119", fix: "VirtualBox 6.0.24 is older than 6.1: upgrade it (7.x recommended)",
    });
  });

  it("an unloaded vboxdrv module is a warning with the command that loads it", async () => {
    const { probes } = fakeProbes({ commands: { "VBoxManage --version": "WARNING: The vboxdrv kernel module is not loaded.\n7.0.14r161095\n" } });
    const row = rowOf(await runChecks(options(), probes), "virtualbox");
    expect(row).toMatchObject({ status: "warn", found: "7.0.14r161095; the vboxdrv kernel module is not loaded" });
    expect(row.fix).toContain("sudo /sbin/vboxconfig");
  });

  it("a subnet outside VirtualBox's range fails with both ways out; networks.conf can allow it", async () => {
    const outside = await runChecks(options({ subnet: "10.10.0.0/24" }), fakeProbes().probes);
    expect(rowOf(outside, "subnet allowed")).toMatchObject({ status: "fail", found: "10.10.0.0/24 is outside 192.168.56.0/21 (VirtualBox default)" });
    expect(rowOf(outside, "subnet allowed").fix).toContain("echo '* 10.10.0.0/24' | sudo tee -a /etc/vbox/networks.conf");
    expect(rowOf(outside, "subnet allowed").fix).toContain("inside 192.168.56.0/21");

    const allowed = await runChecks(options({ subnet: "10.10.0.0/24" }), fakeProbes({ files: { "/etc/vbox/networks.conf": "* 10.0.0.0/8 192.168.0.0/16\n" } }).probes);
    expect(rowOf(allowed, "subnet allowed")).toMatchObject({ status: "ok", found: "10.10.0.0/24 inside 10.0.0.0/8 (/etc/vbox/networks.conf)" });
    // libvirt has no such rule: no row.
    expect((await runChecks(options({ provider: "libvirt", subnet: "10.10.0.0/24" }), fakeProbes().probes)).some((r) => r.check === "subnet allowed")).toBe(false);
  });

  it("a host route over the subnet fails naming the route and interface, and suggests a free subnet", async () => {
    const routes = [{ dst: "default", dev: "wlan0" }, { dst: "192.168.56.0/24", dev: "vboxnet3", protocol: "kernel" }, { dst: "192.168.57.0/24", dev: "docker0" }];
    const { probes } = fakeProbes({ commands: { "ip -j route": JSON.stringify(routes) } });
    const row = rowOf(await runChecks(options(), probes), "subnet free");
    expect(row.status).toBe("fail");
    expect(row.found).toBe("192.168.56.0/24 overlaps 192.168.56.0/24 dev vboxnet3 proto kernel (interface vboxnet3)");
    expect(row.fix).toContain("(e.g. 192.168.58.0/24)");
    expect(row.fix).toContain("remove vboxnet3 if it is a stale network");

    // The cluster's own network, once deployed, is not a clash.
    const own = fakeProbes({ commands: { "ip -j route": JSON.stringify(routes) }, files: { "/home/u/dvc/.cluster/network.json": JSON.stringify({ provider: "virtualbox", kind: "hostonlyif", name: "vboxnet3", subnet: "192.168.56.0/24", device: "vboxnet3" }) } });
    expect(rowOf(await runChecks(options(), own.probes), "subnet free")).toMatchObject({ status: "ok", found: "no host route overlaps 192.168.56.0/24 (besides this cluster's vboxnet3)" });
  });

  it("the local provider as a normal user fails the root check with how to run it", async () => {
    const { probes, ran } = fakeProbes({ uid: 1000 });
    const rows = await runChecks(options({ provider: "local" }), probes);
    expect(rows.map((r) => r.check)).toEqual(["node", "terraform", "terraform providers", "root", "iproute2", "python3.11", "memory"]);
    expect(rowOf(rows, "root")).toMatchObject({ status: "fail", found: "uid 1000" });
    expect(rowOf(rows, "root").fix).toContain("sudo -E");
    expect(ran.some((c) => c.startsWith("vagrant") || c.startsWith("VBoxManage"))).toBe(false);
    expect(rowOf(await runChecks(options({ provider: "local" }), fakeProbes({ uid: 0 }).probes), "root")).toMatchObject({ status: "ok", found: "uid 0" });
  });

  it("the local provider needs pythonX.Y of runtime.python with its venv module", async () => {
    const missing = rowOf(await runChecks(options({ provider: "local", python: "3.12" }), fakeProbes({ uid: 0 }).probes), "python3.12");
    expect(missing).toMatchObject({ status: "fail", found: "not found" });
    expect(missing.fix).toContain("sudo apt-get install python3.12 python3.12-venv");
    const noVenv = fakeProbes({ uid: 0, commands: { "python3.11 -c": { exitCode: 1, stderr: "ModuleNotFoundError: No module named 'venv'\n" } } });
    expect(rowOf(await runChecks(options({ provider: "local" }), noVenv.probes), "python3.11")).toMatchObject({ status: "fail", fix: "sudo apt-get install python3.11-venv" });
  });

  it("terraform: too old or absent fails; only tofu warns until TERRAFORM_BINARY_NAME names it", async () => {
    const old = fakeProbes({ commands: { "terraform version -json": JSON.stringify({ terraform_version: "1.4.6" }) } });
    const oldRow = rowOf(await runChecks(options(), old.probes), "terraform");
    expect(oldRow).toMatchObject({ status: "fail", found: "terraform 1.4.6; tofu not found" });
    expect(oldRow.fix).toMatch(/^terraform 1\.4\.6 is older than 1\.5: upgrade it/);
    expect(oldRow.fix).toContain("npm run setup");

    const none = fakeProbes({ commands: { "terraform version -json": { exitCode: 127 } } });
    expect(rowOf(await runChecks(options(), none.probes), "terraform")).toMatchObject({ status: "fail", found: "terraform not found; tofu not found" });

    const tofuCommands = { "terraform version -json": { exitCode: 127 }, "tofu version -json": JSON.stringify({ terraform_version: "1.10.6" }) };
    expect(rowOf(await runChecks(options(), fakeProbes({ commands: tofuCommands }).probes), "terraform")).toMatchObject({ status: "warn", found: "terraform not found; tofu 1.10.6" });
    expect(rowOf(await runChecks(options(), fakeProbes({ commands: tofuCommands, env: { TERRAFORM_BINARY_NAME: "tofu" } }).probes), "terraform").status).toBe("ok");
  });

  it("provider mirror: offline only reports it; --online asks the registry once and says npm run setup when it is down", async () => {
    const offline = fakeProbes({ registry: "down" });
    const row = rowOf(await runChecks(options(), offline.probes), "terraform providers");
    expect(offline.head).not.toHaveBeenCalled();
    expect(row).toMatchObject({ status: "warn" });
    expect(row.found).toContain(`no offline hashicorp/null mirror (${RC} missing)`);

    const down = fakeProbes({ registry: "down" });
    const downRow = rowOf(await runChecks(options({ online: true }), down.probes), "terraform providers");
    expect(down.head).toHaveBeenCalledTimes(1);
    expect(down.head).toHaveBeenCalledWith("https://registry.terraform.io/.well-known/terraform.json", 3000);
    expect(downRow.status).toBe("warn");
    expect(downRow.found).toContain("registry.terraform.io unreachable (ENOTFOUND)");
    expect(downRow.fix).toContain("npm run setup");

    expect(rowOf(await runChecks(options({ online: true }), fakeProbes({ registry: "up" }).probes), "terraform providers").status).toBe("ok");

    const unexported = fakeProbes({ files: { [RC]: `path = "${CACHE}/toolchain/providers"\n` }, paths: [`${CACHE}/toolchain/providers/registry.terraform.io/hashicorp/null`] });
    const unexportedRow = rowOf(await runChecks(options(), unexported.probes), "terraform providers");
    expect(unexportedRow).toMatchObject({ status: "warn", found: `offline mirror at ${CACHE}/toolchain/providers, but TF_CLI_CONFIG_FILE is not set` });
    expect(unexportedRow.fix).toContain(`export TF_CLI_CONFIG_FILE=${RC}`);
  });

  it("no VT-x/AMD-V fails with the firmware setting, or nested virtualization inside a VM", async () => {
    const bare = rowOf(await runChecks(options(), fakeProbes({ files: { "/proc/cpuinfo": "flags\t: fpu sse2\n" } }).probes), "virtualization");
    expect(bare).toMatchObject({ status: "fail", found: "no vmx or svm flag in /proc/cpuinfo" });
    expect(bare.fix).toMatch(/Intel VT-x .* AMD-V .* firmware \(BIOS\/UEFI\)/);
    const guest = rowOf(await runChecks(options(), fakeProbes({ files: { "/proc/cpuinfo": "flags\t: fpu sse2 hypervisor\n" } }).probes), "virtualization");
    expect(guest.found).toContain("(running inside a VM)");
    expect(guest.fix).toContain("enable nested virtualization");
    expect(rowOf(await runChecks(options(), fakeProbes({ files: { "/proc/cpuinfo": "flags\t: fpu svm\n" } }).probes), "virtualization").found).toBe("svm (AMD-V) in /proc/cpuinfo");
  });

  it("libvirt: virsh, qemu-system-<arch>, the vagrant-libvirt plugin and /dev/kvm", async () => {
    const host = fakeProbes({
      commands: { "virsh --version": "9.0.0\n", "qemu-system-aarch64 --version": "QEMU emulator version 7.2.5\n", "vagrant plugin list": "vagrant-share (2.0.0, global)\n" },
      paths: ["/dev/kvm"],
      openable: [],
    });
    const rows = await runChecks(options({ provider: "libvirt", platform: "aarch64" }), host.probes);
    expect(rows.map((r) => r.check)).toEqual(["node", "terraform", "terraform providers", "vagrant", "virsh", "qemu-system-aarch64", "vagrant-libvirt", "/dev/kvm", "virtualization", "subnet free", "disk", "memory"]);
    expect(rowOf(rows, "virsh")).toMatchObject({ status: "ok", found: "9.0.0" });
    expect(rowOf(rows, "qemu-system-aarch64")).toMatchObject({ status: "ok", found: "QEMU emulator version 7.2.5" });
    expect(rowOf(rows, "vagrant-libvirt")).toMatchObject({ status: "fail", found: "not installed" });
    expect(rowOf(rows, "vagrant-libvirt").fix).toMatch(/^vagrant plugin install vagrant-libvirt/);
    expect(rowOf(rows, "/dev/kvm")).toMatchObject({ status: "fail", found: "present, but this user may not open it" });
    expect(rowOf(rows, "/dev/kvm").fix).toContain("usermod -aG kvm");
    expect(host.ran).toContain("qemu-system-aarch64 --version");

    const ok = fakeProbes({ commands: { "virsh --version": "9.0.0\n", "qemu-system-x86_64 --version": "QEMU emulator version 7.2.5\n", "vagrant plugin list": "vagrant-libvirt (0.12.2, global)\n" } });
    const okRows = await runChecks(options({ provider: "libvirt" }), ok.probes);
    expect(rowOf(okRows, "vagrant-libvirt")).toMatchObject({ status: "ok", found: "vagrant-libvirt (0.12.2, global)" });
    expect(verdictOf(okRows)).not.toBe("not ready");
  });

  it("disk and memory: VMs that do not fit fail; local namespaces only warn", async () => {
    const small = fakeProbes({ commands: { "df -Pk": "Filesystem 1024-blocks Used Available Capacity Mounted on\n/dev/sda1 100 90 4194304 90% /\n" }, totalGiB: 6, freeGiB: 5 });
    const rows = await runChecks(options(), small.probes);
    expect(rowOf(rows, "disk")).toMatchObject({ status: "fail", found: "4.0 GiB free on / (need 3 nodes × 3 GiB = 9.0 GiB)", fix: "free 5.0 GiB on /, or lower nodes.count" });
    expect(rowOf(rows, "memory")).toMatchObject({ status: "fail", found: "6.0 GiB total, 5.0 GiB available (need 6.0 GiB for 3 nodes + 2.0 GiB for the host)" });
    expect(small.ran).toContain("df -Pk /home/u/dvc");
    const local = await runChecks(options({ provider: "local" }), fakeProbes({ uid: 0, totalGiB: 6, freeGiB: 5 }).probes);
    expect(rowOf(local, "memory").status).toBe("warn");
    expect(local.some((r) => r.check === "disk")).toBe(false);
    const busy = await runChecks(options(), fakeProbes({ totalGiB: 16, freeGiB: 4 }).probes);
    expect(rowOf(busy, "memory")).toMatchObject({ status: "warn" });
  });

  it("a command that times out is a row too", async () => {
    const { probes } = fakeProbes({ commands: { "vagrant --version": { exitCode: 124, stderr: "timed out after 20 s" } } });
    expect(rowOf(await runChecks(options(), probes), "vagrant")).toMatchObject({ status: "fail", found: "`vagrant --version` did not answer in time" });
  });

  it("renders an aligned table with what to do under each problem", () => {
    const rows: CheckRow[] = [
      { check: "node", status: "ok", found: "v20.17.0", fix: "" },
      { check: "subnet free", status: "fail", found: "overlaps x", fix: "pick another" },
    ];
    expect(renderTable(rows)).toBe(
      ["check        status  found / what to do", "-----------  ------  ------------------", "node         ok      v20.17.0", "subnet free  fail    overlaps x", "                     → pick another"].join("\n"),
    );
  });
});

describe("parsers", () => {
  it("versions, routes and df", () => {
    expect(parseVersion("Vagrant 2.3.4")).toEqual([2, 3, 4]);
    expect(parseVersion("7.1.4r165100")).toEqual([7, 1, 4]);
    expect(parseVersion("none")).toBeUndefined();
    expect(parseIpRoutes('[{"dst":"default","dev":"eth0"},{"dst":"10.1.2.3","dev":"tun0"}]').map((r) => [r.dst.text, r.dev])).toEqual([["10.1.2.3/32", "tun0"]]);
    expect(parseIpRoutes("not json")).toEqual([]);
    expect(parseDf("Filesystem 1024-blocks Used Available Capacity Mounted on\n/dev/x 10 5 2048 50% /mnt/my disk\n")).toEqual({ availableBytes: 2048 * 1024, mount: "/mnt/my disk" });
  });
});

describe("doctor on this machine", () => {
  it("the real probes run commands with nothrow and a timeout: missing and hung programs become results", async () => {
    const p = realProbes();
    expect((await p.run(["dvc-no-such-program", "--version"])).exitCode).toBe(127);
    const t0 = performance.now();
    const hung = await p.run(["sleep", "10"], 300);
    expect(hung.exitCode).toBe(124);
    expect(hung.stderr).toContain("timed out after 0.3 s");
    expect(performance.now() - t0).toBeLessThan(5000);
  });

  it("for the local provider: node, terraform, root and python are ok (root, Python 3.11 here)", async () => {
    const cluster = resolveCluster({ provider: "local" }, root);
    const rows = await runChecks(optionsFor(cluster), realProbes());
    for (const check of ["node", "terraform", "root", "python3.11", "iproute2"]) {
      expect(rowOf(rows, check), JSON.stringify(rows, null, 2)).toMatchObject({ status: "ok", fix: "" });
    }
    expect(rowOf(rows, "node").found).toBe(`v${process.versions.node}`);
    expect(rowOf(rows, "terraform").found).toMatch(/^terraform \d+\.\d+\.\d+/);
    expect(rowOf(rows, "python3.11").found).toMatch(/^3\.11\.\d+$/);
    expect(rowOf(rows, "root").found).toBe("uid 0");
  });

  it("the CLI: --json for the local provider exits 0, bad arguments exit 2", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "dvc-doctor-"));
    try {
      const config = path.join(dir, "cluster.config.json");
      writeFileSync(config, JSON.stringify({ provider: "local" }));
      const env = { ...process.env, CLUSTER_CONFIG: config };
      const r = await $({ cwd: root, env, nothrow: true, quiet: true, timeout: 60_000 })`node_modules/.bin/tsx provision/doctor.ts --json`;
      expect(r.exitCode, r.stderr).toBe(0);
      const report = JSON.parse(r.stdout) as { provider: string; verdict: string; rows: CheckRow[] };
      expect(report.provider).toBe("local");
      expect(report.verdict).not.toBe("not ready");
      expect(report.rows.map((x) => x.check)).toContain("python3.11");

      const table = await $({ cwd: root, env, nothrow: true, quiet: true, timeout: 60_000 })`node_modules/.bin/tsx provision/doctor.ts --provider local`;
      expect(table.stdout).toMatch(/^check\s+status\s+found \/ what to do$/m);
      expect(table.stdout).toMatch(/^node\s+ok\s+v\d+/m);
      expect(table.stdout.trim().split("\n").pop()).toMatch(/^ready for local/);

      const bad = await $({ cwd: root, env, nothrow: true, quiet: true })`node_modules/.bin/tsx provision/doctor.ts --provider docker`;
      expect(bad.exitCode).toBe(2);
      expect(bad.stderr).toContain("use one of: virtualbox, libvirt, local");
      expect(bad.stderr).not.toMatch(/\bat .*\.ts:\d+/);
      const unknown = await $({ cwd: root, env, nothrow: true, quiet: true })`node_modules/.bin/tsx provision/doctor.ts --frobnicate`;
      expect(unknown.exitCode).toBe(2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
