// A checkout with CRLF text files, as Git for Windows made every clone of this repository
// before .gitattributes said eol=lf: core.autocrlf=true, and .git/info/attributes (which
// outranks .gitattributes) lifting the eol=lf, then every tracked file checked out again.
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { $ } from "zx";

/** Checks the clone at dir out again with CRLF line endings in its text files. */
export async function checkOutWithCrlf(dir: string): Promise<void> {
  // Git for Windows keeps core.autocrlf=true in its system config; here it is the clone's.
  await $({ quiet: true, cwd: dir })`git config core.autocrlf true`;
  mkdirSync(path.join(dir, ".git", "info"), { recursive: true });
  writeFileSync(path.join(dir, ".git", "info", "attributes"), "* text=auto -eol\n");
  const files = (await $({ quiet: true, cwd: dir })`git ls-files -z`).stdout.split("\0").filter(Boolean);
  for (const f of files) rmSync(path.join(dir, f));
  await $({ quiet: true, cwd: dir })`git checkout -- .`;
}
