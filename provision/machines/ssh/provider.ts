// Provider ssh: machines the user already has (lab PCs, cloud VMs made elsewhere),
// listed in ssh.hosts and reached with the system's OpenSSH. Nothing is created or
// destroyed at the machine level: the network and machine stages only check and record,
// and a machine's destroy removes the runtime folder the deploy made there (with its
// services, certificates and logs) and the shared ssh connection. Everything above is the
// same code as for the other providers, through the same SshTransport as the VMs, rooted
// in the user's own folder on each host, with the service manager that host allows:
// systemd --user where it outlives the login (lingering), the runtime's supervisor
// elsewhere, system units only with sudo. Host keys are checked against known_hosts and
// never accepted blindly (StrictHostKeyChecking yes).
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import type { Server } from "node:net";
import path from "node:path";
import { fail, ok, warn, type CheckRow } from "../../core/check-rows.js";

import { UserError } from "../../core/errors.js";
import type { Host } from "../../host/host.js";
import { relayServer } from "../relay.js";
import type { ClusterRef } from "../../core/stage-spec.js";
import { SshTransport, sshControlDir, withConnectionSharing } from "../ssh-transport.js";
import { shq, type RunResult, type ServiceManager, type Transport } from "../transport.js";
import type { MachineProvider, MachineStatus, ProviderCapabilities } from "../provider.js";
import type { ClusterConfig } from "../../core/config-schema.js";
import type { NodeSpec, NodeSsh, HostNeeds } from "../../core/model.js";

/**
 * Other people's machines: made in parallel, reached over ssh (forwarded, as their addresses may be private), sharing
 * nothing of this host.
 */
export const SSH_CAPABILITIES: ProviderCapabilities = {
  parallelMachines: true,
  hostReachesNodes: false,
  reservesResources: false,
  nodesOnThisHost: false,
};

/** Marker the machine stage leaves in a host's runtime folder: whose it is. */
const MARKER = ".dvc-machine.json";
/** Free disk a host needs for the bundle, its unpacked copy and the venv (about 4 × 40 MB), logs and spills. */
export const MIN_FREE_BYTES = 1024 ** 3;
/** A clock behind by more than this sees the cluster's certificates (valid from a day back) as not valid yet. */
const CLOCK_FAIL_S = 23 * 3600;
const CLOCK_WARN_S = 60;

/** Files of provider ssh on this computer, under <clusterDir>/ssh. */
export function sshPaths(cluster: Pick<ClusterRef, "clusterDir">) {
  const dir = path.join(cluster.clusterDir, "ssh");
  return {
    dir,
    config: (node: string) => path.join(dir, `${node}.conf`),
    facts: (node: string) => path.join(dir, `${node}.json`),
    machines: path.join(cluster.clusterDir, "machines.json"),
  };
}

function settingsOf(node: NodeSpec): NodeSsh {
  if (!node.ssh)
    throw new UserError(`${node.name} has no ssh settings`, 2, [
      {
        path: "/ssh/hosts",
        message: `provider ssh makes its nodes from ssh.hosts, and ${node.name} is not one of them`,
        fix: "run npx cdktf deploy",
      },
    ]);
  return node.ssh;
}

/** A path for an ssh_config line: quoted (spaces), % doubled (ssh expands %-tokens there). */
function configPath(p: string): string {
  if (p.includes('"'))
    throw new UserError(`the path ${p} holds a double quote, which ssh_config cannot carry`, 2, [
      { path: p, message: "a double quote in a path", fix: "move the file to a path without one" },
    ]);
  return `"${p.replace(/%/g, "%%")}"`;
}

/** The ssh_config of one node: its host, user, key and known_hosts, strict host-key checking, never a prompt. */
export function sshConfigText(node: NodeSpec, controlDir: string | undefined): string {
  const s = settingsOf(node);
  const lines = [
    `# dask-vm-cluster: ${node.name} of provider ssh, from cluster.config.json (regenerated; edit the config instead)`,
    `Host ${node.name}`,
    `  HostName ${s.address}`,
    `  User ${s.user}`,
    `  Port ${s.port}`,
    ...(s.identityFile ? [`  IdentityFile ${configPath(s.identityFile)}`, "  IdentitiesOnly yes"] : []),
    `  UserKnownHostsFile ${configPath(s.knownHosts)}`,
    "  StrictHostKeyChecking yes",
    "  UpdateHostKeys no",
    "  BatchMode yes",
    "  ConnectTimeout 10",
    "  LogLevel ERROR",
  ];
  return withConnectionSharing(`${lines.join("\n")}\n`, controlDir);
}

/** What an ssh that did not get in said, as a check row's found and fix. */
export function sshFailure(node: NodeSpec, stderr: string): { found: string; fix: string } {
  const s = settingsOf(node);
  const target = `${s.user}@${s.address}${s.port === 22 ? "" : `:${s.port}`}`;
  const keyName = s.port === 22 ? s.address : `[${s.address}]:${s.port}`;
  const last = stderr.trim().split("\n").filter(Boolean).pop() ?? "no answer";
  if (/REMOTE HOST IDENTIFICATION HAS CHANGED|Host key for .* has changed/i.test(stderr)) {
    return {
      found: `${target}: its host key is not the one ${s.knownHosts} holds (changed since it was recorded)`,
      fix: `if the host was reinstalled, check its new key's fingerprint with its owner, then: ssh-keygen -R '${keyName}' -f ${JSON.stringify(s.knownHosts)} and ssh -o UserKnownHostsFile=${JSON.stringify(s.knownHosts)} -p ${s.port} ${s.user}@${s.address} once to record it; otherwise do not connect`,
    };
  }
  if (/Host key verification failed|No .* host key is known|host key is not known/i.test(stderr)) {
    return {
      found: `${target}: its host key is not in ${s.knownHosts}`,
      fix: `connect once by hand and check the fingerprint: ssh -o UserKnownHostsFile=${JSON.stringify(s.knownHosts)} -p ${s.port} ${s.user}@${s.address} (keys are never accepted unseen)`,
    };
  }
  if (/Identity file .* not accessible|no such identity|Load key .*No such file/i.test(stderr)) {
    return {
      found: `${target}: the key ${s.identityFile ?? ""} cannot be read (${stderr.trim().split("\n")[0]})`,
      fix: "fix ssh.hosts[].identityFile, or leave it out to use ssh-agent",
    };
  }
  if (/Permission denied/i.test(stderr)) {
    return {
      found: `${target} refused the key${s.identityFile ? ` ${s.identityFile}` : "s ssh offered (agent, ~/.ssh)"}: ${last}`,
      fix: `put the public key in ${s.user}'s ~/.ssh/authorized_keys there: ssh-copy-id ${s.identityFile ? `-i ${JSON.stringify(`${s.identityFile}.pub`)} ` : ""}-p ${s.port} ${s.user}@${s.address}`,
    };
  }
  if (/Connection refused/i.test(stderr))
    return {
      found: `${target}: ${last}`,
      fix: `start the ssh server there (sudo systemctl start ssh), or fix ssh.hosts[].port`,
    };
  return {
    found: `${target}: ${last}`,
    fix: "is the machine on, and reachable from this computer (VPN, firewall)? Try: ssh -p PORT USER@ADDRESS",
  };
}

/**
 * What a host says about itself, read-only: who, where, which Python, addresses, ports in
 * use, disk, clock, the service managers it offers. Prints key=value lines. Changes
 * nothing there (no file written, no byte-code: python runs a script from stdin).
 */
export const PROBE = `set -u
echo "user=$(id -un)"; echo "home=$HOME"; echo "arch=$(uname -m)"; echo "now=$(date +%s)"
if [ -r /etc/os-release ]; then . /etc/os-release; echo "os=\${PRETTY_NAME:-\${ID:-unknown}}"; fi
for t in bash tar flock; do command -v "$t" >/dev/null 2>&1 || echo "missing_tool=$t"; done
if command -v "$DVC_PY" >/dev/null 2>&1; then
"$DVC_PY" - "$DVC_ROOT" $DVC_PORTS <<'PYEOF'
import os, subprocess, sys
root, ports = sys.argv[1], {int(p) for p in sys.argv[2:]}
print("python=%d.%d.%d" % sys.version_info[:3])
try:
    import venv  # noqa: F401
    print("venv=yes")
except ImportError:
    print("venv=no")
print("glibc=" + (os.confstr("CS_GNU_LIBC_VERSION") or "none").split()[-1])
addrs = []
try:
    out = subprocess.run(["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True, timeout=10).stdout
    addrs = [line.split()[3].split("/")[0] for line in out.splitlines() if len(line.split()) > 3]
except (OSError, subprocess.SubprocessError):
    import fcntl, socket, struct
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for _, name in socket.if_nameindex():
        try:
            addrs.append(socket.inet_ntoa(fcntl.ioctl(s.fileno(), 0x8915, struct.pack("256s", name[:15].encode()))[20:24]))
        except OSError:
            pass
print("addrs=" + " ".join(addrs))
probe = root
while not os.path.exists(probe):
    probe = os.path.dirname(probe)
st = os.statvfs(probe)
print("free=%d" % (st.f_bavail * st.f_frsize))
print("cpus=%d" % (os.cpu_count() or 0))
try:
    print("mem=" + next(l.split()[1] for l in open("/proc/meminfo") if l.startswith("MemTotal:")))
except (OSError, StopIteration):
    pass
marker = os.path.join(root, ".dvc-machine.json")
if os.path.exists(marker):
    try:
        import json
        print("root=ours:" + json.load(open(marker))["cluster"])
    except Exception:
        print("root=damaged")
elif os.path.exists(root):
    print("root=foreign")
else:
    print("root=absent")
inodes = {}
for name in ("/proc/net/tcp", "/proc/net/tcp6"):
    try:
        for line in open(name).read().splitlines()[1:]:
            f = line.split()
            port = int(f[1].rsplit(":", 1)[1], 16)
            if f[3] == "0A" and port in ports:
                inodes[f[9]] = port
    except OSError:
        pass
owners = {}
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
            if link.startswith("socket:[") and link[8:-1] in inodes:
                owners[inodes[link[8:-1]]] = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\\0", b" ").decode(errors="replace").strip()
    except OSError:
        pass
for port in sorted(set(inodes.values())):
    who = owners.get(port)
    print("port=%d:%s:%s" % (port, "ours" if who and root in who else "other", (who or "a process of another user")[:120]))
PYEOF
else
  echo "python=missing"
  echo "pythons=$(for p in python3 python3.8 python3.9 python3.10 python3.11 python3.12 python3.13 python3.14; do command -v $p >/dev/null 2>&1 && printf '%s=%s ' $p "$($p -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])' 2>/dev/null)"; done)"
fi
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
  if XDG_RUNTIME_DIR="\${XDG_RUNTIME_DIR:-/run/user/$(id -u)}" systemctl --user show-environment >/dev/null 2>&1; then echo "systemd_user=yes"; else echo "systemd_user=no"; fi
  echo "linger=$(loginctl show-user "$(id -un)" -p Linger --value 2>/dev/null || echo unknown)"
else
  echo "systemd_user=no"
fi
if [ "$DVC_SUDO" = yes ]; then if sudo -n true 2>/dev/null; then echo "sudo=yes"; else echo "sudo=no"; fi; fi
`;

/** The probe's key=value lines (port= and missing_tool= may repeat). */
export function parseProbe(stdout: string): {
  single: Record<string, string>;
  ports: Array<{ port: number; ours: boolean; who: string }>;
  missingTools: string[];
} {
  const single: Record<string, string> = {};
  const ports: Array<{ port: number; ours: boolean; who: string }> = [];
  const missingTools: string[] = [];
  for (const line of stdout.split("\n")) {
    const at = line.indexOf("=");
    if (at < 1) continue;
    const key = line.slice(0, at);
    const value = line.slice(at + 1);
    if (key === "port") {
      const [p, ours, ...who] = value.split(":");
      ports.push({ port: Number(p), ours: ours === "ours", who: who.join(":") });
    } else if (key === "missing_tool") missingTools.push(value);
    else single[key] = value;
  }
  return { single, ports, missingTools };
}

/** Which manager runs the services on a host, from what it offers and what the config asks. */
export function serviceManagerFor(
  wanted: NodeSsh["serviceManager"],
  facts: Record<string, string>,
): ServiceManager | undefined {
  const userSystemd = facts.systemd_user === "yes" && facts.linger === "yes";
  if (wanted === "systemd") return facts.sudo === "yes" ? "systemd" : undefined;
  if (wanted === "systemd-user") return userSystemd ? "systemd-user" : undefined;
  if (wanted === "supervisor") return "supervisor";
  return userSystemd ? "systemd-user" : "supervisor";
}

/** The ports a node's services listen on. */
export function nodePorts(node: NodeSpec, head: NodeSpec, dask: ClusterConfig["dask"]): number[] {
  const every = [dask.workerPort, dask.nannyPort, dask.workerDashboardPort];
  return node.name === head.name ? [dask.schedulerPort, dask.dashboardPort, ...every] : every;
}

interface Probed {
  readonly node: NodeSpec;
  readonly result?: RunResult;
  /** Milliseconds since the epoch on this computer, halfway through the probe. */
  readonly localNow: number;
}

const GIB = 1024 ** 3;

/** The check rows of one host from its probe. */
export function hostRows(
  p: Probed,
  cluster: ClusterRef,
  needs: HostNeeds,
  majorityPython: string | undefined,
): CheckRow[] {
  // A failure is reported at its config field: its text starts with the node it is about.
  return rowsOf(p, cluster, needs, majorityPython).map((r) =>
    r.status === "ok" ? r : { ...r, found: `${p.node.name}: ${r.found}` },
  );
}

function rowsOf(p: Probed, cluster: ClusterRef, needs: HostNeeds, majorityPython: string | undefined): CheckRow[] {
  const { node } = p;
  const s = settingsOf(node);
  const at = `/ssh/hosts/${node.index - 1}`;
  const name = (what: string) => `${node.name} ${what}`;
  if (!p.result || p.result.exitCode === 255) {
    const why = sshFailure(node, p.result?.stderr ?? "");
    return [fail(name("ssh"), why.found, why.fix, at)];
  }
  if (p.result.exitCode !== 0)
    return [
      fail(
        name("ssh"),
        `the probe failed there (exit ${p.result.exitCode}): ${p.result.stderr.trim().split("\n").pop() ?? ""}`,
        "run npm run doctor -- --verbose to see the command",
        at,
      ),
    ];
  const { single: f, ports, missingTools } = parseProbe(p.result.stdout);
  const rows: CheckRow[] = [
    ok(name("ssh"), `${s.user}@${s.address}:${s.port}, host key known (${path.basename(s.knownHosts)})`),
  ];
  // Python: the lock's X.Y, with venv, and one patch level on every node (the version gate compares them).
  const py = `python${needs.python}`;
  if (f.python === "missing")
    rows.push(
      fail(
        name("python"),
        `no ${py} (found: ${f.pythons?.trim() || "no python3 at all"})`,
        `install Python ${needs.python} there (Debian/Ubuntu: sudo apt-get install ${py}), or set runtime.python to the Python the hosts have and re-lock`,
        "/runtime/python",
      ),
    );
  else if (!f.python?.startsWith(`${needs.python}.`))
    rows.push(
      fail(
        name("python"),
        `${py} there runs Python ${f.python}`,
        `install Python ${needs.python} there and let ${py} be it, or set runtime.python to ${(f.python ?? "").split(".").slice(0, 2).join(".")} and re-lock (every node one Python)`,
        "/runtime/python",
      ),
    );
  else if (f.venv !== "yes")
    rows.push(
      fail(
        name("python"),
        `${py} ${f.python} has no venv module`,
        `install it there: sudo apt-get install ${py}-venv`,
        "/runtime/python",
      ),
    );
  else if (majorityPython && f.python !== majorityPython)
    rows.push(
      fail(
        name("python"),
        `${py} is ${f.python}, the other hosts run ${majorityPython}`,
        `install Python ${majorityPython} there (or the same build first on its PATH): the version gate needs one Python on every node`,
        "/runtime/python",
      ),
    );
  else rows.push(ok(name("python"), `${py} ${f.python} with venv`));
  // Platform: the lock's architecture and a glibc its manylinux wheels install on.
  const arch = f.arch === "arm64" ? "aarch64" : f.arch;
  const glibc = (f.glibc ?? "").split(".").map(Number);
  if (arch !== needs.platform)
    rows.push(
      fail(
        name("platform"),
        `${f.arch} (${f.os ?? "?"})`,
        `runtime.platform is ${needs.platform}: use hosts of that architecture, or set runtime.platform to ${arch} (one architecture for every node)`,
        "/runtime/platform",
      ),
    );
  else if (f.glibc && f.glibc !== "none" && ((glibc[0] ?? 0) < 2 || ((glibc[0] ?? 0) === 2 && (glibc[1] ?? 0) < 28)))
    rows.push(
      fail(
        name("platform"),
        `glibc ${f.glibc} (${f.os ?? "?"})`,
        "the runtime's wheels need glibc 2.28 or newer (Debian 10, Ubuntu 20.04 and later)",
      ),
    );
  else rows.push(ok(name("platform"), `${arch}, ${f.os ?? "Linux"}, glibc ${f.glibc ?? "?"}`));
  // The address Dask binds to must be the host's own.
  const addrs = (f.addrs ?? "").split(/\s+/).filter(Boolean);
  rows.push(
    addrs.includes(node.ip)
      ? ok(name("bind"), `${node.ip} is an address of the host`)
      : fail(
          name("bind"),
          `${node.ip} is not an address of this host (it has ${addrs.join(", ") || "none that ip reports"})`,
          `set ssh.hosts[${node.index - 1}].bind to the one the other hosts reach`,
          `${at}/bind`,
        ),
  );
  if (needs.dask) {
    const wanted = nodePorts(node, cluster.head, needs.dask);
    const taken = ports.filter((x) => wanted.includes(x.port) && !x.ours);
    rows.push(
      taken.length
        ? fail(
            name("ports"),
            taken.map((x) => `${x.port} in use by ${x.who}`).join("; "),
            "stop that program there, or choose other dask.*Port values in cluster.config.json",
            "/dask",
          )
        : ok(name("ports"), `${wanted.join(", ")} free${ports.some((x) => x.ours) ? " (or this cluster's own)" : ""}`),
    );
  }
  const skew = Number(f.now) - p.localNow / 1000;
  if (!Number.isFinite(skew))
    rows.push(warn(name("clock"), "could not read the host's clock", "make sure it keeps time (NTP)"));
  else if (skew < -CLOCK_FAIL_S)
    rows.push(
      fail(
        name("clock"),
        `${Math.round(-skew)} s behind this computer`,
        "set its clock (NTP: sudo timedatectl set-ntp true): the cluster's certificates would not be valid there yet",
      ),
    );
  else if (Math.abs(skew) > CLOCK_WARN_S)
    rows.push(
      warn(
        name("clock"),
        `${Math.round(Math.abs(skew))} s ${skew < 0 ? "behind" : "ahead of"} this computer`,
        "set its clock (NTP): logs and timings compare badly",
      ),
    );
  else rows.push(ok(name("clock"), `within ${Math.max(1, Math.round(Math.abs(skew)))} s of this computer`));
  const free = Number(f.free);
  rows.push(
    free >= MIN_FREE_BYTES
      ? ok(name("disk"), `${(free / GIB).toFixed(1)} GiB free for ${s.root}`)
      : fail(
          name("disk"),
          `${(free / GIB).toFixed(1)} GiB free for ${s.root}`,
          `free at least ${MIN_FREE_BYTES / GIB} GiB there, or set ssh.hosts[${node.index - 1}].root elsewhere`,
          `${at}/root`,
        ),
  );
  if (missingTools.length)
    rows.push(
      fail(
        name("tools"),
        `no ${missingTools.join(", ")}`,
        `install them there (Debian/Ubuntu: sudo apt-get install ${missingTools.map((t) => (t === "flock" ? "util-linux" : t)).join(" ")})`,
      ),
    );
  if (
    f.home &&
    s.root.startsWith(`/home/${s.user}/`) &&
    f.home !== `/home/${s.user}` &&
    !s.root.startsWith(`${f.home}/`)
  ) {
    rows.push(
      fail(
        name("root"),
        `${s.user}'s home there is ${f.home}, not /home/${s.user}`,
        `set ssh.hosts[${node.index - 1}].root, e.g. ${f.home}/.dask-vm-cluster/${cluster.id}`,
        `${at}/root`,
      ),
    );
  } else if (f.root === "foreign")
    rows.push(
      fail(
        name("root"),
        `${s.root} exists and is not a runtime folder of this project`,
        `set ssh.hosts[${node.index - 1}].root to a new folder; this one is left alone`,
        `${at}/root`,
      ),
    );
  else if (f.root?.startsWith("ours:") && f.root !== `ours:${cluster.id}`)
    rows.push(
      fail(
        name("root"),
        `${s.root} belongs to cluster ${f.root.slice(5)} (another checkout)`,
        `destroy that cluster first, or set ssh.hosts[${node.index - 1}].root`,
        `${at}/root`,
      ),
    );
  else
    rows.push(
      ok(name("root"), f.root === `ours:${cluster.id}` ? `${s.root} (this cluster's)` : `${s.root} (to be made)`),
    );
  const manager = serviceManagerFor(s.serviceManager, f);
  if (!manager) {
    const fix =
      s.serviceManager === "systemd"
        ? `let ${s.user} sudo without a password there, or set ssh.serviceManager to "auto"`
        : `enable lingering there (loginctl enable-linger ${s.user}), or set ssh.serviceManager to "auto" or "supervisor"`;
    rows.push(
      fail(
        name("services"),
        `${s.serviceManager} is not available there (systemd --user ${f.systemd_user ?? "no"}, linger ${f.linger ?? "no"}, sudo ${f.sudo ?? "not asked"})`,
        fix,
        "/ssh/serviceManager",
      ),
    );
  } else {
    rows.push(
      ok(
        name("services"),
        manager === "supervisor"
          ? "the runtime's supervisor, as the user (restarts a crashed service; after the host reboots, cdktf deploy starts them again)"
          : manager === "systemd-user"
            ? "systemd --user with lingering (survives logout and reboot)"
            : "system systemd units through sudo",
      ),
    );
  }
  if (f.cpus && node.cpus > Number(f.cpus))
    rows.push(
      warn(
        name("cpus"),
        `${f.cpus} CPUs, the node is given ${node.cpus}`,
        "lower nodes.cpus or this node's override",
        "/nodes/cpus",
      ),
    );
  if (f.mem && node.memoryMb * 1024 > Number(f.mem))
    rows.push(
      warn(
        name("memory"),
        `${Math.round(Number(f.mem) / 1024)} MiB, the node is given ${node.memoryMb}`,
        "lower nodes.memoryMb: the worker would be killed before it spills",
        "/nodes/memoryMb",
      ),
    );
  return rows;
}

/** The Python most hosts run (ties: the first host's). */
export function majorityOf(values: readonly (string | undefined)[]): string | undefined {
  const counts = new Map<string, number>();
  for (const v of values) if (v && v !== "missing") counts.set(v, (counts.get(v) ?? 0) + 1);
  let best: string | undefined;
  for (const [v, n] of counts) if (best === undefined || n > counts.get(best)!) best = v;
  return best;
}

export class SshProvider implements MachineProvider {
  readonly name = "ssh" as const;
  readonly capabilities = SSH_CAPABILITIES;

  constructor(readonly host: Host) {}

  /** Writes the node's ssh_config when it is missing or differs; returns its path. */
  private configFile(cluster: ClusterRef, node: NodeSpec): string {
    const p = sshPaths(cluster);
    const file = p.config(node.name);
    const text = sshConfigText(
      node,
      sshControlDir(this.host.platform, this.host.uid, this.host.socketDir, (m) => this.host.warn(m)),
    );
    if (!existsSync(file) || readFileSync(file, "utf8") !== text) {
      mkdirSync(p.dir, { recursive: true, mode: 0o700 });
      writeFileSync(file, text, { mode: 0o600 });
    }
    return file;
  }

  /** The service manager the machine stage found for a node (supervisor until it ran). */
  private managerOf(cluster: ClusterRef, node: NodeSpec): ServiceManager {
    const s = settingsOf(node);
    if (s.serviceManager !== "auto") return s.serviceManager;
    try {
      return (
        JSON.parse(readFileSync(sshPaths(cluster).facts(node.name), "utf8")) as { serviceManager: ServiceManager }
      ).serviceManager;
    } catch {
      return "supervisor";
    }
  }

  private sshTransport(cluster: ClusterRef, node: NodeSpec, manager?: ServiceManager, fresh = false): SshTransport {
    const noSharing = fresh || this.host.platform === "win32";
    return new SshTransport(
      node.name,
      this.configFile(cluster, node),
      this.host.run,
      1,
      noSharing,
      settingsOf(node).root,
      manager ?? this.managerOf(cluster, node),
    );
  }

  /**
   * The probe. In preflight (fresh) it logs in anew: a shared connection opened earlier
   * would still work for a host that now refuses the key or shows another host key.
   */
  private async probe(
    cluster: ClusterRef,
    node: NodeSpec,
    needs: Pick<HostNeeds, "python" | "dask">,
    fresh = false,
  ): Promise<Probed> {
    const s = settingsOf(node);
    const t = this.sshTransport(cluster, node, "supervisor", fresh);
    const ports = needs.dask ? nodePorts(node, cluster.head, needs.dask) : [];
    const before = Date.now();
    const result = await t.run(PROBE, {
      nothrow: true,
      timeoutMs: 60_000,
      env: {
        DVC_PY: `python${needs.python}`,
        DVC_ROOT: s.root,
        DVC_PORTS: ports.join(" "),
        DVC_SUDO: s.sudo ? "yes" : "no",
      },
    });
    return { node, result, localNow: (before + Date.now()) / 2 };
  }

  async checks(cluster: ClusterRef, needs: HostNeeds): Promise<CheckRow[]> {
    const rows: CheckRow[] = [];
    const ssh = await this.host.run(["ssh", "-V"], { timeoutMs: 10_000 });
    const version = (ssh.stderr || ssh.stdout).trim().split("\n")[0] ?? "";
    if (ssh.missing)
      return [
        fail(
          "ssh",
          "not found",
          this.host.platform === "win32"
            ? "install the OpenSSH client (Settings > Apps > Optional features)"
            : "install the OpenSSH client (Debian/Ubuntu: sudo apt-get install openssh-client)",
        ),
      ];
    rows.push(ok("ssh", version));
    for (const node of cluster.nodes) {
      const s = settingsOf(node);
      if (s.identityFile && !this.host.exists(s.identityFile))
        rows.push(
          fail(
            `${node.name} key`,
            `${s.identityFile} does not exist`,
            "fix ssh.hosts[].identityFile, or leave it out to use ssh-agent",
            `/ssh/hosts/${node.index - 1}/identityFile`,
          ),
        );
    }
    if (!this.host.exists(cluster.nodes[0]?.ssh?.knownHosts ?? "")) {
      const kh = cluster.nodes[0]?.ssh?.knownHosts ?? "~/.ssh/known_hosts";
      rows.push(
        fail(
          "known hosts",
          `${kh} does not exist`,
          "connect to each host once by hand (ssh USER@ADDRESS) and check its fingerprint, or point ssh.knownHosts at the file that holds their keys",
          "/ssh/knownHosts",
        ),
      );
      return rows;
    }
    const probed = await Promise.all(cluster.nodes.map((n) => this.probe(cluster, n, needs, true)));
    const pythons = probed.map((p) =>
      p.result?.exitCode === 0 ? parseProbe(p.result.stdout).single.python : undefined,
    );
    const majority = majorityOf(pythons);
    for (const p of probed) rows.push(...hostRows(p, cluster, needs, majority));
    return rows;
  }

  async createNetwork(): Promise<void> {
    // The hosts' own network: nothing to make.
  }

  async destroyNetwork(): Promise<void> {}

  async networkPresent(): Promise<boolean> {
    return true;
  }

  async prepareBox(cluster: ClusterRef): Promise<void> {
    mkdirSync(cluster.clusterDir, { recursive: true });
    writeFileSync(
      sshPaths(cluster).machines,
      JSON.stringify({ clusterId: cluster.id, provider: "ssh", nodes: cluster.nodes }, null, 2),
    );
  }

  async removeBox(cluster: ClusterRef): Promise<void> {
    rmSync(sshPaths(cluster).machines, { force: true });
  }

  /**
   * Makes nothing but the runtime folder, marked as this cluster's, and records which
   * service manager the host offers (auto); a host that does not answer stops the deploy.
   */
  async createMachine(cluster: ClusterRef, node: NodeSpec): Promise<void> {
    const s = settingsOf(node);
    const probed = await this.probe(cluster, node, { python: "3" });
    if (probed.result?.exitCode !== 0) {
      const why = sshFailure(node, probed.result?.stderr ?? "");
      throw new UserError(`${node.name} (${s.user}@${s.address}) cannot be reached`, 1, [
        { path: node.name, message: why.found, fix: why.fix },
      ]);
    }
    const facts = parseProbe(probed.result.stdout).single;
    // Never take over a folder that is not this cluster's (preflight says so too; a repair
    // found by the plan's observation makes machines without a new preflight).
    if (facts.root === "foreign" || (facts.root?.startsWith("ours:") && facts.root !== `ours:${cluster.id}`)) {
      throw new UserError(`${node.name}: ${s.root} on ${s.address} is not this cluster's runtime folder`, 2, [
        {
          path: `/ssh/hosts/${node.index - 1}/root`,
          message:
            facts.root === "foreign"
              ? "it exists and holds something else"
              : `it belongs to cluster ${facts.root.slice(5)}`,
          fix: `set ssh.hosts[${node.index - 1}].root to a new folder; this one is left alone`,
        },
      ]);
    }
    const manager = serviceManagerFor(s.serviceManager, facts) ?? "supervisor";
    const t = this.sshTransport(cluster, node, manager);
    const marker = JSON.stringify({ cluster: cluster.id, node: node.name, project: cluster.projectDir });
    await t.run(
      `set -e; mkdir -p ${shq(s.root)}; chmod 700 ${shq(s.root)}; printf '%s\\n' ${shq(marker)} > ${shq(`${s.root}/${MARKER}`)}`,
      { timeoutMs: 60_000 },
    );
    mkdirSync(sshPaths(cluster).dir, { recursive: true, mode: 0o700 });
    writeFileSync(
      sshPaths(cluster).facts(node.name),
      `${JSON.stringify({ serviceManager: manager, home: facts.home, python: facts.python }, null, 2)}\n`,
    );
  }

  async machineState(cluster: ClusterRef, node: NodeSpec): Promise<MachineStatus> {
    const s = settingsOf(node);
    const r = await this.sshTransport(cluster, node).run(
      `test -f ${shq(`${s.root}/${MARKER}`)} && echo ours || echo absent`,
      { nothrow: true, timeoutMs: 30_000 },
    );
    if (r.exitCode === 255) return { state: "stopped", detail: `ssh: ${sshFailure(node, r.stderr).found}` };
    if (r.stdout.includes("ours")) return { state: "running", detail: `${s.user}@${s.address}:${s.root}` };
    return { state: "missing", detail: `no runtime folder ${s.root} on ${s.address}` };
  }

  async stopMachine(): Promise<void> {
    // Someone else's machine: it stays on; the services the caller stopped were all ours.
  }

  /**
   * Removes what the deploy made there: its services, stopped whatever stage stopped them
   * before (the runtime's own stop, then any process still running from the folder), the
   * runtime folder (venv, certificates, logs, service definitions), and its parent when the
   * deploy made that too and left it empty; then the shared ssh connection and this
   * computer's files for the node.
   */
  async destroyMachine(cluster: ClusterRef, node: NodeSpec): Promise<void> {
    const s = settingsOf(node);
    // The machine stage never ran there (a deploy stopped by preflight, say): nothing of
    // ours on the host, and no reason to reach it.
    if (!existsSync(sshPaths(cluster).facts(node.name))) return;
    const t = this.sshTransport(cluster, node);
    const parent = path.posix.dirname(s.root);
    const root = shq(s.root);
    const py = shq(`${s.root}/venv/bin/python`);
    const script = [
      `if [ -f ${shq(`${s.root}/${MARKER}`)} ]; then`,
      // Each service's own stop (a systemd --user unit is disabled and removed there).
      `  if [ -x ${py} ]; then for svc in notebook worker scheduler; do [ -f ${root}/etc/$svc.json ] && ${py} -m dask_vm_runtime service stop $svc --root ${root} --manager ${t.serviceManager} >/dev/null 2>&1; done; fi`,
      // Then whatever still runs from the folder (a job whose submit was cut off).
      `  pkill -TERM -u "$(id -u)" -f ${root} 2>/dev/null; sleep 1; pkill -KILL -u "$(id -u)" -f ${root} 2>/dev/null`,
      `  rm -rf ${root}`,
      "fi",
      path.posix.basename(parent) === ".dask-vm-cluster" ? `rmdir ${shq(parent)} 2>/dev/null; true` : "true",
    ].join("\n");
    const r = await t.run(script, { nothrow: true, timeoutMs: 300_000 });
    if (r.exitCode === 255) {
      throw new UserError(`${node.name} (${s.user}@${s.address}) cannot be reached to remove the runtime`, 1, [
        {
          path: node.name,
          message: sshFailure(node, r.stderr).found,
          fix: `bring it back and run cdktf destroy again, or remove ${s.root} there by hand`,
        },
      ]);
    }
    await t.closeConnection();
    for (const f of [sshPaths(cluster).config(node.name), sshPaths(cluster).facts(node.name)])
      rmSync(f, { force: true });
  }

  transport(cluster: ClusterRef, node: NodeSpec): Transport {
    return this.sshTransport(cluster, node);
  }

  /** Serves node:targetPort on 127.0.0.1:localPort through ssh (-W: a stream to that address from the host itself). */
  forward(cluster: ClusterRef, node: NodeSpec, targetPort: number, localPort: number): Promise<Server> {
    return relayServer(localPort, [
      "ssh",
      "-F",
      this.configFile(cluster, node),
      "-W",
      `${node.ip}:${targetPort}`,
      node.name,
    ]);
  }
}
