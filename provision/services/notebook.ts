// JupyterLab on node 1, for `npm run notebook`: its packages (notebook-<platform>.lock,
// the wheels the runtime lacks) bundled on the host and installed offline beside the
// runtime venv by cluster-runtime/install-notebook.sh; a service "notebook" bound to node
// 1's private IP with a token (never 0.0.0.0), whose kernel "dask-cluster" is the runtime
// venv's Python with the connection profile, so Client() connects and matches the workers.
import { markUsed } from "../runtime/cache.js";
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import {
  bundleIdOf,
  cachedBundleDamage,
  ensureWheelhouse,
  lockPath,
  notebookLockPath,
  RUNTIME_DIR,
  writeCachedTar,
  type TarEntry,
} from "../runtime/bundle.js";
import type { Platform } from "../core/config-schema.js";

import { badInput } from "../core/errors.js";
import { sha256Lf } from "../core/line-endings.js";
import type { Log } from "../core/log.js";
import type { ServiceDefinition } from "./definitions.js";
import type { RuntimeRef } from "../core/stage-spec.js";
import { shq, type Transport } from "../machines/transport.js";
import { parseLock } from "../runtime/lock.js";
import type { NodeSpec } from "../core/model.js";
import { nodePaths } from "../core/node-paths.js";

export const KERNEL_NAME = "dask-cluster";
export const INSTALL_SCRIPT = "install-notebook.sh";
/** The notebooks this project ships (the write-ups replayed), copied to a user's notebooks/ once. */
export const SHIPPED_DIR = path.join(RUNTIME_DIR, "notebooks");

export interface NotebookBundle {
  readonly bundleId: string;
  readonly tarPath: string;
  /** Packages in it (those the runtime's own lock lacks). */
  readonly packages: number;
}

/**
 * The notebook bundle for a Python and platform, from the cache or built: manifest,
 * notebook.lock, install-notebook.sh, and the wheels of the entries the runtime's own lock
 * lacks (the others are the runtime's, at the same versions: the lock's constraint).
 */
export async function buildNotebookBundle(
  projectDir: string,
  runtime: Pick<RuntimeRef, "python" | "platform">,
  opts: { cacheDir: string; env?: NodeJS.ProcessEnv; log: Log },
): Promise<NotebookBundle> {
  const lockFile = notebookLockPath(projectDir, runtime.platform);
  const lockRel = path.relative(projectDir, lockFile);
  if (!existsSync(lockFile))
    throw badInput(`${lockRel} is missing`, [
      { path: lockRel, message: "no such file", fix: "restore it from git, or make it: npm run lock" },
    ]);
  const lock = parseLock(readFileSync(lockFile, "utf8"));
  if (lock.python !== runtime.python || lock.platform !== runtime.platform) {
    throw badInput(
      `${lockRel} is for Python ${lock.python ?? "?"} on ${lock.platform ?? "?"}, the cluster runs ${runtime.python} on ${runtime.platform}`,
      [
        {
          path: lockRel,
          message: "the notebook lock and the runtime must agree",
          fix: `re-lock: npm run lock -- --python ${runtime.python}`,
        },
      ],
    );
  }
  const own = new Set(
    parseLock(readFileSync(lockPath(projectDir, runtime.platform), "utf8")).entries.map((e) => e.name),
  );
  const extras = lock.entries.filter((e) => !own.has(e.name));
  const script = path.join(projectDir, RUNTIME_DIR, INSTALL_SCRIPT);
  // A runtime-shaped key, so the wheelhouse and the id follow the same rules as the runtime's
  // (LF text: a CRLF checkout makes the same bundle, and the node gets a script bash runs).
  const key: RuntimeRef = {
    python: runtime.python,
    platform: runtime.platform,
    lockSha256: sha256Lf(lockFile),
    sourceSha256: sha256Lf(script),
  };
  const bundleId = bundleIdOf(key);
  const tarPath = path.join(opts.cacheDir, `notebook-${bundleId}.tar`);
  if (existsSync(tarPath) && !cachedBundleDamage(tarPath)) {
    markUsed(tarPath, `${tarPath}.sha256`);
    return { bundleId, tarPath, packages: extras.length };
  }
  mkdirSync(opts.cacheDir, { recursive: true });
  const progress = (m: string) => opts.log.step("notebook", m);
  const wheelhouse = await ensureWheelhouse(
    key,
    { ...lock, entries: extras },
    { projectDir, cacheDir: opts.cacheDir, env: opts.env, onProgress: progress, lockFile },
  );
  const manifest = {
    bundleId,
    kind: "notebook",
    lockSha256: key.lockSha256,
    python: runtime.python,
    platform: runtime.platform,
  };
  const entries: TarEntry[] = [
    { name: "manifest.json", mode: 0o644, data: Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`) },
    { name: "notebook.lock", mode: 0o644, source: lockFile, text: true },
    { name: INSTALL_SCRIPT, mode: 0o755, source: script, text: true },
    ...wheelhouse.files.map((w) => ({ name: `wheelhouse/${w}`, mode: 0o644, source: path.join(wheelhouse.dir, w) })),
  ];
  writeCachedTar(tarPath, entries);
  progress(
    `notebook bundle ${bundleId} written: ${(statSync(tarPath).size / 1e6).toFixed(1)} MB, ${extras.length} packages`,
  );
  return { bundleId, tarPath, packages: extras.length };
}

/** Where the notebook's packages are installed on a node, and their PYTHONPATH. */
export interface NotebookInstall {
  readonly prefix: string;
  readonly site: string;
}

/** Installs the bundle on the node unless it is there already; returns where. */
export async function installNotebook(t: Transport, bundle: NotebookBundle, log: Log): Promise<NotebookInstall> {
  const p = nodePaths(t.root);
  const current = `${p.notebook}/current`;
  const have = await t.run(`cat ${shq(`${current}/.dvc-complete`)} 2>/dev/null || true`, { timeoutMs: 60_000 });
  if (have.stdout.trim() !== bundle.bundleId) {
    const incoming = `${t.root}/incoming`;
    await log.timed(
      t.node,
      `installing JupyterLab (${bundle.packages} packages, ${(statSync(bundle.tarPath).size / 1e6).toFixed(0)} MB) beside the runtime`,
      async () => {
        await t.put(bundle.tarPath, `${incoming}/notebook-${bundle.bundleId}.tar`);
        await t.run(
          `tar -xOf ${shq(`${incoming}/notebook-${bundle.bundleId}.tar`)} ${INSTALL_SCRIPT} > ${shq(`${incoming}/${INSTALL_SCRIPT}`)} && ` +
            `bash ${shq(`${incoming}/${INSTALL_SCRIPT}`)} ${shq(t.root)} ${shq(`${incoming}/notebook-${bundle.bundleId}.tar`)} && rm -f ${shq(`${incoming}/notebook-${bundle.bundleId}.tar`)}`,
          { timeoutMs: 900_000, onLine: (l) => log.step(t.node, l) },
        );
      },
    );
  }
  const site = await t.run(`cat ${shq(`${current}/site-path`)}`, { timeoutMs: 60_000 });
  return { prefix: `${p.notebook}/current`, site: site.stdout.trim() };
}

/** The environment JupyterLab and its tools run with: the runtime's Python, the prefix's packages and data. */
export function notebookEnv(t: Transport, install: NotebookInstall): Record<string, string> {
  const p = nodePaths(t.root);
  return {
    PYTHONPATH: install.site,
    JUPYTER_PATH: `${install.prefix}/share/jupyter`,
    JUPYTERLAB_DIR: `${install.prefix}/share/jupyter/lab`,
    JUPYTER_CONFIG_PATH: `${install.prefix}/etc/jupyter`,
    JUPYTER_CONFIG_DIR: `${p.notebook}/config`,
    JUPYTER_DATA_DIR: `${p.notebook}/data`,
    JUPYTER_RUNTIME_DIR: `${p.notebook}/runtime`,
    IPYTHONDIR: `${p.notebook}/ipython`,
    DASK_CONFIG: p.clientProfile,
    DVC_ROOT: t.root,
    DVC_DATA: p.data,
    PYTHONUNBUFFERED: "1",
  };
}

/**
 * JupyterLab as a service on node 1: bound to its private IP, the notebooks folder as its
 * root, only the "dask-cluster" kernel, nothing fetched from the internet (the nodes have
 * no route out). Its token is in its config file (writeNotebookToken), never on its
 * command line or in its environment, which a systemd unit file shows to every user.
 */
export function notebookService(
  t: Transport,
  node: NodeSpec,
  port: number,
  install: NotebookInstall,
): ServiceDefinition {
  const p = nodePaths(t.root);
  return {
    argv: [
      p.python,
      "-m",
      "jupyterlab",
      `--ServerApp.ip=${node.ip}`,
      `--ServerApp.port=${port}`,
      "--ServerApp.port_retries=0",
      "--ServerApp.open_browser=False",
      `--ServerApp.root_dir=${p.notebooks}`,
      "--ServerApp.allow_remote_access=True",
      // The local provider's nodes run as root (network namespaces need it); JupyterLab
      // refuses root unless told. Elsewhere it runs as the login user and this changes nothing.
      "--ServerApp.allow_root=True",
      "--KernelSpecManager.ensure_native_kernel=False",
      `--MappingKernelManager.default_kernel_name=${KERNEL_NAME}`,
      "--LabApp.extension_manager=readonly",
      "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ],
    env: notebookEnv(t, install),
    cwd: p.notebooks,
  };
}

/** JupyterLab's token, in its config folder (JUPYTER_CONFIG_DIR), readable by its owner only. */
export async function writeNotebookToken(t: Transport, token: string): Promise<void> {
  const dir = `${nodePaths(t.root).notebook}/config`;
  const file = `${dir}/jupyter_server_config.json`;
  await t.run(`mkdir -p ${shq(dir)} && (umask 077 && cat > ${shq(file)}) && chmod 600 ${shq(file)}`, {
    input: `${JSON.stringify({ IdentityProvider: { token } })}\n`,
    timeoutMs: 60_000,
  });
}

/** The token of this checkout's notebook, made once (0600 under .cluster/client). */
export function notebookToken(clusterDir: string): string {
  const dir = path.join(clusterDir, "client");
  const file = path.join(dir, "notebook-token");
  if (existsSync(file)) return readFileSync(file, "utf8").trim();
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const token = randomBytes(24).toString("hex");
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return token;
}

/** Waits on node 1 until JupyterLab answers its API with the token (the runtime's Python, standard library). */
export async function waitForNotebook(t: Transport, url: string, token: string, timeoutS = 90): Promise<void> {
  const code = `
import os, sys, time, urllib.request
deadline = time.time() + float(sys.argv[2])
last = ""
direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
while time.time() < deadline:
    try:
        with direct.open(urllib.request.Request(sys.argv[1] + "/api/status", headers={"Authorization": "token " + os.environ["DVC_NOTEBOOK_TOKEN"]}), timeout=5) as r:
            if r.status == 200:
                sys.exit(0)
    except Exception as e:
        last = str(e)
    time.sleep(0.5)
sys.exit("JupyterLab did not answer at " + sys.argv[1] + ": " + last)
`;
  const waitS = timeoutS * t.slowness;
  // The token in the environment, not the command line: another user of the node sees argv.
  await t.run([nodePaths(t.root).python, "-c", code, url, String(waitS)].map(shq).join(" "), {
    env: { DVC_NOTEBOOK_TOKEN: token },
    timeoutMs: (waitS + 30) * 1000,
  });
}

export type { Platform };
