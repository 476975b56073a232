// Everything the preflight stage enforces and doctor shows for a provider: its own checks,
// then this computer's memory and disk for the nodes (host/checks.ts), in one list so that
// doctor and a deploy cannot disagree.
import type { CheckRow } from "../core/check-rows.js";
import type { Host } from "../host/host.js";
import {
  cliConfigCheck,
  diskCheck,
  DISK_PER_NODE_GIB,
  memoryCheck,
  PROJECT_DISK_PER_NODE_GIB,
} from "../host/checks.js";
import type { HostNeeds } from "../core/model.js";
import type { ClusterRef } from "../core/stage-spec.js";
import type { MachineProvider } from "./provider.js";

/**
 * Everything the preflight stage enforces and doctor shows for a provider: its own checks,
 * then memory and disk for the nodes.
 */
export async function preflightChecks(
  provider: MachineProvider,
  host: Host,
  cluster: ClusterRef,
  needs: HostNeeds,
): Promise<CheckRow[]> {
  const vms = provider.capabilities.reservesResources;
  const cliConfig = cliConfigCheck(host);
  // Machines elsewhere (ssh) take nothing of this computer's memory or disk: the provider checks theirs.
  const perNode = provider.capabilities.measuresOwnDisks || !vms ? PROJECT_DISK_PER_NODE_GIB : DISK_PER_NODE_GIB;
  const own = await provider.checks(cluster, needs);
  let here: CheckRow[] = [];
  if (provider.capabilities.nodesOnThisHost) {
    // A VM the provider records as running is this cluster's, already holding its memory.
    const states = vms
      ? await Promise.all(cluster.nodes.map((n) => provider.machineState(cluster, n).catch(() => undefined)))
      : [];
    const running = cluster.nodes.filter((_, i) => states[i]?.state === "running").map((n) => n.name);
    here = [
      await memoryCheck(host, cluster.nodes, vms, running),
      diskCheck(host, cluster.projectDir, cluster.nodes, perNode),
    ];
  }
  return [...own, ...here, ...(cliConfig ? [cliConfig] : [])];
}
