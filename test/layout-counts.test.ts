// npm run counts (.ci/layout-counts.mjs), the layout's figures for any checkout: on this
// tree, and on a copy where a circle and a long line were added, it counts what is there.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { $ } from "zx";
import { copyCheckout } from "../provision/host/checkout-copy.js";
import { REPO } from "./helpers/project.js";

interface Counts {
  folders: { folder: string; files: number; lines: number }[];
  largestFolderByFiles: { folder: string; files: number };
  provisionTopLevelFiles: string[];
  circles: string[][];
  linesPast120: { typescript: number; python: number };
}

const counts = async (dir?: string): Promise<Counts> => {
  const r = await $({ cwd: REPO, quiet: true })`node .ci/layout-counts.mjs --json ${dir ? ["--dir", dir] : []}`;
  return JSON.parse(r.stdout) as Counts;
};

describe("npm run counts", () => {
  const top = mkdtempSync(path.join(os.tmpdir(), "dvc-counts-"));
  afterAll(() => rmSync(top, { recursive: true, force: true }));

  it("on this tree: no circle, three files directly in provision/, every folder counted", async () => {
    const c = await counts();
    expect(c.circles).toEqual([]);
    expect(c.provisionTopLevelFiles).toEqual(["provision/cli.ts", "provision/launch.mjs", "provision/stage.ts"]);
    expect(c.folders.map((f) => f.folder)).toEqual(
      expect.arrayContaining(["provision/core", "provision/machines/ssh", "stacks/constructs"]),
    );
    const largest = Math.max(...c.folders.map((f) => f.files));
    expect(c.largestFolderByFiles.files).toBe(largest);
  });

  it("on another checkout (--dir): finds a circle that was added, and counts a long line", async () => {
    const dir = path.join(top, "copy");
    copyCheckout(REPO, dir);
    const before = await counts(dir);
    writeFileSync(
      path.join(dir, "provision", "core", "loop-a.ts"),
      `import { b } from "./loop-b.js";\nexport const a = () => b;\n// ${"x".repeat(130)}\n`,
    );
    writeFileSync(
      path.join(dir, "provision", "core", "loop-b.ts"),
      'import { a } from "./loop-a.js";\nexport const b = () => a;\n',
    );
    const after = await counts(dir);
    expect(after.circles).toEqual([["provision/core/loop-a.ts", "provision/core/loop-b.ts"]]);
    expect(after.linesPast120.typescript).toBe(before.linesPast120.typescript + 1);
    const core = (c: Counts) => c.folders.find((f) => f.folder === "provision/core")!.files;
    expect(core(after)).toBe(core(before) + 2);
  });
});
