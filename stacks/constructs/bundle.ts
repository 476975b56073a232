// The runtime bundle, built once on the host: a wheelhouse for the target Python and
// platform, the runtime package and service files, content-addressed by the lock's hash.
import type { Construct } from "constructs";
import type { ClusterRef, RuntimeRef } from "../../provision/core/stage-spec.js";
import { StageResource } from "./stage-resource.js";
import type { Preflight } from "./preflight.js";

export interface BundleProps {
  /** The cluster the bundle is for. */
  readonly cluster: ClusterRef;
  /** Target Python, platform and the content hashes that name the bundle. */
  readonly runtime: RuntimeRef;
  /** Must have passed first. */
  readonly preflight: Preflight;
}

export class Bundle extends StageResource {
  constructor(scope: Construct, id: string, props: BundleProps) {
    super(scope, id, {
      spec: { stage: "bundle", cluster: props.cluster, runtime: props.runtime },
      after: [props.preflight],
      undo: false,
    });
  }
}
