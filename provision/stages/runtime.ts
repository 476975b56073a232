// Runtime stages: build the bundle on the host, install it on each node offline, and the
// version gate that stops the deploy before any service starts when nodes differ.
import { UserError } from "../lib/errors.js";
import { bundleFor, installOn, runtimeOf } from "../lib/install.js";
import { step, timed } from "../lib/log.js";
import { providerFor } from "../lib/providers/index.js";
import { nodeOf } from "../lib/spec.js";
import { verify } from "../commands/verify-versions.js";
import type { StageImpl } from "./index.js";

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
    const p = await providerFor(spec.cluster.provider);
    if (p.machineExists && !(await p.machineExists(spec.cluster, node))) {
      // Terraform snapshots its state every 20 s during an apply, with resources whose
      // provisioners are still running; a deploy killed just after such a snapshot leaves
      // machine-nodeN recorded as created though its stage never finished.
      step(node.name, `machine ${node.name} is missing although Terraform recorded it (an interrupted deploy): creating it again`);
      await timed(node.name, `creating machine ${node.name} (${node.ip})`, () => p.createMachine(spec.cluster, node));
    }
    const t = p.transport(spec.cluster, node);
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
