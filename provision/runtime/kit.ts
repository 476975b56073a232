// A classroom kit (`npm run kit`): one folder, a USB drive, holding the repository and
// everything a deploy fetches, for the platforms a teacher names. This file is its format
// and its use; provision/commands/kit.ts builds it. The layout:
//
//   kit.json                   the manifest: each item's sha256 and size, the platforms, the commit
//   repo.bundle                the repository (git clone repo.bundle dask-vm-cluster)
//   class/cluster.config.json  the class's config, pinned (+ cluster.config.lock with runtime.packages)
//   runtime/                   runtime bundles (wheelhouse inside) and JupyterLab's, per architecture
//   providers/<os_arch>/       hashicorp/null per platform, and the lock file naming all of them
//   uv/                        the pinned uv wheel per platform
//   npm/                       npm's cache: `npm install --offline --cache <kit>/npm`
//   boxes/                     Vagrant boxes, for the VM providers
//   tools/                     the installers the teacher adds (Node, Terraform, Vagrant, VirtualBox)
//
// A deploy uses a kit when DVC_KIT names it or `npm run kit -- use DIR` recorded it for the
// checkout (.cluster/kit.json): at synth, takeFromKit copies what this config needs from the
// kit into the cache, where every stage already looks (checked against the manifest), and
// says what it took. Then nothing is fetched. What the kit lacks for this config is refused
// (exit 2, saying what the kit holds), never fetched behind the teacher's back.
import { createHash } from "node:crypto";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import path from "node:path";
import { fail, ok, warn, type CheckRow } from "../core/check-rows.js";
import { badInput, UserError, type Problem } from "../core/errors.js";
import type { Log } from "../core/log.js";
import type { Cluster } from "../core/model.js";
import type { RuntimeRef } from "../core/stage-spec.js";
import type { Host } from "../host/host.js";
import { cacheDir } from "../host/paths.js";
import { builtNullProvider, NULL_PROVIDER, terraformPlatform } from "../host/toolchain.js";
import { vagrantBoxDir } from "../machines/vagrant/provider.js";
import { bundleIdOf, sha256File } from "./bundle.js";
import { cachedUvPath, installUvFromWheel, UV_PIN } from "./uv.js";

export const KIT_FILE = "kit.json";
export const KIT_FORMAT = 1;
/** Computers a kit can serve, as Node names them (process.platform-process.arch). */
export const KIT_PLATFORMS = [
  "linux-x64",
  "linux-arm64",
  "darwin-x64",
  "darwin-arm64",
  "win32-x64",
  "win32-arm64",
] as const;
export type KitPlatform = (typeof KIT_PLATFORMS)[number];

export type KitItemKind = "repo" | "config" | "bundle" | "notebook" | "provider" | "lock" | "uv" | "npm" | "box";

export interface KitItem {
  /** Path in the kit, with "/" separators. */
  readonly path: string;
  readonly kind: KitItemKind;
  /** sha256 of the file; of a folder, of its sorted "<sha256>  <path>" lines. */
  readonly sha256: string;
  readonly bytes: number;
  /** A folder's file count. */
  readonly files?: number;
  /** The computer (KitPlatform) or, for bundles, the nodes' architecture. */
  readonly platform?: string;
  /** A bundle's id; a box's name. */
  readonly key?: string;
  /** Terraform's h1: hash of a provider package. */
  readonly h1?: string;
  /** A box's Vagrant provider. */
  readonly provider?: string;
  readonly what: string;
}

export interface KitManifest {
  readonly format: typeof KIT_FORMAT;
  readonly created: string;
  /** The commit repo.bundle's HEAD is: the bundles were built from its files. */
  readonly commit: string;
  readonly describe: string;
  readonly platforms: readonly KitPlatform[];
  /** "class/cluster.config.json". */
  readonly config: string;
  readonly buildSeconds: number;
  readonly items: readonly KitItem[];
  /** What the kit could not hold and says so (a box not in the box store...). */
  readonly missing: readonly string[];
}

/** Where `npm run kit -- use` records the kit for a checkout. */
export function kitUseFile(projectDir: string): string {
  return path.join(projectDir, ".cluster", "kit.json");
}

/** The kit this checkout deploys from: DVC_KIT, else what `npm run kit -- use` recorded; undefined: none. */
export function kitInUse(env: NodeJS.ProcessEnv, projectDir: string): string | undefined {
  if (env.DVC_KIT) return path.resolve(env.DVC_KIT);
  const file = kitUseFile(projectDir);
  if (!existsSync(file)) return undefined;
  try {
    const dir = (JSON.parse(readFileSync(file, "utf8")) as { dir?: unknown }).dir;
    return typeof dir === "string" ? dir : undefined;
  } catch {
    return undefined;
  }
}

export function hostOf(p: KitPlatform): { platform: NodeJS.Platform; arch: string } {
  const [platform, arch] = p.split("-") as [NodeJS.Platform, string];
  return { platform, arch };
}

/** Parses --platforms: a comma list of KIT_PLATFORMS, or "all". */
export function parsePlatforms(text: string, flag = "--platforms"): KitPlatform[] {
  const names = text === "all" ? [...KIT_PLATFORMS] : text.split(",").map((s) => s.trim());
  const bad = names.filter((n) => !(KIT_PLATFORMS as readonly string[]).includes(n));
  if (bad.length || !names.length)
    throw badInput(`${flag} names ${bad.length ? bad.join(", ") : "no platform"}`, [
      {
        path: flag,
        message: bad.length ? `unknown: ${bad.join(", ")}` : "empty",
        fix: `a comma-separated list of ${KIT_PLATFORMS.join(", ")} (or all)`,
      },
    ]);
  return [...new Set(names)] as KitPlatform[];
}

/** sha256, size and file count of a file, or of a folder (its files' sha256 lines, names sorted). */
export function hashPath(abs: string): { sha256: string; bytes: number; files?: number } {
  const st = statSync(abs);
  if (!st.isDirectory()) return { sha256: sha256File(abs), bytes: st.size };
  const files: string[] = [];
  const walk = (rel: string) => {
    for (const e of readdirSync(path.join(abs, rel), { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(r);
      else if (e.isFile()) files.push(r);
    }
  };
  walk("");
  files.sort();
  const h = createHash("sha256");
  let bytes = 0;
  for (const f of files) {
    const p = path.join(abs, ...f.split("/"));
    bytes += statSync(p).size;
    h.update(`${sha256File(p)}  ${f}\n`);
  }
  return { sha256: h.digest("hex"), bytes, files: files.length };
}

export function kitPath(kit: string, item: Pick<KitItem, "path">): string {
  return path.join(kit, ...item.path.split("/"));
}

export function formatBytes(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} GB`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} MB`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(0)} kB`;
  return `${n} B`;
}

/** The kit's manifest, or bad input saying why the folder is not a kit. */
export function readKit(dir: string): KitManifest {
  const file = path.join(dir, KIT_FILE);
  const fix = "give the folder `npm run kit -- build` wrote (it holds kit.json), or build it again";
  if (!existsSync(file))
    throw badInput(`${dir} is not a kit`, [
      {
        path: file,
        message: existsSync(dir) ? "no kit.json (not a kit, or its build did not finish)" : "no such folder",
        fix,
      },
    ]);
  let m: Partial<KitManifest>;
  try {
    m = JSON.parse(readFileSync(file, "utf8")) as Partial<KitManifest>;
  } catch (err) {
    throw badInput(`${file} is not valid JSON`, [{ path: file, message: (err as Error).message, fix }]);
  }
  const problems: Problem[] = [];
  if (m.format !== KIT_FORMAT)
    problems.push({
      path: "/format",
      message: `${JSON.stringify(m.format)} is not a kit format this checkout reads`,
      fix: `allowed: ${KIT_FORMAT}; build the kit with this version of the project`,
    });
  if (!Array.isArray(m.items)) problems.push({ path: "/items", message: "must be a list", fix });
  if (!Array.isArray(m.platforms)) problems.push({ path: "/platforms", message: "must be a list", fix });
  for (const [i, it] of (Array.isArray(m.items) ? m.items : []).entries()) {
    if (typeof it?.path !== "string" || it.path.split("/").includes("..") || path.isAbsolute(it.path))
      problems.push({ path: `/items/${i}/path`, message: "must be a relative path inside the kit", fix });
    if (typeof it?.sha256 !== "string" || !/^[0-9a-f]{64}$/.test(it.sha256))
      problems.push({ path: `/items/${i}/sha256`, message: "must be 64 hex digits", fix });
  }
  if (problems.length) throw badInput(`${file} is not a kit manifest this checkout reads`, problems);
  return m as KitManifest;
}

/** What is wrong with each item: missing, another size, another sha256 (full: always hashes). */
export function verifyItems(
  dir: string,
  items: readonly KitItem[],
  onItem?: (item: KitItem, i: number) => void,
): Problem[] {
  const problems: Problem[] = [];
  items.forEach((item, i) => {
    onItem?.(item, i);
    const abs = kitPath(dir, item);
    if (!existsSync(abs)) {
      problems.push({ path: item.path, message: `missing (${item.what})`, fix: "copy the kit again, or rebuild it" });
      return;
    }
    const got = hashPath(abs);
    if (got.bytes !== item.bytes || got.sha256 !== item.sha256)
      problems.push({
        path: item.path,
        message:
          got.bytes !== item.bytes
            ? `${formatBytes(got.bytes)} on disk, the manifest says ${formatBytes(item.bytes)}: truncated or changed`
            : `sha256 ${got.sha256.slice(0, 12)}…, the manifest says ${item.sha256.slice(0, 12)}…: damaged or changed`,
        fix: "copy the kit again from the teacher's, or rebuild it (npm run kit -- build)",
      });
  });
  return problems;
}

/** One item verified, or UserError (exit 1) naming it. */
function checked(dir: string, item: KitItem): string {
  const problems = verifyItems(dir, [item]);
  if (problems.length) throw new UserError(`the kit at ${dir} is damaged: ${item.what}`, 1, problems);
  return kitPath(dir, item);
}

export interface Taken {
  readonly what: string;
  readonly bytes: number;
  /** copied into the cache now, or already there as the kit has it. */
  readonly state: "copied" | "in the cache";
}

export interface KitUse {
  readonly dir: string;
  readonly manifest: KitManifest;
  readonly taken: readonly Taken[];
  /** h1: hashes of hashicorp/null for every platform of the kit, for the stack's lock. */
  readonly providerHashes: readonly string[];
}

/** Copies file to dest through a temporary name (a dest that exists is always whole). */
export function copyInto(file: string, dest: string): void {
  mkdirSync(path.dirname(dest), { recursive: true });
  const tmp = `${dest}.kit-${process.pid}`;
  try {
    copyFileSync(file, tmp);
    renameSync(tmp, dest);
  } finally {
    rmSync(tmp, { force: true });
  }
}

function notInKit(dir: string, manifest: KitManifest, what: string, holds: string): UserError {
  return badInput(`the kit at ${dir} has no ${what}`, [
    {
      path: path.join(dir, KIT_FILE),
      message: `it holds ${holds} (built from ${manifest.describe} for ${manifest.platforms.join(", ")})`,
      fix: `deploy with the kit's own config and checkout (npm run kit -- use ${dir} copies its config; git clone ${path.join(dir, "repo.bundle")}), ask for a kit built for this, or stop using the kit (unset DVC_KIT; npm run kit -- use --off) to fetch from the internet`,
    },
  ]);
}

/**
 * Takes from the kit what this config's deploy would otherwise fetch, into the cache where
 * the stages look: the runtime bundle (and JupyterLab's) for the nodes' architecture,
 * hashicorp/null and uv for this computer, the box for a VM provider. Each item is checked
 * against the manifest first. Refuses (exit 2) what the kit lacks.
 */
export async function takeFromKit(
  dir: string,
  ctx: { readonly cluster: Cluster; readonly runtime: RuntimeRef; readonly host: Host; readonly log: Log },
): Promise<KitUse> {
  const { cluster, runtime, host, log } = ctx;
  const manifest = readKit(dir);
  const cache = cacheDir(host.env);
  const taken: Taken[] = [];
  const bundleId = bundleIdOf(runtime);
  const byKind = (kind: KitItemKind) => manifest.items.filter((i) => i.kind === kind);
  const take = (item: KitItem, dest: string, copy: (file: string) => void) => {
    const here = existsSync(dest) && statSync(dest).size === item.bytes && sha256File(dest) === item.sha256;
    if (!here) copy(checked(dir, item));
    taken.push({ what: item.what, bytes: item.bytes, state: here ? "in the cache" : "copied" });
  };

  const bundle = byKind("bundle").find((i) => i.key === bundleId);
  if (!bundle) {
    const holds = byKind("bundle")
      .map((b) => `${b.key} (${b.platform})`)
      .join(", ");
    throw notInKit(
      dir,
      manifest,
      `runtime bundle for this config (bundle ${bundleId}: Python ${runtime.python}, ${runtime.platform}${runtime.packages?.length ? `, packages ${runtime.packages.join(" ")}` : ""})`,
      `runtime bundle${byKind("bundle").length === 1 ? "" : "s"} ${holds || "none"}`,
    );
  }
  const tar = path.join(cache, `bundle-${bundleId}.tar`);
  take(bundle, tar, (file) => {
    copyInto(file, tar);
    writeFileSync(`${tar}.sha256`, `${bundle.sha256}  ${path.basename(tar)}\n`);
  });
  for (const nb of byKind("notebook").filter((i) => i.platform === runtime.platform)) {
    const dest = path.join(cache, path.basename(nb.path));
    take(nb, dest, (file) => {
      copyInto(file, dest);
      writeFileSync(`${dest}.sha256`, `${nb.sha256}  ${path.basename(dest)}\n`);
    });
  }

  const tfPlatform = terraformPlatform(host);
  const providers = byKind("provider");
  const provider = providers.find((i) => i.platform === tfPlatform);
  if (!provider)
    throw notInKit(
      dir,
      manifest,
      `hashicorp/null for this computer (${tfPlatform})`,
      `hashicorp/null for ${providers.map((p) => p.platform).join(", ") || "no platform"}`,
    );
  take(provider, builtNullProvider(host), (file) => copyInto(file, builtNullProvider(host)));

  const uvKey = `${host.platform}-${host.arch}`;
  const uv = byKind("uv").find((i) => i.platform === uvKey);
  if (uv) {
    const binary = cachedUvPath(host);
    if (existsSync(binary)) taken.push({ what: `${uv.what} (its binary)`, bytes: uv.bytes, state: "in the cache" });
    else {
      installUvFromWheel(host, readFileSync(checked(dir, uv)), `the kit at ${dir}`, UV_PIN);
      taken.push({ what: `${uv.what} (its binary)`, bytes: uv.bytes, state: "copied" });
    }
  }

  const vmProvider = cluster.config.provider === "virtualbox" || cluster.config.provider === "libvirt";
  if (vmProvider) {
    const box = byKind("box").find((b) => b.key === cluster.config.box.name && b.provider === cluster.config.provider);
    if (!box)
      throw notInKit(
        dir,
        manifest,
        `box ${cluster.config.box.name} for ${cluster.config.provider}`,
        `box${byKind("box").length === 1 ? "" : "es"} ${
          byKind("box")
            .map((b) => `${b.key} (${b.provider})`)
            .join(", ") || "none"
        }`,
      );
    const store = vagrantBoxDir(host, box.key!);
    const present = host.listDir(store).some((v) => existsSync(path.join(store, v)));
    if (present) taken.push({ what: box.what, bytes: box.bytes, state: "in the cache" });
    else {
      const file = checked(dir, box);
      log.step("kit", `vagrant box add ${box.key} (${box.provider}) from the kit: ${formatBytes(box.bytes)}`);
      const r = await host.run(["vagrant", "box", "add", "--name", box.key!, "--provider", box.provider!, file], {
        timeoutMs: 1_800_000,
      });
      if (r.exitCode !== 0)
        throw new UserError(`vagrant box add of the kit's ${box.key} failed`, 1, [
          {
            path: box.path,
            message: (r.stderr || r.stdout).trim().split("\n").slice(-3).join(" "),
            fix: r.missing ? "install Vagrant (the kit's tools/ folder)" : "check the box with npm run kit -- check",
          },
        ]);
      taken.push({ what: box.what, bytes: box.bytes, state: "copied" });
    }
  }

  const copied = taken.filter((t) => t.state === "copied");
  log.step(
    "kit",
    `from the kit at ${dir} (${manifest.describe}): ${taken
      .map((t) => `${t.what} [${t.state === "copied" ? `copied, ${formatBytes(t.bytes)}` : "already in the cache"}]`)
      .join(
        "; ",
      )}; ${copied.length ? `${formatBytes(copied.reduce((s, t) => s + t.bytes, 0))} copied` : "nothing to copy"}, nothing fetched`,
  );
  return {
    dir,
    manifest,
    taken,
    providerHashes: providers.map((p) => p.h1).filter((h): h is string => !!h),
  };
}

/** The provider package name inside a platform folder: terraform-provider-null_v2.2.0[.exe]. */
export function providerFileName(tfPlatform: string): string {
  return `terraform-provider-null_v${NULL_PROVIDER.version}${tfPlatform.startsWith("windows_") ? ".exe" : ""}`;
}

/**
 * Doctor's row when a kit is in use (undefined when none): whether it is there, and whether
 * it holds this config's runtime bundle and this computer's hashicorp/null. Reads the
 * manifest only (`npm run kit -- check` verifies the bytes).
 */
export function kitCheck(
  projectDir: string,
  runtime: RuntimeRef,
  host: Pick<Host, "env" | "platform" | "arch">,
): CheckRow | undefined {
  const dir = kitInUse(host.env, projectDir);
  if (!dir) return undefined;
  const how = host.env.DVC_KIT ? "DVC_KIT" : "npm run kit -- use";
  if (!existsSync(dir))
    return warn(
      "kit",
      `${dir} (${how}) is not there`,
      "plug the kit in (or npm run kit -- use --off): without it a deploy fetches what the cache lacks",
    );
  let manifest: KitManifest;
  try {
    manifest = readKit(dir);
  } catch (err) {
    return fail("kit", `${dir} (${how}): ${(err as Error).message}`, "copy the kit again, or build it again");
  }
  const bundleId = bundleIdOf(runtime);
  const lacks = [
    ...(manifest.items.some((i) => i.kind === "bundle" && i.key === bundleId) ? [] : [`runtime bundle ${bundleId}`]),
    ...(manifest.items.some((i) => i.kind === "provider" && i.platform === terraformPlatform(host))
      ? []
      : [`hashicorp/null for ${terraformPlatform(host)}`]),
  ];
  if (lacks.length)
    return fail(
      "kit",
      `${dir} (${how}, ${manifest.describe}) has no ${lacks.join(", no ")} for this config and computer`,
      `use the kit's own config (npm run kit -- use ${dir}), or stop using it (npm run kit -- use --off)`,
    );
  return ok(
    "kit",
    `deploys from ${dir} (${how}): ${manifest.describe}, for ${manifest.platforms.join(", ")}; it holds this config's runtime bundle and hashicorp/null, so a deploy fetches nothing`,
  );
}
