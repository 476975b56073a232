// What is really there, seen at plan time. Terraform never refreshes a null_resource: after
// a host reboot, a powered-off or deleted VM, a killed service or a stage that a killed
// deploy left half-done, its state still says "created" and a plan shows no change. So the
// synth (stacks/main.ts) looks first: it reads what the state says is deployed, asks the
// provider and each node what is there (read-only, a few quick commands), and every stage
// whose outcome is gone gets a new value in its converge resource's `observed` trigger,
// with the reason: `cdktf diff` lists the repairs, `cdktf deploy` makes them, and a
// healthy cluster keeps the values the state holds (no change).
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { bundleIdOf } from "../runtime/bundle.js";

import { recordedSpecs, recordedTriggers, stateFile } from "./deployed.js";
import { waitWorkersArgv, type RegisteredWorker } from "../services/probe.js";
import type { MachineProvider, MachineStatus } from "../machines/provider.js";
import { dashboardUrl, schedulerAddress } from "../services/definitions.js";
import type { ClusterRef, StageSpec } from "../core/stage-spec.js";
import { clusterTlsFiles } from "../services/tls.js";
import { shq, type Transport } from "../machines/transport.js";
import type { NodeSpec } from "../core/model.js";
import { nodePaths } from "../core/node-paths.js";

/**
 * The prefix of the resource that applies a stage (stacks/constructs/stage-resource.ts):
 * converge-machine-node2. A prefix, not a suffix: cdktf labels every address it prints with
 * its construct path by finding the resource's address in the line, and
 * "null_resource.machine-node2" inside "null_resource.machine-node2-converge" came out as
 * "null_resource.machine-node2 (machine-node2/resource)-converge".
 */
export const CONVERGE_PREFIX = "converge-";
/** The trigger of a converge resource that carries what the plan observed. */
export const OBSERVED_TRIGGER = "observed";
/** Its value when a stage is first applied. */
export const FIRST_APPLY = "#0 first apply";

/** The files a node's tls folder holds (stages/tls.ts): the client pair only on node 1. */
export const NODE_TLS_FILES = ["ca.pem", "node.pem", "node-key.pem"] as const;
export const HEAD_TLS_FILES = [...NODE_TLS_FILES, "client.pem", "client-key.pem"] as const;

/** What one node showed. */
export interface NodeFacts {
  readonly name: string;
  readonly machine: MachineStatus;
  /** The node's answer to the probe; undefined when it was not asked (not running) or did not answer. */
  readonly probe?: {
    /** Content of <root>/bundle-id ("" when there is none). */
    readonly bundleId: string;
    /** Whether <root>/venv/bin/python is there. */
    readonly venv: boolean;
    /** The files present in <root>/tls. */
    readonly tls: readonly string[];
  };
  /** Why the probe failed, when it did. */
  readonly probeError?: string;
}

/** What the whole cluster showed. */
export interface ClusterFacts {
  /** Whether the private network is there (undefined: the state has no network stage). */
  readonly network?: boolean;
  /** Whether the machine list the box stage writes is there. */
  readonly machineList: boolean;
  /** Whether the host still has the TLS material (undefined: TLS off or no tls stage). */
  readonly hostTls?: boolean;
  readonly nodes: readonly NodeFacts[];
  /** The scheduler's answer on node 1: the workers it lists; undefined when not asked. */
  readonly scheduler?: { readonly workers?: readonly RegisteredWorker[]; readonly error?: string };
}

/** Where a converge resource's apply records, once it finished, the `observed` value it ran for. */
export function appliedDir(clusterDir: string): string {
  return path.join(clusterDir, "applied");
}

/** Records that a stage's apply finished (provision/stages/index.ts, after the stage did its work). */
export function recordApplied(clusterDir: string, resource: string, observed: string): void {
  mkdirSync(appliedDir(clusterDir), { recursive: true });
  writeFileSync(path.join(appliedDir(clusterDir), resource), observed);
}

/** Forgets it (the stage's destroy). */
export function forgetApplied(clusterDir: string, resource: string): void {
  rmSync(path.join(appliedDir(clusterDir), resource), { force: true });
}

/**
 * The stages whose last apply Terraform recorded but that never finished: their converge
 * resource is in the state with an `observed` value their apply did not record as done
 * (Terraform writes a resource into its state before its provisioner runs, and a deploy
 * killed then leaves it "created"). Any stage: a box, a gate or a benchmark too.
 */
export function unfinished(
  clusterDir: string,
  recorded: ReadonlyMap<string, string>,
  specs: ReadonlyMap<string, StageSpec>,
): Repairs {
  const out: Repairs = new Map();
  for (const [name, value] of recorded) {
    if (!specs.has(name)) continue;
    let done: string | undefined;
    try {
      done = readFileSync(path.join(appliedDir(clusterDir), name), "utf8");
    } catch {
      done = undefined;
    }
    if (done !== value) out.set(name, `its last apply (${value.split(" ")[0]}) did not finish`);
  }
  return out;
}

/** Stage resource name (as in the state: machine-node2, scheduler) → why it must be applied again. */
export type Repairs = Map<string, string>;

const firstLine = (s: string) => s.trim().split("\n")[0] ?? "";

/**
 * Which stages must be applied again, and why, from what was seen: a stage whose own
 * outcome is gone, and the stages that build on a machine being made or started again
 * (their outcome on it cannot be trusted, and applying them again is cheap when it is
 * there: every stage checks its outcome first). `specs` are the stages the state records.
 */
export function planRepairs(specs: ReadonlyMap<string, StageSpec>, facts: ClusterFacts): Repairs {
  const repairs: Repairs = new Map();
  const set = (name: string, why: string) => {
    if (specs.has(name) && !repairs.has(name)) repairs.set(name, why);
  };
  if (facts.network === false) set("network", "the private network is gone");
  if (!facts.machineList) set("box", "the machine list (.cluster/machines.json) is gone");
  const machineRepaired = new Set<string>();
  for (const n of facts.nodes) {
    const why =
      n.machine.state !== "running"
        ? `${n.machine.state} (${n.machine.detail})`
        : facts.network === false
          ? "cut off: its network is being made again"
          : n.probeError !== undefined
            ? `running, but it does not answer (${n.probeError})`
            : undefined;
    if (why === undefined) continue;
    set(`machine-${n.name}`, `${n.name} is ${why}`);
    machineRepaired.add(n.name);
  }
  const installSpec = [...specs.values()].find((s) => s.stage === "install");
  const expectedBundle = installSpec?.runtime ? bundleIdOf(installSpec.runtime) : undefined;
  for (const n of facts.nodes) {
    if (machineRepaired.has(n.name)) set(`install-${n.name}`, `its machine ${n.name} is being made or started again`);
    else if (n.probe && !n.probe.venv) set(`install-${n.name}`, `${n.name} has no runtime venv`);
    else if (n.probe && expectedBundle && n.probe.bundleId !== expectedBundle)
      set(`install-${n.name}`, `${n.name} has bundle ${n.probe.bundleId || "(none)"}, not ${expectedBundle}`);
  }
  const nodeRepairs = facts.nodes
    .filter((n) => repairs.has(`machine-${n.name}`) || repairs.has(`install-${n.name}`))
    .map((n) => n.name);
  if (nodeRepairs.length) set("version-gate", `checks the nodes again after the repair of ${nodeRepairs.join(", ")}`);

  const head = [...specs.values()].find((s) => s.stage === "scheduler")?.cluster.head;
  const tlsSpec = specs.get("tls");
  const allServices = facts.hostTls === false;
  if (tlsSpec?.dask?.tls) {
    if (allServices) set("tls", "the host's certificates (.cluster/tls) are gone: new ones for every node");
    const missing = facts.nodes.filter((n) => {
      if (machineRepaired.has(n.name)) return true;
      const want = n.name === head?.name ? HEAD_TLS_FILES : NODE_TLS_FILES;
      return n.probe !== undefined && want.some((f) => !n.probe!.tls.includes(f));
    });
    if (missing.length) set("tls", `copies the certificates again to ${missing.map((n) => n.name).join(", ")}`);
  }
  if (head && specs.has("scheduler")) {
    if (allServices) set("scheduler", "restarts with the new certificates");
    else if (machineRepaired.has(head.name))
      set("scheduler", `its machine ${head.name} is being made or started again`);
    else if (repairs.has(`install-${head.name}`))
      set("scheduler", `restarts on the runtime installed again on ${head.name}`);
    else if (facts.scheduler?.error !== undefined)
      set("scheduler", `the scheduler does not answer (${facts.scheduler.error})`);
  }
  for (const n of facts.nodes) {
    const name = `worker-${n.name}`;
    const spec = specs.get(name);
    if (!spec) continue;
    const node = spec.cluster.nodes.find((x) => x.name === n.name);
    if (allServices) set(name, "restarts with the new certificates");
    else if (machineRepaired.has(n.name)) set(name, `its machine ${n.name} is being made or started again`);
    else if (repairs.has(`install-${n.name}`)) set(name, `restarts on the runtime installed again on ${n.name}`);
    else if (repairs.has("scheduler")) set(name, "joins the scheduler being started again");
    else if (
      facts.scheduler?.workers &&
      !facts.scheduler.workers.some((w) => w.name === n.name && w.host === node?.ip)
    ) {
      set(name, `the scheduler does not list ${n.name} at ${node?.ip ?? "?"}`);
    }
  }
  return repairs;
}

/** The probe one node runs: a few file tests, and on node 1 the scheduler's dashboard (standard library only). */
function probeScript(t: Transport, scheduler?: { address: string; dashboard: string }): string {
  const p = nodePaths(t.root);
  const lines = [
    `printf 'bundle=%s\\n' "$(cat ${shq(`${t.root}/bundle-id`)} 2>/dev/null)"`,
    `if [ -x ${shq(p.python)} ]; then echo venv=yes; fi`,
    `for f in ${HEAD_TLS_FILES.join(" ")}; do if [ -s ${shq(p.tls)}/"$f" ]; then echo "tls=$f"; fi; done`,
  ];
  if (scheduler) {
    const argv = waitWorkersArgv(t.root, scheduler.address, [], Math.ceil(5 * t.slowness), {
      dashboard: scheduler.dashboard,
    });
    lines.push(
      `if [ -x ${shq(p.python)} ]; then w=$(${argv.map(shq).join(" ")} 2>&1) && printf 'workers=%s\\n' "$(printf '%s' "$w" | tr -d '\\n')" || printf 'scheduler-error=%s\\n' "$(printf '%s' "$w" | tail -n 1)"; else echo 'scheduler-error=no runtime'; fi`,
    );
  }
  return lines.join("\n");
}

interface Probed {
  readonly node: NodeFacts;
  readonly scheduler?: ClusterFacts["scheduler"];
}

async function probeNode(
  provider: MachineProvider,
  cluster: ClusterRef,
  node: NodeSpec,
  scheduler: { address: string; dashboard: string } | undefined,
): Promise<Probed> {
  const machine = await provider.machineState(cluster, node);
  if (machine.state !== "running")
    return {
      node: { name: node.name, machine },
      scheduler: scheduler ? { error: `${node.name} is ${machine.state}` } : undefined,
    };
  const t = provider.transport(cluster, node);
  const ask = () =>
    t
      .run(probeScript(t, scheduler), { nothrow: true, timeoutMs: 30_000 })
      .catch((err: Error) => ({ exitCode: -1, stdout: "", stderr: err.message }));
  // Once more before concluding: one lost ssh connection must not restart a healthy cluster.
  let r = await ask();
  if (r.exitCode !== 0 || (scheduler && !r.stdout.includes("workers="))) r = await ask();
  if (r.exitCode !== 0) {
    const why = firstLine(r.stderr) || `exit ${r.exitCode}`;
    return { node: { name: node.name, machine, probeError: why }, scheduler: scheduler ? { error: why } : undefined };
  }
  const values = (key: string) =>
    r.stdout
      .split("\n")
      .filter((l) => l.startsWith(`${key}=`))
      .map((l) => l.slice(key.length + 1));
  const probe = { bundleId: values("bundle")[0] ?? "", venv: values("venv").length > 0, tls: values("tls") };
  let seen: ClusterFacts["scheduler"];
  if (scheduler) {
    const workers = values("workers")[0];
    try {
      seen =
        workers !== undefined
          ? { workers: JSON.parse(workers) as RegisteredWorker[] }
          : { error: values("scheduler-error")[0] || "no answer" };
    } catch {
      seen = { error: `unreadable answer: ${workers!.slice(0, 120)}` };
    }
  }
  return { node: { name: node.name, machine, probe }, scheduler: seen };
}

/** Asks the provider and every node of the recorded cluster what is there; changes nothing. */
export async function observeFacts(
  specs: ReadonlyMap<string, StageSpec>,
  provider: MachineProvider,
): Promise<ClusterFacts> {
  const machines = [...specs.values()].filter((s) => s.stage === "machine");
  const any = machines[0]!.cluster;
  const nodes = machines.map((s) => s.cluster.nodes.find((n) => n.name === s.node)!).sort((a, b) => a.index - b.index);
  const sched = specs.get("scheduler");
  const head = sched?.cluster.head;
  const tlsSpec = specs.get("tls");
  const tlsDir = path.join(any.clusterDir, "tls");
  const [network, probed] = await Promise.all([
    specs.has("network") ? provider.networkPresent(any) : Promise.resolve(undefined),
    Promise.all(
      nodes.map((n) => {
        const spec = specs.get(`machine-${n.name}`)!;
        const asks =
          head && sched?.dask && n.name === head.name
            ? { address: schedulerAddress(head, sched.dask), dashboard: dashboardUrl(head, sched.dask) }
            : undefined;
        return probeNode(provider, spec.cluster, n, asks);
      }),
    ),
  ]);
  // ensureClusterTls keeps the material only when all of it is there, else makes all anew.
  const hostTls = tlsSpec?.dask?.tls
    ? clusterTlsFiles(tlsDir, tlsSpec.cluster.nodes).every((f) => existsSync(f))
    : undefined;
  return {
    network,
    machineList: !specs.has("box") || existsSync(path.join(any.clusterDir, "machines.json")),
    hostTls,
    nodes: probed.map((p) => p.node),
    scheduler: probed.find((p) => p.scheduler)?.scheduler,
  };
}

/** The converge resources' `observed` values the state holds, by stage resource name. */
export function recordedObservations(file: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const [name, triggers] of recordedTriggers(file)) {
    const value = triggers[OBSERVED_TRIGGER];
    if (name.startsWith(CONVERGE_PREFIX) && value !== undefined) out.set(name.slice(CONVERGE_PREFIX.length), value);
  }
  return out;
}

/**
 * The `observed` value of every stage: what the state holds for a healthy one (no change),
 * "#N+1 <why>" for one to repair, FIRST_APPLY for one the state does not have yet.
 */
export function observedValues(recorded: ReadonlyMap<string, string>, repairs: Repairs): Map<string, string> {
  const out = new Map(recorded);
  for (const [name, why] of repairs) {
    const n = Number(/^#(\d+)/.exec(recorded.get(name) ?? "")?.[1] ?? 0);
    out.set(name, `#${n + 1} ${why}`);
  }
  return out;
}

export interface Observation {
  /** The `observed` trigger of each stage, by stage resource name. */
  readonly values: Map<string, string>;
  readonly repairs: Repairs;
  readonly facts?: ClusterFacts;
}

/**
 * What the synth feeds the stages: nothing to look at when the state records no machine
 * (a first deploy, or after destroy); else the facts, the repairs and the trigger values.
 */
export async function observeCluster(
  clusterDir: string,
  providerFor: (name: ClusterRef["provider"]) => MachineProvider,
): Promise<Observation> {
  const file = stateFile(clusterDir);
  const recorded = recordedObservations(file);
  const specs = recordedSpecs(file);
  const machine = [...specs.values()].find((s) => s.stage === "machine");
  if (!machine) return { values: recorded, repairs: new Map() };
  const facts = await observeFacts(specs, providerFor(machine.cluster.provider));
  const repairs = planRepairs(specs, facts);
  for (const [name, why] of unfinished(clusterDir, recorded, specs)) if (!repairs.has(name)) repairs.set(name, why);
  return { values: observedValues(recorded, repairs), repairs, facts };
}
