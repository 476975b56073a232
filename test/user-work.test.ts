// Your own work on the cluster, the parts that need no cluster: the packages lock's
// bookkeeping and uv's refusals turned into messages, folders packed for a node (ignore
// file, size limit, sizes people read), what a submitted job changed in its folder (found
// after a marker, placed beside submit's own files, held to --max-size; on Linux through
// the node's real commands, bash, find and GNU tar, on a folder standing for the node's),
// the connection profile, and JupyterLab's service
// definition (bound to the node's IP, the token never on the command line). The real
// thing runs in test/user-work.local.test.ts and test/packages.integration.test.ts.
import { createHash } from "node:crypto";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import os from "node:os";
import path from "node:path";
import * as tar from "tar";
import { afterAll, describe, expect, it } from "vitest";
import { nodeProfile, profileYaml } from "../provision/services/client-profile.js";
import { resolveCluster } from "../provision/config/resolve.js";
import { UserError } from "../provision/core/errors.js";
import { notebookService, notebookToken } from "../provision/services/notebook.js";
import {
  packagesLockFile,
  packagesLockStatus,
  refusal,
  requirementName,
  runtimeOfCluster,
} from "../provision/runtime/packages.js";
import {
  changedSince,
  copyProgress,
  fetchFiles,
  formatBytes,
  listFolder,
  markStart,
  packFolder,
  parseChanged,
  parseSize,
  sendFolder,
} from "../provision/services/workspace.js";
import { leftMessage, placeChanged, someOf, summaryLine } from "../provision/commands/submit.js";
import { runProcess } from "../provision/host/process.js";
import { makeCheckout } from "./helpers/project.js";
import { FakeTransport } from "./helpers/fake-cluster.js";
import { runForNode, shq, type RunOptions, type Transport } from "../provision/machines/transport.js";

const scratch = mkdtempSync(path.join(os.tmpdir(), "dvc-userwork-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe("the packages lock", () => {
  const checkout = makeCheckout("dvc-pkglock-");
  afterAll(() => rmSync(checkout.top, { recursive: true, force: true }));
  const cluster = (packages: string[]) =>
    resolveCluster({ provider: "local", runtime: { packages } }, checkout.dir, {
      configFile: path.join(checkout.dir, "cluster.config.json"),
    });

  it("lives beside the config: cluster.config.json -> cluster.config.lock, any other name likewise", () => {
    expect(packagesLockFile("/x/y/cluster.config.json")).toBe("/x/y/cluster.config.lock");
    expect(packagesLockFile("/x/Cours Dask/mine.json")).toBe("/x/Cours Dask/mine.lock");
  });

  it("is not needed without packages, must be made when missing, and is current only for the same packages, Python, platform and runtime lock", () => {
    expect(packagesLockStatus(cluster([]))).toEqual({ state: "none" });
    const c = cluster(["tabulate", "humanize>=4"]);
    expect(packagesLockStatus(c)).toMatchObject({ state: "stale", why: expect.stringMatching(/does not exist yet/) });
    const runtimeLock = readFileSync(path.join(checkout.dir, "cluster-runtime", "requirements-x86_64.lock"));
    const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");
    const header = (packages: string[], python = "3.11", runtime = sha(runtimeLock)) =>
      `# python-version: ${python}\n# platform: x86_64\n# runtime-lock: sha256:${runtime}\n# packages: ${JSON.stringify(packages)}\ntabulate==0.10.0 \\\n    --hash=sha256:${"a".repeat(64)}\n`;
    const file = packagesLockFile(c.configFile);
    writeFileSync(file, header(["humanize>=4", "tabulate"]));
    expect(packagesLockStatus(c)).toEqual({ state: "current", file });
    writeFileSync(file, header(["tabulate"]));
    expect(packagesLockStatus(c)).toMatchObject({ state: "stale", why: "runtime.packages changed" });
    writeFileSync(file, header(["humanize>=4", "tabulate"], "3.12"));
    expect(packagesLockStatus(c)).toMatchObject({ state: "stale", why: "it was made for Python 3.12 on x86_64" });
    writeFileSync(file, header(["humanize>=4", "tabulate"], "3.11", "0".repeat(64)));
    expect(packagesLockStatus(c)).toMatchObject({
      state: "stale",
      why: expect.stringMatching(/runtime's own lock .* changed/),
    });
    writeFileSync(file, "tabulate==0.10.0\n");
    expect(packagesLockStatus(c)).toMatchObject({ state: "stale", why: expect.stringMatching(/no header of ours/) });
  });

  it("without a current lock, the runtime of a config with packages is refused (exit 2) saying to deploy", () => {
    let err: unknown;
    try {
      runtimeOfCluster(cluster(["scikit-learn"]));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UserError);
    expect((err as UserError).exitCode).toBe(2);
    expect((err as UserError).render()).toMatch(/npx cdktf deploy/);
  });

  it("names the package uv refuses, and why, from uv's own words", () => {
    expect(requirementName("scikit-learn[alldeps]>=1.5")).toBe("scikit-learn");
    expect(requirementName("Pandas_Stubs==2")).toBe("pandas-stubs");
    const packages = ["tabulate", "docopt", "numpy<2"];
    const noWheel = refusal(
      "Because all versions of docopt have no usable wheels and you require docopt, we can conclude that your requirements are unsatisfiable.",
      packages,
      "3.11",
      "x86_64",
    );
    expect(noWheel.network).toBe(false);
    expect(noWheel.problems).toEqual([
      expect.objectContaining({
        path: "/runtime/packages/1",
        message: expect.stringMatching(/^"docopt": docopt has no wheel for Python 3\.11 on Linux x86_64/),
      }),
    ]);
    const conflict = refusal(
      "Because you require numpy<2 and numpy==2.4.6, we can conclude that your requirements are unsatisfiable.",
      packages,
      "3.11",
      "x86_64",
    );
    expect(conflict.problems).toEqual([
      expect.objectContaining({
        path: "/runtime/packages/2",
        message: expect.stringMatching(/conflicts with the runtime/),
        fix: expect.stringMatching(/numpy/),
      }),
    ]);
    const unknown = refusal(
      "Because nope-xyz was not found in the package registry and you require nope-xyz, we can conclude...",
      ["nope-xyz"],
      "3.11",
      "x86_64",
    );
    expect(unknown.problems[0]!.message).toMatch(/no package named nope-xyz/);
    const offline = refusal(
      "Failed to fetch: `https://pypi.org/simple/tabulate/`\n  Caused by: dns error",
      packages,
      "3.11",
      "x86_64",
    );
    expect(offline.network).toBe(true);
  });
});

describe("folders for the nodes", () => {
  const dir = path.join(scratch, "mon travail é");
  mkdirSync(path.join(dir, "data", "raw"), { recursive: true });
  mkdirSync(path.join(dir, ".git"), { recursive: true });
  mkdirSync(path.join(dir, "__pycache__"), { recursive: true });
  writeFileSync(path.join(dir, "job.py"), "print('hi')\n");
  writeFileSync(path.join(dir, "data", "small.csv"), "a,b\n1,2\n");
  writeFileSync(path.join(dir, "data", "raw", "huge.bin"), Buffer.alloc(3_000_000));
  writeFileSync(path.join(dir, ".git", "HEAD"), "ref\n");
  writeFileSync(path.join(dir, "__pycache__", "job.cpython-311.pyc"), "x");
  writeFileSync(path.join(dir, "notes.tmp"), "x");
  // A link to a folder outside: a junction on Windows, where a symlink needs a privilege.
  if (process.platform === "win32") symlinkSync(os.homedir(), path.join(dir, "outside"), "junction");
  else symlinkSync("/etc", path.join(dir, "outside"));

  it("sends what .dvcignore allows, never tool state or caches, and keeps links as links", () => {
    expect(listFolder(dir).map((f) => f.rel)).toEqual([
      "data/raw/huge.bin",
      "data/small.csv",
      "job.py",
      "notes.tmp",
      "outside",
    ]);
    writeFileSync(path.join(dir, ".dvcignore"), "# what the job does not need\n*.tmp\ndata/raw/\n");
    expect(listFolder(dir).map((f) => f.rel)).toEqual([".dvcignore", "data/small.csv", "job.py", "outside"]);
  });

  it("packs into one tar a node unpacks as it was", async () => {
    const packed = await packFolder(dir, 1e6, "script.py");
    try {
      const names: string[] = [];
      await tar.list({ file: packed.tarPath, onReadEntry: (e) => void names.push(`${e.type}:${e.path}`) });
      expect(names.sort()).toEqual(["File:.dvcignore", "File:data/small.csv", "File:job.py", "SymbolicLink:outside"]);
      expect(packed.bytes).toBe(
        readFileSync(path.join(dir, "job.py")).length + 8 + readFileSync(path.join(dir, ".dvcignore")).length,
      );
    } finally {
      packed.remove();
    }
  });

  it("refuses a folder over the limit (exit 2), naming its biggest files and the ways out", async () => {
    rmSync(path.join(dir, ".dvcignore"));
    let err: unknown;
    try {
      await packFolder(dir, 1_000_000, "script.py");
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UserError);
    const u = err as UserError;
    expect(u.exitCode).toBe(2);
    expect(u.render()).toMatch(/holds 3\.0 MB, over the limit of 1\.0 MB/);
    expect(u.render()).toMatch(/data\/raw\/huge\.bin \(3\.0 MB\)/);
    expect(u.render()).toMatch(/\.dvcignore.*npm run data -- push.*--max-size/s);
  });

  it("refuses what is not a folder (exit 2)", async () => {
    await expect(packFolder(path.join(dir, "job.py"), 1e9, "x")).rejects.toMatchObject({ exitCode: 2 });
    await expect(packFolder(path.join(dir, "nope"), 1e9, "x")).rejects.toMatchObject({ exitCode: 2 });
  });

  it("reads and writes sizes as people do", () => {
    expect(parseSize("100MB")).toBe(100e6);
    expect(parseSize("2 GB")).toBe(2e9);
    expect(parseSize("500k")).toBe(500e3);
    expect(parseSize("1048576")).toBe(1048576);
    expect(parseSize("lots")).toBeUndefined();
    expect(formatBytes(512)).toBe("512 B");
    expect(formatBytes(30_000_000)).toBe("30 MB");
    expect(formatBytes(1_234_567_890)).toBe("1.2 GB");
  });

  it("reports a copy to several nodes as one line per tenth of the whole, and stays quiet for small ones", () => {
    const lines: string[] = [];
    const on = copyProgress("[data] copied", 10e6, ["node1", "node2"], (l) => lines.push(l));
    for (const b of [1e6, 5e6, 10e6]) {
      on.node1!(b);
      on.node2!(b);
    }
    expect(lines).toEqual([
      "[data] copied: 2.0 MB of 20 MB to 2 nodes (10 %)",
      "[data] copied: 6.0 MB of 20 MB to 2 nodes (30 %)",
      "[data] copied: 10 MB of 20 MB to 2 nodes (50 %)",
      "[data] copied: 15 MB of 20 MB to 2 nodes (70 %)",
      "[data] copied: 20 MB of 20 MB to 2 nodes (100 %)",
    ]);
    const quiet: string[] = [];
    copyProgress("x", 1000, ["node1"], (l) => quiet.push(l)).node1!(1000);
    expect(quiet).toEqual([]);
  });
});

describe("what a submitted job changed in its folder", () => {
  it("comes back at its own path, but under folder/ when named as submit's own files", () => {
    const placed = placeChanged(
      [
        "results.csv",
        "plots/a.png",
        "output.log",
        "job.json",
        "output/x.txt",
        "folder/y",
        "outputs.csv",
        "job.json.bak",
      ].map((rel) => ({ rel, bytes: 1 })),
    );
    expect(Object.fromEntries(placed.map((f) => [f.rel, f.local]))).toEqual({
      "results.csv": "results.csv",
      "plots/a.png": "plots/a.png",
      "output.log": "folder/output.log",
      "job.json": "folder/job.json",
      "output/x.txt": "folder/output/x.txt",
      // folder/ is submit's too: what goes there never meets a file of the job's own folder/.
      "folder/y": "folder/folder/y",
      "outputs.csv": "outputs.csv",
      "job.json.bak": "job.json.bak",
    });
  });

  it("is read from find's NUL-separated list, names with spaces and newlines whole", () => {
    expect(parseChanged("14 results.csv\x000 plots/a b.png\x003 two\nlines.txt\x00")).toEqual([
      { rel: "plots/a b.png", bytes: 0 },
      { rel: "results.csv", bytes: 14 },
      { rel: "two\nlines.txt", bytes: 3 },
    ]);
    expect(parseChanged("")).toEqual([]);
  });

  it("is named in the last line: the first few and the count, the size, then output/", () => {
    const out = "results/submit/2026-12-02T15-28-42Z-job/";
    const back = placeChanged([
      { rel: "results.csv", bytes: 13_000 },
      { rel: "plots/a.png", bytes: 1_000 },
    ]);
    expect(summaryLine({ exitCode: 0, seconds: 3.14, out, back, output: 1 })).toBe(
      `exit 0 after 3.1 s; back in ${out}: results.csv, plots/a.png (2 files, 14 kB); 1 output file in output/`,
    );
    expect(summaryLine({ exitCode: 3, seconds: 6.6, out, back: [], output: 2 })).toBe(
      `exit 3 after 6.6 s; 2 output files in ${out}output/`,
    );
    expect(summaryLine({ exitCode: 1, seconds: 1, out, back: [], output: 0 })).toBe(
      `exit 1 after 1.0 s; log in ${out}`,
    );
    const many = placeChanged(Array.from({ length: 12 }, (_, i) => ({ rel: `part-${i}.csv`, bytes: 100 })));
    expect(summaryLine({ exitCode: 0, seconds: 2, out, back: many, output: 0 })).toBe(
      `exit 0 after 2.0 s; back in ${out}: part-0.csv, part-1.csv, part-2.csv, part-3.csv and 8 more (12 files, 1.2 kB)`,
    );
    expect(someOf(["a", "b", "c", "d", "e"])).toBe("a, b, c, d, e");
    expect(
      summaryLine({ exitCode: 0, seconds: 2, out, back: [], left: { files: many, node: "node1" }, output: 1 }),
    ).toBe(
      `exit 0 after 2.0 s; 12 changed files (1.2 kB) left on node1, over --max-size; 1 output file in ${out}output/`,
    );
  });

  it("over --max-size stays on the node, and the message names the biggest files, where they are and how to get them", () => {
    const changed = placeChanged([
      { rel: "small.csv", bytes: 2_000 },
      { rel: "model/weights.npy", bytes: 150_000_000 },
    ]);
    const msg = leftMessage({
      changed,
      maxBytes: 100e6,
      node: "node1",
      jobDir: "/p/Cours Dask/.cluster/nodes/node1/jobs/2026-x-job",
      dataDir: "/p/Cours Dask/.cluster/nodes/node1/data",
      jobId: "2026-x-job",
    });
    expect(msg).toContain(
      "the job created or changed 2 files in its folder, 150 MB, over --max-size (100 MB): not brought back",
    );
    expect(msg).toContain("kept: /p/Cours Dask/.cluster/nodes/node1/jobs/2026-x-job/src\n");
    expect(msg).toContain("model/weights.npy (150 MB), small.csv (2.0 kB)");
    expect(msg).toContain(
      `npm run ssh -- node1 "mkdir -p '/p/Cours Dask/.cluster/nodes/node1/data' && mv '/p/Cours Dask/.cluster/nodes/node1/jobs/2026-x-job/src' '/p/Cours Dask/.cluster/nodes/node1/data/2026-x-job' && rm -rf '/p/Cours Dask/.cluster/nodes/node1/jobs/2026-x-job'"`,
    );
    expect(msg).toContain(
      `npm run data -- pull 2026-x-job (into results/data/2026-x-job/) and npm run ssh -- node1 "rm -rf '/p/Cours Dask/.cluster/nodes/node1/data/2026-x-job'"`,
    );
  });

  it("an empty list fetches nothing and asks the node nothing", async () => {
    const journal: string[] = [];
    const t = new FakeTransport("node1", journal, []);
    expect(await fetchFiles(t, "/r/jobs/j/src", [], path.join(scratch, "none"))).toEqual([]);
    expect(journal).toEqual([]);
  });

  // The node's side for real: bash, find and GNU tar, as on every node (Linux).
  it.runIf(process.platform === "linux")(
    "sent files do not count, even dated ahead of the node's clock; what the job created or changed does, __pycache__ aside, and comes back",
    async () => {
      const root = path.join(scratch, "node1");
      mkdirSync(root, { recursive: true });
      const t = bashTransport(root);
      const host = path.join(scratch, "envoi");
      mkdirSync(path.join(host, "lib"), { recursive: true });
      writeFileSync(path.join(host, "job.py"), "print(1)\n");
      writeFileSync(path.join(host, "data.csv"), "a\n1\n");
      writeFileSync(path.join(host, "lib", "helpers.py"), "x = 1\n");
      writeFileSync(path.join(host, "ahead.txt"), "a host clock an hour ahead\n");
      utimesSync(path.join(host, "data.csv"), new Date("2020-01-01"), new Date("2020-01-01"));
      const hour = new Date(Date.now() + 3_600_000);
      utimesSync(path.join(host, "ahead.txt"), hour, hour);
      const jobDir = `${root}/jobs/j`;
      const src = `${jobDir}/src`;
      expect(await changedSince(t, src, `${jobDir}/started`)).toEqual([]);
      const packed = await packFolder(host, 1e6, "script.py");
      try {
        await sendFolder(t, packed, src);
      } finally {
        packed.remove();
      }
      // tar keeps the sent files' own times (2020 stays 2020).
      expect(statSync(path.join(src, "data.csv")).mtime.getUTCFullYear()).toBe(2020);
      expect(await changedSince(t, src, `${jobDir}/started`)).toEqual([]);
      await t.run(`cd ${shq(jobDir)} && ${markStart("src", "started")}`);
      // A script starts long after the marker (Python, then Dask's import and a client).
      await new Promise((r) => setTimeout(r, 100));
      writeFileSync(path.join(src, "data.csv"), "a\n1\n2\n");
      writeFileSync(path.join(src, "results.csv"), "x,y\n");
      mkdirSync(path.join(src, "plots"));
      writeFileSync(path.join(src, "plots", "a b.png"), "png");
      writeFileSync(path.join(src, "two\nlines.txt"), "n");
      writeFileSync(path.join(src, "output.log"), "mine");
      mkdirSync(path.join(src, "lib", "__pycache__"));
      writeFileSync(path.join(src, "lib", "__pycache__", "helpers.cpython-311.pyc"), "pyc");
      const changed = placeChanged(await changedSince(t, src, `${jobDir}/started`));
      expect(changed.map((f) => [f.rel, f.bytes, f.local])).toEqual([
        ["data.csv", 6, "data.csv"],
        ["output.log", 4, "folder/output.log"],
        ["plots/a b.png", 3, "plots/a b.png"],
        ["results.csv", 4, "results.csv"],
        ["two\nlines.txt", 1, "two\nlines.txt"],
      ]);
      const out = path.join(scratch, "results-submit-j");
      const plain = changed.filter((f) => f.local === f.rel).map((f) => f.rel);
      // A file gone by the time it is fetched is left out, not an error.
      expect(await fetchFiles(t, src, [...plain, "gone.txt"], out)).toEqual(plain);
      expect(await fetchFiles(t, src, ["output.log"], path.join(out, "folder"))).toEqual(["output.log"]);
      expect(readFileSync(path.join(out, "data.csv"), "utf8")).toBe("a\n1\n2\n");
      expect(readFileSync(path.join(out, "plots", "a b.png"), "utf8")).toBe("png");
      expect(readFileSync(path.join(out, "two\nlines.txt"), "utf8")).toBe("n");
      expect(readFileSync(path.join(out, "folder", "output.log"), "utf8")).toBe("mine");
      expect(existsSync(path.join(out, "job.py"))).toBe(false);
      // Nothing left beside the folder on the node: the tars are removed.
      expect(readdirSync(jobDir).sort()).toEqual(["src", "started"]);
    },
  );
});

/** A "node" that is a folder of this computer: scripts run in bash there, copies are copies. */
function bashTransport(root: string): Transport {
  return {
    node: "node1",
    root,
    serviceManager: "supervisor",
    slowness: 1,
    run: (script: string, opts: RunOptions = {}) =>
      runForNode(runProcess, "node1", ["bash", "-c", `cd ${shq(root)} || exit 1\n${script}`], script, opts, {
        ...process.env,
        ...opts.env,
      }),
    put: async (local, remote) => {
      mkdirSync(path.dirname(remote), { recursive: true });
      copyFileSync(local, remote);
    },
    get: async (remote, local) => {
      mkdirSync(path.dirname(local), { recursive: true });
      copyFileSync(remote, local);
    },
    shell: () => ({ argv: ["bash"] }),
  };
}

describe("the connection profile", () => {
  const c = resolveCluster({ provider: "local" }, "/x");
  const dask = c.config.dask;
  it("makes Client() connect with the cluster's TLS files, paths quoted (spaces), the client pair on node 1 and the node's own elsewhere", () => {
    const root = "/p/Cours Dask/.cluster/nodes/node2";
    const yaml = profileYaml(nodeProfile(root, c.nodes[1]!, c.nodes[0]!, dask), "test");
    expect(yaml).toContain('scheduler-address: "tls://192.168.56.11:8786"');
    expect(yaml).toContain("    require-encryption: true");
    expect(yaml).toContain(`      ca-file: "${root}/tls/ca.pem"`);
    expect(yaml).toContain(`        cert: "${root}/tls/node.pem"`);
    expect(yaml).toContain(`        key: "${root}/tls/node-key.pem"`);
    expect(profileYaml(nodeProfile(root, c.nodes[0]!, c.nodes[0]!, dask), "t")).toContain(
      `cert: "${root}/tls/client.pem"`,
    );
    expect(yaml).toContain('    link: "http://192.168.56.11:8787/status"');
    const plain = profileYaml(nodeProfile(root, c.nodes[1]!, c.nodes[0]!, { ...dask, tls: false }), "t");
    expect(plain).toContain('scheduler-address: "tcp://192.168.56.11:8786"');
    expect(plain).not.toContain("tls:");
  });
});

describe("JupyterLab's service", () => {
  const c = resolveCluster({ provider: "local" }, "/x");
  const t = { node: "node1", root: "/r/node1", slowness: 1, serviceManager: "supervisor" } as unknown as Transport;
  const def = notebookService(t, c.nodes[0]!, 8888, {
    prefix: "/r/node1/notebook/current",
    site: "/r/node1/notebook/current/lib/python3.11/site-packages",
  });

  it("binds to node 1's private IP (never 0.0.0.0), runs on the runtime's Python with only the cluster's kernel, and keeps the token out of its command line and environment", () => {
    expect(def.argv.slice(0, 3)).toEqual(["/r/node1/venv/bin/python", "-m", "jupyterlab"]);
    expect(def.argv).toContain("--ServerApp.ip=192.168.56.11");
    expect(def.argv).toContain("--ServerApp.port=8888");
    expect(def.argv.join(" ")).not.toMatch(/0\.0\.0\.0|token/i);
    expect(Object.keys(def.env).join(" ")).not.toMatch(/TOKEN/);
    expect(def.env.JUPYTER_CONFIG_DIR).toBe("/r/node1/notebook/config");
    expect(def.argv).toContain("--KernelSpecManager.ensure_native_kernel=False");
    expect(def.argv).toContain("--MappingKernelManager.default_kernel_name=dask-cluster");
    expect(def.env.PYTHONPATH).toBe("/r/node1/notebook/current/lib/python3.11/site-packages");
    expect(def.env.DASK_CONFIG).toBe("/r/node1/etc/client");
    expect(def.cwd).toBe("/r/node1/notebooks");
  });

  it("keeps one token per checkout, readable by its owner only", () => {
    const dir = path.join(scratch, "cluster");
    const a = notebookToken(dir);
    expect(a).toMatch(/^[0-9a-f]{48}$/);
    expect(notebookToken(dir)).toBe(a);
    if (process.platform === "win32")
      console.log(
        `user-work: the notebook token's mode 600 not checked: Windows has no such mode, on ${process.platform}`,
      );
    else expect((statSync(path.join(dir, "client", "notebook-token")).mode & 0o777).toString(8)).toBe("600");
  });
});
