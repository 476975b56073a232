// test-output/: what the suites measured (timings, screenshots, fault records), for the
// README's tables. One writer, which makes the folder: a suite run alone, in a fresh clone,
// finds none there.
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { REPO } from "./project.js";

export const TEST_OUTPUT = path.join(REPO, "test-output");

/** The path of a file in test-output/, the folder made. */
export function testOutputPath(name: string): string {
  mkdirSync(TEST_OUTPUT, { recursive: true });
  return path.join(TEST_OUTPUT, name);
}

/** Writes a file in test-output/: JSON for anything but a string. */
export function writeTestOutput(name: string, data: unknown): string {
  const file = testOutputPath(name);
  writeFileSync(file, typeof data === "string" ? data : `${JSON.stringify(data, null, 2)}\n`);
  return file;
}
