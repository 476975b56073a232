// The argument parser every `npm run` command shares (provision/core/cli-args.ts), and each
// command's --help through the real entry point, in a checkout whose path has a space and
// a non-ASCII letter, reached through a symlink (where a guard comparing import.meta.url
// with argv[1] once made every command print nothing and exit 0): --verbose and --help
// are everywhere, an unknown flag is exit 2 with the usage.
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import { $ } from "zx";
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { intFlag, parseCli } from "../provision/core/cli-args.js";
import { UserError } from "../provision/core/errors.js";
import { makeCheckout, REPO } from "./helpers/project.js";

const COMMANDS = [
  "bench-deploy",
  "benchmark",
  "chaos",
  "class",
  "connect",
  "dashboard",
  "data",
  "demo",
  "diagnose",
  "docs",
  "doctor",
  "exec",
  "faults-table",
  "kit",
  "lab",
  "lock",
  "logs",
  "notebook",
  "setup",
  "ssh",
  "start",
  "status",
  "stop",
  "submit",
  "verify-versions",
];

describe("parseCli", () => {
  const saved = process.env.DVC_VERBOSE;
  afterEach(() => {
    if (saved === undefined) delete process.env.DVC_VERBOSE;
    else process.env.DVC_VERBOSE = saved;
    vi.restoreAllMocks();
  });

  it("parses the command's own options and adds --verbose, which the stages it starts inherit", () => {
    delete process.env.DVC_VERBOSE;
    const parsed = parseCli(["--size", "small", "-v"], "usage: x", { size: { type: "string" } });
    expect(parsed?.values.size).toBe("small");
    expect(process.env.DVC_VERBOSE).toBe("1");
  });

  it("prints the usage with the common flags for --help and returns undefined", () => {
    const out = vi.spyOn(process.stdout, "write").mockImplementation(() => true);
    expect(parseCli(["--help"], "usage: x\n  --json   j\nexit: 0 ok", { json: { type: "boolean" } })).toBeUndefined();
    const printed = String(out.mock.calls[0]?.[0]);
    expect(printed).toMatch(/--verbose, -v/);
    // the common flags go before the exit codes line, which stays last
    expect(printed.trim().split("\n").at(-1)).toBe("exit: 0 ok");
  });

  it("refuses an unknown flag and a stray positional with exit 2 and the usage as the fix", () => {
    for (const argv of [["--bogus"], ["stray"]]) {
      let err: unknown;
      try {
        parseCli(argv, "usage: x", {});
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(UserError);
      expect((err as UserError).exitCode).toBe(2);
      expect((err as UserError).render()).toMatch(/usage: x/);
    }
    expect(parseCli(["node1"], "usage: x", {}, { positionals: true })?.positionals).toEqual(["node1"]);
  });

  it("intFlag keeps whole numbers within bounds, names the flag otherwise", () => {
    expect(intFlag("nodes", undefined, 1, 3)).toBeUndefined();
    expect(intFlag("nodes", "2", 1, 3)).toBe(2);
    for (const bad of ["0", "4", "1.5", "x", ""])
      expect(() => intFlag("nodes", bad, 1, 3)).toThrow(/--nodes .* is not valid/);
  });
});

describe('every command, through its real entry point in a checkout at "Cours Dask é", reached through a symlink', () => {
  const checkout = makeCheckout("dvc-cli-");
  afterAll(() => rmSync(checkout.top, { recursive: true, force: true }));

  it("runs every npm verb through the one dispatcher, which knows exactly those verbs; stage.ts, launch.mjs and cli.ts are the only files directly in provision/", () => {
    const pkg = JSON.parse(readFileSync(path.join(REPO, "package.json"), "utf8")) as {
      scripts: Record<string, string>;
    };
    const dispatched = Object.values(pkg.scripts)
      .map((s) => /^tsx provision\/cli\.ts ([a-z-]+)$/.exec(s)?.[1])
      .filter((v): v is string => v !== undefined);
    expect(dispatched.sort()).toEqual([...COMMANDS].sort());
    // Importing cli.ts would run it (with vitest's argv): its table is read from the source.
    const table = [
      ...readFileSync(path.join(REPO, "provision", "cli.ts"), "utf8").matchAll(
        /^\s+"?([a-z-]+)"?: \(\) => import\("\.\/commands\/([a-z-]+)\.js"\)/gm,
      ),
    ];
    expect(table.map((m) => m[1]).sort()).toEqual([...COMMANDS].sort());
    for (const m of table) expect(m[2], `the verb ${m[1]} lives in provision/commands/${m[1]}.ts`).toBe(m[1]);
    const files = readdirSync(path.join(REPO, "provision"), { withFileTypes: true }).filter((d) => d.isFile());
    expect(files.map((d) => d.name).sort()).toEqual(["cli.ts", "launch.mjs", "stage.ts"]);
  });

  it.each(COMMANDS)("%s: --help exits 0 listing --verbose; --no-such-flag exits 2 naming it", async (name) => {
    // As npm runs it (tsx), and as Terraform runs the stages (node --import tsx), relative to the link.
    const script = [path.join("provision", "cli.ts"), name];
    for (const launcher of [["node_modules/.bin/tsx"], [process.execPath, "--import", "tsx"]]) {
      const help = await $({ cwd: checkout.link, nothrow: true, quiet: true })`${launcher} ${script} --help`;
      expect(help.exitCode, help.stderr).toBe(0);
      expect(help.stdout).toMatch(/^usage: /);
      expect(help.stdout).toMatch(/--verbose/);
      const bad = await $({ cwd: checkout.link, nothrow: true, quiet: true })`${launcher} ${script} --no-such-flag`;
      expect(bad.exitCode).toBe(2);
      expect(bad.stderr).toMatch(/--no-such-flag/);
      expect(bad.stderr).not.toMatch(/\n\s+at /); // no stack trace
    }
  });

  it("an unknown or missing command: exit 2, the nearest verb and every verb as the fix, no stack trace", async () => {
    const typo = await $({
      cwd: checkout.link,
      nothrow: true,
      quiet: true,
    })`node_modules/.bin/tsx provision/cli.ts verify-version`;
    expect(typo.exitCode).toBe(2);
    expect(typo.stderr).toMatch(/unknown command "verify-version"/);
    expect(typo.stderr).toMatch(/did you mean "verify-versions"\? one of: bench-deploy, benchmark, .*verify-versions/);
    expect(typo.stderr).not.toMatch(/\n\s+at /);
    const none = await $({ cwd: checkout.link, nothrow: true, quiet: true })`node_modules/.bin/tsx provision/cli.ts`;
    expect(none.exitCode).toBe(2);
    expect(none.stderr).toMatch(/no command given/);
  });

  it.each(["stop", "start"])("%s with nothing deployed: exit 2 with the fix, and nothing written", async (name) => {
    const r = await $({
      cwd: checkout.link,
      nothrow: true,
      quiet: true,
    })`node_modules/.bin/tsx ${path.join("provision", "cli.ts")} ${name}`;
    expect(r.exitCode, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/nothing is deployed from this checkout/);
    expect(r.stderr).toMatch(/fix: deploy first: npx cdktf deploy/);
    expect(existsSync(path.join(checkout.dir, ".cluster", "stopped.json"))).toBe(false);
  });

  it("stage: runs through the link too, and a stage that cannot start exits non-zero saying why", async () => {
    const run = (args: string[], spec?: string) =>
      $({
        cwd: checkout.link,
        nothrow: true,
        quiet: true,
        env: { ...process.env, DVC_SPEC: spec ?? "" },
      })`${process.execPath} --import tsx provision/stage.ts ${args}`;
    const noAction = await run([]);
    expect(noAction.exitCode).toBe(2);
    expect(noAction.stderr).toMatch(/unknown action ""/);
    const noSpec = await run(["apply"]);
    expect(noSpec.exitCode).toBe(2);
    expect(noSpec.stderr).toMatch(/DVC_SPEC is empty/);
    const badStage = await run(["apply"], JSON.stringify({ stage: "teleport" }));
    expect(badStage.exitCode).toBe(2);
    expect(badStage.stderr).toMatch(/unknown stage "teleport"[\s\S]*one of: preflight, network/);
  });
});
