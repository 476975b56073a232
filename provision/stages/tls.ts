// tls: mutual TLS material (a CA, a certificate per node, one for clients) made on the
// host into .cluster/tls (0600, never in Terraform's state) and copied to each node; the
// client certificate only to node 1, where clients run. Destroy removes it everywhere.
import path from "node:path";
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { rm } from "node:fs/promises";

import { daskOf } from "../core/stage-spec.js";
import type { Stage } from "./stage-types.js";
import { ensureClusterTls, tlsFiles } from "../services/tls.js";
import { shq, type Transport } from "../machines/transport.js";
import { nodePaths } from "../core/node-paths.js";
import type { NodeSpec } from "../core/model.js";

function hostTlsDir(clusterDir: string): string {
  return path.join(clusterDir, "tls");
}

/**
 * Copies a node's certificate and key and the CA (and the client's, to node 1, where clients
 * run) from the host's material. The tls stage does it for every node; the scheduler and
 * worker stages again for their own node, so a node re-made alone (resized, repaired) gets
 * its certificates without the material, and with it every service, being made anew.
 */
export async function copyTlsTo(
  t: Transport,
  clusterDir: string,
  node: NodeSpec,
  head: boolean,
  opts: { onlyIfChanged?: boolean } = {},
): Promise<void> {
  const dir = hostTlsDir(clusterDir);
  const remote = nodePaths(t.root).tls;
  const own = tlsFiles(dir, node.name);
  if (opts.onlyIfChanged) {
    // No material on this computer: the tls stage (before this one) makes it; the service
    // then starts with what the node has, and fails loudly if that is nothing.
    if (!existsSync(tlsFiles(dir, "ca").cert)) return;
    // One round trip when the node already has this material (the usual case: the tls
    // stage copied it): on a VM under emulation each copy is an ssh command of a second or more.
    const want = [tlsFiles(dir, "ca").cert, own.cert, own.key].map((f) =>
      createHash("sha256").update(readFileSync(f)).digest("hex"),
    );
    const have = await t.run(
      `cd ${shq(remote)} 2>/dev/null && sha256sum ca.pem node.pem node-key.pem${head ? " client.pem client-key.pem" : ""} 2>/dev/null`,
      { nothrow: true, timeoutMs: 60_000 },
    );
    const sums = have.stdout
      .trim()
      .split("\n")
      .map((l) => l.split(/\s+/)[0]);
    if (sums.length === (head ? 5 : 3) && want.every((w, k) => sums[k] === w)) return;
  }
  await t.put(tlsFiles(dir, "ca").cert, `${remote}/ca.pem`, 0o600);
  await t.put(own.cert, `${remote}/node.pem`, 0o600);
  await t.put(own.key, `${remote}/node-key.pem`, 0o600);
  if (head) {
    const client = tlsFiles(dir, "client");
    await t.put(client.cert, `${remote}/client.pem`, 0o600);
    await t.put(client.key, `${remote}/client-key.pem`, 0o600);
  }
  await t.run(`chmod 700 ${shq(remote)}`);
}

export const tls: Stage = {
  name: "tls",
  async apply({ spec, provider, log }) {
    const dask = daskOf(spec);
    const dir = hostTlsDir(spec.cluster.clusterDir);
    if (!dask.tls) {
      log.step("tls", "dask.tls is false: no certificates (plain tcp on the private network)");
      await rm(dir, { recursive: true, force: true });
      return;
    }
    const made = await log.timed(
      "tls",
      `a CA and certificates for ${spec.cluster.nodes.length} nodes and a client`,
      () => ensureClusterTls(dir, spec.cluster.id, spec.cluster.nodes),
    );
    log.step(
      "tls",
      made.length ? `made ${made.length} files in ${dir}` : `kept the material in ${dir} (complete): copying it again`,
    );
    await Promise.all(
      spec.cluster.nodes.map((node) =>
        copyTlsTo(
          provider.transport(spec.cluster, node),
          spec.cluster.clusterDir,
          node,
          node.name === spec.cluster.head.name,
        ),
      ),
    );
  },
  async destroy({ spec, provider }) {
    await Promise.all(
      spec.cluster.nodes.map((node) => {
        const t = provider.transport(spec.cluster, node);
        return t
          .run(`rm -rf ${shq(nodePaths(t.root).tls)}`, { nothrow: true, timeoutMs: 30_000 })
          .catch(() => undefined);
      }),
    );
    await rm(hostTlsDir(spec.cluster.clusterDir), { recursive: true, force: true });
  },
};
