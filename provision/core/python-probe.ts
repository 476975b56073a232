// The one question asked of a Python that is to run the runtime, on the host (the local
// provider's nodes) or on a node (its machine stage): does pythonX.Y start, and does it
// have the venv module install.sh makes the venv with (`-m venv --without-pip`)?

/** Prints X.Y.Z, or fails with "No module named 'venv'" where the module is missing. */
export const PYTHON_PROBE = "import sys, venv; print('%d.%d.%d' % sys.version_info[:3])";

export type PythonProbeOutcome = { readonly version: string } | { readonly problem: "no-venv" | "failed" };

/** What a run of PYTHON_PROBE says. */
export function pythonProbeOutcome(r: {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}): PythonProbeOutcome {
  if (r.exitCode === 0) return { version: r.stdout.trim() };
  return { problem: /No module named .?venv/.test(r.stderr) ? "no-venv" : "failed" };
}
