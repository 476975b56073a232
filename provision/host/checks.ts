// The checks that are not a provider's: Node, the Terraform CLI, the provider mirror
// (doctor only: without them no deploy starts at all), and memory and disk for the nodes,
// which the preflight stage and doctor both run next to the provider's own checks
// (preflightChecks): one list, so doctor and a deploy cannot disagree. Machines elsewhere
// (provider ssh) have their memory and disk checked by the provider instead.
import path from "node:path";
import { fail, ok, warn, type CheckRow } from "../core/check-rows.js";

import type { Host } from "./host.js";
import { availableMemory, defaultNodeMemoryMb } from "./memory.js";
import { describeFailure, type ProcessResult } from "./process.js";
import { builtTofu, cliKind } from "./toolchain.js";
import { nodeSupportIssue } from "../core/node-support.mjs";
import { atLeast, parseVersion, versionText } from "../core/version-number.js";
import type { NodeSpec } from "../core/model.js";

export const MIN_TERRAFORM = [1, 5, 0] as const;
/** Disk each VM's linked clone, logs and runtime bundle may take. */
export const DISK_PER_NODE_GIB = 3;
/**
 * The least memory the host needs beside the VMs (its OS, VirtualBox's own processes, Node
 * and Terraform): below it the VMs cannot run. The default sizes leave it more
 * (host/memory.ts NODE_MEMORY_STEPS).
 */
export const HOST_MIN_MB = 1024;
/** Disk the project folder needs per node (logs, bundles) when the VM disks go elsewhere. */
export const PROJECT_DISK_PER_NODE_GIB = 1;

const GIB = 1024 ** 3;
const MIB = 1024 ** 2;
const gib = (bytes: number) => `${(bytes / GIB).toFixed(1)} GiB`;

/** The supported Node lines (provision/core/node-support.mjs, which every verb checks first). */
export function nodeCheck(host: Host): CheckRow {
  const issue = nodeSupportIssue(`v${host.nodeVersion}`);
  if (!issue) return ok("node", `v${host.nodeVersion}`);
  return fail("node", `v${host.nodeVersion}: ${issue.problem}`, issue.fix);
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
    return fail(
      "terraform",
      `${found}: ${c.text}`,
      `point TERRAFORM_BINARY_NAME at terraform >= ${versionText(MIN_TERRAFORM, 2)} or tofu, or unset it`,
    );
  }
  if (chosen === "tofu") {
    if (tofu.v) return ok("terraform", found);
    return fail(
      "terraform",
      found,
      "TERRAFORM_BINARY_NAME=tofu but tofu does not run: install OpenTofu (https://opentofu.org/docs/intro/install), or unset it",
    );
  }
  if (recent(tf.v)) return ok("terraform", found);
  if (tofu.v)
    return warn(
      "terraform",
      found,
      "cdktf runs `terraform` unless told otherwise: set TERRAFORM_BINARY_NAME=tofu in your shell",
    );
  const built = builtTofu(host.env, host.platform);
  if (host.exists(built))
    return warn(
      "terraform",
      `${found}; npm run setup made ${built}`,
      `put it on PATH for cdktf (export PATH="${path.dirname(built)}:$PATH" TERRAFORM_BINARY_NAME=tofu)`,
    );
  const why = tf.v ? `terraform ${tf.v} is older than ${versionText(MIN_TERRAFORM, 2)}: upgrade it, or ` : "";
  return fail(
    "terraform",
    found,
    `${why}install Terraform >= ${versionText(MIN_TERRAFORM, 2)} (https://developer.hashicorp.com/terraform/install) or OpenTofu`,
  );
}

/**
 * A TF_CLI_CONFIG_FILE that names no file: Terraform and OpenTofu ignore it with a warning,
 * but OpenTofu prints that warning on stdout, into the JSON cdktf reads after an apply, so
 * `cdktf deploy` fails with "Failed to parse terraform output" once the cluster is up.
 */
export function cliConfigCheck(host: Host): CheckRow | undefined {
  const file = host.env.TF_CLI_CONFIG_FILE;
  if (!file || host.exists(file)) return undefined;
  return warn(
    "terraform cli config",
    `TF_CLI_CONFIG_FILE=${file} names no file`,
    "unset TF_CLI_CONFIG_FILE, or point it at your Terraform CLI config file",
  );
}

/**
 * Memory for the nodes: VMs reserve theirs; namespaces only set the workers' limits. It
 * refuses only what cannot run (the nodes and the least the host needs exceed its total
 * memory) and warns when the memory is there but taken now (available, as the OS counts
 * it: host/memory.ts), which closing programs fixes.
 */
export async function memoryCheck(
  host: Host,
  nodes: readonly NodeSpec[],
  reserves: boolean,
  running: readonly string[] = [],
): Promise<CheckRow> {
  const nodesMb = nodes.reduce((s, n) => s + n.memoryMb, 0);
  const nodesBytes = nodesMb * MIB;
  // VMs of this cluster that already run (a redeploy) hold their memory: it is not missing.
  const heldBytes = nodes.filter((n) => running.includes(n.name)).reduce((s, n) => s + n.memoryMb, 0) * MIB;
  const available = await availableMemory(host);
  const held = heldBytes ? `, of which ${running.length} running nodes hold ${gib(heldBytes)}` : "";
  const found = `${gib(host.totalMemBytes)} total, ${gib(available.bytes)} available (${available.source}); need ${gib(nodesBytes)} for ${nodes.length} nodes${held} + at least ${gib(HOST_MIN_MB * MIB)} for the host`;
  const lower = `lower nodes.memoryMb (this host's default: ${defaultNodeMemoryMb(host.totalMemBytes)}) or nodes.count in cluster.config.json`;
  const cannot = host.totalMemBytes < nodesBytes + HOST_MIN_MB * MIB;
  if (!reserves) {
    if (cannot)
      return warn(
        "memory",
        found,
        `the workers' memory limits add up to more than this host has, so they would be killed before they spill: ${lower}`,
        "/nodes/memoryMb",
      );
    return ok("memory", found);
  }
  if (cannot) return fail("memory", found, `the VMs cannot run in this host's memory: ${lower}`, "/nodes/memoryMb");
  if (available.bytes < nodesBytes - heldBytes)
    return warn(
      "memory",
      found,
      `the host would swap: close programs to free ${gib(nodesBytes - heldBytes - available.bytes)}, or ${lower}`,
      "/nodes/memoryMb",
    );
  return ok("memory", found);
}

/**
 * Bytes free on the file system that holds path, or will hold it: a folder that does not
 * exist yet (VAGRANT_HOME before the first box) is measured at its nearest existing parent.
 */
export function freeDiskNear(host: Host, p: string): { readonly bytes: number; readonly at: string } | undefined {
  const paths = host.platform === "win32" ? path.win32 : path.posix;
  for (let at = p; ; at = paths.dirname(at)) {
    const bytes = host.freeDiskBytes(at);
    if (bytes !== undefined) return { bytes, at };
    if (paths.dirname(at) === at) return undefined;
  }
}

/** One disk row: need bytes free where something goes; what says what goes there. */
export function diskRow(
  host: Host,
  check: string,
  where: string,
  needBytes: number,
  need: string,
  lowerFix: string,
): CheckRow {
  const free = freeDiskNear(host, where);
  if (free === undefined)
    return warn(check, `could not ask how much is free at ${where}`, `make sure ${gib(needBytes)} are free there`);
  const found = `${gib(free.bytes)} free at ${where} (need ${need})`;
  if (free.bytes >= needBytes) return ok(check, found);
  return fail(check, found, `free ${gib(needBytes - free.bytes)} there, or ${lowerFix}`);
}

/**
 * Disk for the nodes' logs and bundles (and, unless the provider measures where its VM disks go, their disks), on the
 * file system of the project folder.
 */
export function diskCheck(
  host: Host,
  projectDir: string,
  nodes: readonly NodeSpec[],
  perNodeGib = DISK_PER_NODE_GIB,
): CheckRow {
  return diskRow(
    host,
    "disk",
    projectDir,
    nodes.length * perNodeGib * GIB,
    `${nodes.length} nodes × ${perNodeGib} GiB = ${gib(nodes.length * perNodeGib * GIB)}`,
    "lower nodes.count",
  );
}
