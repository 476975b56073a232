// Machine-layer stages: preflight, network, box, machine. The only stages that call the
// provider's machine methods; everything after them goes through a Transport.
import { providerFor } from "../lib/providers/index.js";
import { nodeOf, type StageSpec } from "../lib/spec.js";
import { timed } from "../lib/log.js";
import type { StageImpl } from "./index.js";

const DEFAULT_BOX = { name: "", version: "", url: "" };

export const preflight: StageImpl = {
  async apply(spec) {
    const p = await providerFor(spec.cluster.provider);
    await timed("preflight", `checking the host for the ${spec.cluster.provider} provider`, () => p.preflight(spec.cluster, spec.box ?? DEFAULT_BOX));
  },
  async destroy() {},
};

export const network: StageImpl = {
  async apply(spec) {
    const p = await providerFor(spec.cluster.provider);
    await timed("network", `creating private network ${spec.cluster.subnet}`, () => p.createNetwork(spec.cluster));
  },
  async destroy(spec) {
    const p = await providerFor(spec.cluster.provider);
    await timed("network", `removing private network ${spec.cluster.subnet}`, () => p.destroyNetwork(spec.cluster));
  },
};

export const box: StageImpl = {
  async apply(spec) {
    const p = await providerFor(spec.cluster.provider);
    await timed("box", "preparing the base image and machine list", () => p.prepareBox(spec.cluster, spec.box ?? DEFAULT_BOX));
  },
  async destroy(spec) {
    const p = await providerFor(spec.cluster.provider);
    await p.removeBox(spec.cluster, spec.box ?? DEFAULT_BOX);
  },
};

export const machine: StageImpl = {
  async apply(spec: StageSpec) {
    const node = nodeOf(spec);
    const p = await providerFor(spec.cluster.provider);
    await timed(node.name, `creating machine ${node.name} (${node.ip})`, () => p.createMachine(spec.cluster, node));
  },
  async destroy(spec: StageSpec) {
    const node = nodeOf(spec);
    const p = await providerFor(spec.cluster.provider);
    await timed(node.name, `destroying machine ${node.name}`, () => p.destroyMachine(spec.cluster, node));
  },
};
