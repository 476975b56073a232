// `npm run demo`: the whole journey on the local provider, for a newcomer with no
// hypervisor: deploy 3 namespace nodes through the same stack (cdktf deploy), verify
// versions, benchmark, print where the report is, destroy (unless --keep).
import { existsSync, mkdirSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { badInput, UserError } from "../lib/errors.js";
import { intFlag, parseCli } from "../lib/cli.js";
import { readState, stateFile } from "../lib/deployed.js";
import { step } from "../lib/log.js";
import { PROJECT_DIR, resultsDir } from "../lib/paths.js";
import { terraformEnvironment } from "../lib/terraform.js";
import { runProcess } from "../lib/process.js";

/** The programs the demo runs, each as a user would but without npx or a shell: node itself. */
const CDKTF = [process.execPath, path.join(PROJECT_DIR, "node_modules", "cdktf-cli", "bundle", "bin", "cdktf")];
const NODE_TS = [process.execPath, "--import", "tsx"];

export interface DemoOptions {
  readonly keep: boolean;
  readonly size: "small" | "full";
  readonly nodes: number;
}

/** Whether a state file records anything (one that cannot be read counts: it is not ours to overwrite). */
function stateHasResources(file: string): boolean {
  const state = readState(file);
  return state === "unreadable" || (state?.resources ?? []).length > 0;
}

export async function main(opts: DemoOptions): Promise<number> {
  const clusterDir = path.join(PROJECT_DIR, ".cluster");
  const state = stateFile(clusterDir);
  if (stateHasResources(state)) {
    throw badInput("a cluster is already deployed from this checkout", [
      { path: state, message: "the demo would share its Terraform state", fix: "run `npx cdktf destroy` first, or use the deployed cluster with npm run verify-versions / npm run benchmark" },
    ]);
  }
  const configFile = path.join(clusterDir, "demo", "cluster.config.json");
  mkdirSync(path.dirname(configFile), { recursive: true });
  writeFileSync(configFile, JSON.stringify({ provider: "local", nodes: { count: opts.nodes }, benchmark: { onDeploy: true, size: opts.size } }, null, 2));
  const env = { ...terraformEnvironment(), CLUSTER_CONFIG: configFile };
  const times: Record<string, number> = {};
  const startedAt = Date.now();
  const timed = async (name: string, shown: string, argv: string[]) => {
    step("demo", `$ ${shown}`);
    const r = await runProcess(argv, { cwd: PROJECT_DIR, env, inherit: true });
    times[name] = r.seconds;
    if (r.missing)
      throw new UserError(`the demo could not start ${argv[1] ?? argv[0]}: ${r.stderr.trim()}`, 2, [
        { path: argv[1] ?? argv[0]!, message: "not found", fix: "run npm install in the project folder first" },
      ]);
    return r.exitCode;
  };

  let code = await timed("deploy", "cdktf deploy --auto-approve", [...CDKTF, "deploy", "--auto-approve"]);
  if (code === 0) code = await timed("verify-versions", "npm run verify-versions", [...NODE_TS, path.join(PROJECT_DIR, "provision", "verify-versions.ts")]);
  const latest = path.join(resultsDir(PROJECT_DIR), "latest", "report.md");
  if (code === 0) {
    // The deploy's last stage writes the report: one older than this demo means it did not run.
    if (!existsSync(latest) || statSync(latest).mtimeMs < startedAt) {
      step("demo", `no benchmark report was written by this deploy (${latest})`);
      code = 1;
    } else {
      step("demo", `benchmark report: ${path.relative(process.cwd(), latest)}`);
    }
  }
  if (!opts.keep) {
    const d = await timed("destroy", "cdktf destroy --auto-approve", [...CDKTF, "destroy", "--auto-approve"]);
    if (code === 0) code = d;
  } else {
    step("demo", `cluster kept: CLUSTER_CONFIG=${path.relative(PROJECT_DIR, configFile)} npx cdktf destroy --auto-approve removes it`);
  }
  step(
    "demo",
    `times: ${Object.entries(times)
      .map(([k, v]) => `${k} ${v.toFixed(0)} s`)
      .join(", ")}`,
  );
  if (code !== 0) throw new UserError(`the demo stopped: a step exited with ${code} (its output is above)`, 1);
  return 0;
}

const USAGE = `usage: npm run demo -- [--keep] [--size small|full] [--nodes N]
  --keep              leave the cluster running (default: destroy at the end)
  --size small|full   benchmark size (default: small)
  --nodes N           number of namespace nodes, 1-16 (default: 3)`;

export async function cli(argv: readonly string[]): Promise<number> {
  const parsed = parseCli(argv, USAGE, { keep: { type: "boolean", default: false }, size: { type: "string", default: "small" }, nodes: { type: "string", default: "3" } });
  if (!parsed) return 0;
  const { values } = parsed;
  const nodes = intFlag("nodes", values.nodes, 1, 16)!;
  if (values.size !== "small" && values.size !== "full") throw badInput(`--size ${values.size} is not valid`, [{ path: "--size", message: `"${values.size}"`, fix: "small or full" }]);
  return main({ keep: values.keep, size: values.size, nodes });
}
