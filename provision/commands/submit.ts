// `npm run submit -- path/to/script.py [args...]`: your script on the cluster. Its folder
// (what .dvcignore allows, up to --max-size) is copied to node 1 and the script runs there
// in the cluster's runtime venv, where `Client()` with no arguments connects (the
// connection profile); its output streams here as it comes; its exit code is this
// command's; what it writes to dask_vm_runtime.output_dir() ($DVC_OUTPUT) comes back to
// results/submit/<time>-<script>/, with the run's log. Before the script starts, a client
// connects as the script's will: a scheduler that is down, or one that refuses this
// client because its versions differ from the workers', stops the job (exit 1) with why.
import { mkdirSync, writeFileSync, appendFileSync } from "node:fs";
import path from "node:path";
import { userEnv, venvPathLine, writeNodeProfile } from "../services/client-profile.js";
import { nodeByName, operatorContext } from "../state/cluster-ref.js";
import { deployedDask } from "../state/deployed.js";
import { badInput } from "../core/errors.js";
import { parseCli } from "../core/cli-args.js";
import { step } from "../core/log.js";
import { forUser, resultsDir } from "../host/paths.js";

import { shq } from "../machines/transport.js";
import { copyProgress, fetchFolder, formatBytes, packFolder, parseSize, sendFolder } from "../services/workspace.js";
import { nodePaths } from "../core/node-paths.js";

const USAGE = `usage: npm run submit -- [--node NODE] [--max-size SIZE] [--keep] <script.py> [args...]
  script.py       your Python script; its folder is copied to the node and it runs there
  args...         the script's own arguments (everything after the script, taken verbatim)
  --node NODE     where it runs (default: node1, where the scheduler is)
  --max-size SIZE the largest folder to copy, e.g. 500MB (default: 100MB); .dvcignore in the
                  folder lists what to leave out, as .gitignore does
  --keep          keep the job's folder on the node (default: removed once its output is back)
exit: the script's own exit code; 1 when the cluster cannot run it (down, or versions refused);
2 for bad arguments; 130 after Ctrl-C (the job is stopped on the node, its output brought back)`;

function timestamp(d = new Date()): string {
  return d.toISOString().replace(/[:]/g, "-").replace(/\..+$/, "Z");
}

export async function cli(argv: readonly string[], cwd = process.env.INIT_CWD ?? process.cwd()): Promise<number> {
  // Options only before the script: everything after it is the script's.
  const at = argv.findIndex((a, i) => !a.startsWith("-") && !["--node", "--max-size"].includes(argv[i - 1] ?? ""));
  const parsed = parseCli(
    at < 0 ? argv : argv.slice(0, at + 1),
    USAGE,
    {
      node: { type: "string" },
      "max-size": { type: "string", default: "100MB" },
      keep: { type: "boolean", default: false },
    },
    { positionals: true },
  );
  if (!parsed) return 0;
  const scriptArg = parsed.positionals[0];
  if (!scriptArg) throw badInput("which script?", [{ path: "script.py", message: "missing", fix: USAGE }]);
  const args = argv.slice(at + 1);
  const maxBytes = parseSize(parsed.values["max-size"]!);
  if (maxBytes === undefined)
    throw badInput(`--max-size ${parsed.values["max-size"]} is not a size`, [
      { path: "--max-size", message: `"${parsed.values["max-size"]}"`, fix: "e.g. --max-size 500MB (B, kB, MB, GB)" },
    ]);
  const script = path.resolve(cwd, scriptArg);
  if (!script.endsWith(".py"))
    throw badInput(`${scriptArg} is not a Python script`, [
      { path: "script.py", message: `"${scriptArg}" does not end in .py`, fix: "give the path of a .py file" },
    ]);

  const { deployed, provider } = operatorContext();
  const dask = deployedDask(deployed);
  const node = parsed.values.node ? nodeByName(deployed.cluster, parsed.values.node, "--node") : deployed.cluster.head;
  const folder = path.dirname(script);
  const packed = await packFolder(folder, maxBytes, "script.py");
  const rel = path.relative(folder, script).split(path.sep).join("/");
  if (!packed.files.includes(rel)) {
    packed.remove();
    throw badInput(`${script} is not in what would be sent`, [
      {
        path: "script.py",
        message: "no such file, or .dvcignore leaves it out",
        fix: "give an existing script that .dvcignore does not list",
      },
    ]);
  }
  const jobId = `${timestamp()}-${path.basename(script, ".py").replace(/[^A-Za-z0-9._-]/g, "_")}`;
  const t = provider.transport(deployed.cluster, node);
  const p = nodePaths(t.root);
  const jobDir = `${p.jobs}/${jobId}`;
  const out = path.join(resultsDir(deployed.cluster.projectDir), "submit", jobId);
  mkdirSync(out, { recursive: true });
  const log = path.join(out, "output.log");
  writeFileSync(log, "");

  let exitCode = 1;
  let interrupted = false;
  let stopping: Promise<unknown> = Promise.resolve();
  let keep = parsed.values.keep ?? false;
  const t0 = performance.now();
  // Ctrl-C reaches this command and the local end of the connection, not always the job on
  // the node (an ssh session's far end may run on): the job's own pid is stopped there too,
  // then its output is brought back as on any other exit.
  const pidFile = `${jobDir}/job.pid`;
  const onSignal = () => {
    if (interrupted) return;
    interrupted = true;
    step("submit", `interrupted: stopping the job on ${node.name}`);
    stopping = t
      .run(
        `p=$(cat ${shq(pidFile)} 2>/dev/null) && kill -INT "$p" 2>/dev/null && for i in $(seq 20); do kill -0 "$p" 2>/dev/null || exit 0; sleep 0.5; done; kill -KILL "$p" 2>/dev/null; true`,
        {
          nothrow: true,
          timeoutMs: 60_000,
        },
      )
      .catch(() => undefined);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    step(
      "submit",
      `${node.name}: copying ${packed.files.length} file${packed.files.length === 1 ? "" : "s"} (${formatBytes(packed.bytes)}) from ${folder}`,
    );
    await sendFolder(
      t,
      packed,
      `${jobDir}/src`,
      copyProgress("[submit] copied", packed.bytes, [node.name], (l) => process.stderr.write(`${l}\n`))[node.name],
    );
    await writeNodeProfile(t, deployed.cluster, node, dask);
    step("submit", `${node.name}: python ${[rel, ...args].join(" ")}`);
    const env = userEnv(t, { DVC_OUTPUT: `${jobDir}/output` });
    const command = [p.python, "-m", "dask_vm_runtime", "run-script", "--", `src/${rel}`, ...args].map(shq).join(" ");
    const r = await t.run(
      `${venvPathLine(t)}mkdir -p ${shq(`${jobDir}/output`)} && cd ${shq(jobDir)} && echo $$ > ${shq(pidFile)} && exec ${command}`,
      {
        env,
        nothrow: true,
        timeoutMs: 7 * 24 * 3_600_000,
        onLine: (l) => {
          process.stdout.write(`${l}\n`);
          appendFileSync(log, `${l}\n`);
        },
        onErrLine: (l) => {
          process.stderr.write(`${l}\n`);
          appendFileSync(log, `${l}\n`);
        },
      },
    );
    await stopping;
    exitCode = interrupted ? 130 : r.exitCode;
    if (r.exitCode === 255 && !interrupted) {
      // ssh's own code: the connection ended, which does not mean the job did.
      keep = true;
      process.stderr.write(
        `[submit] the connection to ${node.name} ended (exit 255): the job may still be running there. Its folder is kept: ${jobDir} (npm run ssh -- ${node.name} to look; its output is in output/)\n`,
      );
    }
    const files = await fetchFolder(t, `${jobDir}/output`, path.join(out, "output"));
    const seconds = (performance.now() - t0) / 1000;
    writeFileSync(
      path.join(out, "job.json"),
      `${JSON.stringify({ script, args, node: node.name, exitCode, seconds: Number(seconds.toFixed(1)), output: files }, null, 2)}\n`,
    );
    step(
      "submit",
      `exit ${exitCode} after ${seconds.toFixed(1)} s; ${files.length ? `${files.length} output file${files.length === 1 ? "" : "s"} in` : "log in"} ${forUser(out)}`,
    );
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    packed.remove();
    if (!keep) await t.run(`rm -rf ${shq(jobDir)}`, { nothrow: true, timeoutMs: 120_000 });
  }
  return exitCode;
}
