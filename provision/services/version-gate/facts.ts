// The version gate's logic: collect what every node runs (Python, every distribution in
// the runtime venv, bundle id, OS, architecture), compare it with the lock and across
// nodes, and, when the services run, with what the scheduler, workers and client report
// through client.get_versions(). Pure comparison functions; collection goes through Transports.

import { shq, type Transport } from "../../machines/transport.js";
import { parseLock, normalizeName } from "../../runtime/lock.js";
import type { NodeSpec } from "../../core/model.js";
import { nodePaths } from "../../core/node-paths.js";

export interface NodeReport {
  readonly python: { readonly version: string; readonly version_info: string };
  readonly platform: { readonly machine: string; readonly system?: string; readonly release?: string };
  readonly os_release: Readonly<Record<string, string>>;
  readonly bundle_id: string | null;
  readonly distributions: Readonly<Record<string, string>>;
}

export type Collected =
  | { readonly node: string; readonly report: NodeReport }
  | { readonly node: string; readonly error: string };

export interface Expected {
  /** major.minor, e.g. 3.11 */
  readonly python: string;
  /** x86_64 or aarch64 */
  readonly platform: string;
  readonly bundleId: string;
  /** normalised name -> version, from the lock */
  readonly lock: ReadonlyMap<string, string>;
}

export interface DriftRow {
  /** python, bundle, os, arch, or the distribution's name */
  readonly item: string;
  readonly kind: "python" | "bundle" | "os" | "arch" | "package" | "service";
  readonly expected: string;
  /** node (or scheduler/worker/client) -> what it has; "(missing)" when absent */
  readonly found: Readonly<Record<string, string>>;
  readonly drift: boolean;
}

/** Venv tooling that comes with the node's Python, not from the lock. */
const TOOLING = new Set(["pip", "setuptools", "wheel"]);
export const MISSING = "(missing)";
export const NOT_IN_LOCK = "(not in lock)";

/** normalised name -> version of a pip lock. */
export function lockedVersions(text: string): Map<string, string> {
  return new Map(parseLock(text).entries.map((e) => [e.name, e.version]));
}

/** Runs the runtime's version report on one node. */
export async function collectNode(t: Transport): Promise<NodeReport> {
  const py = nodePaths(t.root).python;
  const r = await t.run(`${shq(py)} -m dask_vm_runtime versions --root ${shq(t.root)}`, { timeoutMs: 60_000 });
  return JSON.parse(r.stdout) as NodeReport;
}

/** Every node in parallel; an unreachable node or one without the runtime is an error entry. */
export async function collectAll(transports: readonly Transport[]): Promise<Collected[]> {
  return Promise.all(
    transports.map(async (t) => {
      try {
        return { node: t.node, report: await collectNode(t) };
      } catch (err) {
        return { node: t.node, error: (err as Error).message.split("\n").slice(0, 4).join(" ") };
      }
    }),
  );
}

/**
 * A row drifts when nodes disagree, or when exact (the lock's version, the bundle id) is
 * given and some node differs from it; `expected` is what the table shows.
 */
function row(
  item: string,
  kind: DriftRow["kind"],
  expected: string,
  found: Record<string, string>,
  exact: string | undefined,
  extraDrift = false,
): DriftRow {
  const values = new Set(Object.values(found));
  const drift = extraDrift || values.size > 1 || (exact !== undefined && [...values].some((v) => v !== exact));
  return { item, kind, expected, found, drift };
}

/**
 * Compares node reports with the lock and with each other: one row per item. Clients (a
 * host client venv) are held to the lock, the bundle and the architecture like nodes, but
 * to the nodes' Python by major.minor only, and their OS is theirs.
 */
export function compareNodes(
  reports: ReadonlyArray<{ node: string; report: NodeReport }>,
  expected: Expected,
  clients: ReadonlySet<string> = new Set(),
): DriftRow[] {
  const rows: DriftRow[] = [];
  const by = (f: (r: NodeReport) => string, of = reports) =>
    Object.fromEntries(of.map(({ node, report }) => [node, f(report)]));
  const nodesOnly = reports.filter((r) => !clients.has(r.node));

  const pyFull = by((r) => r.python.version_info);
  const pyWrongMinor = Object.values(pyFull).some((v) => !v.startsWith(`${expected.python}.`) && v !== expected.python);
  const nodesDiffer = new Set(Object.values(by((r) => r.python.version_info, nodesOnly))).size > 1;
  rows.push({
    ...row(
      "python",
      "python",
      `${expected.python}.x (same on every node)`,
      pyFull,
      undefined,
      pyWrongMinor || nodesDiffer,
    ),
    drift: pyWrongMinor || nodesDiffer,
  });
  rows.push(
    row(
      "bundle",
      "bundle",
      expected.bundleId,
      by((r) => r.bundle_id ?? MISSING),
      expected.bundleId,
    ),
  );
  const arch = by((r) => (r.platform.machine === "arm64" ? "aarch64" : r.platform.machine));
  rows.push(row("arch", "arch", expected.platform, arch, expected.platform));
  rows.push(
    row(
      "os",
      "os",
      "",
      by((r) => r.os_release.PRETTY_NAME ?? r.os_release.ID ?? "unknown", nodesOnly),
      undefined,
    ),
  );

  const names = new Set<string>([...expected.lock.keys()]);
  for (const { report } of reports) for (const n of Object.keys(report.distributions)) names.add(normalizeName(n));
  for (const name of [...names].sort()) {
    const found = by((r) => {
      const hit = Object.entries(r.distributions).find(([n]) => normalizeName(n) === name);
      return hit ? hit[1] : MISSING;
    });
    const locked = expected.lock.get(name);
    if (TOOLING.has(name) && !locked) rows.push(row(name, "package", "", found, undefined));
    else rows.push(row(name, "package", locked ?? NOT_IN_LOCK, found, locked ?? MISSING));
  }
  return rows;
}

/** client.get_versions() as the runtime's client-versions command prints it (under "versions"). */
export interface ServiceVersions {
  readonly scheduler: { readonly packages: Readonly<Record<string, string | null>> };
  readonly workers: Readonly<Record<string, { readonly packages: Readonly<Record<string, string | null>> }>>;
  readonly client: { readonly packages: Readonly<Record<string, string | null>> };
}

/** scheduler vs workers vs client, per package get_versions() reports. */
export function compareServices(v: ServiceVersions, workerNames: ReadonlyMap<string, string> = new Map()): DriftRow[] {
  const sources: Array<[string, Readonly<Record<string, string | null>>]> = [
    ["scheduler", v.scheduler.packages],
    ...Object.entries(v.workers).map(([addr, w]): [string, Readonly<Record<string, string | null>>] => [
      `worker ${workerNames.get(addr) ?? addr}`,
      w.packages,
    ]),
    ["client", v.client.packages],
  ];
  const names = new Set<string>();
  for (const [, p] of sources) for (const n of Object.keys(p)) names.add(n);
  return [...names].sort().map((name) => {
    const found = Object.fromEntries(sources.map(([who, p]) => [who, p[name] ?? MISSING]));
    return row(name, "service", "", found, undefined);
  });
}

/** Nodes as columns; only differing rows unless all. */
export function renderTable(rows: readonly DriftRow[], columns: readonly string[], all = false): string {
  const shown = rows.filter((r) => all || r.drift);
  if (!shown.length) return "";
  const header = ["item", "expected", ...columns];
  const body = shown.map((r) => [
    `${r.drift ? "✗" : " "} ${r.item}`,
    r.expected,
    ...columns.map((c) => r.found[c] ?? ""),
  ]);
  const widths = header.map((h, i) => Math.min(48, Math.max(h.length, ...body.map((b) => (b[i] ?? "").length))));
  const fmt = (cells: readonly string[]) =>
    cells.map((c, i) => (c.length > widths[i]! ? `${c.slice(0, widths[i]! - 1)}…` : c.padEnd(widths[i]!))).join("  ");
  return [fmt(header), widths.map((w) => "-".repeat(w)).join("  "), ...body.map(fmt)].join("\n");
}

/** One sentence per drifting (node, item): node, package, expected and found. */
export function describeDrift(rows: readonly DriftRow[]): string[] {
  const out: string[] = [];
  for (const r of rows.filter((x) => x.drift)) {
    const values = Object.values(r.found);
    const majority = mostCommon(values);
    for (const [who, v] of Object.entries(r.found)) {
      // A package the lock does not name is drift where it is installed, not where it is absent.
      if (r.expected === NOT_IN_LOCK) {
        if (v !== MISSING) out.push(`${who}: ${r.item} expected ${NOT_IN_LOCK}, found ${v}`);
        continue;
      }
      const ref = r.expected && !r.expected.includes(" ") ? r.expected : majority;
      if (v !== ref) out.push(`${who}: ${r.item} expected ${r.expected || ref}, found ${v}`);
    }
  }
  return out;
}

function mostCommon(values: readonly string[]): string {
  const counts = new Map<string, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  return [...counts.entries()].sort((a, b) => b[1] - a[1])[0]?.[0] ?? "";
}

/** Nodes named in drifting rows (for --fix): those whose value differs from the expectation. */
export function driftingNodes(rows: readonly DriftRow[], nodes: readonly NodeSpec[]): string[] {
  const names = new Set<string>();
  for (const line of describeDrift(rows.filter((r) => r.kind !== "service"))) names.add(line.split(":")[0]!);
  return nodes.map((n) => n.name).filter((n) => names.has(n));
}
