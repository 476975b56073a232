// `npm run chaos -- <fault> [node] [--for 30s]`: break your own cluster on purpose and watch
// Dask cope. The faults the test suite performs (test/faults.local.test.ts), as a learner's
// tool: each prints what to watch (npm run status, which dashboard page) and what Dask
// should do. The node's side is the runtime's (cluster-runtime/dask_vm_runtime/chaos.py);
// timed faults end by themselves; `restore` ends every fault now, waits for every worker
// and runs diagnose. On provider ssh (machines you already had) it refuses without --yes.
import { badInput, UserError } from "../core/errors.js";
import { parseCli } from "../core/cli-args.js";
import type { NodeSpec } from "../core/model.js";
import { nodePaths } from "../core/node-paths.js";
import { step } from "../core/log.js";
import { shq, type Transport } from "../machines/transport.js";
import type { MachineProvider } from "../machines/provider.js";
import { schedulerAddress } from "../services/definitions.js";
import { waitForClusterWorkers } from "../services/probe.js";
import { nodeByName, operatorContext } from "../state/cluster-ref.js";
import { deployedDask, type Deployed } from "../state/deployed.js";
import { diagnoseDeployed } from "./diagnose.js";

interface Fault {
  /** What the fault does, for the usage. */
  readonly does: string;
  readonly timed: boolean;
  /** Whether it takes a node (else node 1). */
  readonly onNode: boolean;
  /** What to look at while it lasts. */
  readonly watch: (node: string) => string;
  /** What Dask should do. */
  readonly dask: (node: string) => string;
  readonly defaultFor: number;
}

export const FAULTS = {
  "kill-worker": {
    does: "SIGKILL to a node's worker process",
    timed: false,
    onNode: true,
    defaultFor: 0,
    watch: (n) =>
      `npm run status: ${n} is listed again within seconds (a new worker process; its service did not restart, its nanny did the work); dashboard (npm run dashboard) page /workers: ${n} leaves and comes back`,
    dask: (n) =>
      `the nanny on ${n} starts a new worker process at once; the tasks and data the dead one held are computed again elsewhere (a task whose worker dies more than distributed.scheduler.allowed-failures times ends as KilledWorker)`,
  },
  "kill-scheduler": {
    does: "SIGKILL to the scheduler (node 1)",
    timed: false,
    onNode: false,
    defaultFor: 0,
    watch: () =>
      "npm run status: the scheduler's restarts count goes up; the dashboard stops answering and comes back with the new scheduler",
    dask: () =>
      "every client loses its connection (a running computation fails: submit it again); the service manager starts a new scheduler within seconds; the workers find it again by themselves; whatever the old one held is gone",
  },
  "cut-link": {
    does: "a node's link to the private network down",
    timed: true,
    onNode: true,
    defaultFor: 45,
    watch: (n) =>
      `npm run status: ${n} stays listed until the scheduler has heard nothing from it for 30 s (worker-ttl), then it is gone; dashboard /workers: its "last seen" grows`,
    dask: (n) =>
      `after 30 s without a heartbeat the scheduler removes ${n}'s worker and runs its tasks on the others; when the link is back the worker registers again by itself`,
  },
  "slow-cpu": {
    does: "a node's worker held to a share of the CPU (--percent)",
    timed: true,
    onNode: true,
    defaultFor: 60,
    watch: (n) =>
      `dashboard /status: ${n}'s bars in the Task Stream grow longer; /workers: its CPU stays near the share; npm run benchmark meanwhile shows the slowest node setting the pace`,
    dask: () =>
      "the scheduler learns that tasks take longer there and moves queued tasks to the faster workers (work stealing); nothing fails",
  },
  "fill-memory": {
    does: "data pinned to a node's worker, 75 % of its memory limit (--fraction)",
    timed: true,
    onNode: true,
    defaultFor: 60,
    watch: (n) =>
      `npm run status: ${n}'s memory and spilled bytes; dashboard /workers: its memory bar turns grey (spilled to disk)`,
    dask: () =>
      "above 60 % of its memory limit (distributed.worker.memory.target) the worker moves its oldest data to disk and reads it back when needed; at 80 % it pauses (takes no new task); at 95 % its nanny restarts it",
  },
} as const satisfies Record<string, Fault>;

type FaultName = keyof typeof FAULTS;
const NAMES = [...Object.keys(FAULTS), "restore"];

const USAGE = `usage: npm run chaos -- <fault> [node] [--for DURATION] [--yes]
faults:
${Object.entries(FAULTS)
  .map(([k, f]) => `  ${k.padEnd(16)}${f.does}${f.timed ? ` (--for, default ${f.defaultFor}s)` : ""}`)
  .join("\n")}
  restore         ends every fault now, waits for every worker, then runs diagnose
  node            the node (default: the last one; node 1 holds the scheduler)
  --for DURATION  how long a timed fault lasts: 30s, 2m (5s to 30m); it ends by itself
  --percent P     slow-cpu: the share of the CPU the worker keeps, 1-99 (default 25)
  --fraction F    fill-memory: of the worker's memory limit, 0.1-0.95 (default 0.75)
  --yes           needed with provider ssh: those are machines you already had
exit: 0 the fault is on (restore: the cluster is healthy again); 1 it could not be put
(restore: still unhealthy); 2 bad input`;

/** "30s", "2m", "90" → seconds; undefined when it is not a duration. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*(s|sec|m|min)?$/.exec(text.trim());
  if (!m) return undefined;
  return Number(m[1]) * (m[2]?.startsWith("m") ? 60 : 1);
}

function nodeArgs(t: Transport, manager: string): string {
  return `--root ${shq(t.root)} --manager ${manager}`;
}

async function onNode(t: Transport, args: string): Promise<Record<string, unknown>> {
  const r = await t.run(`${shq(nodePaths(t.root).python)} -m dask_vm_runtime chaos ${args}`, {
    nothrow: true,
    timeoutMs: 120_000,
  });
  if (r.exitCode !== 0)
    throw new UserError(`chaos on ${t.node} failed: ${r.stderr.trim().split("\n").slice(-2).join(" ")}`, 1);
  return JSON.parse(r.stdout.trim().split("\n").pop()!) as Record<string, unknown>;
}

/** Ends every fault on every node, starts what is down, waits for every worker, then diagnose. */
export async function restoreCluster(
  deployed: Deployed,
  provider: MachineProvider,
  opts: { diagnose?: boolean } = {},
): Promise<number> {
  const ref = deployed.cluster;
  const dask = deployedDask(deployed);
  await Promise.all(
    ref.nodes.map(async (n: NodeSpec) => {
      const t = provider.transport(ref, n);
      const services = n.name === ref.head.name ? "scheduler,worker" : "worker";
      const r = (await onNode(t, `restore ${nodeArgs(t, t.serviceManager)} --services ${services}`)) as {
        ended: string[];
        started: string[];
      };
      const did = [...r.ended.map((f) => `ended ${f}`), ...r.started.map((s) => `started the ${s}`)];
      step("chaos", `${n.name}: ${did.length ? did.join(", ") : "nothing to undo"}`);
    }),
  );
  step(
    "chaos",
    `waiting for ${ref.nodes.map((n) => n.name).join(", ")} to be registered (up to 2 min: a cut node registers again by itself)`,
  );
  const workers = await waitForClusterWorkers(ref, dask, provider, 120);
  step("chaos", `${workers.length} workers registered: ${workers.map((w) => `${w.name}@${w.host}`).join(", ")}`);
  if (opts.diagnose === false) return 0;
  return diagnoseDeployed(deployed, provider, { json: false, timeout: 15 });
}

export async function cli(argv: readonly string[]): Promise<number> {
  const parsed = parseCli(
    argv,
    USAGE,
    {
      for: { type: "string" },
      percent: { type: "string", default: "25" },
      fraction: { type: "string", default: "0.75" },
      yes: { type: "boolean", default: false },
    },
    { positionals: true },
  );
  if (!parsed) return 0;
  const [fault, nodeName, ...extra] = parsed.positionals;
  if (!fault || !NAMES.includes(fault))
    throw badInput(fault ? `unknown fault "${fault}"` : "which fault?", [
      { path: "fault", message: fault ? `"${fault}"` : "missing", fix: `one of: ${NAMES.join(", ")}` },
    ]);
  if (extra.length)
    throw badInput(`too many arguments: ${extra.join(" ")}`, [
      { path: "node", message: "one node at most", fix: USAGE },
    ]);
  const v = parsed.values;
  const { deployed, provider } = operatorContext();
  const ref = deployed.cluster;
  if (ref.provider === "ssh" && !v.yes)
    throw badInput("provider ssh: these are machines you already had", [
      {
        path: "--yes",
        message: `chaos kills processes and cuts links on ${ref.nodes.map((n) => n.name).join(", ")}, which may serve others too`,
        fix: "add --yes once you are sure; cut-link needs root there (sudo without a password); kill-worker, kill-scheduler, slow-cpu, fill-memory and restore run as the cluster's user",
      },
    ]);
  if (fault === "restore") {
    if (nodeName || v.for)
      throw badInput("restore takes no node and no --for", [
        {
          path: nodeName ? "node" : "--for",
          message: "restore ends every fault on every node",
          fix: "npm run chaos -- restore",
        },
      ]);
    return restoreCluster(deployed, provider);
  }
  const f: Fault = FAULTS[fault as FaultName];
  if (!f.onNode && nodeName)
    throw badInput(`${fault} takes no node`, [
      { path: "node", message: `"${nodeName}"`, fix: `npm run chaos -- ${fault}` },
    ]);
  const node = nodeName ? nodeByName(ref, nodeName, "node") : f.onNode ? ref.nodes[ref.nodes.length - 1]! : ref.head;
  let seconds = f.defaultFor;
  if (v.for !== undefined) {
    const s = parseDuration(v.for);
    if (!f.timed || s === undefined || s < 5 || s > 1800)
      throw badInput(`--for ${v.for}`, [
        {
          path: "--for",
          message: f.timed ? `"${v.for}" is not a duration from 5s to 30m` : `${fault} is not timed: it happens once`,
          fix: f.timed ? "e.g. --for 30s, --for 2m" : `npm run chaos -- ${fault}${f.onNode ? " [node]" : ""}`,
        },
      ]);
    seconds = s;
  }
  const percent = Number(v.percent);
  if (!Number.isInteger(percent) || percent < 1 || percent > 99)
    throw badInput(`--percent ${v.percent}`, [
      { path: "--percent", message: `"${v.percent}"`, fix: "a whole number from 1 to 99" },
    ]);
  const fraction = Number(v.fraction);
  if (!(fraction >= 0.1 && fraction <= 0.95))
    throw badInput(`--fraction ${v.fraction}`, [
      { path: "--fraction", message: `"${v.fraction}"`, fix: "a number from 0.1 to 0.95" },
    ]);

  const dask = deployedDask(deployed);
  const t = provider.transport(ref, node);
  const args = nodeArgs(t, t.serviceManager);
  let done: string;
  if (fault === "kill-worker" || fault === "kill-scheduler") {
    const r = await onNode(t, `kill ${fault === "kill-worker" ? "worker" : "scheduler"} ${args}`);
    done = `${r.what} — pid ${r.pid} killed`;
  } else if (fault === "cut-link") {
    const r = await onNode(t, `cut ${args} --ip ${node.ip} --for ${seconds}`);
    done = `${r.iface} (${node.ip}) is down`;
  } else if (fault === "slow-cpu") {
    await onNode(t, `slow ${args} --for ${seconds} --percent ${percent}`);
    done = `its worker gets ${percent} % of the CPU`;
  } else {
    const head = provider.transport(ref, ref.head);
    const p = nodePaths(head.root);
    await onNode(
      head,
      `fill ${nodeArgs(head, head.serviceManager)} --worker ${shq(node.name)} --for ${seconds} --fraction ${fraction} --scheduler ${shq(schedulerAddress(ref.head, dask))}${dask.tls ? ` --tls-dir ${shq(p.tls)}` : ""}`,
    );
    done = `its worker is being filled to ${Math.round(fraction * 100)} % of its ${node.memoryLimitMb} MiB limit`;
  }
  const lines = [
    `[chaos] ${fault} on ${node.name}: ${done}`,
    `  watch: ${f.watch(node.name)}`,
    `  Dask:  ${f.dask(node.name)}`,
    f.timed
      ? `  ends:  by itself in ${seconds} s (${new Date(Date.now() + seconds * 1000).toLocaleTimeString()}); npm run chaos -- restore ends it now`
      : "  then:  npm run chaos -- restore checks the cluster is whole again (and starts what is down)",
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
  return 0;
}
