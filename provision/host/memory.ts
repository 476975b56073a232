// This computer's memory as the nodes see it: the default size of a node, derived from the
// host's TOTAL memory in a few steps, and the memory the host can give right now, read the
// way each OS counts it (Linux MemAvailable, macOS vm_stat's reclaimable pages, Windows'
// own "available" counter). The checks in host/checks.ts and the config defaults
// (config/resolve.ts) ask this and nothing else.
import type { Host } from "./host.js";

const GIB = 1024 ** 3;

/**
 * Default memory of one node (MiB) by the host's total memory, lowest class first.
 *
 * Why steps, and why there: the default is in every machine stage's triggers, so a default
 * that moved between two deploys would remake the VMs. The total a host reports is fixed
 * by its RAM, minus what the firmware, an integrated GPU and the kernel keep: an "8 GB"
 * laptop reports 7.6-7.9 GiB, a "16 GB" one 14-15.9, a Mac exactly its size. Reported
 * totals wobble by megabytes (a kernel update, a firmware setting), never by gigabytes,
 * so each bound sits well between the sizes laptops are sold in (4, 8, 12, 16, 18, 24,
 * 32, 36, 64 GB): a laptop stays in its class for as long as it keeps its RAM. Each step
 * leaves the host 2 GiB or more beside 3 nodes (the 4 GB class: 1.5 GiB), and the SVD
 * benchmark sizes its matrix from the workers' limits (3.2 × the smallest), so it stays
 * larger than a worker's memory at every step.
 */
export const NODE_MEMORY_STEPS: readonly { readonly belowGiB: number; readonly memoryMb: number }[] = [
  { belowGiB: 5, memoryMb: 768 },
  { belowGiB: 13, memoryMb: 1024 },
  { belowGiB: 28, memoryMb: 2048 },
  { belowGiB: Number.POSITIVE_INFINITY, memoryMb: 4096 },
];

/** The default nodes.memoryMb for a host with this much memory in total (bytes). */
export function defaultNodeMemoryMb(totalMemBytes: number): number {
  return NODE_MEMORY_STEPS.find((s) => totalMemBytes < s.belowGiB * GIB)!.memoryMb;
}

/** The steps in words, for the schema's description and messages. */
export function nodeMemoryStepsText(): string {
  return NODE_MEMORY_STEPS.map((s) =>
    Number.isFinite(s.belowGiB) ? `under ${s.belowGiB} GiB ${s.memoryMb}` : `else ${s.memoryMb}`,
  ).join(", ");
}

export interface AvailableMemory {
  readonly bytes: number;
  /** Where the number comes from, for the check's row. */
  readonly source: string;
}

/** MemAvailable of /proc/meminfo (Linux >= 3.14), in bytes; undefined when absent. */
export function parseMeminfoAvailable(text: string): number | undefined {
  const kb = /^MemAvailable:\s+(\d+)\s*kB/m.exec(text)?.[1];
  return kb === undefined ? undefined : Number(kb) * 1024;
}

/**
 * `vm_stat` (macOS): the pages the kernel hands to a program without swapping, in bytes.
 * vm_stat prints "Pages free" as free_count minus speculative_count (system_cmds
 * vm_stat.c), so free + speculative is the kernel's free list, and inactive pages are
 * reclaimed before anything is swapped. Purgeable pages are not added: they sit on the
 * active and inactive queues, so the inactive ones would count twice. Pages of the page
 * size its first line names (4096 on Intel, 16384 on Apple Silicon).
 */
export function parseVmStatAvailable(text: string): number | undefined {
  const pageSize = Number(/page size of (\d+) bytes/.exec(text)?.[1]);
  const pages = (label: string) => {
    const m = new RegExp(`^Pages ${label}:\\s+(\\d+)\\.?\\s*$`, "m").exec(text);
    return m ? Number(m[1]) : undefined;
  };
  const free = pages("free");
  if (!pageSize || free === undefined) return undefined;
  return (free + (pages("inactive") ?? 0) + (pages("speculative") ?? 0)) * pageSize;
}

/**
 * What this host can give without swapping, as its OS counts it. Node's os.freemem() is
 * right on Windows (GlobalMemoryStatusEx's ullAvailPhys: Task Manager's "Available",
 * standby list included) but on macOS it counts free pages only, which a Mac keeps near
 * zero by design; Linux is read from MemAvailable itself whatever libuv does.
 */
export async function availableMemory(host: Host): Promise<AvailableMemory> {
  if (host.platform === "linux") {
    const text = host.readText("/proc/meminfo");
    const bytes = text === undefined ? undefined : parseMeminfoAvailable(text);
    if (bytes !== undefined) return { bytes, source: "MemAvailable" };
  }
  if (host.platform === "darwin") {
    const r = await host.run(["vm_stat"], { timeoutMs: 10_000 });
    const bytes = r.exitCode === 0 ? parseVmStatAvailable(r.stdout) : undefined;
    if (bytes !== undefined) return { bytes, source: "vm_stat: free + inactive + speculative pages" };
  }
  if (host.platform === "win32") return { bytes: host.freeMemBytes, source: "Windows' available memory" };
  return { bytes: host.freeMemBytes, source: "free memory" };
}
