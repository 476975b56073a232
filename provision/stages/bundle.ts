// bundle: the runtime bundle (wheelhouse of the lock, the runtime package, install.sh),
// built once on the host, content-addressed in the cache. Its destroy keeps it: the
// cache is shared by every checkout and cluster.
import { bundleFor } from "../lib/install.js";
import { runtimeOf } from "../lib/spec.js";
import type { Stage } from "../lib/stage.js";

export const bundle: Stage = {
  name: "bundle",
  async apply({ spec, host, log }) {
    const r = runtimeOf(spec);
    await log.timed("bundle", `building the runtime bundle for Python ${r.python} on ${r.platform}`, () => bundleFor(spec, { log, env: host.env }));
  },
};
