// version-gate: every node's Python, packages, bundle, OS and architecture compared with
// the lock and with each other (services/version-gate/gate.ts); drift stops the deploy before any
// service starts.
import { UserError } from "../core/errors.js";
import { runtimeOf } from "../core/stage-spec.js";
import type { Stage } from "./stage-types.js";
import { verify } from "../services/version-gate/gate.js";

export const versionGate: Stage = {
  name: "version-gate",
  async apply({ spec, provider }) {
    const code = await verify({
      cluster: spec.cluster,
      provider,
      runtime: runtimeOf(spec),
      services: false,
      json: false,
      all: false,
      fix: false,
    });
    if (code !== 0) {
      throw new UserError("the version gate found drift between the nodes: no service was started", 1, [
        {
          path: "nodes",
          message: "see the table above",
          fix: "run npm run verify-versions -- --fix, then cdktf deploy again",
        },
      ]);
    }
  },
};
