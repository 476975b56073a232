// Installing the runtime bundle on a node: build (or find) the bundle on the host, copy it
// to the node, install offline into <root>/venv with the install.sh it holds. Used by the install stage
// and by verify-versions --fix.
import { buildBundle, bundleIdOf } from "./bundle.js";
import { pycacheFor } from "./pycache.js";
import { badInput } from "../core/errors.js";
import { consoleLog, type Log } from "../core/log.js";
import { cacheDir } from "../host/paths.js";
import { runtimeOf, type StageSpec } from "../core/stage-spec.js";
import { NodeCommandError, shq, type Transport } from "../machines/transport.js";

/** The bundle, and the byte-code made for it on the host when the host can (see pycache.ts). */
export interface InstallOptions {
  /** Reinstall even when the node already has this bundle (verify-versions --fix). */
  readonly force?: boolean;
  readonly log?: Log;
  /** The host's environment (cache folder, package index, proxies). Default: this process's. */
  readonly env?: NodeJS.ProcessEnv;
}

export async function bundleFor(
  spec: StageSpec,
  { log = consoleLog, env = process.env }: Omit<InstallOptions, "force"> = {},
) {
  const opts = {
    projectDir: spec.cluster.projectDir,
    cacheDir: cacheDir(env),
    env,
    onProgress: (m: string) => log.step("bundle", m),
  };
  const bundle = await buildBundle(runtimeOf(spec), opts);
  return { ...bundle, pycachePath: await pycacheFor(bundle, opts) };
}

/** Whether the node has this bundle installed whole: its bundle-id, and the venv install.sh marks complete last. */
export async function hasBundle(t: Transport, bundleId: string): Promise<boolean> {
  const r = await t.run(
    `[ "$(cat ${shq(`${t.root}/bundle-id`)} 2>/dev/null)" = ${shq(bundleId)} ] && [ -f ${shq(`${t.root}/venv/.dvc-complete`)} ]`,
    { nothrow: true, timeoutMs: 60_000 },
  );
  return r.exitCode === 0;
}

/** Copies the bundle to a node and installs offline into <root>/venv with the bundle's install.sh. */
export async function installOn(t: Transport, spec: StageSpec, opts: InstallOptions = {}): Promise<void> {
  const log = opts.log ?? consoleLog;
  if (!opts.force && (await hasBundle(t, bundleIdOf(runtimeOf(spec))))) {
    // A repair (or a deploy after a reboot) on a node whose disk kept the runtime: no copy.
    // The version gate that follows compares every installed package with the lock.
    log.step(
      t.node,
      `bundle ${bundleIdOf(runtimeOf(spec))} already installed (bundle-id and a complete venv): nothing to copy`,
    );
    return;
  }
  const { bundleId, tarPath, pycachePath } = await bundleFor(spec, opts);
  const incoming = `${t.root}/incoming`;
  const remoteTar = `${incoming}/bundle-${bundleId}.tar`;
  const remotePycache = `${incoming}/pycache-${bundleId}.tar`;
  const remoteScript = `${incoming}/install.sh`;
  await t.put(tarPath, remoteTar);
  if (pycachePath) await t.put(pycachePath, remotePycache);
  const force = opts.force ? `rm -f ${shq(`${t.root}/bundle-id`)} && ` : "";
  const args = [t.root, remoteTar, runtimeOf(spec).python, ...(pycachePath ? [remotePycache] : [])].map(shq).join(" ");
  try {
    // install.sh comes out of the bundle, where it has LF line endings whatever the
    // checkout holds (a Git for Windows clone has CRLF): never the checkout's own copy.
    const extract = `tar -xOf ${shq(remoteTar)} install.sh > ${shq(remoteScript)}`;
    await t.run(
      `${force}${extract} && bash ${shq(remoteScript)} ${args} && rm -f ${shq(remoteTar)} ${shq(remotePycache)}`,
      {
        timeoutMs: 900_000,
        onLine: (l) => log.step(t.node, l),
      },
    );
  } catch (err) {
    if (err instanceof NodeCommandError && err.result.exitCode === 3) {
      // install.sh's exit 3: the node's Python does not match the target; its stderr says how to fix.
      throw badInput(`${t.node} cannot run the runtime`, [
        { path: `/runtime/python`, message: err.result.stderr.trim() },
      ]);
    }
    throw err;
  }
}
