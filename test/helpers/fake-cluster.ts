// Shared stand-ins above the host: a machine provider and node transports that record
// what the stages ask of them and answer like a healthy cluster (a bundle installs, a
// scheduler lists its workers), so every stage runs in the fast tier without root, VMs or
// Dask. Scripts a stage sends to a node are answered by the first matching rule.
import { readFileSync } from "node:fs";
import { bundleIdOf, lockPath } from "../../provision/runtime/bundle.js";
import type { CheckRow } from "../../provision/core/check-rows.js";

import type { Log } from "../../provision/core/log.js";
import type { MachineProvider, MachineStatus, ProviderCapabilities } from "../../provision/machines/provider.js";
import type { ClusterRef, RuntimeRef } from "../../provision/core/stage-spec.js";
import {
  NodeCommandError,
  type RunOptions,
  type RunResult,
  type Transport,
} from "../../provision/machines/transport.js";
import { REPO } from "./project.js";
import { repoRuntime } from "./stack-specs.js";
import { parseLock } from "../../provision/runtime/lock.js";
import type { NodeSpec, HostNeeds } from "../../provision/core/model.js";

export interface NodeScript {
  /** Matched against the script sent. */
  readonly match: RegExp;
  readonly reply: Partial<RunResult> | ((script: string, node: string) => Partial<RunResult>);
}

/**
 * Everything the fakes were asked, in order: "provider createMachine node2", "node1 run <first line>", "node1 put
 * <remote>".
 */
export type Journal = string[];

export class FakeTransport implements Transport {
  readonly root = "/opt/dask-vm-cluster";
  readonly serviceManager = "systemd" as const;
  readonly slowness = 1;
  readonly scripts: string[] = [];

  constructor(
    readonly node: string,
    private readonly journal: Journal,
    private readonly rules: readonly NodeScript[],
  ) {}

  async run(script: string, opts: RunOptions = {}): Promise<RunResult> {
    this.scripts.push(script);
    this.journal.push(`${this.node} run ${script.trim().split("\n")[0]}`);
    const rule = this.rules.find((r) => r.match.test(script));
    const reply = rule ? (typeof rule.reply === "function" ? rule.reply(script, this.node) : rule.reply) : {};
    const result = { stdout: "", stderr: "", exitCode: 0, ...reply };
    if (opts.onLine) for (const l of result.stdout.split("\n").filter(Boolean)) opts.onLine(l);
    if (result.exitCode !== 0 && !opts.nothrow) throw new NodeCommandError(this.node, script, result);
    return result;
  }

  async put(_local: string, remote: string): Promise<void> {
    this.journal.push(`${this.node} put ${remote}`);
  }

  async get(remote: string, _local: string): Promise<void> {
    this.journal.push(`${this.node} get ${remote}`);
  }

  shell() {
    return { argv: ["true"] };
  }
}

/** A healthy node's version report for this checkout's x86_64 lock (what the version gate compares). */
export function versionsReply(runtime: RuntimeRef = repoRuntime()): NodeScript {
  const lock = parseLock(readFileSync(lockPath(REPO, "x86_64"), "utf8"));
  const report = {
    python: { version: "3.11.9", version_info: "3.11.9" },
    platform: { machine: "x86_64" },
    os_release: { PRETTY_NAME: "Debian GNU/Linux 12 (bookworm)" },
    bundle_id: bundleIdOf(runtime),
    distributions: Object.fromEntries(lock.entries.map((e) => [e.name, e.version])),
  };
  return { match: /dask_vm_runtime versions/, reply: { stdout: JSON.stringify(report) } };
}

/** A new node has no runtime: the install stage's check for it (runtime/install.ts hasBundle) fails. */
export const NO_BUNDLE_YET: NodeScript = { match: /\.dvc-complete/, reply: { exitCode: 1 } };

/** What a scheduler answers to wait-workers: every asked name registered on its node's IP. */
export function registered(nodes: readonly NodeSpec[]): NodeScript {
  return {
    match: /wait-workers/,
    reply: (script) => {
      const names = /--names ([^ ]*)/.exec(script)?.[1]?.split(",").filter(Boolean) ?? [];
      return {
        stdout: JSON.stringify(
          nodes
            .filter((n) => names.includes(n.name))
            .map((n) => ({
              name: n.name,
              address: `tls://${n.ip}:8788`,
              host: n.ip,
              nthreads: n.threads,
              memory_limit: n.memoryLimitMb * 2 ** 20,
            })),
        ),
      };
    },
  };
}

export interface FakeProviderOptions {
  readonly capabilities?: Partial<ProviderCapabilities>;
  readonly checks?: CheckRow[];
  /** Nodes that exist before any stage runs (default: those createMachine made). */
  readonly existing?: readonly string[];
  readonly rules?: readonly NodeScript[];
}

export class FakeProvider implements MachineProvider {
  readonly name = "local" as const;
  readonly capabilities: ProviderCapabilities;
  readonly journal: Journal = [];
  readonly machines = new Set<string>();
  /** Machines powered off (stopMachine), which createMachine powers on. */
  readonly stopped = new Set<string>();
  readonly transports = new Map<string, FakeTransport>();

  constructor(private readonly o: FakeProviderOptions = {}) {
    this.capabilities = {
      parallelMachines: true,
      hostReachesNodes: true,
      reservesResources: true,
      nodesOnThisHost: true,
      ...o.capabilities,
    };
    for (const n of o.existing ?? []) this.machines.add(n);
  }

  private note(what: string): void {
    this.journal.push(`provider ${what}`);
  }

  async checks(_c: ClusterRef, needs: HostNeeds): Promise<CheckRow[]> {
    this.note(`checks ${needs.python} ${needs.platform}`);
    return this.o.checks ?? [];
  }
  async createNetwork(): Promise<void> {
    this.note("createNetwork");
  }
  async destroyNetwork(): Promise<void> {
    this.note("destroyNetwork");
  }
  async prepareBox(): Promise<void> {
    this.note("prepareBox");
  }
  async removeBox(): Promise<void> {
    this.note("removeBox");
  }
  async createMachine(_c: ClusterRef, node: NodeSpec): Promise<void> {
    this.note(`createMachine ${node.name}`);
    this.machines.add(node.name);
    this.stopped.delete(node.name);
  }
  async networkPresent(): Promise<boolean> {
    return true;
  }
  async machineState(_c: ClusterRef, node: NodeSpec): Promise<MachineStatus> {
    if (this.stopped.has(node.name)) return { state: "stopped", detail: "fake: powered off" };
    return this.machines.has(node.name)
      ? { state: "running", detail: "fake: running" }
      : { state: "missing", detail: "fake: not made" };
  }
  async stopMachine(_c: ClusterRef, node: NodeSpec): Promise<void> {
    this.note(`stopMachine ${node.name}`);
    if (this.machines.has(node.name)) this.stopped.add(node.name);
  }
  async destroyMachine(_c: ClusterRef, node: NodeSpec): Promise<void> {
    this.note(`destroyMachine ${node.name}`);
    this.machines.delete(node.name);
  }
  transport(c: ClusterRef, node: NodeSpec): FakeTransport {
    let t = this.transports.get(node.name);
    if (!t) {
      t = new FakeTransport(node.name, this.journal, [
        ...(this.o.rules ?? []),
        registered([...c.nodes, c.head]),
        NO_BUNDLE_YET,
      ]);
      this.transports.set(node.name, t);
    }
    return t;
  }
}

/** A Log that keeps the lines instead of printing them. */
export function memoryLog(): Log & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    step: (scope, message) => void lines.push(`[${scope}] ${message}`),
    timed: async (scope, what, fn) => {
      lines.push(`[${scope}] ${what}...`);
      const out = await fn();
      lines.push(`[${scope}] ${what}: done`);
      return out;
    },
  };
}
