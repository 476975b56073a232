// runtime.packages: the user's own packages (pandas, scikit-learn...) join the runtime.
// They are locked together with it, with hashes, for the nodes' Python and platform, into
// a lock beside the config file (cluster.config.json -> cluster.config.lock) that the user
// commits; that lock then is the runtime's: bundled, installed offline on every node,
// compared by the version gate. The runtime's own pins cannot move (its lock is a
// constraint), so a package that needs another numpy or dask is refused, as is one with no
// wheel for the nodes, at synth, before anything changes anywhere. The lock is made again
// only when the packages, the Python, the platform or the runtime's lock change: a deploy
// with a current lock and the wheels in the cache needs no network.
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { lockPath, runtimeRef, RUNTIME_DIR } from "./bundle.js";

import { ok, type CheckRow } from "../core/check-rows.js";
import { badInput, UserError, type Problem } from "../core/errors.js";
import type { Host } from "../host/host.js";
import type { Log } from "../core/log.js";
import type { RuntimeRef } from "../core/stage-spec.js";
import { ensureUv, lockHeader, uvCause, uvCompile, uvStatus } from "./uv.js";
import { parseLock, normalizeName } from "./lock.js";
import type { Cluster } from "../core/model.js";

/** The lock of a config's packages: beside it, .json replaced by .lock. */
export function packagesLockFile(configFile: string): string {
  const dir = path.dirname(configFile);
  return path.join(dir, `${path.basename(configFile).replace(/\.json$/i, "")}.lock`);
}

/** What a packages lock was made from, as its header records it. */
interface LockInputs {
  readonly python: string;
  readonly platform: string;
  /** sha256 of the runtime's own lock it was resolved against. */
  readonly runtimeLock: string;
  /** runtime.packages, sorted. */
  readonly packages: readonly string[];
}

const TITLE = "dask-vm-cluster lock of the runtime with runtime.packages (commit it with your config)";

function sha256(file: string): string {
  return createHash("sha256").update(readFileSync(file)).digest("hex");
}

function inputsOf(cluster: Cluster): LockInputs {
  const { python, platform, packages } = cluster.config.runtime;
  return {
    python,
    platform,
    runtimeLock: sha256(lockPath(cluster.projectDir, platform)),
    packages: [...packages].sort(),
  };
}

/** The inputs a lock's header records; undefined when it has none (not ours, or damaged). */
function recordedInputs(text: string): LockInputs | undefined {
  const field = (name: string) => new RegExp(`^#\\s*${name}:\\s*(.+)$`, "m").exec(text)?.[1]?.trim();
  const python = field("python-version");
  const platform = field("platform");
  const runtimeLock = field("runtime-lock");
  const packages = field("packages");
  if (!python || !platform || !runtimeLock || !packages) return undefined;
  try {
    const list = JSON.parse(packages) as unknown;
    if (!Array.isArray(list) || !list.every((p) => typeof p === "string")) return undefined;
    return { python, platform, runtimeLock: runtimeLock.replace(/^sha256:/, ""), packages: list as string[] };
  } catch {
    return undefined;
  }
}

export type LockStatus =
  | { readonly state: "none" }
  | { readonly state: "current"; readonly file: string }
  | { readonly state: "stale"; readonly file: string; readonly why: string };

/** Whether the config's packages lock is there and made from what the config says now. Reads files only. */
export function packagesLockStatus(cluster: Cluster): LockStatus {
  if (!cluster.config.runtime.packages.length) return { state: "none" };
  const file = packagesLockFile(cluster.configFile);
  if (!existsSync(file)) return { state: "stale", file, why: `${path.basename(file)} does not exist yet` };
  const had = recordedInputs(readFileSync(file, "utf8"));
  const want = inputsOf(cluster);
  if (!had) return { state: "stale", file, why: `${path.basename(file)} has no header of ours` };
  if (had.python !== want.python || had.platform !== want.platform)
    return { state: "stale", file, why: `it was made for Python ${had.python} on ${had.platform}` };
  if (JSON.stringify(had.packages) !== JSON.stringify(want.packages))
    return { state: "stale", file, why: "runtime.packages changed" };
  if (had.runtimeLock !== want.runtimeLock)
    return {
      state: "stale",
      file,
      why: `the runtime's own lock (${RUNTIME_DIR}/requirements-${want.platform}.lock) changed`,
    };
  return { state: "current", file };
}

/** The name of a requirement (pandas>=2 -> pandas), PEP 503-normalised. */
export function requirementName(req: string): string {
  return normalizeName(/^[A-Za-z0-9._-]+/.exec(req.trim())?.[0] ?? req);
}

/** Why uv refused, as problems naming each package it mentions (all of them when it names none). */
export function refusal(
  cause: string,
  packages: readonly string[],
  python: string,
  platform: string,
): { network: boolean; problems: Problem[] } {
  const text = cause.toLowerCase();
  if (
    /failed to fetch|error sending request|dns error|connection refused|timed out|network|tcp connect/.test(text) &&
    !/no solution found|unsatisfiable/.test(text)
  ) {
    return {
      network: true,
      problems: [
        {
          path: "package index",
          message: cause,
          fix: "check the connection to PyPI (or HTTPS_PROXY), then deploy again",
        },
      ],
    };
  }
  const normalizedText = text.replace(/[-_.]+/g, "-");
  const named = packages
    .map((p, i) => ({ p, i, name: requirementName(p) }))
    .filter(({ name }) => new RegExp(`(^|[^a-z0-9-])${name}([^a-z0-9-]|$)`).test(normalizedText));
  const which = named.length ? named : packages.map((p, i) => ({ p, i, name: requirementName(p) }));
  const problems = which.map(({ p, i, name }): Problem => {
    if (/no usable wheels|has no wheels|no wheels with a matching/.test(text)) {
      return {
        path: `/runtime/packages/${i}`,
        message: `"${p}": ${name} has no wheel for Python ${python} on Linux ${platform} (the nodes install wheels only, offline): ${cause}`,
        fix: `pick a version of ${name} that publishes such a wheel (https://pypi.org/project/${name}/#files), or remove it`,
      };
    }
    if (/not found in the package registry|was not found/.test(text)) {
      return {
        path: `/runtime/packages/${i}`,
        message: `"${p}": no package named ${name} on the index: ${cause}`,
        fix: `check the name on https://pypi.org/project/${name}/`,
      };
    }
    return {
      path: `/runtime/packages/${i}`,
      message: `"${p}" conflicts with the runtime or another package: ${cause}`,
      fix: `loosen or remove the bound on ${name}, or choose versions that accept the runtime's pins (${RUNTIME_DIR}/requirements-${platform}.lock)`,
    };
  });
  return { network: false, problems };
}

/**
 * Makes the packages lock when it is missing or stale (uv and the package index needed
 * then, never otherwise) and returns its path. Throws bad input (exit 2) naming each
 * package that has no wheel for the nodes or conflicts; exit 1 when the index is unreachable.
 */
export async function ensurePackagesLock(cluster: Cluster, host: Host, log: Log): Promise<string | undefined> {
  const status = packagesLockStatus(cluster);
  if (status.state === "none") return undefined;
  const rel = path.relative(cluster.projectDir, status.file);
  if (status.state === "current") {
    log.step("packages", `${rel} is current (${cluster.config.runtime.packages.join(", ")})`);
    return status.file;
  }
  const { python, platform, packages } = cluster.config.runtime;
  log.step(
    "packages",
    `locking ${packages.join(", ")} with the runtime for Python ${python} on ${platform} (${status.why})`,
  );
  const uv = await ensureUv(host, log);
  const inputs = inputsOf(cluster);
  // uv names its inputs in the lock's "# via" comments: a stable path in the project.
  const scratch = path.join(cluster.clusterDir, "packages");
  mkdirSync(scratch, { recursive: true });
  const input = path.join(scratch, "runtime-packages.in");
  writeFileSync(input, `# runtime.packages of ${path.basename(cluster.configFile)}\n${inputs.packages.join("\n")}\n`);
  const tmp = path.join(scratch, `lock.tmp-${process.pid}`);
  // Pins already in a lock for the same target stay where they are unless they must move.
  const had = existsSync(status.file) ? recordedInputs(readFileSync(status.file, "utf8")) : undefined;
  if (had && had.python === python && had.platform === platform) copyFileSync(status.file, tmp);
  const t0 = performance.now();
  try {
    const relTo = (f: string) => path.relative(cluster.projectDir, f).split(path.sep).join("/");
    const r = await uvCompile(host, uv, {
      inputs: [`${RUNTIME_DIR}/requirements.in`, relTo(input)],
      constraints: [relTo(lockPath(cluster.projectDir, platform))],
      python,
      platform,
      command: "npx cdktf deploy (from runtime.packages)",
      output: tmp,
      cwd: cluster.projectDir,
    });
    if (r.timedOut || r.missing) {
      throw new UserError("runtime.packages could not be locked: uv did not finish", 1, [
        {
          path: "uv",
          message: uvCause(r),
          fix: "check the connection to the package index (a slow index or proxy?), then deploy again",
        },
      ]);
    }
    if (r.exitCode !== 0) {
      const { network, problems } = refusal(uvCause(r), packages, python, platform);
      if (network)
        throw new UserError(`runtime.packages could not be locked: the package index did not answer`, 1, problems);
      throw badInput(`runtime.packages cannot be installed on the nodes (nothing was changed)`, problems);
    }
    const body = readFileSync(tmp, "utf8");
    const header = lockHeader(TITLE, "cdktf deploy", uv, python, platform, [
      `# runtime-lock: sha256:${inputs.runtimeLock}`,
      `# packages: ${JSON.stringify(inputs.packages)}`,
    ]);
    const text = header + body;
    checkKeepsRuntime(text, readFileSync(lockPath(cluster.projectDir, platform), "utf8"));
    writeFileSync(tmp, text);
    renameSync(tmp, status.file);
    const added =
      parseLock(text).entries.length -
      parseLock(readFileSync(lockPath(cluster.projectDir, platform), "utf8")).entries.length;
    log.step(
      "packages",
      `${rel}: ${added} packages beside the runtime's, locked in ${((performance.now() - t0) / 1000).toFixed(1)} s (commit it with your config)`,
    );
    return status.file;
  } finally {
    rmSync(tmp, { force: true });
  }
}

/**
 * Every pin of the runtime's lock is in the packages lock at the same version (uv's constraint guarantees it; a lock
 * that broke it must never reach a node).
 */
function checkKeepsRuntime(packagesLock: string, runtimeLock: string): void {
  const have = new Map(parseLock(packagesLock).entries.map((e) => [e.name, e.version]));
  const moved = parseLock(runtimeLock).entries.filter((e) => have.get(e.name) !== e.version);
  if (moved.length)
    throw new Error(
      `internal: the packages lock moves runtime pins (${moved.map((e) => `${e.name}==${e.version} -> ${have.get(e.name) ?? "missing"}`).join(", ")})`,
    );
}

/**
 * The runtime a deploy uses: the runtime's own lock, or with runtime.packages the packages
 * lock (made or refreshed first when stale). For stacks/main.ts, at synth.
 */
export async function ensureRuntime(cluster: Cluster, host: Host, log: Log): Promise<RuntimeRef> {
  const lockFile = await ensurePackagesLock(cluster, host, log);
  return runtimeOfCluster(cluster, lockFile);
}

/**
 * The runtime of a config without making anything: with runtime.packages its lock must be
 * current (otherwise bad input saying to deploy, which locks them).
 */
export function runtimeOfCluster(cluster: Cluster, lockFile?: string): RuntimeRef {
  const { python, platform, packages } = cluster.config.runtime;
  if (!packages.length) return runtimeRef(cluster.projectDir, python, platform);
  const status = packagesLockStatus(cluster);
  if (status.state !== "current" || (lockFile && status.file !== lockFile)) {
    const why = status.state === "stale" ? status.why : "no lock";
    throw badInput(`runtime.packages are not locked yet (${why})`, [
      {
        path: "/runtime/packages",
        message: `${path.basename(packagesLockFile(cluster.configFile))} is not current`,
        fix: "run npx cdktf deploy (or npx cdktf synth): it locks them",
      },
    ]);
  }
  return runtimeRef(cluster.projectDir, python, platform, { lockFile: status.file, packages });
}

/**
 * Doctor's row for runtime.packages: nothing without them; ok when their lock is current
 * (no uv, no network needed); when it must be made, which uv will make it (the pinned one,
 * fetched by the deploy when this computer has none: nothing to install by hand).
 */
export async function packagesCheck(cluster: Cluster, host: Host): Promise<CheckRow | undefined> {
  const status = packagesLockStatus(cluster);
  if (status.state === "none") return undefined;
  const rel = path.relative(cluster.projectDir, status.file);
  const n = cluster.config.runtime.packages.length;
  if (status.state === "current")
    return ok(
      "packages",
      `${rel} is current (${n} package${n === 1 ? "" : "s"}): a deploy needs neither uv nor the package index for them`,
    );
  return ok(
    "packages",
    `${rel} will be made by the next deploy (${status.why}) from the package index with ${await uvStatus(host)}`,
  );
}
