// `npm run ssh -- node2`: a shell on a node: ssh with the config vagrant ssh-config
// wrote (VM providers), a shell inside the node's network namespace (local), in the
// runtime folder. With a command after --, runs it there instead.
import { nodeByName, operatorContext } from "../state/cluster-ref.js";
import { badInput } from "../core/errors.js";
import { parseCli } from "../core/cli-args.js";
import { runProcess } from "../host/process.js";

const USAGE = `usage: npm run ssh -- [--verbose] <node> [command...]
  node                node1..nodeN: a shell there (ssh for VMs, the namespace for local)
  command...          run this there instead, with the node's exit code (taken verbatim)`;

export async function cli(argv: readonly string[]): Promise<number> {
  // Options only before the node: everything after it is the command, flags included.
  const at = argv.findIndex((a) => !a.startsWith("-"));
  const parsed = parseCli(at < 0 ? argv : argv.slice(0, at + 1), USAGE, {}, { positionals: true });
  if (!parsed) return 0;
  const name = parsed.positionals[0];
  if (!name) throw badInput("which node?", [{ path: "node", message: "missing", fix: USAGE }]);
  const command = argv.slice(at + 1);
  const { deployed, provider } = operatorContext();
  const t = provider.transport(deployed.cluster, nodeByName(deployed.cluster, name));
  if (command.length) {
    const r = await t.run(command.join(" "), { nothrow: true, onLine: (l) => process.stdout.write(`${l}\n`) });
    process.stderr.write(r.stderr);
    return r.exitCode;
  }
  const { argv: shell, env } = t.shell();
  const r = await runProcess(shell, { env: { ...process.env, ...env }, inherit: true });
  if (r.missing)
    throw badInput(`${shell[0]} is not installed or not on PATH`, [
      {
        path: shell[0]!,
        message: "not found",
        fix: "install OpenSSH (on Windows: Settings > Apps > Optional features > OpenSSH Client)",
      },
    ]);
  return r.exitCode;
}
