// The final stage: the benchmark suite, run by a client on node 1, results copied back to
// results/<timestamp>/. Its destroy keeps the results: they are the user's.
import type { Construct } from "constructs";

import type { ClusterRef } from "../../provision/core/stage-spec.js";
import { StageResource } from "./stage-resource.js";
import type { Worker } from "./worker.js";
import type { ClusterConfig } from "../../provision/core/config-schema.js";

export interface BenchmarkProps {
  /** The cluster to measure. */
  readonly cluster: ClusterRef;
  /** Which workloads, sizes and repeats. */
  readonly benchmark: ClusterConfig["benchmark"];
  /** Scheduler address and TLS. */
  readonly dask: ClusterConfig["dask"];
  /** Runs once every worker is up. */
  readonly workers: readonly Worker[];
}

export class Benchmark extends StageResource {
  constructor(scope: Construct, id: string, props: BenchmarkProps) {
    super(scope, id, {
      spec: { stage: "benchmark", cluster: props.cluster, benchmark: props.benchmark, dask: props.dask },
      upstream: Object.fromEntries(props.workers.map((w, k) => [`worker_${k + 1}`, w])),
      undo: false,
    });
  }
}
