// Your own work on a real local cluster (3 namespace nodes, mutual TLS), deployed with an
// extra package (tabulate) through cdktf deploy: the package locked beside the config and
// on every worker; a submitted script from a folder of its own, what it wrote beside
// itself brought back (or, over --max-size, left on the node with the commands that get
// it, run as printed); exec; data to every node
// and back; the shipped notebook run top to bottom with nbclient; JupyterLab in headless
// Chromium through the forwarded address; a client with another distributed refused by
// name (submit and kernel); a Python on this host connected through the profile; a second
// deploy that asks no package index; destroy, and only the user's files left. Needs root.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { $ } from "zx";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bundleIdOf, runtimeRef } from "../provision/runtime/bundle.js";
import { runtimeRefOf } from "../provision/state/cluster-ref.js";
import { cacheDir } from "../provision/host/paths.js";

import { shq, type Transport } from "../provision/machines/transport.js";
import { listeners, transports } from "./helpers/cluster.js";
import { makeProject, REPO, tail, type TestProject } from "./helpers/project.js";
import { writeTestOutput } from "./helpers/test-output.js";
import { expectNothingLeft, residue, type Residue } from "./helpers/residue.js";
import { interrupt, startUntil } from "./helpers/long-running.js";
import { rootOrSkip } from "./helpers/root.js";
import { parseLock } from "../provision/runtime/lock.js";
import { nodePaths } from "../provision/core/node-paths.js";

// biome-ignore lint/suspicious/noExplicitAny: an executed notebook, walked freely in assertions
type Any = any;
const isRoot = rootOrSkip("user-work.local", "the local provider needs root to create network namespaces");
const measured: Record<string, unknown> = {};

describe.runIf(isRoot)("your own work on a local cluster", () => {
  let p: TestProject;
  let before: Residue;
  let nodes: Transport[];
  const npm = (script: string, args: string[] = [], env: Record<string, string> = {}) =>
    p.sh(["node_modules/.bin/tsx", "provision/cli.ts", script, ...args], { env });
  let work: string;
  let lockedDistributed: string;

  beforeAll(async () => {
    p = makeProject(
      {
        provider: "local",
        nodes: { count: 3, cpus: 1, memoryMb: 1536 },
        runtime: { packages: ["tabulate"] },
        benchmark: { onDeploy: false },
      },
      "dvc-userwork-",
    );
    before = await residue(
      p.dir,
      p.cluster.id,
      p.cluster.nodes.map((n) => n.ip),
    );
    const d = await p.cdktf("deploy");
    measured.coldDeploySeconds = d.seconds;
    if (d.out.exitCode !== 0) throw new Error(`cdktf deploy failed:\n${tail(d.out, 80)}`);
    measured.installSeconds = [...`${d.out.stdout}`.matchAll(/installing the runtime bundle: done in ([\d.]+) s/g)].map(
      (m) => Number(m[1]),
    );
    nodes = transports(p.cluster);
    // The user's own folder, apart from the project, where students keep their work.
    work = path.join(path.dirname(p.dir), "mon travail");
    lockedDistributed = parseLock(readFileSync(path.join(p.dir, "cluster.config.lock"), "utf8")).entries.find(
      (e) => e.name === "distributed",
    )!.version;
  });

  afterAll(async () => {
    if (!p) return;
    if (existsSync(path.join(p.dir, ".cluster", "terraform.tfstate"))) await p.cdktf("destroy");
    writeTestOutput("user-work-local.json", measured);
    console.log("user-work.local measured:", JSON.stringify(measured));
    p.remove();
  });

  it("runtime.packages: locked beside the config with the runtime, on every worker, held by the version gate", async () => {
    const lock = parseLock(readFileSync(path.join(p.dir, "cluster.config.lock"), "utf8"));
    const tabulate = lock.entries.find((e) => e.name === "tabulate")!;
    expect(tabulate.hashes.length).toBeGreaterThan(0);
    const r = await npm("exec", ["all", "python -c 'import tabulate; print(tabulate.__version__)'"]);
    expect(r.exitCode, tail(r)).toBe(0);
    expect(r.stdout.trim().split("\n").sort()).toEqual(
      ["node1", "node2", "node3"].map((n) => `[${n}] ${tabulate.version}`),
    );
    const v = await npm("verify-versions");
    expect(v.exitCode, tail(v)).toBe(0);
    expect(v.stdout).toMatch(
      new RegExp(
        `^identical: 3 nodes run Python 3\\.11\\.\\d+, bundle [0-9a-f]{16}, ${lock.entries.length} packages as locked; scheduler, workers and client agree`,
        "m",
      ),
    );
    // What the package costs a deploy: the bundle, against the runtime's own.
    const size = (id: string) => {
      const f = path.join(cacheDir(), `bundle-${id}.tar`);
      return existsSync(f) ? statSync(f).size : undefined;
    };
    measured.bundleBytesWithPackages = size(bundleIdOf(runtimeRefOf(p.cluster)));
    measured.bundleBytesRuntimeOnly = size(bundleIdOf(runtimeRef(p.dir, "3.11", "x86_64")));
  });

  it("npm run submit: the script's folder to node 1, its output live, its exit code, its output file back, what it wrote and changed in its folder back, what .dvcignore lists left behind", async () => {
    mkdirSync(path.join(work, "lib"), { recursive: true });
    writeFileSync(path.join(work, ".dvcignore"), "big.bin\n");
    writeFileSync(path.join(work, "notes.txt"), "sent\n");
    writeFileSync(path.join(work, "big.bin"), Buffer.alloc(2_000_000));
    writeFileSync(path.join(work, "lib", "helpers.py"), "def square(x):\n    return x * x\n");
    writeFileSync(
      path.join(work, "job.py"),
      `import os, sys
from pathlib import Path
from distributed import Client, get_worker
from dask_vm_runtime import output_dir
from lib.helpers import square

def where(_):
    import tabulate
    return get_worker().name, tabulate.__version__

client = Client()
seen = sorted(set(client.gather(client.map(where, range(30), pure=False))))
print("ran on", " ".join(n for n, _ in seen), "with tabulate", seen[0][1], flush=True)
total = client.submit(sum, client.map(square, range(100))).result()
print("total", total, "args", sys.argv[1:], flush=True)
print("big.bin sent:", Path("big.bin").exists(), file=sys.stderr, flush=True)
(output_dir() / "result.txt").write_text(f"{total}\\n")
Path("results.csv").write_text(f"total\\n{total}\\n")  # beside the script, as on one's own computer
with open("notes.txt", "a") as notes:
    notes.write("run\\n")
sys.exit(3)
`,
    );
    const t0 = performance.now();
    const r = await npm("submit", [path.join(work, "job.py"), "--flag", "a b"]);
    measured.submitSeconds = (performance.now() - t0) / 1000;
    expect(r.exitCode, tail(r)).toBe(3);
    const tab = parseLock(readFileSync(path.join(p.dir, "cluster.config.lock"), "utf8")).entries.find(
      (e) => e.name === "tabulate",
    )!.version;
    expect(r.stdout).toContain(`ran on node1 node2 node3 with tabulate ${tab}`);
    expect(r.stdout).toContain("total 328350 args ['--flag', 'a b']");
    expect(r.stderr).toContain("big.bin sent: False");
    expect(r.stderr).toMatch(/\[submit\] connected: 3 workers/);
    const jobs = readdirSync(path.join(p.dir, "results", "submit"));
    expect(jobs).toHaveLength(1);
    const job = path.join(p.dir, "results", "submit", jobs[0]!);
    expect(readFileSync(path.join(job, "output", "result.txt"), "utf8")).toBe("328350\n");
    expect(readFileSync(path.join(job, "output.log"), "utf8")).toContain("total 328350");
    // What the job wrote in its folder, created or changed, at its own path; nothing else of it.
    expect(readFileSync(path.join(job, "results.csv"), "utf8")).toBe("total\n328350\n");
    expect(readFileSync(path.join(job, "notes.txt"), "utf8")).toBe("sent\nrun\n");
    expect(readdirSync(job).sort()).toEqual(["job.json", "notes.txt", "output", "output.log", "results.csv"]);
    const summary = r.stdout.split("\n").find((l) => l.startsWith("[submit] exit 3 after"));
    expect(summary, r.stdout).toMatch(
      new RegExp(
        `^\\[submit\\] exit 3 after [\\d.]+ s; back in .*results/submit/${jobs[0]}/: notes\\.txt, results\\.csv \\(2 files, 22 B\\); 1 output file in output/$`,
      ),
    );
    measured.submitSummary = summary;
    expect(JSON.parse(readFileSync(path.join(job, "job.json"), "utf8"))).toMatchObject({
      exitCode: 3,
      node: "node1",
      output: ["result.txt"],
      changed: ["notes.txt", "results.csv"],
    });
    expect(readdirSync(nodePaths(nodes[0]!.root).jobs)).toEqual([]);
  }, 180_000);

  it("npm run submit refuses a missing script and a folder over --max-size (exit 2) and runs nothing", async () => {
    const missing = await npm("submit", [path.join(work, "nope.py")]);
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toMatch(/not in what would be sent/);
    writeFileSync(path.join(work, ".dvcignore"), "");
    const big = await npm("submit", ["--max-size", "1MB", path.join(work, "job.py")]);
    expect(big.exitCode).toBe(2);
    expect(big.stderr).toMatch(/over the limit of 1\.0 MB[\s\S]*big\.bin \(2\.0 MB\)/);
    writeFileSync(path.join(work, ".dvcignore"), "big.bin\n");
    expect(readdirSync(path.join(p.dir, "results", "submit"))).toHaveLength(1);
  });

  it("npm run submit: Ctrl-C stops the job on the node and brings back what it wrote (exit 130); a module named like the cluster's own stays behind", async () => {
    const folder = path.join(path.dirname(p.dir), "interrompu");
    mkdirSync(folder, { recursive: true });
    writeFileSync(path.join(folder, "random.py"), "raise SystemExit('the folder random.py reached the scheduler')\n");
    writeFileSync(
      path.join(folder, "long_job.py"),
      "import time\nfrom dask_vm_runtime import output_dir\n(output_dir() / 'partial.txt').write_text('half\\n')\nopen('beside.txt', 'w').write('half too\\n')\nprint('started', flush=True)\ntime.sleep(600)\n",
    );
    const started = await startUntil(
      p,
      ["provision/cli.ts", "submit", path.join(folder, "long_job.py")],
      /^started$/m,
      120_000,
    );
    expect(started.out()).toMatch(
      /not sent to the scheduler and workers, their names are the cluster's own modules: random/,
    );
    const code = await interrupt(started.child);
    expect(code, started.out()).toBe(130);
    const left = await nodes[0]!.run("pgrep -f '[l]ong_job.py' || true");
    expect(left.stdout.trim()).toBe("");
    const job = readdirSync(path.join(p.dir, "results", "submit")).find((j) => j.endsWith("-long_job"))!;
    expect(readFileSync(path.join(p.dir, "results", "submit", job, "output", "partial.txt"), "utf8")).toBe("half\n");
    expect(readFileSync(path.join(p.dir, "results", "submit", job, "beside.txt"), "utf8")).toBe("half too\n");
    expect(JSON.parse(readFileSync(path.join(p.dir, "results", "submit", job, "job.json"), "utf8"))).toMatchObject({
      exitCode: 130,
      changed: ["beside.txt"],
    });
    expect(readdirSync(nodePaths(nodes[0]!.root).jobs)).toEqual([]);
    // The scheduler still imports the standard library's random (a task that uses it runs).
    const ok = await npm("exec", [
      "node1",
      `python -c "from distributed import Client; c = Client(); print(c.run_on_scheduler(lambda: __import__('random').__file__))"`,
    ]);
    expect(ok.stdout, tail(ok)).toMatch(/lib\/python3\.\d+\/random\.py/);
  }, 180_000);

  it("npm run submit: what the job wrote in its folder over --max-size stays on the node, named, and the printed commands bring it back", async () => {
    const folder = path.join(path.dirname(p.dir), "gros");
    mkdirSync(folder, { recursive: true });
    writeFileSync(
      path.join(folder, "big_job.py"),
      "from pathlib import Path\nPath('big.bin').write_bytes(bytes(2_000_000))\nPath('small.txt').write_text('s\\n')\n",
    );
    const r = await npm("submit", ["--max-size", "1MB", path.join(folder, "big_job.py")]);
    expect(r.exitCode, tail(r)).toBe(0);
    expect(r.stderr).toContain(
      "the job created or changed 2 files in its folder, 2.0 MB, over --max-size (1.0 MB): not brought back",
    );
    expect(r.stderr).toContain("big.bin (2.0 MB), small.txt (2 B)");
    expect(r.stdout).toMatch(
      /exit 0 after [\d.]+ s; 2 changed files \(2\.0 MB\) left on node1, over --max-size; log in /,
    );
    const id = readdirSync(path.join(p.dir, "results", "submit")).find((j) => j.endsWith("-big_job"))!;
    const job = path.join(p.dir, "results", "submit", id);
    expect(existsSync(path.join(job, "big.bin"))).toBe(false);
    expect(JSON.parse(readFileSync(path.join(job, "job.json"), "utf8"))).toMatchObject({
      changed: ["big.bin", "small.txt"],
      changedKept: { node: "node1", folder: `${nodePaths(nodes[0]!.root).jobs}/${id}/src` },
    });
    expect(readdirSync(nodePaths(nodes[0]!.root).jobs)).toEqual([id]);
    // The commands the message gives, run as given (a shell's double quotes taken off).
    const m =
      /to bring that folder back: npm run ssh -- node1 "(.*)", then npm run data -- pull (\S+) \(into results\/data\/\S+\) and npm run ssh -- node1 "(.*)";/.exec(
        r.stderr,
      );
    expect(m, r.stderr).not.toBeNull();
    expect(m![2]).toBe(id);
    const moved = await npm("ssh", ["node1", m![1]!]);
    expect(moved.exitCode, tail(moved)).toBe(0);
    const pull = await npm("data", ["pull", id]);
    expect(pull.exitCode, tail(pull)).toBe(0);
    expect(statSync(path.join(p.dir, "results", "data", id, "big.bin")).size).toBe(2_000_000);
    expect(readFileSync(path.join(p.dir, "results", "data", id, "small.txt"), "utf8")).toBe("s\n");
    const removed = await npm("ssh", ["node1", m![3]!]);
    expect(removed.exitCode, tail(removed)).toBe(0);
    expect(readdirSync(nodePaths(nodes[0]!.root).jobs)).toEqual([]);
    expect(readdirSync(nodePaths(nodes[0]!.root).data)).not.toContain(id);
  }, 180_000);

  it("npm run exec: one command on a node or on all, in the runtime venv, with its exit code", async () => {
    const one = await npm("exec", ["node2", "exit 7"]);
    expect(one.exitCode).toBe(7);
    const where = await npm("exec", [
      "node3",
      'python -c "import sys, os; print(sys.prefix, os.environ[\\"DVC_NODE\\"])"',
    ]);
    expect(where.exitCode, tail(where)).toBe(0);
    expect(where.stdout.trim()).toBe(`${nodes[2]!.root}/venv node3`);
    const bad = await npm("exec", ["node9", "true"]);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toMatch(/use one of: node1, node2, node3/);
  });

  it("npm run data: a folder to every node at data_dir(), with progress; back from every node", async () => {
    const folder = path.join(work, "ratings");
    mkdirSync(folder, { recursive: true });
    const blob = Buffer.from(Array.from({ length: 3_000_000 }, (_, i) => (i * 7919) % 251));
    writeFileSync(path.join(folder, "ratings.bin"), blob);
    writeFileSync(path.join(folder, "small.csv"), "userId,movieId,rating\n1,1,4.0\n");
    const push = await npm("data", ["push", folder]);
    expect(push.exitCode, tail(push)).toBe(0);
    expect(push.stdout).toMatch(/\[data\] copied: .* of 9\.0 MB to 3 nodes \(100 %\)/);
    const sums = await npm("exec", [
      "all",
      `python -c "import hashlib, dask_vm_runtime as d; print(hashlib.sha256((d.data_dir() / 'ratings' / 'ratings.bin').read_bytes()).hexdigest())"`,
    ]);
    expect(sums.exitCode, tail(sums)).toBe(0);
    const want = createHash("sha256").update(blob).digest("hex");
    expect(sums.stdout.trim().split("\n").sort()).toEqual(["node1", "node2", "node3"].map((n) => `[${n}] ${want}`));
    await nodes[1]!.run(`echo from-node2 > ${shq(`${nodePaths(nodes[1]!.root).data}/ratings/written.txt`)}`);
    const pull = await npm("data", ["pull", "ratings", "--nodes", "all"]);
    expect(pull.exitCode, tail(pull)).toBe(0);
    expect(readFileSync(path.join(p.dir, "results", "data", "ratings", "node2", "written.txt"), "utf8")).toBe(
      "from-node2\n",
    );
    expect(existsSync(path.join(p.dir, "results", "data", "ratings", "node3", "ratings.bin"))).toBe(true);
    const list = await npm("data", ["list"]);
    expect(list.stdout).toMatch(/^node1 .*\n {2}ratings {2}3\.0 MB$/m);
  }, 180_000);

  it("the write-ups notebook runs top to bottom on the cluster (nbclient, small size), every cell's output as expected", async () => {
    const t0 = performance.now();
    const r = await npm("notebook", [
      "--execute",
      path.join("cluster-runtime", "notebooks", "write-ups.ipynb"),
      "--env",
      "DVC_NOTEBOOK_SIZE=small",
    ]);
    measured.notebookExecuteSeconds = (performance.now() - t0) / 1000;
    expect(r.exitCode, tail(r, 60)).toBe(0);
    measured.notebookInstall = /installed notebook bundle [0-9a-f]+ \((\d+) packages\) in (\d+) s/
      .exec(r.stdout)
      ?.slice(1);
    const nbFile = readdirSync(path.join(p.dir, "results", "notebooks")).find((f) => f.endsWith("write-ups.ipynb"))!;
    const nb = JSON.parse(readFileSync(path.join(p.dir, "results", "notebooks", nbFile), "utf8")) as Any;
    const code = nb.cells.filter((c: Any) => c.cell_type === "code");
    const text = (c: Any) =>
      c.outputs
        .filter((o: Any) => o.output_type === "stream")
        .map((o: Any) => (Array.isArray(o.text) ? o.text.join("") : o.text))
        .join("");
    for (const c of code)
      expect(
        c.outputs.filter((o: Any) => o.output_type === "error"),
        text(c),
      ).toEqual([]);
    expect(code).toHaveLength(5);
    expect(text(code[0])).toMatch(
      /^size small: 3 workers: node1 at tls:\/\/192\.168\.56\.11:8788, node2 at tls:\/\/192\.168\.56\.12:8788, node3 at tls:\/\/192\.168\.56\.13:8788$/m,
    );
    for (const k of [1, 2, 3])
      expect(text(code[1])).toMatch(new RegExp(`^${k} node\\(s\\), ${k} thread\\(s\\): total 36 in [\\d.]+ s`, "m"));
    expect(
      code[1].outputs.some(
        (o: Any) => o.output_type === "display_data" && String(o.data["image/svg+xml"]).includes("<svg"),
      ),
    ).toBe(true);
    expect(text(code[2])).toMatch(
      /^per item: -2664667000 in .*tasks per node: \{'node1': \d+, 'node2': \d+, 'node3': \d+\}$/m,
    );
    expect(text(code[2])).toMatch(/^batched \(\d+ tasks\): -2664667000 in/m);
    const placed = [...text(code[3]).matchAll(/^node\d: (\d+) of 14 tasks/gm)].map((m) => Number(m[1]));
    expect(placed).toHaveLength(3);
    expect(placed.reduce((a, b) => a + b, 0)).toBe(14);
    // The write-up's SVD, sparse (no ratings.csv pushed: a generated set), against svds on node 1.
    expect(text(code[4])).toMatch(
      /^generated:ml-latest-small: 9,724 films x 610 users in 6 sparse blocks on the workers/m,
    );
    expect(text(code[4])).toMatch(/^one machine: SciPy's svds in [\d.]+ s/m);
    const error = Number(
      /largest relative error of the cluster's values against svds: ([\d.e+-]+)/.exec(text(code[4]))?.[1],
    );
    expect(error).toBeLessThan(0.01);
  }, 600_000);

  it("JupyterLab in headless Chromium through 127.0.0.1: a cell's Client() computes on all three workers; bound to node 1's IP with a token; Ctrl-C brings the notebooks back", async () => {
    const { chromium } = await import("playwright-core");
    const port = 18000 + Math.floor(Math.random() * 1000);
    mkdirSync(path.join(p.dir, "notebooks"), { recursive: true });
    writeFileSync(
      path.join(p.dir, "notebooks", "check.ipynb"),
      JSON.stringify({
        cells: [
          {
            cell_type: "code",
            execution_count: null,
            id: "c1",
            metadata: {},
            outputs: [],
            source:
              "from distributed import Client, get_worker\nclient = Client()\nnames = sorted(set(client.gather(client.map(lambda i: get_worker().name, range(60), pure=False))))\nprint('computed on', ' '.join(names), '=', client.submit(sum, client.map(lambda x: x * x, range(10))).result())",
          },
        ],
        metadata: { kernelspec: { display_name: "Python (dask cluster)", language: "python", name: "dask-cluster" } },
        nbformat: 4,
        nbformat_minor: 5,
      }),
    );
    const started = await startUntil(
      p,
      ["provision/cli.ts", "notebook", "--no-open", "--port", String(port)],
      /JupyterLab: http:\/\/127\.0\.0\.1:\d+\/lab\?token=[0-9a-f]+/,
    );
    try {
      const url = /JupyterLab: (\S+)/.exec(started.out())![1]!;
      const token = new URL(url).searchParams.get("token")!;
      // Bound to node 1's private IP only, and nothing without the token.
      const socks = await listeners(p.cluster, "node1");
      expect(socks.map((s) => s.local)).toContain(`192.168.56.11:${port}`);
      expect(socks.map((s) => s.local)).not.toContain(`0.0.0.0:${port}`);
      expect((await fetch(`http://127.0.0.1:${port}/api/contents`)).status).toBe(403);
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
        await page.goto(url.replace("/lab?", "/lab/tree/check.ipynb?"), { timeout: 120_000 });
        await page.waitForSelector(".jp-Notebook .jp-Cell .jp-InputArea-editor", { timeout: 120_000 });
        // Run the cell once the kernel is there (a cell run while the session still starts
        // is dropped by JupyterLab, and shows no execution count): again if it was dropped.
        for (let attempt = 0; attempt < 3; attempt++) {
          await page.waitForFunction(
            () => document.querySelector("#jp-main-statusbar")?.textContent?.includes("Python (dask cluster) | Idle"),
            undefined,
            { timeout: 120_000 },
          );
          await page.click(".jp-Cell >> nth=0 >> .jp-InputArea-editor");
          await page.keyboard.press("Shift+Enter");
          const ran = await page
            .waitForFunction(
              () => /\[(\*|\d+)\]/.test(document.querySelector(".jp-Cell .jp-InputPrompt")?.textContent ?? ""),
              undefined,
              { timeout: 20_000 },
            )
            .then(() => true)
            .catch(() => false);
          if (ran) break;
        }
        mkdirSync(path.join(REPO, "test-output"), { recursive: true });
        const out = await page
          .waitForSelector(".jp-OutputArea-output:has-text('computed on')", { timeout: 180_000 })
          .catch(async (err: Error) => {
            await page.screenshot({ path: path.join(REPO, "test-output", "jupyterlab-failed.png") });
            throw new Error(`${err.message}\npage text: ${(await page.textContent("body"))?.slice(0, 2000)}`);
          });
        expect((await out.textContent())?.trim()).toBe("computed on node1 node2 node3 = 285");
        await page.screenshot({ path: path.join(REPO, "test-output", "jupyterlab.png") });
      } finally {
        await browser.close();
      }
      // A notebook saved in JupyterLab (through its own contents API, as the Save button does).
      const saved = await fetch(`http://127.0.0.1:${port}/api/contents/mine.ipynb`, {
        method: "PUT",
        headers: { Authorization: `token ${token}`, "Content-Type": "application/json" },
        body: JSON.stringify({
          type: "notebook",
          content: { cells: [], metadata: {}, nbformat: 4, nbformat_minor: 5 },
        }),
      });
      expect(saved.status).toBe(201);
    } finally {
      const code = await interrupt(started.child);
      expect(code, started.out()).toBe(0);
    }
    expect(started.out()).toMatch(/\[notebook\] stopped; \d+ files? of .* in /);
    expect(existsSync(path.join(p.dir, "notebooks", "mine.ipynb"))).toBe(true);
    const status = await nodes[0]!.run(
      `${shq(nodePaths(nodes[0]!.root).python)} -m dask_vm_runtime service status notebook --root ${shq(nodes[0]!.root)} --manager supervisor`,
    );
    expect(status.stdout).toMatch(/"running":\s*false/);
    expect((await listeners(p.cluster, "node1")).map((s) => s.local)).not.toContain(`192.168.56.11:${port}`);
  }, 600_000);

  it("a client with another distributed is refused by name, in submit and in the kernel; verify-versions --fix makes it the cluster's again", async () => {
    const wheels = path.join(cacheDir(), "test-wheels");
    mkdirSync(wheels, { recursive: true });
    const older = () =>
      readdirSync(wheels).find(
        (f) => f.startsWith("distributed-") && !f.startsWith(`distributed-${lockedDistributed}-`),
      );
    if (!older())
      await $({
        quiet: true,
      })`python3 -m pip download --no-deps --only-binary=:all: --dest ${wheels} ${`distributed<${lockedDistributed}`}`;
    const wheel = older()!;
    const other = wheel.split("-")[1]!;
    const head = nodes[0]!;
    await head.put(path.join(wheels, wheel), `${head.root}/home/${wheel}`);
    await head.run(
      `${shq(nodePaths(head.root).python)} -m pip --disable-pip-version-check -q install --no-index --no-deps home/${wheel}`,
    );

    const submit = await npm("submit", [path.join(work, "job.py")]);
    expect(submit.exitCode).toBe(1);
    expect(submit.stderr).toMatch(/this Dask client is refused by the cluster: its versions differ from the workers'/);
    expect(submit.stderr).toContain(`distributed: this client has ${other}, the cluster has ${lockedDistributed}`);
    expect(submit.stdout).not.toContain("ran on");

    const nb = path.join(work, "connect.ipynb");
    writeFileSync(
      nb,
      JSON.stringify({
        cells: [
          {
            cell_type: "code",
            execution_count: null,
            id: "c1",
            metadata: {},
            outputs: [],
            source: "from distributed import Client\nclient = Client()",
          },
        ],
        metadata: {},
        nbformat: 4,
        nbformat_minor: 5,
      }),
    );
    const kernel = await npm("notebook", ["--execute", nb]);
    expect(kernel.exitCode).toBe(1);
    expect(kernel.stderr).toMatch(/cell 1 \(from distributed import Client\) failed: .*ImportError/);
    const executed = readdirSync(path.join(p.dir, "results", "notebooks")).find((f) => f.endsWith("connect.ipynb"))!;
    const errors = (
      JSON.parse(readFileSync(path.join(p.dir, "results", "notebooks", executed), "utf8")) as Any
    ).cells[0].outputs.filter((o: Any) => o.output_type === "error");
    expect(errors[0].evalue).toContain(`distributed: this client has ${other}, the cluster has ${lockedDistributed}`);

    const fix = await npm("verify-versions", ["--fix"]);
    expect(fix.exitCode, tail(fix)).toBe(0);
    const again = await npm("submit", [path.join(work, "job.py")]);
    expect(again.exitCode, tail(again)).toBe(3);
  }, 600_000);

  it("a Python on this computer: npm run connect -- --venv makes a client of the cluster's lock, Client() connects through 127.0.0.1, verify-versions checks it", async () => {
    const started = await startUntil(p, ["provision/cli.ts", "connect", "--venv"], /\[connect\] serving /);
    try {
      expect(started.out()).toMatch(/export DASK_CONFIG='.*\/\.cluster\/client'/);
      const python = path.join(p.dir, ".cluster", "client", "runtime", "venv", "bin", "python");
      const r = await $({
        quiet: true,
        nothrow: true,
        env: { ...process.env, DASK_CONFIG: path.join(p.dir, ".cluster", "client") },
      })`${python} -c ${"from distributed import Client\nc = Client(timeout=30)\nprint(sorted(w['name'] for w in c.scheduler_info()['workers'].values()), c.submit(lambda: __import__('tabulate').__version__).result())"}`;
      expect(r.exitCode, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^\['node1', 'node2', 'node3'\] \d/);
      const v = await npm("verify-versions");
      expect(v.exitCode, tail(v)).toBe(0);
      expect(v.stdout).toMatch(/; so does the host client \(\.cluster\/client\)/);
    } finally {
      expect(await interrupt(started.child)).toBe(0);
    }
  }, 300_000);

  it("a second deploy, after destroy, asks no package index: the lock is current and the wheels are cached", async () => {
    const d = await p.cdktf("destroy");
    expect(d.out.exitCode, tail(d.out)).toBe(0);
    // Every request for the index or through a proxy lands here, and is counted.
    const asked: string[] = [];
    const trap = http.createServer((req, res) => {
      asked.push(`${req.method} ${req.url}`);
      res.writeHead(503).end();
    });
    trap.on("connect", (req, socket) => {
      asked.push(`CONNECT ${req.url}`);
      socket.end("HTTP/1.1 503 Service Unavailable\r\n\r\n");
    });
    await new Promise<void>((resolve) => trap.listen(0, "127.0.0.1", resolve));
    const port = (trap.address() as AddressInfo).port;
    try {
      const t0 = performance.now();
      const out = await p.sh(["node_modules/.bin/cdktf", "deploy", "--auto-approve"], {
        env: {
          PIP_INDEX_URL: `http://127.0.0.1:${port}/simple/`,
          HTTPS_PROXY: `http://127.0.0.1:${port}`,
          HTTP_PROXY: `http://127.0.0.1:${port}`,
          NO_PROXY: "127.0.0.1,localhost",
          CHECKPOINT_DISABLE: "1",
        },
      });
      measured.offlineRedeploySeconds = (performance.now() - t0) / 1000;
      expect(out.exitCode, tail(out, 60)).toBe(0);
      expect(asked.filter((a) => /pypi|pythonhosted|simple/.test(a))).toEqual([]);
    } finally {
      trap.close();
    }
    const r = await npm("exec", ["all", "python -c 'import tabulate'"]);
    expect(r.exitCode, tail(r)).toBe(0);
  }, 600_000);

  it("cdktf destroy leaves nothing but the user's own files (the packages lock, notebooks/, results/)", async () => {
    const d = await p.cdktf("destroy");
    measured.destroySeconds = d.seconds;
    expect(d.out.exitCode, tail(d.out)).toBe(0);
    const after = await residue(
      p.dir,
      p.cluster.id,
      p.cluster.nodes.map((n) => n.ip),
    );
    const mine = (f: string) => f.startsWith("cluster.config.lock:") || f.startsWith("notebooks/");
    expectNothingLeft(after, before, mine);
    // What connect and notebook made on this computer went with the cluster.
    expect(existsSync(path.join(p.dir, ".cluster", "client"))).toBe(false);
    expect(after.files.filter(mine).map((f) => f.split(":")[0])).toEqual(
      expect.arrayContaining(["cluster.config.lock", "notebooks/check.ipynb", "notebooks/mine.ipynb"]),
    );
  }, 300_000);
});
