// `npm run lock [--python 3.11] [--platform x86_64|aarch64|all] [--upgrade]`:
// regenerates cluster-runtime/requirements-<platform>.lock from requirements.in with
// `uv pip compile --generate-hashes`, for one target Python and each node platform.
//
// Why one lock per platform rather than one --universal lock: the host fetches the bundle's
// wheels for the nodes' platform (runtime/wheels.ts), and environment markers would have to be
// evaluated for the target, not the host that fetches. A universal lock carries markers
// wherever the resolution differs by machine or OS (platform_machine == 'aarch64' ...),
// which an x86_64 host could read wrongly for aarch64 nodes. A lock resolved for one
// --python-platform has no markers at all: every line applies, the host fetches exactly
// those wheels, and its header can state the one Python and
// platform it is for, which buildBundle checks. `--only-binary :all:` at resolution time
// also guarantees every pinned version has a wheel for the target, so the download never
// meets a source-only release.
//
// Resolution uses uv's default index (PyPI) only: --no-config, and no UV_* index or
// find-links variable from the environment. Existing pins are kept unless --upgrade.
import { copyFileSync, existsSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { lockPath, notebookLockPath, RUNTIME_DIR, uvTarget } from "../runtime/bundle.js";
import { ClusterConfigSchema, PLATFORMS, type Platform } from "../core/config-schema.js";
import { badInput, UserError } from "../core/errors.js";
import { parseCli } from "../core/cli-args.js";
import { realHost, type Host } from "../host/host.js";
import { PROJECT_DIR } from "../host/paths.js";
import { ensureUv, lockHeader, uvCause, uvCompile, type Uv } from "../runtime/uv.js";
import { parseLock } from "../runtime/lock.js";

export interface LockOptions {
  readonly projectDir: string;
  /** Target Python, major.minor. */
  readonly python: string;
  readonly platforms: readonly Platform[];
  /** Let uv move every pin to the newest allowed version (default: keep existing pins). */
  readonly upgrade?: boolean;
  readonly onProgress?: (msg: string) => void;
}

export interface LockResult {
  readonly platform: Platform;
  readonly file: string;
  readonly packages: number;
  readonly seconds: number;
}

/** The runtime.python default of the config schema: one place says which Python is the default. */
export const DEFAULT_PYTHON = (
  ClusterConfigSchema.properties.runtime.properties.python as unknown as { default: string }
).default;

/** What a lock is made from: the runtime's, or JupyterLab's beside it (constrained by the runtime's). */
interface LockKind {
  readonly input: string;
  readonly title: string;
  readonly out: (projectDir: string, platform: Platform) => string;
  readonly constraint?: (projectDir: string, platform: Platform) => string;
}

const KINDS: readonly LockKind[] = [
  { input: "requirements.in", title: "dask-vm-cluster runtime lock", out: lockPath },
  {
    input: "notebook.in",
    title: "dask-vm-cluster notebook lock (JupyterLab beside the runtime, node 1)",
    out: notebookLockPath,
    constraint: lockPath,
  },
];

export async function main(opts: LockOptions, host: Host = realHost()): Promise<LockResult[]> {
  const progress = opts.onProgress ?? (() => {});
  for (const kind of KINDS) {
    const input = path.join(opts.projectDir, RUNTIME_DIR, kind.input);
    if (!existsSync(input))
      throw badInput(`${input} is missing`, [
        {
          path: input,
          message: "no such file",
          fix: `restore it from git: git checkout -- cluster-runtime/${kind.input}`,
        },
      ]);
  }
  const uv = await ensureUv(host, { step: (scope, m) => progress(`[${scope}] ${m}`), timed: (_s, _w, fn) => fn() });
  const results: LockResult[] = [];
  for (const kind of KINDS)
    for (const platform of opts.platforms) results.push(await lockOne(opts, host, uv, kind, platform, progress));
  return results;
}

async function lockOne(
  opts: LockOptions,
  host: Host,
  uv: Uv,
  kind: LockKind,
  platform: Platform,
  progress: (m: string) => void,
): Promise<LockResult> {
  const input = path.join(opts.projectDir, RUNTIME_DIR, kind.input);
  {
    const t0 = performance.now();
    const out = kind.out(opts.projectDir, platform);
    const tmp = `${out}.tmp-${process.pid}`;
    // uv keeps the versions already pinned in its output file (unless --upgrade): start
    // from the current lock so a re-lock changes only what has to change.
    if (existsSync(out)) copyFileSync(out, tmp);
    const command = ["npm", "run", "lock", "--", "--python", opts.python, "--platform", platform].join(" ");
    progress(`locking ${kind.input} for Python ${opts.python} on ${platform} (${uvTarget(platform)})`);
    try {
      const r = await uvCompile(host, uv, {
        inputs: [path.relative(opts.projectDir, input)],
        constraints: kind.constraint
          ? [path.relative(opts.projectDir, kind.constraint(opts.projectDir, platform))]
          : [],
        python: opts.python,
        platform,
        command,
        output: tmp,
        upgrade: opts.upgrade,
        cwd: opts.projectDir,
      });
      if (r.exitCode !== 0) {
        throw new UserError(
          `uv could not lock ${path.relative(opts.projectDir, input)} for Python ${opts.python} on ${platform}`,
          1,
          [
            {
              path: `cluster-runtime/${kind.input}`,
              message: uvCause(r),
              fix: `loosen the bounds in ${kind.input}, or pick another --python`,
            },
          ],
        );
      }
      const body = readFileSync(tmp, "utf8");
      const header = lockHeader(kind.title, "npm run lock", uv, opts.python, platform);
      writeFileSync(tmp, header + body);
      const parsed = parseLock(header + body);
      if (parsed.python !== opts.python || parsed.entries.some((e) => e.hashes.length === 0)) {
        throw new Error(
          `internal: the lock written for ${platform} does not parse back (python ${parsed.python}, ${parsed.entries.length} entries)`,
        );
      }
      renameSync(tmp, out);
      const seconds = (performance.now() - t0) / 1000;
      progress(`${path.relative(opts.projectDir, out)}: ${parsed.entries.length} packages in ${seconds.toFixed(1)} s`);
      return { platform, file: out, packages: parsed.entries.length, seconds };
    } finally {
      rmSync(tmp, { force: true });
    }
  }
}

const USAGE = `usage: npm run lock [--python X.Y] [--platform x86_64|aarch64|all] [--upgrade]
  --python    target Python on the nodes (default: ${DEFAULT_PYTHON}, runtime.python's default)
  --platform  which lock to regenerate (default: all = ${PLATFORMS.join(", ")})
  --upgrade   move every pin to the newest version requirements.in allows (default: keep pins)`;

export async function cli(argv: readonly string[]): Promise<number> {
  const parsed = parseCli(argv, USAGE, {
    python: { type: "string", default: DEFAULT_PYTHON },
    platform: { type: "string", default: "all" },
    upgrade: { type: "boolean", default: false },
  });
  if (!parsed) return 0;
  const { values } = parsed;
  const python = values.python!;
  if (!/^3\.\d{1,2}$/.test(python))
    throw badInput(`--python ${python} is not a major.minor version`, [
      { path: "--python", message: `"${python}"`, fix: "write it like 3.11" },
    ]);
  const platform = values.platform!;
  if (platform !== "all" && !(PLATFORMS as readonly string[]).includes(platform)) {
    throw badInput(`--platform ${platform} is not supported`, [
      { path: "--platform", message: `"${platform}"`, fix: `use one of: all, ${PLATFORMS.join(", ")}` },
    ]);
  }
  const projectDir = PROJECT_DIR;
  await main({
    projectDir,
    python,
    platforms: platform === "all" ? PLATFORMS : [platform as Platform],
    upgrade: values.upgrade,
    onProgress: (m) => process.stderr.write(`lock: ${m}\n`),
  });
  if (python !== DEFAULT_PYTHON)
    process.stderr.write(
      `lock: set "runtime": {"python": "${python}"} in cluster.config.json so the deploy uses this lock\n`,
    );
  return 0;
}
