// Stage implementations by name; each module exports apply(spec) and destroy(spec).
import type { StageName, StageSpec } from "../lib/spec.js";

export interface StageImpl {
  apply(spec: StageSpec): Promise<void>;
  destroy(spec: StageSpec): Promise<void>;
}

const modules: Record<StageName, () => Promise<StageImpl>> = {
  preflight: () => import("./machines.js").then((m) => m.preflight),
  network: () => import("./machines.js").then((m) => m.network),
  box: () => import("./machines.js").then((m) => m.box),
  machine: () => import("./machines.js").then((m) => m.machine),
  bundle: () => import("./runtime.js").then((m) => m.bundle),
  install: () => import("./runtime.js").then((m) => m.install),
  "version-gate": () => import("./runtime.js").then((m) => m.versionGate),
  tls: () => import("./services.js").then((m) => m.tls),
  scheduler: () => import("./services.js").then((m) => m.scheduler),
  worker: () => import("./services.js").then((m) => m.worker),
  benchmark: () => import("./services.js").then((m) => m.benchmark),
};

export function stageImpl(name: StageName): Promise<StageImpl> {
  return modules[name]();
}
