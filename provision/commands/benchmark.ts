// `npm run benchmark`: parses the options, then runs the benchmark on the deployed
// cluster (provision/bench/run.ts), or with --render draws an earlier run again.
import { existsSync, statSync } from "node:fs";
import path from "node:path";
import { render, runBenchmark } from "../bench/run.js";
import { intFlag, parseCli } from "../core/cli-args.js";
import { WORKLOADS, type WorkloadName } from "../core/config-schema.js";
import { operatorContext } from "../state/cluster-ref.js";
import { deployedDask } from "../state/deployed.js";
import { badInput } from "../core/errors.js";

const USAGE = `usage: npm run benchmark -- [options]
  --workloads a,b     which of ${WORKLOADS.join(", ")} (default: benchmark.workloads from the config, all)
  --size small|full   small finishes in about a minute (default: benchmark.size, full)
  --repeats N         repeats of each measurement (default: benchmark.repeats, 1)
  --nodes 1,2,3       node counts for the scaling workloads (default: 1..N)
  --seed N            random seed (default: benchmark.seed, 42)
  --svd-matrix M      svd-ratings' matrix (alone, it runs just that workload):
                        FILE                a MovieLens ratings.csv on this computer, sent
                                            to the workers (userId,movieId,rating[,timestamp])
                        data:NAME/FILE      each node's own copy (npm run data -- push FOLDER)
                        generated:ml-32m    MovieLens 32M's shape, made on the workers
                        generated:ml-10m    MovieLens 10M's shape
                        generated:ml-latest-small
                      (default: generated:ml-32m; ml-10m where workers have under 1 GiB,
                      as on an 8 GB laptop; ml-latest-small with --size small)
  --out DIR           results root (default: ./results)
  --no-verify         skip the version check before running (default: check)
  --render DIR        run nothing: validate DIR/results.json (an earlier run) and write its
                      report.md and charts again, with this version's report and goals`;

/** Where svd-ratings' matrix comes from: a file of this computer (resolved from the folder npm ran in), or a node-side source passed through. */
export function svdMatrixArg(value: string, cwd: string): { readonly file?: string; readonly source?: string } {
  if (/^(data|generated):/.test(value)) return { source: value };
  const file = path.resolve(cwd, value);
  if (!existsSync(file) || !statSync(file).isFile())
    throw badInput(`--svd-matrix ${value} is not a file`, [
      {
        path: "--svd-matrix",
        message: `${file}: no such file`,
        fix: "give a MovieLens ratings.csv (userId,movieId,rating[,timestamp]), data:NAME/FILE for the nodes' copies, or generated:ml-32m",
      },
    ]);
  return { file };
}

export async function cli(argv: readonly string[], cwd = process.env.INIT_CWD ?? process.cwd()): Promise<number> {
  const parsed = parseCli(argv, USAGE, {
    workloads: { type: "string" },
    size: { type: "string" },
    repeats: { type: "string" },
    nodes: { type: "string" },
    seed: { type: "string" },
    "svd-matrix": { type: "string" },
    out: { type: "string" },
    "no-verify": { type: "boolean", default: false },
    render: { type: "string" },
  });
  if (!parsed) return 0;
  const { values } = parsed;
  if (values.render !== undefined) return render(path.resolve(values.render));
  const { config, deployed, provider } = operatorContext();
  const cluster = deployed.cluster;
  const dask = deployedDask(deployed);
  const s = deployed.benchmark ?? config.config.benchmark;
  const matrix = values["svd-matrix"] ? svdMatrixArg(values["svd-matrix"], cwd) : undefined;
  // A matrix given alone is a request to decompose it: only svd-ratings runs.
  const workloads =
    values.workloads?.split(",").map((w) => w.trim()) ?? (matrix ? (["svd-ratings"] as WorkloadName[]) : s.workloads);
  const unknown = workloads.filter((w) => !(WORKLOADS as readonly string[]).includes(w));
  if (unknown.length)
    throw badInput(`unknown workload ${unknown.join(", ")}`, [
      {
        path: "--workloads",
        message: `"${unknown.join(",")}" is not a workload`,
        fix: `use a comma-separated list of: ${WORKLOADS.join(", ")}`,
      },
    ]);
  if (values.size !== undefined && values.size !== "small" && values.size !== "full")
    throw badInput(`--size ${values.size} is not valid`, [
      { path: "--size", message: `"${values.size}"`, fix: "use small or full" },
    ]);
  if (matrix && !workloads.includes("svd-ratings"))
    throw badInput(`--svd-matrix feeds the svd-ratings workload, which --workloads ${values.workloads} leaves out`, [
      {
        path: "--workloads",
        message: `"${values.workloads}" has no svd-ratings`,
        fix: `add it, e.g. --workloads svd-ratings (svd is the generated dense matrix; allowed: ${WORKLOADS.join(", ")})`,
      },
    ]);
  const nodeCounts = values.nodes?.split(",").map((v) => intFlag("nodes", v, 1, cluster.nodes.length)!);
  const settings = {
    ...s,
    workloads: workloads as WorkloadName[],
    size: (values.size as "small" | "full" | undefined) ?? s.size,
    repeats: intFlag("repeats", values.repeats, 1, 20) ?? s.repeats,
    seed: intFlag("seed", values.seed, 0, 2 ** 31) ?? s.seed,
  };
  await runBenchmark({
    cluster,
    provider,
    settings,
    dask,
    runtime: values["no-verify"] ? undefined : deployed.runtime,
    nodeCounts,
    svdMatrix: matrix,
    outRoot: values.out ? path.resolve(values.out) : undefined,
  });
  return 0;
}
