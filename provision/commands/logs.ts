// `npm run logs -- [node] [scheduler|worker] [--follow] [--lines N]`: a service's log
// from a node (the same file under systemd and the local supervisor). Without a node,
// the last lines of every service on every node.
import { nodeByName, operatorContext } from "../state/cluster-ref.js";
import { badInput } from "../core/errors.js";
import { intFlag, parseCli } from "../core/cli-args.js";

import { shq } from "../machines/transport.js";
import { nodePaths } from "../core/node-paths.js";

const SERVICES = ["scheduler", "worker", "notebook"] as const;
const USAGE = `usage: npm run logs -- [node] [scheduler|worker] [--follow] [--lines N]
  node        node1..nodeN (default: every node)
  service     scheduler, worker or notebook (JupyterLab, node 1) (default: scheduler and worker)
  --follow    keep printing new lines (one node and service)
  --lines N   how many lines from the end (default: 50)`;

export async function cli(argv: readonly string[]): Promise<number> {
  const parsed = parseCli(
    argv,
    USAGE,
    { follow: { type: "boolean", short: "f", default: false }, lines: { type: "string", default: "50" } },
    { positionals: true },
  );
  if (!parsed) return 0;
  const { values, positionals } = parsed;
  const lines = intFlag("lines", values.lines, 1, 100_000)!;
  const { deployed, provider } = operatorContext();
  const cluster = deployed.cluster;
  const [nodeArg, serviceArg, ...extra] = positionals;
  if (extra.length)
    throw badInput(`too many arguments: ${extra.join(" ")}`, [
      { path: "arguments", message: "at most a node and a service", fix: USAGE },
    ]);
  if (serviceArg && !(SERVICES as readonly string[]).includes(serviceArg)) {
    throw badInput(`unknown service "${serviceArg}"`, [
      { path: "service", message: `"${serviceArg}"`, fix: `use one of: ${SERVICES.join(", ")}` },
    ]);
  }
  const nodes = nodeArg ? [nodeByName(cluster, nodeArg)] : cluster.nodes;
  const head = cluster.head.name;
  const services = serviceArg
    ? [serviceArg]
    : SERVICES.filter((s) => s === "worker" || (s === "scheduler" && (nodes.length > 1 || nodes[0]!.name === head)));
  if (values.follow && (nodes.length !== 1 || services.length !== 1)) {
    throw badInput("--follow needs one node and one service", [
      {
        path: "--follow",
        message: "several logs cannot be followed at once",
        fix: "e.g. npm run logs -- node1 scheduler --follow",
      },
    ]);
  }
  for (const node of nodes) {
    const t = provider.transport(cluster, node);
    for (const service of services) {
      if (service !== "worker" && node.name !== head) continue;
      const file = `${nodePaths(t.root).logs}/${service}.log`;
      if (!values.follow) process.stdout.write(`==> ${node.name} ${service} (${file}) <==\n`);
      const r = await t.run(
        `if [ -f ${shq(file)} ]; then tail -n ${lines} ${values.follow ? "-F" : ""} ${shq(file)}; else echo "(no log yet: the ${service} has not run on ${node.name})"; fi`,
        {
          nothrow: true,
          timeoutMs: values.follow ? 365 * 86_400_000 : 30_000,
          onLine: (l) => process.stdout.write(`${l}\n`),
        },
      );
      if (r.exitCode !== 0) process.stderr.write(`${node.name}: ${r.stderr.trim() || `exit ${r.exitCode}`}\n`);
    }
  }
  return 0;
}
