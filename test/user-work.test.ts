// Your own work on the cluster, the parts that need no cluster: the packages lock's
// bookkeeping and uv's refusals turned into messages, folders packed for a node (ignore
// file, size limit, sizes people read), the connection profile, and JupyterLab's service
// definition (bound to the node's IP, the token never on the command line). The real
// thing runs in test/user-work.local.test.ts and test/packages.integration.test.ts.
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
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
import { copyProgress, formatBytes, listFolder, packFolder, parseSize } from "../provision/services/workspace.js";
import { makeCheckout } from "./helpers/project.js";
import type { Transport } from "../provision/machines/transport.js";

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
