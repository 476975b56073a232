// Service stages: TLS material, the scheduler on node 1, a worker on every node, and the
// benchmark as the final stage. All of it through Transports: the same for every provider.
import path from "node:path";
import { rm } from "node:fs/promises";
import { step, timed } from "../lib/log.js";
import { waitForWorkers } from "../lib/probe.js";
import { providerFor } from "../lib/providers/index.js";
import { dashboardUrl, nodePaths, schedulerAddress, schedulerService, startService, stopService, workerService } from "../lib/services.js";
import { nodeOf, type StageSpec } from "../lib/spec.js";
import { ensureClusterTls, tlsFiles } from "../lib/tls.js";
import { shq } from "../lib/transport.js";
import type { StageImpl } from "./index.js";

function daskOf(spec: StageSpec) {
  if (!spec.dask) throw new Error(`stage ${spec.stage} has no dask settings in its spec`);
  return spec.dask;
}

export function hostTlsDir(clusterDir: string): string {
  return path.join(clusterDir, "tls");
}

export const tls: StageImpl = {
  async apply(spec) {
    const dask = daskOf(spec);
    const provider = await providerFor(spec.cluster.provider);
    const dir = hostTlsDir(spec.cluster.clusterDir);
    if (!dask.tls) {
      step("tls", "dask.tls is false: no certificates (plain tcp on the private network)");
      await rm(dir, { recursive: true, force: true });
      return;
    }
    await timed("tls", `making a CA and certificates for ${spec.cluster.nodes.length} nodes and a client`, () => ensureClusterTls(dir, spec.cluster.id, spec.cluster.nodes));
    const ca = tlsFiles(dir, "ca").cert;
    const client = tlsFiles(dir, "client");
    await Promise.all(
      spec.cluster.nodes.map(async (node) => {
        const t = provider.transport(spec.cluster, node);
        const remote = nodePaths(t.root).tls;
        const own = tlsFiles(dir, node.name);
        await t.put(ca, `${remote}/ca.pem`, 0o600);
        await t.put(own.cert, `${remote}/node.pem`, 0o600);
        await t.put(own.key, `${remote}/node-key.pem`, 0o600);
        // The client certificate lives where clients run: node 1 (benchmark, version gate).
        if (node.name === spec.cluster.head.name) {
          await t.put(client.cert, `${remote}/client.pem`, 0o600);
          await t.put(client.key, `${remote}/client-key.pem`, 0o600);
        }
        await t.run(`chmod 700 ${shq(remote)}`);
      }),
    );
  },
  async destroy(spec) {
    const provider = await providerFor(spec.cluster.provider);
    await Promise.all(
      spec.cluster.nodes.map((node) => {
        const t = provider.transport(spec.cluster, node);
        return t.run(`rm -rf ${shq(nodePaths(t.root).tls)}`, { nothrow: true, timeoutMs: 30_000 }).catch(() => undefined);
      }),
    );
    await rm(hostTlsDir(spec.cluster.clusterDir), { recursive: true, force: true });
  },
};

export const scheduler: StageImpl = {
  async apply(spec) {
    const dask = daskOf(spec);
    const node = nodeOf(spec);
    const provider = await providerFor(spec.cluster.provider);
    const t = provider.transport(spec.cluster, node);
    const address = schedulerAddress(node, dask);
    await timed(node.name, `starting the scheduler at ${address}`, async () => {
      await startService(t, "scheduler", schedulerService(node, dask, t.root));
      await waitForWorkers(t, address, dask.tls, [], 90, dashboardUrl(node, dask));
    });
    step(node.name, `dashboard: http://${node.ip}:${dask.dashboardPort}/status`);
  },
  async destroy(spec) {
    const node = nodeOf(spec);
    const t = (await providerFor(spec.cluster.provider)).transport(spec.cluster, node);
    await stopService(t, "scheduler").catch((err: Error) => step(node.name, `scheduler already gone (${err.message.split("\n")[0]})`));
  },
};

export const worker: StageImpl = {
  async apply(spec) {
    const dask = daskOf(spec);
    const node = nodeOf(spec);
    const provider = await providerFor(spec.cluster.provider);
    const t = provider.transport(spec.cluster, node);
    const head = provider.transport(spec.cluster, spec.cluster.head);
    const address = schedulerAddress(spec.cluster.head, dask);
    await timed(node.name, `starting a worker (${node.threads} threads, ${node.memoryLimitMb} MiB) bound to ${node.ip}`, async () => {
      await startService(t, "worker", workerService(node, spec.cluster.head, dask, t.root));
      const workers = await waitForWorkers(head, address, dask.tls, [node.name], 120, dashboardUrl(spec.cluster.head, dask));
      const mine = workers.find((w) => w.name === node.name)!;
      step(node.name, `registered with the scheduler as ${mine.address}`);
    });
  },
  async destroy(spec) {
    const node = nodeOf(spec);
    const t = (await providerFor(spec.cluster.provider)).transport(spec.cluster, node);
    await stopService(t, "worker").catch((err: Error) => step(node.name, `worker already gone (${err.message.split("\n")[0]})`));
  },
};

export const benchmark: StageImpl = {
  async apply(spec) {
    const { runBenchmark } = await import("../commands/benchmark.js");
    if (!spec.benchmark) throw new Error("benchmark stage without benchmark settings");
    // The version gate already ran in this deploy; the runner checks the cluster is up.
    await runBenchmark({ cluster: spec.cluster, settings: spec.benchmark, dask: daskOf(spec) });
  },
  async destroy() {
    // Results are the user's: results/ stays after destroy.
  },
};
