// How every stage after machine creation talks to a node: run a shell script there, copy
// a file there or back. `ip netns exec` for the local provider, ssh with the config that
// `vagrant ssh-config` wrote for the Vagrant providers. Stages never know which.
import { crlfSymptom, lineEndingError } from "../core/line-endings.js";
import { describeFailure, tail, type ProcessRunner } from "../host/process.js";

export interface RunOptions {
  /** Extra environment for the script. */
  readonly env?: Readonly<Record<string, string>>;
  /** Kill the command after this long (ms) × the transport's slowness. Default: 10 minutes. */
  readonly timeoutMs?: number;
  /** Called with each line of stdout as it arrives (for progress). */
  readonly onLine?: (line: string) => void;
  /** Called with each line of stderr as it arrives (a job's errors, shown live). */
  readonly onErrLine?: (line: string) => void;
  /** Resolve with a non-zero exitCode instead of throwing. */
  readonly nothrow?: boolean;
  /** Data for the script's standard input. */
  readonly input?: string;
  /** A local file streamed to the script's standard input (instead of input). */
  readonly inputFile?: string;
  /** Bytes of inputFile sent so far. */
  readonly onInputProgress?: (bytes: number) => void;
}

export interface RunResult {
  readonly stdout: string;
  readonly stderr: string;
  readonly exitCode: number;
}

/** How long run() lets a command take unless told otherwise. */
export const DEFAULT_TIMEOUT_MS = 600_000;

/** systemd units (VMs), the login user's own systemd (provider ssh), or the runtime's supervisor. */
export type ServiceManager = "systemd" | "systemd-user" | "supervisor";

export interface Transport {
  readonly node: string;
  /** Absolute folder on the node that holds the runtime (venv, bundle, tls, etc, logs). */
  readonly root: string;
  /** systemd units on VMs; the runtime's own supervisor in a namespace; on provider ssh, what the host allows. */
  readonly serviceManager: ServiceManager;
  /**
   * How many times slower than real hardware the node runs a command: 1, or about 4 for a
   * VM under qemu's software emulation, where importing Dask takes minutes. run() scales
   * its timeoutMs by it, and waits on the node (probes) scale theirs.
   */
  readonly slowness: number;
  /** Runs a bash script on the node as the user that owns `root`. */
  run(script: string, opts?: RunOptions): Promise<RunResult>;
  /**
   * Copies a local file to an absolute path on the node (parents are created); onProgress
   * hears the bytes sent so far, for large files.
   */
  put(localPath: string, remotePath: string, mode?: number, onProgress?: (bytes: number) => void): Promise<void>;
  /** Copies an absolute path on the node to a local file. */
  get(remotePath: string, localPath: string): Promise<void>;
  /** argv (and environment) of an interactive shell on the node, for npm run ssh. */
  shell(): { argv: string[]; env?: Record<string, string> };
}

export class NodeCommandError extends Error {
  constructor(
    readonly node: string,
    readonly script: string,
    readonly result: RunResult,
  ) {
    super(`on ${node}: command failed with exit code ${result.exitCode}: ${firstLine(script)}\n${tail(result.stderr)}`);
    this.name = "NodeCommandError";
  }
}

function firstLine(s: string): string {
  const l = s.trim().split("\n")[0] ?? "";
  return l.length > 120 ? `${l.slice(0, 117)}...` : l;
}

/**
 * Runs one host program for a node through the host's process runner: the options of
 * Transport.run (input, timeout, onLine), verbose lines labelled with the script's first
 * line, and a non-zero exit thrown as NodeCommandError unless nothrow. Both transports
 * send every command through here.
 */
export async function runForNode(
  run: ProcessRunner,
  node: string,
  argv: readonly string[],
  script: string,
  opts: RunOptions = {},
  env?: NodeJS.ProcessEnv,
): Promise<RunResult> {
  const r = await run(argv, {
    env,
    input: opts.input,
    inputFile: opts.inputFile,
    timeoutMs: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    onLine: opts.onLine,
    onErrLine: opts.onErrLine,
    onInputProgress: opts.onInputProgress,
    scope: node,
    label: firstLine(script),
  });
  const result = { stdout: r.stdout, stderr: r.missing ? describeFailure(r) : r.stderr, exitCode: r.exitCode };
  if (result.exitCode !== 0 && !opts.nothrow) {
    // A script read with CRLF line endings fails with a cryptic bash message: say why.
    const crlf = crlfSymptom(result.stderr);
    if (crlf) throw lineEndingError(node, result.exitCode, crlf);
    throw new NodeCommandError(node, script, result);
  }
  return result;
}

/** Quotes one word for bash (the scripts stages send to nodes are bash); plain words stay as they are. */
export function shq(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** `export K=v` lines that put a script's environment in front of it. */
export function exportLines(env: Readonly<Record<string, string>> = {}): string {
  return Object.entries(env)
    .map(([k, v]) => {
      if (!ENV_NAME.test(k))
        throw new Error(
          `environment variable name ${JSON.stringify(k)} is not a valid shell name (letters, digits, _; not starting with a digit)`,
        );
      return `export ${k}=${shq(v)}\n`;
    })
    .join("");
}
