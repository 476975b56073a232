// provision/launch.mjs, what cdktf's app and every stage Terraform starts run through: the
// entry compiled once by esbuild into cdktf.out/.compiled/, run with its own arguments,
// compiled again only when a file it was built from changed, in a checkout whose path has
// a space and a non-ASCII letter, reached through a symlink.
import { appendFileSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { $ } from "zx";
import { makeCheckout } from "./helpers/project.js";

let checkout: ReturnType<typeof makeCheckout>;
const compiled = () => path.join(checkout.dir, "cdktf.out", ".compiled");
const manifest = (name: string) =>
  JSON.parse(readFileSync(path.join(compiled(), `${name}.json`), "utf8")) as {
    output: string;
    files: string[];
    inputs: Record<string, string>;
  };
const launch = (...args: string[]) =>
  $({ cwd: checkout.link, nothrow: true, quiet: true })`${process.execPath} provision/launch.mjs ${args}`;

beforeAll(() => {
  checkout = makeCheckout("dvc-launch-");
  // An entry that says where it runs from and what it was given.
  writeFileSync(
    path.join(checkout.dir, "provision", "where.ts"),
    'import { PROJECT_DIR } from "./host/paths.js";\nconsole.log(JSON.stringify({ project: PROJECT_DIR, argv: process.argv.slice(2) }));\n',
  );
});
afterAll(() => {
  if (checkout) rmSync(checkout.top, { recursive: true, force: true });
});

describe("provision/launch.mjs", () => {
  it("runs a TypeScript entry compiled, with its own arguments and the checkout as its project", async () => {
    const r = await launch("provision/where.ts", "apply", "a b");
    expect(r.exitCode, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ project: checkout.dir, argv: ["apply", "a b"] });
    const m = manifest("provision-where");
    expect(m.output).toMatch(/^provision-where-[A-Z0-9]+\.mjs$/);
    expect(Object.keys(m.inputs)).toEqual(["provision/host/paths.ts", "provision/where.ts"]);
    expect(readdirSync(compiled())).toContain(m.output);
  });

  it("compiles again only when a file it was built from changed", async () => {
    const before = manifest("provision-where");
    const at = statSync(path.join(compiled(), "provision-where.json")).mtimeMs;
    expect((await launch("provision/where.ts")).exitCode).toBe(0);
    expect(statSync(path.join(compiled(), "provision-where.json")).mtimeMs).toBe(at);
    appendFileSync(
      path.join(checkout.dir, "provision", "host", "paths.ts"),
      '\nexport const LAUNCH_TEST = "changed";\n',
    );
    appendFileSync(
      path.join(checkout.dir, "provision", "where.ts"),
      'import { LAUNCH_TEST } from "./host/paths.js";\nconsole.error(LAUNCH_TEST);\n',
    );
    const r = await launch("provision/where.ts");
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr.trim()).toBe("changed");
    expect(manifest("provision-where").output).not.toBe(before.output);
  });

  it("--prepare compiles the stage runner without running it; a stage then runs from it and fails as it should", async () => {
    const p = await launch("--prepare", "provision/stage.ts");
    expect(p.exitCode, p.stderr).toBe(0);
    expect(p.stdout + p.stderr).toBe("");
    const m = manifest("provision-stage");
    expect(m.inputs).toHaveProperty(["provision/stages/index.ts"]);
    const r = await launch("provision/stage.ts", "bogus");
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/unknown action "bogus"/);
  });

  it("a source that does not compile makes the command fail, never succeed silently", async () => {
    writeFileSync(path.join(checkout.dir, "provision", "broken.ts"), "export const x: number = ;\n");
    const r = await launch("provision/broken.ts");
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toMatch(/broken\.ts/);
  });

  it("refuses a missing entry with exit 2 and says what to give", async () => {
    const r = await launch("provision/nope.ts");
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/does not exist: give a TypeScript entry point/);
    expect((await launch()).exitCode).toBe(2);
  });
});
