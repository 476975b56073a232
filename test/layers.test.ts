// The layer check of `npm run lint` (dependency-cruiser with .dependency-cruiser.cjs): it
// passes on this tree, and it fails, naming the rule and the files, on a copy of the tree
// with an import circle, with a lower layer importing a higher one, and with the stack
// importing a command. The command is the one package.json's lint script runs.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { $ } from "zx";
import { CHECKOUT_FILES, copyCheckout } from "../provision/host/checkout-copy.js";
import { REPO } from "./helpers/project.js";

/** The dependency-cruiser part of package.json's lint script, as argv. */
function layerCheckArgv(): string[] {
  const pkg = JSON.parse(readFileSync(path.join(REPO, "package.json"), "utf8")) as { scripts: Record<string, string> };
  const part = pkg.scripts
    .lint!.split("&&")
    .map((s) => s.trim())
    .find((s) => s.startsWith("depcruise "));
  if (!part) throw new Error("package.json's lint script runs no depcruise");
  return part.split(/\s+/);
}

const check = (cwd: string) =>
  $({
    cwd,
    nothrow: true,
    quiet: true,
  })`${path.join(REPO, "node_modules", ".bin", "depcruise")} ${layerCheckArgv().slice(1)}`;

describe("the layer check in npm run lint", () => {
  const top = mkdtempSync(path.join(os.tmpdir(), "dvc-layers-"));
  afterAll(() => rmSync(top, { recursive: true, force: true }));

  /** A copy of what the check reads, with extra files written into it. */
  function copyWith(name: string, files: Record<string, string>): string {
    const dir = path.join(top, name);
    copyCheckout(REPO, dir, [...CHECKOUT_FILES, ".dependency-cruiser.cjs"]);
    for (const [rel, text] of Object.entries(files)) writeFileSync(path.join(dir, rel), text);
    return dir;
  }

  it("passes on this tree: no circle, no layer importing one above it", async () => {
    const r = await check(REPO);
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/no dependency violations found/);
  });

  it("fails on an import circle, naming the files in it", async () => {
    const dir = copyWith("circle", {
      "provision/core/circle-a.ts": 'import { b } from "./circle-b.js";\nexport const a = () => b;\n',
      "provision/core/circle-b.ts": 'import { a } from "./circle-a.js";\nexport const b = () => a;\n',
    });
    const r = await check(dir);
    expect(r.exitCode).not.toBe(0);
    expect(r.stdout).toMatch(/error no-circular: provision\/core\/circle-a\.ts →\s+provision\/core\/circle-b\.ts/);
  });

  it.each([
    ["core", "provision/core/up.ts", "../commands/status.js", "layer-core"],
    ["machines", "provision/machines/up.ts", "../config/resolve.js", "layer-machines"],
    ["runtime", "provision/runtime/up.ts", "../services/definitions.js", "layer-runtime"],
    ["stages", "provision/stages/up.ts", "../commands/doctor.js", "layer-stages"],
    ["stacks", "stacks/up.ts", "../provision/commands/status.js", "stacks-not-commands"],
  ])("fails when %s imports a layer above it (%s -> %s): rule %s", async (name, file, spec, rule) => {
    const dir = copyWith(`up-${name}`, { [file]: `import * as above from "${spec}";\nexport const x = above;\n` });
    const r = await check(dir);
    expect(r.exitCode).not.toBe(0);
    expect(r.stdout).toContain(`error ${rule}: ${file} → `);
  });

  it("a type-only import counts: a shared type belongs in the lower layer", async () => {
    const dir = copyWith("type-only", {
      "provision/host/typed.ts":
        'import type { Cluster } from "../core/model.js";\nimport type { Deployed } from "../state/deployed.js";\nexport type T = [Cluster, Deployed];\n',
    });
    const r = await check(dir);
    expect(r.exitCode).not.toBe(0);
    expect(r.stdout).toContain("error layer-host: provision/host/typed.ts → provision/state/deployed.ts");
  });
});
