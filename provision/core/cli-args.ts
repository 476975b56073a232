// The one argument parser of every `npm run` command: node's parseArgs, strict, with
// --help and --verbose added to each command's own options. A flag it does not know is
// bad input (exit 2, the usage as the fix), never a stack trace.
import { parseArgs, type ParseArgsConfig } from "node:util";
import { badInput } from "./errors.js";
import { setVerbose } from "./log.js";

type Options = NonNullable<ParseArgsConfig["options"]>;

const COMMON = {
  help: { type: "boolean", short: "h", default: false },
  verbose: { type: "boolean", short: "v", default: false },
} as const;

export const COMMON_USAGE = `  --verbose, -v       print every command sent to a node, with its exit code and time
  --help, -h          this text`;

export interface ParsedCli<O extends Options> {
  readonly values: ReturnType<
    typeof parseArgs<{ options: O & typeof COMMON; strict: true; allowPositionals: true }>
  >["values"];
  readonly positionals: string[];
}

/**
 * Parses argv against options (plus --help and --verbose). Returns undefined after
 * printing the usage for --help; throws bad input (exit 2) for anything it does not know,
 * and for positionals unless the command takes some.
 */
export function parseCli<O extends Options>(
  argv: readonly string[],
  usage: string,
  options: O,
  opts: { positionals?: boolean } = {},
): ParsedCli<O> | undefined {
  const exitAt = usage.indexOf("\nexit:");
  const fullUsage =
    exitAt < 0 ? `${usage}\n${COMMON_USAGE}` : `${usage.slice(0, exitAt)}\n${COMMON_USAGE}${usage.slice(exitAt)}`;
  let parsed: { values: Record<string, unknown>; positionals: string[] };
  try {
    parsed = parseArgs({
      args: [...argv],
      options: { ...options, ...COMMON } as O & typeof COMMON,
      strict: true,
      allowPositionals: true,
    });
  } catch (err) {
    throw badInput((err as Error).message, [{ path: "arguments", message: "not understood", fix: fullUsage }]);
  }
  const common = parsed.values as { help?: boolean; verbose?: boolean };
  if (common.help) {
    process.stdout.write(`${fullUsage}\n`);
    return undefined;
  }
  if (!opts.positionals && parsed.positionals.length) {
    throw badInput(`unexpected argument ${parsed.positionals.join(" ")}`, [
      { path: "arguments", message: `"${parsed.positionals[0]}" is not an option`, fix: fullUsage },
    ]);
  }
  if (common.verbose) setVerbose(true);
  return parsed as unknown as ParsedCli<O>;
}

/** A whole-number flag within [min, max]; undefined when the flag was not given. */
export function intFlag(flag: string, value: string | undefined, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw badInput(`--${flag} ${value} is not valid`, [
      {
        path: `--${flag}`,
        message: `"${value}" is not a whole number from ${min} to ${max}`,
        fix: `e.g. --${flag} ${min}`,
      },
    ]);
  }
  return n;
}
