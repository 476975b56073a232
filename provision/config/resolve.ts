// Validates cluster.config.json (ajv with defaults, then the rules JSON Schema cannot say:
// addresses, subnets, memory) and resolves it into a frozen Cluster: nodes with names,
// IPs, threads and memory limits, the scheduler address, the cluster id. Pure: it reads
// no host file; rules that depend on the host (VirtualBox's host-only ranges) are the
// provider's checks, run by preflight and doctor.
import { createHash } from "node:crypto";
import { readFileSync, existsSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { Ajv, type ErrorObject } from "ajv";
import addFormatsModule from "ajv-formats";
import { closest } from "fastest-levenshtein";
import { ClusterConfigSchema, type ClusterConfig, type ProviderName } from "../core/config-schema.js";
import { badInput, type Problem } from "../core/errors.js";
import { defaultNodeMemoryMb } from "../host/memory.js";
import { parseCidr, ipToInt, intToIp, cidrContains, type Cidr } from "../core/ipv4.js";
import type { Cluster, NodeSpec, NodeSsh } from "../core/model.js";
import { CAPABILITIES } from "../machines/registry.js";
import { resolveSshHosts } from "../machines/ssh/config.js";

const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;

/** The OS's share of a node's memory when dask.memoryLimitMb is 0. */
export const OS_RESERVE_MB = 512;
/** Below this a Dask worker spends its time spilling; refuse it. */
export const MIN_WORKER_MEMORY_MB = 256;
export interface ValidateOptions {
  /**
   * The host the cluster is for: a provider may default keys the user left unset by host
   * (ProviderCapabilities.defaultsOn; on an Apple Silicon Mac, VirtualBox's are aarch64
   * and an arm64 box).
   */
  readonly host?: { readonly platform: NodeJS.Platform; readonly arch: string; readonly totalMemBytes?: number };
  /** The file the config came from. Default: <projectDir>/cluster.config.json. */
  readonly configFile?: string;
}

let compiled: ReturnType<Ajv["compile"]> | undefined;
function validator(): ReturnType<Ajv["compile"]> {
  if (!compiled) {
    const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: false });
    addFormats(ajv);
    compiled = ajv.compile(ClusterConfigSchema);
  }
  return compiled;
}

/** JSON Schema node at an instance path, to name allowed keys and values in messages. */
function schemaAt(instancePath: string): Record<string, unknown> | undefined {
  let node: Record<string, unknown> | undefined = ClusterConfigSchema as unknown as Record<string, unknown>;
  for (const part of instancePath.split("/").filter(Boolean)) {
    if (!node) return undefined;
    if (/^\d+$/.test(part) && node.items) node = node.items as Record<string, unknown>;
    else node = (node.properties as Record<string, Record<string, unknown>> | undefined)?.[part];
  }
  return node;
}

function describeAjvError(e: ErrorObject): Problem {
  const at = e.instancePath || "/";
  switch (e.keyword) {
    case "additionalProperties": {
      const key = (e.params as { additionalProperty: string }).additionalProperty;
      const allowed = Object.keys((schemaAt(e.instancePath)?.properties as object | undefined) ?? {});
      const guess = allowed.length ? closest(key, allowed) : undefined;
      return {
        path: `${e.instancePath}/${key}`,
        message: `unknown key "${key}"${guess ? ` (did you mean "${guess}"?)` : ""}`,
        fix: `remove it or use one of: ${allowed.join(", ")}`,
      };
    }
    case "enum": {
      const allowed = (e.params as { allowedValues: unknown[] }).allowedValues;
      return {
        path: at,
        message: `must be one of the allowed values`,
        fix: `use one of: ${allowed.map((v) => JSON.stringify(v)).join(", ")}`,
      };
    }
    case "type":
      return {
        path: at,
        message: `must be of type ${(e.params as { type: string }).type}`,
        fix: `write a ${(e.params as { type: string }).type} here`,
      };
    case "minimum":
    case "maximum": {
      const p = e.params as { comparison: string; limit: number };
      const s = schemaAt(e.instancePath);
      return {
        path: at,
        message: `must be ${p.comparison} ${p.limit}`,
        fix: `use a value from ${s?.minimum ?? "-"} to ${s?.maximum ?? "-"}`,
      };
    }
    case "pattern": {
      const s = schemaAt(e.instancePath);
      return {
        path: at,
        message: `does not match ${(e.params as { pattern: string }).pattern}`,
        fix: String(s?.description ?? "see the schema"),
      };
    }
    case "format":
      return {
        path: at,
        message: `must be a ${(e.params as { format: string }).format} address like 192.168.56.12`,
        fix: "write four numbers 0-255 separated by dots",
      };
    case "required":
      return {
        path: `${at === "/" ? "" : at}/${(e.params as { missingProperty: string }).missingProperty}`,
        message: "is required",
        fix: "add it",
      };
    default:
      return { path: at, message: e.message ?? e.keyword, fix: String(schemaAt(e.instancePath)?.description ?? "") };
  }
}

/** Derives node IPs, threads and memory, and checks the rules JSON Schema cannot express. */
function resolveNodes(
  config: ClusterConfig,
  subnet: Cidr,
  problems: Problem[],
  ssh: ReadonlyArray<NodeSsh & { bind: string }> = [],
): NodeSpec[] {
  const { nodes, dask } = config;
  const count = config.provider === "ssh" ? ssh.length : nodes.count;
  const names = Array.from({ length: count }, (_, i) => `${nodes.namePrefix}${i + 1}`);
  const seenOverride = new Set<string>();
  nodes.overrides.forEach((o, i) => {
    if (!names.includes(o.name)) {
      problems.push({
        path: `/nodes/overrides/${i}/name`,
        message: `"${o.name}" is not a node of this cluster`,
        fix: `use one of: ${names.join(", ")}`,
      });
    }
    if (seenOverride.has(o.name)) {
      problems.push({
        path: `/nodes/overrides/${i}/name`,
        message: `"${o.name}" has two overrides`,
        fix: "merge them into one entry",
      });
    }
    seenOverride.add(o.name);
  });

  const result: NodeSpec[] = [];
  const byIp = new Map<string, string>();
  names.forEach((name, i) => {
    const oi = nodes.overrides.findIndex((o) => o.name === name);
    const o = oi >= 0 ? nodes.overrides[oi] : undefined;
    const host = ssh[i];
    const ipPath = host ? `/ssh/hosts/${i}/bind` : o?.ip ? `/nodes/overrides/${oi}/ip` : "/network/firstHost";
    const ip = host?.bind ?? o?.ip ?? intToIp(subnet.network + config.network.firstHost + i);
    const n = ipToInt(ip);
    if (host) {
      // The machines' own addresses: no subnet of ours to fit in.
    } else if (!cidrContains(subnet, n)) {
      problems.push({
        path: ipPath,
        message: `${name} would get ${ip}, outside ${subnet.text}`,
        fix: `lower network.firstHost or node count, or widen network.subnet (hosts ${intToIp(subnet.network + 2)}..${intToIp(subnet.broadcast - 1)})`,
      });
    } else if (n === subnet.network || n === subnet.broadcast) {
      problems.push({
        path: ipPath,
        message: `${name} would get ${ip}, the ${n === subnet.network ? "network" : "broadcast"} address of ${subnet.text}`,
        fix: "pick an address inside the subnet",
      });
    } else if (n - subnet.network === 1 || (n & 0xff) === 1) {
      problems.push({
        path: ipPath,
        message: `${name} would get ${ip}, an address ending in .1, which the host's adapter takes`,
        fix: `use a host number of 2 or more, e.g. network.firstHost: 11 (${intToIp(subnet.network + 11)})`,
      });
    }
    const other = byIp.get(ip);
    if (other)
      problems.push({
        path: ipPath,
        message: `${name} and ${other} both get ${ip}`,
        fix: "give every node its own address",
      });
    byIp.set(ip, name);

    const cpus = o?.cpus ?? nodes.cpus;
    const memoryMb = o?.memoryMb ?? nodes.memoryMb;
    const memPath = o?.memoryMb ? `/nodes/overrides/${oi}/memoryMb` : "/nodes/memoryMb";
    let memoryLimitMb = dask.memoryLimitMb || memoryMb - OS_RESERVE_MB;
    if (dask.memoryLimitMb && dask.memoryLimitMb > memoryMb) {
      problems.push({
        path: "/dask/memoryLimitMb",
        message: `${dask.memoryLimitMb} MiB is more than ${name}'s ${memoryMb} MiB`,
        fix: `set it to at most ${memoryMb - OS_RESERVE_MB} or give the node more memory`,
      });
    } else if (memoryLimitMb < MIN_WORKER_MEMORY_MB) {
      problems.push({
        path: dask.memoryLimitMb ? "/dask/memoryLimitMb" : memPath,
        message: `${name} would give its worker ${memoryLimitMb} MiB, below the ${MIN_WORKER_MEMORY_MB} MiB a Dask worker needs`,
        fix: dask.memoryLimitMb
          ? `raise dask.memoryLimitMb to at least ${MIN_WORKER_MEMORY_MB}`
          : `give the node at least ${MIN_WORKER_MEMORY_MB + OS_RESERVE_MB} MiB (${OS_RESERVE_MB} MiB stay with the OS)`,
      });
      memoryLimitMb = MIN_WORKER_MEMORY_MB;
    }
    const sshSpec = host ? (({ bind: _bind, ...rest }) => rest)(host) : undefined;
    result.push({
      name,
      index: i + 1,
      ip,
      cpus,
      memoryMb,
      threads: dask.threadsPerWorker || cpus,
      memoryLimitMb,
      ...(sshSpec ? { ssh: sshSpec } : {}),
    });
  });
  return result;
}

function checkPorts(config: ClusterConfig, problems: Problem[]): void {
  const ports = ["schedulerPort", "dashboardPort", "workerPort", "nannyPort", "workerDashboardPort"] as const;
  const seen = new Map<number, string>();
  for (const p of ports) {
    const v = config.dask[p];
    const other = seen.get(v);
    if (other)
      problems.push({
        path: `/dask/${p}`,
        message: `port ${v} is also dask.${other}`,
        fix: "give every service its own port",
      });
    seen.set(v, p);
  }
}

/**
 * Validates a parsed config: fills defaults, checks every rule, and returns the frozen
 * Cluster. Throws UserError(exit 2) listing every problem with its path and fix.
 */
export function resolveCluster(
  raw: unknown,
  projectDir: string,
  opts: ValidateOptions = {},
  source = "cluster.config.json",
): Cluster {
  const input = structuredClone(raw ?? {});
  if (typeof input !== "object" || Array.isArray(input) || input === null) {
    throw badInput(`${source} is not valid`, [
      { path: "/", message: "must be a JSON object", fix: 'write {} for all defaults, or e.g. {"provider": "local"}' },
    ]);
  }
  const provider = (input as { provider?: string }).provider ?? ClusterConfigSchema.properties.provider.default;
  const defaults =
    opts.host && Object.hasOwn(CAPABILITIES, provider)
      ? CAPABILITIES[provider as ProviderName].defaultsOn?.(opts.host)
      : undefined;
  if (defaults) {
    const given = input as { runtime?: { platform?: string }; box?: { name?: string } };
    if (defaults.runtime && given.runtime?.platform === undefined)
      given.runtime = { ...given.runtime, ...defaults.runtime };
    if (defaults.box && given.box?.name === undefined) given.box = { ...given.box, ...defaults.box };
  }
  // The nodes' memory by this host's total memory (host/memory.ts), for nodes on this
  // host; machines elsewhere (ssh) keep the schema's default.
  const caps = Object.hasOwn(CAPABILITIES, provider) ? CAPABILITIES[provider as ProviderName] : undefined;
  const nodesGiven = (input as { nodes?: unknown }).nodes;
  if (
    opts.host?.totalMemBytes &&
    caps?.nodesOnThisHost &&
    (nodesGiven === undefined || (typeof nodesGiven === "object" && nodesGiven !== null && !Array.isArray(nodesGiven)))
  ) {
    const given = input as { nodes?: { memoryMb?: unknown } };
    if (given.nodes?.memoryMb === undefined)
      given.nodes = { ...given.nodes, memoryMb: defaultNodeMemoryMb(opts.host.totalMemBytes) };
  }
  const validate = validator();
  if (!validate(input)) {
    const problems = (validate.errors ?? []).map(describeAjvError);
    throw badInput(`${source} is not valid`, dedupe(problems));
  }
  const config = input as ClusterConfig;
  const problems: Problem[] = [];
  const subnet = parseCidr(config.network.subnet);
  if (!subnet) {
    throw badInput(`${source} is not valid`, [
      {
        path: "/network/subnet",
        message: `"${config.network.subnet}" is not a CIDR subnet`,
        fix: "write it like 192.168.56.0/24 (numbers 0-255, prefix 8-30)",
      },
    ]);
  }
  if (subnet.prefix < 8 || subnet.prefix > 30) {
    problems.push({
      path: "/network/subnet",
      message: `prefix /${subnet.prefix} is out of range`,
      fix: "use a prefix from /8 to /30, e.g. /24",
    });
  }
  if (subnet.network !== ipToInt(subnet.address)) {
    problems.push({
      path: "/network/subnet",
      message: `${config.network.subnet} has host bits set`,
      fix: `write the network address: ${intToIp(subnet.network)}/${subnet.prefix}`,
    });
  }
  checkPorts(config, problems);
  const absProject = path.resolve(projectDir);
  const id = `${config.name}-${createHash("sha256").update(absProject).digest("hex").slice(0, 6)}`;
  const configFile = path.resolve(opts.configFile ?? path.join(absProject, "cluster.config.json"));
  const ssh = resolveSshHosts(config, raw, configFile, id, problems);
  const nodes = resolveNodes(config, subnet, problems, ssh);
  if (problems.length) throw badInput(`${source} is not valid`, problems);

  const scheme = config.dask.tls ? "tls" : "tcp";
  const head = nodes[0]!;
  return deepFreeze({
    config,
    configFile,
    id,
    projectDir: absProject,
    clusterDir: path.join(absProject, ".cluster"),
    nodes,
    subnet,
    schedulerAddress: `${scheme}://${head.ip}:${config.dask.schedulerPort}`,
    dashboardUrl: `http://${head.ip}:${config.dask.dashboardPort}/status`,
  });
}

function dedupe(problems: Problem[]): Problem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const k = `${p.path}|${p.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === "object") {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

export interface LoadOptions {
  readonly projectDir: string;
  readonly env?: NodeJS.ProcessEnv;
  /**
   * The host's platform, architecture and total memory, for the defaults that depend on them. Default: this process's.
   */
  readonly host?: ValidateOptions["host"];
}

/**
 * For CLIs and stacks/main.ts only: reads the config named by CLUSTER_CONFIG, or
 * <project>/cluster.config.json if present, or uses all defaults.
 */
export function loadCluster({
  projectDir,
  env = process.env,
  host = { platform: process.platform, arch: process.arch, totalMemBytes: os.totalmem() },
}: LoadOptions): Cluster {
  const explicit = env.CLUSTER_CONFIG;
  const file = explicit ? path.resolve(projectDir, explicit) : path.join(projectDir, "cluster.config.json");
  let raw: unknown = {};
  if (existsSync(file)) {
    const text = readFileSync(file, "utf8");
    try {
      raw = JSON.parse(text);
    } catch (err) {
      throw badInput(`${file} is not valid JSON`, [
        {
          path: file,
          message: (err as Error).message,
          fix: "fix the JSON syntax (a trailing comma or a missing quote is the usual cause)",
        },
      ]);
    }
  } else if (explicit) {
    throw badInput(`CLUSTER_CONFIG names ${file}, which does not exist`, [
      {
        path: "CLUSTER_CONFIG",
        message: `no file at ${file}`,
        fix: "point CLUSTER_CONFIG at an existing JSON file, or unset it to use cluster.config.json",
      },
    ]);
  }
  return resolveCluster(raw, projectDir, { host, configFile: file }, path.relative(projectDir, file) || file);
}
