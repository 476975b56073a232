// Runtime stages: build the bundle on the host, install it on each node offline, and the
// version gate that stops the deploy before any service starts when nodes differ.
import path from "node:path";
import { buildBundle } from "../lib/bundle.js";
import { badInput, UserError } from "../lib/errors.js";
import { step, timed } from "../lib/log.js";
import { cacheDir } from "../lib/paths.js";
import { providerFor } from "../lib/providers/index.js";
import { nodeOf, type StageSpec } from "../lib/spec.js";
import { NodeCommandError, shq, type Transport } from "../lib/transport.js";
import { verify } from "../verify-versions.js";
import type { StageImpl } from "./index.js";

function runtimeOf(spec: StageSpec) {
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

export const bundle: StageImpl = {
  async apply(spec) {
    const r = runtimeOf(spec);
    await timed("bundle", `building the runtime bundle for Python ${r.python} on ${r.platform}`, () => bundleFor(spec));
  },
  async destroy() {
    // The bundle is a cache entry shared by every checkout and cluster: kept.
  },
};

export const install: StageImpl = {
  async apply(spec) {
    const node = nodeOf(spec);
    const t = (await providerFor(spec.cluster.provider)).transport(spec.cluster, node);
    await timed(node.name, "installing the runtime bundle", () => installOn(t, spec));
  },
  async destroy() {
    // Nothing of its own to undo: the next install swaps the venv atomically and removes
    // the old one; the machine's destroy removes everything on the node.
  },
};

export const versionGate: StageImpl = {
  async apply(spec) {
    const code = await verify({ cluster: spec.cluster, runtime: runtimeOf(spec), services: false, json: false, all: false, fix: false, scope: "version-gate" });
    if (code !== 0) {
      throw new UserError("the version gate found drift between the nodes: no service was started", 1, [
        { path: "nodes", message: "see the table above", fix: "run npm run verify-versions -- --fix, then cdktf deploy again" },
      ]);
    }
  },
  async destroy() {},
};
