// The nodes' default memory and the memory check (provision/host/memory.ts,
// host-checks.ts memoryCheck) on laptops of 8, 16 and 32 GB under Windows, macOS and Linux,
// as each OS reports itself: Linux /proc/meminfo, macOS vm_stat (and hw.memsize, which
// os.totalmem() reads), Windows GlobalMemoryStatusEx (os.totalmem/os.freemem). Recorded
// real outputs where test/fixtures/recorded/README.md names one; the other hosts' numbers
// are injected, in the same formats.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { memoryCheck } from "../provision/host/checks.js";
import {
  availableMemory,
  defaultNodeMemoryMb,
  NODE_MEMORY_STEPS,
  parseMeminfoAvailable,
  parseVmStatAvailable,
} from "../provision/host/memory.js";
import { OS_RESERVE_MB, resolveCluster } from "../provision/config/resolve.js";
import { fakeHost, recorded, type FakeHostOptions } from "./helpers/fake-host.js";

const GIB = 1024 ** 3;
const KIB = 1024;

/** /proc/meminfo's first lines, as the kernel prints them. */
const meminfo = (totalKb: number, availableKb: number) =>
  `MemTotal:       ${totalKb} kB\nMemFree:          349408 kB\nMemAvailable:   ${availableKb} kB\nBuffers:          534320 kB\n`;
/** vm_stat's first lines, as system_cmds' vm_stat.c prints them. */
const vmStat = (pageSize: number, free: number, inactive: number, speculative: number) =>
  `Mach Virtual Memory Statistics: (page size of ${pageSize} bytes)\nPages free:                             ${free}.\nPages active:                            485320.\nPages inactive:                          ${inactive}.\nPages speculative:                       ${speculative}.\nPages throttled:                              0.\nPages wired down:                        715958.\nPages purgeable:                          11820.\n`;

interface Laptop {
  readonly name: string;
  readonly host: FakeHostOptions;
  /** Total as the OS reports it, in bytes. */
  readonly total: number;
  readonly available: number;
  readonly defaultMb: number;
}

const memsize8 = 8 * GIB; // sysctl hw.memsize of an 8 GB Mac: 8589934592
const LAPTOPS: readonly Laptop[] = [
  // Linux: MemTotal and MemAvailable of /proc/meminfo.
  {
    name: "Linux, 8 GB (7.7 GiB)",
    host: { platform: "linux", files: { "/proc/meminfo": meminfo(8_074_000, 4_900_000) } },
    total: 8_074_000 * KIB,
    available: 4_900_000 * KIB,
    defaultMb: 1024,
  },
  {
    name: "Linux, 16 GB (recorded meminfo)",
    host: { platform: "linux", files: { "/proc/meminfo": recorded("linux-16g-proc-meminfo.txt") } },
    total: 16_268_680 * KIB,
    available: 8_366_284 * KIB,
    defaultMb: 2048,
  },
  {
    name: "Linux, 32 GB",
    host: { platform: "linux", files: { "/proc/meminfo": meminfo(32_734_000, 20_100_000) } },
    total: 32_734_000 * KIB,
    available: 20_100_000 * KIB,
    defaultMb: 4096,
  },
  // macOS: hw.memsize is the whole RAM; os.freemem() would count free pages only (here a few hundred MiB).
  {
    name: "macOS, 8 GB Apple Silicon",
    host: { platform: "darwin", arch: "arm64", commands: { vm_stat: vmStat(16384, 3857, 231_000, 1075) } },
    total: memsize8,
    available: (3857 + 231_000 + 1075) * 16384,
    defaultMb: 1024,
  },
  {
    name: "macOS, 7.7 GiB (as the issue counts an 8 GB laptop)",
    host: { platform: "darwin", commands: { vm_stat: vmStat(4096, 52_000, 700_000, 40_000) } },
    total: 7.7 * GIB,
    available: (52_000 + 700_000 + 40_000) * 4096,
    defaultMb: 1024,
  },
  {
    name: "macOS, 16 GB",
    host: { platform: "darwin", arch: "arm64", commands: { vm_stat: vmStat(16384, 20_000, 380_000, 9000) } },
    total: 16 * GIB,
    available: (20_000 + 380_000 + 9000) * 16384,
    defaultMb: 2048,
  },
  {
    name: "macOS, 32 GB Intel (recorded vm_stat)",
    host: { platform: "darwin", commands: { vm_stat: recorded("macos-intel-32g-vm_stat.txt") } },
    total: 32 * GIB,
    available: (6_127_229 + 628_646 + 430_715) * 4096,
    defaultMb: 4096,
  },
  // Windows: ullTotalPhys and ullAvailPhys, what os.totalmem() and os.freemem() return there.
  {
    name: "Windows, 8 GB (7.6 GiB usable)",
    host: { platform: "win32", uid: undefined },
    total: 7.6 * GIB,
    available: 3.4 * GIB,
    defaultMb: 1024,
  },
  {
    name: "Windows, 16 GB (15.7 GiB usable)",
    host: { platform: "win32", uid: undefined },
    total: 15.7 * GIB,
    available: 8.2 * GIB,
    defaultMb: 2048,
  },
  {
    name: "Windows, 32 GB (31.7 GiB usable)",
    host: { platform: "win32", uid: undefined },
    total: 31.7 * GIB,
    available: 22 * GIB,
    defaultMb: 4096,
  },
];

function hostOf(l: Laptop, freeBytes = l.available) {
  // freeGiB stands for os.freemem(): on macOS the free pages only, which the check must not use.
  const freeGiB = l.host.platform === "darwin" ? 0.2 : freeBytes / GIB;
  return fakeHost({ ...l.host, totalGiB: l.total / GIB, freeGiB });
}

describe("memory on 8, 16 and 32 GB laptops", () => {
  it.each(LAPTOPS)(
    "$name: the default fits, never moves, and the check reads available memory as the OS counts it",
    async (l) => {
      const host = hostOf(l);
      const cluster = resolveCluster({}, "/home/u/dvc", {
        host: { platform: host.platform, arch: host.arch, totalMemBytes: host.totalMemBytes },
      });
      expect(cluster.config.nodes.memoryMb).toBe(l.defaultMb);
      expect(
        cluster.nodes.every((n) => n.memoryMb === l.defaultMb && n.memoryLimitMb === l.defaultMb - OS_RESERVE_MB),
      ).toBe(true);
      // The same laptop after a kernel or firmware update reports a few hundred MiB more or less: the same default.
      for (const wobble of [-512, -64, 64])
        expect(defaultNodeMemoryMb(l.total + wobble * 1024 ** 2), `${wobble} MiB`).toBe(l.defaultMb);

      expect((await availableMemory(host)).bytes).toBeCloseTo(l.available, -3);
      const row = await memoryCheck(host, cluster.nodes, true);
      // 3 default nodes and 2 GiB for the host fit in every class from 8 GB up.
      expect(3 * l.defaultMb + 2048).toBeLessThanOrEqual(l.total / 1024 ** 2);
      expect(row.status, row.found).toBe("ok");
      expect(row.found).toContain(`${(l.available / GIB).toFixed(1)} GiB available`);
    },
  );

  it("refuses only what cannot run: on a 7.7 GiB laptop 3 × 2048 MiB runs (a warning when the memory is taken), 3 × 2560 MiB cannot", async () => {
    const total = 8_074_000 * KIB;
    const host = (availableKb: number) =>
      fakeHost({
        platform: "linux",
        totalGiB: total / GIB,
        files: { "/proc/meminfo": meminfo(8_074_000, availableKb) },
      });
    const nodes = (mb: number) => resolveCluster({ nodes: { memoryMb: mb } }, "/home/u/dvc").nodes;
    expect((await memoryCheck(host(7_000_000), nodes(2048), true)).status).toBe("ok");
    const busy = await memoryCheck(host(3_000_000), nodes(2048), true);
    expect(busy).toMatchObject({ status: "warn", path: "/nodes/memoryMb" });
    expect(busy.fix).toMatch(
      /^the host would swap: close programs to free 3\.1 GiB, or lower nodes\.memoryMb \(this host's default: 1024\)/,
    );
    // A redeploy: the cluster's own running VMs hold that memory already, so nothing is missing.
    const redeploy = await memoryCheck(host(3_000_000), nodes(2048), true, ["node1", "node2", "node3"]);
    expect(redeploy).toMatchObject({ status: "ok" });
    expect(redeploy.found).toContain("of which 3 running nodes hold 6.0 GiB");
    const tooBig = await memoryCheck(host(7_000_000), nodes(2560), true);
    expect(tooBig).toMatchObject({ status: "fail", path: "/nodes/memoryMb" });
    expect(tooBig.found).toBe(
      "7.7 GiB total, 6.7 GiB available (MemAvailable); need 7.5 GiB for 3 nodes + at least 1.0 GiB for the host",
    );
    expect(tooBig.fix).toBe(
      "the VMs cannot run in this host's memory: lower nodes.memoryMb (this host's default: 1024) or nodes.count in cluster.config.json",
    );
  });

  it("macOS: free pages alone (what os.freemem() counts) would have warned on this Mac; vm_stat's reclaimable pages do not", async () => {
    const l = LAPTOPS.find((x) => x.name.startsWith("macOS, 16 GB"))!;
    const host = hostOf(l);
    expect(host.freeMemBytes).toBeLessThan(3 * 2048 * 1024 ** 2);
    expect((await memoryCheck(host, resolveCluster({}, "/x").nodes, true)).status).toBe("ok");
  });

  it("the parsers read the recorded outputs, and give up (falling back to the OS's free memory) on anything else", async () => {
    expect(parseMeminfoAvailable(recorded("linux-16g-proc-meminfo.txt"))).toBe(8_366_284 * KIB);
    expect(parseMeminfoAvailable("MemTotal: 1 kB\n")).toBeUndefined();
    // vm_stat prints free as free_count - speculative_count: free + speculative is the kernel's free list.
    expect(parseVmStatAvailable(recorded("macos-intel-32g-vm_stat.txt"))).toBe((6_127_229 + 628_646 + 430_715) * 4096);
    expect(parseVmStatAvailable("no header\nPages free: 5.\n")).toBeUndefined();
    const broken = fakeHost({
      platform: "darwin",
      freeGiB: 3,
      commands: { vm_stat: { exitCode: 1, stderr: "vm_stat: failed" } },
    });
    expect(await availableMemory(broken)).toEqual({ bytes: 3 * GIB, source: "free memory" });
  });

  it("the steps: ascending, each leaving the host 2 GiB beside 3 nodes from 8 GB up, a worker of at least 256 MiB, and no bound near a size laptops are sold in", () => {
    const bounds = NODE_MEMORY_STEPS.map((s) => s.belowGiB).filter(Number.isFinite);
    expect(bounds).toEqual([...bounds].sort((a, b) => a - b));
    for (const s of NODE_MEMORY_STEPS) expect(s.memoryMb - OS_RESERVE_MB).toBeGreaterThanOrEqual(256);
    for (const size of [4, 6, 8, 12, 16, 18, 24, 32, 36, 48, 64]) {
      // What such a laptop reports: its size, down to 1 GiB less (firmware, an integrated GPU, the kernel).
      expect(defaultNodeMemoryMb(size * GIB), `${size} GB`).toBe(defaultNodeMemoryMb((size - 1) * GIB));
    }
  });

  it("the SVD benchmark's size test (test/cluster-runtime/test_svd_sizes.py) covers exactly these steps", () => {
    const py = readFileSync(new URL("./cluster-runtime/test_svd_sizes.py", import.meta.url), "utf8");
    const listed = /^DEFAULT_NODE_MB = \(([\d, ]+)\)/m
      .exec(py)?.[1]
      ?.split(",")
      .map((x) => Number(x.trim()));
    expect(
      listed,
      "edit DEFAULT_NODE_MB in test/cluster-runtime/test_svd_sizes.py to the steps of provision/host/memory.ts",
    ).toEqual(NODE_MEMORY_STEPS.map((s) => s.memoryMb));
  });

  it("machines elsewhere (provider ssh) keep the schema's 2048 MiB whatever this computer has; a memoryMb written in the config always wins", () => {
    const small = { platform: "linux" as const, arch: "x64", totalMemBytes: 7.7 * GIB };
    const ssh = resolveCluster(
      { provider: "ssh", ssh: { hosts: [{ address: "10.0.0.2", user: "u" }] } },
      "/home/u/dvc",
      { host: small },
    );
    expect(ssh.config.nodes.memoryMb).toBe(2048);
    expect(resolveCluster({ nodes: { memoryMb: 1536 } }, "/home/u/dvc", { host: small }).config.nodes.memoryMb).toBe(
      1536,
    );
    expect(resolveCluster({ provider: "local" }, "/home/u/dvc", { host: small }).config.nodes.memoryMb).toBe(1024);
  });
});
