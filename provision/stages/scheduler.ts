// scheduler: the Dask scheduler on node 1, bound to its private IP, and a wait until it
// answers (through its dashboard) before the stage counts as done; a scheduler whose process
// ends as it starts fails the stage within seconds, with its log's last lines.
import { clearStopped } from "../state/lifecycle.js";
import { waitForWorkers } from "../services/probe.js";
import {
  dashboardUrl,
  schedulerAddress,
  schedulerService,
  startService,
  stopService,
} from "../services/definitions.js";
import { daskOf, nodeOf } from "../core/stage-spec.js";
import type { Stage } from "./stage-types.js";
import { copyTlsTo } from "./tls.js";

export const scheduler: Stage = {
  name: "scheduler",
  async apply({ spec, provider, log }) {
    const dask = daskOf(spec);
    const node = nodeOf(spec);
    const t = provider.transport(spec.cluster, node);
    const address = schedulerAddress(node, dask);
    await log.timed(node.name, `starting the scheduler at ${address}`, async () => {
      if (dask.tls) await copyTlsTo(t, spec.cluster.clusterDir, node, true, { onlyIfChanged: true });
      await startService(t, "scheduler", schedulerService(node, dask, t.root));
      await waitForWorkers(t, address, dask.tls, [], 90, dashboardUrl(node, dask), { t, name: "scheduler" });
    });
    // A deploy while the cluster was stopped (npm run stop) has started it again.
    clearStopped(spec.cluster.clusterDir);
    log.step(node.name, `dashboard: ${dashboardUrl(node, dask)}/status`);
  },
  async destroy({ spec, provider, log }) {
    const node = nodeOf(spec);
    const t = provider.transport(spec.cluster, node);
    // JupyterLab (npm run notebook) talks to this scheduler: it goes first.
    await stopService(t, "notebook").catch((err: Error) =>
      log.step(node.name, `JupyterLab already gone (${err.message.split("\n")[0]})`),
    );
    await stopService(t, "scheduler").catch((err: Error) =>
      log.step(node.name, `scheduler already gone (${err.message.split("\n")[0]})`),
    );
  },
};
