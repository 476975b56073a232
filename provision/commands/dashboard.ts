// `npm run dashboard`: prints the scheduler dashboard's URL and opens it where a browser
// exists. Where this host cannot reach the nodes (the local provider's namespaces),
// --forward serves it on 127.0.0.1:<port> through the provider's relay.
import { parseCli, intFlag } from "../core/cli-args.js";
import { operatorContext } from "../state/cluster-ref.js";
import { deployedDask } from "../state/deployed.js";
import { openBrowser } from "../host/browser.js";
import { dashboardUrl } from "../services/definitions.js";

const USAGE = `usage: npm run dashboard -- [--forward] [--port N] [--no-open]
  --forward           (local provider) serve the dashboard on 127.0.0.1:PORT until Ctrl-C
  --port N            local port for --forward, 1024-65535 (default: 8787)
  --no-open           only print the URL (default: open a browser where one exists)`;

export async function cli(argv: readonly string[]): Promise<number> {
  const parsed = parseCli(argv, USAGE, {
    forward: { type: "boolean", default: false },
    port: { type: "string", default: "8787" },
    "no-open": { type: "boolean", default: false },
  });
  if (!parsed) return 0;
  const { values } = parsed;
  const port = intFlag("port", values.port, 1024, 65535)!;
  const { deployed, provider, host } = operatorContext();
  const dask = deployedDask(deployed);
  const head = deployed.cluster.head;
  const url = `${dashboardUrl(head, dask)}/status`;
  process.stdout.write(`${url}\n`);
  if (provider.capabilities.hostReachesNodes || !provider.forward) {
    if (!values["no-open"]) openBrowser(host, url);
    return 0;
  }
  if (!values.forward) {
    process.stdout.write(
      `(${provider.name} provider: this address exists only inside the cluster's namespaces; npm run dashboard -- --forward serves it on 127.0.0.1)\n`,
    );
    return 0;
  }
  const local = `http://127.0.0.1:${port}/status`;
  await provider.forward(deployed.cluster, head, dask.dashboardPort, port);
  process.stdout.write(`forwarding ${local} -> ${url} (Ctrl-C to stop)\n`);
  if (!values["no-open"]) openBrowser(host, local);
  await new Promise(() => undefined);
  return 0;
}
