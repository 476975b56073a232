// `npm run class -- roster roster.csv`: one cluster config per student for lab PCs (provider
// ssh), none colliding with another's (config/roster.ts). `npm run class -- collect`: each
// student's version verdict and last benchmark in one report with a chart per workload,
// naming who is missing, drifting or unhealthy (bench/class-report.ts). Collect reads each
// student's checkout and runs *their* `npm run status -- --json` there, which only reads:
// it changes nothing on their clusters.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { classReport, type StudentSeen, type StudentStatus } from "../bench/class-report.js";
import { validateResults } from "../bench/results-schema.js";
import { parseRoster, seatClass, validateSeats, type Seat } from "../config/roster.js";
import { badInput } from "../core/errors.js";
import { parseCli } from "../core/cli-args.js";
import { step } from "../core/log.js";
import { realHost } from "../host/host.js";
import { forUser, PROJECT_DIR } from "../host/paths.js";

const USAGE = `usage: npm run class -- roster ROSTER.csv [--out DIR] [--config BASE.json] [--known-hosts FILE]
       npm run class -- collect [--class DIR] --checkouts DIR
roster    one cluster config per student (provider ssh, lab PCs) in DIR/<cluster>/cluster.config.json
          (default DIR: class/), and DIR/roster.json. ROSTER.csv has a header row; columns:
          student, hosts (space-separated, node 1 first), user (required); identityFile, name,
          port (the first of five), root (optional: given, they are kept and checked).
          A port or folder used twice on one host, or one cluster name twice: refused (exit 2),
          naming both students, nothing written.
  --config BASE.json   what every student's cluster shares (nodes, runtime, dask...): the class's
  --known-hosts FILE   the lab PCs' host keys, for every config
collect   each student's cluster verdict and last benchmark: --checkouts DIR holds one checkout
          per student, named by cluster (DIR/<cluster>); --class the roster's folder (default class/).
          Writes results/class/<time>/report.md with a chart per workload.
exit: 0 done (collect: every cluster healthy); 1 collect: someone missing, drifting or
unhealthy; 2 bad input`;

interface SavedSeat {
  readonly student: string;
  readonly name: string;
  readonly hosts: Seat["hosts"];
  readonly ports: Seat["ports"];
  readonly config: string;
}

function readJson(file: string, what: string): unknown {
  if (!existsSync(file))
    throw badInput(`no ${what} at ${file}`, [{ path: file, message: "no such file", fix: `give the ${what}'s path` }]);
  try {
    return JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    throw badInput(`${file} is not valid JSON`, [{ path: file, message: (err as Error).message }]);
  }
}

function roster(file: string, out: string, configFile: string | undefined, knownHosts: string | undefined): number {
  if (!existsSync(file))
    throw badInput(`no roster at ${file}`, [
      { path: "ROSTER.csv", message: `no such file: ${file}`, fix: "give the roster's path" },
    ]);
  const rows = parseRoster(readFileSync(file, "utf8"), path.basename(file));
  const base = configFile ? (readJson(configFile, "class config") as Record<string, unknown>) : {};
  if (base.provider !== undefined && base.provider !== "ssh")
    throw badInput(`${configFile} sets provider "${String(base.provider)}"`, [
      {
        path: `${configFile}: /provider`,
        message: "the roster makes configs for lab PCs",
        fix: 'remove provider (the roster sets "ssh")',
      },
    ]);
  const seats = seatClass(rows, base, { knownHosts, rosterDir: path.dirname(file) });
  validateSeats(seats, out);
  const saved: SavedSeat[] = seats.map((s) => {
    const dir = path.join(out, s.name);
    mkdirSync(dir, { recursive: true });
    const config = path.join(dir, "cluster.config.json");
    writeFileSync(config, `${JSON.stringify(s.config, null, 2)}\n`);
    const { config: _c, ...rest } = s;
    return { ...rest, config: path.relative(out, config) };
  });
  writeFileSync(
    path.join(out, "roster.json"),
    `${JSON.stringify({ roster: path.resolve(file), seats: saved }, null, 2)}\n`,
  );
  for (const s of seats)
    process.stdout.write(
      `${s.student.padEnd(16)} ${s.name.padEnd(12)} ports ${s.ports.schedulerPort}-${s.ports.workerDashboardPort}  ${s.hosts.map((h) => `${h.user}@${h.address}:${h.root}`).join(" ")}\n`,
    );
  process.stdout.write(
    `[class] ${seats.length} configs in ${forUser(out)}: each student copies theirs to cluster.config.json in their checkout, then npx cdktf deploy\n`,
  );
  return 0;
}

async function lookAt(seat: SavedSeat, checkout: string): Promise<StudentSeen> {
  const base = { student: seat.student, name: seat.name, checkout };
  if (!existsSync(path.join(checkout, "package.json"))) return { ...base, missing: `no checkout at ${checkout}` };
  const env = { ...process.env };
  delete env.CLUSTER_CONFIG;
  delete env.INIT_CWD;
  const r = await realHost().run(
    [path.join(checkout, "node_modules", ".bin", "tsx"), "provision/cli.ts", "status", "--json"],
    {
      cwd: checkout,
      env,
      timeoutMs: 180_000,
    },
  );
  let status: StudentStatus | undefined;
  try {
    status = JSON.parse(r.stdout) as StudentStatus;
  } catch {
    const why = r.stderr.trim().split("\n")[0] || `status exited ${r.exitCode}`;
    return { ...base, missing: r.exitCode === 2 ? `nothing deployed (${why.replace(/^error: /, "")})` : why };
  }
  const latest = path.join(checkout, "results", "latest", "results.json");
  if (!existsSync(latest)) return { ...base, status };
  try {
    return { ...base, status, results: validateResults(JSON.parse(readFileSync(latest, "utf8"))) };
  } catch (err) {
    return { ...base, status, resultsError: `unreadable results.json (${(err as Error).message.split("\n")[0]})` };
  }
}

async function collect(classDir: string, checkouts: string): Promise<number> {
  const saved = readJson(path.join(classDir, "roster.json"), "roster (npm run class -- roster writes it)") as {
    seats: SavedSeat[];
  };
  if (!existsSync(checkouts))
    throw badInput(`no folder ${checkouts}`, [
      { path: "--checkouts", message: "no such folder", fix: "the folder holding one checkout per student" },
    ]);
  const seen: StudentSeen[] = [];
  for (const seat of saved.seats) {
    step("class", `${seat.student}: ${path.join(checkouts, seat.name)}`);
    seen.push(await lookAt(seat, path.join(checkouts, seat.name)));
  }
  const when = new Date();
  const report = await classReport(seen, when);
  const dir = path.join(PROJECT_DIR, "results", "class", when.toISOString().replace(/[:]/g, "-").replace(/\..+$/, "Z"));
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, "report.md"), report.markdown);
  for (const c of report.charts) writeFileSync(path.join(dir, c.file), c.svg);
  writeFileSync(
    path.join(dir, "class.json"),
    `${JSON.stringify({ at: when.toISOString(), students: seen }, null, 2)}\n`,
  );
  for (const v of report.verdicts) process.stdout.write(`${v.student.padEnd(16)} ${v.verdict.padEnd(10)} ${v.why}\n`);
  process.stdout.write(
    `[class] report: ${forUser(path.join(dir, "report.md"))} (${report.charts.length} chart${report.charts.length === 1 ? "" : "s"})\n`,
  );
  return report.verdicts.every((v) => v.verdict === "healthy") ? 0 : 1;
}

export async function cli(argv: readonly string[], cwd = process.env.INIT_CWD ?? process.cwd()): Promise<number> {
  const parsed = parseCli(
    argv,
    USAGE,
    {
      out: { type: "string", default: "class" },
      config: { type: "string" },
      "known-hosts": { type: "string" },
      class: { type: "string", default: "class" },
      checkouts: { type: "string" },
    },
    { positionals: true },
  );
  if (!parsed) return 0;
  const [verb, file, ...extra] = parsed.positionals;
  const v = parsed.values;
  const at = (p: string) => path.resolve(cwd, p);
  if (verb === "roster" && file && !extra.length)
    return roster(
      at(file),
      at(v.out!),
      v.config ? at(v.config) : undefined,
      v["known-hosts"] ? at(v["known-hosts"]) : undefined,
    );
  if (verb === "collect" && !file) {
    if (!v.checkouts)
      throw badInput("collect needs --checkouts", [
        { path: "--checkouts", message: "missing", fix: "the folder holding one checkout per student (DIR/<cluster>)" },
      ]);
    return collect(at(v.class!), at(v.checkouts));
  }
  throw badInput(
    verb ? `class ${[verb, file, ...extra].filter(Boolean).join(" ")}: not a class command` : "which class command?",
    [
      {
        path: "command",
        message: verb ? `"${verb}"` : "missing",
        fix: "roster ROSTER.csv, or collect --checkouts DIR",
      },
    ],
  );
}
