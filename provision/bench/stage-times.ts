// How long each stage took, as its own process saw it: written by provision/stage.ts when
// DVC_STAGE_TIMES names a file (one JSON line per stage run, appended), read by the deploy
// benchmark (bench/deploy-run.ts). Nothing is written otherwise.
import { appendFileSync, existsSync, readFileSync } from "node:fs";

export interface StageTime {
  /** The stage's resource name: machine-node2, scheduler. */
  readonly resource: string;
  readonly action: string;
  /** Epoch milliseconds: when node started the stage's process (performance.timeOrigin). */
  readonly processStart: number;
  /** When the stage's work began, after its code was loaded. */
  readonly began: number;
  readonly ended: number;
  readonly ok: boolean;
}

export function recordStageTime(env: NodeJS.ProcessEnv, t: StageTime): void {
  const file = env.DVC_STAGE_TIMES;
  if (!file) return;
  // One short line per append: whole on every OS when stages finish together.
  appendFileSync(file, `${JSON.stringify({ ...t, processStart: Math.round(t.processStart) })}\n`);
}

export function readStageTimes(file: string): StageTime[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as StageTime);
}
