// install: the bundle on one node, offline, into a venv (--no-index --require-hashes).
// No destroy of its own: the next install swaps the venv atomically and removes the old
// one, and the machine's destroy removes everything on the node.
import { installOn } from "../runtime/install.js";
import { nodeOf } from "../core/stage-spec.js";
import type { Stage } from "./stage-types.js";

export const install: Stage = {
  name: "install",
  async apply({ spec, host, provider, log }) {
    const node = nodeOf(spec);
    const machine = await provider.machineState(spec.cluster, node);
    if (machine.state !== "running") {
      // Terraform snapshots its state every 20 s during an apply, with resources whose
      // provisioners are still running; a deploy killed just after such a snapshot leaves
      // machine-nodeN recorded as created though its stage never finished. (The plan's
      // observation repairs it too; this covers a machine lost since that plan.)
      log.step(
        node.name,
        `machine ${node.name} is ${machine.state} (${machine.detail}) although Terraform recorded it: creating it again`,
      );
      await log.timed(node.name, `creating machine ${node.name} (${node.ip})`, () =>
        provider.createMachine(spec.cluster, node),
      );
    }
    const t = provider.transport(spec.cluster, node);
    await log.timed(node.name, "installing the runtime bundle", () => installOn(t, spec, { log, env: host.env }));
  },
};
