// The Transport of the Vagrant providers and of provider ssh: ssh with a config file, the
// one `vagrant ssh-config <node>` wrote, so stages reach a VM the way `vagrant ssh` does
// (forwarded port on VirtualBox, management address on libvirt, the box's key), or the one
// provider ssh writes from cluster.config.json (the user's host, key and known_hosts).
// Scripts travel on ssh's standard input to `bash -s`: no remote quoting of the script,
// and the environment goes in front of it as `export` lines. ssh is the system's own
// (OpenSSH on Linux and macOS, Win32-OpenSSH on Windows), run through the host's one
// process runner.
import { lstatSync, mkdirSync, renameSync, rmSync, statSync } from "node:fs";
import path from "node:path";
import type { ProcessRunner } from "../host/process.js";
import {
  DEFAULT_TIMEOUT_MS,
  exportLines,
  NodeCommandError,
  runForNode,
  shq,
  type RunOptions,
  type RunResult,
  type ServiceManager,
  type Transport,
} from "./transport.js";

/** Where the runtime lives on every VM; created (owned by the login user) by createMachine. */
export const VM_ROOT = "/opt/dask-vm-cluster";

// Remote paths travel inside the remote shell's command line: accept only plain ones.
const SAFE_REMOTE_PATH = /^\/[A-Za-z0-9._/@+=,-]*$/;

function checkRemotePath(p: string): void {
  if (!SAFE_REMOTE_PATH.test(p)) {
    throw new Error(
      `remote path ${JSON.stringify(p)} must be absolute and use only letters, digits and ._/@+=,- (the remote shell reads it)`,
    );
  }
}

/**
 * Room in a Unix socket path: sun_path is 104 bytes on macOS and the BSDs, 108 on Linux,
 * the final NUL included; the smaller one counts.
 */
const SUN_PATH_BYTES = 104;
/** What `%C` expands to: a SHA-1 of the connection in hex. */
const CONTROL_HASH_BYTES = 40;
/**
 * What OpenSSH adds to the ControlPath while it sets the master up: muxserver_listen()
 * binds "<ControlPath>.<16 random characters>" first and renames it into place, so that
 * name must fit too, or every ssh exits 255 ("ControlPath ... too long for Unix domain
 * socket").
 */
const MUX_TEMP_SUFFIX_BYTES = 17;

/** Whether sockets made in dir with ControlPath dir/%C fit in sun_path, temporary name included. */
export function controlPathFits(dir: string): boolean {
  return Buffer.byteLength(path.join(dir, "x")) - 1 + CONTROL_HASH_BYTES + MUX_TEMP_SUFFIX_BYTES + 1 <= SUN_PATH_BYTES;
}

/**
 * A short folder of our own for the shared connections' sockets: /tmp/dvc-ssh-<uid>,
 * 0700, owned by this user and not a symlink (anyone may create names in /tmp). Home
 * folders are too deep for a socket path on many laptops (/Users/<long name>/.cache/...).
 * undefined where connection sharing cannot be used: Windows' OpenSSH has no
 * ControlMaster (PowerShell/Win32-OpenSSH#405), or the folder is not safe or not short.
 */
export function sshControlDir(
  platform: NodeJS.Platform,
  uid: number | undefined,
  base = "/tmp",
  warn?: (message: string) => void,
): string | undefined {
  if (platform === "win32" || uid === undefined) return undefined;
  const dir = path.posix.join(base, `dvc-ssh-${uid}`);
  if (!controlPathFits(dir)) return undefined;
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") {
      warn?.(
        `ssh connection sharing is off (each command logs in again, slower): cannot create ${dir}: ${(err as Error).message}`,
      );
      return undefined;
    }
  }
  const st = lstatSync(dir);
  if (!st.isDirectory() || st.isSymbolicLink() || st.uid !== uid || (statSync(dir).mode & 0o077) !== 0) {
    warn?.(
      `ssh connection sharing is off (each command logs in again, slower): ${dir} is not a folder of yours with mode 0700; remove it (rm -rf ${dir}) and deploy again`,
    );
    return undefined;
  }
  return dir;
}

/**
 * The `vagrant ssh-config` text with connection sharing added: one ssh connection per VM,
 * opened by the first command and reused by every later ssh for ControlPersist seconds
 * after the last one ends. Each new ssh connection costs a key exchange and a login,
 * about 10 s on a VM under qemu emulation; a stage sends dozens of commands. Without a
 * control folder (Windows, or no safe short folder) the config is returned unchanged.
 */
export function withConnectionSharing(sshConfig: string, controlDir: string | undefined, persistS = 60): string {
  if (!controlDir || !controlPathFits(controlDir)) return sshConfig;
  const body = sshConfig.replace(/\s+$/, "");
  // ServerAlive: a master whose VM vanished (no TCP reset from a killed qemu) ends within
  // 30 s instead of holding later commands.
  return `${body}\n  ControlMaster auto\n  ControlPath ${path.posix.join(controlDir, "%C")}\n  ControlPersist ${persistS}\n  ServerAliveInterval 10\n  ServerAliveCountMax 3\n`;
}

export class SshTransport implements Transport {
  /**
   * @param node the Host name inside the config file (the Vagrant machine name).
   * @param configFile the file `vagrant ssh-config <node>` wrote.
   * @param runner the host's process runner (every ssh goes through it).
   * @param slowness see Transport.slowness (4 for VMs under qemu emulation).
   * @param noSharing turn connection sharing off on the command line too (Windows: its
   *   OpenSSH fails on ControlMaster, and a user's own ~/.ssh/config could ask for it).
   * @param root the runtime's folder on the node (VMs: VM_ROOT; provider ssh: the host's).
   * @param serviceManager who runs the services there (VMs: systemd).
   */
  constructor(
    readonly node: string,
    readonly configFile: string,
    private readonly runner: ProcessRunner,
    readonly slowness = 1,
    private readonly noSharing = false,
    readonly root: string = VM_ROOT,
    readonly serviceManager: ServiceManager = "systemd",
  ) {}

  /**
   * Where connections are not shared (Windows' OpenSSH has no ControlMaster): say so to ssh, whatever a user's config
   * holds.
   */
  private sharingArgs(): string[] {
    return this.noSharing ? ["-o", "ControlMaster=no", "-o", "ControlPath=none"] : [];
  }

  /** ssh options shared by every call: never prompt, fail fast when the VM is unreachable. */
  private sshArgs(): string[] {
    return ["-F", this.configFile, "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", ...this.sharingArgs()];
  }

  shell(): { argv: string[] } {
    return { argv: ["ssh", "-F", this.configFile, ...this.sharingArgs(), this.node] };
  }

  run(script: string, given: RunOptions = {}): Promise<RunResult> {
    const opts = { ...given, timeoutMs: (given.timeoutMs ?? DEFAULT_TIMEOUT_MS) * this.slowness };
    const full = `${exportLines(opts.env)}${script}`;
    if (opts.input === undefined && opts.inputFile === undefined) {
      return runForNode(this.runner, this.node, ["ssh", ...this.sshArgs(), this.node, "bash", "-s"], script, {
        ...opts,
        input: full,
      });
    }
    // The script's own stdin is taken: send the script as one quoted argument instead.
    return runForNode(
      this.runner,
      this.node,
      ["ssh", ...this.sshArgs(), this.node, `bash -c ${shq(full)}`],
      script,
      opts,
    );
  }

  /**
   * One ssh command per file: the folder made, the bytes streamed on stdin into a
   * temporary name (0600 while it is written), the mode set (default 0644), then renamed
   * into place (a reader never sees half a file, and a file meant to be 0600 never exists
   * with looser rights).
   */
  async put(localPath: string, remotePath: string, mode?: number, onProgress?: (bytes: number) => void): Promise<void> {
    checkRemotePath(remotePath);
    const part = shq(`${remotePath}.part-${process.pid}`);
    // The size check: if the local side dies mid-copy, the far cat sees an early end of
    // input and succeeds; the truncated file must not be renamed into place.
    let size: number;
    try {
      size = statSync(localPath).size;
    } catch (err) {
      throw new Error(`cannot read ${localPath}: ${(err as Error).message}`);
    }
    const script =
      `set -e; mkdir -p ${shq(path.posix.dirname(remotePath))}; umask 077; cat > ${part}; ` +
      `got=$(stat -c %s ${part}); if [ "$got" != ${size} ]; then rm -f ${part}; echo "copy incomplete: $got of ${size} bytes" >&2; exit 1; fi; ` +
      `chmod ${(mode ?? 0o644).toString(8).padStart(4, "0")} ${part}; mv -f ${part} ${shq(remotePath)}`;
    await runForNode(
      this.runner,
      this.node,
      ["ssh", ...this.sshArgs(), this.node, `bash -c ${shq(script)}`],
      `put ${localPath} ${this.node}:${remotePath}`,
      {
        inputFile: localPath,
        onInputProgress: onProgress,
        timeoutMs: DEFAULT_TIMEOUT_MS * this.slowness,
      },
    );
  }

  /** Ends the shared connection, if there is one (before the VM goes away). */
  async closeConnection(): Promise<void> {
    if (this.noSharing) return;
    await runForNode(this.runner, this.node, ["ssh", ...this.sshArgs(), "-O", "exit", this.node], "ssh -O exit", {
      nothrow: true,
      timeoutMs: 10_000,
    });
  }

  /**
   * The file's bytes on ssh's standard output, straight into the local file (no scp: its
   * SFTP mode needs a server with the sftp subsystem, which lean hosts leave out), then
   * its size compared with the remote one, so a copy cut short is an error.
   */
  async get(remotePath: string, localPath: string): Promise<void> {
    checkRemotePath(remotePath);
    mkdirSync(path.dirname(localPath), { recursive: true });
    const ssh = ["ssh", ...this.sshArgs(), this.node];
    const size = await runForNode(
      this.runner,
      this.node,
      [...ssh, `stat -c %s ${shq(remotePath)}`],
      `stat ${this.node}:${remotePath}`,
      { timeoutMs: 60_000 * this.slowness },
    );
    // Written aside and renamed once whole: a copy cut short never stands as the file.
    const part = `${localPath}.part-${process.pid}`;
    try {
      const r = await this.runner([...ssh, `cat ${shq(remotePath)}`], {
        outputFile: part,
        timeoutMs: DEFAULT_TIMEOUT_MS * this.slowness,
        scope: this.node,
        label: `get ${this.node}:${remotePath}`,
      });
      if (r.exitCode !== 0)
        throw new NodeCommandError(this.node, `cat ${remotePath}`, {
          stdout: "",
          stderr: r.stderr,
          exitCode: r.exitCode,
        });
      const got = statSync(part).size;
      if (String(got) !== size.stdout.trim())
        throw new Error(`copy of ${this.node}:${remotePath} incomplete: ${got} of ${size.stdout.trim()} bytes`);
      renameSync(part, localPath);
    } finally {
      rmSync(part, { force: true });
    }
  }
}
