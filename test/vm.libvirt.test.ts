// The full lifecycle on real VMs: 3 Debian 12 VMs created by Vagrant + vagrant-libvirt
// (qemu emulation where hardware KVM is missing) through the real stack. cdktf deploy
// (box from provision/machines/libvirt/build-test-box.sh's cache, benchmark at small size), npm run
// verify-versions, each worker registered on its VM's private IP, npm run benchmark at
// small size with placement work on all three VMs, every VM powered off (virsh destroy)
// and cdktf deploy bringing the cluster back, npm run stop and start, cdktf destroy, and
// nothing left
// (domains, networks, volumes, Vagrant's machine index, qemu processes).
//
// Not part of `npm test`: run it with `npm run test:vm` (root; ~15 min under emulation on
// 2 cores). On a shared machine: flock /tmp/dvc-heavy.lock npm run test:vm.
// Where libvirt/qemu cannot run at all (not Linux, not root, libvirtd does not start),
// it prints "vm.libvirt: skipped: <reason>" and passes.
// Timings go to test-output/vm-libvirt-timings.json, the benchmark's report to
// test-output/vm-libvirt-report.md.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn, spawnSync } from "node:child_process";
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import { stripVTControlCharacters } from "node:util";
import path from "node:path";
import { makeProject, tail, REPO, type TestProject } from "./helpers/project.js";
import { residue, type Residue } from "./helpers/residue.js";
import { cdktfEnv } from "./helpers/terraform.js";
import { clusterRefOf } from "../provision/core/stage-spec.js";
import { runProcess } from "../provision/host/process.js";
import { readStageTimes } from "../provision/bench/stage-times.js";
import { stageGroups, stageRunsOf } from "../provision/bench/deploy-results.js";
import { cacheDir } from "../provision/host/paths.js";
import { realHost } from "../provision/host/host.js";
import { waitForWorkers } from "../provision/services/probe.js";
import { libvirtProvider } from "../provision/machines/libvirt/provider.js";
import type { Results } from "../provision/bench/results-schema.js";

const NODES = ["node1", "node2", "node3"] as const;
const SUBNET = "192.168.60.0/24";
const IPS = ["192.168.60.11", "192.168.60.12", "192.168.60.13"];

// Asynchronous, as everything slow here: on a new machine the host setup installs Debian
// packages for minutes, and a worker blocked that long makes vitest's own RPC time out
// ("Timeout calling onTaskUpdate") although every test passes.
async function why(): Promise<string | undefined> {
  if (process.platform !== "linux") return `libvirt with qemu needs Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0)
    return "this suite needs root (it starts libvirtd, builds the box with debootstrap, and defines networks)";
  const setup = await runProcess(
    ["bash", path.join(REPO, "provision", "machines", "libvirt", "setup-libvirt-host.sh")],
    { echo: true, timeoutMs: 1_800_000 },
  );
  if (setup.exitCode === 3)
    return (setup.stderr.trim().split("\n").pop() ?? "").replace(/^cannot run libvirt: /, "libvirt cannot run here: ");
  if (setup.exitCode !== 0)
    throw new Error(
      `provision/machines/libvirt/setup-libvirt-host.sh failed (exit ${setup.exitCode}):\n${setup.stderr}`,
    );
  const caps = await runProcess(["virsh", "--connect", "qemu:///system", "domcapabilities", "--virttype", "qemu"]);
  if (caps.exitCode !== 0)
    return `qemu cannot run under libvirt here: ${(caps.stderr || caps.stdout).trim().split("\n").pop()}`;
  return undefined;
}

const skip = await why();
if (skip) console.log(`vm.libvirt: skipped: ${skip}`);

const virsh = (...args: string[]) => spawnSync("virsh", ["--connect", "qemu:///system", ...args], { encoding: "utf8" });
const names = (out: string) =>
  out
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean)
    .sort();
const domains = () => names(virsh("list", "--all", "--name").stdout);
const networks = () => names(virsh("net-list", "--all", "--name").stdout);
const volumes = () =>
  virsh("vol-list", "default")
    .stdout.split("\n")
    .slice(2)
    .map((l) => l.trim().split(/\s+/)[0] ?? "")
    .filter(Boolean)
    .sort();
const qemuProcesses = (needle: string) =>
  spawnSync("ps", ["-eo", "pid,args"], { encoding: "utf8" })
    .stdout.split("\n")
    .filter((l) => l.includes("qemu-system") && l.includes(needle));
const globalStatus = () =>
  spawnSync("vagrant", ["global-status", "--prune"], {
    encoding: "utf8",
    env: { ...process.env, VAGRANT_NO_COLOR: "1", VAGRANT_CHECKPOINT_DISABLE: "1" },
  }).stdout;
const boxList = () =>
  spawnSync("vagrant", ["box", "list"], { encoding: "utf8", env: { ...process.env, VAGRANT_CHECKPOINT_DISABLE: "1" } })
    .stdout;

const BOOT_DIR = "/var/lib/libvirt/boot";
const bootCopies = () =>
  existsSync(BOOT_DIR)
    ? readdirSync(BOOT_DIR)
        .filter((f) => f.startsWith("dvc-"))
        .sort()
    : [];

interface Timings {
  boxBuild?: { seconds: number; cached: boolean; builtAt?: string; sizeMiB?: number };
  coldDeploy?: number;
  deployToWorkersRegistered?: number;
  verifyVersions?: number;
  coldDeployToVerifiedWorkers?: number;
  benchmark?: number;
  /** npm run diagnose and npm run lab -- nat-trap, together. */
  natTrapLab?: number;
  /** npm run data -- push and npm run submit of a small script, together. */
  submit?: number;
  destroy?: number;
  /** Every VM powered off with virsh destroy, then cdktf deploy: seconds, and the stages the plan listed. */
  deployAfterPowerOff?: { seconds: number; repaired: string[] };
  stop?: number;
  start?: number;
  placement?: Record<string, number>;
  workers?: Record<string, string>;
  vmCpuModel?: string;
  remained?: Record<string, string[]>;
  host?: { cpus: number; loadAtStart: number[]; loadAtEnd?: number[] };
  /**
   * Per cdktf command (cold deploy, deploy after power-off, destroy): each stage's processes, load and work summed, and
   * when (bench/deploy-results.ts).
   */
  stages?: Record<string, { stage: string; processes: number; load: number; work: number; from: number; to: number }[]>;
  when?: string;
}
const timings: Timings = {};

/** Each stage of a cdktf command, grouped by stage (every node's together), from the times its processes recorded. */
function stageBreakdown(label: string, file: string, t0: number): void {
  const stages = stageRunsOf(readStageTimes(file), t0);
  const round = (x: number) => Math.round(x * 10) / 10;
  timings.stages ??= {};
  timings.stages[label] = stageGroups({ seconds: 0, firstStage: null, stages }).map((g) => ({
    ...g,
    load: round(g.load),
    work: round(g.work),
    from: round(g.from),
    to: round(g.to),
  }));
  rmSync(file, { force: true });
}

/** cdktf deploy/destroy with each output line timestamped (seconds since start); its stages' times under `label`. */
function cdktfTimed(
  p: TestProject,
  verb: "deploy" | "destroy",
  label: string = verb,
): Promise<{ code: number; lines: { t: number; line: string }[]; seconds: number }> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const wall0 = Date.now();
    const stageFile = path.join(REPO, "test-output", `vm-stage-times-${label}.jsonl`);
    const lines: { t: number; line: string }[] = [];
    // The whole output, as it comes, for whoever watches or debugs the run.
    const logFile = path.join(REPO, "test-output", "vm-libvirt-cdktf.log");
    mkdirSync(path.dirname(logFile), { recursive: true });
    rmSync(stageFile, { force: true });
    const env = cdktfEnv({ DVC_STAGE_TIMES: stageFile });
    const child = spawn("node_modules/.bin/cdktf", [verb, "--auto-approve"], {
      cwd: p.dir,
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let buf = "";
    const take = (b: Buffer) => {
      buf += b.toString();
      const parts = buf.split("\n");
      buf = parts.pop() ?? "";
      for (const line of parts) {
        const t = (performance.now() - t0) / 1000;
        lines.push({ t, line });
        appendFileSync(logFile, `[${verb} +${t.toFixed(1)}s] ${line}\n`);
      }
    };
    child.stdout.on("data", take);
    child.stderr.on("data", take);
    child.on("close", (code) => {
      if (buf) lines.push({ t: (performance.now() - t0) / 1000, line: buf });
      stageBreakdown(label, stageFile, wall0);
      resolve({ code: code ?? 1, lines, seconds: (performance.now() - t0) / 1000 });
    });
  });
}
const lastLines = (lines: { line: string }[], n = 60) =>
  lines
    .slice(-n)
    .map((l) => l.line)
    .join("\n");

describe.skipIf(!!skip)("libvirt provider: 3 real VMs, deploy to destroy", () => {
  let p: TestProject;
  let before: {
    domains: string[];
    networks: string[];
    volumes: string[];
    boxes: string;
    boot: string[];
    files: Residue;
  };
  let boxName = "";
  let boxAdded = false;

  beforeAll(async () => {
    timings.when = new Date().toISOString();
    rmSync(path.join(REPO, "test-output", "vm-libvirt-cdktf.log"), { force: true });
    timings.host = { cpus: os.cpus().length, loadAtStart: os.loadavg().map((x) => Math.round(x * 100) / 100) };
    // The box: built here from Debian packages (cached outside the repo by its recipe hash).
    const t0 = performance.now();
    // The same cache folder as everything else (provision/host/paths.ts), and the build run
    // without blocking this process: a blocked event loop for minutes makes vitest's own
    // RPC time out ("Timeout calling onTaskUpdate") although every test passes.
    const env = { ...process.env, DVC_CACHE_DIR: cacheDir() };
    const script = path.join(REPO, "provision", "machines", "libvirt", "build-test-box.sh");
    const cachedBefore = (await runProcess(["bash", script, "--print"], { env })).exitCode === 0;
    const build = await runProcess(["bash", script], { env, timeoutMs: 1_800_000, echo: true });
    if (build.exitCode !== 0)
      throw new Error(`provision/machines/libvirt/build-test-box.sh failed with exit ${build.exitCode}`);
    const box = build.stdout.trim().split("\n").pop()!;
    const facts = JSON.parse(readFileSync(box.replace(/\.box$/, ".json"), "utf8")) as {
      recipeHash: string;
      seconds: { total: number };
      builtAt: string;
      sizeMiB: number;
    };
    timings.boxBuild = cachedBefore
      ? { seconds: facts.seconds.total, cached: true, builtAt: facts.builtAt, sizeMiB: facts.sizeMiB }
      : {
          seconds: Math.round((performance.now() - t0) / 1000),
          cached: false,
          builtAt: facts.builtAt,
          sizeMiB: facts.sizeMiB,
        };
    boxName = `dvc/debian12-${facts.recipeHash}`;

    before = {
      domains: domains(),
      networks: networks(),
      volumes: volumes(),
      boxes: boxList(),
      boot: bootCopies(),
      files: undefined as unknown as Residue,
    };
    boxAdded = !before.boxes.includes(boxName);
    p = makeProject(
      {
        provider: "libvirt",
        box: { name: boxName, url: box },
        nodes: { count: 3, cpus: 1, memoryMb: 1536 },
        network: { subnet: SUBNET },
        benchmark: { onDeploy: true, size: "small", workloads: ["inc-sleep", "placement"] },
      },
      "dvc-vm-",
    );
    before.files = await residue(p.dir, p.cluster.id, IPS);
  }, 1_800_000);

  afterAll(async () => {
    try {
      if (p) {
        // Whatever happened above, leave the host as it was.
        if (existsSync(path.join(p.dir, ".cluster", "terraform.tfstate"))) {
          const d = await cdktfTimed(p, "destroy");
          if (d.code !== 0) console.error(`afterAll: cdktf destroy failed:\n${lastLines(d.lines)}`);
        }
        for (const dom of domains().filter((d) => d.startsWith(`${p.cluster.id}-`))) {
          virsh("destroy", dom);
          virsh("undefine", dom, "--remove-all-storage");
        }
        for (const net of networks().filter((n) => !before.networks.includes(n))) {
          virsh("net-destroy", net);
          virsh("net-undefine", net);
        }
        for (const vol of volumes().filter((v) => v.startsWith(`${p.cluster.id}-`)))
          virsh("vol-delete", vol, "--pool", "default");
        p.remove();
        globalStatus();
      }
      // The box this run added to Vagrant and uploaded to the pool: a later run adds it again.
      if (boxAdded && boxName) {
        spawnSync("vagrant", ["box", "remove", "--force", "--all", "--provider", "libvirt", boxName], {
          encoding: "utf8",
        });
        for (const vol of volumes().filter(
          (v) => !before?.volumes.includes(v) && v.includes(boxName.replace("/", "-VAGRANTSLASH-")),
        ))
          virsh("vol-delete", vol, "--pool", "default");
        // The kernel and initrd the box's Vagrantfile copied where qemu can read them.
        for (const f of bootCopies().filter((f) => !before?.boot.includes(f)))
          rmSync(path.join(BOOT_DIR, f), { force: true });
      }
    } finally {
      if (timings.host) timings.host.loadAtEnd = os.loadavg().map((x) => Math.round(x * 100) / 100);
      mkdirSync(path.join(REPO, "test-output"), { recursive: true });
      writeFileSync(path.join(REPO, "test-output", "vm-libvirt-timings.json"), `${JSON.stringify(timings, null, 2)}\n`);
      console.log("vm.libvirt timings:", JSON.stringify(timings));
    }
  }, 900_000);

  it("cdktf deploy creates 3 VMs on the isolated network, installs, gates, starts the services and runs the benchmark", async () => {
    const d = await cdktfTimed(p, "deploy", "coldDeploy");
    timings.coldDeploy = Math.round(d.seconds);
    const log = d.lines.map((l) => l.line).join("\n");
    expect(d.code, lastLines(d.lines)).toBe(0);
    // Workers registered and the version gate passed: the moment the benchmark stage starts.
    // The benchmark's converge resource: the one that runs it (null_resource.benchmark is made at once).
    const benchStart = d.lines.find((l) => /null_resource\.converge-benchmark[^:]*: Creating/.test(l.line));
    timings.deployToWorkersRegistered = Math.round(benchStart?.t ?? d.seconds);
    for (const [k, n] of NODES.entries())
      expect(log).toMatch(
        new RegExp(`\\[${n}\\] registered with the scheduler as tls://${IPS[k]!.replace(/\./g, "\\.")}:8788`),
      );
    expect(domains().filter((x) => x.startsWith(`${p.cluster.id}-`))).toEqual(NODES.map((n) => `${p.cluster.id}-${n}`));
    // The VMs have no route out: no <forward> on any network they are attached to.
    for (const net of networks().filter((n) => !before.networks.includes(n))) {
      expect(virsh("net-dumpxml", net).stdout, `network ${net}`).not.toMatch(/<forward/);
    }
  }, 1_800_000);

  it("npm run verify-versions: identical on the 3 VMs", async () => {
    const t0 = performance.now();
    const v = await p.sh(["npm", "run", "--silent", "verify-versions"]);
    timings.verifyVersions = Math.round((performance.now() - t0) / 1000);
    expect(v.exitCode, tail(v)).toBe(0);
    timings.coldDeployToVerifiedWorkers = (timings.deployToWorkersRegistered ?? 0) + timings.verifyVersions;
    expect(v.stdout).toMatch(/identical: 3 nodes run Python 3\.11/);
  }, 600_000);

  it("each worker is registered on its own VM's private IP, and the VMs have no default route", async () => {
    const ref = clusterRefOf(p.cluster);
    const provider = libvirtProvider(realHost());
    const workers = await waitForWorkers(
      provider.transport(ref, ref.head),
      p.cluster.schedulerAddress,
      true,
      [...NODES],
      60,
    );
    timings.workers = Object.fromEntries(workers.map((w) => [w.name, w.address]));
    expect(workers.map((w) => [w.name, w.host]).sort()).toEqual(NODES.map((n, k) => [n, IPS[k]]));
    for (const node of ref.nodes) {
      const r = await provider
        .transport(ref, node)
        .run("hostname; ip -4 route show default; ip -o -4 addr show | awk '{print $4}'", { nothrow: true });
      expect(r.exitCode, r.stderr).toBe(0);
      const [hostname, ...rest] = r.stdout.trim().split("\n");
      expect(hostname).toBe(node.name);
      expect(rest.join("\n")).not.toMatch(/^default/m);
      expect(rest).toContain(`${node.ip}/24`);
    }
  }, 600_000);

  it("npm run benchmark (small): placement work on all three VMs", async () => {
    const t0 = performance.now();
    const b = await p.sh([
      "npm",
      "run",
      "--silent",
      "benchmark",
      "--",
      "--size",
      "small",
      "--workloads",
      "inc-sleep,placement",
    ]);
    timings.benchmark = Math.round((performance.now() - t0) / 1000);
    expect(b.exitCode, tail(b)).toBe(0);
    const results = JSON.parse(readFileSync(path.join(p.dir, "results", "latest", "results.json"), "utf8")) as Results;
    const placement = results.workloads.placement!;
    timings.placement = Object.fromEntries(placement.perNode.map((n) => [n.node, n.tasks]));
    expect(placement.perNode.map((n) => n.node).sort()).toEqual([...NODES]);
    for (const n of placement.perNode) expect(n.tasks, `${n.node} ran no placement task`).toBeGreaterThan(0);
    // The workers really are the VMs: their own hostnames and private IPs, an emulated CPU.
    const hw = results.hardware.map((h) => [h.name, h.host, h.hostname]).sort();
    expect(hw).toEqual(NODES.map((n, k) => [n, IPS[k], n]));
    timings.vmCpuModel = results.hardware[0]!.cpuModel;
    const report = readFileSync(path.join(p.dir, "results", "latest", "report.md"), "utf8");
    for (const n of NODES) expect(report).toContain(n);
    // Kept for whoever reads the run: the project folder goes at the end.
    writeFileSync(path.join(REPO, "test-output", "vm-libvirt-report.md"), report);
  }, 900_000);

  it("your own work on the VMs: data to every VM, a submitted script with a module of its folder computing on all three, its output back", async () => {
    const work = path.join(path.dirname(p.dir), "mon travail");
    mkdirSync(path.join(work, "lib"), { recursive: true });
    mkdirSync(path.join(work, "input"), { recursive: true });
    writeFileSync(path.join(work, "input", "numbers.txt"), "1\n2\n3\n");
    writeFileSync(path.join(work, "lib", "helpers.py"), "def square(x):\n    return x * x\n");
    writeFileSync(
      path.join(work, "job.py"),
      "import socket, sys\nfrom distributed import Client\nfrom dask_vm_runtime import data_dir, output_dir\nfrom lib.helpers import square\n\n" +
        "def on_node(x):\n    return socket.gethostname(), square(x) + sum(int(v) for v in (data_dir() / 'input' / 'numbers.txt').read_text().split())\n\n" +
        "client = Client()\nres = client.gather(client.map(on_node, range(30), pure=False))\nprint('hosts', ' '.join(sorted({h for h, _ in res})), 'total', sum(v for _, v in res))\n" +
        "(output_dir() / 'total.txt').write_text(str(sum(v for _, v in res)))\nsys.exit(4)\n",
    );
    const t0 = performance.now();
    const push = await p.sh(["npm", "run", "--silent", "data", "--", "push", path.join(work, "input")]);
    expect(push.exitCode, tail(push)).toBe(0);
    const r = await p.sh(["npm", "run", "--silent", "submit", "--", path.join(work, "job.py")]);
    timings.submit = Math.round((performance.now() - t0) / 1000);
    expect(r.exitCode, tail(r)).toBe(4);
    const total = Array.from({ length: 30 }, (_, x) => x * x + 6).reduce((a, b) => a + b, 0);
    expect(r.stdout).toContain(`hosts node1 node2 node3 total ${total}`);
    const job = readdirSync(path.join(p.dir, "results", "submit"))[0]!;
    expect(readFileSync(path.join(p.dir, "results", "submit", job, "output", "total.txt"), "utf8")).toBe(String(total));
  }, 1_800_000);

  it("the learner's lab on the VMs: diagnose healthy, the nat-trap lab from one node's results to all, diagnose healthy again", async () => {
    const t0 = performance.now();
    const d = await p.sh(["npm", "run", "--silent", "diagnose"]);
    expect(d.exitCode, tail(d)).toBe(0);
    const r = await p.sh(["npm", "run", "--silent", "lab", "--", "nat-trap"]);
    timings.natTrapLab = Math.round((performance.now() - t0) / 1000);
    const out = `${r.stdout}\n${r.stderr}`;
    expect(r.exitCode, tail(r, 60)).toBe(0);
    expect(out).toMatch(/node2: 10\.0\.2\.15 added on lo/);
    expect(out).toContain("advertise the same IP, 10.0.2.15");
    expect(out).toMatch(/all 30 results back in [\d.]+ s, computed by node1 \d+, node2 \d+, node3 \d+/);
  }, 1_800_000);

  it("every VM powered off under the cluster (virsh destroy): cdktf deploy sees it, starts them and brings back 3 workers on their private IPs", async () => {
    for (const n of NODES) expect(virsh("destroy", `${p.cluster.id}-${n}`).status, `virsh destroy ${n}`).toBe(0);
    const d = await cdktfTimed(p, "deploy", "deployAfterPowerOff");
    const log = d.lines.map((l) => stripVTControlCharacters(l.line)).join("\n");
    expect(d.code, lastLines(d.lines)).toBe(0);
    const repaired = [...log.matchAll(/\[observed\] ([\w-]+) will be applied again: (.*)/g)].map((m) => m[1]!).sort();
    timings.deployAfterPowerOff = { seconds: Math.round(d.seconds), repaired };
    for (const n of NODES)
      expect(log).toMatch(
        new RegExp(`\\[observed\\] machine-${n} will be applied again: ${n} is stopped \\(virsh: shut off\\)`),
      );
    expect(repaired).toEqual(
      [
        "scheduler",
        "tls",
        "version-gate",
        ...NODES.flatMap((n) => [`install-${n}`, `machine-${n}`, `worker-${n}`]),
      ].sort(),
    );
    for (const [k, n] of NODES.entries())
      expect(log).toMatch(
        new RegExp(`\\[${n}\\] registered with the scheduler as tls://${IPS[k]!.replace(/\./g, "\\.")}:8788`),
      );
    // Nothing was made again: the disks kept the runtime.
    expect(log).not.toMatch(/installing bundle/);
  }, 1_800_000);

  it("npm run stop powers the VMs off (status: stopped), npm run start brings them back verified", async () => {
    const t0 = performance.now();
    const stop = await p.sh(["npm", "run", "--silent", "stop"]);
    timings.stop = Math.round((performance.now() - t0) / 1000);
    expect(stop.exitCode, tail(stop)).toBe(0);
    for (const n of NODES) expect(virsh("domstate", `${p.cluster.id}-${n}`).stdout.trim(), n).toBe("shut off");
    const status = await p.sh(["npm", "run", "--silent", "status"]);
    expect(status.exitCode).toBe(1);
    expect(status.stdout).toMatch(/stopped since .*npm run start brings it back/);
    const t1 = performance.now();
    const start = await p.sh(["npm", "run", "--silent", "start"]);
    timings.start = Math.round((performance.now() - t1) / 1000);
    expect(start.exitCode, tail(start)).toBe(0);
    expect(start.stdout).toMatch(
      /started and verified in .*3 workers registered, versions identical\ndashboard: http:\/\/192\.168\.60\.11:8787\/status/,
    );
    const ref = clusterRefOf(p.cluster);
    const provider = libvirtProvider(realHost());
    const workers = await waitForWorkers(
      provider.transport(ref, ref.head),
      p.cluster.schedulerAddress,
      true,
      [...NODES],
      60,
    );
    expect(workers.map((w) => [w.name, w.host]).sort()).toEqual(NODES.map((n, k) => [n, IPS[k]]));
  }, 1_800_000);

  it("cdktf destroy leaves no domain, network, volume, Vagrant machine or qemu process behind", async () => {
    const d = await cdktfTimed(p, "destroy", "destroy");
    timings.destroy = Math.round(d.seconds);
    expect(d.code, lastLines(d.lines)).toBe(0);
    const boxVolume = (v: string) => v.includes(boxName.replace("/", "-VAGRANTSLASH-"));
    const remained = {
      domains: domains().filter((x) => !before.domains.includes(x)),
      networks: networks().filter((x) => !before.networks.includes(x)),
      volumes: volumes().filter((x) => !before.volumes.includes(x) && !boxVolume(x)),
      boxCacheVolumes: volumes().filter((x) => !before.volumes.includes(x) && boxVolume(x)),
      vagrantMachines: globalStatus()
        .split("\n")
        .filter((l) => l.includes(p.dir)),
      qemuProcesses: qemuProcesses(p.cluster.id),
    };
    timings.remained = remained;
    expect(remained.domains).toEqual([]);
    expect(remained.networks).toEqual([]);
    expect(remained.volumes).toEqual([]);
    expect(remained.vagrantMachines).toEqual([]);
    expect(remained.qemuProcesses).toEqual([]);
    const after = await residue(p.dir, p.cluster.id, IPS);
    expect(after.processes).toEqual([]);
    expect(after.hostListeners).toEqual(before.files.hostListeners);
    expect(after.files).toEqual(before.files.files);
    expect(existsSync(path.join(p.dir, ".cluster", "machines.json"))).toBe(false);
    expect(existsSync(path.join(p.dir, "results", "latest", "results.json"))).toBe(true);
  }, 900_000);
});
