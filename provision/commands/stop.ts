// `npm run stop` (state/lifecycle.ts): pause the deployed cluster to get the laptop's memory
// back; `npm run start` brings it back. Refuses with exit 2 and the fix when nothing is
// deployed; idempotent.
import { parseCli } from "../core/cli-args.js";
import { operatorContext } from "../state/cluster-ref.js";
import { stopCluster } from "../state/lifecycle.js";
import { consoleLog } from "../core/log.js";

const USAGE = `usage: npm run stop
  stops the Dask services and powers the machines off (vagrant halt; for the local
  provider, ends the services' processes); everything installed stays. npm run start
  brings the cluster back.
exit: 0 stopped, 1 a node could not be stopped, 2 bad input or nothing deployed`;

export async function cli(argv: readonly string[]): Promise<number> {
  if (!parseCli(argv, USAGE, {})) return 0;
  const { deployed, provider } = operatorContext();
  const r = await stopCluster(deployed, provider, consoleLog);
  process.stdout.write(
    `cluster ${deployed.cluster.id} stopped in ${r.seconds.toFixed(1)} s (${r.changed.length ? `powered off: ${r.changed.join(", ")}` : provider.capabilities.reservesResources ? "every machine was already off" : "services ended; the namespaces hold no memory"}); npm run start brings it back\n`,
  );
  return 0;
}
