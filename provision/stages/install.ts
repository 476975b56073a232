// install: the bundle on one node, offline, into a venv (--no-index --require-hashes).
// No destroy of its own: the next install swaps the venv atomically and removes the old
// one, and the machine's destroy removes everything on the node.
import { installOn } from "../lib/install.js";
import { nodeOf } from "../lib/spec.js";
import type { Stage } from "../lib/stage.js";

export const install: Stage = {
  name: "install",
  async apply({ spec, host, provider, log }) {
    const node = nodeOf(spec);
    if (!(await provider.machineExists(spec.cluster, node))) {
      // Terraform snapshots its state every 20 s during an apply, with resources whose
      // provisioners are still running; a deploy killed just after such a snapshot leaves
      // machine-nodeN recorded as created though its stage never finished.
      log.step(node.name, `machine ${node.name} is missing although Terraform recorded it (an interrupted deploy): creating it again`);
      await log.timed(node.name, `creating machine ${node.name} (${node.ip})`, () => provider.createMachine(spec.cluster, node));
    }
    const t = provider.transport(spec.cluster, node);
    await log.timed(node.name, "installing the runtime bundle", () => installOn(t, spec, { log, env: host.env }));
  },
};
