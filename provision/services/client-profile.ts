// The connection profile: a dask.yaml that makes `Client()`, with no arguments, connect to
// the cluster (scheduler-address, and with TLS the CA and a client certificate). Dask
// reads it from the folder $DASK_CONFIG names. On every node (ROOT/etc/client, written
// by the worker stage and by the commands that run user code there: submit, exec,
// notebook) and on the host (.cluster/client, `npm run connect`). No secrets in it: it
// names the key files, which stay 0600 where the TLS stage put them.
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";

import { dashboardUrl, schedulerAddress } from "./definitions.js";
import type { ClusterRef } from "../core/stage-spec.js";
import { shq, type Transport } from "../machines/transport.js";
import type { ClusterConfig } from "../core/config-schema.js";
import type { NodeSpec } from "../core/model.js";
import { nodePaths } from "../core/node-paths.js";

export interface Profile {
  /** tls://ip:port or tcp://ip:port */
  readonly scheduler: string;
  /** With TLS: the CA and the client's certificate and key, as paths where the client runs. */
  readonly tls?: { readonly ca: string; readonly cert: string; readonly key: string };
  /** What client.dashboard_link shows (a forwarded address for the local provider's notebook). */
  readonly dashboard: string;
}

/** A YAML string: JSON's quoting is YAML's double-quoted style (paths may hold spaces). */
const q = (s: string) => JSON.stringify(s);

/** The dask.yaml of a profile. */
export function profileYaml(p: Profile, about: string): string {
  const lines = [
    `# dask-vm-cluster connection profile: ${about}`,
    "# With DASK_CONFIG set to this folder, Client() connects to the cluster; see README, 'Run your own code'.",
    `scheduler-address: ${q(p.scheduler)}`,
    "distributed:",
    "  comm:",
    `    require-encryption: ${p.tls ? "true" : "false"}`,
  ];
  if (p.tls)
    lines.push(
      "    tls:",
      `      ca-file: ${q(p.tls.ca)}`,
      "      client:",
      `        cert: ${q(p.tls.cert)}`,
      `        key: ${q(p.tls.key)}`,
    );
  lines.push("  dashboard:", `    link: ${q(p.dashboard)}`, "");
  return lines.join("\n");
}

/**
 * The profile of a node: its own certificate serves as a client one where the client pair is not (it has clientAuth).
 */
export function nodeProfile(
  root: string,
  node: NodeSpec,
  head: NodeSpec,
  dask: ClusterConfig["dask"],
  dashboard = `${dashboardUrl(head, dask)}/status`,
): Profile {
  const tls = nodePaths(root).tls;
  const own = node.name === head.name ? "client" : "node";
  return {
    scheduler: schedulerAddress(head, dask),
    ...(dask.tls ? { tls: { ca: `${tls}/ca.pem`, cert: `${tls}/${own}.pem`, key: `${tls}/${own}-key.pem` } } : {}),
    dashboard,
  };
}

/** Writes ROOT/etc/client/dask.yaml on a node; returns the folder ($DASK_CONFIG for code run there). */
export async function writeNodeProfile(
  t: Transport,
  cluster: ClusterRef,
  node: NodeSpec,
  dask: ClusterConfig["dask"],
  dashboard?: string,
): Promise<string> {
  const dir = nodePaths(t.root).clientProfile;
  const yaml = profileYaml(
    nodeProfile(t.root, node, cluster.head, dask, dashboard),
    `cluster ${cluster.id}, on ${node.name}`,
  );
  await t.run(`mkdir -p ${shq(dir)} && cat > ${shq(`${dir}/dask.yaml`)}`, { input: yaml, timeoutMs: 60_000 });
  return dir;
}

/** The environment user code runs with on a node: the runtime venv first on PATH, the profile, the data folder. */
export function userEnv(t: Transport, extra: Readonly<Record<string, string>> = {}): Record<string, string> {
  const p = nodePaths(t.root);
  return {
    DASK_CONFIG: p.clientProfile,
    DVC_ROOT: t.root,
    DVC_DATA: p.data,
    DVC_NODE: t.node,
    PYTHONUNBUFFERED: "1",
    ...extra,
  };
}

/** `export PATH=...` so that `python` and `dask` are the runtime venv's, before a user's command. */
export function venvPathLine(t: Transport): string {
  return `export PATH=${shq(`${nodePaths(t.root).venv}/bin`)}:"$PATH"\n`;
}

/** The host's profile folder. */
export function hostProfileDir(clusterDir: string): string {
  return path.join(clusterDir, "client");
}

/** Writes the host's dask.yaml; returns its folder. */
export async function writeHostProfile(clusterDir: string, p: Profile, about: string): Promise<string> {
  const dir = hostProfileDir(clusterDir);
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, "dask.yaml"), profileYaml(p, about));
  return dir;
}
