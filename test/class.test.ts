// The classroom's roster and report without a cluster: the roster read (columns, user@host,
// bad rows with the field), every student a cluster name, five ports and folders of their
// own; collisions refused naming both students; the configs valid by the real validation;
// the report's verdicts and a chart per workload from a real results file.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { $ } from "zx";
import { bestTimes, classReport, verdictOf, type StudentSeen } from "../provision/bench/class-report.js";
import { validateResults } from "../provision/bench/results-schema.js";
import { clusterName, parseRoster, seatClass, validateSeats } from "../provision/config/roster.js";
import { UserError } from "../provision/core/errors.js";
import { REPO } from "./helpers/project.js";

const work = mkdtempSync(path.join(os.tmpdir(), "dvc-class-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function problemsOf(f: () => unknown): string[] {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(UserError);
    expect((err as UserError).exitCode).toBe(2);
    return (err as UserError).problems.map((p) => `${p.path}: ${p.message}`);
  }
  throw new Error("accepted");
}

describe("the roster", () => {
  it("reads the columns, user@host, quotes and comments", () => {
    const rows = parseRoster(
      '\uFEFFstudent,hosts,user\n# a comment\n"Dupré, Alice",192.168.1.21 192.168.1.22,etu\nBob,lab@192.168.1.22 192.168.1.21,etu\n',
      "roster.csv",
    );
    expect(rows.map((r) => [r.student, r.hosts.map((h) => `${h.user}@${h.address}`)])).toEqual([
      ["Dupré, Alice", ["etu@192.168.1.21", "etu@192.168.1.22"]],
      ["Bob", ["lab@192.168.1.22", "etu@192.168.1.21"]],
    ]);
  });

  it("refuses what it cannot use, naming the line and the column", () => {
    expect(problemsOf(() => parseRoster("name,hosts\nx,pc01\n", "r.csv"))).toEqual([
      'r.csv: header: no column "student"',
    ]);
    expect(problemsOf(() => parseRoster("student,hosts,user,colour\nA,pc01,etu,red\n", "r.csv"))).toEqual([
      'r.csv: header: unknown column "colour"',
    ]);
    expect(
      problemsOf(() => parseRoster("student,hosts,user,name,port,root\nA,,etu,,,\nB,pc01,,Bad-Name,80,tmp\n", "r.csv")),
    ).toEqual([
      "r.csv:2: hosts: empty",
      "r.csv:3: user: no account for pc01",
      'r.csv:3: name: "Bad-Name"',
      'r.csv:3: port: "80"',
      'r.csv:3: root: "tmp"',
    ]);
  });

  it("names a cluster after its student: lowercase ASCII, a letter first, 12 at most", () => {
    expect(clusterName("Chloé Dupré-Martin")).toBe("chloeduprema");
    expect(clusterName("42 Zoë")).toBe("s42zoe");
  });

  it("gives each student 5 ports 10 apart and a folder named after the cluster, on every host", () => {
    const rows = parseRoster("student,hosts,user\nAna,10.0.0.1 10.0.0.2,etu\nLi,10.0.0.2 10.0.0.1,etu\n", "r.csv");
    const seats = seatClass(
      rows,
      { nodes: { memoryMb: 1536 }, runtime: { packages: ["tabulate"] } },
      { rosterDir: work },
    );
    expect(seats.map((s) => [s.name, s.ports.schedulerPort, s.ports.workerDashboardPort, s.hosts[0]!.root])).toEqual([
      ["ana", 8786, 8790, "/home/etu/.dask-vm-cluster/ana"],
      ["li", 8796, 8800, "/home/etu/.dask-vm-cluster/li"],
    ]);
    expect(seats[1]!.config).toMatchObject({
      name: "li",
      provider: "ssh",
      nodes: { memoryMb: 1536 },
      runtime: { packages: ["tabulate"] },
      dask: { schedulerPort: 8796, dashboardPort: 8797, workerPort: 8798, nannyPort: 8799, workerDashboardPort: 8800 },
    });
    expect(() => validateSeats(seats, work)).not.toThrow();
  });

  it("refuses a collision naming both students, once per pair and kind", () => {
    const rows = parseRoster(
      "student,hosts,user,name,port,root\nAlice,pc01 pc02,etu,,8786,\nBob,pc02 pc03,etu,,8788,\nChloé,pc04,etu,alice,,\nDan,pc03,etu,dan,,/srv/x\nEve,pc03,etu,eve,,/srv/x\n",
      "r.csv",
    );
    expect(problemsOf(() => seatClass(rows, {}, { rosterDir: work }))).toEqual([
      "line 3: port: Alice and Bob would both use ports 8788, 8789, 8790 on pc02",
      'line 4: name: Alice and Chloé would both be cluster "alice"',
      "line 6: root: Dan and Eve would both use /srv/x on pc03",
    ]);
  });

  it("npm run class -- roster: writes nothing on a collision (exit 2), every config and roster.json otherwise", async () => {
    const tsx = path.join(REPO, "node_modules", ".bin", "tsx");
    const bad = path.join(work, "bad.csv");
    writeFileSync(bad, "student,hosts,user,port\nA,10.0.0.1,etu,9000\nB,10.0.0.1,etu,9002\n");
    const r1 = await $({
      cwd: REPO,
      nothrow: true,
      quiet: true,
    })`${tsx} provision/cli.ts class roster ${bad} --out ${path.join(work, "out-bad")}`;
    expect(r1.exitCode).toBe(2);
    expect(r1.stderr).toContain("A and B would both use ports 9002, 9003, 9004 on 10.0.0.1");
    expect(existsSync(path.join(work, "out-bad"))).toBe(false);
    const good = path.join(work, "good.csv");
    writeFileSync(good, "student,hosts,user\nA,10.0.0.1,etu\nB,10.0.0.1,etu\n");
    const r2 = await $({
      cwd: REPO,
      nothrow: true,
      quiet: true,
    })`${tsx} provision/cli.ts class roster ${good} --out ${path.join(work, "out")}`;
    expect(r2.exitCode, r2.stderr).toBe(0);
    const saved = JSON.parse(readFileSync(path.join(work, "out", "roster.json"), "utf8")) as {
      seats: Array<{ name: string; config: string }>;
    };
    expect(saved.seats.map((s) => s.config)).toEqual(["a/cluster.config.json", "b/cluster.config.json"]);
  });
});

describe("the class report", () => {
  const results = validateResults(
    JSON.parse(readFileSync(path.join(REPO, "test", "fixtures", "bench-results-small.json"), "utf8")),
  );
  const status = (over: object = {}) => ({
    deployed: true,
    healthy: true,
    versions: "identical",
    workers: [{ name: "node1" }, { name: "node2" }],
    nodes: [
      { name: "node1", state: "up" },
      { name: "node2", state: "up" },
    ],
    ...over,
  });
  const seen: StudentSeen[] = [
    { student: "Ana", name: "ana", checkout: "/c/ana", status: status(), results },
    { student: "Li", name: "li", checkout: "/c/li", status: status({ versions: "drift: numpy on node2" }) },
    { student: "Zoë", name: "zoe", checkout: "/c/zoe", missing: "no checkout at /c/zoe" },
    {
      student: "Tom",
      name: "tom",
      checkout: "/c/tom",
      status: status({
        healthy: false,
        nodes: [
          { name: "node1", state: "up" },
          { name: "node2", state: "down" },
        ],
      }),
    },
  ];

  it("judges each student: healthy, drifting, missing, unhealthy, with why", () => {
    expect(seen.map((s) => verdictOf(s))).toEqual([
      { verdict: "healthy", why: "2 workers, versions identical" },
      { verdict: "drifting", why: "versions: drift: numpy on node2" },
      { verdict: "missing", why: "no checkout at /c/zoe" },
      { verdict: "unhealthy", why: "node2 down" },
    ]);
  });

  it("takes each workload's best times: by node count, by variant, or the one run", () => {
    const inc = bestTimes(results.workloads["inc-sleep"]);
    expect([...inc.keys()]).toEqual(["1 node", "2 nodes", "3 nodes"]);
    for (const c of results.workloads["inc-sleep"]!.cases)
      expect(inc.get(`${c.nodes} node${c.nodes > 1 ? "s" : ""}`)).toBeLessThanOrEqual(c.seconds);
    expect([...bestTimes(results.workloads["map-reduce"]).keys()].sort()).toEqual(
      [...new Set(results.workloads["map-reduce"]!.variants.map((v) => v.variant))].sort(),
    );
    expect([...bestTimes(results.workloads.placement).entries()]).toEqual([
      ["all nodes", results.workloads.placement!.seconds],
    ]);
  });

  it("writes a table of verdicts and one chart per workload, rendered offline", async () => {
    const r = await classReport(seen, new Date("2026-12-05T10:00:00Z"));
    expect(r.markdown).toContain("4 students: 1 healthy, 1 unhealthy, 1 drifting, 1 missing.");
    expect(r.markdown).toContain("Needs a look: Li (drifting), Zoë (missing), Tom (unhealthy).");
    expect(r.charts.map((c) => c.file)).toEqual(
      Object.keys(results.workloads)
        .sort()
        .map((w) => `${w}.svg`),
    );
    for (const c of r.charts) expect(c.svg).toMatch(/^<svg/);
  });
});
