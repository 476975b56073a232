// The one vocabulary of host checks. A check is a row (ok, warn or fail; what was found;
// what to do): `npm run doctor` prints the rows, and the preflight stage runs the very
// same checks and refuses the deploy (exit 2, nothing created) when a row fails. So
// doctor cannot say "ready" where the deploy then stops.
import { badInput, type Problem } from "./errors.js";

export type Status = "ok" | "warn" | "fail";

export interface CheckRow {
  /** What was checked, e.g. "virtualbox", "subnet free". */
  readonly check: string;
  readonly status: Status;
  /** What the host has: a version, a path, a value; "not found" when absent. */
  readonly found: string;
  /** What to do about a warn or fail; empty when ok. */
  readonly fix: string;
  /** Where the fix goes when it is not the check's name: a config field (/network/subnet), a file. */
  readonly path?: string;
}

export const ok = (check: string, found: string): CheckRow => ({ check, status: "ok", found, fix: "" });
export const warn = (check: string, found: string, fix: string, path?: string): CheckRow => ({
  check,
  status: "warn",
  found,
  fix,
  ...(path ? { path } : {}),
});
export const fail = (check: string, found: string, fix: string, path?: string): CheckRow => ({
  check,
  status: "fail",
  found,
  fix,
  ...(path ? { path } : {}),
});

export type Verdict = "ready" | "ready with warnings" | "not ready";

export function verdictOf(rows: readonly CheckRow[]): Verdict {
  if (rows.some((r) => r.status === "fail")) return "not ready";
  return rows.some((r) => r.status === "warn") ? "ready with warnings" : "ready";
}

/** The failed rows as problems of a UserError. */
export function problemsOf(rows: readonly CheckRow[]): Problem[] {
  return rows
    .filter((r) => r.status === "fail")
    .map((r) => ({ path: r.path ?? r.check, message: r.found, fix: r.fix }));
}

/**
 * What preflight does with the rows: warnings are printed, and any failure stops the
 * deploy as bad input (exit 2) before anything is created, listing every failed check.
 */
export function enforce(rows: readonly CheckRow[], what: string, warnFn: (message: string) => void): void {
  for (const r of rows) if (r.status === "warn") warnFn(`${r.check}: ${r.found}${r.fix ? ` (${r.fix})` : ""}`);
  const problems = problemsOf(rows);
  if (problems.length) throw badInput(`${what} failed: this host cannot run the cluster yet`, problems);
}
