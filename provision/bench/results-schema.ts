// The one description of a benchmark results file, as written by
// `python -m dask_vm_runtime.bench` (cluster-runtime/dask_vm_runtime/bench/): a TypeBox
// schema that is real JSON Schema, the TypeScript type derived from it, and
// validateResults(), which checks a parsed file with ajv and reports every error with
// its path. Also the JSON-lines events the bench prints while it runs.
import { Type, type Static, type TSchema } from "@sinclair/typebox";
import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import { WORKLOADS } from "../core/config-schema.js";
import { UserError, type Problem } from "../core/errors.js";

export const RESULTS_SCHEMA_VERSION = 1;

const strict = { additionalProperties: false } as const;
const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);
const Seconds = (description: string) => Type.Number({ minimum: 0, description });
const Count = (description: string) => Type.Integer({ minimum: 0, description });
const Ratio = (description: string) => Type.Number({ description });
/** Node name → count, e.g. {"node1": 3, "node2": 3, "node3": 2}. */
const PerNode = (description: string) => Type.Record(Type.String(), Type.Integer({ minimum: 0 }), { description });

const NodeSchema = Type.Object(
  {
    name: Type.String({ minLength: 1, description: "Node name, e.g. node1." }),
    ip: Type.String({ minLength: 1, description: "The node's private IP (127.0.0.1 on a loopback test cluster)." }),
    threads: Type.Integer({ minimum: 1, description: "Worker threads on the node." }),
    memoryLimitMb: Type.Integer({ minimum: 0, description: "Worker memory limit in MiB (0: the worker's own)." }),
  },
  { ...strict, description: "A node as passed to the bench with --nodes." },
);

const WorkerHardware = Type.Object(
  {
    address: Type.String({ description: "Worker address, e.g. tls://192.168.56.11:40123." }),
    node: Type.String({ description: "The node the worker belongs to." }),
    host: Type.String({ description: "The worker's host as the scheduler sees it." }),
    name: Type.String({ description: "The worker's name." }),
    hostname: Type.String({ description: "hostname of the worker's machine." }),
    nthreads: Type.Integer({ minimum: 1 }),
    memoryLimitBytes: Count("The worker's memory limit (0: none)."),
    cpuCount: Count("os.cpu_count() on the worker's machine."),
    cpuAffinity: Count("CPUs the worker process may run on."),
    cpuModel: Type.String(),
    totalMemoryBytes: Count("Memory of the worker's machine."),
    platform: Type.String(),
    python: Type.String(),
    dask: Type.String(),
    distributed: Type.String(),
    numpy: Type.String(),
    pid: Type.Integer(),
  },
  { ...strict, description: "One worker, as it reported itself through client.run." },
);

const IncSleepRun = Type.Object(
  {
    seconds: Seconds("Wall time of the compute, graph submission to result."),
    total: Type.Integer(),
    correct: Type.Boolean(),
    tasksPerNode: PerNode("Which node ran how many of the inc tasks (from the scheduler's task stream)."),
  },
  strict,
);

export const INC_SLEEP_REDUCTIONS = ["python-sum", "delayed-sum"] as const;
export type IncSleepReduction = (typeof INC_SLEEP_REDUCTIONS)[number];

const IncSleepCase = Type.Object(
  {
    nodes: Type.Integer({ minimum: 1, description: "k: the case runs on the workers of the first k nodes." }),
    reduction: Type.Unsafe<IncSleepReduction>({
      type: "string",
      enum: [...INC_SLEEP_REDUCTIONS],
      description:
        "python-sum: total = sum(results), the write-up's code (a chain of add tasks); delayed-sum: total = dask.delayed(sum)(results).",
    }),
    nodeNames: Type.Array(Type.String()),
    workers: Type.Array(Type.String()),
    slots: Type.Integer({ minimum: 1, description: "Worker threads of those k nodes." }),
    idealSeconds: Seconds("ceil(tasks / slots) × delay: the time with no overhead at all."),
    seconds: Seconds("Median over the repeats."),
    minSeconds: Seconds("Fastest repeat."),
    speedup: Ratio("sequentialSeconds / seconds."),
    efficiency: Ratio("idealSeconds / seconds (1 = no overhead)."),
    overheadFraction: Ratio("seconds / idealSeconds − 1."),
    correct: Type.Boolean(),
    runs: Type.Array(IncSleepRun, { minItems: 1 }),
  },
  strict,
);

const IncSleep = Type.Object(
  {
    tasks: Type.Integer({ minimum: 1 }),
    delaySeconds: Seconds("Sleep inside each inc (1 s in the full size)."),
    expectedTotal: Type.Integer(),
    sequentialSeconds: Seconds("The same inc calls one after another in the client process, without Dask."),
    cases: Type.Array(IncSleepCase, { minItems: 1 }),
  },
  { ...strict, description: "Seed 1: 8 × inc(sleep) as dask.delayed on 1..N nodes." },
);

export const MAP_REDUCE_VARIANTS = ["per-item", "batched", "local-cluster"] as const;
export type MapReduceVariantName = (typeof MAP_REDUCE_VARIANTS)[number];

const MapReduceRun = Type.Object(
  { seconds: Seconds("Wall time, first map to the total."), total: Type.Integer(), correct: Type.Boolean() },
  strict,
);

const MapReduceVariant = Type.Object(
  {
    variant: Type.Unsafe<MapReduceVariantName>({ type: "string", enum: [...MAP_REDUCE_VARIANTS] }),
    target: Type.Unsafe<"cluster" | "local-cluster">({ type: "string", enum: ["cluster", "local-cluster"] }),
    workers: Type.Integer({ minimum: 1 }),
    threads: Type.Integer({ minimum: 1 }),
    partitions: Type.Integer({
      minimum: 1,
      description: "Tasks per stage: one per item, or one per chunk when batched.",
    }),
    graphTasks: Type.Integer({ minimum: 1, description: "Tasks actually submitted." }),
    seconds: Seconds("Median over the repeats."),
    minSeconds: Seconds("Fastest repeat."),
    tasksPerSecond: Ratio("The seed's tasks (2·items + 1) per second, for every variant."),
    graphTasksPerSecond: Ratio("graphTasks / seconds."),
    itemsPerSecond: Ratio("items / seconds."),
    correct: Type.Boolean(),
    runs: Type.Array(MapReduceRun, { minItems: 1 }),
  },
  strict,
);

const MapReduce = Type.Object(
  {
    items: Type.Integer({ minimum: 1 }),
    seedTasks: Type.Integer({ minimum: 1, description: "2·items + 1: map(square), map(neg), submit(sum)." }),
    expectedTotal: Type.Integer({ description: "−Σ x² over range(items)." }),
    localCluster: Type.Object(
      {
        nWorkers: Type.Integer({ minimum: 1 }),
        threadsPerWorker: Type.Integer({ minimum: 1 }),
        processes: Type.Boolean(),
        host: Type.String(),
        memoryLimitBytes: Nullable(Count("Per worker.")),
        scheduler: Type.String(),
        workerSaturation: Type.String({
          description: "distributed.scheduler.worker-saturation of the LocalCluster's scheduler.",
        }),
      },
      { ...strict, description: "The LocalCluster started on the client's machine as the peer." },
    ),
    variants: Type.Array(MapReduceVariant, { minItems: 1 }),
  },
  {
    ...strict,
    description: "Seed 2: client.map(square) → map(neg) → submit(sum), per item, batched, and on a LocalCluster.",
  },
);

const Placement = Type.Object(
  {
    tasks: Type.Integer({ minimum: 1 }),
    delaySeconds: Seconds("Length of each task."),
    totalSlots: Type.Integer({ minimum: 1 }),
    idealSeconds: Seconds("ceil(tasks / totalSlots) × delay."),
    seconds: Seconds("Median over the repeats."),
    maxShareDeviation: Ratio("Largest |observed share − slots share| over the nodes."),
    perNode: Type.Array(
      Type.Object(
        {
          node: Type.String(),
          slots: Type.Integer({ minimum: 0 }),
          expectedShare: Ratio("slots / totalSlots."),
          expectedTasks: Ratio("tasks × expectedShare."),
          tasks: Ratio("Tasks the node ran, mean over the repeats."),
          share: Ratio("tasks / total tasks."),
        },
        strict,
      ),
      { minItems: 1 },
    ),
    runs: Type.Array(
      Type.Object({ seconds: Seconds("Wall time."), tasksPerNode: PerNode("Tasks per node in this run.") }, strict),
      { minItems: 1 },
    ),
  },
  { ...strict, description: "Seed 2 (Dispy): equal tasks over nodes follow the slots." },
);

const WorkerMemory = Type.Object(
  {
    address: Type.String(),
    node: Type.String(),
    maxRssBytes: Count("Peak resident memory of the worker process since it started."),
    spilledBytes: Count("Bytes the worker spilled to disk during the case."),
  },
  strict,
);

/** What every SVD case records: where it ran, its times, values, errors and worker memory. */
const SvdCaseCore = {
  nodes: Type.Integer({ minimum: 1 }),
  nodeNames: Type.Array(Type.String()),
  workers: Type.Array(Type.String()),
  slots: Type.Integer({ minimum: 1 }),
  seconds: Seconds("Median over the repeats: svd_compressed and the compute of u, s, v."),
  minSeconds: Seconds("Fastest repeat."),
  singularValues: Type.Array(Type.Number()),
  relativeErrors: Nullable(Type.Array(Type.Number({ minimum: 0 }))),
  maxRelativeError: Nullable(Type.Number({ minimum: 0 })),
  workerMemory: Type.Array(WorkerMemory),
  runs: Type.Array(
    Type.Object({ seconds: Seconds("Wall time."), maxRelativeError: Nullable(Type.Number({ minimum: 0 })) }, strict),
    { minItems: 1 },
  ),
};

const SvdCase = Type.Object(SvdCaseCore, strict);

const ResidualCheck = Type.Object(
  {
    nodes: Type.Integer({ minimum: 1 }),
    seconds: Seconds("One more pass over the matrix, not timed with the cases."),
    relativeResiduals: Type.Array(Type.Number({ minimum: 0 })),
    maxRelativeResidual: Type.Number({ minimum: 0 }),
  },
  { ...strict, description: "‖X·vᵢ − sᵢ·uᵢ‖ / sᵢ of the last decomposition." },
);

const Svd = Type.Object(
  {
    source: Type.Unsafe<"planted" | "ratings-file">({
      type: "string",
      enum: ["planted", "ratings-file"],
      description: "planted; ratings-file only in runs before svd-ratings took ratings files over.",
    }),
    file: Type.Optional(
      Nullable(
        Type.Object(
          {
            path: Type.String(),
            ratings: Count("Ratings read."),
            films: Count("Rows."),
            users: Count("Columns."),
            density: Type.Number({ minimum: 0, maximum: 1 }),
          },
          strict,
        ),
      ),
    ),
    shape: Type.Tuple([Type.Integer({ minimum: 1 }), Type.Integer({ minimum: 1 })], { description: "[films, users]." }),
    chunks: Type.Tuple([Type.Integer({ minimum: 1 }), Type.Integer({ minimum: 1 })], { description: "Block shape." }),
    blocks: Type.Integer({ minimum: 1 }),
    matrixBytes: Count("films × users × 8."),
    minWorkerMemoryLimitBytes: Count("The smallest worker memory limit."),
    memoryRatio: Ratio("matrixBytes / minWorkerMemoryLimitBytes."),
    k: Type.Integer({ minimum: 1 }),
    nPowerIter: Type.Integer({ minimum: 0 }),
    nOversamples: Type.Integer({ minimum: 0 }),
    passesOverMatrix: Type.Integer({ minimum: 1 }),
    seed: Type.Integer(),
    noise: Nullable(Type.Number({ minimum: 0 })),
    plantedSingularValues: Nullable(Type.Array(Type.Number())),
    cases: Type.Array(SvdCase, { minItems: 1 }),
    check: ResidualCheck,
  },
  { ...strict, description: "Seed 2: svd_compressed of a films × users matrix generated on the workers." },
);

const Top = (description: string) => Type.Array(Type.Number(), { minItems: 1, description });
const Errors = Type.Array(Type.Number({ minimum: 0 }), { description: "|value − reference| / reference, top-k." });

const RatingsCase = Type.Object(
  {
    ...SvdCaseCore,
    held: Type.Boolean({
      description:
        "The matrix was built on the case's workers and held there (true), or its blocks were made again on every pass because it would take too much of their memory (false, generated sets only).",
    }),
    blocks: Type.Optional(
      Type.Integer({ minimum: 1, description: "Row blocks of the case: two per worker thread, at most one per unit." }),
    ),
    ratings: Count("Non-zeros of the matrix the case decomposed."),
    loadSeconds: Seconds(
      "Building the matrix on the case's workers (parse or generate, then hold), not timed with the SVD.",
    ),
  },
  strict,
);

const SvdRatings = Type.Object(
  {
    source: Type.Object(
      {
        kind: Type.Unsafe<"file" | "data" | "generated">({
          type: "string",
          enum: ["file", "data", "generated"],
          description:
            "file: a ratings file on the client's node, sent to the workers in byte ranges; data: each node's own copy (npm run data -- push); generated: made on the workers from the seed.",
        }),
        label: Type.String({
          description: "As given to --svd-matrix, e.g. generated:ml-32m or data:movielens/ratings.csv.",
        }),
        shape: Nullable(Type.String({ description: "The generated set's MovieLens shape." })),
        path: Nullable(Type.String()),
      },
      strict,
    ),
    dataset: Type.Object(
      {
        films: Count("Rows: films with a rating (a file) or the shape's films (generated)."),
        users: Count("Columns."),
        ratings: Count("Non-zeros."),
        density: Type.Number({ minimum: 0, maximum: 1 }),
        generated: Type.Optional(Type.String()),
        seed: Type.Optional(Type.Integer()),
        file: Type.Optional(Type.String()),
        lines: Type.Optional(Count("Lines of the file, its header included.")),
        bytes: Type.Optional(Count("Size of the file.")),
        header: Type.Optional(Type.Boolean()),
        columns: Type.Optional(Type.Array(Type.String())),
      },
      strict,
    ),
    shape: Type.Tuple([Type.Integer({ minimum: 1 }), Type.Integer({ minimum: 1 })], { description: "[films, users]." }),
    sparseBytes: Count(
      "ratings × 8: the matrix as the cluster holds it, SciPy csr_matrix of float32 values (half stars are exact in it) and int32 column indices (12 in runs before float32).",
    ),
    denseBytes: Count("films × users × 8: what densifying it would take."),
    minWorkerMemoryLimitBytes: Count("The smallest worker memory limit."),
    blocks: Type.Integer({ minimum: 1, description: "Row blocks of the matrix in the largest case." }),
    rowsPerBlock: Count("Films per block (about)."),
    ratingsPerBlock: Count("Ratings per block (mean)."),
    workToSpread: Type.Object(
      {
        blocksPerThread: Type.Number({ minimum: 0 }),
        ratingsPerBlock: Type.Number({ minimum: 0 }),
        enough: Type.Boolean({ description: "Whether the speed-up is worth judging." }),
        rule: Type.String(),
      },
      { ...strict, description: "Whether there is work to spread: blocks per worker thread and work per block." },
    ),
    k: Type.Integer({ minimum: 1 }),
    iterator: Type.Unsafe<"power" | "QR">({
      type: "string",
      enum: ["power", "QR"],
      description: "svd_compressed's iterator: QR orthonormalizes between power iterations.",
    }),
    nPowerIter: Type.Integer({ minimum: 0 }),
    nOversamples: Type.Integer({ minimum: 0 }),
    passesOverMatrix: Type.Integer({ minimum: 1 }),
    seed: Type.Integer(),
    reference: Nullable(
      Type.Object(
        {
          kind: Type.Unsafe<"exact" | "svds">({
            type: "string",
            enum: ["exact", "svds"],
            description: "exact: numpy's SVD of the dense matrix; svds: SciPy's svds to machine precision (tol=0).",
          }),
          tool: Type.String(),
          singularValues: Top("Top-k, largest first."),
        },
        strict,
      ),
    ),
    peer: Nullable(
      Type.Object(
        {
          tool: Type.String(),
          node: Type.String({ description: "Where it ran: the client's node." }),
          shape: Type.Array(Type.Integer({ minimum: 0 })),
          ratings: Count("Non-zeros."),
          loadSeconds: Seconds("Reading or generating the whole matrix in one process."),
          seconds: Seconds("svds alone."),
          peakRssBytes: Count("Peak memory of the peer's process, its load included."),
          singularValues: Top("Top-k, largest first."),
          relativeErrors: Errors,
          maxRelativeError: Type.Number({ minimum: 0 }),
          exact: Nullable(
            Type.Object(
              {
                tool: Type.String(),
                seconds: Seconds("Densifying and the dense SVD."),
                denseBytes: Count("The dense matrix."),
                peakRssBytes: Count("Peak memory of the process after it."),
                singularValues: Top("Top-k, largest first."),
              },
              strict,
            ),
          ),
        },
        { ...strict, description: "The single-machine tool a student would use instead, in a process of its own." },
      ),
    ),
    peerSkipped: Nullable(
      Type.String({ description: "Why the peer did not run: its memory need against what node 1 has free." }),
    ),
    cases: Type.Array(RatingsCase, { minItems: 1 }),
    check: ResidualCheck,
  },
  {
    ...strict,
    description:
      "Seed 2, the write-up's own SVD: svd_compressed of a sparse films × users ratings matrix, against a reference and the single-machine peer.",
  },
);

export const ResultsSchema = Type.Object(
  {
    schemaVersion: Type.Literal(RESULTS_SCHEMA_VERSION),
    startedAt: Type.String({ description: "ISO 8601, UTC." }),
    finishedAt: Type.String({ description: "ISO 8601, UTC." }),
    durationSeconds: Seconds("The whole run."),
    scheduler: Type.Object(
      {
        address: Type.String(),
        id: Nullable(Type.String()),
        workers: Type.Integer({ minimum: 1 }),
        threads: Type.Integer({ minimum: 1 }),
        workerSaturation: Type.String({
          description:
            'distributed.scheduler.worker-saturation the scheduler runs with ("1.1", "inf"): how many tasks a worker holds at once.',
        }),
      },
      strict,
    ),
    nodes: Type.Array(NodeSchema, { minItems: 1 }),
    client: Type.Object(
      {
        hostname: Type.String(),
        python: Type.String(),
        dask: Type.String(),
        distributed: Type.String(),
        numpy: Type.String(),
        platform: Type.String(),
        loadAverage: Type.Optional(
          Type.Object(
            {
              start: Nullable(Type.Array(Type.Number(), { minItems: 3, maxItems: 3 })),
              end: Nullable(Type.Array(Type.Number(), { minItems: 3, maxItems: 3 })),
            },
            {
              ...strict,
              description:
                "1/5/15-minute load average of the client machine at the start and end of the run (null where the OS has none).",
            },
          ),
        ),
      },
      { ...strict, description: "The machine and software of the benchmark client (node1 on a real cluster)." },
    ),
    hardware: Type.Array(WorkerHardware, { minItems: 1 }),
    config: Type.Object(
      {
        scheduler: Type.String(),
        tlsDir: Nullable(Type.String()),
        nodes: Type.Array(NodeSchema),
        workloads: Type.Array(Type.Unsafe<(typeof WORKLOADS)[number]>({ type: "string", enum: [...WORKLOADS] })),
        size: Type.Unsafe<"small" | "full">({ type: "string", enum: ["small", "full"] }),
        repeats: Type.Integer({ minimum: 1 }),
        seed: Type.Integer(),
        nodeCounts: Type.Array(Type.Integer({ minimum: 1 })),
        out: Type.String(),
        svdMatrix: Nullable(Type.String()),
        svdK: Type.Integer({ minimum: 1 }),
        svdPowerIter: Nullable(Type.Integer({ minimum: 0, description: "null: each SVD workload's own setting." })),
        svdOversamples: Nullable(Type.Integer({ minimum: 0, description: "null: each SVD workload's own setting." })),
        svdMemoryFactor: Type.Number({ exclusiveMinimum: 0 }),
        timeout: Type.Number({ exclusiveMinimum: 0 }),
        hostCpus: Type.Optional(
          Nullable(
            Type.Integer({
              minimum: 1,
              description:
                "CPUs of the one computer every node runs on (namespaces, or VMs on it), which bound what the nodes can use together; null when the nodes are machines of their own. Absent in runs before it was recorded.",
            }),
          ),
        ),
      },
      { ...strict, description: "Every parameter of the run." },
    ),
    workloads: Type.Object(
      {
        "inc-sleep": Type.Optional(IncSleep),
        "map-reduce": Type.Optional(MapReduce),
        placement: Type.Optional(Placement),
        svd: Type.Optional(Svd),
        "svd-ratings": Type.Optional(SvdRatings),
      },
      strict,
    ),
  },
  {
    ...strict,
    $id: "https://dask-vm-cluster.local/schemas/bench-results.json",
    description: "Results of python -m dask_vm_runtime.bench.",
  },
);

export type Results = Static<typeof ResultsSchema>;
export type IncSleepResults = Static<typeof IncSleep>;
export type MapReduceResults = Static<typeof MapReduce>;
export type PlacementResults = Static<typeof Placement>;
export type SvdResults = Static<typeof Svd>;
export type SvdRatingsResults = Static<typeof SvdRatings>;

let compiled: ValidateFunction | undefined;
function validator(): ValidateFunction {
  compiled ??= new Ajv({ allErrors: true, strict: false }).compile(ResultsSchema);
  return compiled;
}

function describe(e: ErrorObject): Problem {
  const at = e.instancePath || "/";
  if (e.keyword === "additionalProperties") {
    const extra = String((e.params as { additionalProperty: string }).additionalProperty);
    return {
      path: `${e.instancePath}/${extra}`,
      message: "is not part of the results schema",
      fix: "the bench and provision/bench/results-schema.ts are out of sync: update the schema with the bench",
    };
  }
  if (e.keyword === "required") {
    const missing = String((e.params as { missingProperty: string }).missingProperty);
    return {
      path: `${e.instancePath}/${missing}`,
      message: "is missing",
      fix: "the bench and provision/bench/results-schema.ts are out of sync, or the run was cut short",
    };
  }
  return { path: at, message: e.message ?? e.keyword };
}

/** Checks a parsed results file; returns it typed, or throws with every error and its path. */
export function validateResults(json: unknown): Results {
  const validate = validator();
  if (validate(json)) return json as Results;
  const problems = (validate.errors ?? []).map(describe);
  throw new UserError(
    `the benchmark results do not match the results schema (${problems.length} error${problems.length === 1 ? "" : "s"})`,
    1,
    problems,
  );
}

// --- events (stdout of the bench, one JSON object per line) -----------------------------

const Position = {
  done: Type.Integer({ minimum: 0, description: "Cases of this workload finished." }),
  total: Type.Integer({ minimum: 0, description: "Cases of this workload." }),
  casesDone: Type.Integer({ minimum: 0, description: "Cases of the run finished." }),
  totalCases: Type.Integer({ minimum: 0, description: "Cases of the run." }),
};

export const BenchEventSchema = Type.Union([
  Type.Object({
    event: Type.Literal("start"),
    time: Type.Number(),
    schemaVersion: Type.Integer(),
    workloads: Type.Array(Type.String()),
    size: Type.String(),
    nodeCounts: Type.Array(Type.Integer()),
    repeats: Type.Integer(),
    totalCases: Type.Integer(),
    scheduler: Type.String(),
  }),
  Type.Object({
    event: Type.Literal("progress"),
    time: Type.Number(),
    workload: Type.String(),
    step: Type.String(),
    ...Position,
  }),
  Type.Object({
    event: Type.Literal("case"),
    time: Type.Number(),
    workload: Type.String(),
    step: Type.String(),
    ...Position,
    summary: Type.Record(Type.String(), Type.Unknown()),
  }),
  Type.Object({ event: Type.Literal("done"), time: Type.Number(), out: Type.String(), seconds: Type.Number() }),
  Type.Object({ event: Type.Literal("error"), time: Type.Number(), message: Type.String(), exitCode: Type.Integer() }),
]);
export type BenchEvent = Static<typeof BenchEventSchema>;

let compiledEvent: ValidateFunction | undefined;
/** One stdout line of the bench as an event, or undefined when it is not one. */
export function parseBenchEvent(line: string): BenchEvent | undefined {
  compiledEvent ??= new Ajv({ strict: false }).compile(BenchEventSchema);
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined;
  }
  return compiledEvent(value) ? (value as BenchEvent) : undefined;
}
