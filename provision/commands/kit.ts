// `npm run kit -- build DIR`: a classroom kit (runtime/kit.ts has its layout and its use):
// the repository as a git bundle, the class's config pinned, and what a deploy of that
// config fetches for each platform the teacher names: runtime bundles and JupyterLab's
// (per nodes' architecture), hashicorp/null (cross-built with Go per OS and architecture),
// the uv wheel, npm's cache (npm install --os/--cpu per platform), Vagrant boxes. Each step
// says what it does; kit.json, the manifest, is written last, so a build that stops leaves
// no kit that looks whole. `check DIR` verifies every item and names the tools each
// platform still needs; `use DIR` copies the kit's config into the checkout and records the
// kit, so the next `cdktf deploy` takes everything from it.
import { execFileSync } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import os from "node:os";
import path from "node:path";
import { resolveCluster } from "../config/resolve.js";
import { parseCli } from "../core/cli-args.js";
import { badInput, UserError, type Problem } from "../core/errors.js";
import { consoleLog, step } from "../core/log.js";
import type { Cluster } from "../core/model.js";
import type { RuntimeRef } from "../core/stage-spec.js";
import { realHost, type Host } from "../host/host.js";
import { installersFor } from "../host/installers.js";
import { esbuildPackage, fillNpmCache, npmInstallFor } from "../host/npm-cache.js";
import { cacheDir, forUser, PROJECT_DIR } from "../host/paths.js";
import { buildNullProvider, packageHashV1, lockFileText, terraformPlatform } from "../host/toolchain.js";
import { CAPABILITIES } from "../machines/registry.js";
import {
  boxFileProvider,
  vagrantBoxDir,
  vagrantBoxInStore,
  vagrantEscapedBoxName,
} from "../machines/vagrant/provider.js";
import { buildBundle } from "../runtime/bundle.js";
import {
  copyInto,
  formatBytes,
  hashPath,
  hostOf,
  KIT_FILE,
  KIT_FORMAT,
  KIT_PLATFORMS,
  kitPath,
  kitUseFile,
  parsePlatforms,
  providerFileName,
  readKit,
  takeFromKit,
  verifyItems,
  type KitItem,
  type KitManifest,
  type KitPlatform,
} from "../runtime/kit.js";
import { ensureRuntime, packagesLockFile } from "../runtime/packages.js";
import { fetchUvWheel } from "../runtime/uv.js";
import { buildNotebookBundle } from "../services/notebook.js";

const USAGE = `usage: npm run kit -- build DIR [--platforms LIST] [--config CLASS.json] [--box FILE]...
       npm run kit -- check DIR [--npm]
       npm run kit -- use DIR | --off
build   a classroom kit in DIR (a USB drive): the repository (repo.bundle), the class's config
        pinned (class/cluster.config.json), and what a deploy of it fetches, for each platform:
        runtime bundles and JupyterLab's, hashicorp/null, the uv wheel, npm's cache, Vagrant
        boxes (from this computer's box store, or --box FILE). kit.json lists every item with
        its sha256 and size. DIR must be new, empty, or an earlier kit (rebuilt in place).
  --platforms LIST   the students' computers, comma-separated: ${KIT_PLATFORMS.join(", ")},
                     or all (default: this computer's)
  --config FILE      the class's cluster config (sizes, Python, packages); default: the defaults,
                     with the node memory of an 8 GB laptop
  --box FILE         a .box file for the config's VM provider (repeatable)
check   verifies every item of the kit against kit.json; names the tools (Node, Terraform,
        Vagrant, VirtualBox) each platform still needs in DIR/tools/
  --npm              also install the kit's repository offline from its npm cache, once per
                     platform (npm --os/--cpu, in a scratch folder): about 15 s each
use     for this checkout: copies the kit's config to cluster.config.json and records the kit,
        so cdktf deploy takes everything from it (DVC_KIT=DIR does the same for one command);
        --off forgets it
exit: 0 done (check: the kit is whole); 1 a step failed, or check found a damaged item; 2 bad input`;

/** Nodes' memory pinned when the class config does not say: what an 8 GB laptop (7.7 GiB seen) gets. */
const SMALLEST_LAPTOP_BYTES = 7.7 * 1024 ** 3;

function git(args: readonly string[], cwd = PROJECT_DIR): string {
  return execFileSync("git", args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();
}

function readJsonFile(file: string): Record<string, unknown> {
  if (!existsSync(file))
    throw badInput(`no class config at ${file}`, [
      { path: "--config", message: "no such file", fix: "give the class's cluster.config.json" },
    ]);
  try {
    const v = JSON.parse(readFileSync(file, "utf8")) as unknown;
    if (typeof v === "object" && v && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch (err) {
    throw badInput(`${file} is not valid JSON`, [{ path: file, message: (err as Error).message }]);
  }
  throw badInput(`${file} is not a config`, [{ path: "/", message: "must be a JSON object" }]);
}

/** The class config as the kit pins it: the sizes and Python said, not left to each laptop. */
function pinConfig(raw: Record<string, unknown>): Record<string, unknown> {
  const seen = resolveCluster(raw, PROJECT_DIR, {
    host: { platform: process.platform, arch: process.arch, totalMemBytes: SMALLEST_LAPTOP_BYTES },
  });
  const runtime = { ...(raw.runtime as Record<string, unknown> | undefined), python: seen.config.runtime.python };
  const pinned: Record<string, unknown> = { ...raw, provider: seen.config.provider, runtime };
  if (raw.nodes === undefined || (typeof raw.nodes === "object" && raw.nodes !== null && !Array.isArray(raw.nodes))) {
    const nodes = { ...(raw.nodes as Record<string, unknown> | undefined) };
    const resolved = seen.config.nodes as unknown as Record<string, unknown>;
    for (const k of ["count", "cpus", "memoryMb"]) if (nodes[k] === undefined) nodes[k] = resolved[k];
    pinned.nodes = nodes;
  }
  return pinned;
}

interface BuildPlan {
  readonly dir: string;
  readonly platforms: readonly KitPlatform[];
  readonly config: Record<string, unknown>;
  readonly boxFiles: readonly string[];
  /** Each platform's cluster (the config as that computer resolves it). */
  readonly clusters: ReadonlyMap<KitPlatform, Cluster>;
  readonly commit: string;
  readonly describe: string;
  readonly branch: string | undefined;
  readonly existed: boolean;
}

/** Everything checked before anything is written: exit 2 leaves DIR as it was. */
function planBuild(
  dir: string,
  platforms: readonly KitPlatform[],
  configFile: string | undefined,
  boxFiles: readonly string[],
): BuildPlan {
  const existed = existsSync(dir);
  if (existed && readdirSync(dir).length && !existsSync(path.join(dir, KIT_FILE)))
    throw badInput(`${dir} is neither empty nor a kit`, [
      {
        path: "DIR",
        message: `it holds ${readdirSync(dir).slice(0, 3).join(", ")}${readdirSync(dir).length > 3 ? ", ..." : ""}`,
        fix: "give a new or empty folder (a kit is rebuilt in place only where kit.json says one is)",
      },
    ]);
  let commit: string;
  let dirty: string;
  try {
    commit = git(["rev-parse", "HEAD"]);
    dirty = git(["status", "--porcelain", "--untracked-files=no"]);
  } catch (err) {
    throw badInput("the kit's repository is this checkout's git history, and git cannot read it", [
      {
        path: PROJECT_DIR,
        message: (err as Error).message.split("\n")[0]!,
        fix: "run it in a git clone, with git on PATH",
      },
    ]);
  }
  if (dirty)
    throw badInput("this checkout has changes not committed", [
      {
        path: PROJECT_DIR,
        message: dirty.split("\n").slice(0, 5).join("; "),
        fix: "commit them (or git stash): the kit's bundles must be built from the very files its repo.bundle holds",
      },
    ]);
  for (const f of boxFiles)
    if (!existsSync(f))
      throw badInput(`no box at ${f}`, [{ path: "--box", message: "no such file", fix: "give a .box file" }]);
  const config = pinConfig(configFile ? readJsonFile(configFile) : {});
  const file = path.join(dir, "class", "cluster.config.json");
  const clusters = new Map<KitPlatform, Cluster>();
  for (const p of platforms)
    clusters.set(
      p,
      resolveCluster(config, PROJECT_DIR, {
        host: { ...hostOf(p), totalMemBytes: SMALLEST_LAPTOP_BYTES },
        configFile: file,
      }),
    );
  const elsewhere = [...clusters].filter(([p, c]) => {
    const runsOn = CAPABILITIES[c.config.provider].hostPlatforms;
    return runsOn && !runsOn.includes(hostOf(p).platform);
  });
  if (elsewhere.length)
    throw badInput(
      `provider ${elsewhere[0]![1].config.provider} does not run on ${elsewhere.map(([p]) => p).join(", ")}`,
      [
        {
          path: "--platforms",
          message: `provider ${elsewhere[0]![1].config.provider} runs on ${CAPABILITIES[elsewhere[0]![1].config.provider].hostPlatforms!.join(", ")} only`,
          fix: "leave those computers out of --platforms, or give a class config with provider virtualbox (or ssh)",
        },
      ],
    );
  const vmProviders = new Set<string>(
    [...clusters.values()].map((c) => c.config.provider).filter((p) => p === "virtualbox" || p === "libvirt"),
  );
  for (const f of boxFiles) {
    const provider = boxFileProvider(f);
    if (!provider || !vmProviders.has(provider))
      throw badInput(`--box ${f} is of no use to this class`, [
        {
          path: "--box",
          message: provider
            ? `a ${provider} box, and the class config's nodes are ${vmProviders.size ? [...vmProviders].join(", ") : `not VMs (provider ${[...clusters.values()][0]!.config.provider})`}`
            : "not a Vagrant box: no metadata.json naming its provider",
          fix: "give the .box file of the config's VM provider (vagrant box add takes the same files)",
        },
      ]);
  }
  const arches = new Set([...clusters.values()].map((c) => c.config.runtime.platform));
  if ((config.runtime as { packages?: unknown[] }).packages?.length && arches.size > 1)
    throw badInput("runtime.packages are locked for one architecture, and these platforms' nodes have two", [
      {
        path: "/runtime/packages",
        message: `${[...clusters].map(([p, c]) => `${p}: ${c.config.runtime.platform}`).join(", ")}`,
        fix: "build one kit per architecture (--platforms), or set runtime.platform in the class config",
      },
    ]);
  let branch: string | undefined;
  try {
    branch = git(["symbolic-ref", "--quiet", "--short", "HEAD"]);
  } catch {
    branch = undefined;
  }
  return {
    dir,
    platforms,
    config,
    boxFiles,
    clusters,
    commit,
    describe: `${commit.slice(0, 12)} (${git(["log", "-1", "--format=%cs"])})`,
    branch,
    existed,
  };
}

/** Set by Ctrl-C during a build: the next step does not start. */
const interrupted = { now: false };

class Progress {
  private n = 0;
  constructor(private readonly total: number) {}
  step(what: string): void {
    if (interrupted.now) throw new Error("interrupted");
    this.n += 1;
    step("kit", `[${this.n}/${this.total}] ${what}`);
  }
}

function item(dir: string, rel: string, fields: Omit<KitItem, "path" | "sha256" | "bytes" | "files">): KitItem {
  const h = hashPath(path.join(dir, ...rel.split("/")));
  return { path: rel, ...h, ...fields };
}

async function build(plan: BuildPlan, host: Host): Promise<number> {
  const t0 = performance.now();
  const { dir } = plan;
  const arches = [...new Map([...plan.clusters.values()].map((c) => [c.config.runtime.platform, c])).values()];
  const vm = [...plan.clusters.entries()].filter(
    ([, c]) => c.config.provider === "virtualbox" || c.config.provider === "libvirt",
  );
  const progress = new Progress(2 + arches.length * 2 + plan.platforms.length * 3 + (vm.length ? 1 : 0));
  mkdirSync(dir, { recursive: true });
  rmSync(path.join(dir, KIT_FILE), { force: true });
  const items: KitItem[] = [];
  const missing: string[] = [];
  const cache = cacheDir(host.env);

  progress.step(`the repository at ${plan.describe} into repo.bundle`);
  rmSync(path.join(dir, "repo.bundle"), { force: true });
  git(["bundle", "create", path.join(dir, "repo.bundle"), "HEAD", ...(plan.branch ? [plan.branch] : [])]);
  items.push(item(dir, "repo.bundle", { kind: "repo", what: `the repository (${plan.describe})` }));

  progress.step("the class's config, pinned, into class/");
  const configFile = path.join(dir, "class", "cluster.config.json");
  mkdirSync(path.dirname(configFile), { recursive: true });
  writeFileSync(configFile, `${JSON.stringify(plan.config, null, 2)}\n`);
  items.push(item(dir, "class/cluster.config.json", { kind: "config", what: "the class's cluster config" }));

  const log = { ...consoleLog, step: (scope: string, m: string) => step(scope, `      ${m}`) };
  for (const cluster of arches) {
    const arch = cluster.config.runtime.platform;
    progress.step(`the runtime bundle for ${arch} nodes (Python ${cluster.config.runtime.python})`);
    const runtime: RuntimeRef = await ensureRuntime(cluster, host, log);
    if (runtime.packages?.length) {
      const lock = packagesLockFile(configFile);
      items.push(item(dir, "class/cluster.config.lock", { kind: "config", what: "the class's runtime.packages lock" }));
      step("kit", `      runtime.packages locked into ${path.relative(dir, lock)}`);
    }
    const b = await buildBundle(runtime, {
      projectDir: PROJECT_DIR,
      cacheDir: cache,
      env: host.env,
      onProgress: (m) => step("kit", `      ${m}`),
    });
    const rel = `runtime/${path.basename(b.tarPath)}`;
    copyInto(b.tarPath, kitPath(dir, { path: rel }));
    items.push(
      item(dir, rel, {
        kind: "bundle",
        key: b.bundleId,
        platform: arch,
        what: `runtime bundle ${b.bundleId} (${arch}, Python ${runtime.python})`,
      }),
    );
    progress.step(`JupyterLab's bundle for ${arch} nodes`);
    try {
      const nb = await buildNotebookBundle(PROJECT_DIR, runtime, { cacheDir: cache, env: host.env, log });
      const nrel = `runtime/${path.basename(nb.tarPath)}`;
      copyInto(nb.tarPath, kitPath(dir, { path: nrel }));
      items.push(
        item(dir, nrel, { kind: "notebook", key: nb.bundleId, platform: arch, what: `JupyterLab's bundle (${arch})` }),
      );
    } catch (err) {
      if (!(err instanceof UserError)) throw err;
      missing.push(`JupyterLab's bundle for ${arch}: ${err.message}`);
      step("kit", `      not in the kit: ${err.message}`);
    }
  }

  const hashes: string[] = [];
  for (const p of plan.platforms) {
    const target: Host = { ...host, ...hostOf(p) };
    const tf = terraformPlatform(target);
    progress.step(`hashicorp/null for ${p} (${tf})`);
    const binary = await buildNullProvider(target, log);
    const rel = `providers/${tf}/${providerFileName(tf)}`;
    copyInto(binary, kitPath(dir, { path: rel }));
    const h1 = packageHashV1([{ name: providerFileName(tf), data: readFileSync(binary) }]);
    hashes.push(h1);
    items.push(item(dir, rel, { kind: "provider", platform: tf, h1, what: `hashicorp/null (${tf})` }));

    progress.step(`the uv wheel for ${p}`);
    const uvDir = path.join(dir, "uv");
    mkdirSync(uvDir, { recursive: true });
    const wheel = await fetchUvWheel(target, uvDir);
    items.push(item(dir, `uv/${path.basename(wheel)}`, { kind: "uv", platform: p, what: `uv (${p})` }));
  }
  writeFileSync(path.join(dir, "providers", ".terraform.lock.hcl"), lockFileText(hashes));
  items.push(
    item(dir, "providers/.terraform.lock.hcl", { kind: "lock", what: "the provider lock, every platform's hash" }),
  );

  const npmDir = path.join(dir, "npm");
  await fillNpmCache(
    host,
    PROJECT_DIR,
    plan.platforms.map((p) => ({ name: p, ...hostOf(p) })),
    npmDir,
    {
      before: (t) =>
        progress.step(`npm's packages for ${t.name} into npm/ (npm install --os ${t.platform} --cpu ${t.arch})`),
      after: (name, seconds) => step("kit", `      ${name}: ${seconds.toFixed(0)} s`),
    },
  );
  items.push(item(dir, "npm", { kind: "npm", what: `npm's cache (${plan.platforms.join(", ")})` }));

  if (vm.length) {
    progress.step("Vagrant boxes");
    const wanted = new Map<string, { name: string; provider: string; platforms: KitPlatform[] }>();
    for (const [p, c] of vm) {
      const key = `${c.config.box.name}\0${c.config.provider}`;
      const w = wanted.get(key) ?? { name: c.config.box.name, provider: c.config.provider, platforms: [] };
      w.platforms.push(p);
      wanted.set(key, w);
    }
    const given = plan.boxFiles.map((f) => ({ file: f, provider: boxFileProvider(f) }));
    for (const w of wanted.values()) {
      const safe = `${vagrantEscapedBoxName(w.name)}-${w.provider}.box`;
      const rel = `boxes/${safe}`;
      const dest = kitPath(dir, { path: rel });
      mkdirSync(path.dirname(dest), { recursive: true });
      const file = given.find((g) => g.provider === w.provider)?.file;
      const store = file ? undefined : vagrantBoxInStore(host, w.name, w.provider);
      if (file) copyInto(file, dest);
      else if (store) {
        const r = await host.run(["tar", "-cf", `${dest}.tmp`, "-C", store.dir, "."], { timeoutMs: 1_800_000 });
        if (r.exitCode !== 0)
          throw new UserError(`packing box ${w.name} from the box store failed`, 1, [
            { path: store.dir, message: r.stderr.trim() },
          ]);
        renameSync(`${dest}.tmp`, dest);
      } else {
        missing.push(
          `box ${w.name} for ${w.provider} (${w.platforms.join(", ")}): not in this computer's Vagrant box store (${vagrantBoxDir(host, w.name)}); give it with --box FILE`,
        );
        continue;
      }
      items.push(
        item(dir, rel, {
          kind: "box",
          key: w.name,
          provider: w.provider,
          what: `box ${w.name} (${w.provider}${store ? ` ${store.version}, from the box store` : ", from --box"})`,
        }),
      );
    }
  }

  mkdirSync(path.join(dir, "tools"), { recursive: true });
  writeFileSync(path.join(dir, "tools", "README.txt"), toolsReadme(plan));
  writeFileSync(path.join(dir, "README.txt"), kitReadme(plan));
  const manifest: KitManifest = {
    format: KIT_FORMAT,
    created: new Date().toISOString(),
    commit: plan.commit,
    describe: plan.describe,
    platforms: plan.platforms,
    config: "class/cluster.config.json",
    buildSeconds: Math.round((performance.now() - t0) / 100) / 10,
    items,
    missing,
  };
  writeFileSync(path.join(dir, `${KIT_FILE}.tmp`), `${JSON.stringify(manifest, null, 2)}\n`);
  renameSync(path.join(dir, `${KIT_FILE}.tmp`), path.join(dir, KIT_FILE));
  printSummary(dir, manifest);
  for (const m of missing) host.warn(`not in the kit: ${m}`);
  console.log(
    `next: npm run kit -- check ${JSON.stringify(forUser(dir))}; the students' steps are in ${forUser(path.join(dir, "README.txt"))}`,
  );
  return 0;
}

function printSummary(dir: string, m: KitManifest): void {
  const byKind = new Map<string, { n: number; bytes: number }>();
  for (const i of m.items) {
    const k = byKind.get(i.kind) ?? { n: 0, bytes: 0 };
    k.n += 1;
    k.bytes += i.bytes;
    byKind.set(i.kind, k);
  }
  const total = m.items.reduce((s, i) => s + i.bytes, 0);
  console.log(
    `kit ${forUser(dir)}: ${m.items.length} items, ${formatBytes(total)}, built in ${m.buildSeconds} s, for ${m.platforms.join(", ")}`,
  );
  for (const [k, v] of byKind)
    console.log(`  ${k.padEnd(9)} ${String(v.n).padStart(3)}  ${formatBytes(v.bytes).padStart(9)}`);
}

function toolsReadme(plan: BuildPlan): string {
  const lines = ["The installers students need before the kit (npm run kit -- check names those missing):", ""];
  for (const [p, c] of plan.clusters)
    lines.push(
      `${p}: ${installersFor(hostOf(p).platform, hostOf(p).arch, c.config.provider)
        .map((t) => `${t.tool} (e.g. ${t.example})`)
        .join(", ")}`,
    );
  return `${lines.join("\n")}\n`;
}

function kitReadme(plan: BuildPlan): string {
  return `A dask-vm-cluster classroom kit (${plan.describe}), for ${plan.platforms.join(", ")}.

On each student's computer, with the kit at KIT (this folder):
  1. install the tools in KIT/tools (Node.js, Terraform or OpenTofu${[...plan.clusters.values()].some((c) => c.config.provider === "virtualbox") ? ", Vagrant, VirtualBox" : ""})
  2. git clone KIT/repo.bundle dask-vm-cluster
  3. cd dask-vm-cluster
     npm install --offline --cache KIT/npm          (PowerShell: npm.cmd install --offline --cache KIT\\npm)
  4. npm run kit -- use KIT                        (copies the class's config, records the kit)
  5. npx cdktf deploy                              (takes everything from the kit, fetches nothing)
  6. npm run verify-versions
Check the kit first: npm run kit -- check KIT
`;
}

/**
 * Installs the kit's repository offline from its npm cache for each platform (npm --os/--cpu),
 * in a scratch clone: what each student's `npm install --offline` needs is there, or the
 * problems say which platform lacks what.
 */
async function checkNpm(dir: string, m: KitManifest, host: Host): Promise<Problem[]> {
  const problems: Problem[] = [];
  const scratch = mkdtempSync(path.join(os.tmpdir(), "dvc-kit-check-"));
  try {
    for (const p of m.platforms) {
      const work = path.join(scratch, p);
      git(["clone", "-q", path.join(dir, "repo.bundle"), work], scratch);
      const { r, filled, seconds } = await npmInstallFor(host, hostOf(p), work, path.join(dir, "npm"), true);
      const ok = r.exitCode === 0 && filled;
      step(
        "kit",
        `  npm install --offline for ${p}: ${ok ? "every package from the kit" : "FAILED"} (${seconds.toFixed(0)} s)`,
      );
      if (!ok)
        problems.push({
          path: "npm",
          message: `an offline install for ${p} fails: ${(r.stderr || r.stdout).trim().split("\n").slice(-2).join(" ") || `no ${esbuildPackage(hostOf(p))}`}`,
          fix: `rebuild the kit with ${p} in --platforms`,
        });
      rmSync(work, { recursive: true, force: true });
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  return problems;
}

async function check(dir: string, host: Host, npm: boolean): Promise<number> {
  const m = readKit(dir);
  const total = m.items.reduce((s, i) => s + i.bytes, 0);
  step("kit", `checking ${m.items.length} items (${formatBytes(total)}) against ${KIT_FILE}`);
  const t0 = performance.now();
  const problems = verifyItems(dir, m.items, (it, i) =>
    step("kit", `  [${i + 1}/${m.items.length}] ${it.what} (${formatBytes(it.bytes)})`),
  );
  const config = JSON.parse(readFileSync(path.join(dir, m.config), "utf8")) as Record<string, unknown>;
  const toolFiles = host.listDir(path.join(dir, "tools"));
  const toolsMissing: string[] = [];
  for (const p of m.platforms) {
    const c = resolveCluster(config, PROJECT_DIR, { host: { ...hostOf(p), totalMemBytes: SMALLEST_LAPTOP_BYTES } });
    const lack = installersFor(hostOf(p).platform, hostOf(p).arch, c.config.provider).filter(
      (t) => !toolFiles.some((f) => t.pattern.test(f)),
    );
    if (lack.length) toolsMissing.push(`${p}: ${lack.map((t) => `${t.tool} (e.g. ${t.example})`).join(", ")}`);
  }
  if (npm && !problems.length) problems.push(...(await checkNpm(dir, m, host)));
  const seconds = ((performance.now() - t0) / 1000).toFixed(1);
  if (problems.length)
    throw new UserError(`the kit at ${dir} is damaged: ${problems.length} of ${m.items.length} items`, 1, problems);
  console.log(
    `kit ${forUser(dir)}: all ${m.items.length} items whole${npm ? ", npm's cache installs offline for each platform" : ""} (${formatBytes(total)}, checked in ${seconds} s), ${m.describe}, for ${m.platforms.join(", ")}`,
  );
  for (const x of m.missing) console.log(`  not in the kit: ${x}`);
  if (toolsMissing.length) {
    console.log(`  tools for students still to add to ${forUser(path.join(dir, "tools"))}:`);
    for (const t of toolsMissing) console.log(`    ${t}`);
  } else console.log("  tools: every platform's installers are in tools/");
  return 0;
}

async function use(dir: string, host: Host): Promise<number> {
  const m = readKit(dir);
  const problems = verifyItems(
    dir,
    m.items.filter((i) => i.kind === "config"),
  );
  if (problems.length) throw new UserError(`the kit at ${dir} is damaged`, 1, problems);
  const configIn = path.join(dir, m.config);
  const target = path.join(PROJECT_DIR, "cluster.config.json");
  const text = readFileSync(configIn, "utf8");
  const lockIn = packagesLockFile(configIn);
  const lockTarget = packagesLockFile(target);
  const conflicts: Problem[] = [];
  if (existsSync(target) && readFileSync(target, "utf8").replace(/\r\n/g, "\n") !== text)
    conflicts.push({
      path: target,
      message: "this checkout has its own cluster.config.json, not the kit's",
      fix: `move it aside (the class config is ${configIn}), then run this again`,
    });
  if (existsSync(lockIn) && existsSync(lockTarget) && readFileSync(lockTarget, "utf8") !== readFileSync(lockIn, "utf8"))
    conflicts.push({
      path: lockTarget,
      message: "not the kit's packages lock",
      fix: "move it aside, then run this again",
    });
  if (conflicts.length) throw badInput("the kit's config would replace this checkout's", conflicts);
  let head: string | undefined;
  try {
    head = git(["rev-parse", "HEAD"]);
  } catch {
    head = undefined;
  }
  if (head && head !== m.commit)
    host.warn(
      `this checkout is at ${head.slice(0, 12)}, the kit was built from ${m.describe}: its runtime bundle fits that commit (git clone ${path.join(dir, "repo.bundle")})`,
    );
  writeFileSync(target, text);
  if (existsSync(lockIn)) copyFileSync(lockIn, lockTarget);
  // Take from it now: a damaged or unfitting kit shows here, not halfway through a deploy.
  const cluster = resolveCluster(JSON.parse(text), PROJECT_DIR, { host, configFile: target });
  const runtime = await ensureRuntime(cluster, host, consoleLog);
  await takeFromKit(dir, { cluster, runtime, host, log: consoleLog });
  mkdirSync(path.dirname(kitUseFile(PROJECT_DIR)), { recursive: true });
  writeFileSync(kitUseFile(PROJECT_DIR), `${JSON.stringify({ dir, commit: m.commit }, null, 2)}\n`);
  console.log(
    `this checkout now deploys from the kit at ${forUser(dir)} (class config in cluster.config.json): npx cdktf deploy`,
  );
  return 0;
}

export async function cli(argv: readonly string[], cwd = process.env.INIT_CWD ?? process.cwd()): Promise<number> {
  const parsed = parseCli(
    argv,
    USAGE,
    {
      platforms: { type: "string" },
      config: { type: "string" },
      box: { type: "string", multiple: true, default: [] },
      off: { type: "boolean", default: false },
      npm: { type: "boolean", default: false },
    },
    { positionals: true },
  );
  if (!parsed) return 0;
  const [verb, dirArg, ...extra] = parsed.positionals;
  const v = parsed.values;
  const at = (p: string) => path.resolve(cwd, p);
  const host = realHost();
  if (verb === "build" && dirArg && !extra.length) {
    const here = `${process.platform}-${process.arch}`;
    const platforms = parsePlatforms(v.platforms ?? here);
    const plan = planBuild(at(dirArg), platforms, v.config ? at(v.config) : undefined, (v.box ?? []).map(at));
    // A build that fails or is interrupted leaves no half kit in a folder it made. Ctrl-C
    // reaches the step's own program too (npm, go: the terminal signals the whole group);
    // the build stops when that step returns, then removes what it made. A second Ctrl-C
    // does not wait.
    const cleanUp = () => {
      if (!plan.existed) rmSync(plan.dir, { recursive: true, force: true });
    };
    const onSignal = () => {
      if (interrupted.now) {
        cleanUp();
        process.exit(130);
      }
      interrupted.now = true;
      process.stderr.write("interrupted: stopping after this step (Ctrl-C again to stop now)\n");
    };
    process.on("SIGINT", onSignal);
    try {
      return await build(plan, host);
    } catch (err) {
      cleanUp();
      if (!interrupted.now) throw err;
      process.stderr.write(
        `interrupted: no kit${plan.existed ? ` (the earlier kit's kit.json is gone: build it again)` : `; ${forUser(plan.dir)} removed`}\n`,
      );
      return 130;
    } finally {
      process.off("SIGINT", onSignal);
    }
  }
  if (verb === "check" && dirArg && !extra.length) return check(at(dirArg), host, v.npm ?? false);
  if (verb === "use" && v.off && !dirArg) {
    const had = existsSync(kitUseFile(PROJECT_DIR));
    rmSync(kitUseFile(PROJECT_DIR), { force: true });
    console.log(had ? "this checkout no longer deploys from a kit" : "this checkout did not deploy from a kit");
    return 0;
  }
  if (verb === "use" && dirArg && !extra.length && !v.off) return use(at(dirArg), host);
  if ((verb === "build" || verb === "check" || verb === "use") && !dirArg)
    throw badInput(`kit ${verb} needs the kit's folder`, [
      { path: "DIR", message: "missing", fix: `npm run kit -- ${verb} DIR (e.g. /media/usb/kit)` },
    ]);
  throw badInput(verb ? `kit ${parsed.positionals.join(" ")}: not a kit command` : "which kit command?", [
    { path: "command", message: verb ? `"${verb}"` : "missing", fix: "build DIR, check DIR, or use DIR (use --off)" },
  ]);
}
