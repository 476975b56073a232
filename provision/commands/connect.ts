// `npm run connect`: a Python on this computer as a client of the cluster. Writes the
// connection profile .cluster/client/dask.yaml (the scheduler's address, the CA and the
// client certificate of .cluster/tls), so that with DASK_CONFIG pointing there
// `Client()` connects. With --venv it also makes .cluster/client/runtime/venv from the
// cluster's own lock and bundle (install.sh, as on a node): a client with the workers'
// exact versions, which verify-versions then checks too. The scheduler refuses a client
// whose versions differ (strict_clients.py), so a Python of another make is told which
// packages differ. That venv needs a Linux host of the nodes' architecture with their
// Python X.Y (the wheels are manylinux); elsewhere the command says so and points at
// npm run notebook and npm run submit. For the local provider, whose namespaces this host
// cannot reach, the scheduler and the dashboard are served on 127.0.0.1 until Ctrl-C.
import { existsSync } from "node:fs";
import type { Server } from "node:net";
import path from "node:path";
import { hostProfileDir, writeHostProfile } from "../services/client-profile.js";
import { operatorContext } from "../state/cluster-ref.js";
import { deployedDask, deployedRuntime } from "../state/deployed.js";
import { badInput, UserError } from "../core/errors.js";
import { parseCli } from "../core/cli-args.js";
import { hostClientRoot, hostClientSupport, makeHostClient } from "../services/client-venv.js";
import { consoleLog, step } from "../core/log.js";
import { dashboardUrl, schedulerAddress } from "../services/definitions.js";
import { tlsFiles } from "../services/tls.js";
import { shq } from "../machines/transport.js";
import { nodePaths } from "../core/node-paths.js";

const USAGE = `usage: npm run connect -- [--venv]
  writes .cluster/client/dask.yaml, the connection profile: with DASK_CONFIG set to that
  folder, Client() in a Python on this computer connects to the cluster; for the local
  provider, serves the scheduler and the dashboard on 127.0.0.1 until Ctrl-C
  --venv   also make .cluster/client/runtime/venv from the cluster's lock (Linux hosts of the
           nodes' architecture with their Python X.Y): the workers' exact versions, checked
           by npm run verify-versions
exit: 0 done (or Ctrl-C); 1 the venv could not be made; 2 bad arguments or nothing deployed`;

export async function cli(argv: readonly string[]): Promise<number> {
  const parsed = parseCli(argv, USAGE, { venv: { type: "boolean", default: false } });
  if (!parsed) return 0;
  const { deployed, provider, host } = operatorContext();
  const cluster = deployed.cluster;
  const dask = deployedDask(deployed);
  const runtime = deployedRuntime(deployed);

  if (parsed.values.venv) {
    const support = await hostClientSupport(host, runtime);
    if (!support.ok) {
      throw new UserError(`this computer cannot hold a client made from the cluster's lock: ${support.why}`, 2, [
        {
          path: "--venv",
          message: support.why,
          fix: "run your code in the cluster's own Python instead: npm run notebook (JupyterLab on node 1) or npm run submit -- script.py; or connect a Python of your own with the same versions (the profile below)",
        },
      ]);
    }
    await makeHostClient(host, cluster.projectDir, cluster.clusterDir, runtime, support.python, consoleLog);
  }

  const forwarded = !provider.capabilities.hostReachesNodes && !!provider.forward;
  const head = cluster.head;
  const tls = dask.tls ? path.join(cluster.clusterDir, "tls") : undefined;
  if (tls && !existsSync(tlsFiles(tls, "client").cert)) {
    throw badInput("the cluster's client certificate is missing on this computer", [
      { path: tls, message: "no client.pem", fix: "run npx cdktf deploy (its tls stage makes it)" },
    ]);
  }
  const scheduler = forwarded
    ? `${dask.tls ? "tls" : "tcp"}://127.0.0.1:${dask.schedulerPort}`
    : schedulerAddress(head, dask);
  const dashboard = forwarded ? `http://127.0.0.1:${dask.dashboardPort}/status` : `${dashboardUrl(head, dask)}/status`;
  const files = tls
    ? { ca: tlsFiles(tls, "ca").cert, cert: tlsFiles(tls, "client").cert, key: tlsFiles(tls, "client").key }
    : undefined;
  const dir = await writeHostProfile(
    cluster.clusterDir,
    { scheduler, ...(files ? { tls: files } : {}), dashboard },
    `cluster ${cluster.id}, from this computer`,
  );
  const venv = path.join(
    nodePaths(hostClientRoot(cluster.clusterDir)).venv,
    host.platform === "win32" ? "Scripts" : "bin",
  );
  const hasVenv = existsSync(venv);
  // Quoted for the user's shell: a folder may hold spaces, $ or quotes.
  const exportLine =
    host.platform === "win32" ? `$env:DASK_CONFIG = '${dir.replace(/'/g, "''")}'` : `export DASK_CONFIG=${shq(dir)}`;
  process.stdout.write(
    [
      `connection profile: ${path.join(hostProfileDir(cluster.clusterDir), "dask.yaml")}`,
      `  scheduler ${scheduler}${files ? ", mutual TLS with .cluster/tls/client.pem" : ""}; dashboard ${dashboard}`,
      "use it:",
      `  ${exportLine}`,
      `  ${hasVenv ? `${host.platform === "win32" ? `& '${path.join(venv, "python")}'` : shq(path.join(venv, "python"))} -c` : "python -c"} "from distributed import Client; print(Client())"`,
      hasVenv
        ? `  (${path.dirname(venv)}: the cluster's lock, checked by npm run verify-versions)`
        : "  (a Python whose Dask packages differ from the workers' is refused, naming them: npm run connect -- --venv makes one that matches, where this computer can)",
      "",
    ].join("\n"),
  );
  if (!forwarded || !provider.forward) return 0;
  const servers: Server[] = [];
  for (const port of [dask.schedulerPort, dask.dashboardPort]) {
    try {
      servers.push(await provider.forward(cluster, head, port, port));
    } catch (err) {
      for (const s of servers) s.close();
      throw badInput(`127.0.0.1:${port} is taken on this computer`, [
        {
          path: `127.0.0.1:${port}`,
          message: (err as Error).message,
          fix: "stop what listens there (another npm run connect or dashboard?) and run again",
        },
      ]);
    }
  }
  step(
    "connect",
    `serving ${schedulerAddress(head, dask)} on 127.0.0.1:${dask.schedulerPort} and the dashboard on 127.0.0.1:${dask.dashboardPort} (${provider.name} provider) until Ctrl-C`,
  );
  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  for (const s of servers) s.close();
  return 0;
}
