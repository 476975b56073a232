// The synthesized stack: every stage present (once per node where it acts on a node) as
// what it is and what applies it, ordered by depends_on, destroy provisioners reading only
// self.triggers, triggers identical across two synths, per-node triggers untouched by
// adding a node, and what the plan observed in the converge resources only.
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { type App, Testing } from "cdktf";
import { resolveCluster } from "../provision/config/resolve.js";
import { NULL_PROVIDER_CONSTRAINT } from "../provision/host/toolchain.js";
import { DaskClusterStack } from "../stacks/dask-cluster-stack.js";

const NODE = "/opt/node 20/bin/node";
const runtime = {
  python: "3.11",
  platform: "x86_64" as const,
  lockSha256: "a".repeat(64),
  sourceSha256: "b".repeat(64),
};

type Tf = {
  resource: {
    null_resource: Record<
      string,
      {
        triggers: Record<string, string>;
        depends_on?: string[];
        provisioner?: Array<{
          "local-exec": {
            command: string;
            interpreter: string[];
            when?: string;
            working_dir: string;
            environment: Record<string, string>;
          };
        }>;
      }
    >;
  };
  output: Record<string, { value: unknown }>;
  terraform: {
    required_providers: { null: { version: string; source: string } };
    backend: { local: { path: string } };
  };
};

// A project folder as the stack sees it (never created): resolveCluster makes it absolute,
// <drive>:\tmp\dvc-project on Windows.
const PROJECT = path.resolve("/tmp/dvc-project");

// Testing.app() makes a temp outdir of its own and never removes it: give it ours.
const outdirs: string[] = [];
afterAll(() => {
  for (const dir of outdirs) rmSync(dir, { recursive: true, force: true });
});

function synth(config: object, observed?: ReadonlyMap<string, string>, runtimeRef = runtime): Tf {
  const cluster = resolveCluster(config, PROJECT);
  const outdir = mkdtempSync(path.join(os.tmpdir(), "dvc-stack-test-"));
  outdirs.push(outdir);
  const app = Testing.app({ outdir });
  const stack = new DaskClusterStack(app as App, "dask-cluster", {
    cluster,
    runtime: runtimeRef,
    nodeBinary: NODE,
    observed,
  });
  return JSON.parse(Testing.synth(stack)) as Tf;
}

describe("dask-cluster stack", () => {
  const tf = synth({ provider: "local" });
  const all = tf.resource.null_resource;
  const res = Object.fromEntries(Object.entries(all).filter(([name]) => !name.startsWith("converge-")));
  const STAGE_NAMES = [
    "preflight",
    "network",
    "box",
    "bundle",
    "version-gate",
    "tls",
    "scheduler",
    "benchmark",
    ...["node1", "node2", "node3"].flatMap((n) => [`machine-${n}`, `install-${n}`, `worker-${n}`]),
  ].sort();

  it("has every stage, per node where it acts on a node, and a converge resource for each", () => {
    expect(Object.keys(res).sort()).toEqual(STAGE_NAMES);
    expect(Object.keys(all).sort()).toEqual([...STAGE_NAMES, ...STAGE_NAMES.map((n) => `converge-${n}`)].sort());
    for (const [name, r] of Object.entries(res))
      expect(JSON.parse(r.triggers.spec!).stage, name).toBe(r.triggers.stage);
  });

  it("applies each stage from its converge resource, with the stage's spec, after the converge resources it builds on", () => {
    const c = all["converge-worker-node2"]!;
    expect(c.triggers).toEqual({ worker_id: "${null_resource.worker-node2.id}", observed: "#0 first apply" });
    expect(c.depends_on).toEqual([
      "null_resource.worker-node2",
      "null_resource.converge-version-gate",
      "null_resource.converge-scheduler",
      "null_resource.converge-install-node2",
    ]);
    const exec = c.provisioner![0]!["local-exec"];
    expect(exec.environment.DVC_SPEC).toBe("${null_resource.worker-node2.triggers.spec}");
    expect(exec.working_dir).toBe(PROJECT);
    expect(all["converge-machine-node2"]!.provisioner![0]!["local-exec"].environment.DVC_EXPECT).toBe(
      '{"python":"3.11"}',
    );
    // Each apply records, under its stage's resource name, the value it ran for (state/observe.ts).
    for (const name of STAGE_NAMES) {
      const env = all[`converge-${name}`]!.provisioner![0]!["local-exec"].environment;
      expect([env.DVC_RESOURCE, env.DVC_OBSERVED], name).toEqual([name, "${self.triggers.observed}"]);
    }
  });

  it("puts what the plan observed into the converge resource only: a repair replaces nothing that builds on the stage", () => {
    const seen = synth(
      { provider: "local" },
      new Map([["machine-node2", "#1 node2 is missing (no namespace dvc-x-node2)"]]),
    ).resource.null_resource;
    expect(seen["converge-machine-node2"]!.triggers.observed).toBe("#1 node2 is missing (no namespace dvc-x-node2)");
    for (const [name, r] of Object.entries(seen))
      if (name !== "converge-machine-node2") expect(r, name).toEqual(all[name]);
  });

  it("orders stages with depends_on", () => {
    const deps = (name: string) => res[name]!.depends_on ?? [];
    expect(deps("network")).toContain("null_resource.preflight");
    expect(deps("box")).toContain("null_resource.network");
    expect(deps("machine-node2")).toEqual(expect.arrayContaining(["null_resource.box", "null_resource.network"]));
    expect(deps("install-node2")).toEqual(
      expect.arrayContaining(["null_resource.machine-node2", "null_resource.bundle"]),
    );
    expect(deps("version-gate")).toEqual(
      expect.arrayContaining([
        "null_resource.install-node1",
        "null_resource.install-node2",
        "null_resource.install-node3",
      ]),
    );
    expect(deps("scheduler")).toEqual(expect.arrayContaining(["null_resource.version-gate", "null_resource.tls"]));
    expect(deps("worker-node3")).toContain("null_resource.scheduler");
    expect(deps("benchmark")).toEqual(
      expect.arrayContaining(["null_resource.worker-node1", "null_resource.worker-node3"]),
    );
  });

  it("re-provisions a stage when an upstream stage is replaced (ids in triggers)", () => {
    expect(res["install-node1"]!.triggers).toMatchObject({
      machine_id: "${null_resource.machine-node1.id}",
      bundle_id: "${null_resource.bundle.id}",
    });
    expect(res["worker-node2"]!.triggers.scheduler_id).toBe("${null_resource.scheduler.id}");
  });

  it("starts provision/stage.ts with node itself as the interpreter (no shell), and destroy provisioners read only self.triggers", () => {
    const nothingToUndo = [
      "preflight",
      "bundle",
      "version-gate",
      "benchmark",
      "install-node1",
      "install-node2",
      "install-node3",
    ];
    for (const [name, r] of Object.entries(res)) {
      const execs = (r.provisioner ?? []).map((p) => p["local-exec"]);
      expect(
        execs.map((e) => e.when),
        name,
      ).toEqual(nothingToUndo.includes(name) ? [] : ["destroy"]);
      expect(
        all[`converge-${name}`]!.provisioner!.map((p) => p["local-exec"].command),
        name,
      ).toEqual(["apply"]);
      for (const e of [...execs, ...all[`converge-${name}`]!.provisioner!.map((p) => p["local-exec"])]) {
        expect(e.interpreter).toEqual([NODE, "provision/launch.mjs", "provision/stage.ts"]);
      }
      for (const e of execs) {
        expect(e.command).toBe("destroy");
        expect(e.working_dir).toBe("${self.triggers.project_dir}");
        const refs = JSON.stringify(e).match(/\$\{[^}]*\}/g) ?? [];
        expect(refs.length).toBeGreaterThan(0);
        for (const ref of refs) expect(ref, `${name}: ${ref}`).toMatch(/^\$\{self\.triggers\.[a-z_]+\}$/);
      }
    }
  });

  it("is byte-identical across two synths (no timestamps, no random ids)", () => {
    expect(JSON.stringify(synth({ provider: "local" }))).toBe(JSON.stringify(tf));
  });

  it("adding a node changes no trigger of the existing nodes' machines, installs or workers", () => {
    const four = synth({ provider: "local", nodes: { count: 4 } }).resource.null_resource;
    for (const n of ["node1", "node2", "node3"]) {
      for (const s of ["machine", "install", "worker"])
        expect(four[`${s}-${n}`]!.triggers, `${s}-${n}`).toEqual(res[`${s}-${n}`]!.triggers);
    }
    expect(four["machine-node4"]).toBeDefined();
  });

  /**
   * What Terraform replaces when the config changes: resources whose triggers differ, then whatever names a replaced
   * one's id.
   */
  function replaced(before: typeof res, after: typeof res): string[] {
    const out = new Set(
      Object.keys(after).filter(
        (n) =>
          !n.startsWith("converge-") &&
          before[n] &&
          JSON.stringify(before[n]!.triggers) !== JSON.stringify(after[n]!.triggers),
      ),
    );
    for (let grew = true; grew; ) {
      grew = false;
      for (const [n, r] of Object.entries(after)) {
        if (out.has(n) || n.startsWith("converge-")) continue;
        if (Object.values(r.triggers).some((v) => [...out].some((x) => v === `\${null_resource.${x}.id}`))) {
          out.add(n);
          grew = true;
        }
      }
    }
    return [...out].sort();
  }

  it("resizing one node re-makes that node's machine, install and worker, and re-runs the checks: never the certificates, the scheduler or another node's worker", () => {
    const resized = synth({ provider: "local", nodes: { overrides: [{ name: "node3", cpus: 2 }] } }).resource
      .null_resource;
    // (The benchmark, the deploy's last stage, runs again too: it reports on the cluster as it now is.)
    expect(replaced(res, resized)).toEqual([
      "benchmark",
      "box",
      "install-node3",
      "machine-node3",
      "preflight",
      "version-gate",
      "worker-node3",
    ]);
    // A new runtime bundle restarts every service, through each node's install.
    const rebuilt = synth({ provider: "local" }, undefined, { ...runtime, lockSha256: "f".repeat(64) }).resource
      .null_resource;
    expect(replaced(res, rebuilt)).toEqual(
      expect.arrayContaining(["scheduler", "worker-node1", "worker-node2", "worker-node3", "version-gate"]),
    );
  });

  it("chains VirtualBox machines (no parallel creation) but not local ones", () => {
    const vb = synth({}).resource.null_resource;
    expect(vb["machine-node2"]!.depends_on).toContain("null_resource.machine-node1");
    expect(vb["machine-node3"]!.depends_on).toContain("null_resource.machine-node2");
    expect(vb["converge-machine-node2"]!.depends_on).toContain("null_resource.converge-machine-node1");
    expect(res["machine-node2"]!.depends_on).not.toContain("null_resource.machine-node1");
    expect(all["converge-machine-node2"]!.depends_on).not.toContain("null_resource.converge-machine-node1");
  });

  it("keeps TLS keys out of triggers and state", () => {
    expect(JSON.stringify(tf)).not.toMatch(/PRIVATE KEY|BEGIN CERTIFICATE/);
  });

  it("accepts the offline null provider build and keeps state in .cluster", () => {
    expect(tf.terraform.required_providers.null).toEqual({
      source: "hashicorp/null",
      version: NULL_PROVIDER_CONSTRAINT,
    });
    expect(tf.terraform.backend.local.path).toBe(path.join(PROJECT, ".cluster", "terraform.tfstate"));
  });

  it("outputs the scheduler address, dashboard URL, node IPs and results folder", () => {
    expect(tf.output.scheduler_address!.value).toBe("tls://192.168.56.11:8786");
    expect(tf.output.dashboard_url!.value).toBe("http://192.168.56.11:8787/status");
    expect(tf.output.node_ips!.value).toEqual({
      node1: "192.168.56.11",
      node2: "192.168.56.12",
      node3: "192.168.56.13",
    });
    expect(tf.output.results_dir!.value).toBe(path.join(PROJECT, "results", "latest"));
  });

  it("leaves the benchmark out when benchmark.onDeploy is false", () => {
    expect(
      synth({ provider: "local", benchmark: { onDeploy: false } }).resource.null_resource.benchmark,
    ).toBeUndefined();
  });
});
