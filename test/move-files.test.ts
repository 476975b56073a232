// .ci/move-files.mjs, the maintainers' mechanical move: in a scratch git repository it
// `git mv`s the files and rewrites exactly the import specifiers the move breaks (in the
// moved files and in their importers, tests included), and nothing else.
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { $ } from "zx";
import { REPO } from "./helpers/project.js";

describe(".ci/move-files.mjs", () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "dvc-move-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const write = (rel: string, text: string) => {
    mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    writeFileSync(path.join(dir, rel), text);
  };
  const read = (rel: string) => readFileSync(path.join(dir, rel), "utf8");
  const sh = $({ cwd: dir, quiet: true });

  it("moves files and folders with git mv, and rewrites the imports the move breaks, and only those", async () => {
    mkdirSync(path.join(dir, ".ci"));
    cpSync(path.join(REPO, ".ci", "move-files.mjs"), path.join(dir, ".ci", "move-files.mjs"));
    symlinkSync(path.join(REPO, "node_modules"), path.join(dir, "node_modules"), "junction");
    write(
      "provision/lib/a.ts",
      'import { b } from "./b.js";\nimport { c } from "../other/c.js";\n// see "./b.js" in a comment\nexport const a = b + c;\n',
    );
    write("provision/lib/b.ts", "export const b = 1;\n");
    write(
      "provision/other/c.ts",
      'import type { a } from "../lib/a.js";\nexport const c = 2;\nexport type A = typeof a;\n',
    );
    write("provision/other/d.ts", 'export const load = () => import("../lib/b.js");\n');
    write("provision/core/n.mjs", "export const n = 3;\n");
    write("provision/core/n.d.mts", "export declare const n: number;\n");
    write(
      "test/a.test.ts",
      'import { a } from "../provision/lib/a.js";\nimport { n } from "../provision/core/n.mjs";\nvi.mock("../provision/lib/b.js");\nexport { a, n };\n',
    );
    await sh`git init -q`;
    await sh`git add -A`;
    await sh`git -c user.email=t@t -c user.name=t commit -qm start`;
    write(
      "moves.json",
      JSON.stringify({
        "provision/lib/": "provision/layer/",
        "provision/core/n.mjs": "provision/base/",
        "provision/core/n.d.mts": "provision/base/",
      }),
    );

    const r = await sh`node .ci/move-files.mjs moves.json`;
    expect(r.stdout).toMatch(/4 files moved, 3 files' imports rewritten/);
    const status = (await sh`git status --porcelain`).stdout;
    expect(status).toMatch(/^R {2}provision\/lib\/a\.ts -> provision\/layer\/a\.ts$/m);
    expect(status).toMatch(/^R {2}provision\/lib\/b\.ts -> provision\/layer\/b\.ts$/m);
    expect(status).toMatch(/^R {2}provision\/core\/n\.mjs -> provision\/base\/n\.mjs$/m);
    // Inside the moved folder nothing changes; an import out of it and the importers do.
    expect(read("provision/layer/a.ts")).toBe(
      'import { b } from "./b.js";\nimport { c } from "../other/c.js";\n// see "./b.js" in a comment\nexport const a = b + c;\n',
    );
    expect(read("provision/other/c.ts")).toContain('import type { a } from "../layer/a.js";');
    expect(read("provision/other/d.ts")).toContain('import("../layer/b.js")');
    const t = read("test/a.test.ts");
    expect(t).toContain('from "../provision/layer/a.js"');
    expect(t).toContain('from "../provision/base/n.mjs"');
    expect(t).toContain('vi.mock("../provision/layer/b.js")');
    // Only import lines differ from the start.
    const diff = (await sh`git diff -M HEAD --unified=0`).stdout;
    const changed = diff.split("\n").filter((l) => /^[+-](?![+-])/.test(l));
    for (const l of changed) expect(l, l).toMatch(/^[+-](import|export const load = \(\) => import|vi\.mock)/);
  });

  it("refuses a file that git does not track, changing nothing", async () => {
    write("moves2.json", JSON.stringify({ "provision/nope.ts": "provision/layer/" }));
    const r = await sh({ nothrow: true })`node .ci/move-files.mjs moves2.json`;
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toMatch(/provision\/nope\.ts is not a tracked file/);
  });
});
