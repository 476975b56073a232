// "Machines you already have", made on this machine for provider ssh's tests: each host a
// network namespace on a bridge of its own, running a real sshd (Debian's openssh-server)
// on its address only, with a user, home and host key of its own; a client key in those
// users' authorized_keys and the hosts' keys in a known_hosts file of the test's. What a
// host holds (the user's files, processes and listening sockets) can be read before and
// after, to show a destroy leaves it as it was. Needs root (namespaces, useradd).
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import path from "node:path";
import { $ } from "zx";

export const LAB_SUBNET = "192.168.77";
const BRIDGE = "dvcsshbr0";

export interface LabHost {
  /** h1, h2... */
  readonly name: string;
  readonly ns: string;
  readonly ip: string;
  readonly user: string;
  readonly home: string;
  readonly dir: string;
}

export interface SshLab {
  readonly dir: string;
  /** The client's private key (its .pub is in every user's authorized_keys). */
  readonly key: string;
  readonly knownHosts: string;
  readonly hosts: readonly LabHost[];
  /**
   * A host as it is now: its user's files (with sizes), programs (not sshd's login processes), and the sockets
   * listening in its namespace.
   */
  snapshot(h: LabHost): Promise<HostState>;
  /**
   * A new host key for a host (its sshd restarted): known_hosts now holds a stale key; returns the new known_hosts
   * line.
   */
  rekey(h: LabHost): Promise<string>;
  /**
   * Puts another Python first on a host's PATH, as python3.11 (pyenv's build of that
   * version, linked in, through ~/.ssh/environment); false when this machine has none.
   */
  usePython(h: LabHost, version: string): Promise<boolean>;
  /** The host's own Python again. */
  resetPython(h: LabHost): void;
  remove(): Promise<void>;
}

export interface HostState {
  readonly files: string[];
  readonly processes: string[];
  readonly listeners: string[];
}

/** Why the lab cannot be made here, or undefined. */
export function labUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return "needs root (network namespaces, users)";
  if (!existsSync("/usr/sbin/sshd")) return "no /usr/sbin/sshd (apt-get install openssh-server)";
  return undefined;
}

function listFiles(dir: string, rel = ""): string[] {
  const out: string[] = [];
  let entries: import("node:fs").Dirent[];
  try {
    entries = readdirSync(path.join(dir, rel), { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    const r = path.join(rel, e.name);
    if (e.isDirectory()) {
      out.push(`${r}/`);
      out.push(...listFiles(dir, r));
    } else out.push(`${r}:${e.isFile() ? statSync(path.join(dir, r)).size : "link"}`);
  }
  return out.sort();
}

async function startSshd(h: LabHost): Promise<void> {
  await $({
    quiet: true,
  })`ip netns exec ${h.ns} /usr/sbin/sshd -f ${path.join(h.dir, "sshd_config")} -E ${path.join(h.dir, "sshd.log")}`;
  for (let i = 0; i < 50; i++) {
    if ((await $({ quiet: true, nothrow: true })`ip netns exec ${h.ns} ss -Hltn sport = :22`).stdout.includes(h.ip))
      return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(
    `sshd of ${h.name} does not listen on ${h.ip}:22: ${readFileSync(path.join(h.dir, "sshd.log"), "utf8")}`,
  );
}

async function stopSshd(h: LabHost): Promise<void> {
  const pidFile = path.join(h.dir, "sshd.pid");
  if (!existsSync(pidFile)) return;
  await $({ quiet: true, nothrow: true })`kill ${readFileSync(pidFile, "utf8").trim()}`;
  for (let i = 0; i < 50 && existsSync(pidFile); i++) await new Promise((r) => setTimeout(r, 100));
}

async function hostKey(h: LabHost): Promise<string> {
  const key = path.join(h.dir, "ssh_host_ed25519_key");
  rmSync(key, { force: true });
  rmSync(`${key}.pub`, { force: true });
  await $({ quiet: true })`ssh-keygen -q -t ed25519 -N ${""} -C ${`dvc-lab-${h.name}`} -f ${key}`;
  return readFileSync(`${key}.pub`, "utf8").trim().split(/\s+/).slice(0, 2).join(" ");
}

/** count hosts at 192.168.77.11.., users dvclab1.. (a prefix of the caller's, so parallel runs cannot meet). */
export async function makeSshLab(count = 3, userPrefix = "dvclab"): Promise<SshLab> {
  const dir = mkdtempSync("/tmp/dvc-sshlab-");
  // The hosts' users run programs from here (another Python); the client's key stays 0600.
  chmodSync(dir, 0o755);
  const key = path.join(dir, "id_ed25519");
  await $({ quiet: true })`ssh-keygen -q -t ed25519 -N ${""} -C dvc-lab-client -f ${key}`;
  const pub = readFileSync(`${key}.pub`, "utf8");
  mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
  await $({ quiet: true, nothrow: true })`ip link del ${BRIDGE}`;
  await $({ quiet: true })`ip link add ${BRIDGE} type bridge`;
  await $({ quiet: true })`ip addr add ${`${LAB_SUBNET}.1/24`} dev ${BRIDGE}`;
  await $({ quiet: true })`ip link set ${BRIDGE} up`;
  const hosts: LabHost[] = [];
  const known: string[] = [];
  for (let i = 1; i <= count; i++) {
    const h: LabHost = {
      name: `h${i}`,
      ns: `dvc-sshlab-h${i}`,
      ip: `${LAB_SUBNET}.${10 + i}`,
      user: `${userPrefix}${i}`,
      home: `/home/${userPrefix}${i}`,
      dir: path.join(dir, `h${i}`),
    };
    mkdirSync(h.dir, { recursive: true });
    await $({ quiet: true, nothrow: true })`ip netns del ${h.ns}`;
    await $({ quiet: true })`ip netns add ${h.ns}`;
    await $({ quiet: true, nothrow: true })`ip link del ${`vsh${i}`}`;
    await $({ quiet: true })`ip link add ${`vsh${i}`} type veth peer name eth0 netns ${h.ns}`;
    await $({ quiet: true })`ip link set ${`vsh${i}`} master ${BRIDGE} up`;
    await $({ quiet: true })`ip -n ${h.ns} addr add ${`${h.ip}/24`} dev eth0`;
    await $({ quiet: true })`ip -n ${h.ns} link set eth0 up`;
    await $({ quiet: true })`ip -n ${h.ns} link set lo up`;
    await $({ quiet: true, nothrow: true })`userdel -r ${h.user}`;
    await $({ quiet: true })`useradd -m -s /bin/bash ${h.user}`;
    // No password, and not locked: sshd (without PAM) refuses every login to a locked account, keys included.
    await $({ quiet: true })`usermod -p ${"*"} ${h.user}`;
    mkdirSync(path.join(h.home, ".ssh"), { mode: 0o700 });
    writeFileSync(path.join(h.home, ".ssh", "authorized_keys"), pub, { mode: 0o600 });
    await $({ quiet: true })`chown -R ${`${h.user}:${h.user}`} ${path.join(h.home, ".ssh")}`;
    const hk = await hostKey(h);
    known.push(`${h.ip} ${hk}`);
    writeFileSync(
      path.join(h.dir, "sshd_config"),
      [
        "Port 22",
        `ListenAddress ${h.ip}`,
        `HostKey ${path.join(h.dir, "ssh_host_ed25519_key")}`,
        `PidFile ${path.join(h.dir, "sshd.pid")}`,
        `AllowUsers ${h.user}`,
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "UsePAM no",
        "PermitRootLogin no",
        // Lets a test give one host another Python first on PATH (~/.ssh/environment).
        "PermitUserEnvironment yes",
        "StrictModes yes",
        "LogLevel ERROR",
        "",
      ].join("\n"),
    );
    await startSshd(h);
    hosts.push(h);
  }
  const knownHosts = path.join(dir, "known_hosts");
  writeFileSync(knownHosts, `${known.join("\n")}\n`);
  return {
    dir,
    key,
    knownHosts,
    hosts,
    async snapshot(h) {
      const ps = await $({ quiet: true, nothrow: true })`ps -o pid=,args= -u ${h.user}`;
      const ss = await $({ quiet: true, nothrow: true })`ip netns exec ${h.ns} ss -Hltn`;
      return {
        files: listFiles(h.home),
        // The ssh server's own processes for a login (and those just ending) are the
        // transport, not something the cluster left: only the user's programs count.
        processes: ps.stdout
          .trim()
          .split("\n")
          .filter((l) => l && !/\bsshd\b/.test(l)),
        listeners: ss.stdout
          .trim()
          .split("\n")
          .filter(Boolean)
          .map((l) => l.trim().split(/\s+/)[3] ?? l)
          .sort(),
      };
    },
    async rekey(h) {
      await stopSshd(h);
      const line = `${h.ip} ${await hostKey(h)}`;
      await startSshd(h);
      return line;
    },
    async usePython(h, version) {
      const src = `/root/.pyenv/versions/${version}`;
      if (!existsSync(path.join(src, "bin"))) return false;
      const dst = path.join(dir, `python-${version}`);
      if (!existsSync(dst)) {
        mkdirSync(dst);
        // Hard links: instant, and readable by the host's user where /root is not.
        for (const part of ["bin", "lib"]) {
          const r = await $({ quiet: true, nothrow: true })`cp -al ${path.join(src, part)} ${dst}/`;
          if (r.exitCode !== 0) await $({ quiet: true })`cp -a ${path.join(src, part)} ${dst}/`;
        }
        const minor = version.split(".").slice(0, 2).join(".");
        mkdirSync(path.join(dst, "as311"));
        await $({
          quiet: true,
        })`ln -s ${path.join(dst, "bin", `python${minor}`)} ${path.join(dst, "as311", "python3.11")}`;
      }
      const env = path.join(h.home, ".ssh", "environment");
      writeFileSync(
        env,
        `PATH=${path.join(dst, "as311")}:/usr/local/bin:/usr/bin:/bin\nLD_LIBRARY_PATH=${path.join(dst, "lib")}\n`,
        { mode: 0o600 },
      );
      await $({ quiet: true })`chown ${`${h.user}:${h.user}`} ${env}`;
      return true;
    },
    resetPython(h) {
      rmSync(path.join(h.home, ".ssh", "environment"), { force: true });
    },
    async remove() {
      for (const h of hosts) {
        await stopSshd(h);
        await $({ quiet: true, nothrow: true })`pkill -KILL -u ${h.user}`;
        await $({ quiet: true, nothrow: true })`ip netns del ${h.ns}`;
        await $({ quiet: true, nothrow: true })`userdel -r ${h.user}`;
      }
      for (let i = 1; i <= count; i++) await $({ quiet: true, nothrow: true })`ip link del ${`vsh${i}`}`;
      await $({ quiet: true, nothrow: true })`ip link del ${BRIDGE}`;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
