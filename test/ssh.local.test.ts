// Provider ssh on three machines it did not make: network namespaces on this machine, each
// with a real sshd (Debian's openssh-server), a user, a home and a host key of its own
// (test/helpers/ssh-lab.ts). First what preflight refuses, naming the host, with nothing
// changed on any host: a host key that changed, a key the host refuses, a bind address the
// host does not have, another Python (patch level, then minor). Then the same cdktf deploy
// as every provider: services as the hosts' users, verify-versions identical, the
// benchmark's placement on all three, a submitted script; then cdktf destroy, and each
// host exactly as before (its user's files, processes, listening sockets). Needs root.
import { existsSync, readdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { $ } from "zx";
import { stateFile } from "../provision/state/deployed.js";
import { sshControlDir } from "../provision/machines/ssh-transport.js";
import { makeProject, tail, type TestProject } from "./helpers/project.js";
import { writeTestOutput } from "./helpers/test-output.js";
import { interrupt, startUntil } from "./helpers/long-running.js";
import { labUnavailable, makeSshLab, type HostState, type SshLab } from "./helpers/ssh-lab.js";

// biome-ignore lint/suspicious/noExplicitAny: results.json, walked freely in assertions
type Any = any;
const why = labUnavailable();
if (why) console.log(`ssh.local: skipped: ${why}`);
const timings: Record<string, number> = {};

describe.runIf(!why)("provider ssh on three machines of their own", () => {
  let lab: SshLab;
  let p: TestProject;
  let before: HostState[];
  let initialSockets: string[];
  const config = (overrides: { bind?: Record<number, string> } = {}) => ({
    provider: "ssh",
    nodes: { cpus: 1, memoryMb: 1536 },
    ssh: {
      hosts: lab.hosts.map((h, i) => ({
        address: h.ip,
        user: h.user,
        identityFile: lab.key,
        ...(overrides.bind?.[i] ? { bind: overrides.bind[i] } : {}),
      })),
      knownHosts: lab.knownHosts,
    },
    benchmark: { onDeploy: false },
  });
  const npm = (script: string, args: string[] = []) =>
    p.sh(["node_modules/.bin/tsx", "provision/cli.ts", script, ...args]);
  const snapshots = () => Promise.all(lab.hosts.map((h) => lab.snapshot(h)));
  const sshDir = () => path.join(p.dir, ".cluster", "ssh");
  const sockets = () => {
    const dir = sshControlDir("linux", 0);
    return dir && existsSync(dir) ? readdirSync(dir).sort() : [];
  };

  /**
   * A deploy refused in preflight: exit non-zero, the host and the why in its output, every host as it was, nothing
   * recorded.
   */
  async function refused(expectation: RegExp): Promise<string> {
    const d = await p.cdktf("deploy");
    const out = `${d.out.stdout}\n${d.out.stderr}`;
    expect(d.out.exitCode, tail(d.out, 40)).not.toBe(0);
    expect(out).toMatch(/preflight for provider ssh failed: this host cannot run the cluster yet/);
    expect(out).toMatch(expectation);
    expect(await snapshots()).toEqual(before);
    // No machine stage ran: none recorded a host as set up.
    expect(existsSync(sshDir()) ? readdirSync(sshDir()).filter((f) => f.endsWith(".json")) : []).toEqual([]);
    return out;
  }

  beforeAll(async () => {
    lab = await makeSshLab(3, "dvcssh");
    before = await snapshots();
    initialSockets = sockets();
    p = makeProject({}, "dvc-ssh-");
  }, 120_000);

  afterAll(async () => {
    // The hosts go whatever else fails here: a suite that fails leaves nothing behind.
    try {
      if (p && existsSync(stateFile(path.join(p.dir, ".cluster")))) await p.cdktf("destroy");
      writeTestOutput("ssh-local-timings.json", timings);
      console.log("ssh.local timings (s):", JSON.stringify(timings));
    } finally {
      p?.remove();
      await lab?.remove();
    }
  });

  const write = (c: object) => writeFileSync(path.join(p.dir, "cluster.config.json"), JSON.stringify(c, null, 2));

  it("preflight refuses a host whose key changed, naming it and how to check the new key; nothing changes anywhere", async () => {
    write(config());
    const line = await lab.rekey(lab.hosts[1]!);
    const out = await refused(
      /\/ssh\/hosts\/1: node2: dvcssh2@192\.168\.77\.12: its host key is not the one .*known_hosts holds \(changed since it was recorded\)/,
    );
    expect(out).toMatch(/ssh-keygen -R '192\.168\.77\.12'/);
    // What its owner would do once the new key is checked: replace the line.
    const known = readFileSync(lab.knownHosts, "utf8")
      .split("\n")
      .filter((l) => l && !l.startsWith("192.168.77.12 "));
    writeFileSync(lab.knownHosts, `${[...known, line].join("\n")}\n`);
  }, 300_000);

  it("preflight refuses a host that refuses the key, naming it and ssh-copy-id", async () => {
    const keys = path.join(lab.hosts[2]!.home, ".ssh", "authorized_keys");
    renameSync(keys, `${keys}.away`);
    try {
      before = await snapshots();
      const out = await refused(/\/ssh\/hosts\/2: node3: dvcssh3@192\.168\.77\.13 refused the key .*id_ed25519/);
      expect(out).toMatch(/ssh-copy-id -i .*id_ed25519\.pub.* -p 22 dvcssh3@192\.168\.77\.13/);
    } finally {
      renameSync(`${keys}.away`, keys);
      before = await snapshots();
    }
  }, 300_000);

  it("preflight refuses a bind address the host does not have, naming it and the host's addresses", async () => {
    write(config({ bind: { 0: "192.168.77.99" } }));
    await refused(
      /\/ssh\/hosts\/0\/bind: node1: 192\.168\.77\.99 is not an address of this host \(it has 127\.0\.0\.1, 192\.168\.77\.11\)/,
    );
    write(config());
  }, 300_000);

  it("preflight refuses a host with another Python: another patch level, then another minor behind python3.11", async (ctx) => {
    const h1 = lab.hosts[0]!;
    if (!(await lab.usePython(h1, "3.11.7")))
      ctx.skip("no pyenv Python 3.11.7 on this machine to give a host another patch level");
    try {
      before = await snapshots();
      await refused(/\/runtime\/python: node1: python3\.11 is 3\.11\.7, the other hosts run 3\.11\.2/);
      if (!(await lab.usePython(h1, "3.12.1")))
        ctx.skip("no pyenv Python 3.12.1 on this machine to give a host another minor");
      before = await snapshots();
      await refused(/\/runtime\/python: node1: python3\.11 there runs Python 3\.12\.1/);
    } finally {
      lab.resetPython(h1);
      before = await snapshots();
    }
  }, 300_000);

  it("cdktf deploy: the runtime on each host as its user, 3 workers on the hosts' addresses, verify-versions identical", async () => {
    write(config());
    const d = await p.cdktf("deploy");
    timings.coldDeploy = d.seconds;
    expect(d.out.exitCode, tail(d.out, 60)).toBe(0);
    for (const [k, h] of lab.hosts.entries())
      expect(d.out.stdout).toContain(`[node${k + 1}] registered with the scheduler as tls://${h.ip}:8788`);
    const v = await npm("verify-versions");
    expect(v.exitCode, tail(v)).toBe(0);
    expect(v.stdout).toMatch(
      /^identical: 3 nodes run Python 3\.11\.2, bundle [0-9a-f]{16}, \d+ packages as locked; scheduler, workers and client agree/m,
    );
    // The services run as the hosts' users, from their homes, with no root anywhere.
    for (const h of lab.hosts) {
      const s = await lab.snapshot(h);
      expect(s.processes.join("\n"), h.name).toMatch(new RegExp(`${h.home}/\\.dask-vm-cluster/.*dask worker`));
      expect(s.listeners, h.name).toEqual(expect.arrayContaining([`${h.ip}:8788`, `${h.ip}:8789`]));
    }
  }, 900_000);

  it("npm run benchmark: the placement workload runs on all three hosts", async () => {
    const t0 = performance.now();
    const b = await npm("benchmark", ["--size", "small", "--workloads", "placement"]);
    timings.benchmarkPlacement = (performance.now() - t0) / 1000;
    expect(b.exitCode, tail(b)).toBe(0);
    const results = JSON.parse(readFileSync(path.join(p.dir, "results", "latest", "results.json"), "utf8")) as Any;
    const perNode = results.workloads.placement.perNode as Array<{ node: string; tasks: number }>;
    expect(perNode.map((n) => n.node)).toEqual(["node1", "node2", "node3"]);
    for (const n of perNode) expect(n.tasks, n.node).toBeGreaterThan(0);
    expect(results.hardware.map((h: Any) => h.host).sort()).toEqual(lab.hosts.map((h) => h.ip));
  }, 600_000);

  it("npm run status and npm run submit work as on any provider", async () => {
    const s = await npm("status", ["--json"]);
    expect(s.exitCode, tail(s)).toBe(0);
    expect((JSON.parse(s.stdout) as Any).healthy).toBe(true);
    const job = path.join(path.dirname(p.dir), "job.py");
    writeFileSync(
      job,
      "from distributed import Client\nc = Client()\nprint('workers', len(c.scheduler_info()['workers']))\n",
    );
    const r = await npm("submit", [job]);
    expect(r.exitCode, tail(r)).toBe(0);
    expect(r.stdout).toContain("workers 3");
  }, 300_000);

  it("Ctrl-C on npm run submit stops the job on the host, where the ssh session's far end would have run on (exit 130, its output back)", async () => {
    const job = path.join(path.dirname(p.dir), "long_job.py");
    writeFileSync(
      job,
      "import time\nfrom dask_vm_runtime import output_dir\n(output_dir() / 'partial.txt').write_text('half\\n')\nprint('started', flush=True)\ntime.sleep(600)\n",
    );
    const started = await startUntil(p, ["provision/cli.ts", "submit", job], /^started$/m, 180_000);
    expect(await interrupt(started.child), started.out()).toBe(130);
    const left = await $({ nothrow: true, quiet: true })`pgrep -u ${lab.hosts[0]!.user} -f ${"[l]ong_job.py"}`;
    expect(left.stdout.trim(), "the job still runs on the host").toBe("");
    const run = readdirSync(path.join(p.dir, "results", "submit")).find((j) => j.endsWith("-long_job"))!;
    expect(readFileSync(path.join(p.dir, "results", "submit", run, "output", "partial.txt"), "utf8")).toBe("half\n");
  }, 300_000);

  it("cdktf destroy leaves each host exactly as it was: its user's files, processes, listening sockets; and no ssh connection of ours", async () => {
    // A shared connection of ours is open (it lasts 60 s idle: on a loaded machine the tests
    // above may take longer, so one command opens it again), so that its closing is seen.
    expect((await npm("status", ["--json"])).exitCode).toBe(0);
    expect(sockets().filter((s) => !initialSockets.includes(s)).length).toBeGreaterThan(0);
    const d = await p.cdktf("destroy");
    timings.destroy = d.seconds;
    expect(d.out.exitCode, tail(d.out, 40)).toBe(0);
    expect(await snapshots()).toEqual(before);
    // The shared connections this cluster opened are closed with its machines.
    expect(sockets().filter((s) => !initialSockets.includes(s))).toEqual([]);
    expect(
      existsSync(path.join(p.dir, ".cluster", "ssh")) ? readdirSync(path.join(p.dir, ".cluster", "ssh")) : [],
    ).toEqual([]);
  }, 600_000);
});
