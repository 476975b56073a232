// A Python with the runtime's packages on this machine, for suites that start Dask
// processes themselves (a scheduler and workers on loopback or in namespaces):
// $DVC_BENCH_PYTHON, else the venv in $TMPDIR/bench-venv, made from the runtime lock
// (cluster-runtime/requirements-x86_64.lock) when it is missing.
import { existsSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { $ } from "zx";
import { shq } from "../../provision/machines/transport.js";

const RUNTIME = path.resolve(import.meta.dirname, "..", "..", "cluster-runtime");

/** A Python with the runtime's packages: $DVC_BENCH_PYTHON, or a venv made from the lock. */
export async function benchPython(): Promise<string> {
  const given = process.env.DVC_BENCH_PYTHON;
  if (given) return given;
  const venv = path.join(os.tmpdir(), "bench-venv");
  const py = path.join(venv, "bin", "python");
  const ok =
    existsSync(py) &&
    (await $({ nothrow: true, quiet: true })`${py} -c ${"import dask.array, distributed, numpy, scipy.sparse"}`)
      .exitCode === 0;
  if (ok) return py;
  process.stderr.write(`no DVC_BENCH_PYTHON and no usable ${venv}: making it from the runtime lock (needs PyPI)\n`);
  // Suites run side by side: one makes the venv, the others wait for it (flock), then find it made.
  const make = `[ -x ${shq(py)} ] && ${shq(py)} -c 'import distributed, scipy.sparse' 2>/dev/null || { rm -rf ${shq(venv)} && python3.11 -m venv ${shq(venv)} && ${shq(py)} -m pip install --quiet --require-hashes -r ${shq(path.join(RUNTIME, "requirements-x86_64.lock"))}; }`;
  await $({ quiet: true, timeout: 900_000 })`flock ${`${venv}.lock`} bash -c ${make}`;
  return py;
}
