// `npm run start` (state/lifecycle.ts): bring a stopped cluster back, verified (every worker
// on its private IP, versions identical). Refuses with exit 2 and the fix when nothing is
// deployed; idempotent.
import { parseCli } from "../core/cli-args.js";
import { operatorContext } from "../state/cluster-ref.js";
import { startCluster } from "../state/lifecycle.js";
import { consoleLog } from "../core/log.js";

const USAGE = `usage: npm run start
  powers the machines on, starts the scheduler and the workers, waits for every worker on
  its private IP, checks the versions and prints the dashboard.
exit: 0 started and verified, 1 something did not come back, 2 bad input or nothing deployed`;

export async function cli(argv: readonly string[]): Promise<number> {
  if (!parseCli(argv, USAGE, {})) return 0;
  const { deployed, provider } = operatorContext();
  const r = await startCluster(deployed, provider, consoleLog);
  const reach = provider.capabilities.hostReachesNodes
    ? ""
    : ` (inside the cluster's namespaces: npm run dashboard -- --forward serves it on 127.0.0.1)`;
  process.stdout.write(
    `cluster ${deployed.cluster.id} started and verified in ${r.seconds.toFixed(1)} s${r.changed.length ? ` (powered on: ${r.changed.join(", ")})` : ""}; ${deployed.cluster.nodes.length} workers registered, versions identical\ndashboard: ${r.dashboard}${reach}\n`,
  );
  return 0;
}
