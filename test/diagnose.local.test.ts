// npm run diagnose on Dask clusters started by hand (dask scheduler, dask worker) in network
// namespaces: healthy says healthy; each of the write-ups' failures, made on purpose, is
// named with its fix, and nothing else is reported (one cause, one finding).
import { mkdirSync, cpSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { $ } from "zx";
import { REPO } from "./helpers/project.js";
import { rootOrSkip } from "./helpers/root.js";
import { benchPython } from "./helpers/runtime-python.js";
import { handCluster, type HandCluster } from "./helpers/netns-dask.js";

interface Report {
  healthy: boolean;
  findings: Array<{ id: string; what: string; means: string; fix: string[]; workers: string[] }>;
  notes: string[];
  facts: { transfers: Array<{ ok: boolean }>; probes: Record<string, unknown>; seconds: number };
}

const isRoot = rootOrSkip("diagnose.local", "network namespaces need root");
const TSX = path.join(REPO, "node_modules", ".bin", "tsx");
let c: HandCluster;

/** npm run diagnose -- --scheduler ... from the client's namespace; its exit code and JSON report. */
async function diagnose(extra: readonly string[] = []): Promise<{ code: number; report: Report; seconds: number }> {
  const t0 = performance.now();
  const r = await $({
    quiet: true,
    nothrow: true,
    cwd: REPO,
    timeout: 180_000,
  })`ip netns exec ${c.ns("c")} ${TSX} provision/cli.ts diagnose --scheduler ${c.scheduler} --python ${c.python} --json ${extra}`;
  if (r.exitCode !== 0 && r.exitCode !== 1) throw new Error(`diagnose exited ${r.exitCode}: ${r.stderr}`);
  return { code: r.exitCode!, report: JSON.parse(r.stdout) as Report, seconds: (performance.now() - t0) / 1000 };
}

async function healthy(): Promise<void> {
  await Promise.all([1, 2, 3].map((n) => c.startWorker(n)));
  await c.waitWorkers(["node1", "node2", "node3"]);
}

/** A copy of toolz on a PYTHONPATH of its own that says it is another version. */
function olderToolz(): string {
  const site = path.join(path.dirname(path.dirname(c.python)), "lib", "python3.11", "site-packages");
  const overlay = path.join(c.work, "overlay");
  const info = readdirSync(site).find((d) => /^toolz-.*\.dist-info$/.test(d))!;
  mkdirSync(overlay, { recursive: true });
  cpSync(path.join(site, "toolz"), path.join(overlay, "toolz"), { recursive: true });
  cpSync(path.join(site, info), path.join(overlay, "toolz-0.12.0.dist-info"), { recursive: true });
  const meta = path.join(overlay, "toolz-0.12.0.dist-info", "METADATA");
  writeFileSync(meta, readFileSync(meta, "utf8").replace(/^Version: .*$/m, "Version: 0.12.0"));
  return overlay;
}

describe.runIf(isRoot)("npm run diagnose on a cluster started by hand", () => {
  beforeAll(async () => {
    c = await handCluster(await benchPython());
    await healthy();
  }, 900_000);
  afterAll(async () => {
    await c?.remove();
  }, 60_000);

  it("a healthy cluster is healthy: exit 0, every probe ran, every result moved", async () => {
    const { code, report, seconds } = await diagnose();
    expect(report.findings).toEqual([]);
    expect(report.healthy).toBe(true);
    expect(code).toBe(0);
    expect(Object.keys(report.facts.probes)).toHaveLength(3);
    expect(report.facts.transfers.map((t) => t.ok)).toEqual([true, true, true]);
    console.log(`diagnose.local: healthy cluster looked at in ${seconds.toFixed(1)} s`);
  }, 240_000);

  it("two workers advertising VirtualBox's NAT address: one finding, the cause and the fix", async () => {
    try {
      for (const n of [2, 3]) {
        // As on a VirtualBox VM: 10.0.2.15 is the machine's own, and the first address
        // Dask finds; the worker listens everywhere and advertises that one.
        await $({ quiet: true })`ip -n ${c.ns(n)} addr add 10.0.2.15/32 dev lo`;
        await c.startWorker(n, [
          "--listen-address",
          `tcp://0.0.0.0:4000${n}`,
          "--contact-address",
          `tcp://10.0.2.15:4000${n}`,
        ]);
      }
      await c.waitWorkers(["node1", "node2", "node3"]);
      const { code, report } = await diagnose();
      expect(report.findings.map((f) => f.id)).toEqual(["same-address"]);
      const [f] = report.findings;
      expect(f!.workers).toEqual(["node2", "node3"]);
      expect(f!.what).toContain("10.0.2.15");
      expect(f!.fix.join("\n")).toContain(`--host <its IP> (node2: ${c.ip(2)}, node3: ${c.ip(3)})`);
      expect(code).toBe(1);
    } finally {
      for (const n of [2, 3]) await $({ quiet: true, nothrow: true })`ip -n ${c.ns(n)} addr del 10.0.2.15/32 dev lo`;
      await healthy();
    }
  }, 240_000);

  it("a package at another version on one worker: one finding naming the package and the worker", async () => {
    try {
      await c.startWorker(3, undefined, { PYTHONPATH: olderToolz() });
      await c.waitWorkers(["node1", "node2", "node3"]);
      const { code, report } = await diagnose();
      expect(report.findings.map((f) => f.id)).toEqual(["versions"]);
      expect(report.findings[0]!.what).toMatch(
        /^node3 differs from the rest of the cluster: toolz 0\.12\.0 \(elsewhere /,
      );
      expect(report.findings[0]!.fix[0]).toMatch(/^on node3's machine: python -m pip install toolz==/);
      expect(code).toBe(1);
    } finally {
      await healthy();
    }
  }, 240_000);

  it("a worker whose port a firewall rule in its namespace drops: one finding, that port", async () => {
    const nft = (args: string) => $({ quiet: true })`ip netns exec ${c.ns(2)} nft ${args.split(" ")}`;
    try {
      await c.startWorker(2, ["--host", c.ip(2), "--worker-port", "40002"]);
      await c.waitWorkers(["node1", "node2", "node3"]);
      await nft("add table inet dvclab");
      await $({
        quiet: true,
      })`ip netns exec ${c.ns(2)} nft add chain inet dvclab input ${"{ type filter hook input priority 0 ; }"}`;
      await nft("add rule inet dvclab input iifname != lo tcp dport 40002 drop");
      const { code, report, seconds } = await diagnose();
      expect(report.findings.map((f) => f.id)).toEqual(["blocked-port"]);
      expect(report.findings[0]!.what).toBe(
        "node2's port 40002 accepts no connection from the scheduler or the other workers (it does from its own machine)",
      );
      expect(code).toBe(1);
      // Never hangs on it: every wait is bounded.
      expect(seconds).toBeLessThan(90);
    } finally {
      await $({ quiet: true, nothrow: true })`ip netns exec ${c.ns(2)} nft delete table inet dvclab`;
      await healthy();
    }
  }, 240_000);

  it("a worker with more threads than its cores: one finding, with the --nthreads to use", async () => {
    const cores = os.availableParallelism();
    try {
      await c.startWorker(3, ["--host", c.ip(3), "--nthreads", String(cores + 1)]);
      await c.waitWorkers(["node1", "node2", "node3"]);
      const { code, report } = await diagnose();
      expect(report.findings.map((f) => f.id)).toEqual(["threads"]);
      expect(report.findings[0]!.what).toBe(`node3 runs ${cores + 1} threads on ${cores} core${cores > 1 ? "s" : ""}`);
      expect(report.findings[0]!.fix).toEqual([`dask worker ... --nthreads ${cores} on node3`]);
      expect(code).toBe(1);
    } finally {
      await healthy();
    }
  }, 240_000);

  it("no scheduler at the address: exit 1 with the cause, within the timeout", async () => {
    const r = await $({
      quiet: true,
      nothrow: true,
      cwd: REPO,
    })`ip netns exec ${c.ns("c")} ${TSX} provision/cli.ts diagnose --scheduler tcp://${c.ip(2)}:8786 --python ${c.python} --timeout 3`;
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toMatch(/^diagnose: cannot connect to the scheduler at tcp:\/\/10\.77\.0\.12:8786 within 3 s/m);
    expect(r.stdout).toContain("fix: on that machine: dask scheduler --host 10.77.0.12 --port 8786");
  }, 120_000);
});
