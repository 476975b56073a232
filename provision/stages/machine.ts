// machine: one node (a VM, or a namespace with its own root folder), then a check that it
// can run the runtime: the box's pythonX.Y with its venv module. Where machines are made
// one after another (VirtualBox), a box without that Python stops the deploy at node 1,
// before node 2 and 3 cost their minutes. Destroy removes the node and all on it.
import { badInput } from "../core/errors.js";
import { tail } from "../host/process.js";
import { PYTHON_PROBE, pythonProbeOutcome } from "../core/python-probe.js";
import { boxOf, nodeOf } from "../core/stage-spec.js";
import type { Stage } from "./stage-types.js";
import { shq, type Transport } from "../machines/transport.js";

/** The node's pythonX.Y and its venv module (core/python-probe.ts). */
async function nodePythonOf(t: Transport, python: string): Promise<{ version?: string; problem?: string }> {
  const bin = `python${python}`;
  const r = await t.run(`PATH="$PATH:/usr/local/bin"; ${shq(bin)} -c ${shq(PYTHON_PROBE)}`, {
    nothrow: true,
    timeoutMs: 120_000,
  });
  const found = pythonProbeOutcome(r);
  if ("version" in found) return found;
  if (found.problem === "no-venv") return { problem: `${bin} has no venv module` };
  return {
    problem: r.exitCode === 127 ? `no ${bin} on the node` : tail(r.stderr || r.stdout, 2) || `exit ${r.exitCode}`,
  };
}

export const machine: Stage = {
  name: "machine",
  async apply({ spec, provider, expect, log }) {
    const node = nodeOf(spec);
    await log.timed(node.name, `creating machine ${node.name} (${node.ip})`, () =>
      provider.createMachine(spec.cluster, node),
    );
    if (!expect.python) return;
    const found = await nodePythonOf(provider.transport(spec.cluster, node), expect.python);
    if (found.problem) {
      const box = boxOf(spec).name || "this provider's node";
      throw badInput(`${node.name} cannot run the runtime: ${found.problem}`, [
        {
          path: "/box/name",
          message: `${box} has no Python ${expect.python} with its venv module`,
          fix: `use a box that has it (the README's table of boxes), or set runtime.python to the Python the box has and re-lock (npm run lock -- --python X.Y); then npx cdktf deploy`,
        },
      ]);
    }
    log.step(node.name, `Python ${found.version} with venv: can run the runtime`);
  },
  async destroy({ spec, provider, log }) {
    const node = nodeOf(spec);
    await log.timed(node.name, `destroying machine ${node.name}`, () => provider.destroyMachine(spec.cluster, node));
  },
};
