// network: the private network the nodes share (a VirtualBox host-only network, an
// isolated libvirt network, a bridge in a namespace of its own). Destroy removes what
// this stage made, and nothing it found there.
import type { Stage } from "../lib/stage.js";

export const network: Stage = {
  name: "network",
  async apply({ spec, provider, log }) {
    await log.timed("network", `creating private network ${spec.cluster.subnet}`, () => provider.createNetwork(spec.cluster));
  },
  async destroy({ spec, provider, log }) {
    await log.timed("network", `removing private network ${spec.cluster.subnet}`, () => provider.destroyNetwork(spec.cluster));
  },
};
