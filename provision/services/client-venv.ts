// A client environment on this computer made from the cluster's own lock and bundle
// (`npm run connect -- --venv`): install.sh, the very script every node runs, into
// .cluster/client/runtime, so the venv holds the workers' exact versions. It can exist
// only where the bundle's wheels install: Linux, the nodes' architecture, their Python
// X.Y. verify-versions checks it beside the nodes when it is there.
import path from "node:path";
import { buildBundle } from "../runtime/bundle.js";
import { badInput, UserError } from "../core/errors.js";
import type { Host } from "../host/host.js";
import type { Log } from "../core/log.js";
import { cacheDir } from "../host/paths.js";
import { pycacheFor } from "../runtime/pycache.js";
import { describeFailure, tail } from "../host/process.js";
import { PYTHON_PROBE, pythonProbeOutcome } from "../core/python-probe.js";

import type { RuntimeRef } from "../core/stage-spec.js";
import type { Collected, NodeReport } from "./version-gate/facts.js";
import { nodePaths } from "../core/node-paths.js";

/** The column verify-versions shows the host client in. */
export const HOST_CLIENT = "host client";

export function hostClientRoot(clusterDir: string): string {
  return path.join(clusterDir, "client", "runtime");
}

const ARCH: Readonly<Record<string, string>> = { x64: "x86_64", arm64: "aarch64" };

/** Whether this host can hold the cluster's lock, and with which Python. */
export async function hostClientSupport(
  host: Host,
  runtime: Pick<RuntimeRef, "python" | "platform">,
): Promise<{ ok: true; python: string } | { ok: false; why: string }> {
  if (host.platform !== "linux")
    return { ok: false, why: `the cluster's wheels are for Linux (manylinux); this computer runs ${host.platform}` };
  if (ARCH[host.arch] !== runtime.platform)
    return {
      ok: false,
      why: `the cluster's wheels are for ${runtime.platform}; this computer is ${ARCH[host.arch] ?? host.arch}`,
    };
  const python = `python${runtime.python}`;
  const r = await host.run([python, "-c", PYTHON_PROBE], { timeoutMs: 15_000 });
  const found = pythonProbeOutcome(r);
  if ("version" in found) return { ok: true, python };
  if (found.problem === "no-venv")
    return { ok: false, why: `${python} has no venv module (Debian/Ubuntu: sudo apt-get install ${python}-venv)` };
  return {
    ok: false,
    why: `${python} does not run here (${r.missing ? "not installed" : describeFailure(r)}); the nodes run Python ${runtime.python}`,
  };
}

/** Makes (or keeps, when it is whole) the host client venv from the cluster's bundle. */
export async function makeHostClient(
  host: Host,
  projectDir: string,
  clusterDir: string,
  runtime: RuntimeRef,
  python: string,
  log: Log,
): Promise<string> {
  const opts = {
    projectDir,
    cacheDir: cacheDir(host.env),
    env: host.env,
    onProgress: (m: string) => log.step("client", m),
  };
  const bundle = await buildBundle(runtime, opts);
  const pycache = await pycacheFor(bundle, opts);
  const root = hostClientRoot(clusterDir);
  const script = path.join(projectDir, "cluster-runtime", "install.sh");
  const r = await log.timed("client", `the cluster's runtime (bundle ${bundle.bundleId}) into ${root}`, () =>
    host.run(["bash", script, root, bundle.tarPath, runtime.python, ...(pycache ? [pycache] : [])], {
      timeoutMs: 900_000,
      onLine: (l) => log.step("client", l),
    }),
  );
  if (r.exitCode === 3)
    throw badInput(`${python} cannot run the cluster's bundle`, [{ path: python, message: tail(r.stderr, 3) }]);
  if (r.exitCode !== 0)
    throw new UserError(`the host client could not be made in ${root}`, 1, [
      { path: root, message: describeFailure(r), fix: `remove ${root} and run npm run connect -- --venv again` },
    ]);
  return nodePaths(root).venv;
}

/** The host client's version report, as a node's; undefined when there is no host client. */
export async function collectHostClient(host: Host, clusterDir: string): Promise<Collected | undefined> {
  const root = hostClientRoot(clusterDir);
  const python = nodePaths(root).python;
  if (!host.exists(python)) return undefined;
  const r = await host.run([python, "-m", "dask_vm_runtime", "versions", "--root", root], { timeoutMs: 60_000 });
  if (r.exitCode !== 0) return { node: HOST_CLIENT, error: describeFailure(r) };
  return { node: HOST_CLIENT, report: JSON.parse(r.stdout) as NodeReport };
}
