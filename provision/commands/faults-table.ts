// `npm run faults-table [--check]`: the README's "What was tried and what
// survived" table, between the faults-table markers, rendered from test-output/faults.json
// (written by test/faults.local.test.ts, which runs the faults for real on the local
// provider). `--check` writes nothing and exits 1 when the README's scenarios are not the
// suite's (test/helpers/faults.ts lists them), so a scenario added, renamed or dropped
// without a new run and regeneration fails CI.
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import path from "node:path";
import { FAULTS_JSON, SCENARIOS, type FaultsRun, type Outcome, type Scenario } from "../../test/helpers/faults.js";
import { badInput } from "../core/errors.js";
import { parseCli } from "../core/cli-args.js";
import { PROJECT_DIR } from "../host/paths.js";

export const README_FILE = "README.md";
export const START_MARKER = "<!-- faults-table:start -->";
export const END_MARKER = "<!-- faults-table:end -->";
const HOW = "run `npx vitest run test/faults.local.test.ts` as root, then `npm run faults-table`, and commit README.md";

/** A table cell: one line, pipes escaped. */
function cell(text: string): string {
  return text
    .replace(/\s*\n\s*/g, " ")
    .replace(/\|/g, "\\|")
    .trim();
}

/** The section between the markers (without them), from one run of the suite. */
export function renderSection(run: FaultsRun, scenarios: readonly Scenario[] = SCENARIOS): string {
  const byId = new Map(run.outcomes.map((o) => [o.id, o]));
  const passed = scenarios.filter((s) => byId.get(s.id)?.passed).length;
  const day = run.finishedAt.slice(0, 10);
  const load = (l: readonly number[]) => l.map((x) => x.toFixed(2)).join(" / ");
  const lines = [
    "",
    "Every fault below was done for real, to clusters on the local provider, by `test/faults.local.test.ts`; each row is " +
      "what that test asserts and what its last run measured (generated: to refresh it, " +
      HOW +
      "). " +
      `Last run: ${day}, ${passed} of ${scenarios.length} survived; ${run.host.cpus} cores, load average (1/5/15 min) ${load(run.host.loadAtStart)} at the start, ${load(run.host.loadAtEnd)} at the end.`,
    "",
    "| # | Fault | What was done | Expected | Observed | Survived |",
    "|---|---|---|---|---|---|",
  ];
  scenarios.forEach((s, i) => {
    const o: Outcome | undefined = byId.get(s.id);
    const observed = o ? o.observed : "not run in the last run";
    const verdict = !o ? "—" : o.passed ? "yes" : "**no**";
    lines.push(
      `| ${i + 1} | ${cell(s.title)} | ${cell(s.done)} | ${cell(s.expected)} | ${cell(observed)} | ${verdict} |`,
    );
  });
  lines.push("");
  return lines.join("\n");
}

function markers(readme: string): { start: number; end: number } | undefined {
  const start = readme.indexOf(START_MARKER);
  const end = readme.indexOf(END_MARKER);
  return start < 0 || end < start ? undefined : { start, end };
}

/** The README with the section replaced; throws when the markers are missing. */
export function spliceReadme(readme: string, section: string): string {
  const m = markers(readme);
  if (!m) {
    throw badInput(`${README_FILE} has no faults table markers`, [
      {
        path: README_FILE,
        message: `${START_MARKER} and ${END_MARKER} are missing or out of order`,
        fix: 'put them, in that order, under "## What was tried and what survived", then run npm run faults-table',
      },
    ]);
  }
  return `${readme.slice(0, m.start + START_MARKER.length)}${section}${readme.slice(m.end)}`;
}

/** What differs between the README's table and the suite's scenarios; empty when in sync. */
export function checkReadme(readme: string, scenarios: readonly Scenario[] = SCENARIOS): string[] {
  const m = markers(readme);
  if (!m) return [`${README_FILE}: the markers ${START_MARKER} and ${END_MARKER} are missing or out of order`];
  const problems: string[] = [];
  const heading = readme.lastIndexOf("\n## ", m.start);
  if (heading < 0 || !readme.slice(heading + 1).startsWith("## What was tried and what survived\n")) {
    problems.push(`${README_FILE}: the faults table is not under "## What was tried and what survived"`);
  }
  const rows = readme
    .slice(m.start, m.end)
    .split("\n")
    .filter((l) => /^\| \d+ \|/.test(l))
    .map((l) => l.split(/(?<!\\)\|/).map((c) => c.trim()));
  const listed = rows.map((r) => r[2] ?? "");
  const wanted = scenarios.map((s) => cell(s.title));
  for (const t of wanted.filter((w) => !listed.includes(w)))
    problems.push(`${README_FILE}: scenario "${t}" of the suite is not in the table`);
  for (const t of listed.filter((l) => !wanted.includes(l)))
    problems.push(`${README_FILE}: "${t}" is in the table but not a scenario of the suite`);
  if (!problems.length && listed.join("\n") !== wanted.join("\n"))
    problems.push(`${README_FILE}: the table lists the scenarios in another order than the suite`);
  for (const s of scenarios) {
    const row = rows.find((r) => r[2] === cell(s.title));
    if (row && (row[3] !== cell(s.done) || row[4] !== cell(s.expected)))
      problems.push(`${README_FILE}: "${s.title}" says another "what was done" or "expected" than the suite`);
  }
  return problems.map((p) => `${p} — ${HOW}`);
}

export interface FaultsTableOptions {
  readonly projectDir: string;
  readonly check: boolean;
}

/** --check: the problems found; otherwise writes the section and returns nothing. */
export function main(opts: FaultsTableOptions): { problems: string[]; written: boolean } {
  const readmePath = path.join(opts.projectDir, README_FILE);
  const readme = readFileSync(readmePath, "utf8");
  if (opts.check) return { problems: checkReadme(readme), written: false };
  const jsonPath = path.join(opts.projectDir, FAULTS_JSON);
  if (!existsSync(jsonPath)) {
    throw badInput(`${FAULTS_JSON} does not exist`, [
      {
        path: FAULTS_JSON,
        message: "no run of the faults suite on this checkout",
        fix: "run npx vitest run test/faults.local.test.ts as root first",
      },
    ]);
  }
  const run = JSON.parse(readFileSync(jsonPath, "utf8")) as FaultsRun;
  const text = spliceReadme(readme, renderSection(run));
  if (text === readme) return { problems: [], written: false };
  writeFileSync(`${readmePath}.tmp`, text);
  renameSync(`${readmePath}.tmp`, readmePath);
  return { problems: [], written: true };
}

const USAGE = `usage: npm run faults-table [--check]
  (no flag)  render ${FAULTS_JSON} into ${README_FILE} between the faults-table markers
  --check    write nothing; exit 1 when the README's scenarios differ from the suite's
exit: 0 written or in sync, 1 out of sync (--check), 2 bad arguments or no ${FAULTS_JSON}`;

export function cli(argv: readonly string[], projectDir = PROJECT_DIR): number {
  const parsed = parseCli(argv, USAGE, { check: { type: "boolean", default: false } });
  if (!parsed) return 0;
  const { values } = parsed;
  const r = main({ projectDir, check: values.check });
  if (values.check) {
    for (const p of r.problems) process.stderr.write(`out of sync: ${p}\n`);
    if (!r.problems.length)
      process.stdout.write(`in sync: ${README_FILE} lists the ${SCENARIOS.length} scenarios of the faults suite\n`);
    return r.problems.length ? 1 : 0;
  }
  process.stdout.write(r.written ? `wrote the faults table into ${README_FILE}\n` : `up to date: ${README_FILE}\n`);
  return 0;
}
