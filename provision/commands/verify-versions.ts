// `npm run verify-versions`: the version gate (provision/services/version-gate/gate.ts), standalone, on
// the deployed cluster, and this computer's client venv when npm run connect -- --venv
// made one. Exit 0 identical, 1 drift, 2 bad input or an unreachable node.
import { parseCli } from "../core/cli-args.js";
import { operatorContext } from "../state/cluster-ref.js";
import { deployedRuntime } from "../state/deployed.js";
import { UserError } from "../core/errors.js";
import { verify } from "../services/version-gate/gate.js";

const USAGE = `usage: npm run verify-versions -- [--json] [--all] [--fix] [--no-services]
  --json         machine-readable report on stdout
  --all          show every row, not only the differing ones
  --fix          reinstall the bundle on drifting nodes, restart their services, check again
  --no-services  skip the scheduler/workers/client comparison (default: on when they run)
exit: 0 identical, 1 drift, 2 bad input or an unreachable node`;

export async function cli(argv: readonly string[]): Promise<number> {
  const parsed = parseCli(argv, USAGE, {
    json: { type: "boolean", default: false },
    all: { type: "boolean", default: false },
    fix: { type: "boolean", default: false },
    "no-services": { type: "boolean", default: false },
  });
  if (!parsed) return 0;
  const { values } = parsed;
  const { deployed, provider, host } = operatorContext();
  const code = await verify({
    host,
    cluster: deployed.cluster,
    provider,
    runtime: deployedRuntime(deployed),
    services: !values["no-services"],
    json: values.json,
    all: values.all,
    fix: values.fix,
    dask: deployed.dask,
  });
  if (code === 2) throw new UserError("some nodes could not be reached: is the cluster deployed (cdktf deploy)?", 2);
  return code;
}
