// What the plan observes (provision/state/observe.ts): from what the provider and the nodes
// show, exactly the stages whose outcome is gone are applied again, each with its reason,
// and a healthy cluster keeps the values Terraform's state holds (no change). The facts
// are gathered through the shared fake provider; the rules on top of them are pure.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bundleIdOf } from "../provision/runtime/bundle.js";
import { resolveCluster } from "../provision/config/resolve.js";
import {
  FIRST_APPLY,
  forgetApplied,
  recordApplied,
  unfinished,
  HEAD_TLS_FILES,
  NODE_TLS_FILES,
  observeCluster,
  observeFacts,
  observedValues,
  planRepairs,
  recordedObservations,
  type ClusterFacts,
  type NodeFacts,
} from "../provision/state/observe.js";
import type { StageSpec } from "../provision/core/stage-spec.js";
import { FakeProvider } from "./helpers/fake-cluster.js";
import { repoRuntime, stackSpecs } from "./helpers/stack-specs.js";
import type { Cluster } from "../provision/core/model.js";

let work: string;
let cluster: Cluster;
let specs: Map<string, StageSpec>;
const id = bundleIdOf(repoRuntime());

beforeAll(() => {
  work = mkdtempSync(path.join(os.tmpdir(), "dvc-observe-"));
  cluster = resolveCluster({ provider: "local", nodes: { count: 3 } }, work);
  specs = new Map([...stackSpecs(cluster)].map(([name, s]) => [name, s.spec]));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

const names = ["node1", "node2", "node3"];
const ipOf = (n: string) => cluster.nodes.find((x) => x.name === n)!.ip;
const healthyNode = (name: string): NodeFacts => ({
  name,
  machine: { state: "running", detail: `namespace dvc-x-${name}` },
  probe: { bundleId: id, venv: true, tls: [...(name === "node1" ? HEAD_TLS_FILES : NODE_TLS_FILES)] },
});
const worker = (name: string) => ({
  name,
  address: `tls://${ipOf(name)}:8788`,
  host: ipOf(name),
  nthreads: 1,
  memory_limit: 1,
});
function healthy(): ClusterFacts {
  return {
    network: true,
    machineList: true,
    hostTls: true,
    nodes: names.map(healthyNode),
    scheduler: { workers: names.map(worker) },
  };
}
const repaired = (facts: ClusterFacts) => [...planRepairs(specs, facts).keys()].sort();

describe("which stages a deploy applies again, from what it observed", () => {
  it("none on a healthy cluster", () => {
    expect(repaired(healthy())).toEqual([]);
  });

  it("after a reboot (network and every namespace gone): every stage that makes or runs something, none of the host's (preflight, bundle, benchmark)", () => {
    const f = healthy();
    const gone: ClusterFacts = {
      ...f,
      network: false,
      nodes: names.map((name) => ({ name, machine: { state: "missing", detail: `no namespace dvc-x-${name}` } })),
      scheduler: { error: "node1 is missing" },
    };
    expect(repaired(gone)).toEqual(
      [
        "network",
        "version-gate",
        "tls",
        "scheduler",
        ...names.flatMap((n) => [`machine-${n}`, `install-${n}`, `worker-${n}`]),
      ].sort(),
    );
    expect(planRepairs(specs, gone).get("machine-node2")).toBe("node2 is missing (no namespace dvc-x-node2)");
    const cut = planRepairs(specs, { ...f, network: false });
    expect(cut.get("machine-node2")).toBe("node2 is cut off: its network is being made again");
  });

  it("one node lost: only that node's stages, and the two that span the nodes (its certificates, the version gate); the scheduler and the other workers are left alone", () => {
    const f = healthy();
    const lost: ClusterFacts = {
      ...f,
      nodes: [
        healthyNode("node1"),
        healthyNode("node2"),
        { name: "node3", machine: { state: "missing", detail: "no namespace dvc-x-node3" } },
      ],
      scheduler: { workers: [worker("node1"), worker("node2")] },
    };
    const r = planRepairs(specs, lost);
    expect([...r.keys()].sort()).toEqual(["install-node3", "machine-node3", "tls", "version-gate", "worker-node3"]);
    expect(r.get("machine-node3")).toBe("node3 is missing (no namespace dvc-x-node3)");
    expect(r.get("tls")).toBe("copies the certificates again to node3");
  });

  it("VMs powered off (npm run stop, a reboot, virsh destroy): started again, and everything on them checked", () => {
    const f = healthy();
    const off: ClusterFacts = {
      ...f,
      nodes: names.map((name) => ({ name, machine: { state: "stopped", detail: "virsh: shut off" } })),
      scheduler: { error: "node1 is stopped" },
    };
    expect(repaired(off)).toEqual(
      [
        "version-gate",
        "tls",
        "scheduler",
        ...names.flatMap((n) => [`machine-${n}`, `install-${n}`, `worker-${n}`]),
      ].sort(),
    );
    expect(planRepairs(specs, off).get("machine-node1")).toBe("node1 is stopped (virsh: shut off)");
  });

  it("a worker that is not registered (killed, or its stage left half-done): that worker alone", () => {
    const r = planRepairs(specs, { ...healthy(), scheduler: { workers: [worker("node1"), worker("node3")] } });
    expect([...r]).toEqual([["worker-node2", `the scheduler does not list node2 at ${ipOf("node2")}`]]);
  });

  it("a worker registered on another address (the NAT address 10.0.2.15) is no worker of ours", () => {
    const r = planRepairs(specs, {
      ...healthy(),
      scheduler: { workers: [worker("node1"), { ...worker("node2"), host: "10.0.2.15" }, worker("node3")] },
    });
    expect([...r.keys()]).toEqual(["worker-node2"]);
  });

  it("a scheduler that does not answer: the scheduler, and every worker to join it", () => {
    expect(repaired({ ...healthy(), scheduler: { error: "connection refused" } })).toEqual([
      "scheduler",
      "worker-node1",
      "worker-node2",
      "worker-node3",
    ]);
  });

  it("a node with another bundle, or a half-made venv: its install, the gate, and the worker that runs on it", () => {
    const f = healthy();
    const other: ClusterFacts = {
      ...f,
      nodes: [
        healthyNode("node1"),
        { ...healthyNode("node2"), probe: { bundleId: "0123", venv: true, tls: [...NODE_TLS_FILES] } },
        healthyNode("node3"),
      ],
    };
    expect([...planRepairs(specs, other)]).toEqual([
      ["install-node2", `node2 has bundle 0123, not ${id}`],
      ["version-gate", "checks the nodes again after the repair of node2"],
      ["worker-node2", "restarts on the runtime installed again on node2"],
    ]);
    const half: ClusterFacts = {
      ...f,
      nodes: [
        healthyNode("node1"),
        healthyNode("node2"),
        { ...healthyNode("node3"), probe: { bundleId: "", venv: false, tls: [...NODE_TLS_FILES] } },
      ],
    };
    expect(repaired(half)).toEqual(["install-node3", "version-gate", "worker-node3"]);
  });

  it("the host's certificates gone: new ones everywhere, so every service restarts with them", () => {
    expect(repaired({ ...healthy(), hostTls: false })).toEqual([
      "scheduler",
      "tls",
      "worker-node1",
      "worker-node2",
      "worker-node3",
    ]);
  });

  it("a node's runtime installed again: its services restart on it (the old venv is removed)", () => {
    const f = healthy();
    const other: ClusterFacts = {
      ...f,
      nodes: [
        { ...healthyNode("node1"), probe: { bundleId: "0123", venv: true, tls: [...HEAD_TLS_FILES] } },
        healthyNode("node2"),
        healthyNode("node3"),
      ],
    };
    const r = planRepairs(specs, other);
    expect([...r.keys()].sort()).toEqual([
      "install-node1",
      "scheduler",
      "version-gate",
      "worker-node1",
      "worker-node2",
      "worker-node3",
    ]);
    expect(r.get("worker-node1")).toBe("restarts on the runtime installed again on node1");
  });

  it("a node's certificate gone: copied again, nothing restarted", () => {
    const f = healthy();
    const n2 = { ...healthyNode("node2"), probe: { bundleId: id, venv: true, tls: ["ca.pem"] } };
    expect([...planRepairs(specs, { ...f, nodes: [healthyNode("node1"), n2, healthyNode("node3")] })]).toEqual([
      ["tls", "copies the certificates again to node2"],
    ]);
  });

  it("a running machine that does not answer is made usable again (createMachine re-learns its ssh port)", () => {
    const f = healthy();
    const r = planRepairs(specs, {
      ...f,
      nodes: [
        healthyNode("node1"),
        {
          name: "node2",
          machine: healthyNode("node2").machine,
          probeError: "ssh: connect to host 127.0.0.1 port 2200: Connection refused",
        },
        healthyNode("node3"),
      ],
    });
    expect(r.get("machine-node2")).toBe(
      "node2 is running, but it does not answer (ssh: connect to host 127.0.0.1 port 2200: Connection refused)",
    );
  });
});

describe("the observed trigger values", () => {
  it("keep what the state holds for a healthy stage, and count repairs with their reason", () => {
    const recorded = new Map([
      ["machine-node2", FIRST_APPLY],
      ["worker-node2", "#3 the scheduler does not list node2"],
    ]);
    const values = observedValues(
      recorded,
      new Map([
        ["worker-node2", "node2 is missing"],
        ["machine-node2", "node2 is missing"],
      ]),
    );
    expect(values.get("machine-node2")).toBe("#1 node2 is missing");
    expect(values.get("worker-node2")).toBe("#4 node2 is missing");
    expect(observedValues(recorded, new Map())).toEqual(recorded);
  });

  it("are read from the converge resources in Terraform's state", () => {
    const dir = path.join(work, "state");
    mkdirSync(dir, { recursive: true });
    const state = {
      resources: [
        { type: "null_resource", name: "machine-node1", instances: [{ attributes: { triggers: { spec: "{}" } } }] },
        {
          type: "null_resource",
          name: "converge-machine-node1",
          instances: [{ attributes: { triggers: { machine_id: "1", observed: "#2 node1 is stopped" } } }],
        },
      ],
    };
    writeFileSync(path.join(dir, "terraform.tfstate"), JSON.stringify(state));
    expect([...recordedObservations(path.join(dir, "terraform.tfstate"))]).toEqual([
      ["machine-node1", "#2 node1 is stopped"],
    ]);
  });

  it("a stage Terraform recorded whose apply never finished (no record of that value) is applied again; a finished one is not", () => {
    const dir = path.join(work, "applied");
    // The scheduler's spec names its node (node1), its resource does not: the record goes by resource name.
    const recorded = new Map([["scheduler", "#0 first apply"]]);
    expect([...unfinished(dir, recorded, specs)]).toEqual([["scheduler", "its last apply (#0) did not finish"]]);
    recordApplied(dir, "scheduler", "#0 first apply");
    expect(unfinished(dir, recorded, specs).size).toBe(0);
    expect(unfinished(dir, new Map([["scheduler", "#1 again"]]), specs).size).toBe(1);
    forgetApplied(dir, "scheduler");
    expect(unfinished(dir, recorded, specs).size).toBe(1);
  });

  it("nothing deployed: nothing is asked of the provider", async () => {
    const p = new FakeProvider();
    const seen = await observeCluster(path.join(work, "nothing"), () => p);
    expect(seen.repairs.size).toBe(0);
    expect(seen.facts).toBeUndefined();
    expect(p.journal).toEqual([]);
  });
});

describe("gathering the facts", () => {
  it("asks each running node once (node 1 also for the scheduler's workers) and never a stopped one", async () => {
    const reply = (node: string) =>
      [
        `bundle=${id}`,
        "venv=yes",
        ...(node === "node1" ? HEAD_TLS_FILES : NODE_TLS_FILES).map((f) => `tls=${f}`),
        ...(node === "node1" ? [`workers=${JSON.stringify([worker("node1"), worker("node2")])}`] : []),
      ].join("\n");
    const p = new FakeProvider({
      existing: ["node1", "node2"],
      rules: [{ match: /bundle-id/, reply: (_s, node) => ({ stdout: reply(node) }) }],
    });
    const facts = await observeFacts(specs, p);
    expect(p.journal.filter((j) => j.includes(" run "))).toHaveLength(2);
    expect(facts.nodes.map((n) => n.machine.state)).toEqual(["running", "running", "missing"]);
    expect(facts.nodes[0]!.probe).toEqual({ bundleId: id, venv: true, tls: [...HEAD_TLS_FILES] });
    expect(facts.scheduler?.workers?.map((w) => w.name)).toEqual(["node1", "node2"]);
    expect(facts.hostTls).toBe(false); // this test's project never made certificates
    expect([...planRepairs(specs, facts).keys()]).toContain("machine-node3");
  });

  it("a probe that fails says why, for the plan", async () => {
    const p = new FakeProvider({
      existing: names,
      rules: [
        {
          match: /bundle-id/,
          reply: { exitCode: 255, stderr: "ssh: connect to host 127.0.0.1 port 2222: Connection refused\n" },
        },
      ],
    });
    const facts = await observeFacts(specs, p);
    expect(facts.nodes[1]!.probeError).toBe("ssh: connect to host 127.0.0.1 port 2222: Connection refused");
    expect(facts.scheduler?.error).toBe("ssh: connect to host 127.0.0.1 port 2222: Connection refused");
  });
});
