// The one stand-in for a host the tests cannot be (a Windows laptop, a Mac, a Linux box
// with VirtualBox): the Host interface of provision/host/host.ts with scripted programs,
// files and facts, recording every program it is asked to run (argv, cwd, env, input).
// As ray's MockProcessRunner, it lives once, here; every test that needs a host uses it.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { inject } from "vitest";
import type { Host } from "../../provision/host/host.js";
import type { ProcessOptions, ProcessResult } from "../../provision/host/process.js";

/** What a scripted program answers: its stdout, or a partial result; a function sees the argv. */
export type Reply = string | Partial<Pick<ProcessResult, "stdout" | "stderr" | "exitCode" | "missing" | "timedOut">>;
export type Script = Reply | Reply[] | ((argv: readonly string[], opts: ProcessOptions) => Reply);

export interface Call {
  readonly argv: string[];
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly input?: string;
}

export interface FakeHostOptions {
  /** process.versions.node of the host (default: 26.12.1, the current LTS). */
  readonly nodeVersion?: string;
  readonly platform?: NodeJS.Platform;
  readonly arch?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Default 1000; undefined as on Windows. */
  readonly uid?: number | undefined;
  /** Default: fakeSocketDir(), the test run's private folder. */
  readonly socketDir?: string;
  /**
   * Programs by command line: a key matches a call whose argv, joined with spaces, equals
   * it or starts with it and a space; the longest key wins. A list answers call after call.
   */
  readonly commands?: Readonly<Record<string, Script>>;
  /** What an unscripted program does: "missing" (not installed, 127) or "ok" (exit 0, no output). Default: missing. */
  readonly unscripted?: "missing" | "ok";
  readonly files?: Readonly<Record<string, string>>;
  readonly dirs?: Readonly<Record<string, readonly string[]>>;
  readonly kvm?: boolean;
  readonly registry?: "up" | "down";
  readonly totalGiB?: number;
  readonly freeGiB?: number;
  /** Free disk everywhere, or by folder: the longest folder a path starts with wins (100 GiB elsewhere). */
  readonly freeDiskGiB?: number | Readonly<Record<string, number>>;
  /** Called after each program, e.g. to do what `vagrant destroy` does to Vagrant's records. */
  readonly effect?: (argv: readonly string[]) => void;
}

export interface FakeHost extends Host {
  readonly calls: Call[];
  /** argv of every call, in order. */
  argvs(): string[][];
  readonly warnings: string[];
  readonly heads: string[];
}

const GIB = 1024 ** 3;

/** The short private folder of this test run for the sockets folders fake hosts make (test/helpers/global-setup.ts). */
export function fakeSocketDir(): string {
  return inject("fakeSocketDir");
}

export function fakeHost(o: FakeHostOptions = {}): FakeHost {
  const calls: Call[] = [];
  const warnings: string[] = [];
  const heads: string[] = [];
  const files = o.files ?? {};
  const dirs = o.dirs ?? {};
  const queues = new Map<string, Reply[]>();
  const keys = Object.keys(o.commands ?? {}).sort((a, b) => b.length - a.length);
  const answer = (argv: readonly string[], opts: ProcessOptions): Reply | undefined => {
    const line = argv.join(" ");
    const key = keys.find((k) => line === k || line.startsWith(`${k} `));
    if (key === undefined) return undefined;
    const script = o.commands![key]!;
    if (typeof script === "function") return script(argv, opts);
    if (Array.isArray(script)) {
      if (!queues.has(key)) queues.set(key, [...script]);
      const q = queues.get(key)!;
      return q.length > 1 ? q.shift()! : q[0]!;
    }
    return script;
  };
  const host: FakeHost = {
    platform: o.platform ?? "linux",
    arch: o.arch ?? "x64",
    env: o.env ?? { HOME: "/home/u", PATH: "/usr/bin" },
    uid: "uid" in o ? o.uid : 1000,
    socketDir: o.socketDir ?? fakeSocketDir(),
    nodeVersion: o.nodeVersion ?? "26.12.1",
    totalMemBytes: (o.totalGiB ?? 16) * GIB,
    freeMemBytes: (o.freeGiB ?? 12) * GIB,
    async run(argv, opts = {}) {
      const input = opts.inputFile !== undefined ? readFileSync(opts.inputFile, "utf8") : opts.input;
      calls.push({ argv: [...argv], cwd: opts.cwd, env: opts.env, input });
      const reply = answer(argv, opts);
      o.effect?.(argv);
      if (reply === undefined && (o.unscripted ?? "missing") === "missing") {
        return {
          argv,
          stdout: "",
          stderr: `${argv[0]}: command not found`,
          exitCode: 127,
          missing: true,
          timedOut: false,
          seconds: 0,
        };
      }
      const r = typeof reply === "string" ? { stdout: reply } : (reply ?? {});
      const result = { argv, stdout: "", stderr: "", exitCode: 0, missing: false, timedOut: false, seconds: 0, ...r };
      if (opts.onLine) for (const l of result.stdout.split("\n").filter(Boolean)) opts.onLine(l);
      return result;
    },
    readText: (f) => files[f],
    exists: (f) => f in files || f in dirs,
    mtimeSeconds: (f) => (f in files ? 1_700_000_000 : undefined),
    listDir: (d) => [...(dirs[d] ?? [])],
    freeDiskBytes: (p) => {
      const d = o.freeDiskGiB;
      if (typeof d !== "object") return (d ?? 100) * GIB;
      const key = Object.keys(d)
        .filter((k) => p === k || p.startsWith(k))
        .sort((a, b) => b.length - a.length)[0];
      return (key === undefined ? 100 : d[key]!) * GIB;
    },
    kvmUsable: () => o.kvm ?? false,
    async head(url) {
      heads.push(url);
      if (o.registry === "down") throw new Error("ENOTFOUND");
      return "HTTP 200";
    },
    warn: (m) => warnings.push(m),
    calls,
    argvs: () => calls.map((c) => c.argv),
    warnings,
    heads,
  };
  return host;
}

/** A recorded output of a real program, from test/fixtures/recorded/. */
export function recorded(name: string): string {
  return readFileSync(fileURLToPath(new URL(`../fixtures/recorded/${name}`, import.meta.url)), "utf8");
}
