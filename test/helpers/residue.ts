// What a cluster leaves on the host, to assert that destroy leaves nothing: its
// namespaces, processes started from its folder, listening sockets on the host, and files
// in the project outside .cluster/, results/ and the synth output.
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { expect } from "vitest";
import { $ } from "zx";

export interface Residue {
  readonly namespaces: string[];
  readonly processes: string[];
  readonly hostListeners: string[];
  readonly files: string[];
}

const KEPT = new Set([".cluster", "results", "cdktf.out", "node_modules"]);

function listFiles(dir: string, rel = ""): string[] {
  const out: string[] = [];
  for (const e of readdirSync(path.join(dir, rel), { withFileTypes: true })) {
    const r = path.join(rel, e.name);
    if (!rel && KEPT.has(e.name)) continue;
    if (e.isDirectory()) out.push(...listFiles(dir, r));
    else out.push(`${r}:${statSync(path.join(dir, r)).size}`);
  }
  return out.sort();
}

function processesMentioning(needle: string): string[] {
  const out: string[] = [];
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ").trim();
      if (cmd.includes(needle) && Number(pid) !== process.pid) out.push(`${pid} ${cmd.slice(0, 160)}`);
    } catch {
      // the process ended while we looked
    }
  }
  return out;
}

export async function residue(projectDir: string, clusterId: string, nodeIps: readonly string[]): Promise<Residue> {
  const ns = (await $({ quiet: true })`ip netns list`).stdout
    .split("\n")
    .map((l) => l.split(" ")[0]!)
    .filter((n) => n.includes(clusterId));
  // The cluster listens only inside its namespaces: the host must never show its ports.
  const listeners = (await $({ quiet: true })`ss -Hltn`).stdout
    .split("\n")
    .map((l) => l.trim().split(/\s+/)[3] ?? "")
    .filter((a) => nodeIps.some((ip) => a.startsWith(`${ip}:`)))
    .sort();
  const procs = processesMentioning(path.join(projectDir, ".cluster")).filter((p) => !p.includes("vitest"));
  return { namespaces: ns.sort(), processes: procs, hostListeners: listeners, files: listFiles(projectDir) };
}

/**
 * What a destroy must leave: no namespace or process of the cluster, the host's listening
 * sockets and the project's files as they were before it was deployed (but for the
 * user's own files, `kept`), each difference named by expect's diff.
 */
export function expectNothingLeft(
  after: Residue,
  before: Residue,
  kept: (file: string) => boolean = () => false,
): void {
  expect(after.namespaces).toEqual([]);
  expect(after.processes).toEqual([]);
  expect(after.hostListeners).toEqual(before.hostListeners);
  expect(after.files.filter((f) => !kept(f))).toEqual(before.files);
}
