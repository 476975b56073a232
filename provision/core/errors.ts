// Errors a user can act on. A UserError carries the exit code (2 for bad input, 1 for a
// failed check) and is printed by runCli without a stack trace.
import { requireSupportedNode } from "./node-support.mjs";

export interface Problem {
  /** Where: a config field path (/nodes/count), a CLI flag, a node name or a file. */
  readonly path: string;
  /** What is wrong, naming the bad value. */
  readonly message: string;
  /** How to fix it, naming the allowed values. */
  readonly fix?: string;
}

export class UserError extends Error {
  constructor(
    message: string,
    readonly exitCode: 1 | 2 = 2,
    readonly problems: readonly Problem[] = [],
  ) {
    super(message);
    this.name = "UserError";
  }

  /** The whole message, one problem per line, each with its fix. */
  render(): string {
    const lines = [this.message];
    for (const p of this.problems) {
      lines.push(`  - ${p.path}: ${p.message}`);
      if (p.fix) lines.push(`    fix: ${p.fix}`);
    }
    return lines.join("\n");
  }
}

/** Bad input: exit code 2, nothing created or changed. */
export function badInput(message: string, problems: readonly Problem[] = []): UserError {
  return new UserError(message, 2, problems);
}

/**
 * Runs a CLI's main and maps its outcome to an exit code: UserError prints its message
 * (no stack) and exits with its code; a failed command prints what ran and its stderr.
 */
/**
 * A failed zx command (its ProcessOutput), told by shape: importing zx here would load it
 * into every stage process, which never runs zx (a third of its start-up time).
 */
function isProcessOutput(err: unknown): err is { exitCode: number; stderr: string } {
  return (
    typeof err === "object" &&
    err !== null &&
    err.constructor?.name === "ProcessOutput" &&
    typeof (err as { exitCode?: unknown }).exitCode === "number"
  );
}

export async function runCli(main: () => unknown): Promise<void> {
  // An unsupported Node gets one line with the fix (npm runs the verbs with whatever Node
  // is on PATH, whatever package.json's engines say).
  requireSupportedNode();
  try {
    // A command returns its exit code, or nothing for 0.
    const code = await main();
    process.exitCode = typeof code === "number" ? code : 0;
  } catch (err) {
    if (err instanceof UserError) {
      process.stderr.write(`error: ${err.render()}\n`);
      process.exitCode = err.exitCode;
    } else if (isProcessOutput(err)) {
      process.stderr.write(`error: a command failed with exit code ${err.exitCode}\n${err.stderr.trim()}\n`);
      process.exitCode = 1;
    } else {
      process.stderr.write(`error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exitCode = 1;
    }
  }
}
