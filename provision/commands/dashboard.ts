// `npm run dashboard`: prints the scheduler dashboard's URL and opens it where a browser
// exists. On the local provider the dashboard lives inside node 1's namespace, which the
// host cannot reach: --forward serves it on 127.0.0.1:<port> through a relay that runs
// inside the namespace (one relay process per browser connection).
import { spawn, spawnSync } from "node:child_process";
import net from "node:net";
import { loadCluster } from "../lib/config.js";
import { transportOf } from "../lib/cluster-ref.js";
import { intFlag, parseCli } from "../lib/cli.js";
import { nodeNamespace } from "../lib/providers/local.js";
import { PROJECT_DIR } from "../lib/paths.js";
import { nodePaths } from "../lib/services.js";

/** Copies bytes between stdin/stdout and host:port; runs with the node's Python. */
const RELAY = `
import socket, sys, threading
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
s.settimeout(None)
def up():
    while True:
        b = sys.stdin.buffer.read1(65536)
        if not b:
            s.shutdown(socket.SHUT_WR); return
        s.sendall(b)
threading.Thread(target=up, daemon=True).start()
while True:
    b = s.recv(65536)
    if not b: break
    sys.stdout.buffer.write(b); sys.stdout.buffer.flush()
`;

/** Serves 127.0.0.1:port, relaying every connection to ip:targetPort inside namespace ns. */
export function forward(ns: string, python: string, ip: string, targetPort: number, port: number): Promise<net.Server> {
  const server = net.createServer((socket) => {
    const relay = spawn("ip", ["netns", "exec", ns, python, "-c", RELAY, ip, String(targetPort)], { stdio: ["pipe", "pipe", "ignore"] });
    socket.pipe(relay.stdin);
    relay.stdout.pipe(socket);
    const end = () => {
      socket.destroy();
      relay.kill();
    };
    socket.on("error", end);
    socket.on("close", () => relay.kill());
    relay.on("exit", () => socket.end());
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve(server));
  });
}

function openBrowser(url: string): void {
  const opener = process.platform === "darwin" ? "open" : process.platform === "win32" ? "start" : "xdg-open";
  const hasDisplay = process.platform !== "linux" || Boolean(process.env.DISPLAY || process.env.WAYLAND_DISPLAY);
  if (!hasDisplay || process.env.CI) return;
  spawnSync(opener, [url], { stdio: "ignore" });
}

const USAGE = `usage: npm run dashboard -- [--forward] [--port N] [--no-open]
  --forward           (local provider) serve the dashboard on 127.0.0.1:PORT until Ctrl-C
  --port N            local port for --forward, 1024-65535 (default: 8787)
  --no-open           only print the URL (default: open a browser where one exists)`;

export async function cli(argv: readonly string[]): Promise<number> {
  const parsed = parseCli(argv, USAGE, { forward: { type: "boolean", default: false }, port: { type: "string", default: "8787" }, "no-open": { type: "boolean", default: false } });
  if (!parsed) return 0;
  const { values } = parsed;
  const port = intFlag("port", values.port, 1024, 65535)!;
  const projectDir = PROJECT_DIR;
  const cluster = loadCluster({ projectDir });
  process.stdout.write(`${cluster.dashboardUrl}\n`);
  if (cluster.config.provider !== "local") {
    if (!values["no-open"]) openBrowser(cluster.dashboardUrl);
    return 0;
  }
  if (!values.forward) {
    process.stdout.write("(local provider: this address exists only inside the cluster's namespaces; npm run dashboard -- --forward serves it on 127.0.0.1)\n");
    return 0;
  }
  const head = cluster.nodes[0]!;
  const t = await transportOf(cluster, head);
  const local = `http://127.0.0.1:${port}/status`;
  await forward(nodeNamespace(cluster, head.name), nodePaths(t.root).python, head.ip, cluster.config.dask.dashboardPort, port);
  process.stdout.write(`forwarding ${local} -> ${cluster.dashboardUrl} (Ctrl-C to stop)\n`);
  if (!values["no-open"]) openBrowser(local);
  await new Promise(() => undefined);
  return 0;
}
