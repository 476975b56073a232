// `npm run stop` and `npm run start` on the deployed cluster, without Terraform: stop
// ends the services and powers the machines off (`vagrant halt`; the local provider's
// namespaces hold no memory once their services are gone) and keeps everything installed;
// start powers them on (re-learning the ssh port and addresses, as createMachine does),
// starts the services, waits for every worker on its private IP, and runs the version
// check. Both are idempotent. Terraform's state is untouched: a deploy after a start
// observes a healthy cluster and plans no change; a deploy while stopped starts it too.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";

import { deployedDask, deployedRuntime, type Deployed } from "./deployed.js";
import { UserError } from "../core/errors.js";
import type { Log } from "../core/log.js";
import { waitForWorkers } from "../services/probe.js";
import type { MachineProvider, MachineStatus } from "../machines/provider.js";
import { dashboardUrl, schedulerAddress, startDefinedService, stopService } from "../services/definitions.js";
import { check } from "../services/version-gate/gate.js";
import type { NodeSpec } from "../core/model.js";

/** Written by stop, removed by start and by the scheduler stage: status says "stopped" while it is there. */
export function stoppedFile(clusterDir: string): string {
  return path.join(clusterDir, "stopped.json");
}

/** When the cluster was stopped, or undefined when it was not (or was started since). */
export function stoppedSince(clusterDir: string): string | undefined {
  try {
    return (JSON.parse(readFileSync(stoppedFile(clusterDir), "utf8")) as { at?: string }).at ?? "?";
  } catch {
    return existsSync(stoppedFile(clusterDir)) ? "?" : undefined;
  }
}

export function clearStopped(clusterDir: string): void {
  rmSync(stoppedFile(clusterDir), { force: true });
}

/** Runs fn on each node, all at once where the provider may handle machines in parallel, else one after another. */
async function eachMachine(
  provider: MachineProvider,
  nodes: readonly NodeSpec[],
  fn: (n: NodeSpec, i: number) => Promise<void>,
): Promise<void> {
  if (provider.capabilities.parallelMachines) await Promise.all(nodes.map(fn));
  else for (const [i, n] of nodes.entries()) await fn(n, i);
}

async function states(deployed: Deployed, provider: MachineProvider): Promise<MachineStatus[]> {
  return Promise.all(deployed.cluster.nodes.map((n) => provider.machineState(deployed.cluster, n)));
}

export interface LifecycleResult {
  readonly seconds: number;
  /** Nodes whose machine this command powered off or on. */
  readonly changed: readonly string[];
  readonly dashboard?: string;
}

/** Stops every service (workers first) and powers every machine off; a stopped cluster stays as it is. */
export async function stopCluster(deployed: Deployed, provider: MachineProvider, log: Log): Promise<LifecycleResult> {
  const t0 = performance.now();
  const { cluster } = deployed;
  const before = await states(deployed, provider);
  const running = cluster.nodes.filter((_, i) => before[i]!.state === "running");
  const t = (n: NodeSpec) => provider.transport(cluster, n);
  await log.timed("stop", `stopping the workers on ${running.map((n) => n.name).join(", ") || "no node"}`, () =>
    Promise.all(
      running.map((n) =>
        stopService(t(n), "worker").catch((err: Error) =>
          log.step(n.name, `worker not stopped: ${err.message.split("\n")[0]}`),
        ),
      ),
    ),
  );
  if (running.some((n) => n.name === cluster.head.name)) {
    // Powering off ends it too: a scheduler that cannot be asked must not keep the VMs on.
    await log
      .timed(cluster.head.name, "stopping the scheduler (and JupyterLab, if it runs)", async () => {
        await stopService(t(cluster.head), "notebook");
        await stopService(t(cluster.head), "scheduler");
      })
      .catch((err: Error) => log.step(cluster.head.name, `scheduler not stopped: ${err.message.split("\n")[0]}`));
  }
  const changed: string[] = [];
  const halt = async (n: NodeSpec) => {
    await log.timed(n.name, `powering ${n.name} off`, () => provider.stopMachine(cluster, n));
    if ((await provider.machineState(cluster, n)).state === "stopped") changed.push(n.name);
  };
  await eachMachine(provider, running, halt);
  mkdirSync(cluster.clusterDir, { recursive: true });
  // A second stop keeps the time of the first.
  if (stoppedSince(cluster.clusterDir) === undefined)
    writeFileSync(stoppedFile(cluster.clusterDir), `${JSON.stringify({ at: new Date().toISOString() })}\n`);
  return { seconds: (performance.now() - t0) / 1000, changed };
}

/** Powers every machine on, starts the services, waits for every worker and checks the versions. */
export async function startCluster(deployed: Deployed, provider: MachineProvider, log: Log): Promise<LifecycleResult> {
  const t0 = performance.now();
  const { cluster } = deployed;
  const dask = deployedDask(deployed);
  const runtime = deployedRuntime(deployed);
  const before = await states(deployed, provider);
  const missing = cluster.nodes.filter((_, i) => before[i]!.state === "missing");
  if (missing.length) {
    throw new UserError(
      `cannot start: ${missing.map((n) => `${n.name} is missing (${before[cluster.nodes.indexOf(n)]!.detail})`).join("; ")}`,
      1,
      [
        {
          path: missing.map((n) => n.name).join(", "),
          message: "a machine that is gone has nothing to start",
          fix: "run npx cdktf deploy: it sees what is missing and makes it again",
        },
      ],
    );
  }
  const changed: string[] = [];
  const powerOn = async (n: NodeSpec, i: number) => {
    if (before[i]!.state === "running") return;
    await log.timed(n.name, `powering ${n.name} on (${before[i]!.detail})`, () => provider.createMachine(cluster, n));
    changed.push(n.name);
  };
  await eachMachine(provider, cluster.nodes, powerOn);

  const head = provider.transport(cluster, cluster.head);
  const address = schedulerAddress(cluster.head, dask);
  const dashboard = dashboardUrl(cluster.head, dask);
  await log.timed(cluster.head.name, `starting the scheduler at ${address}`, async () => {
    await startDefinedService(head, "scheduler");
    await waitForWorkers(head, address, dask.tls, [], 90, dashboard);
  });
  const names = cluster.nodes.map((n) => n.name);
  await log.timed("start", `starting the workers on ${names.join(", ")}`, async () => {
    await Promise.all(cluster.nodes.map((n) => startDefinedService(provider.transport(cluster, n), "worker")));
    const workers = await waitForWorkers(head, address, dask.tls, names, 120, dashboard);
    const off = cluster.nodes.filter((n) => !workers.some((w) => w.name === n.name && w.host === n.ip));
    if (off.length)
      throw new UserError(`workers registered on the wrong address: ${off.map((n) => n.name).join(", ")}`, 1);
    for (const w of workers) log.step(w.name, `registered with the scheduler as ${w.address}`);
  });
  const v = await log.timed("start", "checking the versions on every node", () =>
    check({ cluster, provider, runtime, services: false }),
  );
  if (v.verdict !== "identical") {
    throw new UserError(`the cluster started, but its versions are not identical (${v.verdict})`, 1, [
      { path: "nodes", message: v.drift.slice(0, 3).join("; "), fix: "run npm run verify-versions -- --fix" },
    ]);
  }
  clearStopped(cluster.clusterDir);
  return { seconds: (performance.now() - t0) / 1000, changed, dashboard: `${dashboard}/status` };
}
