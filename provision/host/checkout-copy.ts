// A throwaway copy of this checkout, for what must never touch the user's own cluster (the
// deploy benchmark; the tests): its own folder, so its own cluster id, .cluster/ and
// results/. node_modules is a symlink to the checkout's; everything else a command reads is
// copied (never byte-code or test output).
import { cpSync, mkdirSync, symlinkSync } from "node:fs";
import path from "node:path";

/** What the commands and the stages read, as a clone has it. */
export const CHECKOUT_FILES = [
  "package.json",
  "cdktf.json",
  "tsconfig.json",
  "stacks",
  "provision",
  "cluster-runtime",
] as const;

export function copyCheckout(from: string, to: string, files: readonly string[] = CHECKOUT_FILES): void {
  mkdirSync(to, { recursive: true });
  for (const f of files)
    cpSync(path.join(from, f), path.join(to, f), {
      recursive: true,
      filter: (src) => !src.includes("__pycache__") && !src.includes("test-output"),
    });
  // A junction on Windows, where a directory symlink needs a privilege or developer mode.
  symlinkSync(
    path.join(from, "node_modules"),
    path.join(to, "node_modules"),
    process.platform === "win32" ? "junction" : "dir",
  );
}
