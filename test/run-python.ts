// The Python tools of the project's own checks, in one venv: `tsx test/run-python.ts pytest`
// (npm run test:python: pytest for cluster-runtime/, test/cluster-runtime/) and
// `tsx test/run-python.ts ruff ARGS` (npm run lint and format). The venv holds exactly the
// runtime's lock, from the bundle's own wheelhouse (the same wheels every node installs,
// --require-hashes), plus pinned pytest and ruff; it is made once per lock and tool set in
// the cache, so neither tool needs installing by hand. Its Python is the nodes' X.Y
// (python3.11 on PATH); without it, it says so and fails.
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import path from "node:path";
import { buildBundle, lockPath, runtimeRef, wheelhouseDir } from "../provision/runtime/bundle.js";
import { runCli, UserError } from "../provision/core/errors.js";
import { PROJECT_DIR, cacheDir } from "../provision/host/paths.js";
import { runProcess } from "../provision/host/process.js";

const PYTHON = "3.11";
const TOOLS = ["pytest==9.2.0", "ruff==0.17.6"];
const USAGE = "usage: tsx test/run-python.ts pytest [ARGS] | ruff ARGS";

await runCli(async () => {
  const [tool, ...args] = process.argv.slice(2);
  if (tool !== "pytest" && tool !== "ruff")
    throw new UserError(`test/run-python.ts: no tool ${JSON.stringify(tool ?? "")}`, 2, [
      { path: "argv[0]", message: "not pytest or ruff", fix: USAGE },
    ]);
  const runtime = runtimeRef(PROJECT_DIR, PYTHON, "x86_64");
  const cache = cacheDir();
  await buildBundle(runtime, {
    projectDir: PROJECT_DIR,
    cacheDir: cache,
    onProgress: (m) => process.stderr.write(`run-python: ${m}\n`),
  });
  const wheelhouse = wheelhouseDir(cache, runtime);
  const tools = createHash("sha256").update(TOOLS.join("\n")).digest("hex").slice(0, 8);
  const venv = path.join(cache, `test-venv-${runtime.lockSha256.slice(0, 16)}-${tools}`);
  const bin = path.join(venv, process.platform === "win32" ? "Scripts" : "bin");
  const py = path.join(bin, "python");
  const run = async (argv: string[], what: string) => {
    const r = await runProcess(argv, { inherit: true, cwd: PROJECT_DIR });
    if (r.exitCode !== 0)
      throw new UserError(
        `run-python: ${what} failed (exit ${r.exitCode})`,
        r.missing ? 2 : 1,
        r.missing
          ? [{ path: argv[0]!, message: "not found", fix: `install Python ${PYTHON} with its venv module` }]
          : [],
      );
    return r;
  };
  if (!existsSync(path.join(venv, ".complete"))) {
    await run([`python${PYTHON}`, "-m", "venv", "--clear", venv], "making the venv");
    await run(
      [
        py,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-index",
        "--find-links",
        wheelhouse,
        "--require-hashes",
        "-r",
        lockPath(PROJECT_DIR, "x86_64"),
      ],
      "installing the locked runtime",
    );
    await run(
      [py, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", ...TOOLS],
      `installing ${TOOLS.join(" and ")}`,
    );
    await run(
      [py, "-c", "open(__import__('sys').argv[1], 'w').close()", path.join(venv, ".complete")],
      "marking the venv",
    );
  }
  const argv =
    tool === "pytest"
      ? [py, "-m", "pytest", "-q", "-p", "no:cacheprovider", ...(args.length ? args : ["test/cluster-runtime"])]
      : [path.join(bin, "ruff"), ...args];
  const r = await runProcess(argv, { inherit: true, cwd: PROJECT_DIR });
  return r.exitCode;
});
