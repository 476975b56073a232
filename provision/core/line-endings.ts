// Line endings of what leaves the checkout for a node. Git for Windows clones with
// core.autocrlf=true unless .gitattributes says otherwise, so a checkout may hold CRLF
// text; bash on a node then reads `set -euo pipefail\r` and stops. The bundles carry text
// with LF whatever the checkout holds (toLf), and their ids hash it after that, so a CRLF
// and an LF checkout of one commit make the same bundle. A script that still fails for it
// on a node is recognized by what bash says (crlfSymptom) and explained (lineEndingError).
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { UserError } from "./errors.js";

/** Git's own test for a binary file: a NUL among its first 8000 bytes. */
const BINARY_PROBE_BYTES = 8000;

/** A text file's bytes with every CRLF made LF; a binary file (git's test) as it is. */
export function toLf(data: Buffer): Buffer {
  if (!data.includes(0x0d) || data.subarray(0, BINARY_PROBE_BYTES).includes(0)) return data;
  // latin1 maps each byte to one code unit and back: nothing but the CRs changes.
  return Buffer.from(data.toString("latin1").replace(/\r\n/g, "\n"), "latin1");
}

/** A checkout's file as it goes to a node: LF line endings (toLf). */
export function readLf(file: string): Buffer {
  return toLf(readFileSync(file));
}

/** sha256 of a file as it goes to a node: the same for its CRLF and its LF checkout. */
export function sha256Lf(file: string): string {
  return createHash("sha256").update(readLf(file)).digest("hex");
}

/**
 * The line of a failed script's stderr that shows it was read with CRLF line endings, or
 * undefined. bash and env name the word they could not use, and that word ends in the CR:
 * `set: pipefail\r: invalid option name` (the CR itself), `$'\r': command not found` and
 * `/usr/bin/env: ‘bash\r’: No such file or directory` (written as backslash-r), `bad
 * interpreter: /bin/bash^M`. A CR that starts a progress line (pip, curl) is followed by
 * text, never by a quote or a colon.
 */
export function crlfSymptom(stderr: string): string | undefined {
  return stderr.split("\n").find((line) => /\r[:'"’]|\\r['"’]|\^M(?:[:'"’]|\s*$)/.test(line));
}

/** The error for a script a node could not run because of its CRLF line endings: what, why, how to fix. */
export function lineEndingError(node: string, exitCode: number, symptom: string): UserError {
  const shown = symptom.replace(/\r/g, "\\r").trim();
  return new UserError(
    `a script sent to ${node} has Windows line endings (CRLF), which bash on the node cannot run`,
    1,
    [
      {
        path: node,
        message: `it stopped with exit code ${exitCode}: ${shown}`,
        fix:
          "this checkout holds CRLF text, as Git for Windows makes it with core.autocrlf=true. Run `git config --global core.autocrlf input` " +
          "and clone the project again (or, in a clone with no changes of yours: `git rm -r -q --cached . && git reset --hard`, which checks every file out again as .gitattributes says: LF)",
      },
    ],
  );
}
