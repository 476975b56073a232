// The learner's commands without a cluster: the nat-trap lab's worker definition (what it
// removes and adds to the deploy's own), chaos's durations, and bad input to diagnose,
// chaos and lab refused with exit 2 before anything is asked of a cluster.
import path from "node:path";
import { describe, expect, it } from "vitest";
import { $ } from "zx";
import { parseDuration } from "../provision/commands/chaos.js";
import { workerService } from "../provision/services/definitions.js";
import { trappedWorker } from "../provision/services/nat-trap.js";
import { REPO } from "./helpers/project.js";
import { resolveCluster } from "../provision/config/resolve.js";

// A local cluster's defaults, as the config resolves them.
const cluster = resolveCluster({ provider: "local" }, REPO);
const [head, node] = [cluster.nodes[0]!, cluster.nodes[1]!];
const dask = cluster.config.dask;

describe("the nat-trap lab's worker", () => {
  it("listens on every interface and advertises 10.0.2.15 at a port of its node's own; everything else is the deploy's", () => {
    const real = workerService(node, head, dask, "/opt/dvc");
    const trapped = trappedWorker(real, 2);
    expect(trapped.argv).not.toContain("--host");
    expect(trapped.argv).not.toContain("--worker-port");
    expect(trapped.argv.slice(-4)).toEqual([
      "--listen-address",
      "tls://0.0.0.0:40002",
      "--contact-address",
      "tls://10.0.2.15:40002",
    ]);
    const kept = real.argv.filter(
      (a, i, all) =>
        !["--host", "--worker-port", "--protocol"].includes(a) &&
        !["--host", "--worker-port", "--protocol"].includes(all[i - 1]!),
    );
    expect(trapped.argv.slice(0, -4)).toEqual(kept);
    expect(trapped.env).toEqual(real.env);
  });
});

describe("chaos durations", () => {
  it.each([
    ["30s", 30],
    ["2m", 120],
    ["90", 90],
    ["1.5min", 90],
    ["soon", undefined],
    ["-3s", undefined],
  ])("%s → %s", (text, seconds) => {
    expect(parseDuration(text)).toBe(seconds);
  });
});

describe("bad input: exit 2, the field and the allowed values, no cluster asked", () => {
  const cli = (...args: string[]) =>
    $({
      cwd: REPO,
      nothrow: true,
      quiet: true,
    })`${path.join(REPO, "node_modules", ".bin", "tsx")} provision/cli.ts ${args}`;
  it.each([
    [
      ["diagnose", "--scheduler", "10.0.0.1:8786"],
      /--scheduler: "10\.0\.0\.1:8786" is not a scheduler address\n\s+fix: tcp:\/\/HOST:PORT or tls:\/\/HOST:PORT/,
    ],
    [
      ["diagnose", "--scheduler", "tls://10.0.0.1:8786"],
      /--tls-ca-file: a tls:\/\/ scheduler needs the client's three files/,
    ],
    [["diagnose", "--timeout", "0"], /--timeout: "0"\n\s+fix: seconds, more than 0 and at most 600/],
    [["diagnose", "--python", "python3"], /--python: only with --scheduler/],
    [
      ["chaos", "melt-cpu"],
      /fault: "melt-cpu"\n\s+fix: one of: kill-worker, kill-scheduler, cut-link, slow-cpu, fill-memory, restore/,
    ],
    [["chaos", "kill-worker", "node2", "node3"], /too many arguments: node3/],
    [["lab", "dns-trap"], /name: "dns-trap"\n\s+fix: one of: nat-trap/],
    [["lab", "nat-trap", "--tasks", "2"], /--tasks: "2"\n\s+fix: a whole number from 3 to 1000/],
  ])("%j", async (args, message) => {
    const r = await cli(...args);
    expect(r.exitCode, r.stderr).toBe(2);
    expect(r.stderr).toMatch(message);
  });
});
