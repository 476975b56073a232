// What is deployed from this checkout, read from Terraform's state: every stage's
// triggers hold its whole spec, so the operator commands (status, verify-versions,
// benchmark, ssh, logs, dashboard) act on the cluster that exists, not on what
// cluster.config.json says today, and say so when the two differ.
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { bundleIdOf, lockFileOf, runtimeHashes } from "../runtime/bundle.js";

import { badInput, UserError } from "../core/errors.js";
import { stableJson, type ClusterRef, type RuntimeRef, type StageSpec } from "../core/stage-spec.js";
import type { Cluster, NodeSpec } from "../core/model.js";
import type { ClusterConfig } from "../core/config-schema.js";

export interface Deployed {
  readonly cluster: ClusterRef;
  /** The runtime the bundle stage built (lock and source hashes). */
  readonly runtime?: RuntimeRef;
  readonly dask?: ClusterConfig["dask"];
  readonly benchmark?: ClusterConfig["benchmark"];
}

export function stateFile(clusterDir: string): string {
  return path.join(clusterDir, "terraform.tfstate");
}

interface State {
  readonly resources?: ReadonlyArray<{
    readonly type?: string;
    readonly name?: string;
    readonly instances?: ReadonlyArray<{ readonly attributes?: { readonly triggers?: Record<string, string> } }>;
  }>;
}

/** A Terraform state file: undefined when there is none, "unreadable" when it is not JSON. */
export function readState(file: string): State | "unreadable" | undefined {
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, "utf8")) as State;
  } catch {
    return "unreadable";
  }
}

/** The triggers of every null_resource a state file records, by resource name. */
export function recordedTriggers(file: string): Map<string, Record<string, string>> {
  const out = new Map<string, Record<string, string>>();
  const state = readState(file);
  if (state === undefined || state === "unreadable") return out;
  for (const r of state.resources ?? []) {
    const triggers = r.instances?.[0]?.attributes?.triggers;
    if (r.type === "null_resource" && r.name && triggers) out.set(r.name, triggers);
  }
  return out;
}

/** The stage specs recorded in a state file, by resource name (machine-node2, scheduler...). */
export function recordedSpecs(file: string): Map<string, StageSpec> {
  const specs = new Map<string, StageSpec>();
  for (const [name, triggers] of recordedTriggers(file)) {
    if (!triggers.spec) continue;
    try {
      specs.set(name, JSON.parse(triggers.spec) as StageSpec);
    } catch {
      // a spec we cannot read is no stage of ours
    }
  }
  return specs;
}

/** The deployed cluster of a state file, or undefined when no machine is recorded. */
export function readDeployed(file: string): Deployed | undefined {
  const specs = [...recordedSpecs(file).values()];
  const machines = specs.filter((s) => s.stage === "machine");
  if (!machines.length) return undefined;
  const nodes = machines
    .map((s) => s.cluster.nodes.find((n) => n.name === s.node))
    .filter((n): n is NodeSpec => !!n)
    .sort((a, b) => a.index - b.index);
  const any = machines[0]!.cluster;
  const of = (stage: StageSpec["stage"]) => specs.find((s) => s.stage === stage);
  return {
    cluster: { ...any, nodes },
    runtime: of("bundle")?.runtime ?? of("install")?.runtime,
    dask: of("scheduler")?.dask ?? of("worker")?.dask,
    benchmark: of("benchmark")?.benchmark,
  };
}

/** How the checkout's config differs from what is deployed, one phrase per difference. */
export function differences(deployed: Deployed, cluster: Cluster): string[] {
  const out: string[] = [];
  const now = cluster.nodes;
  const then = deployed.cluster.nodes;
  if (now.length !== then.length) out.push(`nodes: ${now.length} configured, ${then.length} deployed`);
  for (const n of now) {
    const d = then.find((x) => x.name === n.name);
    if (
      d &&
      (d.ip !== n.ip ||
        d.cpus !== n.cpus ||
        d.memoryMb !== n.memoryMb ||
        d.threads !== n.threads ||
        d.memoryLimitMb !== n.memoryLimitMb)
    )
      out.push(`${n.name}: its settings changed`);
  }
  if (deployed.cluster.provider !== cluster.config.provider)
    out.push(`provider: ${cluster.config.provider} configured, ${deployed.cluster.provider} deployed`);
  // The state holds the spec as stableJson (keys sorted): compare in that form.
  if (deployed.dask && stableJson(deployed.dask) !== stableJson(cluster.config.dask)) out.push("dask settings changed");
  if (deployed.runtime) {
    const { platform } = deployed.runtime;
    const lock = lockFileOf(deployed.runtime, cluster.projectDir);
    if (cluster.config.runtime.python !== deployed.runtime.python || cluster.config.runtime.platform !== platform)
      out.push("runtime.python or runtime.platform changed");
    else if (stableJson([...cluster.config.runtime.packages].sort()) !== stableJson(deployed.runtime.packages ?? []))
      out.push("runtime.packages changed");
    else if (existsSync(lock)) {
      const h = runtimeHashes(cluster.projectDir, platform, lock);
      if (h.lockSha256 !== deployed.runtime.lockSha256 || h.sourceSha256 !== deployed.runtime.sourceSha256)
        out.push(`the runtime lock or sources changed (deployed bundle ${bundleIdOf(deployed.runtime)})`);
    }
  }
  return out;
}

/**
 * For operator commands: the deployed cluster of this checkout; bad input (exit 2) with
 * the fix when nothing is deployed. A note on stderr when the checkout's config differs.
 */
export function requireDeployed(
  cluster: Cluster,
  note: (m: string) => void = (m) => process.stderr.write(`note: ${m}\n`),
): Deployed {
  const deployed = readDeployed(stateFile(cluster.clusterDir));
  if (!deployed) {
    throw badInput(`nothing is deployed from this checkout (${cluster.projectDir})`, [
      {
        path: stateFile(cluster.clusterDir),
        message: "no machine is recorded in Terraform's state",
        fix: "deploy first: npx cdktf deploy (or npm run demo)",
      },
    ]);
  }
  const diff = differences(deployed, cluster);
  if (diff.length)
    note(
      `cluster.config.json differs from what is deployed (${diff.join("; ")}): showing the deployed cluster; \`npx cdktf deploy\` applies the change`,
    );
  return deployed;
}

/** The deployed Dask settings; bad input when the scheduler stage never ran. */
export function deployedDask(deployed: Deployed): NonNullable<Deployed["dask"]> {
  if (!deployed.dask)
    throw new UserError("the deployed cluster has no scheduler yet", 2, [
      {
        path: "cdktf deploy",
        message: "no scheduler stage is recorded in Terraform's state",
        fix: "run npx cdktf deploy to finish the deploy",
      },
    ]);
  return deployed.dask;
}

/** The deployed runtime; bad input when the bundle stage never ran. */
export function deployedRuntime(deployed: Deployed): RuntimeRef {
  if (!deployed.runtime)
    throw new UserError("the deployed cluster has no runtime yet: its bundle stage never ran", 2, [
      {
        path: "cdktf deploy",
        message: "no bundle is recorded in Terraform's state",
        fix: "run npx cdktf deploy to finish the deploy",
      },
    ]);
  return deployed.runtime;
}
