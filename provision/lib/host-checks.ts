// The checks that are not a provider's: Node, the Terraform CLI, the provider mirror
// (doctor only: without them no deploy starts at all), and memory and disk for the nodes,
// which the preflight stage and doctor both run next to the provider's own checks
// (preflightChecks): one list, so doctor and a deploy cannot disagree. Machines elsewhere
// (provider ssh) have their memory and disk checked by the provider instead.
import path from "node:path";
import { fail, ok, warn, type CheckRow } from "./checks.js";
import type { NodeSpec } from "./config.js";
import type { Host } from "./host.js";
import { describeFailure, type ProcessResult } from "./process.js";
import type { HostNeeds, MachineProvider } from "./providers/provider.js";
import type { ClusterRef } from "./spec.js";
import { builtTofu, cliKind } from "./toolchain.js";
import { atLeast, parseVersion, versionText } from "./version-number.js";

/** `node --import` (how Terraform starts every stage) needs Node 20.6; undici 7 (the wheel downloads), 20.18.1. */
export const MIN_NODE = [20, 18, 1] as const;
export const MIN_TERRAFORM = [1, 5, 0] as const;
/** Disk each VM's linked clone, logs and runtime bundle may take. */
export const DISK_PER_NODE_GIB = 3;
/** Memory the host keeps for itself next to the VMs. */
export const HOST_RESERVE_MB = 2048;

const GIB = 1024 ** 3;
const MIB = 1024 ** 2;
const gib = (bytes: number) => `${(bytes / GIB).toFixed(1)} GiB`;

export function nodeCheck(host: Host): CheckRow {
  const v = parseVersion(host.nodeVersion);
  if (v && atLeast(v, MIN_NODE)) return ok("node", `v${host.nodeVersion}`);
  return fail(
    "node",
    `v${host.nodeVersion}`,
    `install Node.js ${versionText(MIN_NODE)} or newer (e.g. \`nvm install 20\`, or https://nodejs.org): Terraform starts every stage with \`node --import tsx\``,
  );
}

/** `terraform version -json` (or its text form) -> the version; undefined when it did not run. */
export function parseTerraformVersion(r: ProcessResult): string | undefined {
  if (r.exitCode !== 0) return undefined;
  try {
    const v = (JSON.parse(r.stdout) as { terraform_version?: string }).terraform_version;
    if (v) return v;
  } catch {
    // Not JSON (very old releases): the first line reads "Terraform v1.5.7" / "OpenTofu v1.8.0".
  }
  return /v(\d+\.\d+\.\d+\S*)/.exec(r.stdout.split("\n")[0] ?? "")?.[1];
}

/** The CLI cdktf will run: $TERRAFORM_BINARY_NAME, else terraform (>= 1.5). */
export async function terraformCheck(host: Host): Promise<CheckRow> {
  const versionOf = async (bin: string) => {
    const r = await host.run([bin, "version", "-json"], { timeoutMs: 15_000 });
    const v = parseTerraformVersion(r);
    return { v, text: v ?? (r.missing ? "not found" : describeFailure(r)) };
  };
  const [tf, tofu] = await Promise.all([versionOf("terraform"), versionOf("tofu")]);
  const recent = (v: string | undefined) => !!v && atLeast(parseVersion(v) ?? [0], MIN_TERRAFORM);
  const chosen = host.env.TERRAFORM_BINARY_NAME;
  const found = `terraform ${tf.text}; tofu ${tofu.text}${chosen ? `; TERRAFORM_BINARY_NAME=${chosen}` : ""}`;
  if (chosen && !["terraform", "tofu"].includes(chosen)) {
    const c = await versionOf(chosen);
    const isTofu = cliKind(host.env) === "tofu";
    if (c.v && (isTofu || recent(c.v))) return ok("terraform", `${found} (${c.v})`);
    return fail("terraform", `${found}: ${c.text}`, `point TERRAFORM_BINARY_NAME at terraform >= ${versionText(MIN_TERRAFORM, 2)} or tofu, or unset it`);
  }
  if (chosen === "tofu") {
    if (tofu.v) return ok("terraform", found);
    return fail("terraform", found, "TERRAFORM_BINARY_NAME=tofu but tofu does not run: install OpenTofu (https://opentofu.org/docs/intro/install), or unset it");
  }
  if (recent(tf.v)) return ok("terraform", found);
  if (tofu.v) return warn("terraform", found, "cdktf runs `terraform` unless told otherwise: set TERRAFORM_BINARY_NAME=tofu in your shell");
  const built = builtTofu(host.env, host.platform);
  if (host.exists(built)) return warn("terraform", `${found}; npm run setup made ${built}`, `put it on PATH for cdktf (export PATH="${path.dirname(built)}:$PATH" TERRAFORM_BINARY_NAME=tofu)`);
  const why = tf.v ? `terraform ${tf.v} is older than ${versionText(MIN_TERRAFORM, 2)}: upgrade it, or ` : "";
  return fail("terraform", found, `${why}install Terraform >= ${versionText(MIN_TERRAFORM, 2)} (https://developer.hashicorp.com/terraform/install) or OpenTofu`);
}

/**
 * A TF_CLI_CONFIG_FILE that names no file: Terraform and OpenTofu ignore it with a warning,
 * but OpenTofu prints that warning on stdout, into the JSON cdktf reads after an apply, so
 * `cdktf deploy` fails with "Failed to parse terraform output" once the cluster is up.
 */
export function cliConfigCheck(host: Host): CheckRow | undefined {
  const file = host.env.TF_CLI_CONFIG_FILE;
  if (!file || host.exists(file)) return undefined;
  return warn("terraform cli config", `TF_CLI_CONFIG_FILE=${file} names no file`, "unset TF_CLI_CONFIG_FILE, or point it at your Terraform CLI config file");
}

/** Memory for the nodes: VMs reserve theirs; namespaces only set the workers' limits. */
export function memoryCheck(host: Host, nodes: readonly NodeSpec[], reserves: boolean): CheckRow {
  const nodesMb = nodes.reduce((s, n) => s + n.memoryMb, 0);
  const needBytes = (nodesMb + HOST_RESERVE_MB) * MIB;
  const found = `${gib(host.totalMemBytes)} total, ${gib(host.freeMemBytes)} available (need ${gib(nodesMb * MIB)} for ${nodes.length} nodes + ${gib(HOST_RESERVE_MB * MIB)} for the host)`;
  const lower = "lower nodes.memoryMb or nodes.count in cluster.config.json";
  if (!reserves) {
    if (host.totalMemBytes < needBytes)
      return warn("memory", found, `the workers' memory limits add up to more than this host has, so they would be killed before they spill: ${lower}`, "/nodes/memoryMb");
    return ok("memory", found);
  }
  if (host.totalMemBytes < needBytes) return fail("memory", found, `the VMs do not fit in this host's memory: ${lower}`, "/nodes/memoryMb");
  if (host.freeMemBytes < needBytes) return warn("memory", found, `close programs to free ${gib(needBytes - host.freeMemBytes)}, or ${lower}`, "/nodes/memoryMb");
  return ok("memory", found);
}

/** Disk for the VMs' clones, logs and bundles, on the file system of the project folder. */
export function diskCheck(host: Host, projectDir: string, nodes: readonly NodeSpec[], perNodeGib = DISK_PER_NODE_GIB): CheckRow {
  const free = host.freeDiskBytes(projectDir);
  const needBytes = nodes.length * perNodeGib * GIB;
  const need = `${nodes.length} nodes × ${perNodeGib} GiB = ${gib(needBytes)}`;
  if (free === undefined) return warn("disk", `could not ask how much is free at ${projectDir}`, `make sure ${gib(needBytes)} are free there`);
  const found = `${gib(free)} free at ${projectDir} (need ${need})`;
  if (free >= needBytes) return ok("disk", found);
  return fail("disk", found, `free ${gib(needBytes - free)} there, or lower nodes.count`);
}

/**
 * Everything the preflight stage enforces and doctor shows for a provider: its own checks,
 * then memory and disk for the nodes.
 */
export async function preflightChecks(provider: MachineProvider, host: Host, cluster: ClusterRef, needs: HostNeeds): Promise<CheckRow[]> {
  const vms = provider.capabilities.reservesResources;
  const cliConfig = cliConfigCheck(host);
  // Machines elsewhere (ssh) take nothing of this computer's memory or disk: the provider checks theirs.
  const here = provider.capabilities.nodesOnThisHost ? [memoryCheck(host, cluster.nodes, vms), diskCheck(host, cluster.projectDir, cluster.nodes, vms ? DISK_PER_NODE_GIB : 1)] : [];
  return [...(await provider.checks(cluster, needs)), ...here, ...(cliConfig ? [cliConfig] : [])];
}
