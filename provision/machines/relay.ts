// A port on 127.0.0.1 that reaches a node's address this host cannot reach itself: every
// connection gets a relay program that carries the bytes both ways (inside the node's
// namespace for the local provider, `ssh -W` for provider ssh). A byte stream for as long
// as the connection lasts, not a program run to its end: not the process runner's business.
// A relay that fails (the far port closed, ssh gone) ends its connection, never the command.
import { spawn, type ChildProcess } from "node:child_process";
import net, { type Server, type Socket } from "node:net";

/**
 * Listens on 127.0.0.1:localPort; each connection is piped through a new `argv` process. Closing the server ends every
 * relay.
 */
export function relayServer(localPort: number, argv: readonly string[]): Promise<Server> {
  const live = new Set<{ socket: Socket; relay: ChildProcess }>();
  const server = net.createServer((socket) => {
    const relay = spawn(argv[0]!, argv.slice(1), { stdio: ["pipe", "pipe", "ignore"], windowsHide: true });
    const pair = { socket, relay };
    live.add(pair);
    const end = () => {
      live.delete(pair);
      socket.destroy();
      if (relay.exitCode === null) relay.kill();
    };
    relay.on("error", end);
    relay.stdin!.on("error", end);
    relay.stdout!.on("error", end);
    socket.on("error", end);
    socket.on("close", end);
    relay.on("exit", () => {
      live.delete(pair);
      socket.end();
    });
    socket.pipe(relay.stdin!);
    relay.stdout!.pipe(socket);
  });
  server.on("close", () => {
    for (const { socket, relay } of live) {
      socket.destroy();
      relay.kill();
    }
    live.clear();
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(localPort, "127.0.0.1", () => resolve(server));
  });
}

/**
 * Whether this host can listen on 127.0.0.1:port now (checked before a long start-up, so a taken port is said at once).
 */
export function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once("error", () => resolve(false));
    probe.listen(port, "127.0.0.1", () => probe.close(() => resolve(true)));
  });
}
