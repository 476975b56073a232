// SshTransport: the exact ssh command lines, and (through a stand-in for ssh that does
// what it does on the far side: join the command words and hand them to a shell) that
// scripts, environment values, stdin and files arrive intact. A real sshd is exercised by
// provider ssh's suite (test/ssh.local.test.ts) and the VM lifecycle runs.
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runProcess, type ProcessOptions, type ProcessRunner } from "../../provision/host/process.js";
import { SshTransport, withConnectionSharing } from "../../provision/machines/ssh-transport.js";
import { NodeCommandError, exportLines, shq } from "../../provision/machines/transport.js";

let dir: string;
let exec: ProcessRunner;

// ssh: drop the options, take the host, run the rest as one command line in a shell.
const FAKE_SSH = `#!/bin/sh
while [ $# -gt 0 ]; do
  case "$1" in
    -F|-o) shift 2 ;;
    -q) shift ;;
    *) break ;;
  esac
done
shift
exec sh -c "$*"
`;

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), "dvc-ssh-"));
  for (const [name, text] of [["ssh", FAKE_SSH]] as const) {
    writeFileSync(path.join(dir, name), text);
    chmodSync(path.join(dir, name), 0o755);
  }
  exec = (argv, opts) => runProcess([path.join(dir, argv[0]!), ...argv.slice(1)], opts);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function recorder() {
  const calls: { argv: string[]; opts: ProcessOptions }[] = [];
  const rec: ProcessRunner = async (argv, opts = {}) => {
    calls.push({ argv: [...argv], opts });
    return { argv, stdout: "", stderr: "", exitCode: 0, missing: false, timedOut: false, seconds: 0 };
  };
  return { rec, calls };
}

describe("command lines", () => {
  it("runs a script as `bash -s` on stdin, with export lines in front", async () => {
    const { rec, calls } = recorder();
    await new SshTransport("node1", "/p/.cluster/ssh/node1.conf", rec).run("echo hi", {
      env: { A: "x y" },
      timeoutMs: 5,
    });
    expect(calls.map((c) => c.argv)).toEqual([
      [
        "ssh",
        "-F",
        "/p/.cluster/ssh/node1.conf",
        "-o",
        "BatchMode=yes",
        "-o",
        "ConnectTimeout=10",
        "node1",
        "bash",
        "-s",
      ],
    ]);
    expect(calls[0]!.opts).toMatchObject({
      timeoutMs: 5,
      input: "export A='x y'\necho hi",
      scope: "node1",
      label: "echo hi",
    });
  });

  it("copies a file in one ssh command: folder, bytes on stdin to a temporary name, mode, rename", async () => {
    const { rec, calls } = recorder();
    writeFileSync(path.join(dir, "w.whl"), "12345");
    await new SshTransport("node1", "/c.conf", rec).put(
      path.join(dir, "w.whl"),
      "/opt/dask-vm-cluster/bundle/w.whl",
      0o600,
    );
    expect(calls).toHaveLength(1);
    const part = `/opt/dask-vm-cluster/bundle/w.whl.part-${process.pid}`;
    const script =
      `set -e; mkdir -p /opt/dask-vm-cluster/bundle; umask 077; cat > ${part}; ` +
      `got=$(stat -c %s ${part}); if [ "$got" != 5 ]; then rm -f ${part}; echo "copy incomplete: $got of 5 bytes" >&2; exit 1; fi; ` +
      `chmod 0600 ${part}; mv -f ${part} /opt/dask-vm-cluster/bundle/w.whl`;
    expect(calls[0]!.argv).toEqual([
      "ssh",
      "-F",
      "/c.conf",
      "-o",
      "BatchMode=yes",
      "-o",
      "ConnectTimeout=10",
      "node1",
      `bash -c ${shq(script)}`,
    ]);
    expect(calls[0]!.opts.inputFile).toBe(path.join(dir, "w.whl"));
  });

  it("fetches with ssh and cat into the file (no scp: its SFTP mode needs a server's sftp subsystem), after asking the size", async () => {
    const calls: { argv: string[]; opts: ProcessOptions }[] = [];
    const local = path.join(os.tmpdir(), "dvc-get-test", "a.log");
    const rec: ProcessRunner = async (argv, opts = {}) => {
      calls.push({ argv: [...argv], opts });
      if (opts.outputFile) writeFileSync(opts.outputFile, "12345");
      return {
        argv,
        stdout: argv.at(-1)!.startsWith("stat") ? "5\n" : "",
        stderr: "",
        exitCode: 0,
        missing: false,
        timedOut: false,
        seconds: 0,
      };
    };
    await new SshTransport("node1", "/c.conf", rec).get("/opt/dask-vm-cluster/logs/a.log", local);
    const ssh = ["ssh", "-F", "/c.conf", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "node1"];
    expect(calls.map((c) => c.argv)).toEqual([
      [...ssh, "stat -c %s /opt/dask-vm-cluster/logs/a.log"],
      [...ssh, "cat /opt/dask-vm-cluster/logs/a.log"],
    ]);
    // Written aside under a temporary name, then renamed once its size matches.
    expect(calls[1]!.opts.outputFile).toBe(`${local}.part-${process.pid}`);
    expect(readFileSync(local, "utf8")).toBe("12345");
    expect(existsSync(`${local}.part-${process.pid}`)).toBe(false);
    rmSync(path.join(os.tmpdir(), "dvc-get-test"), { recursive: true, force: true });
  });

  it("shares one connection per VM: ControlMaster in the config, ssh -O exit to end it", async () => {
    const conf = "Host node1\n  HostName 192.168.121.43\n  User vagrant\n  Port 22\n\n";
    expect(withConnectionSharing(conf, "/tmp/dvc-ssh-0")).toBe(
      "Host node1\n  HostName 192.168.121.43\n  User vagrant\n  Port 22\n" +
        "  ControlMaster auto\n  ControlPath /tmp/dvc-ssh-0/%C\n  ControlPersist 60\n  ServerAliveInterval 10\n  ServerAliveCountMax 3\n",
    );
    // A socket path longer than the kernel allows: no sharing rather than a failing ssh.
    expect(withConnectionSharing(conf, `/home/${"x".repeat(70)}/.cache/dask-vm-cluster/ssh`)).toBe(conf);
    const { rec, calls } = recorder();
    await new SshTransport("node1", "/c.conf", rec).closeConnection();
    expect(calls.map((c) => c.argv)).toEqual([
      ["ssh", "-F", "/c.conf", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-O", "exit", "node1"],
    ]);
    expect(calls[0]!.opts.timeoutMs).toBe(10_000);
  });

  it("scales every timeout by the node's slowness (VMs under emulation)", async () => {
    const { rec, calls } = recorder();
    const slow = new SshTransport("node1", "/c.conf", rec, 4);
    await slow.run("true", { timeoutMs: 60_000 });
    await slow.run("true");
    expect(calls.map((c) => c.opts.timeoutMs)).toEqual([240_000, 2_400_000]);
  });

  it("refuses remote paths the remote shell would reinterpret", async () => {
    const t = new SshTransport("node1", "/c.conf", recorder().rec);
    await expect(t.put("/a", "/opt/x y")).rejects.toThrow(/must be absolute and use only/);
    await expect(t.get("relative/p", "/a")).rejects.toThrow(/must be absolute/);
  });

  it("rejects environment names that are not shell names", () => {
    expect(() => exportLines({ "A-B": "1" })).toThrow(/not a valid shell name/);
  });
});

// The stand-in ssh is a shell script run by its shebang, and the far side's paths are POSIX.
const posix = process.platform !== "win32";
if (!posix)
  console.log(
    `vagrant-ssh-transport: the far side's shell skipped: the stand-in ssh is a shell script run by its shebang, which Windows cannot, on ${process.platform}`,
  );

describe.runIf(posix)("through a shell on the far side", () => {
  it("delivers environment values with quotes, $ and newlines unchanged", async () => {
    const value = `it's "$HOME" \`x\` $(y)\nline2 \\`;
    const t = new SshTransport("node1", "/dev/null", exec);
    const r = await t.run(`printf '%s' "$V"`, { env: { V: value } });
    expect(r.stdout).toBe(value);
    expect(shq("a'b")).toBe(`'a'\\''b'`);
  });

  it("sends the script as an argument when the script needs stdin for itself", async () => {
    const t = new SshTransport("node1", "/dev/null", exec);
    const r = await t.run(`read -r l; echo "got:$l:$W"`, { input: "data'1\n", env: { W: "w 'q'" } });
    expect(r.stdout).toBe("got:data'1:w 'q'\n");
  });

  it("throws NodeCommandError with the exit code, or returns it with nothrow", async () => {
    const t = new SshTransport("node1", "/dev/null", exec);
    await expect(t.run("echo bad >&2; exit 7")).rejects.toBeInstanceOf(NodeCommandError);
    expect((await t.run("exit 7", { nothrow: true })).exitCode).toBe(7);
  });

  it("streams a large file intact (8 MiB, as bundles are streamed)", async () => {
    const t = new SshTransport("node1", "/dev/null", exec);
    const src = path.join(dir, "big.bin");
    const bytes = Buffer.alloc(8 * 1024 * 1024);
    for (let i = 0; i < bytes.length; i += 4096) bytes.writeUInt32LE((i * 2654435761) >>> 0, i);
    writeFileSync(src, bytes);
    const remote = path.join(dir, "remote", "big.bin");
    await t.put(src, remote);
    expect(readFileSync(remote).equals(bytes)).toBe(true);
    expect(statSync(remote).mode & 0o777).toBe(0o644);
    await expect(t.put(path.join(dir, "missing.bin"), remote)).rejects.toThrow(/cannot read .*missing\.bin/);
    // A copy cut short (here: the far side gets 3 of the bytes) is not renamed into place.
    const short = new SshTransport("node1", "/dev/null", (argv, opts) =>
      exec(argv, { ...opts, inputFile: undefined, input: "abc" }),
    );
    await expect(short.put(src, path.join(dir, "remote", "short.bin"))).rejects.toThrow(
      /copy incomplete: 3 of 8388608 bytes/,
    );
    expect(existsSync(path.join(dir, "remote", "short.bin"))).toBe(false);
  });

  it("copies a file there and back, with its mode, and refuses a copy back cut short", async () => {
    const t = new SshTransport("node1", "/dev/null", exec);
    const src = path.join(dir, "src.bin");
    writeFileSync(src, Buffer.from([0, 1, 2, 255]));
    const remote = path.join(dir, "remote", "deep", "f.bin");
    await t.put(src, remote, 0o640);
    expect(statSync(remote).mode & 0o777).toBe(0o640);
    const back = path.join(dir, "back", "f.bin");
    await t.get(remote, back);
    expect([...readFileSync(back)]).toEqual([0, 1, 2, 255]);
    const cut = new SshTransport("node1", "/dev/null", (argv, opts) =>
      exec(argv.at(-1)!.startsWith("cat") ? [...argv.slice(0, -1), `head -c 2 ${shq(remote)}`] : argv, opts),
    );
    await expect(cut.get(remote, back)).rejects.toThrow(/incomplete: 2 of 4 bytes/);
  });
});
