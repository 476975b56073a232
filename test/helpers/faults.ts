// The fault scenarios of test/faults.local.test.ts as data (what is done to the cluster,
// what must happen), the record of what a run observed (test-output/faults.json, which
// provision/commands/faults-table.ts renders into the README), and the tools the scenarios share:
// a service's processes on a node, Python streamed from a node, a command in its own
// process group, and a package index reachable only on loopback.
import { spawn, type ChildProcess } from "node:child_process";
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import os from "node:os";
import path from "node:path";

import type { ServiceName } from "../../provision/services/definitions.js";
import { shq, type RunResult, type Transport } from "../../provision/machines/transport.js";
import { CLIENT_PRELUDE } from "./cluster.js";
import { normalizeName } from "../../provision/runtime/lock.js";
import { nodePaths } from "../../provision/core/node-paths.js";

export type ScenarioId =
  | "worker-loss"
  | "bad-arguments"
  | "missing-bundle"
  | "corrupted-bundle"
  | "poison-task"
  | "link-cut"
  | "scheduler-loss"
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

export interface Scenario {
  readonly id: ScenarioId;
  /** Short name, the first column of the README table. */
  readonly title: string;
  /** What the test does to the cluster. */
  readonly done: string;
  /** What must happen for the scenario to pass. */
  readonly expected: string;
}

/** Every scenario of the suite, in the order the suite runs them. */
export const SCENARIOS: readonly Scenario[] = [
  {
    id: "worker-loss",
    title: "Worker loss",
    done: "60 × sleep(0.5) tasks summed from a client on node1, once undisturbed, once with node2's worker process (the nanny's child) killed with SIGKILL 1 s in",
    expected: "right sum; wall time ≤ 1.5 × undisturbed; node2's worker registered again within 15 s of the kill",
  },
  {
    id: "bad-arguments",
    title: "Bad arguments",
    done: "benchmark --size huge, benchmark --nodes 9, verify-versions --bogus, logs node1 nanny",
    expected: "each exits 2 naming the bad value and the allowed ones; status and versions unchanged",
  },
  {
    id: "missing-bundle",
    title: "Missing cached bundle",
    done: "re-install node3 (verify-versions --fix after a drift) with bundle-<id>.tar absent from the cache",
    expected: "the bundle is rebuilt from the cached wheelhouse, byte-identical; node3 identical again",
  },
  {
    id: "corrupted-bundle",
    title: "Corrupted cached bundle",
    done: "the same re-install with the cached tar truncated to half and 4 KiB of garbage appended",
    expected:
      "the damage is detected on the host (sha256 recorded beside the tar) and the bundle rebuilt; node3 identical again",
  },
  {
    id: "poison-task",
    title: "Poison task",
    done: "a task that kills its own worker (os.kill(os.getpid(), 9))",
    expected:
      "KilledWorker after dask.allowedFailures + 1 worker deaths, within 60 s; then 3 workers, each runs a task",
  },
  {
    id: "link-cut",
    title: "Link cut",
    done: "30 × sleep(0.5) tasks; 1 s in, node2's link on the bridge set down (ip link set v-node2 down); set up again after the result",
    expected:
      "right sum (node2's tasks move to node1/node3 once the 30 s worker-ttl drops it); node2 registered again within 60 s of the link coming back",
  },
  {
    id: "scheduler-loss",
    title: "Scheduler loss",
    done: "npm run benchmark -- --workloads inc-sleep --size small; the scheduler's dask process killed with SIGKILL during the first case",
    expected:
      "the benchmark exits non-zero within 30 s naming the lost scheduler connection; the supervisor restarts the scheduler; 3 workers rejoin; a re-run succeeds",
  },
  {
    id: "interrupted-deploy",
    title: "Interrupted deploy",
    done: "a fresh cdktf deploy killed with SIGKILL while a machine stage runs: its process group and terraform's own session (cdktf runs terraform on a pseudo-terminal)",
    expected: "nothing of it survives; no stale state lock; the next cdktf deploy completes with 3 workers",
  },
  {
    id: "concurrent-deploy",
    title: "Two deploys at once",
    done: "a second cdktf deploy on the same project while the first one applies",
    expected:
      'the second is refused with "Error acquiring the state lock"; the first completes; a later synth and plan show no changes',
  },
  {
    id: "unreachable-node",
    title: "Node gone",
    done: "node3 of that cluster removed under it (its processes killed, its namespace deleted), then verify-versions, then cdktf destroy",
    expected: "verify-versions exits 2 naming node3; destroy completes and leaves nothing behind",
  },
  {
    id: "deploy-cycles",
    title: "Deploy/destroy cycles",
    done: "three cdktf deploy + cdktf destroy cycles in a row of a 1-node cluster (benchmark off)",
    expected:
      "every cycle completes; after each destroy no namespace, host link, process, listener or file outside .cluster/ and results/",
  },
  {
    id: "edited-lock",
    title: "Lock edited by hand",
    done: "one sha256 in a copy's requirements-x86_64.lock changed (the one of a wheel the index serves), then cdktf synth and the bundle stage, against a package index on loopback only",
    expected:
      "synth passes (it cannot see the index); the bundle stage exits 2 saying the lock does not match the index and how to regenerate it",
  },
  {
    id: "healthy-plan",
    title: "Healthy cluster, deployed again",
    done: "cdktf diff, then cdktf deploy, on a cluster where nothing is wrong",
    expected: "the plan shows no change (terraform plan -detailed-exitcode 0); the deploy applies nothing",
  },
  {
    id: "half-done-stage",
    title: "Service stage half-done",
    done: "node2's and node3's workers stopped and their links cut, so a deploy restarts both and both stages wait; node3's link back after 21 s (its stage completes, Terraform persists a snapshot); the deploy killed with SIGKILL; the worker it started on node2 stopped; node2's link back",
    expected:
      "Terraform's state records worker-node2's unfinished stage as created; the next plan observes node2 is not registered and lists worker-node2 alone; the next deploy applies only it; 3 workers",
  },
  {
    id: "lost-node",
    title: "Node lost",
    done: "node3's processes killed and its namespace deleted, then cdktf diff and cdktf deploy",
    expected:
      "the plan lists node3's machine, install and worker, the certificates and the version gate, with why, and nothing else; only those run; node3 registered again",
  },
  {
    id: "reboot",
    title: "Host reboot",
    done: "every process of the cluster killed, its node namespaces and its bridge's namespace deleted (what a reboot leaves), then cdktf diff and cdktf deploy",
    expected:
      "the plan lists every stage that makes or runs something, with why; the deploy brings back 3 workers on their private IPs; the benchmark's result is correct",
  },
  {
    id: "stop-start",
    title: "Stop and start",
    done: "npm run stop twice, npm run status, npm run start twice, verify-versions, cdktf diff",
    expected:
      "stop ends every service (status: stopped, exit 1); start brings back 3 workers and identical versions; both idempotent; the plan after shows no change",
  },
];

export function scenario(id: ScenarioId): Scenario {
  const s = SCENARIOS.find((x) => x.id === id);
  if (!s) throw new Error(`no scenario ${id} in test/helpers/faults.ts`);
  return s;
}

/** Figures a scenario measured: seconds, ratios, counts, exit codes. */
export type Figures = Record<string, number | string | boolean>;

export interface Outcome extends Scenario {
  readonly passed: boolean;
  /** What happened, in a sentence with the figures. */
  readonly observed: string;
  readonly figures: Figures;
  readonly seconds: number;
}

export interface FaultsRun {
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly host: {
    readonly cpus: number;
    readonly loadAtStart: readonly number[];
    readonly loadAtEnd: readonly number[];
  };
  readonly outcomes: readonly Outcome[];
}

export const FAULTS_JSON = path.join("test-output", "faults.json");

const round = (x: number, digits = 2) => Number(x.toFixed(digits));

/**
 * Collects outcomes and rewrites the JSON after each one, so that a run stopped half-way
 * still leaves what it saw. A scenario's body fills in figures and returns the observed
 * sentence; when it throws, the outcome is recorded as failed with the error's first line.
 */
export class FaultLog {
  private readonly outcomes: Outcome[] = [];
  private readonly startedAt = new Date().toISOString();
  private readonly loadAtStart = os.loadavg().map((l) => round(l));

  constructor(private readonly file: string) {}

  async record(id: ScenarioId, body: (figures: Figures) => Promise<string>): Promise<void> {
    const s = scenario(id);
    const figures: Figures = {};
    const t0 = performance.now();
    try {
      const observed = await body(figures);
      this.push({ ...s, passed: true, observed, figures, seconds: round((performance.now() - t0) / 1000, 1) });
    } catch (err) {
      const first = (err instanceof Error ? err.message : String(err)).split("\n")[0]!.slice(0, 300);
      this.push({
        ...s,
        passed: false,
        observed: `FAILED: ${first}`,
        figures,
        seconds: round((performance.now() - t0) / 1000, 1),
      });
      throw err;
    }
  }

  private push(o: Outcome): void {
    this.outcomes.push(o);
    const run: FaultsRun = {
      startedAt: this.startedAt,
      finishedAt: new Date().toISOString(),
      host: { cpus: os.cpus().length, loadAtStart: this.loadAtStart, loadAtEnd: os.loadavg().map((l) => round(l)) },
      outcomes: this.outcomes,
    };
    mkdirSync(path.dirname(this.file), { recursive: true });
    writeFileSync(`${this.file}.tmp`, `${JSON.stringify(run, null, 2)}\n`);
    renameSync(`${this.file}.tmp`, this.file);
  }
}

export { round };

// --- a node's services ---------------------------------------------------------------

export interface ServiceStatus {
  readonly running: boolean;
  /** The supervisor. */
  readonly pid: number | null;
  /** The `dask` process: the scheduler, or the nanny of a worker. */
  readonly child_pid: number | null;
  readonly restarts: number;
  readonly since: string | null;
}

export async function serviceStatus(t: Transport, name: ServiceName): Promise<ServiceStatus> {
  const r = await t.run(
    `${shq(nodePaths(t.root).python)} -m dask_vm_runtime service status ${name} --root ${shq(t.root)} --manager supervisor`,
  );
  return JSON.parse(r.stdout) as ServiceStatus;
}

/** The worker process a nanny runs: its child started by multiprocessing's spawn. */
export async function workerProcessOf(t: Transport): Promise<{ nanny: number; worker: number }> {
  const s = await serviceStatus(t, "worker");
  if (!s.child_pid) throw new Error(`${t.node}: the worker service has no running nanny: ${JSON.stringify(s)}`);
  const children = await t.run(`pgrep -a -P ${s.child_pid}`, { nothrow: true });
  const line = children.stdout.split("\n").find((l) => l.includes("spawn_main"));
  if (!line)
    throw new Error(
      `${t.node}: the nanny ${s.child_pid} has no worker process (children: ${children.stdout.trim() || "none"})`,
    );
  return { nanny: s.child_pid, worker: Number(line.trim().split(" ")[0]) };
}

/** Polls until check returns a value, or throws after timeoutMs with the last reason. */
export async function waitUntil<T>(
  what: string,
  timeoutMs: number,
  check: () => Promise<T | undefined>,
  everyMs = 250,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

// --- Python on a node, line by line ----------------------------------------------------

/**
 * Runs Python (after the client prelude) on a node; onEvent gets every JSON line it prints
 * as it comes, so the test can act at a given moment of the run. Returns the events.
 */
export async function pyEvents(
  t: Transport,
  code: string,
  onEvent: (e: Record<string, unknown>) => void | Promise<void>,
  timeoutMs = 240_000,
): Promise<{ events: Array<Record<string, unknown>>; result: RunResult }> {
  const events: Array<Record<string, unknown>> = [];
  const pending: Array<void | Promise<void>> = [];
  const result = await t.run(`${shq(nodePaths(t.root).python)} -`, {
    input: `${CLIENT_PRELUDE}\n${code}`,
    timeoutMs,
    nothrow: true,
    onLine: (line) => {
      if (!line.startsWith("{")) return;
      const e = JSON.parse(line) as Record<string, unknown>;
      events.push(e);
      pending.push(onEvent(e));
    },
  });
  await Promise.all(pending);
  if (result.exitCode !== 0)
    throw new Error(
      `python on ${t.node} exited ${result.exitCode}: ${result.stderr.trim().split("\n").slice(-6).join(" | ")}`,
    );
  return { events, result };
}

// --- a command in its own process group ----------------------------------------------

export interface GroupRun {
  readonly child: ChildProcess;
  /** stdout and stderr so far, interleaved. */
  output(): string;
  /** Resolves when the output matches, rejects when the command ends first or after timeoutMs. */
  waitFor(pattern: RegExp, timeoutMs: number): Promise<void>;
  /** SIGKILL to every process of the group. */
  killGroup(): void;
  isRunning(): boolean;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
}

/** Spawns argv as the leader of a new process group (as a terminal would run it). */
export function spawnGroup(argv: readonly string[], opts: { cwd: string; env: NodeJS.ProcessEnv }): GroupRun {
  const child = spawn(argv[0]!, argv.slice(1), {
    cwd: opts.cwd,
    env: opts.env,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  const waiters: Array<{ pattern: RegExp; resolve: () => void }> = [];
  const onData = (b: Buffer) => {
    out += b.toString();
    for (const w of [...waiters]) {
      if (w.pattern.test(out)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  };
  child.stdout!.on("data", onData);
  child.stderr!.on("data", onData);
  let running = true;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) =>
    child.on("close", (code, signal) => {
      running = false;
      resolve({ code, signal, at: Date.now() });
    }),
  );
  return {
    child,
    output: () => out,
    exited,
    isRunning: () => running,
    killGroup() {
      if (!running) return;
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {
        // the group is already gone
      }
    },
    waitFor(pattern, timeoutMs) {
      if (pattern.test(out)) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`no ${pattern} in the output within ${timeoutMs / 1000} s:\n${out.slice(-2000)}`)),
          timeoutMs,
        );
        waiters.push({
          pattern,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        });
        void exited.then(({ code }) => {
          clearTimeout(timer);
          if (!pattern.test(out))
            reject(new Error(`the command ended (exit ${code}) before ${pattern} showed:\n${out.slice(-2000)}`));
        });
      });
    },
  };
}

interface Proc {
  readonly pid: number;
  readonly ppid: number;
  readonly pgid: number;
  readonly sid: number;
}

function processTable(): Proc[] {
  const out: Proc[] = [];
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (f[0] !== "Z") out.push({ pid: Number(pid), ppid: Number(f[1]), pgid: Number(f[2]), sid: Number(f[3]) });
    } catch {
      // ended while we looked
    }
  }
  return out;
}

/**
 * SIGKILL to a command and everything it started, as when the machine running a deploy
 * dies: its process group, and the sessions its descendants lead (cdktf runs terraform on
 * a pseudo-terminal, in a session of its own, which a signal to cdktf's group misses).
 * Returns how many processes the tree had, how many of them were outside the group, and
 * the sessions it led.
 */
export function killTree(root: number): { processes: number; outsideGroup: number; sessions: number[] } {
  const table = processTable();
  const tree = new Set([root]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const p of table) {
      if (tree.has(p.ppid) && !tree.has(p.pid)) {
        tree.add(p.pid);
        grew = true;
      }
    }
  }
  const members = table.filter((p) => tree.has(p.pid));
  const sessions = new Set(members.filter((p) => p.sid === p.pid).map((p) => p.sid));
  const kill = (pid: number) => {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  };
  kill(-root);
  for (const sid of sessions) kill(-sid);
  for (const p of members) kill(p.pid);
  for (const p of processTable()) if (sessions.has(p.sid)) kill(p.pid);
  return {
    processes: members.length,
    outsideGroup: members.filter((p) => p.pgid !== root).length,
    sessions: [...sessions],
  };
}

/** Processes left in the group or sessions of a killed tree (none, once it is dead). */
export function survivors(root: number, sessionsOf: readonly number[] = []): number[] {
  return processTable()
    .filter((p) => p.pgid === root || sessionsOf.includes(p.sid))
    .map((p) => p.pid);
}

// --- a package index on loopback ---------------------------------------------------------

/**
 * A PEP 503 "simple" index of the wheels in a folder: simple/<name>/ lists the project's
 * wheels (python's http.server lists a folder as links, which is all pip reads). Served
 * from inside a network namespace of its own with only loopback, by the command that
 * needs it, so that nothing can reach any other address.
 */
export function simpleIndexOf(wheelhouse: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), "dvc-faults-index-"));
  for (const whl of readdirSync(wheelhouse).filter((f) => f.endsWith(".whl"))) {
    const project = normalizeName(whl.split("-")[0]!);
    mkdirSync(path.join(dir, "simple", project), { recursive: true });
    symlinkSync(path.join(wheelhouse, whl), path.join(dir, "simple", project, whl));
  }
  return dir;
}

/**
 * bash for `unshare --net`: brings loopback up, serves `root` on 127.0.0.1:port for as long
 * as `command` runs (in `cwd`), and exits with the command's status.
 */
export function withLoopbackIndex(root: string, port: number, cwd: string, command: string): string {
  return [
    "ip link set lo up",
    `(cd ${shq(root)} && exec python3 -m http.server ${port} --bind 127.0.0.1 >/dev/null 2>&1) & server=$!`,
    "trap 'kill $server 2>/dev/null' EXIT",
    `for i in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/${port}) 2>/dev/null && break; sleep 0.1; done`,
    `cd ${shq(cwd)} && ${command}`,
  ].join("\n");
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
