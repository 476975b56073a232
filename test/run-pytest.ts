// `npm run test:python`: pytest for cluster-runtime/ (test/cluster-runtime/), in a venv of
// exactly the runtime's lock, made once per lock in the cache from the bundle's own
// wheelhouse (the same wheels every node installs, --require-hashes), plus pytest. The
// venv's Python is the nodes' X.Y (python3.11 on PATH); without it, it says so and fails.
import { existsSync } from "node:fs";
import path from "node:path";
import { buildBundle, lockPath, runtimeHashes } from "../provision/lib/bundle.js";
import { runCli, UserError } from "../provision/lib/errors.js";
import { PROJECT_DIR, cacheDir } from "../provision/lib/paths.js";
import { runProcess } from "../provision/lib/process.js";

const PYTHON = "3.11";
const PYTEST = "pytest==9.2.0";

await runCli(async () => {
  const runtime = { python: PYTHON, platform: "x86_64" as const, ...runtimeHashes(PROJECT_DIR, "x86_64") };
  const cache = cacheDir();
  await buildBundle(runtime, { projectDir: PROJECT_DIR, cacheDir: cache, onProgress: (m) => process.stderr.write(`test:python: ${m}\n`) });
  const wheelhouse = path.join(cache, `wheelhouse-${runtime.lockSha256.slice(0, 16)}-x86_64`);
  const venv = path.join(cache, `test-venv-${runtime.lockSha256.slice(0, 16)}`);
  const py = path.join(venv, "bin", "python");
  const run = async (argv: string[], what: string) => {
    const r = await runProcess(argv, { inherit: true, cwd: PROJECT_DIR });
    if (r.exitCode !== 0)
      throw new UserError(
        `test:python: ${what} failed (exit ${r.exitCode})`,
        r.missing ? 2 : 1,
        r.missing ? [{ path: argv[0]!, message: "not found", fix: `install Python ${PYTHON} with its venv module` }] : [],
      );
    return r;
  };
  if (!existsSync(path.join(venv, ".complete"))) {
    await run([`python${PYTHON}`, "-m", "venv", "--clear", venv], "making the venv");
    await run(
      [py, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-index", "--find-links", wheelhouse, "--require-hashes", "-r", lockPath(PROJECT_DIR, "x86_64")],
      "installing the locked runtime",
    );
    await run([py, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", PYTEST], `installing ${PYTEST}`);
    await run([py, "-c", "open(__import__('sys').argv[1], 'w').close()", path.join(venv, ".complete")], "marking the venv");
  }
  const r = await runProcess([py, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test/cluster-runtime"], { inherit: true, cwd: PROJECT_DIR });
  return r.exitCode;
});
