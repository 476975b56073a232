// `npm run stop` and `npm run start` (state/lifecycle.ts): pause the deployed cluster to get
// the laptop's memory back, and bring it back verified. Both refuse with exit 2 and the fix
// when nothing is deployed; both are idempotent.
import { parseCli } from "../core/cli-args.js";
import { operatorContext } from "../state/cluster-ref.js";
import { startCluster, stopCluster } from "../state/lifecycle.js";
import { consoleLog } from "../core/log.js";

const STOP_USAGE = `usage: npm run stop
  stops the Dask services and powers the machines off (vagrant halt; for the local
  provider, ends the services' processes); everything installed stays. npm run start
  brings the cluster back.
exit: 0 stopped, 1 a node could not be stopped, 2 bad input or nothing deployed`;

const START_USAGE = `usage: npm run start
  powers the machines on, starts the scheduler and the workers, waits for every worker on
  its private IP, checks the versions and prints the dashboard.
exit: 0 started and verified, 1 something did not come back, 2 bad input or nothing deployed`;

export async function stopCli(argv: readonly string[]): Promise<number> {
  if (!parseCli(argv, STOP_USAGE, {})) return 0;
  const { deployed, provider } = operatorContext();
  const r = await stopCluster(deployed, provider, consoleLog);
  process.stdout.write(
    `cluster ${deployed.cluster.id} stopped in ${r.seconds.toFixed(1)} s (${r.changed.length ? `powered off: ${r.changed.join(", ")}` : provider.capabilities.reservesResources ? "every machine was already off" : "services ended; the namespaces hold no memory"}); npm run start brings it back\n`,
  );
  return 0;
}

export async function startCli(argv: readonly string[]): Promise<number> {
  if (!parseCli(argv, START_USAGE, {})) return 0;
  const { deployed, provider } = operatorContext();
  const r = await startCluster(deployed, provider, consoleLog);
  const reach = provider.capabilities.hostReachesNodes ? "" : ` (inside the cluster's namespaces: npm run dashboard -- --forward serves it on 127.0.0.1)`;
  process.stdout.write(
    `cluster ${deployed.cluster.id} started and verified in ${r.seconds.toFixed(1)} s${r.changed.length ? ` (powered on: ${r.changed.join(", ")})` : ""}; ${deployed.cluster.nodes.length} workers registered, versions identical\ndashboard: ${r.dashboard}${reach}\n`,
  );
  return 0;
}
