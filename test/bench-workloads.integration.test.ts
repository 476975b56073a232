// The benchmark workloads for real: a scheduler and three one-thread workers (node1..3)
// on 127.0.0.1 with mutual TLS (certificates from provision/services/tls.ts), then
// `python -m dask_vm_runtime.bench --size small` with every workload, its JSON-lines
// stdout, and the results file checked against the schema and against the arithmetic
// (totals, SVD error, who ran the inc tasks). Also svd-ratings on a MovieLens-format file
// of ml-latest-small's size (sent from the client, and read from each node's copy), and
// ratings files that are not one.
//
// Python: $DVC_BENCH_PYTHON, else the venv in $TMPDIR/bench-venv, made from the runtime
// lock (cluster-runtime/requirements-x86_64.lock) when it is missing.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { $ } from "zx";
import { parseBenchEvent, validateResults, type BenchEvent, type Results } from "../provision/bench/results-schema.js";
import { createCa, issue, tlsFiles } from "../provision/services/tls.js";
import { benchPython } from "./helpers/runtime-python.js";

const REPO = path.resolve(import.meta.dirname, "..");
const RUNTIME = path.join(REPO, "cluster-runtime");
const NODES = ["node1", "node2", "node3"] as const;
const MEMORY_MB = 1024;

let work = "";
let python = "";
let address = "";
const procs: ChildProcess[] = [];

function env(): NodeJS.ProcessEnv {
  // DVC_DATA: the workers' data_dir(), what npm run data -- push fills on a real node.
  return { ...process.env, PYTHONPATH: RUNTIME, PYTHONDONTWRITEBYTECODE: "1", DVC_DATA: path.join(work, "data") };
}

function start(args: readonly string[], log: string): ChildProcess {
  const out = path.join(work, log);
  const child = spawn(python, args, { env: env(), detached: true, stdio: ["ignore", "ignore", "pipe"] });
  const chunks: Buffer[] = [];
  child.stderr!.on("data", (b: Buffer) => chunks.push(b));
  child.on("exit", () => writeFileSync(out, Buffer.concat(chunks)));
  procs.push(child);
  return child;
}

async function waitFor<T>(what: string, probe: () => T | undefined, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function makeTls(dir: string): Promise<void> {
  const ca = await createCa("dvc bench test CA", 2);
  const node = await issue(ca, "node", ["127.0.0.1"], 2);
  const client = await issue(ca, "client", [], 2);
  await writeFile(path.join(dir, "ca.pem"), ca.cert, { mode: 0o600 });
  for (const [who, pem] of [
    ["node", node],
    ["client", client],
  ] as const) {
    const f = tlsFiles(dir, who);
    await writeFile(f.cert, pem.cert, { mode: 0o600 });
    await writeFile(f.key, pem.key, { mode: 0o600 });
  }
}

const nodesJson = JSON.stringify(
  NODES.map((name) => ({ name, ip: "127.0.0.1", threads: 1, memoryLimitMb: MEMORY_MB })),
);

interface BenchRun {
  readonly exitCode: number | null;
  readonly lines: string[];
  readonly events: (BenchEvent | undefined)[];
  readonly stderr: string;
}

async function bench(args: readonly string[], timeoutMs = 600_000): Promise<BenchRun> {
  const r = await $({
    nothrow: true,
    quiet: true,
    env: env(),
    timeout: timeoutMs,
  })`${python} -m dask_vm_runtime.bench ${args}`;
  const lines = r.stdout.split("\n").filter((l) => l.trim() !== "");
  return { exitCode: r.exitCode, lines, events: lines.map(parseBenchEvent), stderr: r.stderr };
}

const tail = (s: string, n = 30) => s.split("\n").slice(-n).join("\n");

beforeAll(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), "dvc-bench-test-"));
  python = await benchPython();
  const tls = path.join(work, "tls");
  await $({ quiet: true })`mkdir -p ${tls}`;
  await makeTls(tls);
  const node = tlsFiles(tls, "node");
  const tlsArgs = ["--tls-ca-file", path.join(tls, "ca.pem"), "--tls-cert", node.cert, "--tls-key", node.key];
  const schedFile = path.join(work, "scheduler.json");
  start(
    [
      "-m",
      "distributed.cli.dask_scheduler",
      "--host",
      "127.0.0.1",
      "--port",
      "0",
      "--protocol",
      "tls",
      "--no-dashboard",
      "--scheduler-file",
      schedFile,
      ...tlsArgs,
    ],
    "scheduler.log",
  );
  address = await waitFor(
    "the scheduler file",
    () =>
      existsSync(schedFile) ? (JSON.parse(readFileSync(schedFile, "utf8")) as { address: string }).address : undefined,
    60_000,
  );
  for (const name of NODES) {
    start(
      [
        "-m",
        "distributed.cli.dask_worker",
        "--scheduler-file",
        schedFile,
        "--name",
        name,
        "--nthreads",
        "1",
        "--memory-limit",
        `${MEMORY_MB}MiB`,
        "--host",
        "127.0.0.1",
        "--no-dashboard",
        ...tlsArgs,
      ],
      `${name}.log`,
    );
  }
}, 900_000);

afterAll(async () => {
  for (const p of procs) {
    if (p.exitCode === null && p.pid) {
      try {
        process.kill(-p.pid, "SIGTERM");
      } catch {
        // already gone
      }
    }
  }
  const deadline = Date.now() + 15_000;
  while (procs.some((p) => p.exitCode === null && p.signalCode === null) && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 200));
  for (const p of procs) {
    if (p.exitCode === null && p.signalCode === null && p.pid) {
      try {
        process.kill(-p.pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
  }
  if (work) rmSync(work, { recursive: true, force: true });
}, 60_000);

describe("python -m dask_vm_runtime.bench on a 3-worker TLS loopback cluster", () => {
  let run: BenchRun;
  let results: Results;

  beforeAll(async () => {
    const out = path.join(work, "results.json");
    run = await bench([
      "--scheduler",
      address,
      "--tls-dir",
      path.join(work, "tls"),
      "--nodes",
      nodesJson,
      "--workloads",
      "inc-sleep,map-reduce,placement,svd,svd-ratings",
      "--size",
      "small",
      "--repeats",
      "1",
      "--seed",
      "7",
      "--node-counts",
      "1,2,3",
      "--out",
      out,
      "--timeout",
      "120",
      "--host-cpus",
      String(os.availableParallelism()),
    ]);
    if (run.exitCode !== 0) throw new Error(`bench exited ${run.exitCode}:\n${tail(run.stderr)}`);
    results = validateResults(JSON.parse(readFileSync(out, "utf8")));
    if (process.env.DVC_BENCH_KEEP_RESULTS) writeFileSync(process.env.DVC_BENCH_KEEP_RESULTS, readFileSync(out));
  }, 900_000);

  it("prints JSON-lines events only, from start to done, with per-workload progress", () => {
    const bad = run.lines.filter((_, i) => run.events[i] === undefined);
    expect(bad, "stdout lines that are not bench events").toEqual([]);
    const events = run.events as BenchEvent[];
    expect(events[0]!.event).toBe("start");
    expect(events.at(-1)!.event).toBe("done");
    const start = events[0] as Extract<BenchEvent, { event: "start" }>;
    const cases = events.filter((e): e is Extract<BenchEvent, { event: "case" }> => e.event === "case");
    expect(cases).toHaveLength(start.totalCases);
    expect(cases.at(-1)!.casesDone).toBe(start.totalCases);
    for (const w of ["inc-sleep", "map-reduce", "placement", "svd"]) {
      const mine = cases.filter((c) => c.workload === w);
      expect(mine.length, w).toBeGreaterThan(0);
      expect(mine.at(-1)!.done).toBe(mine.at(-1)!.total);
    }
  });

  it("records the run: nodes, every worker's hardware and versions, the client, the parameters", () => {
    expect(results.nodes.map((n) => n.name)).toEqual([...NODES]);
    expect(results.hardware.map((h) => h.node).sort()).toEqual([...NODES]);
    for (const h of results.hardware) {
      expect(h.nthreads).toBe(1);
      expect(h.memoryLimitBytes).toBe(MEMORY_MB * 2 ** 20);
      expect(h.cpuCount).toBeGreaterThan(0);
      expect(h.dask).toBe(results.client.dask);
    }
    expect(results.scheduler.address).toBe(address);
    expect(results.config).toMatchObject({
      size: "small",
      repeats: 1,
      seed: 7,
      nodeCounts: [1, 2, 3],
      tlsDir: path.join(work, "tls"),
      hostCpus: os.availableParallelism(),
    });
  });

  it("inc-sleep: right totals, runs restricted to the first k nodes, and all 3 workers share the 8 tasks", () => {
    const inc = results.workloads["inc-sleep"]!;
    expect(inc.tasks).toBe(8);
    expect(inc.expectedTotal).toBe(36);
    expect(inc.cases).toHaveLength(6);
    for (const c of inc.cases) {
      expect(c.correct).toBe(true);
      expect(c.idealSeconds).toBeCloseTo(Math.ceil(8 / c.nodes) * inc.delaySeconds, 9);
      for (const r of c.runs) {
        expect(r.total).toBe(36);
        expect(Object.values(r.tasksPerNode).reduce((a, b) => a + b, 0)).toBe(8);
        expect(Object.keys(r.tasksPerNode).sort()).toEqual(NODES.slice(0, c.nodes));
        // A task cannot take less than its sleep: a run faster than ideal would be a clock bug.
        expect(r.seconds).toBeGreaterThanOrEqual(c.idealSeconds);
        if (c.nodes === 3)
          for (const n of NODES) expect(r.tasksPerNode[n], `${c.reduction}: ${n}`).toBeGreaterThanOrEqual(2);
      }
    }
    expect(inc.sequentialSeconds).toBeGreaterThanOrEqual(8 * inc.delaySeconds);
  });

  it("map-reduce: the exact total in every variant, batched with far fewer tasks, a LocalCluster peer", () => {
    const mr = results.workloads["map-reduce"]!;
    let expected = 0;
    for (let x = 0; x < mr.items; x++) expected -= x * x;
    expect(mr.expectedTotal).toBe(expected);
    expect(mr.variants.map((v) => v.variant)).toEqual(["per-item", "batched", "local-cluster"]);
    for (const v of mr.variants) {
      expect(v.correct, v.variant).toBe(true);
      for (const r of v.runs) expect(r.total).toBe(expected);
    }
    const [perItem, batched, local] = mr.variants;
    expect(perItem!.graphTasks).toBe(2 * mr.items + 1);
    expect(batched!.graphTasks).toBe(4);
    expect(local!.target).toBe("local-cluster");
    expect(mr.localCluster).toMatchObject({ nWorkers: 3, threadsPerWorker: 1, processes: true, host: "127.0.0.1" });
    expect(mr.localCluster.scheduler).toMatch(/^tcp:\/\/127\.0\.0\.1:/);
  });

  it("placement: all 14 tasks ran, on every node, each near its share of the slots", () => {
    const pl = results.workloads.placement!;
    expect(pl.totalSlots).toBe(3);
    for (const r of pl.runs) expect(Object.values(r.tasksPerNode).reduce((a, b) => a + b, 0)).toBe(14);
    for (const p of pl.perNode) {
      expect(p.expectedShare).toBeCloseTo(1 / 3, 9);
      expect(p.tasks).toBeGreaterThan(0);
    }
  });

  it("svd: the planted singular values recovered within 1 % on every node count, a valid decomposition", () => {
    const svd = results.workloads.svd!;
    expect(svd.source).toBe("planted");
    expect(svd.cases.map((c) => c.nodes)).toEqual([1, 2, 3]);
    expect(svd.blocks).toBeGreaterThan(1);
    for (const c of svd.cases) {
      expect(c.singularValues).toHaveLength(svd.k);
      expect(c.maxRelativeError).not.toBeNull();
      expect(c.maxRelativeError!).toBeLessThan(0.01);
      expect(c.workerMemory.map((m) => m.node)).toEqual(NODES.slice(0, c.nodes));
    }
    expect(svd.check.maxRelativeResidual).toBeLessThan(0.01);
  });

  it("svd-ratings: a generated ml-latest-small, sparse, top-10 within 1 % of the exact SVD, svds beside it", () => {
    const r = results.workloads["svd-ratings"]!;
    expect(r.source).toMatchObject({ kind: "generated", shape: "ml-latest-small" });
    expect(r.shape).toEqual([9724, 610]);
    expect(r.sparseBytes).toBe(r.dataset.ratings * 8);
    expect(r.reference?.kind).toBe("exact");
    expect(r.cases.map((c) => c.nodes)).toEqual([1, 2, 3]);
    for (const c of r.cases) expect(c.maxRelativeError!).toBeLessThan(0.01);
    expect(r.peer?.node).toBe("node1");
    expect(r.check.maxRelativeResidual).toBeLessThan(0.05);
  });
});

describe("svd-ratings: MovieLens-format ratings, sparse, against the exact SVD; and bad input", () => {
  const csv = () => path.join(work, "data", "movielens", "ratings.csv");
  let file: NonNullable<Results["workloads"]["svd-ratings"]>;
  let written: { ratings: number };

  const ratingsBench = (matrix: string, out: string, extra: readonly string[] = []) =>
    bench([
      "--scheduler",
      address,
      "--tls-dir",
      path.join(work, "tls"),
      "--nodes",
      nodesJson,
      "--workloads",
      "svd-ratings",
      "--size",
      "small",
      "--repeats",
      "1",
      "--node-counts",
      "1,3",
      "--svd-matrix",
      matrix,
      "--out",
      out,
      ...extra,
    ]);

  beforeAll(async () => {
    // ml-latest-small's format (MovieLens' README: userId,movieId,rating,timestamp, a
    // header, sorted by user then film) and size (610 users, 9,724 films, ~100,000 ratings).
    const w = await $({
      quiet: true,
      env: env(),
    })`${python} -m dask_vm_runtime.bench.ratings write --shape ml-latest-small --seed 11 ${csv()}`;
    written = JSON.parse(w.stdout) as { ratings: number };
    const out = path.join(work, "ratings-file.json");
    const r = await ratingsBench(csv(), out);
    if (r.exitCode !== 0) throw new Error(`bench exited ${r.exitCode}:\n${tail(r.stderr)}`);
    file = validateResults(JSON.parse(readFileSync(out, "utf8"))).workloads["svd-ratings"]!;
  }, 600_000);

  it("a file of ml-latest-small's size: its every line read, top-10 within 1 % of the exact SVD on 1 and 3 nodes", () => {
    expect(readFileSync(csv(), "utf8").startsWith("userId,movieId,rating,timestamp\n")).toBe(true);
    expect(file.source.kind).toBe("file");
    expect(file.dataset).toMatchObject({ ratings: written.ratings, lines: written.ratings + 1, header: true });
    expect(file.dataset.ratings).toBeGreaterThan(99_000);
    expect(file.shape[1]).toBe(610);
    expect(file.reference?.kind).toBe("exact");
    expect(file.cases.map((c) => c.nodes)).toEqual([1, 3]);
    for (const c of file.cases) {
      expect(c.held).toBe(true);
      expect(c.ratings).toBe(written.ratings);
      expect(c.maxRelativeError!).toBeLessThan(0.01);
    }
    expect(file.peer?.maxRelativeError).toBeLessThan(1e-8); // svds agrees with the exact values
    expect(file.peer?.peakRssBytes).toBeGreaterThan(0);
    expect(file.denseBytes).toBe(file.shape[0] * file.shape[1] * 8);
    expect(file.workToSpread.enough).toBe(false); // ~12,000 ratings a block: nothing worth spreading
  });

  it("the same file from each node's own copy (data:), the same values", async () => {
    const out = path.join(work, "ratings-data.json");
    const r = await ratingsBench("data:movielens/ratings.csv", out, ["--node-counts", "3"]);
    if (r.exitCode !== 0) throw new Error(`bench exited ${r.exitCode}:\n${tail(r.stderr)}`);
    const data = validateResults(JSON.parse(readFileSync(out, "utf8"))).workloads["svd-ratings"]!;
    expect(data.source.kind).toBe("data");
    expect(data.reference!.singularValues).toEqual(file.reference!.singularValues);
    expect(data.cases[0]!.maxRelativeError!).toBeLessThan(0.01);
  }, 300_000);

  it("a data: file missing on the nodes exits 2 and says how to push it", async () => {
    const r = await ratingsBench("data:nowhere/ratings.csv", path.join(work, "never.json"));
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain("cannot read it");
    expect(r.stderr).toContain("npm run data -- push");
    expect(existsSync(path.join(work, "never.json"))).toBe(false);
  }, 120_000);

  const HEADER = "userId,movieId,rating,timestamp\n";
  const FORMAT = "a ratings file holds userId,movieId,rating[,timestamp]";
  it.each([
    ["empty", "", "is empty"],
    [
      "a wrong header",
      "user,movie,stars\n1,2,3\n",
      "line 1: the header 'user,movie,stars' names no userId, movieId, rating column",
    ],
    ["a non-number", `${HEADER}1,2,3.5,9\n1,3,four,9\n`, "line 3, column 3 (rating): 'four' is not a number"],
    ["a negative id", `${HEADER}1,2,3.5,9\n-4,3,4,9\n`, "line 3, column 1 (userId): '-4' is not an id"],
    ["a header and nothing else", HEADER, "holds no ratings, only a header"],
  ])(
    "a file with %s exits 2 and says what is wrong",
    async (_what, text, message) => {
      const bad = path.join(work, "bad.csv");
      writeFileSync(bad, text);
      const out = path.join(work, "never.json");
      const r = await ratingsBench(bad, out);
      expect(r.exitCode).toBe(2);
      expect(r.events.at(-1)).toMatchObject({ event: "error", exitCode: 2 });
      expect(r.stderr).toContain(message);
      expect(r.stderr).toContain(FORMAT);
      expect(existsSync(out)).toBe(false);
    },
    120_000,
  );

  it("--svd-matrix without svd-ratings in --workloads exits 2 and names the workload to add", async () => {
    // The last --workloads wins: svd alone, the dense workload.
    const r = await ratingsBench(csv(), path.join(work, "never.json"), ["--workloads", "svd"]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain("--workloads svd-ratings");
  }, 60_000);
  it("rejects an unknown workload with exit code 2, an error event and the allowed names", async () => {
    const r = await bench(
      [
        "--scheduler",
        address,
        "--nodes",
        nodesJson,
        "--workloads",
        "inc-sleep,nope",
        "--out",
        path.join(work, "never.json"),
      ],
      60_000,
    );
    expect(r.exitCode).toBe(2);
    expect(r.events).toHaveLength(1);
    expect(r.events[0]).toMatchObject({ event: "error", exitCode: 2 });
    expect(r.stderr).toContain("unknown nope; allowed: inc-sleep, map-reduce, placement, svd, svd-ratings");
    expect(existsSync(path.join(work, "never.json"))).toBe(false);
  }, 60_000);

  it("rejects --host-cpus 0 with exit code 2", async () => {
    const r = await bench(
      ["--scheduler", address, "--nodes", nodesJson, "--host-cpus", "0", "--out", path.join(work, "never.json")],
      60_000,
    );
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain("--host-cpus 0: must be 1 or more");
  }, 60_000);
});
