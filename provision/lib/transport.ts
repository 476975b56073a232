// How every stage after machine creation talks to a node: run a shell script there, copy
// a file there or back. `ip netns exec` for the local provider, ssh with the config that
// `vagrant ssh-config` wrote for the Vagrant providers. Stages never know which.
import { spawn } from "node:child_process";
import { createReadStream } from "node:fs";
import { debug } from "./log.js";

export interface RunOptions {
  /** Extra environment for the script. */
  readonly env?: Readonly<Record<string, string>>;
  /** Kill the command after this long (ms) × the transport's slowness. Default: 10 minutes. */
  readonly timeoutMs?: number;
  /** Called with each line of stdout as it arrives (for progress). */
  readonly onLine?: (line: string) => void;
  /** Resolve with a non-zero exitCode instead of throwing. */
  readonly nothrow?: boolean;
  /** Data for the script's standard input. */
  readonly input?: string;
  /** A local file streamed to the script's standard input (instead of input). */
  readonly inputFile?: string;
}

export interface RunResult {
  readonly stdout: string;
  readonly stderr: string;
  readonly exitCode: number;
}

/** How long run() lets a command take unless told otherwise. */
export const DEFAULT_TIMEOUT_MS = 600_000;

export type ServiceManager = "systemd" | "supervisor";

export interface Transport {
  readonly node: string;
  /** Absolute folder on the node that holds the runtime (venv, bundle, tls, etc, logs). */
  readonly root: string;
  /** systemd units on VMs; the runtime's own supervisor in a namespace. */
  readonly serviceManager: ServiceManager;
  /**
   * How many times slower than real hardware the node runs a command: 1, or about 4 for a
   * VM under qemu's software emulation, where importing Dask takes minutes. run() scales
   * its timeoutMs by it, and waits on the node (probes) scale theirs.
   */
  readonly slowness: number;
  /** Runs a bash script on the node as the user that owns `root`. */
  run(script: string, opts?: RunOptions): Promise<RunResult>;
  /** Copies a local file to an absolute path on the node (parents are created). */
  put(localPath: string, remotePath: string, mode?: number): Promise<void>;
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
    super(`on ${node}: command failed with exit code ${result.exitCode}: ${firstLine(script)}\n${result.stderr.trim().split("\n").slice(-15).join("\n")}`);
    this.name = "NodeCommandError";
  }
}

function firstLine(s: string): string {
  const l = s.trim().split("\n")[0] ?? "";
  return l.length > 120 ? `${l.slice(0, 117)}...` : l;
}

/**
 * Spawns argv, feeds input, collects output (streaming stdout lines to onLine), and
 * enforces the timeout. The one process runner both transports share.
 */
export function runProcess(argv: readonly string[], node: string, script: string, opts: RunOptions = {}, env: NodeJS.ProcessEnv = process.env): Promise<RunResult> {
  const t0 = performance.now();
  debug(node, `$ ${firstLine(script)}`);
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { env, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    let pending = "";
    child.stdout.on("data", (b: Buffer) => {
      const s = b.toString();
      stdout += s;
      if (opts.onLine) {
        pending += s;
        const lines = pending.split("\n");
        pending = lines.pop() ?? "";
        for (const l of lines) opts.onLine(l);
      }
    });
    child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
    const timer = setTimeout(() => {
      stderr += `\n(timed out after ${opts.timeoutMs ?? DEFAULT_TIMEOUT_MS} ms)`;
      child.kill("SIGKILL");
    }, opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (opts.onLine && pending) opts.onLine(pending);
      const result = { stdout, stderr, exitCode: code ?? (signal ? 128 : 1) };
      debug(node, `exit ${result.exitCode} in ${((performance.now() - t0) / 1000).toFixed(2)} s: ${firstLine(script)}`);
      if (result.exitCode !== 0 && !opts.nothrow) reject(new NodeCommandError(node, script, result));
      else resolve(result);
    });
    // A command that exits without reading its input (ip netns exec on a namespace that is
    // gone, or any quick command on a loaded host) closes the pipe first: the write fails
    // with EPIPE, which, unhandled, would crash the whole CLI with a stack trace. The
    // exit status above says what happened.
    child.stdin.on("error", () => undefined);
    if (opts.inputFile !== undefined) {
      const file = createReadStream(opts.inputFile);
      file.on("error", (err) => {
        stderr += `\ncannot read ${opts.inputFile}: ${err.message}`;
        child.kill("SIGKILL");
      });
      file.pipe(child.stdin);
    } else {
      child.stdin.end(opts.input ?? "");
    }
  });
}

/** Quotes one word for bash (the scripts stages send to nodes are bash). */
export function shq(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}
