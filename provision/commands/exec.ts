// `npm run exec -- node2 <command...>` (or `all`): one command on a node, as your code
// runs there: in the node's runtime folder, with the runtime venv first on PATH (`python`
// is the cluster's), the connection profile ($DASK_CONFIG: Client() connects) and
// $DVC_DATA. Output streams as it comes, prefixed by the node when there are several;
// the exit code is the command's (the highest of them with `all`; 255 for a node that
// could not be reached, the others' output and codes kept).
import { userEnv, venvPathLine, writeNodeProfile } from "../services/client-profile.js";
import { nodeByName, operatorContext } from "../state/cluster-ref.js";
import { deployedDask } from "../state/deployed.js";
import { badInput } from "../core/errors.js";
import { parseCli } from "../core/cli-args.js";
import { shq } from "../machines/transport.js";

const USAGE = `usage: npm run exec -- <node|all> <command...>
  node        node1..nodeN, or all (every node, at once)
  command...  what to run there, taken verbatim (a shell command line: quote it as a whole
              for pipes or &&, e.g. npm run exec -- all "python -c 'import sklearn'")
exit: the command's own exit code (with all, the highest); 2 for bad arguments`;

export async function cli(argv: readonly string[]): Promise<number> {
  const at = argv.findIndex((a) => !a.startsWith("-"));
  const parsed = parseCli(at < 0 ? argv : argv.slice(0, at + 1), USAGE, {}, { positionals: true });
  if (!parsed) return 0;
  const target = parsed.positionals[0];
  if (!target) throw badInput("which node?", [{ path: "node", message: "missing", fix: USAGE }]);
  const command = argv.slice(at + 1);
  if (!command.length) throw badInput("which command?", [{ path: "command", message: "missing", fix: USAGE }]);
  const { deployed, provider } = operatorContext();
  const dask = deployedDask(deployed);
  const nodes = target === "all" ? deployed.cluster.nodes : [nodeByName(deployed.cluster, target)];
  const prefix = (node: string, l: string) => (nodes.length > 1 ? `[${node}] ${l}` : l);
  // Every node's outcome, even when one cannot be reached: its error, and the others' codes.
  const outcomes = await Promise.allSettled(
    nodes.map(async (node) => {
      const t = provider.transport(deployed.cluster, node);
      await writeNodeProfile(t, deployed.cluster, node, dask);
      const r = await t.run(`${venvPathLine(t)}cd ${shq(t.root)} && ${command.join(" ")}`, {
        env: userEnv(t),
        nothrow: true,
        timeoutMs: 7 * 24 * 3_600_000,
        onLine: (l) => process.stdout.write(`${prefix(node.name, l)}\n`),
        onErrLine: (l) => process.stderr.write(`${prefix(node.name, l)}\n`),
      });
      if (nodes.length > 1 && r.exitCode !== 0) process.stderr.write(`[${node.name}] exit ${r.exitCode}\n`);
      return r.exitCode;
    }),
  );
  const codes = outcomes.map((o, i) => {
    if (o.status === "fulfilled") return o.value;
    process.stderr.write(`${prefix(nodes[i]!.name, `not run: ${(o.reason as Error).message.split("\n")[0]}`)}\n`);
    return 255;
  });
  return Math.max(...codes);
}
