// For tests against a deployed local cluster: transports, Python run with the node's
// runtime (a client on node 1 with the cluster's client certificate), socket tables.
import { $ } from "zx";

import { clusterRefOf } from "../../provision/core/stage-spec.js";
import { realHost } from "../../provision/host/host.js";
import { LocalProvider, nodeNamespace } from "../../provision/machines/local/provider.js";

import { shq, type Transport } from "../../provision/machines/transport.js";
import type { Cluster } from "../../provision/core/model.js";
import { nodePaths } from "../../provision/core/node-paths.js";

export function transports(cluster: Cluster): Transport[] {
  const ref = clusterRefOf(cluster);
  const p = new LocalProvider(realHost());
  return cluster.nodes.map((n) => p.transport(ref, n));
}

/** Python prelude: connect(security=...) with the cluster's client certificate on node 1. */
export const CLIENT_PRELUDE = `
import json, os, sys, time
from distributed import Client
from distributed.security import Security
ROOT = os.environ["DVC_ROOT"]
TLS = ROOT + "/tls"
def secure():
    return Security(tls_ca_file=TLS + "/ca.pem", tls_client_cert=TLS + "/client.pem", tls_client_key=TLS + "/client-key.pem", require_encryption=True)
def out(x):
    print(json.dumps(x), flush=True)
`;

/** Runs Python on a node with its runtime; returns the JSON of the last stdout line. */
export async function py<T = unknown>(t: Transport, code: string, timeoutMs = 180_000): Promise<T> {
  const r = await t.run(`${shq(nodePaths(t.root).python)} -`, { input: `${CLIENT_PRELUDE}\n${code}`, timeoutMs });
  const last = r.stdout.trim().split("\n").pop() ?? "";
  return JSON.parse(last) as T;
}

/** Listening TCP sockets in a node's namespace: "address:port process". */
export async function listeners(cluster: Cluster, node: string): Promise<Array<{ local: string; process: string }>> {
  const out = await $({ quiet: true })`ip netns exec ${nodeNamespace(cluster, node)} ss -Hltnp`;
  return out.stdout
    .split("\n")
    .filter(Boolean)
    .map((l) => {
      const cols = l.trim().split(/\s+/);
      return { local: cols[3] ?? "", process: cols.slice(5).join(" ") };
    });
}
