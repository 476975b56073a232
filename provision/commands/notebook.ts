// `npm run notebook`: JupyterLab on node 1 until Ctrl-C. Its kernel is the cluster's own
// Python (the runtime venv, the connection profile): Client() connects, with the same
// versions as the workers. Bound to node 1's private IP with a token; for the local
// provider, whose namespaces this host cannot reach, served on 127.0.0.1 with the Dask
// dashboard beside it. The project's notebooks/ folder (the shipped write-ups notebook the
// first time) goes to node 1 and comes back when it ends, newer files winning both ways.
// `--execute NB` runs a notebook top to bottom instead (nbclient, no browser) and keeps
// the executed copy in results/notebooks/.
import { cpSync, existsSync, mkdirSync, readdirSync } from "node:fs";
import type { Server } from "node:net";
import path from "node:path";
import { writeNodeProfile } from "../services/client-profile.js";
import { operatorContext, type OperatorContext } from "../state/cluster-ref.js";
import { deployedDask, deployedRuntime } from "../state/deployed.js";
import { badInput, UserError } from "../core/errors.js";
import { intFlag, parseCli } from "../core/cli-args.js";
import { consoleLog, step } from "../core/log.js";
import { openBrowser } from "../host/browser.js";
import { portFree } from "../machines/relay.js";
import {
  buildNotebookBundle,
  installNotebook,
  KERNEL_NAME,
  notebookEnv,
  notebookService,
  notebookToken,
  SHIPPED_DIR,
  waitForNotebook,
  writeNotebookToken,
} from "../services/notebook.js";
import { cacheDir, forUser, resultsDir } from "../host/paths.js";
import { dashboardUrl, startService, stopService } from "../services/definitions.js";
import { shq } from "../machines/transport.js";
import { fetchFolder, packFolder, sendFolder } from "../services/workspace.js";
import { nodePaths } from "../core/node-paths.js";

const USAGE = `usage: npm run notebook -- [--port N] [--no-open]
       npm run notebook -- --execute NOTEBOOK.ipynb [--env KEY=VALUE]...
  (no option)       JupyterLab on node 1 until Ctrl-C; your notebooks/ folder goes there and
                    comes back when it ends (the write-ups notebook is put in it the first time)
  --port N          JupyterLab's port, 1024-65535 (default: 8888); for the local provider also
                    the port on 127.0.0.1
  --no-open         only print the address (default: open a browser where one exists)
  --execute NB      run NB top to bottom on the cluster, without a browser; the executed copy
                    goes to results/notebooks/
  --env KEY=VALUE   environment of that run's kernel, repeatable (e.g. DVC_NOTEBOOK_SIZE=small)
  --timeout S       seconds one cell may take with --execute (default: 1800)
exit: 0 done; 1 a cell failed (--execute) or JupyterLab did not start; 2 bad arguments;
      130 Ctrl-C before JupyterLab answered (it is stopped, your notebooks brought back)`;

function timestamp(d = new Date()): string {
  return d.toISOString().replace(/[:]/g, "-").replace(/\..+$/, "Z");
}

/** What both ways need: JupyterLab's packages on node 1, and the profile its kernel reads. */
async function prepare(ctx: OperatorContext, dashboard?: string) {
  const { deployed, provider, host } = ctx;
  const dask = deployedDask(deployed);
  const runtime = deployedRuntime(deployed);
  const head = deployed.cluster.head;
  const t = provider.transport(deployed.cluster, head);
  const bundle = await buildNotebookBundle(deployed.cluster.projectDir, runtime, {
    cacheDir: cacheDir(host.env),
    env: host.env,
    log: consoleLog,
  });
  const install = await installNotebook(t, bundle, consoleLog);
  await writeNodeProfile(t, deployed.cluster, head, dask, dashboard);
  return { t, install, dask, head };
}

async function execute(
  ctx: OperatorContext,
  file: string,
  env: Record<string, string>,
  timeoutS: number,
): Promise<number> {
  const { t, install } = await prepare(ctx);
  const name = path.basename(file, ".ipynb");
  const run = `${nodePaths(t.root).notebooks}/.runs/${timestamp()}-${name.replace(/[^A-Za-z0-9._-]/g, "_")}`;
  // On the node under a plain name: a notebook's own may hold spaces or accents, which a
  // remote shell's paths must not.
  const input = `${run}/input.ipynb`;
  await t.put(file, input);
  const out = path.join(
    resultsDir(ctx.deployed.cluster.projectDir),
    "notebooks",
    `${timestamp()}-${path.basename(file)}`,
  );
  step("notebook", `running ${path.basename(file)} on ${t.node} (kernel ${KERNEL_NAME})`);
  const argv = [
    nodePaths(t.root).python,
    "-m",
    "dask_vm_runtime",
    "run-notebook",
    input,
    `${run}/executed.ipynb`,
    "--kernel",
    KERNEL_NAME,
    "--timeout",
    String(timeoutS),
  ];
  try {
    const r = await t.run(`cd ${shq(run)} && ${argv.map(shq).join(" ")}`, {
      env: { ...notebookEnv(t, install), ...env },
      nothrow: true,
      timeoutMs: 7 * 24 * 3_600_000,
      onLine: (l) => step("notebook", l),
      onErrLine: (l) => process.stderr.write(`${l}\n`),
    });
    const executed = await t.run(`test -f ${shq(`${run}/executed.ipynb`)} && echo yes || true`, { timeoutMs: 60_000 });
    if (executed.stdout.includes("yes")) {
      mkdirSync(path.dirname(out), { recursive: true });
      await t.get(`${run}/executed.ipynb`, out);
      step("notebook", `executed notebook: ${forUser(out)}`);
    }
    return r.exitCode;
  } finally {
    await t.run(`rm -rf ${shq(run)}`, { nothrow: true, timeoutMs: 60_000 });
  }
}

/** The user's notebooks folder on the host; the first time, with the shipped notebooks in it. */
function userNotebooks(projectDir: string): string {
  const dir = path.join(projectDir, "notebooks");
  if (!existsSync(dir)) {
    mkdirSync(dir, { recursive: true });
    for (const f of readdirSync(path.join(projectDir, SHIPPED_DIR)))
      if (f.endsWith(".ipynb")) cpSync(path.join(projectDir, SHIPPED_DIR, f), path.join(dir, f));
  }
  return dir;
}

/**
 * Resolves at the first Ctrl-C or SIGTERM; from then on those signals no longer end the process, so what was started is
 * stopped and the notebooks come back.
 */
function untilInterrupted(): { ended: Promise<void>; interrupted: () => boolean; release: () => void } {
  let hit = false;
  let done: () => void = () => undefined;
  const ended = new Promise<void>((resolve) => {
    done = resolve;
  });
  const on = () => {
    hit = true;
    done();
  };
  process.on("SIGINT", on);
  process.on("SIGTERM", on);
  return {
    ended,
    interrupted: () => hit,
    release: () => {
      process.off("SIGINT", on);
      process.off("SIGTERM", on);
    },
  };
}

async function interactive(ctx: OperatorContext, port: number, open: boolean): Promise<number> {
  const { deployed, provider, host } = ctx;
  const cluster = deployed.cluster;
  const dask = deployedDask(deployed);
  const forwarded = !provider.capabilities.hostReachesNodes && !!provider.forward;
  // Said before minutes of installing, not after.
  if (forwarded && !(await portFree(port)))
    throw badInput(`--port ${port}: 127.0.0.1:${port} is taken on this computer`, [
      {
        path: "--port",
        message: "another program (another JupyterLab?) listens there",
        fix: `choose another, e.g. --port ${port === 8888 ? 8889 : 8888}`,
      },
    ]);
  const dashboardLocal = `http://127.0.0.1:${dask.dashboardPort}/status`;
  const { t, install, head } = await prepare(
    ctx,
    forwarded ? dashboardLocal : `${dashboardUrl(cluster.head, dask)}/status`,
  );
  const local = userNotebooks(cluster.projectDir);
  const remote = nodePaths(t.root).notebooks;
  const skip = [".ipynb_checkpoints", ".runs"];
  // Edits left on the node by a session that ended without bringing them back come first.
  await fetchFolder(t, remote, local, skip, { keepNewer: true });
  const packed = await packFolder(local, 1e9, "notebooks/");
  try {
    await sendFolder(t, packed, remote, undefined, { merge: true });
  } finally {
    packed.remove();
  }
  const token = notebookToken(cluster.clusterDir);
  await writeNotebookToken(t, token);
  const signals = untilInterrupted();
  const servers: Server[] = [];
  // JupyterLab stopped first (its last saves written), then the folder brought back; each
  // tried even when the other fails, and a failure said.
  const stop = async () => {
    for (const s of servers) s.close();
    const stopped = await stopService(t, "notebook").then(
      () => undefined,
      (err: Error) => err,
    );
    const files = await fetchFolder(t, remote, local, skip, { keepNewer: true });
    step("notebook", `stopped; ${files.length} file${files.length === 1 ? "" : "s"} of ${remote} in ${local}`);
    if (stopped) throw stopped;
  };
  try {
    await startService(t, "notebook", notebookService(t, head, port, install));
    let ready = false;
    const onNode = `http://${head.ip}:${port}`;
    try {
      await Promise.race([waitForNotebook(t, onNode, token), signals.ended]);
      let base = onNode;
      let dashboard = `${dashboardUrl(cluster.head, dask)}/status`;
      if (!signals.interrupted() && forwarded && provider.forward) {
        servers.push(await provider.forward(cluster, head, port, port));
        base = `http://127.0.0.1:${port}`;
        try {
          servers.push(await provider.forward(cluster, head, dask.dashboardPort, dask.dashboardPort));
          dashboard = dashboardLocal;
        } catch (err) {
          host.warn(
            `the dashboard stays inside the cluster: 127.0.0.1:${dask.dashboardPort} is taken (${(err as Error).message}); npm run dashboard -- --forward --port N serves it elsewhere`,
          );
        }
      }
      ready = !signals.interrupted();
      if (ready) {
        const url = `${base}/lab?token=${token}`;
        process.stdout.write(
          `JupyterLab: ${url}\nDask dashboard: ${dashboard}\nkernel "${KERNEL_NAME}": the cluster's Python; Client() connects. Ctrl-C ends it and brings your notebooks back to ${forUser(local)}/\n`,
        );
        if (open) openBrowser(host, url);
      }
    } catch (err) {
      await stop().catch((e: Error) => host.warn(`stopping JupyterLab: ${e.message.split("\n")[0]}`));
      throw new UserError(`JupyterLab did not start on ${head.name}: ${(err as Error).message.split("\n")[0]}`, 1, [
        { path: head.name, message: "see its log", fix: `npm run logs -- ${head.name} notebook` },
      ]);
    }
    await signals.ended;
    process.stdout.write("\n");
    await stop();
    // Interrupted before JupyterLab answered: not a session that ran.
    return ready ? 0 : 130;
  } finally {
    signals.release();
  }
}

export async function cli(argv: readonly string[], cwd = process.env.INIT_CWD ?? process.cwd()): Promise<number> {
  const parsed = parseCli(argv, USAGE, {
    port: { type: "string", default: "8888" },
    "no-open": { type: "boolean", default: false },
    execute: { type: "string" },
    env: { type: "string", multiple: true, default: [] },
    timeout: { type: "string", default: "1800" },
  });
  if (!parsed) return 0;
  const { values } = parsed;
  const port = intFlag("port", values.port, 1024, 65535)!;
  const timeoutS = intFlag("timeout", values.timeout, 10, 7 * 24 * 3600)!;
  const env: Record<string, string> = {};
  for (const kv of values.env ?? []) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s.exec(kv);
    if (!m)
      throw badInput(`--env ${kv} is not KEY=VALUE`, [
        { path: "--env", message: `"${kv}"`, fix: "e.g. --env DVC_NOTEBOOK_SIZE=small" },
      ]);
    env[m[1]!] = m[2]!;
  }
  const ctx = operatorContext();
  const dask = deployedDask(ctx.deployed);
  const taken = Object.entries(dask).find(([k, v]) => k.endsWith("Port") && v === port);
  if (taken)
    throw badInput(`--port ${port} is dask.${taken[0]}`, [
      {
        path: "--port",
        message: `${port} is taken on ${ctx.deployed.cluster.head.name}`,
        fix: "choose another, e.g. --port 8888",
      },
    ]);
  if (values.execute !== undefined) {
    const file = path.resolve(cwd, values.execute);
    if (!file.endsWith(".ipynb") || !existsSync(file)) {
      throw badInput(`--execute ${values.execute}: no such notebook`, [
        {
          path: "--execute",
          message: `${file} is not an existing .ipynb file`,
          fix: `e.g. --execute ${path.join(SHIPPED_DIR, "write-ups.ipynb")}`,
        },
      ]);
    }
    return execute(ctx, file, env, timeoutS);
  }
  if (Object.keys(env).length)
    throw badInput("--env is for --execute", [
      {
        path: "--env",
        message: "JupyterLab's kernels take their environment from the kernel spec",
        fix: "drop --env, or add --execute NB",
      },
    ]);
  return interactive(ctx, port, !values["no-open"]);
}
