// `npm run bench:deploy`: parses the options, then measures deploys on the local provider
// against the by-hand baseline (provision/bench/deploy-run.ts), or with --render draws an
// earlier run's report and chart again.
import path from "node:path";
import { parseCli } from "../core/cli-args.js";
import { DEFAULT_NODE_COUNTS, deploySummary, renderDeployBench, runDeployBench } from "../bench/deploy-run.js";
import { validateDeployBench } from "../bench/deploy-results.js";
import { badInput } from "../core/errors.js";
import { realHost } from "../host/host.js";
import { consoleLog } from "../core/log.js";
import { PROJECT_DIR, resultsDir } from "../host/paths.js";
import { readFileSync } from "node:fs";

const USAGE = `usage: npm run bench:deploy -- [options]
Deploys and destroys clusters of the local provider (Linux, root) in a scratch copy of this
checkout, never your own cluster, and the same clusters by hand (provision/bench/deploy-baseline.sh).
  --nodes 1,3,4     node counts, each 1 to 16 (default: ${DEFAULT_NODE_COUNTS.join(",")}; about 12 min on 2 CPUs)
  --cold            also a deploy with nothing cached (wheels downloaded, bundle and
                    byte-code built) at the first node count (default: bundle cached only)
  --out DIR         results root (default: ./results/deploy)
  --render DIR      run nothing: validate DIR/results.json (an earlier run) and write its
                    report.md and chart again
exit: 0 measured; 1 a deploy, destroy or the baseline failed (its log is named); 2 bad options or not Linux as root`;

export async function cli(argv: readonly string[]): Promise<number> {
  const parsed = parseCli(argv, USAGE, {
    nodes: { type: "string" },
    cold: { type: "boolean", default: false },
    out: { type: "string" },
    render: { type: "string" },
  });
  if (!parsed) return 0;
  const { values } = parsed;
  if (values.render !== undefined) {
    const dir = path.resolve(values.render);
    const results = await renderDeployBench(dir);
    process.stdout.write(`${deploySummary(results, dir)}\n`);
    return 0;
  }
  const nodeCounts =
    values.nodes === undefined ? [...DEFAULT_NODE_COUNTS] : values.nodes.split(",").map((v) => v.trim());
  const bad = nodeCounts.filter((v) => !/^\d+$/.test(String(v)) || Number(v) < 1 || Number(v) > 16);
  if (bad.length || nodeCounts.length === 0)
    throw badInput(`--nodes ${values.nodes} is not valid`, [
      {
        path: "--nodes",
        message: `"${bad.join(",") || values.nodes}" is not a node count`,
        fix: "give node counts from 1 to 16, comma-separated, e.g. --nodes 1,3,4,8,16",
      },
    ]);
  const counts = [...new Set(nodeCounts.map(Number))];
  const dir = await runDeployBench({
    nodeCounts: counts,
    cold: values.cold,
    outRoot: values.out ? path.resolve(values.out) : path.join(resultsDir(PROJECT_DIR), "deploy"),
    host: realHost(),
    log: consoleLog,
  });
  const results = validateDeployBench(JSON.parse(readFileSync(path.join(dir, "results.json"), "utf8")));
  process.stdout.write(`${deploySummary(results, dir)}\n`);
  return 0;
}
