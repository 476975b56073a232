// Commands that run until Ctrl-C (notebook, connect, a long submit), driven as a user at a
// terminal would: started in a process group of their own, read until a line says they
// are ready, then interrupted with SIGINT sent to the whole group.
import { spawn, type ChildProcess } from "node:child_process";
import type { TestProject } from "./project.js";

/** Runs a long-lived command until a line matches; returns the process and its output so far. */
export async function startUntil(
  p: TestProject,
  args: string[],
  ready: RegExp,
  timeoutMs = 240_000,
): Promise<{ child: ChildProcess; out: () => string }> {
  const child = spawn("node_modules/.bin/tsx", args, {
    cwd: p.link,
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
    env: { ...process.env, CI: "true" },
  });
  let seen = "";
  child.stdout!.on("data", (b: Buffer) => (seen += b.toString()));
  child.stderr!.on("data", (b: Buffer) => (seen += b.toString()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no line matching ${ready} in ${timeoutMs / 1000} s:\n${seen}`)),
      timeoutMs,
    );
    const check = () => {
      if (ready.test(seen)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on("data", check);
    child.stderr!.on("data", check);
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${args.join(" ")} exited ${code} before it was ready:\n${seen}`));
    });
  });
  return { child, out: () => seen };
}

/** Sends SIGINT to a started command's group (as Ctrl-C does) and waits for it to end. */
export async function interrupt(child: ChildProcess): Promise<number | null> {
  const ended = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  process.kill(-child.pid!, "SIGINT");
  return ended;
}
