// The Transport of the Vagrant providers: ssh and scp with the config file that
// `vagrant ssh-config <node>` wrote, so stages reach a VM the way `vagrant ssh` does
// (forwarded port on VirtualBox, management address on libvirt, the box's key).
// Scripts travel on ssh's standard input to `bash -s`: no remote quoting of the script,
// and the environment goes in front of it as `export` lines.
import { mkdir, stat } from "node:fs/promises";
import path from "node:path";
import { DEFAULT_TIMEOUT_MS, runProcess, type RunOptions, type RunResult, type ServiceManager, type Transport } from "./transport.js";

/** Where the runtime lives on every VM; created (owned by the login user) by createMachine. */
export const VM_ROOT = "/opt/dask-vm-cluster";

/**
 * Runs one local command for a node: argv, the script it carries (for error messages),
 * and the options of Transport.run (input, timeout, onLine, nothrow). Throws
 * NodeCommandError on a non-zero exit unless nothrow, like runProcess.
 */
export type ProcessExec = (argv: readonly string[], script: string, opts: RunOptions) => Promise<RunResult>;

/** Single-quotes a word for a POSIX shell: 'it'\''s' */
export function shellQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
// scp (legacy protocol) hands remote paths to the remote shell: accept only plain paths.
const SAFE_REMOTE_PATH = /^\/[A-Za-z0-9._/@+=,-]*$/;

/** `export K='v'` lines for a script's environment. */
export function exportLines(env: Readonly<Record<string, string>> = {}): string {
  return Object.entries(env)
    .map(([k, v]) => {
      if (!ENV_NAME.test(k)) throw new Error(`environment variable name ${JSON.stringify(k)} is not a valid shell name (letters, digits, _; not starting with a digit)`);
      return `export ${k}=${shellQuote(v)}\n`;
    })
    .join("");
}

function checkRemotePath(p: string): void {
  if (!SAFE_REMOTE_PATH.test(p)) {
    throw new Error(`remote path ${JSON.stringify(p)} must be absolute and use only letters, digits and ._/@+=,- (scp passes it to the remote shell)`);
  }
}

/** Unix socket paths are limited to 104 (macOS) or 108 (Linux) bytes, NUL included. */
const MAX_SOCKET_PATH = 103;

/**
 * The `vagrant ssh-config` text with connection sharing added: one ssh connection per VM,
 * opened by the first command and reused by every later ssh and scp for ControlPersist
 * seconds after the last one ends. Each new ssh connection costs a key exchange and a
 * login, about 10 s on a VM under qemu emulation; a stage sends dozens of commands.
 * ControlPath %C is a hash of the connection (host, port, user), so it stays short; when
 * the folder is too deep for a socket path, the config is returned unchanged.
 */
export function withConnectionSharing(sshConfig: string, controlDir: string, persistS = 60): string {
  const controlPath = path.join(controlDir, "%C");
  if (controlPath.length - 2 + 40 > MAX_SOCKET_PATH) return sshConfig;
  const body = sshConfig.replace(/\s+$/, "");
  // ServerAlive: a master whose VM vanished (no TCP reset from a killed qemu) ends within
  // 30 s instead of holding later commands.
  return `${body}\n  ControlMaster auto\n  ControlPath ${controlPath}\n  ControlPersist ${persistS}\n  ServerAliveInterval 10\n  ServerAliveCountMax 3\n`;
}

export class SshTransport implements Transport {
  readonly root = VM_ROOT;
  readonly serviceManager: ServiceManager = "systemd";

  /**
   * @param node the Host name inside the config file (the Vagrant machine name).
   * @param configFile the file `vagrant ssh-config <node>` wrote.
   * @param exec how to run ssh and scp; the default spawns them with runProcess.
   * @param slowness see Transport.slowness (4 for VMs under qemu emulation).
   */
  constructor(
    readonly node: string,
    readonly configFile: string,
    private readonly exec: ProcessExec = (argv, script, opts) => runProcess(argv, node, script, opts),
    readonly slowness = 1,
  ) {}

  /** ssh options shared by every call: never prompt, fail fast when the VM is unreachable. */
  private sshArgs(): string[] {
    return ["-F", this.configFile, "-o", "BatchMode=yes", "-o", "ConnectTimeout=10"];
  }

  shell(): { argv: string[] } {
    return { argv: ["ssh", "-F", this.configFile, this.node] };
  }

  run(script: string, given: RunOptions = {}): Promise<RunResult> {
    const opts = { ...given, timeoutMs: (given.timeoutMs ?? DEFAULT_TIMEOUT_MS) * this.slowness };
    const full = `${exportLines(opts.env)}${script}`;
    if (opts.input === undefined) {
      return this.exec(["ssh", ...this.sshArgs(), this.node, "bash", "-s"], script, { ...opts, input: full });
    }
    // The script's own stdin is taken: send the script as one quoted argument instead.
    return this.exec(["ssh", ...this.sshArgs(), this.node, `bash -c ${shellQuote(full)}`], script, opts);
  }

  /**
   * One ssh command per file: the folder made, the bytes streamed on stdin into a
   * temporary name (0600 while it is written), the mode set (default 0644), then renamed into place (a reader never sees half a
   * file, and a file meant to be 0600 never exists with looser rights).
   */
  async put(localPath: string, remotePath: string, mode?: number): Promise<void> {
    checkRemotePath(remotePath);
    const part = shellQuote(`${remotePath}.part-${process.pid}`);
    // The size check: if the local side dies mid-copy, the far cat sees an early end of
    // input and succeeds; the truncated file must not be renamed into place.
    const size = (await stat(localPath).catch((err: Error) => {
      throw new Error(`cannot read ${localPath}: ${err.message}`);
    })).size;
    const script =
      `set -e; mkdir -p ${shellQuote(path.posix.dirname(remotePath))}; umask 077; cat > ${part}; ` +
      `got=$(stat -c %s ${part}); if [ "$got" != ${size} ]; then rm -f ${part}; echo "copy incomplete: $got of ${size} bytes" >&2; exit 1; fi; ` +
      `chmod ${(mode ?? 0o644).toString(8).padStart(4, "0")} ${part}; mv -f ${part} ${shellQuote(remotePath)}`;
    await this.exec(["ssh", ...this.sshArgs(), this.node, `bash -c ${shellQuote(script)}`], `put ${localPath} ${this.node}:${remotePath}`, {
      inputFile: localPath,
      timeoutMs: DEFAULT_TIMEOUT_MS * this.slowness,
    });
  }

  /** Ends the shared connection, if there is one (before the VM goes away). */
  async closeConnection(): Promise<void> {
    await this.exec(["ssh", ...this.sshArgs(), "-O", "exit", this.node], "ssh -O exit", { nothrow: true, timeoutMs: 10_000 });
  }

  async get(remotePath: string, localPath: string): Promise<void> {
    checkRemotePath(remotePath);
    await mkdir(path.dirname(localPath), { recursive: true });
    const copy = `scp ${this.node}:${remotePath} ${localPath}`;
    await this.exec(["scp", ...this.sshArgs(), "-q", `${this.node}:${remotePath}`, localPath], copy, { timeoutMs: DEFAULT_TIMEOUT_MS * this.slowness });
  }
}
