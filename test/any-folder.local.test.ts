// Deploys from checkouts as students have them (issue 24), each a real `git clone` of this
// repository's HEAD reached through a symlink: one in a folder whose name holds `$` and a
// backtick, where the venv's `dask` console script (pip's sh trampoline) once expanded
// them and the scheduler never started; one whose text files have CRLF line endings, as
// Git for Windows checks them out, where install.sh once stopped on `pipefail\r`. And a
// scheduler that dies as it starts, reported at once with its log instead of after the
// wait. One node, no benchmark: the smallest deploy that runs every stage up to a worker
// registered with its scheduler. Needs root (namespaces).
import { execFileSync } from "node:child_process";
import {
  existsSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
  mkdtempSync,
  realpathSync,
  mkdirSync,
} from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { $, type ProcessOutput } from "zx";
import { bundleIdOf, runtimeRef } from "../provision/runtime/bundle.js";
import { resolveCluster } from "../provision/config/resolve.js";
import { UserError } from "../provision/core/errors.js";
import { realHost } from "../provision/host/host.js";
import { waitForWorkers } from "../provision/services/probe.js";
import { LocalProvider } from "../provision/machines/local/provider.js";
import { dashboardUrl, schedulerAddress, schedulerService, startService } from "../provision/services/definitions.js";
import { clusterRefOf } from "../provision/core/stage-spec.js";
import { checkOutWithCrlf } from "./helpers/crlf.js";
import { REPO, tail } from "./helpers/project.js";
import { expectNothingLeft, residue, type Residue } from "./helpers/residue.js";
import { rootOrSkip } from "./helpers/root.js";
import { cdktfEnv } from "./helpers/terraform.js";
import { writeTestOutput } from "./helpers/test-output.js";
import type { Cluster } from "../provision/core/model.js";

const isRoot = rootOrSkip("any-folder.local", "the local provider needs root to create network namespaces");

const CONFIG = { provider: "local", nodes: { count: 1, cpus: 1, memoryMb: 1536 }, benchmark: { onDeploy: false } };

interface Clone {
  readonly top: string;
  readonly dir: string;
  readonly link: string;
  readonly cluster: Cluster;
  deploy(verb: "deploy" | "destroy"): Promise<{ out: ProcessOutput; seconds: number }>;
}

/**
 * A clone of HEAD at <tmp>/<folder>/checkout, made as Git for Windows makes it
 * (core.autocrlf=true), and a symlink to it. crlf: its text files checked out with CRLF,
 * as every clone was before .gitattributes said eol=lf (.git/info/attributes outranks it).
 */
async function cloneAt(folder: string, crlf: boolean): Promise<Clone> {
  const top = realpathSync(mkdtempSync(path.join(os.tmpdir(), "dvc-folder-")));
  const dir = path.join(top, folder, "checkout");
  mkdirSync(path.dirname(dir), { recursive: true });
  await $({ quiet: true })`git -c core.autocrlf=true clone -q ${REPO} ${dir}`;
  if (crlf) await checkOutWithCrlf(dir);
  symlinkSync(path.join(REPO, "node_modules"), path.join(dir, "node_modules"));
  writeFileSync(path.join(dir, "cluster.config.json"), JSON.stringify(CONFIG, null, 2));
  const link = path.join(top, "lien");
  symlinkSync(dir, link);
  return {
    top,
    dir,
    link,
    cluster: resolveCluster(CONFIG, dir),
    async deploy(verb) {
      const t0 = performance.now();
      const out = await $({
        cwd: link,
        nothrow: true,
        quiet: true,
        env: cdktfEnv(),
        timeout: 900_000,
      })`node_modules/.bin/cdktf ${verb} --auto-approve`;
      return { out, seconds: (performance.now() - t0) / 1000 };
    },
  };
}

const timings: Record<string, number> = {};

function registeredLine(c: Cluster): string {
  const n = c.nodes[0]!;
  return `[${n.name}] registered with the scheduler as tls://${n.ip}:8788`;
}

async function cleanUp(c: Clone | undefined): Promise<void> {
  if (!c) return;
  if (existsSync(path.join(c.dir, ".cluster", "terraform.tfstate"))) await c.deploy("destroy");
  rmSync(c.top, { recursive: true, force: true });
}

describe.runIf(isRoot)("a deploy from a folder named `TP $HOME `id``", () => {
  let c: Clone;
  let before: Residue;
  let deployed: { out: ProcessOutput; seconds: number };

  beforeAll(async () => {
    c = await cloneAt("TP $HOME `id`", false);
    before = await residue(c.dir, c.cluster.id, [c.cluster.nodes[0]!.ip]);
    deployed = await c.deploy("deploy");
    timings.dollarFolderDeploy = deployed.seconds;
  });
  afterAll(() => cleanUp(c));

  it("a clone made with core.autocrlf=true has LF line endings (.gitattributes)", () => {
    expect(readFileSync(path.join(c.dir, "cluster-runtime", "install.sh"), "latin1")).not.toContain("\r");
  });

  it("starts the scheduler and registers the worker", () => {
    expect(deployed.out.exitCode, tail(deployed.out)).toBe(0);
    expect(`${deployed.out.stdout}${deployed.out.stderr}`).toContain(registeredLine(c.cluster));
  });

  it("there, the venv's `dask` console script is pip's sh trampoline (which the services no longer run)", () => {
    const script = readFileSync(path.join(c.dir, ".cluster", "nodes", "node1", "venv", "bin", "dask"), "utf8");
    expect(script.split("\n")[0]).toBe("#!/bin/sh");
  });

  it("a scheduler that dies as it starts (an option it does not know) is reported at once, with its log's last lines", async () => {
    const ref = clusterRefOf(c.cluster);
    const t = new LocalProvider(realHost()).transport(ref, ref.head);
    const dask = c.cluster.config.dask;
    const good = schedulerService(ref.head, dask, t.root);
    await startService(t, "scheduler", { ...good, argv: [...good.argv, "--no-such-option"] });
    const t0 = performance.now();
    const err = await waitForWorkers(
      t,
      schedulerAddress(ref.head, dask),
      dask.tls,
      [],
      90,
      dashboardUrl(ref.head, dask),
      { t, name: "scheduler" },
    ).catch((e: unknown) => e);
    timings.deathReportedAfter = (performance.now() - t0) / 1000;
    expect(err).toBeInstanceOf(UserError);
    const text = (err as UserError).render();
    expect(text).toContain("the scheduler on node1 stopped as it started: it ended with exit code 2");
    // dask scheduler takes an unknown option for its preload's (click) arguments.
    expect(text).toMatch(/\n\s+\| Error: Unknown argument specified/);
    // Without the watch, the same wait gave up after 90 s + 30 s of probe start-up.
    expect(timings.deathReportedAfter).toBeLessThan(60);
    await startService(t, "scheduler", good);
  });

  it("destroy leaves nothing", async () => {
    const d = await c.deploy("destroy");
    expect(d.out.exitCode, tail(d.out)).toBe(0);
    expectNothingLeft(await residue(c.dir, c.cluster.id, [c.cluster.nodes[0]!.ip]), before);
  });
});

describe.runIf(isRoot)("a deploy from a clone with CRLF line endings (Git for Windows before .gitattributes)", () => {
  let c: Clone;
  let before: Residue;
  let deployed: { out: ProcessOutput; seconds: number };

  beforeAll(async () => {
    c = await cloneAt("crlf clone", true);
    before = await residue(c.dir, c.cluster.id, [c.cluster.nodes[0]!.ip]);
    deployed = await c.deploy("deploy");
    timings.crlfDeploy = deployed.seconds;
  });
  afterAll(async () => {
    await cleanUp(c);
    writeTestOutput("any-folder-local-timings.json", timings);
    console.log("any-folder.local timings (s):", JSON.stringify(timings));
  });

  it("really holds CRLF text", () => {
    expect(readFileSync(path.join(c.dir, "cluster-runtime", "install.sh"), "latin1")).toContain(
      "set -euo pipefail\r\n",
    );
  });

  it("installs the runtime with the same bundle id as an LF checkout, starts the scheduler and registers the worker", () => {
    expect(deployed.out.exitCode, tail(deployed.out)).toBe(0);
    const out = `${deployed.out.stdout}${deployed.out.stderr}`;
    expect(out).toContain(registeredLine(c.cluster));
    // The same commit checked out with LF, beside it.
    const lf = path.join(c.top, "lf");
    execFileSync("git", ["clone", "-q", c.dir, lf]);
    const lfId = bundleIdOf(runtimeRef(lf, "3.11", "x86_64"));
    expect(bundleIdOf(runtimeRef(c.dir, "3.11", "x86_64"))).toBe(lfId);
    expect(out).toContain(`bundle ${lfId}`);
  });

  it("destroy leaves nothing", async () => {
    const d = await c.deploy("destroy");
    expect(d.out.exitCode, tail(d.out)).toBe(0);
    expectNothingLeft(await residue(c.dir, c.cluster.id, [c.cluster.nodes[0]!.ip]), before);
  });
});
