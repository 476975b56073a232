// network: the private network the nodes share (a VirtualBox host-only network, an
// isolated libvirt network, a bridge in a namespace of its own). Destroy removes what
// this stage made, and nothing it found there. Done only when the provider lists it as up.
import { rm } from "node:fs/promises";
import { hostProfileDir } from "../services/client-profile.js";
import { UserError } from "../core/errors.js";
import { appliedDir } from "../state/observe.js";
import type { Stage } from "./stage-types.js";

export const network: Stage = {
  name: "network",
  async apply({ spec, provider, log }) {
    await log.timed("network", `creating private network ${spec.cluster.subnet}`, () =>
      provider.createNetwork(spec.cluster),
    );
    // Its own outcome, as the plan's observation will see it next time.
    if (!(await provider.networkPresent(spec.cluster))) {
      throw new UserError(`the private network ${spec.cluster.subnet} is not there after it was made`, 1, [
        {
          path: "network",
          message: "the provider made it, but does not list it as present and up",
          fix: "run npm run doctor, then cdktf deploy again",
        },
      ]);
    }
  },
  async destroy({ spec, provider, log }) {
    await log.timed("network", `removing private network ${spec.cluster.subnet}`, () =>
      provider.destroyNetwork(spec.cluster),
    );
    // The cluster is gone with its network: so are the records of finished applies
    // (state/observe.ts), those of stages with nothing of their own to undo included.
    await rm(appliedDir(spec.cluster.clusterDir), { recursive: true, force: true });
    // And what npm run connect and npm run notebook made on this computer for it
    // (.cluster/client: the connection profile, the client venv, the notebook's token).
    await rm(hostProfileDir(spec.cluster.clusterDir), { recursive: true, force: true });
  },
};
