// One real local cluster (3 namespace nodes, 1 thread each, mutual TLS), deployed with
// cdktf deploy, and everything asserted against it: workers on their private IPs, work
// on every worker, strangers refused, listeners only on private IPs, the NAT failure of
// the seeds reproduced and survived, version drift caught and fixed, the gate stopping a
// deploy, the benchmark at reduced size, the operator commands; then cdktf destroy and
// nothing left. Needs root (namespaces).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync } from "node:fs";
import path from "node:path";
import { $ } from "zx";
import { XMLValidator } from "fast-xml-parser";
import { makeProject, tail, REPO, type TestProject } from "./helpers/project.js";
import { writeTestOutput } from "./helpers/test-output.js";
import { expectNothingLeft, residue, type Residue } from "./helpers/residue.js";
import { listeners, py, transports } from "./helpers/cluster.js";
import { nodeNamespace } from "../provision/machines/local/provider.js";

import { createCa, issue } from "../provision/services/tls.js";
import { shq, type Transport } from "../provision/machines/transport.js";
import { cacheDir } from "../provision/host/paths.js";
import { terraformBinary } from "./helpers/terraform.js";
import { rootOrSkip } from "./helpers/root.js";
import { nodePaths } from "../provision/core/node-paths.js";

/** results.json and status --json, read field by field (their schemas are tested elsewhere). */
// biome-ignore lint/suspicious/noExplicitAny: a parsed JSON document, walked freely in assertions
type Any = any;
const isRoot = rootOrSkip("cluster.local", "the local provider needs root to create network namespaces");

const timings: Record<string, number> = {};

describe.runIf(isRoot)("a deployed local cluster", () => {
  let p: TestProject;
  let before: Residue;
  let nodes: Transport[];
  let head: Transport;
  const npm = (script: string, args: string[] = []) =>
    p.sh(["node_modules/.bin/tsx", "provision/cli.ts", script, ...args]);

  beforeAll(async () => {
    p = makeProject(
      { provider: "local", nodes: { count: 3, cpus: 1, memoryMb: 1536 }, benchmark: { onDeploy: false } },
      "dvc-cluster-",
    );
    before = await residue(
      p.dir,
      p.cluster.id,
      p.cluster.nodes.map((n) => n.ip),
    );
    const d = await p.cdktf("deploy");
    timings.coldDeploy = d.seconds;
    if (d.out.exitCode !== 0) throw new Error(`cdktf deploy failed:\n${tail(d.out, 80)}`);
    nodes = transports(p.cluster);
    head = nodes[0]!;
  });

  afterAll(async () => {
    if (!p) return;
    if (existsSync(path.join(p.dir, ".cluster", "terraform.tfstate"))) await p.cdktf("destroy");
    writeTestOutput("cluster-local-timings.json", timings);
    console.log("cluster.local timings (s):", JSON.stringify(timings));
    p.remove();
  });

  describe("runtime", () => {
    it("registers 3 workers, each under its own private IP", async () => {
      const info = await py<Array<[string, string, number]>>(
        head,
        `
c = Client("${p.cluster.schedulerAddress}", security=secure(), timeout=20)
out(sorted([w["name"], a, w["nthreads"]] for a, w in c.scheduler_info()["workers"].items()))`,
      );
      expect(info).toEqual([
        ["node1", "tls://192.168.56.11:8788", 1],
        ["node2", "tls://192.168.56.12:8788", 1],
        ["node3", "tls://192.168.56.13:8788", 1],
      ]);
    });

    it("runs a task pinned to each worker on that worker", async () => {
      const ran = await py<Record<string, string>>(
        head,
        `
from distributed import get_worker
c = Client("${p.cluster.schedulerAddress}", security=secure(), timeout=20)
ws = sorted(c.scheduler_info()["workers"])
fs = {w: c.submit(lambda i: get_worker().address, i, workers=[w], allow_other_workers=False, pure=False) for i, w in enumerate(ws)}
out({w: f.result(timeout=60) for w, f in fs.items()})`,
      );
      expect(Object.keys(ran)).toHaveLength(3);
      for (const [want, got] of Object.entries(ran)) expect(got).toBe(want);
    });

    it("spreads 8 × sleep(1) over the 3 one-thread workers: each runs at least 2", async () => {
      const r = await py<{ counts: Record<string, number>; total: number; seconds: number }>(
        head,
        `
import dask
from distributed import get_worker
c = Client("${p.cluster.schedulerAddress}", security=secure(), timeout=20)
@dask.delayed(pure=False)
def inc(x):
    time.sleep(1)
    return (x + 1, get_worker().address)
t0 = time.perf_counter()
res = dask.compute(*[inc(i) for i in range(8)])
seconds = time.perf_counter() - t0
counts = {}
for _, w in res:
    counts[w] = counts.get(w, 0) + 1
out({"counts": counts, "total": sum(v for v, _ in res), "seconds": seconds})`,
      );
      expect(r.total).toBe(36);
      expect(Object.keys(r.counts)).toHaveLength(3);
      for (const n of Object.values(r.counts)) expect(n).toBeGreaterThanOrEqual(2);
    });

    it("refuses a client without a certificate, one from another CA, and plain tcp", async () => {
      const other = await createCa("stranger CA");
      const client = await issue(other, "stranger", []);
      const strangerDir = `${head.root}/home/stranger`;
      await head.run(`mkdir -p ${shq(strangerDir)} && cat > ${shq(`${strangerDir}/all.pem`)}`, {
        input: `${other.cert}\n${client.cert}\n${client.key}`,
      });
      await head.run(
        `cd ${shq(strangerDir)} && awk 'BEGIN{n=0} /BEGIN/{n++} {print > (n==1?"ca.pem":n==2?"client.pem":"client-key.pem")}' all.pem`,
      );
      const r = await py<Record<string, string>>(
        head,
        `
def attempt(address, security):
    try:
        c = Client(address, security=security, timeout=6)
        c.close()
        return "CONNECTED"
    except Exception as e:
        return type(e).__name__ + ": " + str(e)[:120]
S = "${strangerDir}"
res = {
  "no-certificate": attempt("${p.cluster.schedulerAddress}", Security(tls_ca_file=TLS + "/ca.pem", require_encryption=True)),
  "other-ca": attempt("${p.cluster.schedulerAddress}", Security(tls_ca_file=S + "/ca.pem", tls_client_cert=S + "/client.pem", tls_client_key=S + "/client-key.pem", require_encryption=True)),
  "plain-tcp": attempt("${p.cluster.schedulerAddress.replace("tls://", "tcp://")}", None),
  "ours": attempt("${p.cluster.schedulerAddress}", secure()),
}
out(res)`,
      );
      expect(r.ours).toBe("CONNECTED");
      for (const k of ["no-certificate", "other-ca", "plain-tcp"]) expect(r[k], k).not.toBe("CONNECTED");
    });

    it("listens only on each node's private IP (socket table of every namespace)", async () => {
      for (const n of p.cluster.nodes) {
        const socks = await listeners(p.cluster, n.name);
        expect(socks.length, n.name).toBeGreaterThanOrEqual(n.index === 1 ? 5 : 3);
        for (const s of socks)
          expect(s.local, `${n.name}: ${s.local} ${s.process}`).toMatch(
            new RegExp(`^(${n.ip.replace(/\./g, "\\.")}|127\\.0\\.0\\.1):\\d+$`),
          );
      }
    });

    it("keeps TLS keys 0600 on the host and on every node, and out of Terraform state", () => {
      const hostTls = path.join(p.dir, ".cluster", "tls");
      for (const f of readdirSync(hostTls))
        expect((statSync(path.join(hostTls, f)).mode & 0o777).toString(8), f).toBe("600");
      for (const t of nodes) {
        for (const f of readdirSync(nodePaths(t.root).tls))
          expect((statSync(path.join(nodePaths(t.root).tls, f)).mode & 0o777).toString(8), `${t.node}/${f}`).toBe(
            "600",
          );
      }
      const state = readFileSync(path.join(p.dir, ".cluster", "terraform.tfstate"), "utf8");
      expect(state).not.toMatch(/PRIVATE KEY|BEGIN CERTIFICATE/);
    });

    it("survives the seeds' NAT failure: every node gets 10.0.2.15 and the default route, work still reaches every worker", async () => {
      // What VirtualBox's NAT adapter gives every VM: the same 10.0.2.15 and the default
      // route. A veth pair with both ends inside the namespace keeps it there: packets to
      // the "gateway" go nowhere, nothing leaves the host.
      for (const n of p.cluster.nodes) {
        const ns = nodeNamespace(p.cluster, n.name);
        await $({ quiet: true })`ip -n ${ns} link add nat0 type veth peer name nat0peer`;
        await $({ quiet: true })`ip -n ${ns} addr add 10.0.2.15/24 dev nat0`;
        await $({ quiet: true })`ip -n ${ns} link set nat0peer up`;
        await $({ quiet: true })`ip -n ${ns} link set nat0 up`;
        await $({ quiet: true })`ip -n ${ns} route add default via 10.0.2.2 dev nat0`;
      }
      try {
        // The naive way, as in the first write-up: `dask scheduler` with no --host. It
        // advertises the address of the default route: 10.0.2.15, which on every other
        // node is that node itself. A worker given that address never finds a scheduler.
        const node1 = nodes[0]!;
        const node2 = nodes[1]!;
        const tlsArgs = "--tls-ca-file tls/ca.pem --tls-cert tls/node.pem --tls-key tls/node-key.pem";
        await node1.run(
          `nohup ${shq(nodePaths(node1.root).python)} -m dask scheduler --protocol tls --port 0 --dashboard-address 127.0.0.1:0 ${tlsArgs} --scheduler-file home/naive-scheduler.json > home/naive-scheduler.log 2>&1 < /dev/null &`,
        );
        try {
          const advertised = await py<string>(
            node1,
            `
deadline = time.time() + 60
while time.time() < deadline:
    try:
        out(json.load(open(ROOT + "/home/naive-scheduler.json"))["address"]); break
    except Exception:
        time.sleep(0.3)
else:
    out("no scheduler file")`,
          );
          expect(advertised).toMatch(/^tls:\/\/10\.0\.2\.15:\d+$/);
          const fromNode2 = await py<string>(
            node2,
            `
try:
    Client("${advertised}", security=secure(), timeout=5)
    out("CONNECTED")
except Exception as e:
    out(type(e).__name__)`,
          );
          expect(fromNode2).not.toBe("CONNECTED");
        } finally {
          await node1.run("pkill -f 'naive-schedule[r].json'; true");
        }
        // Our services, restarted with the NAT address present, still bind and advertise
        // the private IPs, and work reaches every worker.
        const restart = (t: Transport, name: string) =>
          t.run(
            `${shq(nodePaths(t.root).python)} -m dask_vm_runtime service restart ${name} --root ${shq(t.root)} --manager supervisor`,
          );
        await restart(nodes[0]!, "scheduler");
        for (const t of nodes) await restart(t, "worker");
        const r = await py<{ addrs: string[]; counts: Record<string, number>; scheduler: string }>(
          head,
          `
import dask
from distributed import get_worker
c = Client("${p.cluster.schedulerAddress}", security=secure(), timeout=20)
c.wait_for_workers(3, timeout=90)
@dask.delayed(pure=False)
def where(i):
    time.sleep(0.5)
    return get_worker().address
res = dask.compute(*[where(i) for i in range(9)])
counts = {}
for w in res: counts[w] = counts.get(w, 0) + 1
out({"addrs": sorted(c.scheduler_info()["workers"]), "counts": counts, "scheduler": c.scheduler_info()["address"]})`,
        );
        expect(r.addrs).toEqual(["tls://192.168.56.11:8788", "tls://192.168.56.12:8788", "tls://192.168.56.13:8788"]);
        expect(r.scheduler).toBe(p.cluster.schedulerAddress);
        expect(Object.keys(r.counts).sort()).toEqual(r.addrs);
      } finally {
        for (const n of p.cluster.nodes)
          await $({ quiet: true, nothrow: true })`ip -n ${nodeNamespace(p.cluster, n.name)} link del nat0`;
      }
    }, 300_000);
  });

  describe("npm run verify-versions", () => {
    const wheels = path.join(cacheDir(), "test-wheels");

    beforeAll(async () => {
      // Real other versions of real packages, fetched once from PyPI on the host: the
      // nodes have no route out.
      mkdirSync(wheels, { recursive: true });
      if (!readdirSync(wheels).some((f) => f.startsWith("toolz-0.12.1"))) {
        await $({
          quiet: true,
        })`python3 -m pip download --no-deps --only-binary=:all: --dest ${wheels} toolz==0.12.1 six==1.16.0`;
      }
    });

    it("reports identical nodes with exit 0, quickly", async () => {
      const r = await npm("verify-versions");
      expect(r.exitCode, tail(r)).toBe(0);
      expect(r.stdout).toMatch(
        /^identical: 3 nodes run Python 3\.11\.\d+, bundle [0-9a-f]{16}, \d+ packages as locked; scheduler, workers and client agree \(\d+\.\d s\)$/m,
      );
      timings.verifyVersionsCheck = Number(/\((\d+\.\d) s\)/.exec(r.stdout)![1]);
    });

    it("catches a changed version, a missing package, an extra package and a different bundle, naming node and package; --fix restores identity", async () => {
      const [, n2, n3] = nodes;
      const pip = (t: Transport) => `${shq(nodePaths(t.root).python)} -m pip --disable-pip-version-check -q`;
      const toolz = readdirSync(wheels).find((f) => f.startsWith("toolz-0.12.1"))!;
      const six = readdirSync(wheels).find((f) => f.startsWith("six-"))!;
      await n2!.put(path.join(wheels, toolz), `${n2!.root}/home/${toolz}`);
      await n2!.put(path.join(wheels, six), `${n2!.root}/home/${six}`);
      await n2!.run(`${pip(n2!)} install --no-index --no-deps home/${toolz} home/${six}`);
      await n3!.run(`${pip(n3!)} uninstall -y tblib && echo 0000000000000000 > bundle-id`);

      const r = await npm("verify-versions", ["--json"]);
      expect(r.exitCode, tail(r)).toBe(1);
      const report = JSON.parse(r.stdout) as { verdict: string; drift: string[] };
      expect(report.verdict).toBe("drift");
      const lockToolz = /^toolz==(\S+)/m.exec(
        readFileSync(path.join(p.dir, "cluster-runtime", "requirements-x86_64.lock"), "utf8"),
      )![1];
      expect(report.drift).toEqual(
        expect.arrayContaining([
          `node2: toolz expected ${lockToolz}, found 0.12.1`,
          "node2: six expected (not in lock), found 1.16.0",
          expect.stringMatching(/^node3: tblib expected \S+, found \(missing\)$/),
          expect.stringMatching(/^node3: bundle expected [0-9a-f]{16}, found 0000000000000000$/),
        ]),
      );
      expect(report.drift.filter((d) => d.startsWith("node1:"))).toEqual([]);

      const table = await npm("verify-versions");
      expect(table.exitCode).toBe(1);
      expect(table.stdout).toMatch(/item\s+expected\s+node1\s+node2\s+node3/);
      expect(table.stdout).toMatch(/✗ toolz\s+\S+\s+\S+\s+0\.12\.1/);
      expect(table.stdout).toMatch(/^DRIFT: \d+ difference\(s\) on 2 of 3 nodes/m);

      const fixed = await npm("verify-versions", ["--fix"]);
      expect(fixed.exitCode, tail(fixed)).toBe(0);
      expect(fixed.stdout).toMatch(/^identical: 3 nodes/m);
    }, 300_000);

    it("exits 2 on bad arguments, naming the flag", async () => {
      const r = await npm("verify-versions", ["--colour"]);
      expect(r.exitCode).toBe(2);
      expect(r.stderr).toMatch(/--colour/);
    });
  });

  describe("npm run benchmark (reduced size)", () => {
    it("runs every workload, with right totals, the SVD error bound, valid results and SVG charts", async () => {
      const t0 = performance.now();
      const r = await npm("benchmark", ["--size", "small"]);
      timings.benchmarkSmall = (performance.now() - t0) / 1000;
      expect(r.exitCode, tail(r, 60)).toBe(0);
      const dir = path.join(p.dir, "results", "latest");
      const results = JSON.parse(readFileSync(path.join(dir, "results.json"), "utf8")) as Record<string, Any>;
      const w = results.workloads;
      expect(Object.keys(w).sort()).toEqual(["inc-sleep", "map-reduce", "placement", "svd", "svd-ratings"]);
      for (const c of w["inc-sleep"].cases) expect(c.correct, `inc-sleep on ${c.nodes} nodes`).toBe(true);
      expect([...new Set(w["inc-sleep"].cases.map((c: Any) => c.nodes))]).toEqual([1, 2, 3]);
      for (const v of w["map-reduce"].variants) expect(v.correct, v.variant).toBe(true);
      expect(w["map-reduce"].variants.map((v: Any) => v.variant).sort()).toEqual([
        "batched",
        "local-cluster",
        "per-item",
      ]);
      expect(w.placement.perNode.map((n: Any) => n.node)).toEqual(["node1", "node2", "node3"]);
      for (const n of w.placement.perNode) expect(n.slots).toBe(1);
      expect(w.svd.check.maxRelativeResidual).toBeLessThan(0.05);
      for (const c of w.svd.cases) expect(c.maxRelativeError, `svd on ${c.nodes} nodes`).toBeLessThan(0.01);
      // The ratings SVD on the nodes: generated ml-latest-small, svds run on node 1 beside it.
      const sr = w["svd-ratings"];
      expect(sr.reference.kind).toBe("exact");
      expect(sr.peer.node).toBe("node1");
      for (const c of sr.cases) expect(c.maxRelativeError, `svd-ratings on ${c.nodes} nodes`).toBeLessThan(0.01);
      const svgs = readdirSync(dir).filter((f) => f.endsWith(".svg"));
      expect(svgs.length).toBeGreaterThanOrEqual(3);
      for (const f of svgs) {
        const text = readFileSync(path.join(dir, f), "utf8");
        expect(XMLValidator.validate(text), f).toBe(true);
        expect(text).toMatch(/^<svg/);
      }
      expect(readFileSync(path.join(dir, "report.md"), "utf8")).toMatch(/inc-sleep/);
      expect(r.stdout).toMatch(/results: .*report\.md/);
    }, 600_000);
  });

  describe("operator commands", () => {
    it("npm run status shows nodes, services, workers, versions, dashboard and the last benchmark", async () => {
      const r = await npm("status", ["--json"]);
      expect(r.exitCode, tail(r)).toBe(0);
      const s = JSON.parse(r.stdout) as Record<string, Any>;
      expect(s.healthy).toBe(true);
      expect(s.nodes.map((n: Any) => [n.name, n.state, n.ip])).toEqual([
        ["node1", "up", "192.168.56.11"],
        ["node2", "up", "192.168.56.12"],
        ["node3", "up", "192.168.56.13"],
      ]);
      expect(s.nodes[0].services.map((v: Any) => [v.name, v.running])).toEqual([
        ["scheduler", true],
        ["worker", true],
      ]);
      expect(s.workers).toHaveLength(3);
      expect(s.versions).toBe("identical");
      expect(s.dashboard).toBe("http://192.168.56.11:8787/status");
      const text = await npm("status");
      expect(text.stdout).toMatch(/^node2\s+up\s+192\.168\.56\.12\s+1 cpu\s+1536 MiB\s+worker up/m);
      expect(text.stdout).toMatch(/^healthy:/m);
    }, 180_000);

    it("npm run logs shows the scheduler's and a worker's log; bad service names exit 2", async () => {
      const r = await npm("logs", ["node1", "scheduler", "--lines", "200"]);
      expect(r.exitCode, tail(r)).toBe(0);
      expect(r.stdout).toMatch(/Scheduler at:\s+tls:\/\/192\.168\.56\.11:8786/);
      const w = await npm("logs", ["node3", "worker"]);
      expect(w.stdout).toMatch(/==> node3 worker/);
      const bad = await npm("logs", ["node3", "nanny"]);
      expect(bad.exitCode).toBe(2);
      expect(bad.stderr).toMatch(/use one of: scheduler, worker/);
      const badNode = await npm("logs", ["node9"]);
      expect(badNode.exitCode).toBe(2);
      expect(badNode.stderr).toMatch(/use one of: node1, node2, node3/);
    }, 180_000);

    it("npm run ssh runs a command inside a node (its namespace, its address)", async () => {
      const r = await npm("ssh", ["node2", "ip -4 -o addr show dev eth1"]);
      expect(r.exitCode, tail(r)).toBe(0);
      expect(r.stdout).toMatch(/inet 192\.168\.56\.12\/24/);
    });
  });

  describe("the dashboard", () => {
    it("renders in headless Chromium through npm run dashboard -- --forward, with the workers listed", async () => {
      const { spawn } = await import("node:child_process");
      const { chromium } = await import("playwright-core");
      const port = 18000 + Math.floor(Math.random() * 1000);
      const fwd = spawn(
        "node_modules/.bin/tsx",
        ["provision/cli.ts", "dashboard", "--forward", "--port", String(port), "--no-open"],
        {
          cwd: p.dir,
          stdio: ["ignore", "pipe", "pipe"],
          detached: true,
        },
      );
      try {
        await new Promise<void>((resolve, reject) => {
          let seen = "";
          const timer = setTimeout(() => reject(new Error(`no forwarding line: ${seen}`)), 60_000);
          fwd.stdout.on("data", (b: Buffer) => {
            seen += b.toString();
            if (seen.includes("forwarding http://127.0.0.1:")) {
              clearTimeout(timer);
              resolve();
            }
          });
          fwd.on("exit", (code) => reject(new Error(`dashboard exited ${code}: ${seen}`)));
        });
        const browser = await chromium.launch({
          executablePath: "/usr/bin/chromium",
          args: [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
          ],
        });
        try {
          const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
          await page.goto(`http://127.0.0.1:${port}/info/main/workers.html`, { timeout: 60_000 });
          const text = await page.textContent("body");
          for (const ip of ["192.168.56.11", "192.168.56.12", "192.168.56.13"])
            expect(text).toContain(`tls://${ip}:8788`);
          await page.goto(`http://127.0.0.1:${port}/status`, { timeout: 60_000 });
          await page.waitForSelector(".bk-Canvas, .bk-root, canvas", { timeout: 60_000 });
          expect(await page.title()).toMatch(/Dask/);
          mkdirSync(path.join(REPO, "test-output"), { recursive: true });
          await page.waitForTimeout(2000);
          await page.screenshot({ path: path.join(REPO, "test-output", "dashboard-status.png") });
        } finally {
          await browser.close();
        }
      } finally {
        if (fwd.pid) process.kill(-fwd.pid, "SIGTERM");
      }
    }, 300_000);
  });

  describe("the version gate inside cdktf deploy", () => {
    it("stops the deploy before the scheduler starts when a node drifts, with the table; after --fix the deploy completes", async () => {
      const n2 = nodes[1]!;
      const six = readdirSync(path.join(cacheDir(), "test-wheels")).find((f) => f.startsWith("six-"))!;
      await n2.put(path.join(cacheDir(), "test-wheels", six), `${n2.root}/home/${six}`);
      await n2.run(
        `${shq(nodePaths(n2.root).python)} -m pip --disable-pip-version-check -q install --no-index --no-deps home/${six}`,
      );
      // An operator's way to re-run one stage: replace it (and what hangs on it).
      const stackDir = path.join(p.dir, "cdktf.out", "stacks", "dask-cluster");
      const taint = await p.sh([terraformBinary(), `-chdir=${stackDir}`, "taint", "null_resource.version-gate"]);
      expect(taint.exitCode, tail(taint)).toBe(0);
      const d = await p.cdktf("deploy");
      expect(d.out.exitCode).not.toBe(0);
      const log = `${d.out.stdout}${d.out.stderr}`;
      expect(log).toMatch(/✗ six/);
      expect(log).toMatch(/version gate found drift/);
      // Nothing after the gate ran: no service was (re)started on a drifted cluster. (The
      // services already running are left as they are: the gate orders them, and a re-check
      // that fails stops the deploy rather than the cluster.)
      expect(log).not.toMatch(/starting the scheduler|starting a worker/);

      const fix = await npm("verify-versions", ["--fix", "--no-services"]);
      expect(fix.exitCode, tail(fix)).toBe(0);
      const again = await p.cdktf("deploy");
      expect(again.out.exitCode, tail(again.out)).toBe(0);
      const status = await npm("status", ["--json"]);
      expect(status.exitCode, tail(status)).toBe(0);
      expect((JSON.parse(status.stdout) as { healthy: boolean }).healthy).toBe(true);
    }, 900_000);
  });

  describe("teardown", () => {
    it("cdktf destroy leaves no namespace, process, listener or file outside .cluster/ and results/", async () => {
      const d = await p.cdktf("destroy");
      timings.destroy = d.seconds;
      expect(d.out.exitCode, tail(d.out)).toBe(0);
      const after = await residue(
        p.dir,
        p.cluster.id,
        p.cluster.nodes.map((n) => n.ip),
      );
      expectNothingLeft(after, before);
      expect(existsSync(path.join(p.dir, ".cluster", "tls"))).toBe(false);
      const nodesDir = path.join(p.dir, ".cluster", "nodes");
      expect(existsSync(nodesDir) ? readdirSync(nodesDir) : []).toEqual([]);
    }, 300_000);
  });
});
