// The GitHub Actions workflow (.github/workflows/ci.yml), which runs the fast tier, doctor
// and synth on Windows, macOS and Linux arm64 runners for anyone with a fork, checked by
// actionlint: expressions, runner labels, action inputs, and the shell of each step.
// actionlint is built once from the Go module proxy into the project's cache, at a pinned
// version (the proxy serves no @latest for it). Needs Go and the module proxy.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { $ } from "zx";
import { cacheDir, PROJECT_DIR } from "../provision/host/paths.js";

const ACTIONLINT = "v1.7.12";
const WORKFLOW = path.join(PROJECT_DIR, ".github", "workflows", "ci.yml");
let bin = "";

beforeAll(async () => {
  const dir = path.join(cacheDir(), "go-bin", `actionlint-${ACTIONLINT}`);
  bin = path.join(dir, "actionlint");
  if (!existsSync(bin)) {
    mkdirSync(dir, { recursive: true });
    await $({
      quiet: true,
      env: { ...process.env, GOBIN: dir, GOFLAGS: "-mod=mod" },
    })`go install ${`github.com/rhysd/actionlint/cmd/actionlint@${ACTIONLINT}`}`;
  }
}, 600_000);

describe(`the GitHub Actions workflow, checked by actionlint ${ACTIONLINT}`, () => {
  it("passes actionlint", async () => {
    const r = await $({ nothrow: true, quiet: true, cwd: PROJECT_DIR })`${bin} -no-color ${WORKFLOW}`;
    expect(`${r.stdout}${r.stderr}`).toBe("");
    expect(r.exitCode).toBe(0);
  });

  it("covers Windows, macOS Intel and Apple Silicon, Linux x64 and arm64, on Node 22, 24 and 26", () => {
    const text = readFileSync(WORKFLOW, "utf8");
    expect(text).toMatch(/os: \[windows-latest, macos-15-intel, macos-latest, ubuntu-latest, ubuntu-24\.04-arm\]/);
    expect(text).toMatch(/node: \["22", "24", "26"\]/);
    for (const step of ["npm run test:unit", "npm run -s doctor", "npx cdktf synth"]) expect(text).toContain(step);
  });

  it("fails a workflow with a mistake in it (the check is not vacuous)", async () => {
    const tmp = mkdtempSync(path.join(os.tmpdir(), "dvc-actionlint-"));
    try {
      const broken = path.join(tmp, "broken.yml");
      writeFileSync(broken, readFileSync(WORKFLOW, "utf8").replace("${{ matrix.node }}\n", "${{ matrix.nodes }}\n"));
      const r = await $({ nothrow: true, quiet: true })`${bin} -no-color ${broken}`;
      expect(r.exitCode).toBe(1);
      expect(r.stdout).toMatch(/property "nodes" is not defined/);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});
