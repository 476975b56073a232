// `npm run lab -- <name>`: a write-up's lesson as something to run on your own cluster.
// nat-trap: the cluster of the second write-up, where every worker registered but only one
// node ever worked. Built on purpose (each worker advertises 10.0.2.15, the address
// VirtualBox's NAT gives every VM), the symptom shown (who does the work), diagnose naming
// the cause, then the fix and the work spread again. The cluster is put back when the lab
// ends or is interrupted (Ctrl-C); if the lab itself is killed, the next `cdktf deploy`
// sees workers registered at the wrong address and repairs them (state/observe.ts, and the
// worker stage takes back the lab's address).
import { badInput, UserError } from "../core/errors.js";
import { parseCli } from "../core/cli-args.js";
import type { NodeSpec } from "../core/model.js";
import { nodePaths } from "../core/node-paths.js";
import { step } from "../core/log.js";
import type { MachineProvider } from "../machines/provider.js";
import { shq } from "../machines/transport.js";
import { schedulerAddress, startService, workerService } from "../services/definitions.js";
import { addNatAddress, NAT_ADDRESS, removeNatAddress, trappedWorker } from "../services/nat-trap.js";
import { waitForClusterWorkers, type RegisteredWorker } from "../services/probe.js";
import { operatorContext } from "../state/cluster-ref.js";
import { deployedDask, type Deployed } from "../state/deployed.js";
import { diagnoseDeployed } from "./diagnose.js";

const LABS = {
  "nat-trap":
    "every worker registers, only one node works: each advertises 10.0.2.15 (VirtualBox's NAT address); built, diagnosed, fixed",
} as const;

const USAGE = `usage: npm run lab -- <name>
labs:
${Object.entries(LABS)
  .map(([k, v]) => `  ${k.padEnd(10)}${v}`)
  .join("\n")}
  It changes how the workers start for the lab's length and puts them back at its end, on
  Ctrl-C too; if the lab is killed, the next cdktf deploy repairs them.
  --tasks N   tasks in each look at who does the work (default 30)
exit: 0 the lab went from the symptom to the fix; 1 a step did not show what it should
(the output says which); 2 bad input; 130 interrupted (the cluster is put back first)`;

/** What one look at who does the work saw (lab.py's JSON). */
interface Spread {
  readonly tasks: number;
  readonly returned: Record<string, number>;
  readonly back: number;
  readonly seconds: number;
  readonly not_back: Record<string, number>;
}

function describeSpread(s: Spread, timeout: number): string {
  const by = Object.entries(s.returned)
    .map(([w, n]) => `${w} ${n}`)
    .join(", ");
  const held = Object.entries(s.not_back)
    .map(([w, n]) => `${n} on ${w}`)
    .join(", ");
  return s.back === s.tasks
    ? `all ${s.tasks} results back in ${s.seconds} s, computed by ${by}`
    : `in ${timeout} s, ${s.back} of ${s.tasks} results came back (${by || "none"}); the other ${s.tasks - s.back} were computed but never came back (${held})`;
}

export interface NatTrapRun {
  readonly before: Spread;
  readonly trapped: Spread;
  readonly trappedWorkers: readonly RegisteredWorker[];
  readonly diagnoseExit: number;
  readonly after: Spread;
  readonly afterDiagnoseExit: number;
}

async function spread(deployed: Deployed, provider: MachineProvider, tasks: number, timeout: number): Promise<Spread> {
  const ref = deployed.cluster;
  const dask = deployedDask(deployed);
  const head = provider.transport(ref, ref.head);
  const p = nodePaths(head.root);
  const r = await head.run(
    [
      p.python,
      "-m",
      "dask_vm_runtime",
      "lab",
      "spread",
      "--scheduler",
      schedulerAddress(ref.head, dask),
      ...(dask.tls ? ["--tls-dir", p.tls] : []),
      "--tasks",
      String(tasks),
      "--timeout",
      String(timeout),
    ]
      .map(shq)
      .join(" "),
    { nothrow: true, timeoutMs: (timeout + 90) * 1000 },
  );
  if (r.exitCode !== 0)
    throw new UserError(
      `the look at who does the work failed on ${ref.head.name}: ${r.stderr.trim().split("\n").slice(-2).join(" ")}`,
      1,
    );
  return JSON.parse(r.stdout.trim().split("\n").pop()!) as Spread;
}

async function workersAt(
  deployed: Deployed,
  provider: MachineProvider,
  where: (n: NodeSpec, w: RegisteredWorker) => boolean,
): Promise<RegisteredWorker[]> {
  const ref = deployed.cluster;
  const dask = deployedDask(deployed);
  const deadline = Date.now() + 120_000;
  for (;;) {
    const ws = await waitForClusterWorkers(ref, dask, provider, 90);
    if (ref.nodes.every((n) => ws.some((w) => w.name === n.name && where(n, w)))) return ws;
    if (Date.now() > deadline)
      throw new UserError(
        `the workers did not come back as expected: ${ws.map((w) => `${w.name}@${w.host}`).join(", ")}`,
        1,
      );
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/** Every worker started as the deploy starts it, the lab's address taken back. */
export async function untrap(deployed: Deployed, provider: MachineProvider): Promise<RegisteredWorker[]> {
  const ref = deployed.cluster;
  const dask = deployedDask(deployed);
  await Promise.all(
    ref.nodes.map(async (n) => {
      const t = provider.transport(ref, n);
      await startService(t, "worker", workerService(n, ref.head, dask, t.root));
      await removeNatAddress(t);
    }),
  );
  return workersAt(deployed, provider, (n, w) => w.host === n.ip);
}

export async function natTrap(deployed: Deployed, provider: MachineProvider, tasks: number): Promise<NatTrapRun> {
  const ref = deployed.cluster;
  const dask = deployedDask(deployed);
  // How long the results may take: 30 s, longer on an emulated VM (its slowness).
  const timeout = Math.round(30 * provider.transport(ref, ref.head).slowness);

  step("lab", "1/4 the cluster as deployed: who does the work?");
  await workersAt(deployed, provider, (n, w) => w.host === n.ip);
  const before = await spread(deployed, provider, tasks, timeout);
  step("lab", `    ${describeSpread(before, timeout)}`);

  step(
    "lab",
    `2/4 the write-up's cluster: every worker advertises ${NAT_ADDRESS}, as on a VirtualBox VM whose first address is the NAT adapter's`,
  );
  await Promise.all(
    ref.nodes.map(async (n, i) => {
      const t = provider.transport(ref, n);
      const how = await addNatAddress(t);
      await startService(t, "worker", trappedWorker(workerService(n, ref.head, dask, t.root), i + 1));
      step(
        "lab",
        `    ${n.name}: ${how === "added" ? `${NAT_ADDRESS} added on lo (reachable from ${n.name} only, as a NAT address is)` : `${NAT_ADDRESS} is already there (the NAT adapter)`}; its worker advertises ${NAT_ADDRESS}:${40_000 + i + 1}`,
      );
    }),
  );
  const trappedWorkers = await workersAt(deployed, provider, (_, w) => w.host === NAT_ADDRESS);
  step(
    "lab",
    `    the scheduler lists every worker: ${trappedWorkers.map((w) => w.address.replace(/^\w+:\/\//, `${w.name}@`)).join(", ")}`,
  );

  step("lab", "3/4 the symptom: the same work again");
  const trapped = await spread(deployed, provider, tasks, timeout);
  step("lab", `    ${describeSpread(trapped, timeout)}`);
  step("lab", "    what does diagnose say?");
  const diagnoseExit = await diagnoseDeployed(deployed, provider, { json: false, timeout: 15 });

  step("lab", "4/4 the fix: each worker started with --host <its private IP>, as the deploy starts them");
  const fixed = await untrap(deployed, provider);
  step("lab", `    ${fixed.map((w) => `${w.name}@${w.host}`).join(", ")}`);
  const after = await spread(deployed, provider, tasks, timeout);
  step("lab", `    ${describeSpread(after, timeout)}`);
  const afterDiagnoseExit = await diagnoseDeployed(deployed, provider, { json: false, timeout: 15 });
  return { before, trapped, trappedWorkers, diagnoseExit, after, afterDiagnoseExit };
}

export async function cli(argv: readonly string[]): Promise<number> {
  const parsed = parseCli(argv, USAGE, { tasks: { type: "string", default: "30" } }, { positionals: true });
  if (!parsed) return 0;
  const [name, ...extra] = parsed.positionals;
  if (!name || !(name in LABS) || extra.length)
    throw badInput(name ? `unknown lab "${[name, ...extra].join(" ")}"` : "which lab?", [
      { path: "name", message: name ? `"${name}"` : "missing", fix: `one of: ${Object.keys(LABS).join(", ")}` },
    ]);
  const tasks = Number(parsed.values.tasks);
  if (!Number.isInteger(tasks) || tasks < 3 || tasks > 1000)
    throw badInput(`--tasks ${parsed.values.tasks}`, [
      { path: "--tasks", message: `"${parsed.values.tasks}"`, fix: "a whole number from 3 to 1000" },
    ]);
  const { deployed, provider } = operatorContext();
  const ref = deployed.cluster;
  if (ref.provider === "ssh")
    throw badInput("the nat-trap lab rewrites how the workers start and adds an address to each machine", [
      {
        path: "provider",
        message: "provider ssh: these are machines you already had",
        fix: "run the lab on a cluster of VMs (virtualbox, libvirt) or on the local provider",
      },
    ]);
  if (ref.nodes.length < 2)
    throw badInput("the nat-trap lab needs two nodes or more", [
      { path: "/nodes/count", message: `${ref.nodes.length}`, fix: "deploy with nodes.count 2 or more" },
    ]);

  let interrupted = false;
  let putBack: Promise<unknown> | undefined;
  const onSignal = () => {
    if (interrupted) return;
    interrupted = true;
    step("lab", "interrupted: putting the workers back as the deploy starts them");
    putBack = untrap(deployed, provider).then(
      () => {
        step("lab", "the cluster is as deployed again");
        process.exit(130);
      },
      (err: Error) => {
        process.stderr.write(`[lab] could not put the workers back (${err.message}); cdktf deploy repairs them\n`);
        process.exit(130);
      },
    );
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    const r = await natTrap(deployed, provider, tasks);
    const problems = [
      r.before.back !== r.before.tasks && "before the trap, not every result came back",
      r.trapped.back === r.trapped.tasks && "in the trap, every result still came back",
      r.diagnoseExit !== 1 && "diagnose did not report the trap",
      r.after.back !== r.after.tasks && "after the fix, not every result came back",
      r.afterDiagnoseExit !== 0 && "after the fix, diagnose is not healthy",
    ].filter(Boolean);
    process.stdout.write(
      problems.length
        ? `[lab] nat-trap did not show what it should: ${problems.join("; ")}\n`
        : `[lab] nat-trap: from ${r.trapped.back} of ${r.trapped.tasks} results (one node's) to all ${r.after.tasks}, spread over ${Object.keys(r.after.returned).length} workers\n`,
    );
    return problems.length ? 1 : 0;
  } catch (err) {
    if (putBack) await putBack;
    if (!interrupted) {
      step("lab", "the lab stopped early: putting the workers back");
      await untrap(deployed, provider).catch(() => undefined);
    }
    throw err;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}
