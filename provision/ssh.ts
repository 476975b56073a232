// `npm run ssh -- node2`: a shell on a node: ssh with the config vagrant ssh-config
// wrote (VM providers), a shell inside the node's network namespace (local), in the
// runtime folder. With a command after --, runs it there instead.
import path from "node:path";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { loadCluster } from "./lib/config.js";
import { nodeByName, transportOf } from "./lib/cluster-ref.js";
import { badInput, runCli } from "./lib/errors.js";

export async function cli(argv: readonly string[]): Promise<number> {
  const [name, ...command] = argv;
  if (!name || name === "--help") {
    if (!name) throw badInput("which node?", [{ path: "node", message: "missing", fix: "npm run ssh -- node1 [command...]" }]);
    process.stdout.write("usage: npm run ssh -- <node> [command...]\n");
    return 0;
  }
  const projectDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
  const cluster = loadCluster({ projectDir });
  const t = await transportOf(cluster, nodeByName(cluster, name));
  if (command.length) {
    const r = await t.run(command.join(" "), { nothrow: true, onLine: (l) => process.stdout.write(`${l}\n`) });
    process.stderr.write(r.stderr);
    return r.exitCode;
  }
  const { argv: shell, env } = t.shell();
  const r = spawnSync(shell[0]!, shell.slice(1), { stdio: "inherit", env: { ...process.env, ...env } });
  return r.status ?? 1;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await runCli(() => cli(process.argv.slice(2)));
}
