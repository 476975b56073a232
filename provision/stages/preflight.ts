// preflight: the host checks of the provider, and memory and disk for the nodes, before
// anything is created. The very checks `npm run doctor` shows (host/checks.ts): a
// failed one stops the deploy with exit 2, naming every failure and its fix.
import { enforce } from "../core/check-rows.js";

import type { Stage } from "./stage-types.js";
import { boxOf, runtimeOf } from "../core/stage-spec.js";
import { preflightChecks } from "../machines/preflight-checks.js";

export const preflight: Stage = {
  name: "preflight",
  async apply({ spec, host, provider, log }) {
    const runtime = runtimeOf(spec);
    await log.timed("preflight", `checking the host for the ${provider.name} provider`, async () => {
      const rows = await preflightChecks(provider, host, spec.cluster, {
        box: boxOf(spec),
        python: runtime.python,
        platform: runtime.platform,
        dask: spec.dask,
      });
      enforce(rows, `preflight for provider ${provider.name}`, host.warn);
    });
  },
};
