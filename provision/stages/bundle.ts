// bundle: the runtime bundle (wheelhouse of the lock, the runtime package, install.sh),
// built once on the host, content-addressed in the cache. Its destroy keeps it: the
// cache is shared by every checkout and cluster. Each apply records that this cluster uses
// the bundle and marks it used; then the cache is pruned to what deployed clusters use
// and the few most recent builds (runtime/cache.ts).
import path from "node:path";
import { wheelhouseDir } from "../runtime/bundle.js";
import { markUsed, mb, pruneCache, recordClusterUse } from "../runtime/cache.js";
import { bundleFor } from "../runtime/install.js";
import { cacheDir } from "../host/paths.js";
import { runtimeOf } from "../core/stage-spec.js";
import type { Stage } from "./stage-types.js";

export const bundle: Stage = {
  name: "bundle",
  async apply({ spec, host, log }) {
    const r = runtimeOf(spec);
    const b = await log.timed("bundle", `building the runtime bundle for Python ${r.python} on ${r.platform}`, () =>
      bundleFor(spec, { log, env: host.env }),
    );
    const cache = cacheDir(host.env);
    const wheelhouse = wheelhouseDir(cache, r);
    markUsed(b.tarPath, `${b.tarPath}.sha256`, b.pycachePath, wheelhouse);
    recordClusterUse(cache, {
      clusterId: spec.cluster.id,
      clusterDir: spec.cluster.clusterDir,
      bundleId: b.bundleId,
      wheelhouse: path.basename(wheelhouse),
    });
    const pruned = pruneCache(cache);
    if (pruned.removed.length)
      log.step(
        "bundle",
        `cache: removed ${pruned.removed.map((i) => `${i.kind} ${i.key}`).join(", ")} (${mb(pruned.freedBytes)}), which no deployed cluster uses; ${mb(pruned.kept.reduce((s, i) => s + i.bytes, 0))} kept in ${cache}`,
      );
  },
};
