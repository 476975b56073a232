// A port on 127.0.0.1 that reaches a node's address this host cannot reach itself: every
// connection gets a relay program that carries the bytes both ways (inside the node's
// namespace for the local provider, `ssh -W` for provider ssh). A byte stream for as long
// as the connection lasts, not a program run to its end: not the process runner's business.
import { spawn } from "node:child_process";
import net, { type Server } from "node:net";

/** Listens on 127.0.0.1:localPort; each connection is piped through a new `argv` process. */
export function relayServer(localPort: number, argv: readonly string[]): Promise<Server> {
  const server = net.createServer((socket) => {
    const relay = spawn(argv[0]!, argv.slice(1), { stdio: ["pipe", "pipe", "ignore"], windowsHide: true });
    socket.pipe(relay.stdin);
    relay.stdout.pipe(socket);
    socket.on("error", () => {
      socket.destroy();
      relay.kill();
    });
    socket.on("close", () => relay.kill());
    relay.on("exit", () => socket.end());
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(localPort, "127.0.0.1", () => resolve(server));
  });
}
