// npm run stop and start (provision/state/lifecycle.ts) against the shared fake provider:
// what each asks of the machines and the services, in which order, that both are
// idempotent, and that start refuses a machine that is gone before touching anything.
// The real thing runs on namespaces in test/faults.local.test.ts and on VMs in test:vm.
import { rmSync } from "node:fs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { resolveCluster } from "../provision/config/resolve.js";
import type { Deployed } from "../provision/state/deployed.js";
import type { UserError } from "../provision/core/errors.js";
import { startCluster, stopCluster, stoppedSince } from "../provision/state/lifecycle.js";
import { clusterRefOf } from "../provision/core/stage-spec.js";
import { FakeProvider, memoryLog, versionsReply } from "./helpers/fake-cluster.js";
import { makeCheckout } from "./helpers/project.js";
import { repoRuntime } from "./helpers/stack-specs.js";

let checkout: ReturnType<typeof makeCheckout>;
let deployed: Deployed;
const names = ["node1", "node2", "node3"];
beforeEach(() => {
  // The version check reads the checkout's lock.
  checkout = makeCheckout("dvc-lifecycle-");
  const cluster = resolveCluster({ provider: "libvirt", nodes: { count: 3 } }, checkout.dir);
  deployed = { cluster: clusterRefOf(cluster), runtime: repoRuntime(), dask: cluster.config.dask };
});
afterEach(() => rmSync(checkout.top, { recursive: true, force: true }));

const provider = (o: { existing?: string[]; parallel?: boolean } = {}) =>
  new FakeProvider({
    existing: o.existing ?? names,
    rules: [versionsReply()],
    capabilities: { parallelMachines: o.parallel ?? true, hostReachesNodes: true },
  });
const services = (p: FakeProvider, action: string) =>
  p.journal
    .filter((j) => new RegExp(`service ${action} (scheduler|worker)`).test(j))
    .map((j) => `${j.split(" ")[0]} ${/(scheduler|worker)/.exec(j)![1]}`);

describe("npm run stop", () => {
  it("stops the workers, then the scheduler, then powers every machine off, and records when", async () => {
    const p = provider();
    const r = await stopCluster(deployed, p, memoryLog());
    expect(services(p, "stop")).toEqual(["node1 worker", "node2 worker", "node3 worker", "node1 scheduler"]);
    expect(p.journal.filter((j) => j.includes("stopMachine"))).toEqual(names.map((n) => `provider stopMachine ${n}`));
    expect(p.journal.indexOf("provider stopMachine node1")).toBeGreaterThan(
      p.journal.findIndex((j) => j.includes("service stop scheduler")),
    );
    expect(r.changed).toEqual(names);
    expect(stoppedSince(deployed.cluster.clusterDir)).toMatch(/^\d{4}-\d\d-\d\dT/);
  });

  it("a second stop touches nothing that is off, and keeps the time of the first", async () => {
    const p = provider();
    await stopCluster(deployed, p, memoryLog());
    const since = stoppedSince(deployed.cluster.clusterDir);
    await new Promise((r) => setTimeout(r, 5));
    const before = p.journal.length;
    const r = await stopCluster(deployed, p, memoryLog());
    expect(p.journal.slice(before)).toEqual([]);
    expect(r.changed).toEqual([]);
    expect(stoppedSince(deployed.cluster.clusterDir)).toBe(since);
  });
});

it("a scheduler that cannot be stopped does not keep the machines on", async () => {
  const p = new FakeProvider({
    existing: names,
    rules: [
      {
        match: /service stop scheduler/,
        reply: { exitCode: 255, stderr: "ssh: connect to host node1: Connection timed out" },
      },
    ],
  });
  const log = memoryLog();
  await stopCluster(deployed, p, log);
  expect(p.journal.filter((j) => j.includes("stopMachine"))).toHaveLength(3);
  expect(log.lines.join("\n")).toContain("scheduler not stopped");
});

describe("npm run start", () => {
  it("powers the machines on (one after another where the provider cannot in parallel), starts the scheduler, then the workers, checks the versions", async () => {
    const p = provider({ parallel: false });
    await stopCluster(deployed, p, memoryLog());
    const from = p.journal.length;
    const r = await startCluster(deployed, p, memoryLog());
    const journal = p.journal.slice(from);
    expect(journal.filter((j) => j.includes("createMachine"))).toEqual(names.map((n) => `provider createMachine ${n}`));
    expect(services({ journal } as FakeProvider, "start")).toEqual([
      "node1 scheduler",
      "node1 worker",
      "node2 worker",
      "node3 worker",
    ]);
    expect(journal.filter((j) => j.includes("dask_vm_runtime versions"))).toHaveLength(3);
    expect(r.changed).toEqual(names);
    expect(r.dashboard).toBe("http://192.168.56.11:8787/status");
    expect(stoppedSince(deployed.cluster.clusterDir)).toBeUndefined();
  });

  it("on a running cluster: no machine touched, the services' start is idempotent on the node", async () => {
    const p = provider();
    const r = await startCluster(deployed, p, memoryLog());
    expect(p.journal.filter((j) => j.includes("createMachine"))).toEqual([]);
    expect(r.changed).toEqual([]);
  });

  it("refuses when a machine is gone, naming it and the fix, before touching any", async () => {
    const p = provider({ existing: ["node1", "node2"] });
    const err = (await startCluster(deployed, p, memoryLog()).catch((e: unknown) => e)) as UserError;
    expect(err.exitCode).toBe(1);
    expect(err.render()).toContain("node3 is missing (fake: not made)");
    expect(err.render()).toContain("run npx cdktf deploy: it sees what is missing and makes it again");
    expect(p.journal).toEqual([]);
  });
});
