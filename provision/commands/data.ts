// `npm run data -- push|pull|list`: your data on the nodes, at one documented path.
//   push FOLDER   copies a folder of this computer to every node (or --nodes), as
//                 ROOT/data/<its name>: dask_vm_runtime.data_dir() / "<name>" ($DVC_DATA)
//                 in a script, a notebook or a task, the same path on every node of a VM
//                 cluster; a push replaces the earlier copy whole, with progress for
//                 large folders.
//   pull NAME     brings ROOT/data/NAME back from node 1 (or from every node with
//                 --nodes all, one folder each) into results/data/.
//   list          what each node holds there.
import path from "node:path";
import { nodeByName, operatorContext } from "../state/cluster-ref.js";

import { badInput, UserError } from "../core/errors.js";
import { parseCli } from "../core/cli-args.js";
import { step } from "../core/log.js";
import { resultsDir } from "../host/paths.js";

import type { ClusterRef } from "../core/stage-spec.js";
import { shq } from "../machines/transport.js";
import { copyProgress, fetchFolder, formatBytes, packFolder, parseSize, sendFolder } from "../services/workspace.js";
import type { NodeSpec } from "../core/model.js";
import { nodePaths } from "../core/node-paths.js";

const USAGE = `usage: npm run data -- push <folder> [--name NAME] [--nodes all|node1,node2] [--max-size SIZE]
       npm run data -- pull <name> [--nodes node1|all]
       npm run data -- list
  push        copy a folder to the nodes: data_dir() / NAME there ($DVC_DATA/NAME), replacing
              an earlier copy; .dvcignore in it lists what to leave out
  pull        bring data_dir() / NAME back into results/data/NAME (one folder per node with all)
  list        what each node holds in data_dir()
  --name NAME the name on the nodes (default: the folder's own name)
  --nodes     which nodes (push default: all, since every worker reads its own copy; pull
              default: node1)
  --max-size  the largest folder to push (default: 10GB)`;

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

function checkName(name: string, flag: string): string {
  if (!NAME.test(name))
    throw badInput(`"${name}" cannot name a data folder`, [
      { path: flag, message: `"${name}"`, fix: "letters, digits and ._- (up to 100), starting with a letter or digit" },
    ]);
  return name;
}

function pickNodes(cluster: ClusterRef, arg: string | undefined, fallback: "all" | "head"): NodeSpec[] {
  const which = arg ?? (fallback === "all" ? "all" : cluster.head.name);
  if (which === "all") return [...cluster.nodes];
  return which.split(",").map((n) => nodeByName(cluster, n.trim(), "--nodes"));
}

export async function cli(argv: readonly string[], cwd = process.env.INIT_CWD ?? process.cwd()): Promise<number> {
  const parsed = parseCli(
    argv,
    USAGE,
    { name: { type: "string" }, nodes: { type: "string" }, "max-size": { type: "string", default: "10GB" } },
    { positionals: true },
  );
  if (!parsed) return 0;
  const [verb, arg, ...extra] = parsed.positionals;
  if (!verb || !["push", "pull", "list"].includes(verb))
    throw badInput(`npm run data needs push, pull or list${verb ? ` (not "${verb}")` : ""}`, [
      { path: "verb", message: verb ?? "missing", fix: USAGE },
    ]);
  if (extra.length)
    throw badInput(`too many arguments: ${extra.join(" ")}`, [
      { path: "arguments", message: "one folder or name", fix: USAGE },
    ]);
  const { deployed, provider } = operatorContext();
  const cluster = deployed.cluster;

  if (verb === "list") {
    for (const node of cluster.nodes) {
      const t = provider.transport(cluster, node);
      const dir = nodePaths(t.root).data;
      const r = await t.run(`cd ${shq(dir)} 2>/dev/null && du -sb -- * 2>/dev/null || true`, { timeoutMs: 60_000 });
      const rows = r.stdout
        .trim()
        .split("\n")
        .filter(Boolean)
        .map((l) => {
          const [bytes, ...name] = l.split("\t");
          return `  ${name.join("\t")}  ${formatBytes(Number(bytes))}`;
        });
      process.stdout.write(`${node.name} ${dir}\n${rows.length ? rows.join("\n") : "  (empty)"}\n`);
    }
    return 0;
  }

  if (!arg)
    throw badInput(`npm run data -- ${verb} needs a ${verb === "push" ? "folder" : "name"}`, [
      { path: verb, message: "missing", fix: USAGE },
    ]);
  if (verb === "push") {
    const maxBytes = parseSize(parsed.values["max-size"]!);
    if (maxBytes === undefined)
      throw badInput(`--max-size ${parsed.values["max-size"]} is not a size`, [
        { path: "--max-size", message: `"${parsed.values["max-size"]}"`, fix: "e.g. --max-size 20GB" },
      ]);
    const folder = path.resolve(cwd, arg);
    const name = checkName(parsed.values.name ?? path.basename(folder), parsed.values.name ? "--name" : "folder");
    const nodes = pickNodes(cluster, parsed.values.nodes, "all");
    const packed = await packFolder(folder, maxBytes, "folder");
    try {
      step(
        "data",
        `${folder}: ${packed.files.length} files, ${formatBytes(packed.bytes)}, to ${nodes.map((n) => n.name).join(", ")} as data/${name}`,
      );
      const progress = copyProgress(
        "[data] copied",
        packed.bytes,
        nodes.map((n) => n.name),
        (l) => process.stdout.write(`${l}\n`),
      );
      const outcomes = await Promise.allSettled(
        nodes.map(async (node) => {
          const t = provider.transport(cluster, node);
          const to = `${nodePaths(t.root).data}/${name}`;
          const t0 = performance.now();
          await sendFolder(t, packed, to, progress[node.name]);
          step("data", `${node.name}: ${to} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
        }),
      );
      const failed = outcomes.flatMap((o, k) =>
        o.status === "rejected"
          ? [{ node: nodes[k]!.name, why: (o.reason as Error).message.split("\n")[0] ?? "" }]
          : [],
      );
      if (failed.length) {
        throw new UserError(
          `data/${name} did not reach ${failed.map((f) => f.node).join(", ")}`,
          1,
          failed.map((f) => ({
            path: f.node,
            message: f.why,
            fix: `npm run status shows whether ${f.node} is up; push again once it is (the others have it)`,
          })),
        );
      }
    } finally {
      packed.remove();
    }
    return 0;
  }

  const name = checkName(arg, "name");
  const nodes = pickNodes(cluster, parsed.values.nodes, "head");
  const base = path.join(resultsDir(cluster.projectDir), "data", name);
  let total = 0;
  for (const node of nodes) {
    const t = provider.transport(cluster, node);
    const from = `${nodePaths(t.root).data}/${name}`;
    const to = nodes.length > 1 ? path.join(base, node.name) : base;
    const files = await fetchFolder(t, from, to);
    total += files.length;
    step(
      "data",
      files.length
        ? `${node.name}: ${files.length} files from ${from} into ${to}`
        : `${node.name}: ${from} is missing or empty`,
    );
  }
  if (!total)
    throw badInput(`data/${name} is on none of ${nodes.map((n) => n.name).join(", ")}`, [
      { path: "name", message: `"${name}"`, fix: "npm run data -- list shows what the nodes hold" },
    ]);
  return 0;
}
