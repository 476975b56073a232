// The learner's lab on a real local cluster (3 namespace nodes, mutual TLS, deployed with
// cdktf deploy): npm run diagnose on it; each npm run chaos fault with what npm run status
// and the dashboard showed while it lasted, then `restore` back to healthy; the nat-trap
// lab from the symptom to the fix; the lab interrupted (Ctrl-C: it puts the workers back)
// and killed (the next cdktf deploy sees workers at the wrong address and repairs them).
// What each step showed goes to test-output/lab-local.json. Needs root.
import { existsSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ClusterStatus } from "../provision/commands/status.js";
import { nodePaths } from "../provision/core/node-paths.js";
import { shq, type Transport } from "../provision/machines/transport.js";
import { transports } from "./helpers/cluster.js";
import { spawnGroup, waitUntil, type GroupRun } from "./helpers/faults.js";
import { makeProject, tail, type TestProject } from "./helpers/project.js";
import { rootOrSkip } from "./helpers/root.js";
import { writeTestOutput } from "./helpers/test-output.js";

const isRoot = rootOrSkip("lab.local", "the local provider needs root to create network namespaces");
const measured: Record<string, unknown> = {};

describe.runIf(isRoot)("the lab on a deployed local cluster", () => {
  let p: TestProject;
  let nodes: Transport[];
  const run = (script: string, args: string[] = [], timeoutMs = 600_000) =>
    p.sh(["node_modules/.bin/tsx", "provision/cli.ts", script, ...args], { timeoutMs });
  const status = async (): Promise<ClusterStatus> =>
    JSON.parse((await run("status", ["--json"])).stdout) as ClusterStatus;
  /** What the scheduler's dashboard lists: its workers by name (the JSON behind /workers), from node 1. */
  const dashboard = async (): Promise<string[]> => {
    const head = nodes[0]!;
    const url = `http://${p.cluster.nodes[0]!.ip}:${8787}/json/identity.json`;
    const r = await head.run(
      `${shq(nodePaths(head.root).python)} -c "import json, urllib.request as u; w = json.load(u.urlopen('${url}', timeout=5))['workers']; print(json.dumps(sorted(str(x['name']) for x in w.values())))"`,
      { nothrow: true, timeoutMs: 30_000 },
    );
    return r.exitCode === 0 ? (JSON.parse(r.stdout) as string[]) : [`no answer (${r.stderr.trim().split("\n").pop()})`];
  };
  /** npm run lab -- nat-trap in its own process group, once every worker advertises 10.0.2.15. */
  const trappedLab = async (): Promise<GroupRun> => {
    const lab = spawnGroup(["node_modules/.bin/tsx", "provision/cli.ts", "lab", "nat-trap"], {
      cwd: p.link,
      env: process.env,
    });
    await lab.waitFor(/the scheduler lists every worker/, 180_000);
    return lab;
  };
  const restore = async (fault: string) => {
    const t0 = performance.now();
    const r = await run("chaos", ["restore"]);
    expect(r.exitCode, tail(r)).toBe(0);
    expect(r.stdout).toContain("healthy: every worker is reachable");
    (measured[fault] as Record<string, unknown>).restoreSeconds = Number(((performance.now() - t0) / 1000).toFixed(1));
  };

  beforeAll(async () => {
    p = makeProject(
      { provider: "local", nodes: { count: 3, cpus: 1, memoryMb: 1536 }, benchmark: { onDeploy: false } },
      "dvc-lab-",
    );
    const d = await p.cdktf("deploy");
    if (d.out.exitCode !== 0) throw new Error(`cdktf deploy failed:\n${tail(d.out, 80)}`);
    nodes = transports(p.cluster);
  }, 1_200_000);

  afterAll(async () => {
    if (!p) return;
    if (existsSync(path.join(p.dir, ".cluster", "terraform.tfstate"))) await p.cdktf("destroy");
    writeTestOutput("lab-local.json", measured);
    console.log("lab.local measured:", JSON.stringify(measured));
    p.remove();
  }, 600_000);

  it("npm run diagnose on the deployed cluster: healthy, exit 0", async () => {
    const r = await run("diagnose");
    expect(r.exitCode, tail(r)).toBe(0);
    expect(r.stdout).toMatch(/^diagnose: scheduler tls:\/\/192\.168\.56\.11:8786 \(distributed [\d.]+\), 3 workers/m);
    expect(r.stdout).toContain("results moved: node1→node2");
  }, 120_000);

  it("chaos kill-worker: the nanny starts a new worker process; status and the dashboard list node3 again", async () => {
    const before = (await status()).workers.map((w) => w.name);
    const r = await run("chaos", ["kill-worker", "node3"]);
    expect(r.exitCode, tail(r)).toBe(0);
    expect(r.stdout).toMatch(
      /^\[chaos\] kill-worker on node3: the worker process \(its nanny starts a new one\) — pid \d+ killed$/m,
    );
    expect(r.stdout).toMatch(/^ {2}watch: npm run status/m);
    expect(r.stdout).toMatch(/^ {2}Dask: {2}the nanny on node3 starts a new worker process/m);
    // That pid was the worker (the nanny's spawn_main child), and it is gone.
    const pid = /— pid (\d+) killed$/m.exec(r.stdout)![1];
    expect((await nodes[2]!.run(`test -d /proc/${pid}`, { nothrow: true })).exitCode).not.toBe(0);
    const t0 = Date.now();
    const back = await waitUntil("node3 back", 60_000, async () =>
      (await status()).workers.some((w) => w.name === "node3") ? (Date.now() - t0) / 1000 : undefined,
    );
    measured["kill-worker"] = { before, node3BackWithinSeconds: back, dashboard: await dashboard() };
    await restore("kill-worker");
  }, 240_000);

  it("chaos kill-scheduler: the supervisor starts it again, the workers find it; status shows the restart", async () => {
    const r = await run("chaos", ["kill-scheduler"]);
    expect(r.exitCode, tail(r)).toBe(0);
    const during = await status();
    const sched = await waitUntil("the scheduler restarted", 60_000, async () => {
      const s = (await status()).nodes[0]!.services.find((x) => x.name === "scheduler");
      return s?.running && (s.restarts ?? 0) >= 1 ? s : undefined;
    });
    measured["kill-scheduler"] = {
      workersJustAfter: during.workers.map((w) => w.name),
      workersErrorJustAfter: during.workersError ?? null,
      schedulerRestarts: sched.restarts,
    };
    await restore("kill-scheduler");
    // The new scheduler's dashboard may answer 500 for a moment while the workers register
    // (seen in one of the first two runs here): it must list all three within 30 s.
    const seen: string[][] = [];
    await waitUntil("the dashboard listing 3 workers", 30_000, async () => {
      seen.push(await dashboard());
      return seen.at(-1)!.join() === "node1,node2,node3" ? true : undefined;
    });
    (measured["kill-scheduler"] as Record<string, unknown>).dashboardAnswers = seen;
  }, 240_000);

  it("chaos cut-link: the scheduler drops node3 after its 30 s worker-ttl; restore brings the link and the worker back", async () => {
    const t0 = Date.now();
    const r = await run("chaos", ["cut-link", "node3", "--for", "2m"]);
    expect(r.exitCode, tail(r)).toBe(0);
    expect(r.stdout).toMatch(/^\[chaos\] cut-link on node3: eth1 \(192\.168\.56\.13\) is down$/m);
    const dropped = await waitUntil("node3 dropped", 90_000, async () =>
      (await status()).workers.some((w) => w.name === "node3") ? undefined : (Date.now() - t0) / 1000,
    );
    expect(dropped).toBeGreaterThanOrEqual(25);
    measured["cut-link"] = {
      droppedAfterSeconds: dropped,
      statusWorkers: (await status()).workers.map((w) => w.name),
      dashboard: await dashboard(),
    };
    expect((measured["cut-link"] as { dashboard: string[] }).dashboard).toEqual(["node1", "node2"]);
    await restore("cut-link");
  }, 300_000);

  it("chaos slow-cpu: node2 at a quarter of the CPU does fewer of 300 quick tasks than either other node", async () => {
    const r = await run("chaos", ["slow-cpu", "node2", "--for", "2m", "--percent", "20"]);
    expect(r.exitCode, tail(r)).toBe(0);
    const head = nodes[0]!;
    const spread = await head.run(
      `${shq(nodePaths(head.root).python)} -m dask_vm_runtime lab spread --scheduler tls://${p.cluster.nodes[0]!.ip}:8786 --tls-dir ${shq(nodePaths(head.root).tls)} --tasks 300 --seconds 0.005`,
      { timeoutMs: 120_000 },
    );
    const by = (JSON.parse(spread.stdout) as { returned: Record<string, number> }).returned;
    measured["slow-cpu"] = { tasksByNode: by };
    expect(by.node2 ?? 0).toBeLessThan(Math.min(by.node1!, by.node3!));
    await restore("slow-cpu");
  }, 300_000);

  it("chaos fill-memory: node2's worker spills to disk; status shows it; restore releases it", async () => {
    const r = await run("chaos", ["fill-memory", "node2", "--for", "2m"]);
    expect(r.exitCode, tail(r)).toBe(0);
    const spilled = await waitUntil("node2 spilling", 120_000, async () => {
      const w = (await status()).workers.find((x) => x.name === "node2");
      return w?.spilled ? w : undefined;
    });
    const line = (await run("status")).stdout.split("\n").find((l) => l.startsWith("workers"))!;
    expect(line).toMatch(/node2@192\.168\.56\.12 \(1 threads, \d+ of \d+ MiB, \d+ MiB spilled/);
    measured["fill-memory"] = { statusLine: line, spilledMiB: Math.round(spilled.spilled! / 2 ** 20) };
    await restore("fill-memory");
  }, 300_000);

  it("npm run lab -- nat-trap: one node's results only, diagnose names the NAT address, then all results spread", async () => {
    const t0 = performance.now();
    const r = await run("lab", ["nat-trap"]);
    expect(r.exitCode, tail(r, 60)).toBe(0);
    const out = `${r.stdout}\n${r.stderr}`;
    expect(out).toMatch(
      /in 30 s, 10 of 30 results came back \(node1 10\); the other 20 were computed but never came back/,
    );
    expect(out).toContain(
      "1. node1, node2, node3 advertise the same IP, 10.0.2.15 (the address VirtualBox's NAT gives every VM), from different machines",
    );
    expect(out).toMatch(/all 30 results back in [\d.]+ s, computed by node1 \d+, node2 \d+, node3 \d+/);
    measured["nat-trap"] = { seconds: Number(((performance.now() - t0) / 1000).toFixed(1)) };
    expect((await status()).workers.map((w) => w.host)).toEqual(p.cluster.nodes.map((n) => n.ip));
  }, 400_000);

  it("the lab interrupted (Ctrl-C) puts the workers back before it exits (130)", async () => {
    const lab = await trappedLab();
    process.kill(-lab.child.pid!, "SIGINT");
    const end = await lab.exited;
    expect(end.code, lab.output()).toBe(130);
    expect(lab.output()).toContain("[lab] the cluster is as deployed again");
    expect((await status()).workers.map((w) => w.host)).toEqual(p.cluster.nodes.map((n) => n.ip));
  }, 300_000);

  it("the lab killed: the next cdktf deploy sees the workers at 10.0.2.15 and repairs them", async () => {
    const lab = await trappedLab();
    lab.killGroup();
    await lab.exited;
    expect((await status()).workers.map((w) => w.host)).toEqual(["10.0.2.15", "10.0.2.15", "10.0.2.15"]);
    const d = await p.cdktf("deploy");
    expect(d.out.exitCode, tail(d.out, 60)).toBe(0);
    expect(`${d.out.stdout}`).toMatch(/the scheduler does not list node2 at 192\.168\.56\.12/);
    expect(`${d.out.stdout}`).toContain("took back what an interrupted nat-trap lab left");
    expect((await status()).workers.map((w) => w.host)).toEqual(p.cluster.nodes.map((n) => n.ip));
    const left = await nodes[1]!.run("ip -o -4 addr show", { timeoutMs: 30_000 });
    expect(left.stdout).not.toContain("10.0.2.15");
    const dg = await run("diagnose");
    expect(dg.exitCode, tail(dg)).toBe(0);
    measured["nat-trap-killed"] = { repairDeploySeconds: Number(d.seconds.toFixed(1)) };
  }, 600_000);
});
