// `npm run submit -- path/to/script.py [args...]`: your script on the cluster. Its folder
// (what .dvcignore allows, up to --max-size) is copied to node 1 and the script runs there
// in the cluster's runtime venv, where `Client()` with no arguments connects (the
// connection profile); its output streams here as it comes; its exit code is this
// command's. What it writes to dask_vm_runtime.output_dir() ($DVC_OUTPUT) comes back to
// results/submit/<time>-<script>/output/, with the run's log and job.json; what it creates
// or changes in its own folder (results.csv beside the script, as on the student's own
// computer) comes back to results/submit/<time>-<script>/ at the same relative path (the
// files dated after a marker touched on the node as the script starts, __pycache__ left
// out), except names that are submit's own (output.log, job.json, output/, folder/), which
// go to folder/<path>. Those files too are held to --max-size: over it they stay on the
// node, in the job's folder kept there, and the message says which and how to get them.
// On Ctrl-C (exit 130) both come back as on any exit. Before the script starts, a client
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
import {
  changedSince,
  copyProgress,
  fetchFiles,
  fetchFolder,
  formatBytes,
  markStart,
  packFolder,
  parseSize,
  sendFolder,
} from "../services/workspace.js";
import { nodePaths } from "../core/node-paths.js";

const USAGE = `usage: npm run submit -- [--node NODE] [--max-size SIZE] [--keep] <script.py> [args...]
  script.py       your Python script; its folder is copied to the node and it runs there
  args...         the script's own arguments (everything after the script, taken verbatim)
  --node NODE     where it runs (default: node1, where the scheduler is)
  --max-size SIZE the largest folder to copy, e.g. 500MB (default: 100MB); .dvcignore in the
                  folder lists what to leave out, as .gitignore does. The files the job
                  creates or changes in its folder come back up to this size too
  --keep          keep the job's folder on the node (default: removed once its output is back)
exit: the script's own exit code; 1 when the cluster cannot run it (down, or versions refused);
2 for bad arguments; 130 after Ctrl-C (the job is stopped on the node, its output and the files
it changed brought back)`;

function timestamp(d = new Date()): string {
  return d.toISOString().replace(/[:]/g, "-").replace(/\..+$/, "Z");
}

/** What submit itself writes in results/submit/<run>/: a file of the job's folder named so goes to folder/ instead. */
export const SUBMIT_OWN: readonly string[] = ["output.log", "job.json", "output", "folder"];

/** A file the job created or changed in its folder. */
export interface ChangedFile {
  /** Its path in the job's folder (forward slashes). */
  readonly rel: string;
  readonly bytes: number;
  /** Its path in results/submit/<run>/: rel, or folder/rel when rel starts with one of SUBMIT_OWN. */
  readonly local: string;
}

/** Where each changed file goes in results/submit/<run>/. */
export function placeChanged(files: ReadonlyArray<{ rel: string; bytes: number }>): ChangedFile[] {
  return files.map((f) => ({ ...f, local: SUBMIT_OWN.includes(f.rel.split("/")[0]!) ? `folder/${f.rel}` : f.rel }));
}

/** "a, b, c" or, past `most`, "a, b, c, d and 12 more". */
export function someOf(names: readonly string[], most = 4): string {
  if (names.length <= most + 1) return names.join(", ");
  return `${names.slice(0, most).join(", ")} and ${names.length - most} more`;
}

const count = (n: number, what = "file") => `${n} ${what}${n === 1 ? "" : "s"}`;

/**
 * The last line: "exit 0 after 3.1 s; back in results/submit/<run>/: results.csv,
 * plots/a.png (2 files, 14 kB); 1 output file in output/". `out` is the run's folder as
 * the user reads it, ending in a separator; `left`, the changed files kept on the node.
 */
export function summaryLine(o: {
  exitCode: number;
  seconds: number;
  out: string;
  back: readonly ChangedFile[];
  left?: { files: readonly ChangedFile[]; node: string };
  output: number;
}): string {
  const bytes = (l: readonly ChangedFile[]) => formatBytes(l.reduce((s, f) => s + f.bytes, 0));
  const parts: string[] = [];
  if (o.back.length)
    parts.push(`back in ${o.out}: ${someOf(o.back.map((f) => f.local))} (${count(o.back.length)}, ${bytes(o.back)})`);
  if (o.left?.files.length)
    parts.push(
      `${count(o.left.files.length, "changed file")} (${bytes(o.left.files)}) left on ${o.left.node}, over --max-size`,
    );
  // The run's folder named once: in the first part that is there.
  if (o.output) parts.push(`${count(o.output, "output file")} in ${o.back.length ? "" : o.out}output/`);
  else if (!o.back.length) parts.push(`log in ${o.out}`);
  return `exit ${o.exitCode} after ${o.seconds.toFixed(1)} s; ${parts.join("; ")}`;
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
    // The marker last before the script: what is newer in src/ after the run, the job wrote.
    const r = await t.run(
      `${venvPathLine(t)}mkdir -p ${shq(`${jobDir}/output`)} && cd ${shq(jobDir)} && echo $$ > ${shq(pidFile)} && ${markStart("src", "started")} && exec ${command}`,
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
        `[submit] the connection to ${node.name} ended (exit 255): the job may still be running there. Its folder is kept: ${jobDir} (npm run ssh -- ${node.name} to look; its output is in output/, its own folder in src/)\n`,
      );
    }
    const output = await fetchFolder(t, `${jobDir}/output`, path.join(out, "output"));
    const src = `${jobDir}/src`;
    const changed = placeChanged(await changedSince(t, src, `${jobDir}/started`));
    const moved = changed.filter((f) => f.local !== f.rel);
    const changedBytes = changed.reduce((s, f) => s + f.bytes, 0);
    let back: ChangedFile[] = [];
    let left: { files: ChangedFile[]; node: string } | undefined;
    if (changedBytes > maxBytes) {
      keep = true;
      left = { files: changed, node: node.name };
      process.stderr.write(leftMessage({ changed, maxBytes, node: node.name, jobDir, dataDir: p.data, jobId }));
    } else if (changed.length) {
      const came = new Set([
        ...(await fetchFiles(
          t,
          src,
          changed.filter((f) => f.local === f.rel).map((f) => f.rel),
          out,
        )),
        ...(await fetchFiles(
          t,
          src,
          moved.map((f) => f.rel),
          path.join(out, "folder"),
        )),
      ]);
      back = changed.filter((f) => came.has(f.rel));
      const gone = changed.filter((f) => !came.has(f.rel));
      if (moved.length)
        step("submit", `named as submit's own files, so in folder/: ${someOf(moved.map((f) => f.rel))}`);
      if (gone.length)
        process.stderr.write(
          `[submit] changed by the job but gone before they could be fetched: ${someOf(gone.map((f) => f.rel))}\n`,
        );
    }
    const seconds = (performance.now() - t0) / 1000;
    const job = {
      script,
      args,
      node: node.name,
      exitCode,
      seconds: Number(seconds.toFixed(1)),
      output,
      changed: changed.map((f) => f.rel),
      ...(moved.length ? { renamed: Object.fromEntries(moved.map((f) => [f.rel, f.local])) } : {}),
      ...(left ? { changedKept: { node: node.name, folder: src, why: "over --max-size" } } : {}),
    };
    writeFileSync(path.join(out, "job.json"), `${JSON.stringify(job, null, 2)}\n`);
    step(
      "submit",
      summaryLine({ exitCode, seconds, out: `${forUser(out)}${path.sep}`, back, left, output: output.length }),
    );
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    packed.remove();
    if (!keep) await t.run(`rm -rf ${shq(jobDir)}`, { nothrow: true, timeoutMs: 120_000 });
  }
  return exitCode;
}

/**
 * What stderr says of changed files over --max-size, which stay on the node: which they
 * are (the biggest first), where, and how to get them (into the node's data folder, then
 * npm run data -- pull).
 */
export function leftMessage(o: {
  changed: readonly ChangedFile[];
  maxBytes: number;
  node: string;
  jobDir: string;
  dataDir: string;
  jobId: string;
}): string {
  const biggest = [...o.changed].sort((a, b) => b.bytes - a.bytes);
  const list = biggest
    .slice(0, 10)
    .map((f) => `${f.rel} (${formatBytes(f.bytes)})`)
    .join(", ");
  const more = biggest.length > 10 ? ` and ${biggest.length - 10} more (job.json lists them all)` : "";
  const total = formatBytes(o.changed.reduce((s, f) => s + f.bytes, 0));
  const into = `${o.dataDir}/${o.jobId}`;
  return (
    `[submit] the job created or changed ${count(o.changed.length)} in its folder, ${total}, over --max-size (${formatBytes(o.maxBytes)}): not brought back. ` +
    `They stay on ${o.node}, in the job's folder, kept: ${o.jobDir}/src\n` +
    `[submit]   ${list}${more}\n` +
    `[submit] to bring that folder back: npm run ssh -- ${o.node} "mkdir -p ${shq(o.dataDir)} && mv ${shq(`${o.jobDir}/src`)} ${shq(into)} && rm -rf ${shq(o.jobDir)}", ` +
    `then npm run data -- pull ${o.jobId} (into results/data/${o.jobId}/) and npm run ssh -- ${o.node} "rm -rf ${shq(into)}"; to look first: npm run ssh -- ${o.node}\n`
  );
}
