// box: the base image, once, before any machine (box add, and the libvirt pool upload
// parallel machine stages must not race for), and the machine list the Vagrantfile reads.
import type { Stage } from "./stage-types.js";
import { boxOf } from "../core/stage-spec.js";

export const box: Stage = {
  name: "box",
  async apply({ spec, provider, log }) {
    await log.timed("box", "preparing the base image and machine list", () =>
      provider.prepareBox(spec.cluster, boxOf(spec)),
    );
  },
  async destroy({ spec, provider }) {
    await provider.removeBox(spec.cluster, boxOf(spec));
  },
};
