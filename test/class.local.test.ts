// A class on lab PCs: two students' clusters from one roster, deployed side by side on the
// same two machines (provider ssh; each machine a network namespace with a real sshd,
// test/helpers/ssh-lab.ts), each with the benchmark on deploy; then `npm run class --
// collect` reports both, healthy, with a chart per workload, and changes nothing on
// their clusters. Needs root.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { $ } from "zx";
import { labUnavailable, makeSshLab, type SshLab } from "./helpers/ssh-lab.js";
import { makeCheckout, makeProject, tail, type TestProject } from "./helpers/project.js";
import { writeTestOutput } from "./helpers/test-output.js";

const why = labUnavailable();
if (why) console.log(`class.local: skipped: ${why}`);
const measured: Record<string, unknown> = {};

describe.runIf(!why)("a class: two students' clusters from one roster, side by side, collected", () => {
  let lab: SshLab;
  let teacher: { top: string; dir: string };
  const students: TestProject[] = [];
  const cls = () => path.join(teacher.dir, "class");
  /** npm run class in the teacher's own checkout (its results/ get the report). */
  const teach = (args: string[]) =>
    $({
      cwd: teacher.dir,
      nothrow: true,
      quiet: true,
      env: { ...process.env, INIT_CWD: teacher.dir },
    })`node_modules/.bin/tsx provision/cli.ts class ${args}`;

  beforeAll(async () => {
    lab = await makeSshLab(2, "dvcclass");
    teacher = makeCheckout("dvc-class-");
    const [h1, h2] = lab.hosts;
    writeFileSync(
      path.join(teacher.dir, "roster.csv"),
      `student,hosts,identityFile\nAnaïs Martin,${h1!.user}@${h1!.ip} ${h2!.user}@${h2!.ip},${lab.key}\nLi Wei,${h2!.user}@${h2!.ip} ${h1!.user}@${h1!.ip},${lab.key}\n`,
    );
    writeFileSync(
      path.join(teacher.dir, "class.json"),
      JSON.stringify({ nodes: { cpus: 1, memoryMb: 1536 }, benchmark: { workloads: ["inc-sleep"], size: "small" } }),
    );
  }, 300_000);

  afterAll(async () => {
    for (const p of students) {
      if (existsSync(path.join(p.dir, ".cluster", "terraform.tfstate"))) await p.cdktf("destroy");
      p.remove();
    }
    await lab?.remove();
    if (teacher) rmSync(teacher.top, { recursive: true, force: true });
    writeTestOutput("class-local.json", measured);
    console.log("class.local measured:", JSON.stringify(measured));
  }, 600_000);

  it("npm run class -- roster: a config each, other ports and folders on the hosts they share", async () => {
    const r = await teach(["roster", "roster.csv", "--config", "class.json", "--known-hosts", lab.knownHosts]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(readdirSync(cls()).sort()).toEqual(["anaismartin", "liwei", "roster.json"]);
    expect(r.stdout).toMatch(/^Anaïs Martin\s+anaismartin\s+ports 8786-8790 /m);
    expect(r.stdout).toMatch(/^Li Wei\s+liwei\s+ports 8796-8800 /m);
  });

  it("both deploy side by side on the same two machines, each with its benchmark", async () => {
    for (const name of ["anaismartin", "liwei"]) {
      const config = JSON.parse(readFileSync(path.join(cls(), name, "cluster.config.json"), "utf8")) as object;
      const p = makeProject(config, `dvc-${name}-`);
      students.push(p);
      const d = await p.cdktf("deploy");
      measured[`${name}DeploySeconds`] = Number(d.seconds.toFixed(1));
      expect(d.out.exitCode, tail(d.out, 60)).toBe(0);
    }
    for (const p of students) {
      const s = await p.sh(["node_modules/.bin/tsx", "provision/cli.ts", "status", "--json"]);
      expect(s.exitCode, tail(s)).toBe(0);
      expect(JSON.parse(s.stdout).workers.map((w: { name: string }) => w.name)).toEqual(["node1", "node2"]);
    }
  }, 900_000);

  it("npm run class -- collect: both students healthy with their benchmark, a chart per workload; nothing changed on their clusters", async () => {
    const checkouts = path.join(teacher.top, "copies des étudiants");
    mkdirSync(checkouts, { recursive: true });
    symlinkSync(students[0]!.link, path.join(checkouts, "anaismartin"));
    symlinkSync(students[1]!.link, path.join(checkouts, "liwei"));
    const before = await Promise.all(lab.hosts.map((h) => lab.snapshot(h)));
    const r = await teach(["collect", "--checkouts", checkouts]);
    expect(r.exitCode, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toMatch(/^Anaïs Martin\s+healthy\s+2 workers, versions identical$/m);
    expect(r.stdout).toMatch(/^Li Wei\s+healthy\s+2 workers, versions identical$/m);
    const reports = path.join(teacher.dir, "results", "class");
    const dir = path.join(reports, readdirSync(reports)[0]!);
    const md = readFileSync(path.join(dir, "report.md"), "utf8");
    expect(md).toContain("2 students: 2 healthy, 0 unhealthy, 0 drifting, 0 missing.");
    expect(md).toContain("![inc-sleep](inc-sleep.svg)");
    expect(md).toMatch(/^\| Anaïs Martin \| [\d.]+ \| [\d.]+ \|$/m);
    expect(readFileSync(path.join(dir, "inc-sleep.svg"), "utf8")).toMatch(/^<svg/);
    expect(await Promise.all(lab.hosts.map((h) => lab.snapshot(h)))).toEqual(before);
    measured.report = md;
  }, 300_000);

  it("one student's cluster gone: collect names who is missing (exit 1)", async () => {
    const d = await students[1]!.cdktf("destroy");
    expect(d.out.exitCode, tail(d.out)).toBe(0);
    const checkouts = path.join(teacher.top, "copies des étudiants");
    const r = await teach(["collect", "--checkouts", checkouts]);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toMatch(/^Li Wei\s+missing\s+nothing deployed/m);
    expect(r.stdout).toMatch(/^Anaïs Martin\s+healthy/m);
  }, 300_000);
});
