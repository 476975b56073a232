// The one way this project runs a program on the host: an argv array (never a shell, so
// no quoting, the same on Linux, macOS and Windows), with cwd, environment, standard
// input, a timeout, output lines as they arrive, and --verbose echo. A program that is
// not installed and one that ran out of time are results of their own, not exceptions:
// callers (providers, transports, doctor, bundle, demo) decide what each one means.
// Tests replace the runner with the scripted one in test/helpers/fake-host.ts.
import { spawn } from "node:child_process";
import { createReadStream, createWriteStream, existsSync } from "node:fs";
import path from "node:path";
import { debug } from "../core/log.js";

export interface ProcessOptions {
  /** Working folder. Default: this process's. */
  readonly cwd?: string;
  /** The whole environment of the program. Default: this process's. */
  readonly env?: NodeJS.ProcessEnv;
  /** Data for its standard input (closed right after). Default: none. */
  readonly input?: string;
  /** A file streamed to its standard input instead of input. */
  readonly inputFile?: string;
  /** A file its standard output is written to, as it comes, instead of being kept (bytes, not text). */
  readonly outputFile?: string;
  /** Kill it (SIGKILL) after this long; the result then has timedOut. Default: no limit. */
  readonly timeoutMs?: number;
  /** Each line of stdout, as it arrives. */
  readonly onLine?: (line: string) => void;
  /** Each line of stderr, as it arrives (a job whose errors a person watches live). */
  readonly onErrLine?: (line: string) => void;
  /** Bytes of inputFile sent so far, as they go (progress of a large copy). */
  readonly onInputProgress?: (bytes: number) => void;
  /** Copy its stdout and stderr to our stderr as they arrive (long steps: vagrant up). */
  readonly echo?: boolean;
  /** Let it use our terminal (an interactive shell, the demo's cdktf): nothing is captured. */
  readonly inherit?: boolean;
  /** Who it runs for, in --verbose lines: "host" or a node name. Default: "host". */
  readonly scope?: string;
  /** What --verbose prints instead of the argv (a script sent to a node). */
  readonly label?: string;
}

export interface ProcessResult {
  readonly argv: readonly string[];
  readonly stdout: string;
  readonly stderr: string;
  /** The program's exit code; 127 when it is not installed, 124 when it timed out, 128 + n after signal n. */
  readonly exitCode: number;
  /** The program could not be found (ENOENT). */
  readonly missing: boolean;
  /** It ran longer than timeoutMs and was killed. */
  readonly timedOut: boolean;
  readonly seconds: number;
}

/** Runs argv and resolves with its outcome; never rejects for a failing program. */
export type ProcessRunner = (argv: readonly string[], opts?: ProcessOptions) => Promise<ProcessResult>;

/** The longest delay a timer can wait; a longer timeout means none. */
const MAX_TIMER_MS = 2 ** 31 - 1;

const SIGNALS: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };

/** The real runner. */
export const runProcess: ProcessRunner = (argv, opts = {}) =>
  new Promise((resolve) => {
    const scope = opts.scope ?? "host";
    const label = opts.label ?? argv.join(" ");
    const t0 = performance.now();
    debug(scope, `$ ${label}`);
    let stdout = "";
    let stderr = "";
    let pending = "";
    let pendingErr = "";
    let timedOut = false;
    let settled = false;
    const finish = (r: Omit<ProcessResult, "argv" | "seconds" | "timedOut">) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (opts.onLine && pending) opts.onLine(pending);
      if (opts.onErrLine && pendingErr) opts.onErrLine(pendingErr);
      const seconds = (performance.now() - t0) / 1000;
      const result = { ...r, argv, seconds, timedOut, exitCode: timedOut ? 124 : r.exitCode };
      debug(scope, `exit ${result.exitCode} in ${seconds.toFixed(2)} s: ${label}`);
      resolve(result);
    };
    const child = spawn(argv[0]!, argv.slice(1), {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: opts.inherit ? "inherit" : ["pipe", "pipe", "pipe"],
      windowsHide: true,
    });
    // setTimeout takes at most 2^31 - 1 ms (24.8 days) and fires at once for more: a
    // week-long job scaled for an emulated VM would be killed at its start.
    const timer =
      opts.timeoutMs === undefined || opts.timeoutMs >= MAX_TIMER_MS
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            stderr += `\n(timed out after ${(opts.timeoutMs! / 1000).toFixed(0)} s)`;
            child.kill("SIGKILL");
          }, opts.timeoutMs);
    child.on("error", (err: NodeJS.ErrnoException) => {
      // execvp answers EACCES for a program found nowhere when a PATH folder cannot be
      // searched (sudo -u with root's PATH: /root/go/bin): still not installed.
      const bare = !argv[0]!.includes("/") && !argv[0]!.includes("\\");
      const missing =
        err.code === "ENOENT" || (err.code === "EACCES" && bare && !onPath(argv[0]!, opts.env ?? process.env));
      finish({
        stdout,
        stderr: `${stderr}${missing ? `${argv[0]}: command not found` : err.message}`,
        exitCode: missing ? 127 : 126,
        missing,
      });
    });
    // With outputFile, the result waits until the file holds every byte the program wrote.
    let written: Promise<void> = Promise.resolve();
    child.on(
      "close",
      (code, signal) =>
        void written.then(() =>
          finish({ stdout, stderr, exitCode: code ?? 128 + (SIGNALS[signal as NodeJS.Signals] ?? 0), missing: false }),
        ),
    );
    if (opts.inherit) return;
    if (opts.outputFile !== undefined) {
      const out = createWriteStream(opts.outputFile);
      written = new Promise((resolve) => {
        out.on("close", resolve);
        out.on("error", (err) => {
          stderr += `\ncannot write ${opts.outputFile}: ${err.message}`;
          child.kill("SIGKILL");
          resolve();
        });
      });
      child.stdout!.pipe(out);
    } else
      child.stdout!.on("data", (b: Buffer) => {
        const s = b.toString();
        stdout += s;
        if (opts.echo) process.stderr.write(b);
        if (opts.onLine) {
          pending += s;
          const lines = pending.split("\n");
          pending = lines.pop() ?? "";
          for (const l of lines) opts.onLine(l);
        }
      });
    child.stderr!.on("data", (b: Buffer) => {
      const s = b.toString();
      stderr += s;
      if (opts.echo) process.stderr.write(b);
      if (opts.onErrLine) {
        pendingErr += s;
        const lines = pendingErr.split("\n");
        pendingErr = lines.pop() ?? "";
        for (const l of lines) opts.onErrLine(l);
      }
    });
    // A program that exits without reading its input closes the pipe first: the write
    // fails with EPIPE, which, unhandled, would end this whole process. Its exit status
    // says what happened.
    child.stdin!.on("error", () => undefined);
    if (opts.inputFile !== undefined) {
      const file = createReadStream(opts.inputFile);
      if (opts.onInputProgress) {
        let sent = 0;
        file.on("data", (chunk) => {
          sent += chunk.length;
          opts.onInputProgress?.(sent);
        });
      }
      file.on("error", (err) => {
        stderr += `\ncannot read ${opts.inputFile}: ${err.message}`;
        child.kill("SIGKILL");
      });
      file.pipe(child.stdin!);
    } else {
      child.stdin!.end(opts.input ?? "");
    }
  });

/** The last lines of a program's output, for messages. */
export function tail(text: string, lines = 15): string {
  return text.trim().split("\n").slice(-lines).join("\n");
}

/** Why a program gave no answer, in a few words ("not found", "exited 1: ..."). */
export function describeFailure(r: ProcessResult): string {
  if (r.missing) return `${r.argv[0]} is not installed or not on PATH`;
  if (r.timedOut) return `\`${r.argv.join(" ")}\` did not finish in time`;
  const last = tail(r.stderr || r.stdout, 3);
  return `\`${r.argv.join(" ")}\` exited ${r.exitCode}${last ? `: ${last}` : ""}`;
}

/** Where a program is on PATH: the first file of that name in its folders (with a PATHEXT extension on Windows). */
export function findOnPath(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const exts = process.platform === "win32" ? (env.PATHEXT ?? ".EXE;.CMD").split(";") : [""];
  for (const dir of (env.PATH ?? "").split(path.delimiter)) {
    if (!dir) continue;
    for (const e of exts)
      for (const file of [path.join(dir, `${name}${e.toLowerCase()}`), path.join(dir, `${name}${e}`)])
        if (existsSync(file)) return file;
  }
  return undefined;
}

/** Whether a program is on PATH. */
export function onPath(name: string, env: NodeJS.ProcessEnv = process.env): boolean {
  return findOnPath(name, env) !== undefined;
}
