// A class's roster (`npm run class -- roster roster.csv`): one cluster config per student,
// for lab PCs reached with provider ssh, that cannot collide with another student's. Two
// students may share a host (as two clusters on one ssh host already can): each gets a
// cluster name, a block of five ports (scheduler, dashboard, worker, nanny, worker
// dashboard) and a runtime folder of their own. Columns a teacher fills in (a name, a base
// port, a folder) are kept as given and checked: a port or folder used twice on one host, or
// one cluster name twice, is refused naming both students, and nothing is written.
import path from "node:path";
import { parse } from "csv-parse/sync";
import { badInput, type Problem } from "../core/errors.js";
import { resolveCluster } from "./resolve.js";

/** One row of the roster, as given. */
export interface RosterRow {
  readonly line: number;
  readonly student: string;
  /** Each host, node 1 first, with the account used there (user@host, else the user column). */
  readonly hosts: ReadonlyArray<{ readonly address: string; readonly user: string }>;
  readonly identityFile?: string;
  readonly name?: string;
  readonly port?: number;
  readonly root?: string;
}

/** What one student gets. */
export interface Seat {
  readonly student: string;
  readonly name: string;
  /** Each host with its account and the runtime folder there. */
  readonly hosts: ReadonlyArray<{ readonly address: string; readonly user: string; readonly root: string }>;
  readonly ports: {
    schedulerPort: number;
    dashboardPort: number;
    workerPort: number;
    nannyPort: number;
    workerDashboardPort: number;
  };
  readonly config: Record<string, unknown>;
}

export const COLUMNS = ["student", "hosts", "user", "identityFile", "name", "port", "root"] as const;
const REQUIRED = ["student", "hosts"] as const;
const USER = /^[a-z_][a-z0-9_.-]{0,31}$/;
/** The first student's base port (Dask's scheduler port); each next one 10 further. */
export const FIRST_PORT = 8786;
export const PORT_STEP = 10;
const NAME = /^[a-z][a-z0-9]{0,11}$/;

/** Reads roster.csv: a header row naming the columns, one row per student. */
export function parseRoster(text: string, file: string): RosterRow[] {
  let records: Record<string, string>[];
  try {
    records = parse(text.replace(/^\uFEFF/, ""), {
      columns: (header: string[]) => header.map((h) => h.trim()),
      skip_empty_lines: true,
      trim: true,
      comment: "#",
    });
  } catch (err) {
    throw badInput(`${file} is not a CSV file this command can read`, [
      {
        path: file,
        message: (err as Error).message,
        fix: `a header row (${COLUMNS.join(",")}), then one row per student`,
      },
    ]);
  }
  const problems: Problem[] = [];
  const header = Object.keys(records[0] ?? {});
  for (const c of REQUIRED)
    if (!header.includes(c))
      problems.push({
        path: `${file}: header`,
        message: `no column "${c}"`,
        fix: `columns: ${COLUMNS.join(", ")} (student and hosts required; user unless every host is user@host)`,
      });
  for (const c of header)
    if (!(COLUMNS as readonly string[]).includes(c))
      problems.push({
        path: `${file}: header`,
        message: `unknown column "${c}"`,
        fix: `columns: ${COLUMNS.join(", ")}`,
      });
  if (!records.length)
    problems.push({ path: file, message: "no student", fix: "one row per student after the header" });
  if (problems.length) throw badInput(`${file} cannot be used`, problems);
  const rows = records.map((r, i): RosterRow => {
    const line = i + 2;
    const at = `${file}:${line}`;
    const hosts = (r.hosts ?? "")
      .split(/[\s;]+/)
      .filter(Boolean)
      .map((h) => {
        const at = h.lastIndexOf("@");
        return at > 0 ? { address: h.slice(at + 1), user: h.slice(0, at) } : { address: h, user: r.user ?? "" };
      });
    if (!r.student) problems.push({ path: `${at}: student`, message: "empty", fix: "the student's name" });
    if (!hosts.length)
      problems.push({
        path: `${at}: hosts`,
        message: "empty",
        fix: 'the lab PCs, space-separated, node 1 first: "pc01 pc02 pc03" (or etu@pc01 ...)',
      });
    for (const h of hosts)
      if (!USER.test(h.user))
        problems.push({
          path: `${at}: ${h.user ? "hosts" : "user"}`,
          message: h.user ? `"${h.user}" (on ${h.address}) is not a user name` : `no account for ${h.address}`,
          fix: "the account the student logs in with: the user column, or user@host in hosts",
        });
    if (r.name && !NAME.test(r.name))
      problems.push({
        path: `${at}: name`,
        message: `"${r.name}"`,
        fix: "1-12 lowercase letters and digits, starting with a letter",
      });
    const port = r.port ? Number(r.port) : undefined;
    if (port !== undefined && !(Number.isInteger(port) && port >= 1024 && port <= 65530))
      problems.push({
        path: `${at}: port`,
        message: `"${r.port}"`,
        fix: "a whole number from 1024 to 65530: the first of the student's five ports",
      });
    if (r.root && !path.posix.isAbsolute(r.root))
      problems.push({
        path: `${at}: root`,
        message: `"${r.root}"`,
        fix: "an absolute folder on the hosts, e.g. /home/etu/dask-alice",
      });
    return {
      line,
      student: r.student ?? "",
      hosts,
      ...(r.identityFile ? { identityFile: r.identityFile } : {}),
      ...(r.name ? { name: r.name } : {}),
      ...(port !== undefined ? { port } : {}),
      ...(r.root ? { root: r.root } : {}),
    };
  });
  if (problems.length) throw badInput(`${file} cannot be used`, problems);
  return rows;
}

/** A student's name as a cluster name: lowercase ASCII letters and digits, 12 at most, a letter first. */
export function clusterName(student: string): string {
  const ascii = student
    .normalize("NFD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .replace(/[^a-z0-9]/g, "");
  const named = /^[a-z]/.test(ascii) ? ascii : `s${ascii}`;
  return named.slice(0, 12) || "s";
}

function portsFrom(base: number): Seat["ports"] {
  return {
    schedulerPort: base,
    dashboardPort: base + 1,
    workerPort: base + 2,
    nannyPort: base + 3,
    workerDashboardPort: base + 4,
  };
}

/**
 * Every student's seat, or bad input naming the two students of each collision. base is the
 * class's own config (sizes, Python, packages: what every student's cluster shares).
 */
export function seatClass(
  rows: readonly RosterRow[],
  base: Record<string, unknown>,
  opts: { knownHosts?: string; rosterDir: string },
): Seat[] {
  const seats = rows.map((r, i): Seat => {
    const name = r.name ?? clusterName(r.student);
    const ports = portsFrom(r.port ?? FIRST_PORT + PORT_STEP * i);
    const hosts = r.hosts.map((h) => ({
      ...h,
      root: r.root ?? `${h.user === "root" ? "/root" : `/home/${h.user}`}/.dask-vm-cluster/${name}`,
    }));
    const baseDask = (base.dask as Record<string, unknown> | undefined) ?? {};
    const baseSsh = (base.ssh as Record<string, unknown> | undefined) ?? {};
    const config = {
      ...base,
      name,
      provider: "ssh",
      dask: { ...baseDask, ...ports },
      ssh: {
        ...baseSsh,
        hosts: hosts.map((h) => ({
          address: h.address,
          user: h.user,
          root: h.root,
          ...(r.identityFile ? { identityFile: path.resolve(opts.rosterDir, r.identityFile) } : {}),
        })),
        ...(opts.knownHosts ? { knownHosts: path.resolve(opts.rosterDir, opts.knownHosts) } : {}),
      },
    };
    return { student: r.student, name, hosts, ports, config };
  });
  const problems = collisions(seats, rows);
  if (problems.length) throw badInput("the roster has collisions: no config was written", problems);
  return seats;
}

/**
 * Every pair of students that would collide, once per pair and kind: one cluster name, or
 * ports or a folder on hosts they share.
 */
export function collisions(seats: readonly Seat[], rows: readonly RosterRow[]): Problem[] {
  const owner = new Map<string, number>();
  const clashes = new Map<
    string,
    { a: number; b: number; kind: "name" | "port" | "root"; hosts: Set<string>; items: Set<string> }
  >();
  const claim = (key: string, i: number, kind: "name" | "port" | "root", host: string, item: string) => {
    const j = owner.get(key);
    if (j === undefined || j === i) {
      owner.set(key, i);
      return;
    }
    const id = `${j}|${i}|${kind}`;
    const c = clashes.get(id) ?? { a: j, b: i, kind, hosts: new Set<string>(), items: new Set<string>() };
    c.hosts.add(host);
    c.items.add(item);
    clashes.set(id, c);
  };
  seats.forEach((s, i) => {
    claim(`name:${s.name}`, i, "name", "", s.name);
    for (const h of s.hosts) {
      for (const port of Object.values(s.ports)) claim(`port:${h.address}:${port}`, i, "port", h.address, String(port));
      claim(`root:${h.address}:${h.root}`, i, "root", h.address, h.root);
    }
  });
  return [...clashes.values()].map((c) => {
    const [a, b] = [seats[c.a]!.student, seats[c.b]!.student];
    const on = [...c.hosts].join(", ");
    const at = `line ${rows[c.b]!.line}: ${c.kind}`;
    if (c.kind === "name")
      return {
        path: at,
        message: `${a} and ${b} would both be cluster "${[...c.items][0]}"`,
        fix: "give one of them another name in the name column",
      };
    if (c.kind === "port")
      return {
        path: at,
        message: `${a} and ${b} would both use port${c.items.size > 1 ? "s" : ""} ${[...c.items].join(", ")} on ${on}`,
        fix: `leave the port column empty for both (each then gets ${PORT_STEP} ports of their own), or give bases at least 5 apart`,
      };
    return {
      path: at,
      message: `${a} and ${b} would both use ${[...c.items][0]} on ${on}`,
      fix: "leave the root column empty for both (each gets a folder named after their cluster), or give each its own",
    };
  });
}

/** Each seat's config through the real validation (the schema, ssh's own rules). */
export function validateSeats(seats: readonly Seat[], outDir: string): void {
  const problems: Problem[] = [];
  for (const s of seats) {
    try {
      resolveCluster(s.config, path.join(outDir, s.name), {
        configFile: path.join(outDir, s.name, "cluster.config.json"),
      });
    } catch (err) {
      const p = (err as { problems?: Problem[] }).problems ?? [];
      problems.push(
        ...(p.length
          ? p.map((x) => ({ ...x, path: `${s.student}: ${x.path}` }))
          : [{ path: s.student, message: (err as Error).message }]),
      );
    }
  }
  if (problems.length) throw badInput("a student's config would not be valid: no config was written", problems);
}
