// What a person reads of a `cdktf deploy` or `cdktf destroy`: one line when a stage
// starts and one when it is done, with the time (and one a minute while a long stage
// runs), instead of Terraform's whole plan (every
// stage's spec: about 2,000 lines for three nodes) and every stage's progress. Fed the
// CLI's output line by line; the full output goes to a log file beside it (the demo's).
// A stage is its `converge-<stage>` resource on deploy (the one that applies it) and its
// `<stage>` resource on destroy (whose destroy provisioner removes it). When the run
// fails, failure() gives each unfinished stage's own error lines, or Terraform's.

export type DeployVerb = "deploy" | "destroy";

/** Colours and cursor moves of the CLI's output. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: ESC starts every sequence it strips
const ANSI = /\x1b\[[0-9;?]*[A-Za-z]/g;
/**
 * "<stack>  null_resource.<name>[ (<construct path>)][ (local-exec)]: <text>": the stack
 * name only on some lines, the construct path (install-node1/converge) where cdktf adds it
 * (with CI set, as in GitHub Actions).
 */
const RESOURCE_LINE = /null_resource\.([A-Za-z0-9_-]+)(?: \((?!local-exec\))[^)]*\))?( \(local-exec\))?: (.*)$/;
const STARTED = { deploy: /^(Creating|Modifying)\.\.\./, destroy: /^Destroying\.\.\./ } as const;
const DONE = { deploy: /^(Creation|Modifications) complete after/, destroy: /^Destruction complete after/ } as const;
/** Terraform's every-10-seconds line while a resource is still being made or removed. */
const STILL = /^Still (creating|modifying|destroying)\.\.\./;
/** A long stage (the full benchmark: minutes) says it is still running this often. */
const NOTICE_MS = 60_000;
/** Lines of a stage's output that say nothing to a reader of its error. */
const NOISE = /^Executing: \[|^\s*$/;

interface StageRun {
  readonly started: number;
  done?: number;
  /** When the last "still running" line was shown. */
  noticed?: number;
  /** Its own output (what provision/stage.ts printed), last lines only. */
  readonly output: string[];
}

export class DeployProgress {
  private readonly stages = new Map<string, StageRun>();
  /** Terraform's and cdktf's own error lines (not a stage's). */
  private readonly errors: string[] = [];
  private readonly t0: number;

  constructor(
    private readonly verb: DeployVerb,
    /** Where each line for the reader goes. */
    private readonly emit: (line: string) => void,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.t0 = now();
  }

  private clock(at: number): string {
    const s = Math.floor((at - this.t0) / 1000);
    return `+${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
  }

  /** The stage a resource stands for in this verb, or undefined (the other half of the pair). */
  private stageOf(resource: string): string | undefined {
    const converge = resource.startsWith("converge-");
    if (this.verb === "deploy") return converge ? resource.slice("converge-".length) : undefined;
    return converge ? undefined : resource;
  }

  /** One line of the CLI's output (stdout or stderr), as it came. */
  line(raw: string): void {
    const text = raw.replace(ANSI, "").replace(/\r/g, "");
    const m = RESOURCE_LINE.exec(text);
    if (!m) {
      const t = text.replace(/^\S+\s{2,}/, "").trim();
      if (/^[│╷╵]?\s*Error:/.test(t) || (this.errors.length && /^[│╷╵]/.test(t))) this.errors.push(t);
      return;
    }
    const [, resource, localExec, rest] = m as unknown as [string, string, string | undefined, string];
    const stage = resource.startsWith("converge-") ? resource.slice("converge-".length) : resource;
    if (localExec) {
      const run = this.stages.get(stage);
      if (run && !NOISE.test(rest)) {
        run.output.push(rest);
        if (run.output.length > 200) run.output.shift();
      }
      return;
    }
    const own = this.stageOf(resource);
    if (!own) return;
    const at = this.now();
    if (STARTED[this.verb].test(rest) && !this.stages.has(own)) {
      this.stages.set(own, { started: at, output: [] });
      this.emit(`${this.clock(at)} ${own}: started`);
    } else if (STILL.test(rest)) {
      const run = this.stages.get(own);
      if (run && run.done === undefined && at - (run.noticed ?? run.started) >= NOTICE_MS) {
        run.noticed = at;
        this.emit(`${this.clock(at)} ${own}: still running (${Math.floor((at - run.started) / 60_000)} min)`);
      }
    } else if (DONE[this.verb].test(rest)) {
      const run = this.stages.get(own) ?? { started: at, output: [] };
      run.done = at;
      this.stages.set(own, run);
      this.emit(`${this.clock(at)} ${own}: done in ${((at - run.started) / 1000).toFixed(1)} s`);
    }
  }

  /** Stages that were started and are not done. */
  unfinished(): string[] {
    return [...this.stages].filter(([, r]) => r.done === undefined).map(([s]) => s);
  }

  /** Stages done, with their seconds, in the order they finished. */
  finished(): { stage: string; seconds: number }[] {
    return [...this.stages]
      .filter(([, r]) => r.done !== undefined)
      .sort(([, a], [, b]) => a.done! - b.done!)
      .map(([stage, r]) => ({ stage, seconds: (r.done! - r.started) / 1000 }));
  }

  /**
   * After a failed run: for each stage that did not finish, its error as it printed it
   * (from its "error:" line on, else its last lines); Terraform's own error when no stage
   * says more (a synth or init error).
   */
  failure(maxLines = 20): string[] {
    const out: string[] = [];
    for (const stage of this.unfinished()) {
      // A stack trace says nothing to the reader of a failed deploy; the log keeps it.
      const output = this.stages.get(stage)!.output.filter((l) => !/^\s+at /.test(l));
      const from = output.findIndex((l) => /^error:/i.test(l));
      const lines = from >= 0 ? output.slice(from, from + maxLines) : output.slice(-Math.min(10, maxLines));
      out.push(`${stage} failed${lines.length ? ":" : " (it printed nothing)"}`, ...lines.map((l) => `  ${l}`));
    }
    if (!out.length || out.every((l) => !l.startsWith("  ")))
      out.push(...this.errors.filter((l) => l.replace(/^[│╷╵]\s*/, "")).slice(0, maxLines));
    return out;
  }
}
