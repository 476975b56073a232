// A Dask cluster started by hand, as a student or a lab would: network namespaces on a
// bridge of their own (no route out, no link to this machine's network), `dask scheduler`
// in the first, `dask worker` in each, with whatever flags a scenario wants, and one more
// namespace for the client. Nothing of this project's stack is used: the point is a
// cluster this project did not build. Needs root (namespaces).
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { $ } from "zx";

export interface HandCluster {
  readonly subnet: string;
  readonly scheduler: string;
  readonly python: string;
  readonly work: string;
  /** The namespace of node i (1-based), or of the client ("c"). */
  ns(node: number | "c"): string;
  ip(node: number): string;
  /** Starts node i's worker (stopping the one it had), named node<i>, with extra flags and env. */
  startWorker(node: number, flags?: readonly string[], env?: Readonly<Record<string, string>>): Promise<void>;
  stopWorker(node: number): Promise<void>;
  /** Waits until the scheduler lists exactly these worker names. */
  waitWorkers(names: readonly string[]): Promise<void>;
  remove(): Promise<void>;
}

function killGroup(child: ChildProcess | undefined): Promise<void> {
  if (!child?.pid || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once("exit", () => resolve());
    try {
      process.kill(-child.pid!, "SIGTERM");
    } catch {
      resolve();
    }
    setTimeout(() => {
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {
        /* gone */
      }
    }, 5000).unref();
  });
}

export async function handCluster(python: string, nodes = 3, subnet = "10.77.0"): Promise<HandCluster> {
  const tag = `dvcdg${process.pid % 100000}`;
  const br = `${tag}br`;
  const ns = (n: number | "c") => `${tag}${n === "c" ? "c" : `n${n}`}`;
  const ip = (n: number) => `${subnet}.${10 + n}`;
  const work = mkdtempSync(path.join(os.tmpdir(), "dvc-hand-cluster-"));
  const procs = new Map<string, ChildProcess>();
  const q = $({ quiet: true });
  await q`ip netns add ${br}`;
  await q`ip -n ${br} link add br0 type bridge`;
  await q`ip -n ${br} link set br0 up`;
  const all: Array<number | "c"> = [...Array.from({ length: nodes }, (_, i) => i + 1), "c"];
  for (const n of all) {
    const addr = n === "c" ? `${subnet}.9` : ip(n);
    await q`ip netns add ${ns(n)}`;
    await q`ip -n ${br} link add v${n} type veth peer name eth0 netns ${ns(n)}`;
    await q`ip -n ${br} link set v${n} master br0 up`;
    await q`ip -n ${ns(n)} addr add ${addr}/24 dev eth0`;
    await q`ip -n ${ns(n)} link set eth0 up`;
    await q`ip -n ${ns(n)} link set lo up`;
  }
  const start = (key: string, n: number, argv: readonly string[], env: Readonly<Record<string, string>> = {}) => {
    const log = path.join(work, `${key}.log`);
    writeFileSync(log, "");
    const child = spawn("ip", ["netns", "exec", ns(n), python, ...argv], {
      detached: true,
      stdio: ["ignore", "ignore", "pipe"],
      env: { ...process.env, ...env, DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT: "5s" },
    });
    child.stderr!.on("data", (b: Buffer) => writeFileSync(log, b, { flag: "a" }));
    procs.set(key, child);
    return child;
  };
  const scheduler = `tcp://${ip(1)}:8786`;
  start("scheduler", 1, [
    "-m",
    "distributed.cli.dask_scheduler",
    "--host",
    ip(1),
    "--port",
    "8786",
    "--dashboard-address",
    `${ip(1)}:8787`,
  ]);
  const cluster: HandCluster = {
    subnet,
    scheduler,
    python,
    work,
    ns,
    ip,
    async startWorker(n, flags = ["--host", ip(n)], env = {}) {
      await killGroup(procs.get(`worker${n}`));
      start(
        `worker${n}`,
        n,
        [
          "-m",
          "distributed.cli.dask_worker",
          scheduler,
          "--name",
          `node${n}`,
          "--nthreads",
          "1",
          "--no-nanny",
          ...flags,
        ],
        env,
      );
    },
    async stopWorker(n) {
      await killGroup(procs.get(`worker${n}`));
      procs.delete(`worker${n}`);
    },
    async waitWorkers(names) {
      const code = `
import sys, time
from distributed import Client
want = sorted(sys.argv[1].split(","))
c = Client(sys.argv[2], timeout=30)
deadline = time.time() + 60
while sorted(str(w["name"]) for w in c.scheduler_info(n_workers=-1)["workers"].values()) != want:
    if time.time() > deadline:
        sys.exit("workers: %s, wanted %s" % (sorted(str(w["name"]) for w in c.scheduler_info(n_workers=-1)["workers"].values()), want))
    time.sleep(0.2)
`;
      await $({
        quiet: true,
        timeout: 120_000,
      })`ip netns exec ${ns("c")} ${python} -c ${code} ${names.join(",")} ${scheduler}`;
    },
    async remove() {
      for (const child of procs.values()) await killGroup(child);
      for (const n of all) await $({ quiet: true, nothrow: true })`ip netns del ${ns(n)}`;
      await $({ quiet: true, nothrow: true })`ip netns del ${br}`;
      rmSync(work, { recursive: true, force: true });
    },
  };
  return cluster;
}
