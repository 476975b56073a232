// The runtime against a real Dask cluster on loopback: the bundle installed into a temp
// ROOT, a scheduler and two nanny-supervised workers run by the supervisor with mutual
// TLS (certificates made here with openssl), then wait-workers, client-versions (and its
// mismatch rule on crafted input), a nanny killed with -9 whose worker must not outlive
// it, and stop leaving no process of the cluster behind.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { $ } from "zx";
import { buildBundle, lockPath, runtimeRef } from "../provision/runtime/bundle.js";
import { cacheDir } from "../provision/host/paths.js";
import { parseLock } from "../provision/runtime/lock.js";

const REPO = path.resolve(import.meta.dirname, "..");
const SERVICES = ["scheduler", "worker1", "worker2"] as const;
const locked = new Map(
  parseLock(readFileSync(lockPath(REPO, "x86_64"), "utf8")).entries.map((e) => [e.name, e.version]),
);

let root = "";
let python = "";
let tls = "";
let address = "";
let dashboard = "";

async function runtime(args: readonly string[], timeoutMs = 120_000) {
  return $({ nothrow: true, quiet: true, timeout: timeoutMs })`${python} -m dask_vm_runtime ${args}`;
}

async function service(
  action: string,
  name: string,
): Promise<{ running: boolean; pid: number | null; child_pid: number | null; restarts: number }> {
  const r = await runtime(["service", action, name, "--root", root, "--manager", "supervisor"]);
  if (r.exitCode !== 0) throw new Error(`service ${action} ${name}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** Live processes whose command line mentions the temp ROOT (every service runs from its venv). */
function clusterProcesses(): string[] {
  const out: string[] = [];
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      if (!alive(Number(pid))) continue;
      const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ");
      if (cmd.includes(root) && !cmd.includes("vitest")) out.push(`${pid} ${cmd}`);
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** A CA and certificates for the services (node) and the client, as the TLS stage makes them. */
async function makeTls(dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const sh = $({ quiet: true, cwd: dir });
  const key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  await sh`openssl req -x509 ${key} -keyout ca-key.pem -out ca.pem -days 2 -subj /CN=dvc-test-ca`;
  for (const who of ["node", "client"]) {
    writeFileSync(
      path.join(dir, `${who}.ext`),
      "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n",
    );
    await sh`openssl req ${key} -keyout ${`${who}-key.pem`} -out ${`${who}.csr`} -subj ${`/CN=${who}`}`;
    await sh`openssl x509 -req -in ${`${who}.csr`} -CA ca.pem -CAkey ca-key.pem -CAcreateserial -out ${`${who}.pem`} -days 2 -extfile ${`${who}.ext`}`;
  }
}

function writeService(name: string, argv: string[]): void {
  writeFileSync(path.join(root, "etc", `${name}.json`), JSON.stringify({ argv, env: {}, cwd: root }));
}

beforeAll(async () => {
  const bundle = await buildBundle(runtimeRef(REPO, "3.11", "x86_64"), { projectDir: REPO, cacheDir: cacheDir() });
  root = mkdtempSync(path.join(os.tmpdir(), "dvc-client-"));
  const install = await $({
    quiet: true,
    nothrow: true,
  })`bash ${path.join(REPO, "cluster-runtime", "install.sh")} ${root} ${bundle.tarPath} 3.11`;
  if (install.exitCode !== 0) throw new Error(`install.sh failed: ${install.stderr}`);
  python = path.join(root, "venv", "bin", "python");
  tls = path.join(root, "tls");
  await makeTls(tls);
  mkdirSync(path.join(root, "etc"));
  // A port of its own, away from 8786 that a deployed cluster or another suite may hold.
  const port = 20000 + Math.floor(Math.random() * 20000);
  address = `tls://127.0.0.1:${port}`;
  const dask = path.join(root, "venv", "bin", "dask");
  const tlsFlags = [
    "--tls-ca-file",
    `${tls}/ca.pem`,
    "--tls-cert",
    `${tls}/node.pem`,
    "--tls-key",
    `${tls}/node-key.pem`,
  ];
  dashboard = `http://127.0.0.1:${port + 1}`;
  writeService("scheduler", [
    dask,
    "scheduler",
    "--host",
    "127.0.0.1",
    "--port",
    String(port),
    "--protocol",
    "tls",
    "--dashboard-address",
    `127.0.0.1:${port + 1}`,
    ...tlsFlags,
  ]);
  for (const [i, name] of ["worker1", "worker2"].entries()) {
    writeService(name, [
      dask,
      "worker",
      address,
      "--name",
      `node${i + 1}`,
      "--host",
      "127.0.0.1",
      "--nthreads",
      "1",
      "--memory-limit",
      "256MiB",
      "--dashboard-address",
      "127.0.0.1:0",
      "--local-directory",
      path.join(root, `work${i + 1}`),
      ...tlsFlags,
    ]);
  }
  for (const name of SERVICES) await service("start", name);
}, 900_000);

afterAll(async () => {
  if (!root) return;
  for (const name of [...SERVICES].reverse())
    await runtime(["service", "stop", name, "--root", root, "--manager", "supervisor"]);
  rmSync(root, { recursive: true, force: true });
}, 120_000);

interface WorkerRow {
  address: string;
  name: string;
  host: string;
  nthreads: number;
  memory_limit: number;
}

async function waitWorkers(n: number, timeoutS = 90): Promise<WorkerRow[]> {
  const r = await runtime(
    ["wait-workers", "--scheduler", address, "--tls-dir", tls, "--n", String(n), "--timeout", String(timeoutS)],
    (timeoutS + 30) * 1000,
  );
  if (r.exitCode !== 0) throw new Error(`wait-workers: ${r.stderr}`);
  return JSON.parse(r.stdout) as WorkerRow[];
}

describe("against a real TLS cluster on loopback", () => {
  it("wait-workers lists both workers with their names, threads and memory limits", async () => {
    const rows = await waitWorkers(2);
    expect(rows.map((w) => w.name)).toEqual(["node1", "node2"]);
    for (const w of rows) {
      expect(w).toMatchObject({ host: "127.0.0.1", nthreads: 1, memory_limit: 256 * 1024 * 1024 });
      expect(w.address).toMatch(/^tls:\/\/127\.0\.0\.1:\d+$/);
    }
    const probe = await runtime([
      "wait-workers",
      "--scheduler",
      address,
      "--tls-dir",
      tls,
      "--n",
      "0",
      "--timeout",
      "30",
    ]);
    expect(JSON.parse(probe.stdout)).toHaveLength(2);
  }, 180_000);

  it("client-versions reports every process at the locked versions, with no mismatch", async () => {
    await waitWorkers(2);
    const r = await runtime(["client-versions", "--scheduler", address, "--tls-dir", tls, "--check"]);
    expect(r.exitCode, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as {
      versions: {
        scheduler: { packages: Record<string, string> };
        workers: Record<string, { packages: Record<string, string> }>;
        client: { packages: Record<string, string> };
      };
      mismatches: unknown[];
      distributed_warning: string;
    };
    expect(out.mismatches).toEqual([]);
    expect(out.distributed_warning).toBe("");
    expect(Object.keys(out.versions.workers)).toHaveLength(2);
    for (const who of [out.versions.scheduler, out.versions.client, ...Object.values(out.versions.workers)]) {
      expect(who.packages).toMatchObject({
        dask: locked.get("dask"),
        distributed: locked.get("distributed"),
        bokeh: locked.get("bokeh"),
      });
    }
  }, 180_000);

  it("refuses a tls:// address without --tls-dir (exit 2), and times out clearly waiting for a third worker", async () => {
    const noTls = await runtime(["client-versions", "--scheduler", address]);
    expect(noTls.exitCode).toBe(2);
    expect(noTls.stderr).toMatch(/needs TLS: pass --tls-dir/);
    const more = await runtime([
      "wait-workers",
      "--scheduler",
      address,
      "--tls-dir",
      tls,
      "--n",
      "3",
      "--timeout",
      "3",
    ]);
    expect(more.exitCode).toBe(1);
    expect(more.stderr.trim().split("\n")).toHaveLength(1);
    expect(more.stderr).toMatch(/only 2 of 3 workers registered .* \(node1, node2\)/);
    // By name, as the deploy's probes wait: one process, the missing name in the message.
    const named = await runtime([
      "wait-workers",
      "--scheduler",
      address,
      "--tls-dir",
      tls,
      "--names",
      "node2,node1",
      "--timeout",
      "30",
    ]);
    expect(named.exitCode, named.stderr).toBe(0);
    expect((JSON.parse(named.stdout) as WorkerRow[]).map((w) => w.name)).toEqual(["node1", "node2"]);
    const node3 = await runtime([
      "wait-workers",
      "--scheduler",
      address,
      "--tls-dir",
      tls,
      "--names",
      "node1,node3",
      "--timeout",
      "2",
    ]);
    expect(node3.exitCode).toBe(1);
    expect(node3.stderr).toMatch(/no worker named node3 registered at .* within 2 s \(node1, node2\)/);
    // Through the dashboard, as the deploy's probes ask (no `import distributed`): the same rows.
    const viaDashboard = await runtime([
      "wait-workers",
      "--scheduler",
      address,
      "--dashboard",
      dashboard,
      "--names",
      "node1,node2",
      "--timeout",
      "30",
    ]);
    expect(viaDashboard.exitCode, viaDashboard.stderr).toBe(0);
    expect(JSON.parse(viaDashboard.stdout)).toEqual(JSON.parse(named.stdout));
    const node3ViaDashboard = await runtime([
      "wait-workers",
      "--scheduler",
      address,
      "--dashboard",
      dashboard,
      "--names",
      "node3",
      "--timeout",
      "2",
    ]);
    expect(node3ViaDashboard.exitCode).toBe(1);
    expect(node3ViaDashboard.stderr).toMatch(/no worker named node3 registered at .* within 2 s \(node1, node2\)/);
    // A dashboard of another scheduler is not this one's answer.
    const other = await runtime([
      "wait-workers",
      "--scheduler",
      "tls://127.0.0.1:1",
      "--dashboard",
      dashboard,
      "--names",
      "",
      "--timeout",
      "1",
    ]);
    expect(other.exitCode).toBe(1);
    expect(other.stderr).toMatch(/is the dashboard of tls:\/\/127\.0\.0\.1:\d+, not of tls:\/\/127\.0\.0\.1:1/);
    const nobody = await runtime([
      "wait-workers",
      "--scheduler",
      address,
      "--dashboard",
      "http://127.0.0.1:1",
      "--names",
      "",
      "--timeout",
      "1",
    ]);
    expect(nobody.exitCode).toBe(1);
    expect(nobody.stderr).toMatch(
      /cannot reach the scheduler at .* through its dashboard within 1 s \(http:\/\/127\.0\.0\.1:1\/json\/identity\.json: .*refused/,
    );
    const badName = await runtime(["wait-workers", "--scheduler", address, "--tls-dir", tls, "--names", "node1,no de"]);
    expect(badName.exitCode).toBe(2);
    expect(badName.stderr).toMatch(/worker names are letters, digits and ._- \(got no de\)/);
  }, 120_000);

  it("restarts a nanny killed with -9, and its orphaned worker process does not survive", async () => {
    await waitWorkers(2);
    const before = await service("status", "worker1");
    const nanny = before.child_pid!;
    const worker = childrenOf(nanny);
    expect(worker.length, "the nanny runs its worker in a subprocess").toBeGreaterThan(0);
    process.kill(nanny, "SIGKILL");
    const deadline = Date.now() + 60_000;
    let after = before;
    while (Date.now() < deadline && (after.child_pid === nanny || !after.child_pid)) {
      await new Promise((r) => setTimeout(r, 200));
      after = await service("status", "worker1");
    }
    expect(after).toMatchObject({ running: true, restarts: 1 });
    expect(after.child_pid).not.toBe(nanny);
    for (const pid of worker) expect(alive(pid), `worker process ${pid} of the killed nanny`).toBe(false);
    expect((await waitWorkers(2)).map((w) => w.name)).toEqual(["node1", "node2"]);
  }, 180_000);

  it("stop leaves no process of the cluster behind", async () => {
    for (const name of [...SERVICES].reverse()) expect((await service("stop", name)).running).toBe(false);
    expect(clusterProcesses()).toEqual([]);
  }, 120_000);
});

describe("mismatches", () => {
  it("follows distributed's rule: the scheduler counts only for the packages it matters for", async () => {
    const code = `
import json
from dask_vm_runtime.client import mismatches
from distributed.versions import error_message
pk = lambda **p: {"packages": {"python": "3.11.7", "dask": "1", "numpy": "2", **p}}
v = {"client": pk(), "scheduler": pk(numpy="9"), "workers": {"tls://a:1": pk(), "tls://b:1": pk(dask="0")}}
m = mismatches(v)
print(json.dumps({"m": m, "text": error_message(v["scheduler"], v["workers"], v["client"])["warning"]}))
`;
    const r = await $({ quiet: true, nothrow: true })`${python} -c ${code}`;
    expect(r.exitCode, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as {
      m: Array<{ package: string; workers: Record<string, string> }>;
      text: string;
    };
    expect(out.m.map((x) => x.package)).toEqual(["dask"]);
    expect(out.m[0]!.workers).toEqual({ "tls://a:1": "1", "tls://b:1": "0" });
    expect(out.text).toMatch(/dask/);
    expect(out.text).not.toMatch(/numpy/);
  }, 60_000);
});

function procStat(pid: number | string): { state: string; ppid: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { state: fields[0]!, ppid: Number(fields[1]) };
  } catch {
    return undefined;
  }
}

/** Alive means in /proc and not a zombie (PID 1 of a sandbox may never reap orphans). */
function alive(pid: number): boolean {
  const s = procStat(pid);
  return !!s && s.state !== "Z" && s.state !== "X";
}

function childrenOf(parent: number): number[] {
  return readdirSync("/proc")
    .filter((p) => /^\d+$/.test(p))
    .map(Number)
    .filter((pid) => procStat(pid)?.ppid === parent && alive(pid));
}
