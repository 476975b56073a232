// Provider ssh's part of cluster.config.json, resolved: one node per listed host, its address
// to bind to and how to reach it (config/resolve.ts calls it while it resolves the nodes).
import os from "node:os";
import path from "node:path";
import type { ClusterConfig } from "../../core/config-schema.js";
import type { Problem } from "../../core/errors.js";
import type { NodeSsh } from "../../core/model.js";

/** A path of the config: ~ is the home folder, a relative path is relative to the config file's folder. */
function configPath(p: string, configFile: string): string {
  if (p === "~" || p.startsWith("~/")) return path.join(os.homedir(), p.slice(1));
  return path.resolve(path.dirname(configFile), p);
}

/** Provider ssh: one node per host, its address to bind to and how to reach it. */
export function resolveSshHosts(
  config: ClusterConfig,
  raw: unknown,
  configFile: string,
  id: string,
  problems: Problem[],
): Array<NodeSsh & { bind: string }> {
  const { hosts } = config.ssh;
  if (config.provider !== "ssh") {
    if (hosts.length)
      problems.push({
        path: "/ssh/hosts",
        message: `ssh.hosts is for provider "ssh", and provider is "${config.provider}"`,
        fix: 'set "provider": "ssh", or remove ssh.hosts',
      });
    return [];
  }
  if (!hosts.length) {
    problems.push({
      path: "/ssh/hosts",
      message: 'provider "ssh" needs the machines to use',
      fix: 'list them: "ssh": {"hosts": [{"address": "10.0.0.21", "user": "lea"}, ...]}',
    });
    return [];
  }
  const given = (raw as { nodes?: { count?: unknown } } | null)?.nodes?.count;
  if (given !== undefined && given !== hosts.length) {
    problems.push({
      path: "/nodes/count",
      message: `${String(given)} nodes, but ssh.hosts lists ${hosts.length}`,
      fix: "remove nodes.count: with provider ssh there is one node per host",
    });
  }
  config.nodes.overrides.forEach((o, i) => {
    if (o.ip)
      problems.push({
        path: `/nodes/overrides/${i}/ip`,
        message: "with provider ssh a node's address is its host's",
        fix: `set ssh.hosts[].bind instead, and remove nodes.overrides[${i}].ip`,
      });
  });
  if (config.ssh.sudo === false && config.ssh.serviceManager === "systemd") {
    problems.push({
      path: "/ssh/serviceManager",
      message: "system systemd units need root on the hosts",
      fix: 'set "sudo": true (the users may sudo without a password), or use "auto", "systemd-user" or "supervisor"',
    });
  }
  const knownHosts = configPath(config.ssh.knownHosts || "~/.ssh/known_hosts", configFile);
  return hosts.map((h, i) => {
    const at = `/ssh/hosts/${i}`;
    const bind = h.bind ?? (/^\d{1,3}(\.\d{1,3}){3}$/.test(h.address) ? h.address : undefined);
    if (!bind)
      problems.push({
        path: `${at}/bind`,
        message: `${h.address} is a name, and Dask binds to an address`,
        fix: `give bind: the host's IPv4 address the other hosts reach (\`ip -4 addr\` on ${h.address})`,
      });
    const home = h.user === "root" ? "/root" : `/home/${h.user}`;
    return {
      address: h.address,
      user: h.user,
      port: h.port ?? 22,
      ...(h.identityFile ? { identityFile: configPath(h.identityFile, configFile) } : {}),
      knownHosts,
      root: h.root ?? `${home}/.dask-vm-cluster/${id}`,
      serviceManager: config.ssh.serviceManager,
      sudo: config.ssh.sudo,
      bind: bind ?? h.address,
    };
  });
}
