// What the cluster survives, for real on the local provider: a worker, a link and the
// scheduler lost mid-run, a task that kills its worker, bad arguments, a missing or damaged
// cached bundle, on one deployed cluster; then, on throwaway projects of their own, a
// deploy killed half-way, two deploys at once, a node that vanished, three deploy/destroy
// cycles and a lock edited by hand. Every scenario asserts what must happen and records
// what it saw in test-output/faults.json (`npm run faults-table` puts that
// into the README). The scenarios are listed in test/helpers/faults.ts. Needs root.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  appendFileSync,
  cpSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  statSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { createHash, randomBytes } from "node:crypto";
import os from "node:os";
import { stripVTControlCharacters } from "node:util";
import path from "node:path";
import { $ } from "zx";
import { makeProject, tail, REPO, type TestProject } from "./helpers/project.js";
import { residue, type Residue } from "./helpers/residue.js";
import { transports } from "./helpers/cluster.js";
import { terraformBinary, cdktfEnv } from "./helpers/terraform.js";
import {
  FAULTS_JSON,
  FaultLog,
  SCENARIOS,
  pyEvents,
  removeDir,
  round,
  serviceStatus,
  simpleIndexOf,
  spawnGroup,
  killTree,
  survivors,
  waitUntil,
  withLoopbackIndex,
  workerProcessOf,
} from "./helpers/faults.js";
import { checkReadme } from "../provision/commands/faults-table.js";
import { bundleIdOf, lockPath, wheelhouseDir } from "../provision/runtime/bundle.js";
import { runtimeRefOf } from "../provision/state/cluster-ref.js";
import { cacheDir } from "../provision/host/paths.js";
import { recordedObservations } from "../provision/state/observe.js";
import { waitForWorkers } from "../provision/services/probe.js";
import { stopService } from "../provision/services/definitions.js";
import { networkNamespace, nodeNamespace } from "../provision/machines/local/provider.js";
import { shq, type Transport } from "../provision/machines/transport.js";
import { rootOrSkip } from "./helpers/root.js";
import { parseLock } from "../provision/runtime/lock.js";

const isRoot = rootOrSkip("faults.local", "the local provider needs root to create network namespaces");

const SMALL = {
  provider: "local",
  nodes: { count: 3, cpus: 1, memoryMb: 1536 },
  benchmark: { onDeploy: false },
} as const;
const log = new FaultLog(path.join(REPO, FAULTS_JSON));
/** A scenario's whole output beside faults.json, to read when it fails. */
function keepOutput(name: string, text: string): void {
  writeFileSync(path.join(REPO, path.dirname(FAULTS_JSON), `faults-${name}.log`), text);
}
const seconds = (fromMs: number, toMs = Date.now()) => round((toMs - fromMs) / 1000, 1);
const both = (out: { stdout: string; stderr: string }) => `${out.stdout}\n${out.stderr}`;

function sha256(file: string): string {
  return createHash("sha256").update(readFileSync(file)).digest("hex");
}

// The host's network links, leaving out those of libvirt VMs (QEMU's 52:54:00 addresses on
// their bridges and taps): a VM cluster on the same host (npm run test:vm) comes and goes
// on its own, and the local provider never makes such links.
async function hostLinks(): Promise<string[]> {
  return (await $({ quiet: true })`ip -o link show`).stdout
    .split("\n")
    .filter((l) => !/link\/ether (52|fe):54:00:/.test(l))
    .map((l) => l.split(":")[1]?.trim() ?? "")
    .filter(Boolean)
    .sort();
}

describe("the README's table of faults", () => {
  it("lists exactly the suite's scenarios, in order (npm run faults-table -- --check)", () => {
    const problems = checkReadme(readFileSync(path.join(REPO, "README.md"), "utf8"), SCENARIOS);
    expect(problems, "run the suite, then npm run faults-table, and commit README.md").toEqual([]);
  });
});

describe.runIf(isRoot)("faults on the local provider", () => {
  describe("on one deployed cluster", () => {
    let p: TestProject;
    let nodes: Transport[];
    let head: Transport;
    let before: Residue;
    const names = ["node1", "node2", "node3"];
    const npm = (script: string, args: string[] = [], env?: Record<string, string>) =>
      p.sh(["node_modules/.bin/tsx", "provision/cli.ts", script, ...args], { env });

    beforeAll(async () => {
      p = makeProject(SMALL, "dvc-faults-");
      before = await residue(
        p.dir,
        p.cluster.id,
        p.cluster.nodes.map((n) => n.ip),
      );
      const d = await p.cdktf("deploy");
      if (d.out.exitCode !== 0) throw new Error(`cdktf deploy failed:\n${tail(d.out, 80)}`);
      console.log(`faults: cluster ${p.cluster.id} deployed in ${d.seconds.toFixed(0)} s`);
      nodes = transports(p.cluster);
      head = nodes[0]!;
    });

    afterAll(async () => {
      if (!p) return;
      if (existsSync(path.join(p.dir, ".cluster", "terraform.tfstate"))) {
        const d = await p.cdktf("destroy");
        const after = await residue(
          p.dir,
          p.cluster.id,
          p.cluster.nodes.map((n) => n.ip),
        );
        expect(d.out.exitCode, tail(d.out)).toBe(0);
        expect(after.namespaces).toEqual([]);
        expect(after.processes).toEqual([]);
        expect(after.files).toEqual(before.files);
      }
      p.remove();
    });

    /** npm run status and verify-versions, as JSON: what "unchanged" is compared on. */
    async function snapshot(): Promise<{ status: unknown; versions: unknown }> {
      const [s, v] = await Promise.all([npm("status", ["--json"]), npm("verify-versions", ["--json"])]);
      expect(s.exitCode, tail(s)).toBe(0);
      expect(v.exitCode, tail(v)).toBe(0);
      const { seconds: _, ...versions } = JSON.parse(v.stdout) as { seconds: number };
      // A worker's memory is a measure, not a state: it moves between two looks.
      const status = JSON.parse(s.stdout) as { workers: Array<Record<string, unknown>> };
      return { status: { ...status, workers: status.workers.map(({ memory: _m, ...w }) => w) }, versions };
    }

    it("worker loss: the run finishes, right, within 1.5 × its undisturbed time; node2's worker is back within 15 s", async () => {
      await log.record("worker-loss", async (f) => {
        const n2 = nodes[1]!;
        const { worker } = await workerProcessOf(n2);
        let killedAt = 0;
        const address = `tls://${p.cluster.nodes[1]!.ip}:${p.cluster.config.dask.workerPort}`;
        const { events } = await pyEvents(
          head,
          `
import dask
c = Client("${p.cluster.schedulerAddress}", security=secure(), timeout=20)
c.wait_for_workers(3, timeout=60)
@dask.delayed(pure=False)
def slow(i, d):
    time.sleep(d)
    return i
def run(tag, n, d):
    out({"event": "start", "tag": tag})
    t0 = time.perf_counter()
    total = dask.compute(dask.delayed(sum)([slow(i, d) for i in range(n)]))[0]
    return total, time.perf_counter() - t0
run("warm-up", 6, 0.05)
base_total, base = run("undisturbed", 60, 0.5)
total, disturbed = run("disturbed", 60, 0.5)
def actions():
    return [(t, m.get("action")) for t, m in c.get_events("${address}")]
deadline = time.time() + 30
while time.time() < deadline:
    removed = [t for t, a in actions() if a == "remove-worker"]
    if removed and any(a == "add-worker" and t > removed[-1] for t, a in actions()):
        break
    time.sleep(0.2)
out({"event": "done", "expected": sum(range(60)), "baseTotal": base_total, "total": total, "base": base, "disturbed": disturbed,
     "added": [t for t, a in actions() if a == "add-worker"], "removed": [t for t, a in actions() if a == "remove-worker"]})
`,
          async (e) => {
            if (e.event === "start" && e.tag === "disturbed") {
              await new Promise((r) => setTimeout(r, 1000));
              killedAt = Date.now() / 1000;
              process.kill(worker, "SIGKILL");
            }
          },
        );
        const r = events.find((e) => e.event === "done") as {
          expected: number;
          baseTotal: number;
          total: number;
          base: number;
          disturbed: number;
          added: number[];
          removed: number[];
        };
        const back = r.added.filter((t) => t > killedAt).map((t) => t - killedAt)[0];
        const dropped = r.removed.filter((t) => t > killedAt).map((t) => t - killedAt)[0];
        Object.assign(f, {
          tasks: 60,
          taskSeconds: 0.5,
          undisturbedSeconds: round(r.base),
          disturbedSeconds: round(r.disturbed),
          ratio: round(r.disturbed / r.base),
          droppedAfterSeconds: round(dropped ?? NaN),
          registeredAgainAfterSeconds: round(back ?? NaN),
          correct: r.total === r.expected,
        });
        expect(r.baseTotal).toBe(r.expected);
        expect(r.total).toBe(r.expected);
        expect(r.disturbed / r.base).toBeLessThanOrEqual(1.5);
        expect(back, "node2's worker registered again after the kill").toBeDefined();
        expect(back!).toBeLessThanOrEqual(15);
        return `sum right; ${f.disturbedSeconds} s vs ${f.undisturbedSeconds} s undisturbed (×${f.ratio}); the scheduler dropped the worker ${f.droppedAfterSeconds} s after the kill, the nanny's new worker registered after ${f.registeredAgainAfterSeconds} s`;
      });
    }, 300_000);

    describe("while the deploy scenarios run beside", () => {
      beforeAll(() => {
        startDeployScenarios();
      });

      it("bad arguments exit 2 with the allowed values, and change nothing", async () => {
        await log.record("bad-arguments", async () => {
          const was = await snapshot();
          const cases: Array<[string, string[], RegExp]> = [
            ["benchmark", ["--size", "huge"], /--size huge is not valid[\s\S]*use small or full/],
            ["benchmark", ["--nodes", "9"], /--nodes 9 is not valid[\s\S]*whole number from 1 to 3/],
            ["verify-versions", ["--bogus"], /--bogus/],
            ["logs", ["node1", "nanny"], /unknown service "nanny"[\s\S]*use one of: scheduler, worker/],
          ];
          const runs = await Promise.all(cases.map(([script, args]) => npm(script, args)));
          const seen: string[] = [];
          cases.forEach(([script, args, message], i) => {
            const r = runs[i]!;
            expect(r.exitCode, `${script} ${args.join(" ")}: ${tail(r)}`).toBe(2);
            expect(r.stderr, `${script} ${args.join(" ")}`).toMatch(message);
            expect(r.stderr).not.toMatch(/\n\s+at /);
            seen.push(`${script} ${args.join(" ")}: ${r.stderr.split("\n")[0]!.replace(/^error: /, "")}`);
          });
          const now = await snapshot();
          expect(now).toEqual(was);
          return `${cases.length} of ${cases.length} exit 2 with the allowed values and no stack trace (${seen.join("; ")}); npm run status --json and verify-versions --json identical before and after`;
        });
      }, 300_000);

      describe("the cached bundle", () => {
        let cache: string;
        let shared: string;
        let bundleTar: string;

        beforeAll(() => {
          // A private cache (DVC_CACHE_DIR) with a copy of the wheelhouse: the shared cache
          // is used by other clusters on this host, and a rebuild must need no download.
          const runtime = runtimeRefOf(p.cluster);
          const id = bundleIdOf(runtime);
          shared = path.join(cacheDir(), `bundle-${id}.tar`);
          cache = mkdtempSync(path.join(os.tmpdir(), "dvc-faults-cache-"));
          cpSync(wheelhouseDir(cacheDir(), runtime), wheelhouseDir(cache, runtime), { recursive: true });
          bundleTar = path.join(cache, `bundle-${id}.tar`);
        });
        afterAll(() => removeDir(cache));

        /** node3 drifts (another bundle id), then verify-versions --fix re-installs it. */
        async function reinstallNode3(): Promise<{ out: string; seconds: number }> {
          const n3 = nodes[2]!;
          await n3.run("echo 0000000000000000 > bundle-id");
          const t0 = Date.now();
          const r = await npm("verify-versions", ["--fix"], { DVC_CACHE_DIR: cache });
          expect(r.exitCode, tail(r)).toBe(0);
          expect(r.stdout).toMatch(/^identical: 3 nodes/m);
          return { out: both(r), seconds: seconds(t0) };
        }

        it("missing: a re-install rebuilds it, byte for byte", async () => {
          await log.record("missing-bundle", async (f) => {
            expect(existsSync(bundleTar)).toBe(false);
            const r = await reinstallNode3();
            expect(r.out).toMatch(/bundle [0-9a-f]{16} written/);
            expect(sha256(bundleTar)).toBe(sha256(shared));
            f.reinstallSeconds = r.seconds;
            f.identicalToSharedCache = true;
            return `rebuilt from the cached wheelhouse (no download), byte-identical to the shared cache's; node3 re-installed and identical in ${r.seconds} s`;
          });
        }, 300_000);

        it("corrupted: the damage is seen on the host and the bundle rebuilt", async () => {
          await log.record("corrupted-bundle", async (f) => {
            const size = statSync(bundleTar).size;
            truncateSync(bundleTar, Math.floor(size / 2));
            appendFileSync(bundleTar, randomBytes(4096));
            const r = await reinstallNode3();
            expect(r.out).toMatch(
              /in the cache is not usable \(its sha256 is [0-9a-f]+…, [0-9a-f]+… was recorded: truncated or overwritten\): rebuilding/,
            );
            expect(r.out).not.toMatch(/not a runtime bundle/);
            expect(sha256(bundleTar)).toBe(sha256(shared));
            f.reinstallSeconds = r.seconds;
            return `"in the cache is not usable (its sha256 is …, … was recorded: truncated or overwritten): rebuilding", then node3 re-installed and identical in ${r.seconds} s (before the fix: install.sh on the node failed "not a runtime bundle", exit 1, node left drifting)`;
          });
        }, 300_000);
      });

      it("poison task: KilledWorker after allowedFailures + 1 deaths, then 3 healthy workers", async () => {
        await log.record("poison-task", async (f) => {
          const allowed = p.cluster.config.dask.allowedFailures;
          const addresses = p.cluster.nodes.map((n) => `tls://${n.ip}:${p.cluster.config.dask.workerPort}`);
          const { events } = await pyEvents(
            head,
            `
import os
from distributed import get_worker
c = Client("${p.cluster.schedulerAddress}", security=secure(), timeout=20)
c.wait_for_workers(3, timeout=60)
allowed = c.run_on_scheduler(lambda dask_scheduler: dask_scheduler.allowed_failures)
def removals():
    return sum(1 for a in ${JSON.stringify(addresses)} for _, m in c.get_events(a) if m.get("action") == "remove-worker")
before = removals()
def poison():
    os.kill(os.getpid(), 9)
t0 = time.perf_counter()
try:
    c.submit(poison, pure=False).result(timeout=120)
    error = None
except Exception as e:
    error = [type(e).__name__, str(e)[:200]]
failed_after = time.perf_counter() - t0
deaths = removals() - before
c.wait_for_workers(3, timeout=90)
healthy_after = time.perf_counter() - t0
ws = sorted(c.scheduler_info(n_workers=-1)["workers"])
ran = c.gather([c.submit(lambda i: get_worker().address, i, workers=[w], allow_other_workers=False, pure=False) for i, w in enumerate(ws)])
out({"event": "done", "allowed": allowed, "error": error, "failedAfter": failed_after, "deaths": deaths, "healthyAfter": healthy_after, "workers": ws, "ran": ran})
`,
            () => undefined,
          );
          const r = events.find((e) => e.event === "done") as {
            allowed: number;
            error: [string, string] | null;
            failedAfter: number;
            deaths: number;
            healthyAfter: number;
            workers: string[];
            ran: string[];
          };
          Object.assign(f, {
            allowedFailures: r.allowed,
            workerDeaths: r.deaths,
            killedWorkerAfterSeconds: round(r.failedAfter),
            healthyAfterSeconds: round(r.healthyAfter),
          });
          expect(r.allowed).toBe(allowed);
          expect(r.error?.[0]).toBe("KilledWorker");
          expect(r.error?.[1]).toMatch(new RegExp(`on ${allowed + 1} different workers`));
          expect(r.deaths).toBe(allowed + 1);
          expect(r.failedAfter).toBeLessThan(60);
          expect(r.workers).toHaveLength(3);
          expect(r.ran).toEqual(r.workers);
          return `KilledWorker after ${r.deaths} worker deaths (allowedFailures ${r.allowed}) in ${f.killedWorkerAfterSeconds} s; 3 workers again, each ran a task, ${f.healthyAfterSeconds} s after the submit`;
        });
      }, 300_000);

      it("link cut: the work moves to node1/node3 once the worker-ttl drops node2; node2 comes back after the link does", async () => {
        await log.record("link-cut", async (f) => {
          const net = networkNamespace(p.cluster);
          let cutAt = 0;
          let upAt = 0;
          try {
            const { events } = await pyEvents(
              head,
              `
import dask
from distributed import get_worker
c = Client("${p.cluster.schedulerAddress}", security=secure(), timeout=20)
c.wait_for_workers(3, timeout=60)
@dask.delayed(pure=False)
def slow(i):
    time.sleep(0.5)
    return (i, get_worker().name)
out({"event": "start"})
t0 = time.perf_counter()
res = dask.compute(*[slow(i) for i in range(30)])
out({"event": "result", "expected": sum(range(30)), "total": sum(i for i, _ in res), "seconds": time.perf_counter() - t0,
     "by": {n: sum(1 for _, w in res if w == n) for n in ("node1", "node2", "node3")}})
deadline = time.time() + 90
while time.time() < deadline:
    if "node2" in [w["name"] for w in c.run_on_scheduler(lambda dask_scheduler: [{"name": ws.name} for ws in dask_scheduler.workers.values()])]:
        break
    time.sleep(0.25)
events = [(t, m.get("action")) for t, m in c.get_events("tls://${p.cluster.nodes[1]!.ip}:${p.cluster.config.dask.workerPort}")]
out({"event": "done", "added": [t for t, a in events if a == "add-worker"], "removed": [t for t, a in events if a == "remove-worker"]})
`,
              async (e) => {
                if (e.event === "start") {
                  await new Promise((r) => setTimeout(r, 1000));
                  cutAt = Date.now() / 1000;
                  await $({ quiet: true })`ip -n ${net} link set v-node2 down`;
                }
                if (e.event === "result") {
                  upAt = Date.now() / 1000;
                  await $({ quiet: true })`ip -n ${net} link set v-node2 up`;
                }
              },
              240_000,
            );
            const r = events.find((e) => e.event === "result") as {
              expected: number;
              total: number;
              seconds: number;
              by: Record<string, number>;
            };
            const d = events.find((e) => e.event === "done") as { added: number[]; removed: number[] };
            const dropped = d.removed.filter((t) => t > cutAt)[0];
            const back = d.added.filter((t) => t > upAt)[0];
            Object.assign(f, {
              tasks: 30,
              resultAfterSeconds: round(r.seconds),
              droppedAfterSeconds: round((dropped ?? NaN) - cutAt),
              tasksOnNode1: r.by.node1!,
              tasksOnNode2: r.by.node2!,
              tasksOnNode3: r.by.node3!,
              registeredAfterLinkUpSeconds: round((back ?? NaN) - upAt),
            });
            expect(r.total).toBe(r.expected);
            expect(dropped, "the scheduler removed node2's worker").toBeDefined();
            expect(dropped! - cutAt).toBeGreaterThanOrEqual(25);
            expect(r.by.node1! + r.by.node3!).toBeGreaterThan(20);
            expect(back, "node2's worker registered again").toBeDefined();
            expect(back! - upAt).toBeLessThanOrEqual(60);
            return `sum right after ${f.resultAfterSeconds} s; node2 dropped ${f.droppedAfterSeconds} s after the cut (worker-ttl 30 s); tasks by node1/node2/node3: ${r.by.node1}/${r.by.node2}/${r.by.node3}; node2 registered again ${f.registeredAfterLinkUpSeconds} s after the link came back`;
          } finally {
            await $({ quiet: true, nothrow: true })`ip -n ${net} link set v-node2 up`;
          }
        });
      }, 300_000);

      it("scheduler loss: the benchmark stops at once naming the cause; the supervisor and the workers recover; a re-run succeeds", async () => {
        await log.record("scheduler-loss", async (f) => {
          const was = await serviceStatus(head, "scheduler");
          const run = spawnGroup(
            ["node_modules/.bin/tsx", "provision/cli.ts", "benchmark", "--workloads", "inc-sleep", "--size", "small"],
            {
              cwd: p.dir,
              env: cdktfEnv(),
            },
          );
          let killedAt = 0;
          try {
            await run.waitFor(/inc-sleep: .*repeat 1\//, 180_000);
            killedAt = Date.now();
            process.kill(was.child_pid!, "SIGKILL");
            const end = await Promise.race([run.exited, new Promise<undefined>((r) => setTimeout(r, 60_000))]);
            expect(end, `the benchmark still ran 60 s after the kill:\n${run.output().slice(-1500)}`).toBeDefined();
            f.exitCode = end!.code ?? -1;
            f.exitAfterSeconds = seconds(killedAt, end!.at);
            expect(end!.code).not.toBe(0);
            expect(end!.at - killedAt).toBeLessThanOrEqual(30_000);
            expect(run.output()).toMatch(/lost the connection to the scheduler at tls:\/\/192\.168\.56\.11:8786/);
          } finally {
            run.killGroup();
          }
          const now = await waitUntil("the supervisor to restart the scheduler", 30_000, async () => {
            const s = await serviceStatus(head, "scheduler");
            return s.running && s.child_pid && s.child_pid !== was.child_pid ? s : undefined;
          });
          expect(now.pid).toBe(was.pid);
          expect(now.restarts).toBe(was.restarts + 1);
          await waitForWorkers(head, p.cluster.schedulerAddress, true, names, 60);
          f.workersBackAfterSeconds = seconds(killedAt);
          const again = await npm("benchmark", ["--workloads", "inc-sleep", "--size", "small"]);
          expect(again.exitCode, tail(again, 30)).toBe(0);
          const results = JSON.parse(readFileSync(path.join(p.dir, "results", "latest", "results.json"), "utf8")) as {
            workloads: { "inc-sleep": { cases: Array<{ correct: boolean }> } };
          };
          for (const c of results.workloads["inc-sleep"].cases) expect(c.correct).toBe(true);
          return `exit ${f.exitCode} ${f.exitAfterSeconds} s after the kill with "lost the connection to the scheduler at tls://192.168.56.11:8786 …" (before the fix: exit 1 after 20 s with a CommClosedError from get_task_stream_index); scheduler restarted by its supervisor (restarts ${now.restarts}); 3 workers registered ${f.workersBackAfterSeconds} s after the kill; the re-run passed`;
        });
      }, 420_000);
    });
  });

  describe("deploys (they ran beside the runtime scenarios; each test waits for its outcome)", () => {
    it("a deploy killed while it creates machines: nothing of it survives, no stale lock, the next deploy completes", async () => {
      await outcomeOf("interrupted-deploy");
    }, 1_200_000);
    it("two deploys at once: the second is refused by the state lock, the first completes, a later plan shows no changes", async () => {
      await outcomeOf("concurrent-deploy");
    }, 1_200_000);
    it("a node gone under the cluster: verify-versions exits 2 naming it; destroy completes and leaves nothing", async () => {
      await outcomeOf("unreachable-node");
    }, 1_200_000);
    it("three deploy/destroy cycles of a 1-node cluster leave nothing behind, each time", async () => {
      await outcomeOf("deploy-cycles");
    }, 1_200_000);
    it("a lock edited by hand: synth passes, the bundle stage exits 2 naming the mismatch and the fix", async () => {
      await outcomeOf("edited-lock");
    }, 1_200_000);
    it("a healthy cluster deployed again: the plan shows no change", async () => {
      await outcomeOf("healthy-plan");
    }, 1_800_000);
    it("a worker stage left half-done by a killed deploy: the next deploy repairs it", async () => {
      await outcomeOf("half-done-stage");
    }, 1_800_000);
    it("a node lost: the plan lists its stages (and the two that span the nodes) with why; only those run", async () => {
      await outcomeOf("lost-node");
    }, 1_800_000);
    it("a host reboot: the plan lists the repairs; the deploy brings back 3 workers and a correct benchmark", async () => {
      await outcomeOf("reboot");
    }, 1_800_000);
    it("stop and start: services gone and back, versions identical, both idempotent, no change planned after", async () => {
      await outcomeOf("stop-start");
    }, 1_800_000);
  });

  afterAll(async () => {
    // Whatever failed above, the background scenarios finish (and clean up) before the file ends.
    if (deployJobs) await Promise.all(Object.values(deployJobs));
    console.log(`faults: outcomes in ${FAULTS_JSON}`);
  }, 1_800_000);
});

// --- the deploy-level scenarios ---------------------------------------------------------
//
// They run in the background, in two chains of their own projects, beside the runtime
// scenarios that do not measure speed (every one but worker loss): those mostly wait on
// sleeps, restarts and the 30 s worker-ttl, so on 2 cores the file takes little more than
// its longest chain instead of the sum of its parts. Each has its own test, which waits for
// its outcome; figures such as deploy seconds are taken under that shared load.

type DeployScenario =
  | "interrupted-deploy"
  | "concurrent-deploy"
  | "unreachable-node"
  | "deploy-cycles"
  | "edited-lock"
  | "healthy-plan"
  | "half-done-stage"
  | "lost-node"
  | "reboot"
  | "stop-start";
let deployJobs: Record<DeployScenario, Promise<unknown>> | undefined;

function startDeployScenarios(): Record<DeployScenario, Promise<unknown>> {
  if (deployJobs) return deployJobs;
  // Each job settles with its error (or undefined): never an unhandled rejection.
  const settled = (p: Promise<void>) =>
    p.then(
      () => undefined,
      (err: unknown) => err ?? new Error("failed"),
    );
  let q: TestProject | undefined;
  let before: Residue | undefined;
  let second: Awaited<ReturnType<TestProject["cdktf"]>> | undefined;
  const env = () => cdktfEnv();

  const interrupted = settled(
    log.record("interrupted-deploy", async (f) => {
      q = makeProject(SMALL, "dvc-faults-deploy-");
      before = await residue(
        q.dir,
        q.cluster.id,
        q.cluster.nodes.map((n) => n.ip),
      );
      const first = spawnGroup(["node_modules/.bin/cdktf", "deploy", "--auto-approve"], { cwd: q.dir, env: env() });
      const t0 = Date.now();
      let killed: ReturnType<typeof killTree> | undefined;
      try {
        await first.waitFor(/creating machine node\d/, 600_000);
      } finally {
        killed = first.isRunning() ? killTree(first.child.pid!) : { processes: 0, outsideGroup: 0, sessions: [] };
      }
      const ended = await first.exited;
      f.killedAfterSeconds = seconds(t0, ended.at);
      f.processesKilled = killed.processes;
      f.outsideCdktfGroup = killed.outsideGroup;
      await new Promise((r) => setTimeout(r, 500));
      expect(survivors(first.child.pid!, killed.sessions), "processes of the killed deploy").toEqual([]);
      f.namespacesLeft = (await residue(q.dir, q.cluster.id, [])).namespaces.length;
      f.lockInfoLeft = existsSync(path.join(q.dir, ".cluster", ".terraform.tfstate.lock.info"));

      // The next deploy, and a second one started while it applies (the next scenario).
      const next = spawnGroup(["node_modules/.bin/cdktf", "deploy", "--auto-approve"], { cwd: q.dir, env: env() });
      const t1 = Date.now();
      try {
        await next.waitFor(/null_resource\.[\w-]+ \([^)]*\): Creating\.\.\./, 600_000);
        second = await q.cdktf("deploy");
        const done = await next.exited;
        f.nextDeploySeconds = seconds(t1, done.at);
        expect(done.code, next.output().slice(-3000)).toBe(0);
      } finally {
        if (next.isRunning()) killTree(next.child.pid!);
        // Whole outputs, for when an assertion below fails (the table keeps one line).
        keepOutput("interrupted-deploy-first", first.output());
        keepOutput("interrupted-deploy-next", next.output());
        if (second) keepOutput("concurrent-deploy-second", both(second.out));
      }
      expect(next.output()).not.toMatch(/Error acquiring the state lock/);
      // Killed past Terraform's first 20 s state snapshot, some machine stages are recorded as
      // created though they never finished: the plan sees those machines are missing and
      // makes them again (the install stage would too, for one lost since the plan).
      const remade = [
        ...new Set(
          [
            ...stripVTControlCharacters(next.output()).matchAll(
              /\[observed\] machine-(node\d) will be applied again: \1 is missing|machine (node\d) is \w+ \(.*\) although Terraform recorded it/g,
            ),
          ].map((m) => (m[1] ?? m[2])!),
        ),
      ].sort();
      f.machinesRemade = remade.length;
      const workers = await waitForWorkers(
        transports(q.cluster)[0]!,
        q.cluster.schedulerAddress,
        true,
        ["node1", "node2", "node3"],
        30,
      );
      expect(workers).toHaveLength(3);
      return `killed ${f.killedAfterSeconds} s in, during "creating machine": ${f.processesKilled} processes, ${f.outsideCdktfGroup} of them outside cdktf's process group (terraform runs in a session of its own: a kill of cdktf's group alone leaves it and its stages running for a while), none survived; ${f.namespacesLeft} namespace(s) and ${f.lockInfoLeft ? "a" : "no"} .terraform.tfstate.lock.info left (the lock itself is an fcntl lock, gone with terraform); ${remade.length ? `Terraform had recorded ${remade.length} unfinished machine stage(s) as created (its 20 s mid-apply state snapshot): the plan saw ${remade.join(", ")} missing and made them again; ` : ""}the next deploy completed in ${f.nextDeploySeconds} s with 3 workers`;
    }),
  );

  const concurrent = interrupted.then(() =>
    settled(
      log.record("concurrent-deploy", async (f) => {
        expect(second, "the second deploy ran (interrupted-deploy)").toBeDefined();
        f.secondExitCode = second!.out.exitCode ?? -1;
        f.secondSeconds = round(second!.seconds, 1);
        expect(second!.out.exitCode).not.toBe(0);
        expect(both(second!.out)).toMatch(/Error acquiring the state lock/);
        // The refused deploy's synth looked at the cluster while the first one was still
        // installing, and left that view in cdktf.out: a later plan synthesizes again.
        const synth = await q!.cdktf("synth");
        expect(synth.out.exitCode, tail(synth.out)).toBe(0);
        const stackDir = path.join(q!.dir, "cdktf.out", "stacks", "dask-cluster");
        const plan = await q!.sh([
          terraformBinary(),
          `-chdir=${stackDir}`,
          "plan",
          "-detailed-exitcode",
          "-input=false",
          "-no-color",
        ]);
        f.planExitCode = plan.exitCode ?? -1;
        expect(plan.exitCode, tail(plan)).toBe(0);
        const said = both(second!.out)
          .split("\n")
          .find((l) => /Error acquiring the state lock/.test(l))!
          .replace(/^\s*dask-cluster\s+/, "")
          .trim();
        return `the second deploy exited ${f.secondExitCode} after ${f.secondSeconds} s: "${said}" (with the lock's holder and the -lock=false escape); the first completed; after a new synth (which observes the cluster), terraform plan -detailed-exitcode exited 0 (no changes)`;
      }),
    ),
  );

  const unreachable = concurrent.then(() =>
    settled(
      (async () => {
        try {
          if (!q) throw new Error("no cluster from interrupted-deploy");
          await log.record("unreachable-node", async (f) => {
            const ns = nodeNamespace(q!.cluster, "node3");
            const pids = (await $({ quiet: true })`ip netns pids ${ns}`).stdout.split(/\s+/).filter(Boolean);
            expect(pids.length).toBeGreaterThan(0);
            await $({ quiet: true })`kill -KILL ${pids}`;
            await $({ quiet: true })`ip netns del ${ns}`;
            f.processesKilled = pids.length;
            const r = await q!.sh(["node_modules/.bin/tsx", "provision/cli.ts", "verify-versions"]);
            f.verifyExitCode = r.exitCode ?? -1;
            expect(r.exitCode, tail(r)).toBe(2);
            expect(r.stdout).toMatch(/^unreachable: node3: /m);
            expect(r.stdout).toMatch(/^UNREACHABLE: node3 did not answer$/m);
            expect(r.stdout).not.toMatch(/unreachable: node[12]/);
            expect(r.stderr).toMatch(/some nodes could not be reached/);
            const d = await q!.cdktf("destroy");
            f.destroySeconds = round(d.seconds, 1);
            expect(d.out.exitCode, tail(d.out)).toBe(0);
            const after = await residue(
              q!.dir,
              q!.cluster.id,
              q!.cluster.nodes.map((n) => n.ip),
            );
            expect(after.namespaces).toEqual([]);
            expect(after.processes).toEqual([]);
            expect(after.hostListeners).toEqual(before!.hostListeners);
            expect(after.files).toEqual(before!.files);
            return `verify-versions exit 2: "unreachable: node3: …" and "UNREACHABLE: node3 did not answer"; cdktf destroy completed in ${f.destroySeconds} s and left no namespace, process, listener or file`;
          });
        } finally {
          if (q && existsSync(path.join(q.dir, ".cluster", "terraform.tfstate"))) await q.cdktf("destroy");
          q?.remove();
        }
      })(),
    ),
  );

  // A second chain, beside the first: a 1-node project, then a copy that is only synthesized.
  const cycles = settled(
    (async () => {
      await log.record("deploy-cycles", async (f) => {
        const c = makeProject(
          { provider: "local", nodes: { count: 1, cpus: 1, memoryMb: 1024 }, benchmark: { onDeploy: false } },
          "dvc-faults-cycles-",
        );
        try {
          const ips = c.cluster.nodes.map((n) => n.ip);
          const was = await residue(c.dir, c.cluster.id, ips);
          const links = await hostLinks();
          const times: string[] = [];
          for (let i = 1; i <= 3; i++) {
            const d = await c.cdktf("deploy");
            expect(d.out.exitCode, `cycle ${i} deploy: ${tail(d.out)}`).toBe(0);
            const x = await c.cdktf("destroy");
            expect(x.out.exitCode, `cycle ${i} destroy: ${tail(x.out)}`).toBe(0);
            const after = await residue(c.dir, c.cluster.id, ips);
            expect(after.namespaces, `cycle ${i}`).toEqual([]);
            expect(after.processes, `cycle ${i}`).toEqual([]);
            expect(after.hostListeners, `cycle ${i}`).toEqual(was.hostListeners);
            expect(after.files, `cycle ${i}`).toEqual(was.files);
            expect(await hostLinks(), `cycle ${i}: host network links`).toEqual(links);
            f[`cycle${i}DeploySeconds`] = round(d.seconds, 1);
            f[`cycle${i}DestroySeconds`] = round(x.seconds, 1);
            times.push(`${d.seconds.toFixed(0)} + ${x.seconds.toFixed(0)} s`);
          }
          return `3 of 3 cycles completed (deploy + destroy: ${times.join(", ")}); after each: no namespace, host link, process, listener or file outside .cluster/ and results/`;
        } finally {
          if (existsSync(path.join(c.dir, ".cluster", "terraform.tfstate"))) await c.cdktf("destroy");
          c.remove();
        }
      });
    })(),
  );

  const lock = cycles.then(() =>
    settled(
      (async () => {
        await log.record("edited-lock", async (f) => {
          const c = makeProject(SMALL, "dvc-faults-lock-");
          const cache = mkdtempSync(path.join(os.tmpdir(), "dvc-faults-cache-"));
          let index = "";
          try {
            // The wheel the index serves for one package, and its hash in the lock, changed.
            const lockFile = lockPath(c.dir, "x86_64");
            const text = readFileSync(lockFile, "utf8");
            const runtime = runtimeRefOf(c.cluster);
            const wheelhouse = wheelhouseDir(cacheDir(), runtime);
            const wheel = readdirSync(wheelhouse).find((w) => w.startsWith("toolz-"))!;
            const real = sha256(path.join(wheelhouse, wheel));
            expect(parseLock(text).entries.find((e) => e.name === "toolz")!.hashes).toContain(real);
            const edited = `${real.slice(0, -1)}${real.endsWith("0") ? "1" : "0"}`;
            writeFileSync(lockFile, text.replace(real, edited));
            const synth = await c.cdktf("synth");
            f.synthExitCode = synth.out.exitCode ?? -1;
            expect(synth.out.exitCode, tail(synth.out)).toBe(0);
            const stack = JSON.parse(
              readFileSync(path.join(c.dir, "cdktf.out", "stacks", "dask-cluster", "cdk.tf.json"), "utf8"),
            ) as {
              resource: { null_resource: Record<string, { triggers: { spec: string } }> };
            };
            const spec = stack.resource.null_resource.bundle!.triggers.spec;
            index = simpleIndexOf(wheelhouse);
            const port = 18000 + Math.floor(Math.random() * 1000);
            const script = withLoopbackIndex(
              index,
              port,
              c.dir,
              `${shq(process.execPath)} --import tsx provision/stage.ts apply`,
            );
            const r = await $({
              quiet: true,
              nothrow: true,
              env: {
                ...process.env,
                DVC_SPEC: spec,
                DVC_CACHE_DIR: cache,
                PIP_INDEX_URL: `http://127.0.0.1:${port}/simple/`,
              },
            })`unshare --net bash -c ${script}`;
            f.bundleStageExitCode = r.exitCode ?? -1;
            expect(r.exitCode, both(r)).toBe(2);
            expect(r.stderr).toMatch(
              /cluster-runtime\/requirements-x86_64\.lock does not match the files on the package index/,
            );
            expect(r.stderr).toMatch(/toolz==[\d.]+/);
            expect(r.stderr).toMatch(
              /edited by hand[\s\S]*regenerate it, never edit it: npm run lock -- --python 3\.11/,
            );
            expect(readdirSync(cache).filter((e) => e.startsWith("bundle-"))).toEqual([]);
            const said = r.stderr
              .split("\n")
              .filter((l) => /^error:|^\s+- |^\s+fix:/.test(l))
              .map((l) => l.trim())
              .join(" ");
            return `cdktf synth exit ${f.synthExitCode}; the bundle stage (the provisioner's command) exit 2 and no bundle written: "${said}"`;
          } finally {
            c.remove();
            removeDir(cache);
            if (index) removeDir(index);
          }
        });
      })(),
    ),
  );

  const converge = convergenceScenarios(lock, settled);
  deployJobs = {
    "interrupted-deploy": interrupted,
    "concurrent-deploy": concurrent,
    "unreachable-node": unreachable,
    "deploy-cycles": cycles,
    "edited-lock": lock,
    ...converge,
  };
  return deployJobs;
}

async function outcomeOf(id: DeployScenario): Promise<void> {
  const err = await startDeployScenarios()[id];
  if (err) throw err;
}

// --- convergence: what a deploy, stop and start do with what is really there --------------
//
// One 3-node project, after the lock scenario in the second chain: a healthy plan, a worker
// stage left half-done by a killed deploy, a lost node, a reboot, stop and start.

const plain = (out: { stdout: string; stderr: string }) => stripVTControlCharacters(both(out));
/** The stages a plan will apply again, as the synth printed them ("[observed] X will be applied again: why"). */
const observedIn = (text: string) =>
  new Map([...text.matchAll(/\[observed\] ([\w-]+) will be applied again: (.*)/g)].map((m) => [m[1]!, m[2]!.trim()]));
/** The converge resources an apply ran, by stage name. */
const appliedIn = (text: string) =>
  [
    ...new Set(
      [...text.matchAll(/null_resource\.converge-([\w-]+)(?: \([^)]*\))?: Creating\.\.\./g)].map((m) => m[1]!),
    ),
  ].sort();

function convergenceScenarios(
  after: Promise<unknown>,
  settled: (p: Promise<void>) => Promise<unknown>,
): Record<"healthy-plan" | "half-done-stage" | "lost-node" | "reboot" | "stop-start", Promise<unknown>> {
  let r: TestProject | undefined;
  let was: Residue | undefined;
  const need = () => {
    if (!r) throw new Error("no cluster: healthy-plan did not deploy one");
    return r;
  };
  const names = ["node1", "node2", "node3"];
  const tsx = (script: string, args: string[] = []) =>
    need().sh(["node_modules/.bin/tsx", "provision/cli.ts", script, ...args]);
  const diff = async () => {
    const d = await need().sh(["node_modules/.bin/cdktf", "diff"]);
    expect(d.exitCode, tail(d)).toBe(0);
    return plain(d);
  };
  const planExit = async () => {
    const stackDir = path.join(need().dir, "cdktf.out", "stacks", "dask-cluster");
    return (
      (
        await need().sh([
          terraformBinary(),
          `-chdir=${stackDir}`,
          "plan",
          "-detailed-exitcode",
          "-input=false",
          "-no-color",
        ])
      ).exitCode ?? -1
    );
  };
  const deploy = async () => {
    const d = await need().cdktf("deploy");
    expect(d.out.exitCode, tail(d.out, 60)).toBe(0);
    return { text: plain(d.out), seconds: round(d.seconds, 1) };
  };
  const threeWorkers = async () => {
    const c = need().cluster;
    const ws = await waitForWorkers(transports(c)[0]!, c.schedulerAddress, true, names, 60);
    for (const n of c.nodes) expect(ws.find((w) => w.name === n.name)?.host, n.name).toBe(n.ip);
    return ws;
  };
  const killNamespace = async (ns: string) => {
    const pids = (await $({ quiet: true, nothrow: true })`ip netns pids ${ns}`).stdout.split(/\s+/).filter(Boolean);
    if (pids.length) await $({ quiet: true, nothrow: true })`kill -KILL ${pids}`;
    await $({ quiet: true })`ip netns del ${ns}`;
    return pids.length;
  };

  const healthy = after.then(() =>
    settled(
      log.record("healthy-plan", async (f) => {
        r = makeProject(SMALL, "dvc-faults-converge-");
        was = await residue(
          r.dir,
          r.cluster.id,
          r.cluster.nodes.map((n) => n.ip),
        );
        const first = await deploy();
        f.coldDeploySeconds = first.seconds;
        const t0 = Date.now();
        const text = await diff();
        f.diffSeconds = seconds(t0);
        expect([...observedIn(text).keys()]).toEqual([]);
        expect(text).toMatch(/No changes/);
        f.planExitCode = await planExit();
        expect(f.planExitCode).toBe(0);
        const again = await deploy();
        f.noopDeploySeconds = again.seconds;
        expect(appliedIn(again.text)).toEqual([]);
        return `cold deploy ${first.seconds} s; cdktf diff (synth with what it observed, then plan) ${f.diffSeconds} s: "No changes", terraform plan -detailed-exitcode 0; a second cdktf deploy applied nothing in ${again.seconds} s`;
      }),
    ),
  );

  const halfDone = healthy.then(() =>
    settled(
      log.record("half-done-stage", async (f) => {
        // Terraform writes a null_resource into its state as created before its provisioner
        // runs, and persists the state on an update at least 20 s after the apply's first
        // (hashicorp/terraform#32680). So: node2's and node3's workers stopped (the deploy
        // restarts both), both links cut (both stages wait); node3's link back after 21 s,
        // its stage completes, that update is persisted with node2's unfinished stage in
        // it; then the deploy is killed.
        const p = need();
        const ts = transports(p.cluster);
        const link = (node: string, how: "up" | "down") =>
          $({ quiet: true, nothrow: true })`ip -n ${networkNamespace(p.cluster)} link set v-${node} ${how}`;
        for (const n of [1, 2]) await stopService(ts[n]!, "worker");
        await link("node2", "down");
        await link("node3", "down");
        let killed: ReturnType<typeof killTree> | undefined;
        const creating = (node: string) => new RegExp(`converge-worker-${node}(?: \\([^)]*\\))?: Creating\\.\\.\\.`);
        const run = spawnGroup(["node_modules/.bin/cdktf", "deploy", "--auto-approve"], {
          cwd: p.dir,
          env: cdktfEnv(),
        });
        try {
          await run.waitFor(creating("node2"), 600_000);
          await run.waitFor(creating("node3"), 60_000);
          await new Promise((res) => setTimeout(res, 21_000));
          await link("node3", "up");
          await run.waitFor(/converge-worker-node3(?: \([^)]*\))?: Creation complete/, 120_000);
          await new Promise((res) => setTimeout(res, 1_000));
          killed = killTree(run.child.pid!);
          await run.exited;
        } finally {
          if (run.isRunning()) killTree(run.child.pid!);
          await link("node2", "up");
          await link("node3", "up");
          keepOutput("half-done-stage-killed", run.output());
        }
        await new Promise((res) => setTimeout(res, 500));
        expect(survivors(run.child.pid!, killed?.sessions ?? [])).toEqual([]);
        // What the killed stage left: a worker started but never seen registered. Stopped, it is half-done.
        await stopService(ts[1]!, "worker");
        const recorded =
          recordedObservations(path.join(p.dir, ".cluster", "terraform.tfstate")).get("worker-node2") ?? "";
        f.recordedAsCreated = recorded.startsWith("#1");
        expect(recorded, "Terraform's persisted state records worker-node2's unfinished stage as created").toMatch(
          /^#1 /,
        );
        const text = await diff();
        const seen = observedIn(text);
        expect([...seen.keys()]).toEqual(["worker-node2"]);
        expect(seen.get("worker-node2")).toBe(`the scheduler does not list node2 at ${p.cluster.nodes[1]!.ip}`);
        const next = await deploy();
        f.repairDeploySeconds = next.seconds;
        expect(appliedIn(next.text)).toEqual(["worker-node2"]);
        await threeWorkers();
        return `killed ${killed?.processes ?? 0} processes while worker-node2's stage waited, just after a state snapshot: Terraform had recorded that stage as created ("${recorded}"); the next plan observed "${seen.get("worker-node2")}" and listed only it; the next deploy (${next.seconds} s) applied worker-node2 alone; 3 workers registered`;
      }),
    ),
  );

  const lost = halfDone.then(() =>
    settled(
      log.record("lost-node", async (f) => {
        const p = need();
        f.processesKilled = await killNamespace(nodeNamespace(p.cluster, "node3"));
        const expected = ["install-node3", "machine-node3", "tls", "version-gate", "worker-node3"];
        const seen = observedIn(await diff());
        expect([...seen.keys()].sort()).toEqual(expected);
        expect(seen.get("machine-node3")).toBe(`node3 is missing (no namespace ${nodeNamespace(p.cluster, "node3")})`);
        const next = await deploy();
        f.repairDeploySeconds = next.seconds;
        expect(appliedIn(next.text)).toEqual(expected);
        await threeWorkers();
        return `the plan listed ${expected.join(", ")} (machine-node3: "${seen.get("machine-node3")}"), nothing else; the deploy ran exactly those in ${next.seconds} s; node3 registered again`;
      }),
    ),
  );

  const reboot = lost.then(() =>
    settled(
      log.record("reboot", async (f) => {
        const p = need();
        let killedProcesses = 0;
        for (const ns of [...p.cluster.nodes.map((n) => nodeNamespace(p.cluster, n.name)), networkNamespace(p.cluster)])
          killedProcesses += await killNamespace(ns);
        f.processesKilled = killedProcesses;
        const seen = observedIn(await diff());
        const expected = [
          "network",
          "scheduler",
          "tls",
          "version-gate",
          ...names.flatMap((n) => [`install-${n}`, `machine-${n}`, `worker-${n}`]),
        ].sort();
        expect([...seen.keys()].sort()).toEqual(expected);
        expect(seen.get("network")).toBe("the private network is gone");
        const next = await deploy();
        f.repairDeploySeconds = next.seconds;
        expect(appliedIn(next.text)).toEqual(expected);
        expect(next.text).toMatch(/already installed \(bundle-id and a complete venv\): nothing to copy/);
        await threeWorkers();
        const bench = await tsx("benchmark", ["--workloads", "inc-sleep", "--size", "small"]);
        expect(bench.exitCode, tail(bench, 30)).toBe(0);
        const results = JSON.parse(readFileSync(path.join(p.dir, "results", "latest", "results.json"), "utf8")) as {
          workloads: { "inc-sleep": { cases: Array<{ correct: boolean }> } };
        };
        for (const c of results.workloads["inc-sleep"].cases) expect(c.correct).toBe(true);
        return `${killedProcesses} processes killed, 4 namespaces deleted; the plan listed ${expected.length} stages to apply again (network: "${seen.get("network")}"); the deploy brought back 3 workers on their private IPs in ${next.seconds} s (the runtime kept on disk: nothing copied); benchmark inc-sleep (small) correct`;
      }),
    ),
  );

  const stopStart = reboot.then(() =>
    settled(
      (async () => {
        try {
          await log.record("stop-start", async (f) => {
            const p = need();
            const t0 = Date.now();
            const stop = await tsx("stop");
            f.stopSeconds = seconds(t0);
            expect(stop.exitCode, tail(stop)).toBe(0);
            const again = await tsx("stop");
            expect(again.exitCode, tail(again)).toBe(0);
            for (const n of p.cluster.nodes)
              expect(
                (await $({ quiet: true })`ip netns pids ${nodeNamespace(p.cluster, n.name)}`).stdout.trim(),
                `${n.name}: processes after stop`,
              ).toBe("");
            const status = await tsx("status", ["--json"]);
            expect(status.exitCode).toBe(1);
            const s = JSON.parse(status.stdout) as {
              stoppedSince?: string;
              nodes: Array<{ services: Array<{ running: boolean }> }>;
            };
            expect(s.stoppedSince).toBeDefined();
            const human = await tsx("status");
            expect(human.stdout).toMatch(/stopped since .*npm run start brings it back/);
            const t1 = Date.now();
            const start = await tsx("start");
            f.startSeconds = seconds(t1);
            expect(start.exitCode, tail(start)).toBe(0);
            expect(start.stdout).toMatch(
              /started and verified in .*3 workers registered, versions identical\ndashboard: http:\/\/192\.168\.56\.11:8787\/status/,
            );
            const t2 = Date.now();
            const start2 = await tsx("start");
            f.secondStartSeconds = seconds(t2);
            expect(start2.exitCode, tail(start2)).toBe(0);
            await threeWorkers();
            const v = await tsx("verify-versions");
            expect(v.exitCode, tail(v)).toBe(0);
            expect((await tsx("status")).exitCode).toBe(0);
            const text = await diff();
            expect(text).toMatch(/No changes/);
            return `stop ${f.stopSeconds} s (a second stop: exit 0), no process left in the nodes' namespaces, status exit 1 "stopped since …"; start ${f.startSeconds} s to 3 registered workers and identical versions (a second start: ${f.secondStartSeconds} s, exit 0); verify-versions exit 0; cdktf diff: no changes`;
          });
        } finally {
          if (r) {
            if (existsSync(path.join(r.dir, ".cluster", "terraform.tfstate"))) {
              const d = await r.cdktf("destroy");
              expect(d.out.exitCode, tail(d.out)).toBe(0);
              const left = await residue(
                r.dir,
                r.cluster.id,
                r.cluster.nodes.map((n) => n.ip),
              );
              expect(left.namespaces).toEqual([]);
              expect(left.processes).toEqual([]);
              expect(left.files).toEqual(was!.files);
            }
            r.remove();
          }
        }
      })(),
    ),
  );

  return { "healthy-plan": healthy, "half-done-stage": halfDone, "lost-node": lost, reboot, "stop-start": stopStart };
}
