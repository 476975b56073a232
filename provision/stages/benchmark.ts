// benchmark: the deploy's final stage, the benchmark suite from node 1 (the version gate
// already ran in this deploy). Results are the user's: results/ stays after destroy.
import type { Stage } from "./stage-types.js";
import { daskOf } from "../core/stage-spec.js";

export const benchmark: Stage = {
  name: "benchmark",
  async apply({ spec, provider }) {
    if (!spec.benchmark) throw new Error("benchmark stage without benchmark settings");
    // Loaded here: its charts (vega) cost a second that no other stage should pay.
    const { runBenchmark } = await import("../bench/run.js");
    await runBenchmark({ cluster: spec.cluster, provider, settings: spec.benchmark, dask: daskOf(spec) });
  },
};
