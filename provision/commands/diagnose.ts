// `npm run diagnose`: what is wrong with a Dask cluster. Without --scheduler, the deployed
// cluster, looked at from node 1 with its own client certificate; with --scheduler, any Dask
// cluster (a lab's, a classmate's, one started by hand with `dask scheduler` and
// `dask worker`), looked at from this computer. The look itself is the runtime's
// (cluster-runtime/dask_vm_runtime/diagnose.py): a client, one small task pinned to each
// worker, one result moved between neighbours, every wait with a timeout; it changes
// nothing on the cluster. Exit 0 healthy, 1 with findings, 2 on bad input.
import { existsSync } from "node:fs";
import path from "node:path";
import { badInput, type Problem } from "../core/errors.js";
import { parseCli } from "../core/cli-args.js";
import { nodePaths } from "../core/node-paths.js";
import { realHost } from "../host/host.js";
import { PROJECT_DIR } from "../host/paths.js";
import { shq } from "../machines/transport.js";
import { schedulerAddress } from "../services/definitions.js";
import { hostClientRoot } from "../services/client-venv.js";
import { operatorContext } from "../state/cluster-ref.js";
import { deployedDask, type Deployed } from "../state/deployed.js";
import type { MachineProvider } from "../machines/provider.js";

const USAGE = `usage: npm run diagnose -- [--scheduler ADDRESS [TLS files] [--python PYTHON]] [--timeout S] [--json]
  (no --scheduler)      the deployed cluster, looked at from node 1
  --scheduler ADDRESS   any Dask cluster: tcp://HOST:PORT, or tls://HOST:PORT with
                        --tls-ca-file CA.pem --tls-cert CERT.pem --tls-key KEY.pem (dask's own flags)
  --python PYTHON       the Python that looks, with distributed installed: best the one your own
                        client runs in (default: this project's client venv, npm run connect -- --venv,
                        else python3 when it has distributed)
  --timeout S           seconds for the connection and for each round of probes (default 15)
  --json                the findings and every fact as JSON
exit: 0 healthy; 1 with findings (each says what it means and the fix); 2 bad input`;

const ADDRESS = /^(tcp|tls):\/\/[^/:\s]+:\d{1,5}$/;

function checkArgs(values: Record<string, string | boolean | undefined>, cwd: string): Problem[] {
  const problems: Problem[] = [];
  const scheduler = values.scheduler as string | undefined;
  const tls = ["tls-ca-file", "tls-cert", "tls-key"] as const;
  if (scheduler !== undefined && !ADDRESS.test(scheduler))
    problems.push({
      path: "--scheduler",
      message: `"${scheduler}" is not a scheduler address`,
      fix: "tcp://HOST:PORT or tls://HOST:PORT, as `dask scheduler` prints it (e.g. tcp://192.168.56.11:8786)",
    });
  const given = tls.filter((f) => values[f] !== undefined);
  if (scheduler === undefined && (given.length || values.python))
    problems.push({
      path: given.length ? `--${given[0]}` : "--python",
      message: "only with --scheduler (the deployed cluster is looked at with its own certificate, from node 1)",
      fix: "add --scheduler ADDRESS, or leave the option out",
    });
  if (scheduler?.startsWith("tls://") && given.length < 3)
    problems.push({
      path: `--${tls.find((f) => values[f] === undefined)}`,
      message: "a tls:// scheduler needs the client's three files",
      fix: "--tls-ca-file CA.pem --tls-cert CERT.pem --tls-key KEY.pem",
    });
  if (scheduler?.startsWith("tcp://") && given.length)
    problems.push({
      path: `--${given[0]}`,
      message: "TLS files for a tcp:// scheduler",
      fix: "use tls://HOST:PORT, or leave the TLS files out",
    });
  for (const f of given) {
    const file = path.resolve(cwd, values[f] as string);
    if (!existsSync(file))
      problems.push({ path: `--${f}`, message: `no such file: ${file}`, fix: "give an existing PEM file" });
  }
  const timeout = Number(values.timeout);
  if (!Number.isFinite(timeout) || timeout <= 0 || timeout > 600)
    problems.push({ path: "--timeout", message: `"${values.timeout}"`, fix: "seconds, more than 0 and at most 600" });
  return problems;
}

/** The Python that looks at a cluster given by address, and why that one. */
async function lookingPython(given: string | undefined, cwd: string): Promise<string> {
  const host = realHost();
  const probe = async (py: string) =>
    (await host.run([py, "-c", "import distributed"], { timeoutMs: 60_000 })).exitCode === 0;
  if (given) {
    const py = given.includes("/") ? path.resolve(cwd, given) : given;
    if (!(await probe(py)))
      throw badInput(`--python ${given} cannot import distributed`, [
        {
          path: "--python",
          message: `${py} does not run, or has no distributed`,
          fix: "give the Python your own Dask client runs in (python -m pip install distributed installs it)",
        },
      ]);
    return py;
  }
  // The client venv npm run connect -- --venv makes in this project's .cluster/, else python3.
  const venv = nodePaths(hostClientRoot(path.join(PROJECT_DIR, ".cluster"))).python;
  for (const py of existsSync(venv) ? [venv, "python3"] : ["python3"]) if (await probe(py)) return py;
  throw badInput("no Python with distributed to look from", [
    {
      path: "--python",
      message: "neither this project's client venv nor python3 can import distributed",
      fix: "give --python PATH (the Python your own client runs in), or make the client venv: npm run connect -- --venv",
    },
  ]);
}

/** The deployed cluster, looked at from node 1 with its own client certificate; the look's exit code. */
export async function diagnoseDeployed(
  deployed: Deployed,
  provider: MachineProvider,
  opts: { json: boolean; timeout: number },
): Promise<number> {
  const dask = deployedDask(deployed);
  const head = deployed.cluster.head;
  const t = provider.transport(deployed.cluster, head);
  const p = nodePaths(t.root);
  const argv = [
    p.python,
    "-m",
    "dask_vm_runtime",
    "diagnose",
    "--scheduler",
    schedulerAddress(head, dask),
    ...(dask.tls ? ["--tls-dir", p.tls] : []),
    "--timeout",
    // An emulated VM answers several times slower: every wait of the look too.
    String(opts.timeout * t.slowness),
    ...(opts.json ? ["--json"] : []),
  ];
  if (!opts.json) process.stderr.write(`[diagnose] the deployed cluster, from ${head.name}\n`);
  const r = await t.run(argv.map(shq).join(" "), { nothrow: true, timeoutMs: 600_000, ...streamed });
  return r.exitCode;
}

const streamed = {
  onLine: (l: string) => process.stdout.write(`${l}\n`),
  onErrLine: (l: string) => process.stderr.write(`${l}\n`),
};

export async function cli(argv: readonly string[], cwd = process.env.INIT_CWD ?? process.cwd()): Promise<number> {
  const parsed = parseCli(argv, USAGE, {
    scheduler: { type: "string" },
    "tls-ca-file": { type: "string" },
    "tls-cert": { type: "string" },
    "tls-key": { type: "string" },
    python: { type: "string" },
    timeout: { type: "string", default: "15" },
    json: { type: "boolean", default: false },
  });
  if (!parsed) return 0;
  const v = parsed.values;
  const problems = checkArgs(v, cwd);
  if (problems.length) throw badInput("diagnose: bad arguments", problems);
  const common = ["--timeout", v.timeout!, ...(v.json ? ["--json"] : [])];
  if (v.scheduler === undefined) {
    const { deployed, provider } = operatorContext();
    return diagnoseDeployed(deployed, provider, { json: v.json ?? false, timeout: Number(v.timeout) });
  }

  const python = await lookingPython(v.python, cwd);
  const files = (["tls-ca-file", "tls-cert", "tls-key"] as const).flatMap((f) =>
    v[f] === undefined ? [] : [`--${f}`, path.resolve(cwd, v[f]!)],
  );
  if (!v.json) process.stderr.write(`[diagnose] ${v.scheduler}, from this computer (${python})\n`);
  const env = {
    ...process.env,
    PYTHONPATH: [path.join(PROJECT_DIR, "cluster-runtime"), process.env.PYTHONPATH]
      .filter(Boolean)
      .join(path.delimiter),
  };
  const r = await realHost().run(
    [python, "-m", "dask_vm_runtime", "diagnose", "--scheduler", v.scheduler, ...files, ...common],
    { env, timeoutMs: 600_000, ...streamed },
  );
  return r.exitCode;
}
