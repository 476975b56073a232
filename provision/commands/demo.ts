// `npm run demo`: the whole journey on the local provider, for a newcomer with no
// hypervisor: deploy 3 namespace nodes through the same stack (cdktf deploy), verify
// versions, benchmark, print the goals and where the report is, destroy (unless --keep).
// What a student reads is a line per stage and the report; Terraform's full output (its
// plan with every stage's spec, every stage's progress) goes to .cluster/logs/, named at
// the start and at the end. A failing stage's own error is printed with the log's path.
import { appendFileSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { timestamp } from "../bench/run.js";
import { badInput, UserError } from "../core/errors.js";
import { intFlag, parseCli } from "../core/cli-args.js";
import { readState, stateFile } from "../state/deployed.js";
import { DeployProgress, type DeployVerb } from "../stages/deploy-progress.js";
import { step } from "../core/log.js";
import { forUser, PROJECT_DIR, resultsDir } from "../host/paths.js";
import { renderTable } from "../bench/report.js";
import { validateResults } from "../bench/results-schema.js";
import { terraformEnvironment } from "../host/terraform.js";
import { runProcess } from "../host/process.js";

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
      {
        path: state,
        message: "the demo would share its Terraform state",
        fix: "run `npx cdktf destroy` first, or use the deployed cluster with npm run verify-versions / npm run benchmark",
      },
    ]);
  }
  const configFile = path.join(clusterDir, "demo", "cluster.config.json");
  mkdirSync(path.dirname(configFile), { recursive: true });
  writeFileSync(
    configFile,
    JSON.stringify(
      { provider: "local", nodes: { count: opts.nodes }, benchmark: { onDeploy: true, size: opts.size } },
      null,
      2,
    ),
  );
  const env = { ...terraformEnvironment(), CLUSTER_CONFIG: configFile };
  const logFile = path.join(clusterDir, "logs", `demo-${timestamp()}.log`);
  mkdirSync(path.dirname(logFile), { recursive: true });
  writeFileSync(logFile, `# npm run demo: the full output of cdktf and Terraform (${new Date().toISOString()})\n`);
  const shownLog = forUser(logFile);
  const times: Record<string, number> = {};
  const startedAt = Date.now();
  const notFound = (argv: string[], stderr: string) =>
    new UserError(`the demo could not start ${argv[1] ?? argv[0]}: ${stderr.trim()}`, 2, [
      { path: argv[1] ?? argv[0]!, message: "not found", fix: "run npm install in the project folder first" },
    ]);

  /**
   * cdktf deploy or destroy: its output into the log, a line per stage on the screen; on failure, the failing stage's
   * error.
   */
  const cdktf = async (verb: DeployVerb): Promise<number> => {
    appendFileSync(logFile, `\n# $ cdktf ${verb} --auto-approve\n`);
    const progress = new DeployProgress(verb, (line) => step(verb, line));
    const toLog = (line: string) => {
      appendFileSync(logFile, `${line}\n`);
      progress.line(line);
    };
    const argv = [...CDKTF, verb, "--auto-approve"];
    const r = await runProcess(argv, { cwd: PROJECT_DIR, env, onLine: toLog, onErrLine: toLog });
    times[verb] = r.seconds;
    if (r.missing) throw notFound(argv, r.stderr);
    if (r.exitCode === 0) {
      step(verb, `done in ${r.seconds.toFixed(0)} s (${progress.finished().length} stages)`);
    } else {
      step(verb, `FAILED after ${r.seconds.toFixed(0)} s (cdktf ${verb} exited with ${r.exitCode})`);
      for (const line of progress.failure()) step(verb, line);
      step(verb, `Terraform's full output: ${shownLog}`);
    }
    return r.exitCode;
  };

  step(
    "demo",
    `deploying ${opts.nodes} namespace nodes with cdktf deploy; Terraform's full output goes to ${shownLog}`,
  );
  let code = await cdktf("deploy");
  if (code === 0) {
    const argv = [...NODE_TS, path.join(PROJECT_DIR, "provision", "cli.ts"), "verify-versions"];
    const r = await runProcess(argv, { cwd: PROJECT_DIR, env, inherit: true });
    times["verify-versions"] = r.seconds;
    if (r.missing) throw notFound(argv, r.stderr);
    code = r.exitCode;
  }
  const latest = path.join(resultsDir(PROJECT_DIR), "latest");
  if (code === 0) {
    // The deploy's last stage writes the report: one older than this demo means it did not run.
    const report = path.join(latest, "report.md");
    if (!existsSync(report) || statSync(report).mtimeMs < startedAt) {
      step("demo", `no benchmark report was written by this deploy (${report})`);
      code = 1;
    } else {
      process.stdout.write(
        `\n${renderTable(validateResults(JSON.parse(readFileSync(path.join(latest, "results.json"), "utf8"))))}\n\n`,
      );
      step("demo", `benchmark report: ${path.relative(process.cwd(), report)}`);
    }
  }
  if (!opts.keep) {
    step("demo", "removing the cluster with cdktf destroy");
    const d = await cdktf("destroy");
    if (code === 0) code = d;
  } else {
    step(
      "demo",
      `cluster kept: CLUSTER_CONFIG=${path.relative(PROJECT_DIR, configFile)} npx cdktf destroy --auto-approve removes it`,
    );
  }
  step(
    "demo",
    `times: ${Object.entries(times)
      .map(([k, v]) => `${k} ${v.toFixed(0)} s`)
      .join(", ")}; Terraform's full output: ${shownLog}`,
  );
  if (code !== 0)
    throw new UserError(
      `the demo stopped: a step exited with ${code} (what failed is above; everything Terraform printed is in ${shownLog})`,
      1,
    );
  return 0;
}

const USAGE = `usage: npm run demo -- [--keep] [--size small|full] [--nodes N]
  --keep              leave the cluster running (default: destroy at the end)
  --size small|full   benchmark size (default: small)
  --nodes N           number of namespace nodes, 1-16 (default: 3)`;

export async function cli(argv: readonly string[]): Promise<number> {
  const parsed = parseCli(argv, USAGE, {
    keep: { type: "boolean", default: false },
    size: { type: "string", default: "small" },
    nodes: { type: "string", default: "3" },
  });
  if (!parsed) return 0;
  const { values } = parsed;
  const nodes = intFlag("nodes", values.nodes, 1, 16)!;
  if (values.size !== "small" && values.size !== "full")
    throw badInput(`--size ${values.size} is not valid`, [
      { path: "--size", message: `"${values.size}"`, fix: "small or full" },
    ]);
  return main({ keep: values.keep, size: values.size, nodes });
}
