// Installing the runtime bundle on a node: build (or find) the bundle on the host, copy it
// and install.sh to the node, install offline into <root>/venv. Used by the install stage
// and by verify-versions --fix.
import path from "node:path";
import { buildBundle } from "./bundle.js";
import { badInput } from "./errors.js";
import { step } from "./log.js";
import { cacheDir } from "./paths.js";
import type { StageSpec } from "./spec.js";
import { NodeCommandError, shq, type Transport } from "./transport.js";

export function runtimeOf(spec: StageSpec) {
  if (!spec.runtime) throw new Error(`stage ${spec.stage} has no runtime in its spec`);
  return spec.runtime;
}

export async function bundleFor(spec: StageSpec) {
  return buildBundle(runtimeOf(spec), { projectDir: spec.cluster.projectDir, cacheDir: cacheDir(), onProgress: (m) => step("bundle", m) });
}

/** Copies the bundle and install.sh to a node and installs offline into <root>/venv. */
export async function installOn(t: Transport, spec: StageSpec, opts: { force?: boolean } = {}): Promise<void> {
  const { bundleId, tarPath } = await bundleFor(spec);
  const incoming = `${t.root}/incoming`;
  const remoteTar = `${incoming}/bundle-${bundleId}.tar`;
  const remoteScript = `${incoming}/install.sh`;
  await t.put(tarPath, remoteTar);
  await t.put(path.join(spec.cluster.projectDir, "cluster-runtime", "install.sh"), remoteScript, 0o755);
  const force = opts.force ? `rm -f ${shq(`${t.root}/bundle-id`)} && ` : "";
  try {
    await t.run(`${force}bash ${shq(remoteScript)} ${shq(t.root)} ${shq(remoteTar)} ${shq(runtimeOf(spec).python)} && rm -f ${shq(remoteTar)}`, {
      timeoutMs: 900_000,
      onLine: (l) => step(t.node, l),
    });
  } catch (err) {
    if (err instanceof NodeCommandError && err.result.exitCode === 3) {
      // install.sh's exit 3: the node's Python does not match the target; its stderr says how to fix.
      throw badInput(`${t.node} cannot run the runtime`, [{ path: `/runtime/python`, message: err.result.stderr.trim() }]);
    }
    throw err;
  }
}

