// The Transport of the Vagrant providers: ssh and scp with the config file that
// `vagrant ssh-config <node>` wrote, so stages reach a VM the way `vagrant ssh` does
// (forwarded port on VirtualBox, management address on libvirt, the box's key).
// Scripts travel on ssh's standard input to `bash -s`: no remote quoting of the script,
// and the environment goes in front of it as `export` lines.
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { runProcess, type RunOptions, type RunResult, type ServiceManager, type Transport } from "./transport.js";

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

export class SshTransport implements Transport {
  readonly root = VM_ROOT;
  readonly serviceManager: ServiceManager = "systemd";

  /**
   * @param node the Host name inside the config file (the Vagrant machine name).
   * @param configFile the file `vagrant ssh-config <node>` wrote.
   * @param exec how to run ssh and scp; the default spawns them with runProcess.
   */
  constructor(
    readonly node: string,
    readonly configFile: string,
    private readonly exec: ProcessExec = (argv, script, opts) => runProcess(argv, node, script, opts),
  ) {}

  /** ssh options shared by every call: never prompt, fail fast when the VM is unreachable. */
  private sshArgs(): string[] {
    return ["-F", this.configFile, "-o", "BatchMode=yes", "-o", "ConnectTimeout=10"];
  }

  shell(): { argv: string[] } {
    return { argv: ["ssh", "-F", this.configFile, this.node] };
  }

  run(script: string, opts: RunOptions = {}): Promise<RunResult> {
    const full = `${exportLines(opts.env)}${script}`;
    if (opts.input === undefined) {
      return this.exec(["ssh", ...this.sshArgs(), this.node, "bash", "-s"], script, { ...opts, input: full });
    }
    // The script's own stdin is taken: send the script as one quoted argument instead.
    return this.exec(["ssh", ...this.sshArgs(), this.node, `bash -c ${shellQuote(full)}`], script, opts);
  }

  async put(localPath: string, remotePath: string, mode?: number): Promise<void> {
    checkRemotePath(remotePath);
    await this.run(`mkdir -p ${shellQuote(path.posix.dirname(remotePath))}`);
    const copy = `scp ${localPath} ${this.node}:${remotePath}`;
    await this.exec(["scp", ...this.sshArgs(), "-q", localPath, `${this.node}:${remotePath}`], copy, {});
    if (mode !== undefined) await this.run(`chmod ${mode.toString(8).padStart(4, "0")} ${shellQuote(remotePath)}`);
  }

  async get(remotePath: string, localPath: string): Promise<void> {
    checkRemotePath(remotePath);
    await mkdir(path.dirname(localPath), { recursive: true });
    const copy = `scp ${this.node}:${remotePath} ${localPath}`;
    await this.exec(["scp", ...this.sshArgs(), "-q", `${this.node}:${remotePath}`, localPath], copy, {});
  }
}
