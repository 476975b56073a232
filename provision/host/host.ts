// This computer, behind one interface: the programs it can run (the one process runner),
// what its files say, its platform and resources. Providers, their checks, doctor, the
// bundle and the stages ask their questions of this computer here and nowhere else, so tests
// stand in for a Windows laptop or a Mac with the scripted host of test/helpers/fake-host.ts.
// What the project writes (its own records under .cluster/, a local node's folder) it writes
// with node:fs where it is made: those files are the project's, not facts of the computer
// to be scripted, and the tests read them back from a scratch folder.
import {
  accessSync,
  constants as fsConstants,
  existsSync,
  readdirSync,
  readFileSync,
  statfsSync,
  statSync,
} from "node:fs";
import os from "node:os";
import { runProcess, type ProcessRunner } from "./process.js";

export interface Host {
  /** process.platform: linux, darwin, win32. */
  readonly platform: NodeJS.Platform;
  /** process.arch: x64 or arm64. */
  readonly arch: string;
  /** The environment (VAGRANT_HOME, LIBVIRT_DEFAULT_URI, VBOX_MSI_INSTALL_PATH, PATH...). */
  readonly env: NodeJS.ProcessEnv;
  /** Effective user id; undefined on Windows. */
  readonly uid: number | undefined;
  /**
   * Where short-lived sockets go (ssh's shared connections): /tmp on Linux and macOS. Not
   * $TMPDIR, which on macOS is /var/folders/<...>/T/, too deep for a socket's path.
   */
  readonly socketDir: string;
  /** The running Node's version, e.g. 20.20.2. */
  readonly nodeVersion: string;
  readonly totalMemBytes: number;
  /** What the OS can give without swapping. */
  readonly freeMemBytes: number;
  /** Runs a program (argv, no shell). */
  readonly run: ProcessRunner;
  /** A file's text, or undefined when it is missing or unreadable. */
  readText(file: string): string | undefined;
  exists(file: string): boolean;
  /** A file's modification time in whole seconds since the epoch; undefined when it cannot be read. */
  mtimeSeconds(file: string): number | undefined;
  /** Names in a folder; empty when it does not exist. */
  listDir(dir: string): string[];
  /** Bytes free for this user on the file system holding path; undefined when it cannot be asked. */
  freeDiskBytes(path: string): number | undefined;
  /**
   * Whether hardware KVM can run VMs: /dev/kvm opens read-write and (on x86_64) it is
   * backed by VT-x/AMD-V (kvm_intel or kvm_amd). A /dev/kvm of a paravirtual flavour
   * (kvm_pvm, inside a cloud VM) cannot boot stock kernels, so it does not count.
   */
  kvmUsable(): boolean;
  /** HTTPS HEAD: resolves with "HTTP <status>", rejects with the network error in a few words. */
  head(url: string, timeoutMs: number): Promise<string>;
  /** Prints a hint that does not stop anything. */
  warn(message: string): void;
}

function readText(file: string): string | undefined {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
}

function openable(file: string): boolean {
  try {
    accessSync(file, fsConstants.R_OK | fsConstants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** A fetch error in a few words: fetch itself says only "fetch failed"; its cause names DNS, refusal or TLS. */
export function networkErrorText(err: unknown): string {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  return e.cause?.code ?? e.cause?.message ?? e.message;
}

async function head(url: string, timeoutMs: number): Promise<string> {
  try {
    const res = await fetch(url, { method: "HEAD", signal: AbortSignal.timeout(timeoutMs), redirect: "manual" });
    return `HTTP ${res.status}`;
  } catch (err) {
    if ((err as Error).name === "TimeoutError") throw new Error(`no answer in ${timeoutMs / 1000} s`);
    throw new Error(networkErrorText(err));
  }
}

/** This host. */
export function realHost(): Host {
  return {
    platform: process.platform,
    arch: process.arch,
    env: process.env,
    uid: process.getuid?.(),
    socketDir: process.platform === "win32" ? os.tmpdir() : "/tmp",
    nodeVersion: process.versions.node,
    totalMemBytes: os.totalmem(),
    freeMemBytes: os.freemem(),
    run: runProcess,
    readText,
    exists: (file) => existsSync(file),
    mtimeSeconds: (file) => {
      try {
        return Math.floor(statSync(file).mtimeMs / 1000);
      } catch {
        return undefined;
      }
    },
    listDir: (dir) => {
      try {
        return readdirSync(dir);
      } catch {
        return [];
      }
    },
    freeDiskBytes: (p) => {
      try {
        const s = statfsSync(p);
        return s.bavail * s.bsize;
      } catch {
        return undefined;
      }
    },
    kvmUsable: () =>
      openable("/dev/kvm") &&
      (process.arch !== "x64" || existsSync("/sys/module/kvm_intel") || existsSync("/sys/module/kvm_amd")),
    head,
    warn: (message) => process.stderr.write(`warning: ${message}\n`),
  };
}
