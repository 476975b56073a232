// The Dask services as data (provision/services/definitions.ts): what a node runs, and how a
// service that dies as it starts is reported. Fast tier: no node, no Dask.
import { describe, expect, it } from "vitest";
import { resolveCluster } from "../provision/config/resolve.js";
import {
  earlyDeathError,
  schedulerService,
  workerService,
  type ServiceCheck,
} from "../provision/services/definitions.js";
import { nodePaths } from "../provision/core/node-paths.js";

// A runtime root as the local provider makes it under a checkout whose folder name holds
// what a shell would expand: pip writes the venv's console scripts as sh trampolines there.
const ROOT = "/home/lea/TP $HOME `id` Cours é/checkout/.cluster/nodes/node1";
const cluster = resolveCluster({ provider: "local", nodes: { count: 3 } }, "/home/lea/TP $HOME `id`/checkout");
const dask = cluster.config.dask;

describe("service definitions", () => {
  it("run Dask as `<venv>/bin/python -m dask <command>`, never through the venv's console scripts", () => {
    const head = cluster.nodes[0]!;
    for (const def of [schedulerService(head, dask, ROOT), workerService(cluster.nodes[1]!, head, dask, ROOT)]) {
      expect(def.argv.slice(0, 3)).toEqual([`${ROOT}/venv/bin/python`, "-m", "dask"]);
      // No argument names a program in the venv's bin/ other than its Python (an exec'd
      // interpreter, not a script that a shell reads).
      expect(def.argv.filter((a) => a.includes("/venv/bin/"))).toEqual([`${ROOT}/venv/bin/python`]);
    }
    expect(schedulerService(head, dask, ROOT).argv[3]).toBe("scheduler");
    expect(workerService(cluster.nodes[1]!, head, dask, ROOT).argv[3]).toBe("worker");
    expect(Object.keys(nodePaths(ROOT))).not.toContain("dask");
  });
});

describe("earlyDeathError", () => {
  // As `service check` prints it (cluster-runtime/dask_vm_runtime/cli.py), recorded from
  // the supervisor on a local node.
  // Its second ending: restarted once, ended again, waiting for the next restart.
  const died: ServiceCheck = {
    running: true,
    restarts: 1,
    child_pid: null,
    last_exit: { code: 2, uptime_s: 1.4 },
    ended: "it ended with exit code 2 after 1.4 s; restarted 1 time since",
    log: `${ROOT}/logs/scheduler.log`,
    log_tail: [
      "Usage: python -m dask scheduler [OPTIONS] [PRELOAD_ARGV]...",
      "Try 'python -m dask scheduler --help' for help.",
      "",
      "Error: No such option: --bogus",
      "2026-12-04T23:40:03Z dvc-supervisor[4200] scheduler: process ended with exit code 2 after 1.4 s",
    ],
  };

  it("is undefined while the process has not ended since the service was (re)started", () => {
    expect(
      earlyDeathError("node1", "scheduler", { ...died, restarts: 0, ended: null, log_tail: [] }, ROOT),
    ).toBeUndefined();
  });

  it("lets the manager restart a process that ended once, or that ran long enough to have met a passing fault", () => {
    // Ended once, restarted, running again: the restart may be all it needed.
    expect(earlyDeathError("node1", "scheduler", { ...died, child_pid: 4242 }, ROOT)).toBeUndefined();
    // Ended once, not yet restarted.
    expect(earlyDeathError("node1", "scheduler", { ...died, restarts: 0 }, ROOT)).toBeUndefined();
    // Twice, each after 10.9 s: a nanny's 10 s connect timeout while its scheduler restarted
    // (the faults suite's half-done worker stage, beside a scheduler kill).
    expect(
      earlyDeathError("node2", "worker", { ...died, last_exit: { code: 1, uptime_s: 10.9 } }, ROOT),
    ).toBeUndefined();
    // On an emulated VM (slowness 4) a 10.9 s run is still a start that failed at once.
    expect(
      earlyDeathError("node2", "worker", { ...died, last_exit: { code: 1, uptime_s: 10.9 } }, ROOT, 4),
    ).toBeDefined();
  });

  it("under systemd, which does not say how long the process ran, waits for a third ending", () => {
    const systemd: ServiceCheck = { ...died, running: false, last_exit: { code: 2 } };
    expect(earlyDeathError("node1", "scheduler", { ...systemd, restarts: 1 }, ROOT)).toBeUndefined();
    expect(earlyDeathError("node1", "scheduler", { ...systemd, restarts: 2 }, ROOT)?.message).toMatch(
      /^the scheduler on node1 stopped as it started/,
    );
  });

  it("says which service ended how, shows its log's last lines, and what to do", () => {
    const err = earlyDeathError("node1", "scheduler", died, ROOT)!;
    expect(err.exitCode).toBe(1);
    const text = err.render();
    expect(text).toContain(
      "the scheduler on node1 stopped as it started: it ended with exit code 2 after 1.4 s; restarted 1 time since",
    );
    expect(text).toContain(`node1:${ROOT}/logs/scheduler.log: the log's last lines:`);
    expect(text).toContain("      | Error: No such option: --bogus");
    expect(text).toContain(`node1:${ROOT}/etc/scheduler.json`);
    expect(text).toMatch(
      /fix: correct what the log names .* then run the deploy again; the whole log: npm run logs -- node1 scheduler/,
    );
    expect(text).not.toContain("exit code 127:");
  });

  it("names a program not found for exit code 127 (a shell or exec could not find it)", () => {
    const err = earlyDeathError(
      "node2",
      "worker",
      { ...died, ended: "it ended with exit code 127 after 0.0 s", log_tail: [] },
      ROOT,
    )!;
    expect(err.message).toBe(
      "the worker on node2 stopped as it started: it ended with exit code 127 after 0.0 s (exit code 127: a program it runs was not found)",
    );
    expect(err.render()).toContain("the log's last lines: (empty)");
  });
});
