// worker: a Dask worker (with its nanny) on one node, bound to the node's private IP,
// with explicit threads and memory limit; done only once the scheduler lists it (a worker
// whose process ends as it starts fails the stage within seconds, with its log). It also
// leaves the node's connection profile (services/client-profile.ts), so a Client() run there
// (npm run exec, ssh) finds the cluster.
import { writeNodeProfile } from "../services/client-profile.js";
import { waitForWorkers } from "../services/probe.js";
import { dashboardUrl, schedulerAddress, startService, stopService, workerService } from "../services/definitions.js";
import { daskOf, nodeOf } from "../core/stage-spec.js";
import type { Stage } from "./stage-types.js";
import { copyTlsTo } from "./tls.js";
import { removeNatAddress } from "../services/nat-trap.js";

export const worker: Stage = {
  name: "worker",
  async apply({ spec, provider, log }) {
    const dask = daskOf(spec);
    const node = nodeOf(spec);
    const t = provider.transport(spec.cluster, node);
    const head = provider.transport(spec.cluster, spec.cluster.head);
    const address = schedulerAddress(spec.cluster.head, dask);
    await log.timed(
      node.name,
      `starting a worker (${node.threads} threads, ${node.memoryLimitMb} MiB) bound to ${node.ip}`,
      async () => {
        if (dask.tls)
          await copyTlsTo(t, spec.cluster.clusterDir, node, node.name === spec.cluster.head.name, {
            onlyIfChanged: true,
          });
        await writeNodeProfile(t, spec.cluster, node, dask);
        await startService(t, "worker", workerService(node, spec.cluster.head, dask, t.root));
        // A nat-trap lab that was killed left its address on the node (npm run lab).
        if (await removeNatAddress(t)) log.step(node.name, "took back what an interrupted nat-trap lab left");
        const workers = await waitForWorkers(
          head,
          address,
          dask.tls,
          [node.name],
          120,
          dashboardUrl(spec.cluster.head, dask),
          { t, name: "worker" },
        );
        const mine = workers.find((w) => w.name === node.name)!;
        log.step(node.name, `registered with the scheduler as ${mine.address}`);
      },
    );
  },
  async destroy({ spec, provider, log }) {
    const node = nodeOf(spec);
    const t = provider.transport(spec.cluster, node);
    await stopService(t, "worker").catch((err: Error) =>
      log.step(node.name, `worker already gone (${err.message.split("\n")[0]})`),
    );
  },
};
