// Once per test run, before any test file: the short private folder fake hosts make their
// sockets folders in (fakeSocketDir), removed when the run ends. Never /tmp itself: a
// /tmp/dvc-ssh-1000 made there by a root test run would be a real user's folder. Windows has no
// /tmp (it would be <drive>:\tmp, which runners lack) and no socket-path limit: its temp folder.
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { TestProject } from "vitest/node";

export default function setup(project: TestProject): () => void {
  const dir = mkdtempSync(process.platform === "win32" ? path.join(os.tmpdir(), "dvc-fake-") : "/tmp/dvc-fake-");
  project.provide("fakeSocketDir", dir);
  return () => rmSync(dir, { recursive: true, force: true });
}

declare module "vitest" {
  export interface ProvidedContext {
    fakeSocketDir: string;
  }
}
