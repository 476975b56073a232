// Every stage, one module each (provision/stages/), run with the specs the real stack
// synthesizes, against the shared fake provider and transports (test/helpers/
// fake-cluster.ts) and the scripted host: what each stage asks of the machine layer and
// the nodes, what it refuses, and that a stage which did not do its work fails. No root,
// no VM, no Dask: the fast tier.
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bundleIdOf, lockPath } from "../provision/runtime/bundle.js";
import { resolveCluster } from "../provision/config/resolve.js";
import type { UserError } from "../provision/core/errors.js";
import { pycachePathOf } from "../provision/runtime/pycache.js";
import { STAGE_MODULES, runStage } from "../provision/stages/index.js";
import { FakeProvider, memoryLog, versionsReply, type NodeScript } from "./helpers/fake-cluster.js";
import { fakeHost } from "./helpers/fake-host.js";
import { makeCheckout, REPO } from "./helpers/project.js";
import { repoRuntime, stackSpecs, type StackSpecs } from "./helpers/stack-specs.js";
import { parseLock } from "../provision/runtime/lock.js";
import type { Cluster } from "../provision/core/model.js";

let work: string;
let checkout: ReturnType<typeof makeCheckout>;
let cache: string;
let cluster: Cluster;
let specs: StackSpecs;
const runtime = repoRuntime;

function run(
  name: string,
  o: { provider?: FakeProvider; host?: ReturnType<typeof fakeHost>; action?: "apply" | "destroy" } = {},
) {
  const { spec, expect: ex } = specs.get(name)!;
  const provider =
    o.provider ?? new FakeProvider({ existing: cluster.nodes.map((n) => n.name), rules: [versionsReply()] });
  const host = o.host ?? fakeHost({ env: { HOME: work, DVC_CACHE_DIR: cache } });
  const log = memoryLog();
  const stage = STAGE_MODULES[spec.stage];
  const ctx = { spec, host, provider, expect: ex, log };
  const done = (o.action ?? "apply") === "apply" ? stage.apply(ctx) : (stage.destroy?.(ctx) ?? Promise.resolve());
  return { provider, host, log, done };
}

beforeAll(() => {
  work = mkdtempSync(path.join(os.tmpdir(), "dvc-stages-"));
  checkout = makeCheckout("dvc-stages-project-");
  cache = path.join(work, "cache");
  mkdirSync(cache);
  cluster = resolveCluster(
    { provider: "local", nodes: { count: 3 }, benchmark: { size: "small", workloads: ["inc-sleep"] } },
    checkout.dir,
  );
  specs = stackSpecs(cluster);
  // A cached bundle and its byte-code, so the bundle and install stages need no network.
  const id = bundleIdOf(runtime());
  const tar = path.join(cache, `bundle-${id}.tar`);
  writeFileSync(tar, "a bundle");
  writeFileSync(`${tar}.sha256`, `${createHash("sha256").update("a bundle").digest("hex")}  bundle-${id}.tar\n`);
  writeFileSync(pycachePathOf(cache, id), "byte-code");
});
afterAll(() => {
  rmSync(work, { recursive: true, force: true });
  rmSync(checkout.top, { recursive: true, force: true });
});

describe("every stage against a fake provider and transport", () => {
  it("has one module per stage, each named as its stage, and the stack runs each of them", () => {
    for (const [name, m] of Object.entries(STAGE_MODULES)) expect(m.name).toBe(name);
    const used = new Set([...specs.values()].map((s) => s.spec.stage));
    expect([...used].sort()).toEqual(Object.keys(STAGE_MODULES).sort());
  });

  it("preflight: the provider's checks with the runtime's Python and platform, then memory and disk; a failed row stops it with exit 2", async () => {
    const ok = run("preflight");
    await ok.done;
    expect(ok.provider.journal).toEqual(["provider checks 3.11 x86_64"]);
    const bad = new FakeProvider({
      checks: [{ check: "root", status: "fail", found: "uid 1000", fix: "run as root", path: "/provider" }],
    });
    const err = (await run("preflight", { provider: bad }).done.catch((e: unknown) => e)) as UserError;
    expect(err.exitCode).toBe(2);
    expect(err.render()).toContain("/provider: uid 1000");
    const tight = await run("preflight", { host: fakeHost({ totalGiB: 2, env: { HOME: work } }) }).done.catch(
      (e: unknown) => e,
    );
    expect((tight as UserError).render()).toMatch(/\/nodes\/memoryMb: 2\.0 GiB total.*need/);
  });

  it("network, box and machine: the provider's steps, and destroy undoes them", async () => {
    const p = new FakeProvider({ rules: [{ match: /-m venv|import sys, venv/, reply: { stdout: "3.11.9\n" } }] });
    for (const s of ["network", "box", "machine-node2"]) await run(s, { provider: p }).done;
    for (const s of ["machine-node2", "box", "network"]) await run(s, { provider: p, action: "destroy" }).done;
    expect(p.journal.filter((j) => j.startsWith("provider"))).toEqual([
      "provider createNetwork",
      "provider prepareBox",
      "provider createMachine node2",
      "provider destroyMachine node2",
      "provider removeBox",
      "provider destroyNetwork",
    ]);
  });

  it("machine: checks the new node has runtime.python with venv (given by DVC_EXPECT, not a trigger), and refuses a box without it with exit 2", async () => {
    expect(specs.get("machine-node1")!.expect).toEqual({ python: "3.11" });
    expect(specs.get("machine-node1")!.spec).not.toHaveProperty("runtime");
    const good = new FakeProvider({ rules: [{ match: /python3\.11/, reply: { stdout: "3.11.2\n" } }] });
    const r = run("machine-node1", { provider: good });
    await r.done;
    expect(r.log.lines).toContain("[node1] Python 3.11.2 with venv: can run the runtime");
    const none = new FakeProvider({
      rules: [{ match: /python3\.11/, reply: { exitCode: 127, stderr: "python3.11: command not found" } }],
    });
    const err = (await run("machine-node1", { provider: none }).done.catch((e: unknown) => e)) as UserError;
    expect(err.exitCode).toBe(2);
    expect(err.render()).toContain("node1 cannot run the runtime: no python3.11 on the node");
    const noVenv = new FakeProvider({
      rules: [{ match: /python3\.11/, reply: { exitCode: 1, stderr: "ModuleNotFoundError: No module named 'venv'" } }],
    });
    expect(
      ((await run("machine-node1", { provider: noVenv }).done.catch((e: unknown) => e)) as UserError).render(),
    ).toContain("python3.11 has no venv module");
  });

  it("on VirtualBox too, each machine stage is given runtime.python to check (stack.test.ts holds that VirtualBox's machines are chained, so node 1 is checked before node 2 exists)", () => {
    const vb = stackSpecs(resolveCluster({ provider: "virtualbox", nodes: { count: 3 } }, path.join(work, "vb")));
    expect(vb.get("machine-node1")!.expect.python).toBe("3.11");
  });

  it("bundle: found in the cache by its content address", async () => {
    const r = run("bundle");
    await r.done;
    expect(r.log.lines.some((l) => l.includes(`bundle ${bundleIdOf(runtime())} cached`))).toBe(true);
  });

  it("install: copies bundle and byte-code, runs the bundle's own install.sh (LF whatever the checkout holds) with the node's root, Python and both tars", async () => {
    const r = run("install-node2");
    await r.done;
    const id = bundleIdOf(runtime());
    expect(r.provider.journal).toEqual([
      `node2 run [ "$(cat /opt/dask-vm-cluster/bundle-id 2>/dev/null)" = ${id} ] && [ -f /opt/dask-vm-cluster/venv/.dvc-complete ]`,
      `node2 put /opt/dask-vm-cluster/incoming/bundle-${id}.tar`,
      `node2 put /opt/dask-vm-cluster/incoming/pycache-${id}.tar`,
      `node2 run tar -xOf /opt/dask-vm-cluster/incoming/bundle-${id}.tar install.sh > /opt/dask-vm-cluster/incoming/install.sh && bash /opt/dask-vm-cluster/incoming/install.sh /opt/dask-vm-cluster /opt/dask-vm-cluster/incoming/bundle-${id}.tar 3.11 /opt/dask-vm-cluster/incoming/pycache-${id}.tar && rm -f /opt/dask-vm-cluster/incoming/bundle-${id}.tar /opt/dask-vm-cluster/incoming/pycache-${id}.tar`,
    ]);
  });

  it("install: a node that already has the bundle whole (a repair, a deploy after a reboot) gets nothing copied", async () => {
    const r = run("install-node2", {
      provider: new FakeProvider({ rules: [{ match: /\.dvc-complete/, reply: { exitCode: 0 } }] }),
    });
    await r.done;
    expect(r.provider.journal.filter((j) => j.startsWith("node2"))).toHaveLength(1);
    expect(r.log.lines.join("\n")).toContain(`bundle ${bundleIdOf(runtime())} already installed`);
  });

  it("install: makes again a machine Terraform recorded but that is missing (a deploy killed after a state snapshot), then installs", async () => {
    const p = new FakeProvider({ existing: ["node1", "node3"], rules: [versionsReply()] });
    const r = run("install-node2", { provider: p });
    await r.done;
    expect(p.journal[0]).toBe("provider createMachine node2");
    expect(r.log.lines[0]).toContain("machine node2 is missing (fake: not made) although Terraform recorded it");
    expect(p.journal.some((j) => j.includes("&& bash /opt/dask-vm-cluster/incoming/install.sh"))).toBe(true);
  });

  it("install: a node whose Python cannot run the bundle (install.sh exit 3) is bad input naming /runtime/python", async () => {
    const p = new FakeProvider({
      existing: ["node2"],
      rules: [
        { match: /install\.sh/, reply: { exitCode: 3, stderr: "install.sh: this node has no working python3.11" } },
      ],
    });
    const err = (await run("install-node2", { provider: p }).done.catch((e: unknown) => e)) as UserError;
    expect(err.exitCode).toBe(2);
    expect(err.render()).toContain("/runtime/python: install.sh: this node has no working python3.11");
  });

  it("version-gate: identical nodes pass; one drifting node stops the deploy before any service", async () => {
    await run("version-gate").done;
    const lock = parseLock(readFileSync(lockPath(REPO, "x86_64"), "utf8"));
    const drifted: NodeScript = {
      match: /dask_vm_runtime versions/,
      reply: (_s, node) => ({
        stdout: JSON.stringify({
          python: { version: "3.11.9", version_info: "3.11.9" },
          platform: { machine: "x86_64" },
          os_release: {},
          bundle_id: bundleIdOf(runtime()),
          distributions: {
            ...Object.fromEntries(lock.entries.map((e) => [e.name, e.version])),
            ...(node === "node3" ? { six: "1.16.0" } : {}),
          },
        }),
      }),
    };
    const err = (await run("version-gate", { provider: new FakeProvider({ rules: [drifted] }) }).done.catch(
      (e: unknown) => e,
    )) as UserError;
    expect(err.render()).toContain("the version gate found drift between the nodes: no service was started");
  });

  it("tls: a CA and a certificate per node on the host (0600), copied to each node; the client's only to node 1; destroy removes them everywhere", async () => {
    const r = run("tls");
    await r.done;
    const puts = r.provider.journal.filter((j) => j.includes(" put "));
    expect(puts.filter((j) => j.startsWith("node1")).map((j) => path.basename(j))).toEqual([
      "ca.pem",
      "node.pem",
      "node-key.pem",
      "client.pem",
      "client-key.pem",
    ]);
    expect(puts.filter((j) => j.startsWith("node2")).map((j) => path.basename(j))).toEqual([
      "ca.pem",
      "node.pem",
      "node-key.pem",
    ]);
    const d = run("tls", { action: "destroy" });
    await d.done;
    expect(d.provider.journal.filter((j) => j.includes("rm -rf")).length).toBe(3);
  });

  it("scheduler and worker: started under the node's service manager, done only once the scheduler lists them", async () => {
    const s = run("scheduler");
    await s.done;
    expect(s.provider.journal.some((j) => j.startsWith("node1 run mkdir -p"))).toBe(true);
    expect(
      s.provider.transports.get("node1")!.scripts.some((x) => /service restart scheduler .* --manager systemd/.test(x)),
    ).toBe(true);
    const w = run("worker-node3");
    await w.done;
    expect(w.log.lines).toContain("[node3] registered with the scheduler as tls://192.168.56.13:8788");
  });

  it("scheduler: a scheduler whose process ends as it starts fails the stage at once with its log's last lines, not after the wait", async () => {
    // What `service check` printed on a local node whose checkout was under "TP $HOME"
    // (the console script's trampoline expanded it), as the supervisor logged it.
    const check = {
      name: "scheduler",
      manager: "systemd",
      running: true,
      restarts: 2,
      last_exit: { pid: 4242, code: 127, at: "2026-12-04T23:40:03Z", uptime_s: 0.004 },
      log: "/opt/dask-vm-cluster/logs/scheduler.log",
      ended: "it ended with exit code 127 after 0.0 s; restarted 2 times since",
      log_tail: [
        "2026-12-04T23:40:02Z dvc-supervisor[4200] scheduler: started pid 4242: '/tmp/TP /root/x/venv/bin/dask' scheduler",
        "/tmp/TP $HOME/x/venv/bin/dask: 2: exec: /tmp/TP /root/x/venv/bin/python: not found",
        "2026-12-04T23:40:03Z dvc-supervisor[4200] scheduler: process ended with exit code 127 after 0.0 s",
      ],
    };
    const checks: string[] = [];
    const p = new FakeProvider({
      rules: [
        {
          match: /wait-workers/,
          reply: { exitCode: 1, stderr: "cannot reach the scheduler through its dashboard within 2 s" },
        },
        {
          match: /service check scheduler/,
          reply: (s) => {
            checks.push(s);
            return { stdout: JSON.stringify(check) };
          },
        },
      ],
    });
    const t0 = performance.now();
    const err = (await run("scheduler", { provider: p }).done.catch((e: unknown) => e)) as UserError;
    expect(performance.now() - t0).toBeLessThan(5_000);
    expect(checks).toHaveLength(1);
    expect(err.exitCode).toBe(1);
    const text = err.render();
    expect(text).toContain(
      "the scheduler on node1 stopped as it started: it ended with exit code 127 after 0.0 s; restarted 2 times since (exit code 127: a program it runs was not found)",
    );
    expect(text).toContain("| /tmp/TP $HOME/x/venv/bin/dask: 2: exec: /tmp/TP /root/x/venv/bin/python: not found");
    expect(text).toContain("npm run logs -- node1 scheduler");
  });

  it("worker: a worker still starting (its process alive) is waited for, its node asked between two slices of the wait", async () => {
    let waits = 0;
    const p = new FakeProvider({
      rules: [
        {
          match: /wait-workers/,
          reply: () =>
            ++waits < 3
              ? { exitCode: 1, stderr: "timed out" }
              : {
                  stdout: JSON.stringify([
                    {
                      name: "node3",
                      address: "tls://192.168.56.13:8788",
                      host: "192.168.56.13",
                      nthreads: 1,
                      memory_limit: 1,
                    },
                  ]),
                },
        },
        {
          match: /service check worker/,
          reply: { stdout: JSON.stringify({ running: true, restarts: 0, ended: null, log: "/x", log_tail: [] }) },
        },
      ],
    });
    const w = run("worker-node3", { provider: p });
    await w.done;
    expect(waits).toBe(3);
    expect(
      p.transports
        .get("node3")!
        .scripts.filter((x) => /service check worker --root \/opt\/dask-vm-cluster --manager systemd/.test(x)),
    ).toHaveLength(2);
    // Each slice is short: the node's wait is told to give up after WATCH_SLICE_S.
    expect(p.transports.get("node1")!.scripts.find((x) => x.includes("wait-workers"))).toMatch(/--timeout 2 /);
  });

  it("benchmark: runs the suite from node 1 and writes the report from what node 1 sends back", async () => {
    const p = new FakeProvider({ rules: [versionsReply()] });
    const head = p.transport(specs.get("benchmark")!.spec.cluster, cluster.nodes[0]!);
    head.get = async (_remote: string, local: string) => {
      mkdirSync(path.dirname(local), { recursive: true });
      writeFileSync(local, readFileSync(path.join(REPO, "test", "fixtures", "bench-results-small.json")));
    };
    const r = run("benchmark", { provider: p });
    await r.done;
    expect(head.scripts.some((x) => /dask_vm_runtime\.bench .*--workloads inc-sleep --size small/.test(x))).toBe(true);
    expect(readFileSync(path.join(checkout.dir, "results", "latest", "report.md"), "utf8")).toMatch(/inc-sleep/);
  });
});

describe("runStage (what Terraform runs)", () => {
  it("ends a stage with '<stage> apply complete' only after it did its work, and throws when it did not", async () => {
    const log = memoryLog();
    const host = fakeHost({ env: { HOME: work, DVC_CACHE_DIR: cache } });
    await runStage("apply", JSON.stringify(specs.get("bundle")!.spec), "", host, log);
    expect(log.lines.at(-1)).toBe("[bundle] apply complete");
    const failing = memoryLog();
    // The local provider on this scripted host: `ip netns add` fails, so the network stage throws, and says nothing of
    // completion.
    const err = await runStage(
      "apply",
      JSON.stringify(specs.get("network")!.spec),
      "",
      fakeHost({
        commands: {
          "ip netns list": "",
          "ip netns add": { exitCode: 1, stderr: "mount --make-shared /run/netns failed: Operation not permitted" },
        },
      }),
      failing,
    ).catch((e: unknown) => e);
    expect((err as UserError).render()).toContain("Operation not permitted");
    expect(failing.lines.some((l) => l.includes("complete"))).toBe(false);
  });

  it("refuses a bad action, an empty or broken spec, with exit 2", async () => {
    for (const [a, s, what] of [
      ["deploy", "{}", /unknown action "deploy"/],
      ["apply", "", /DVC_SPEC is empty/],
      ["apply", "{not json", /DVC_SPEC is not JSON/],
      ["apply", '{"stage":"teleport"}', /unknown stage "teleport"/],
    ] as const) {
      const err = (await runStage(a, s, "", fakeHost(), memoryLog()).catch((e: unknown) => e)) as UserError;
      expect(err.exitCode).toBe(2);
      expect(err.render()).toMatch(what);
    }
  });
});
