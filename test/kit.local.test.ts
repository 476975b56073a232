// A classroom kit, built here for this computer's platform, then used where the room has no
// network: in a network namespace with no route out (only loopback, then the project's own
// bridge to its nodes), a fresh clone of the kit's repo.bundle installs its npm packages
// from the kit and deploys the local provider from it: 3 workers, identical versions. Any
// connection out fails there (the test shows it: no route), so nothing can have been
// fetched. Needs root (namespaces).
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { $, type ProcessOutput } from "zx";
import { checkOutWithCrlf } from "./helpers/crlf.js";
import { REPO, SPACED_FOLDER, tail } from "./helpers/project.js";
import { rootOrSkip } from "./helpers/root.js";
import { cdktfEnv } from "./helpers/terraform.js";
import { writeTestOutput } from "./helpers/test-output.js";

const isRoot = rootOrSkip("kit.local", "it makes a network namespace with no route out (root only)");
const measured: Record<string, unknown> = {};
const NS = `dvckit${process.pid}`;

describe.runIf(isRoot)("a classroom kit: built here, then a deploy from it where nothing can be fetched", () => {
  let top: string;
  const teacher = () => path.join(top, SPACED_FOLDER, "teacher");
  const kit = () => path.join(top, "clé USB", "kit");
  const student = () => path.join(top, SPACED_FOLDER, "élève");
  const cache = () => path.join(top, "student-cache");
  let deployed = false;

  /** A command in the teacher's clone (which has the repository's node_modules by a link). */
  const teach = (args: readonly string[]) =>
    $({ cwd: teacher(), nothrow: true, quiet: true, env: { ...process.env, INIT_CWD: teacher() } })`${path.join(
      REPO,
      "node_modules",
      ".bin",
      "tsx",
    )} provision/cli.ts kit ${args}`;
  /**
   * A command in the namespace with no route, in the student's clone, with an empty cache of
   * its own. nsenter, not `ip netns exec`: that one also makes a mount namespace, where the
   * node namespaces a deploy adds would stay, out of sight of the next command.
   */
  const offline = (argv: readonly string[], cwd = student(), timeout = 1_200_000): Promise<ProcessOutput> =>
    $({
      cwd,
      nothrow: true,
      quiet: true,
      timeout,
      env: cdktfEnv({ DVC_CACHE_DIR: cache(), npm_config_update_notifier: "false", INIT_CWD: cwd }),
    })`nsenter --net=/run/netns/${NS} ${argv}`;

  beforeAll(async () => {
    top = realpathSync(mkdtempSync(path.join(os.tmpdir(), "dvc-kit-")));
    await $({ quiet: true })`git clone -q ${REPO} ${teacher()}`;
    symlinkSync(path.join(REPO, "node_modules"), path.join(teacher(), "node_modules"), "dir");
    writeFileSync(
      path.join(top, "class.json"),
      JSON.stringify({
        provider: "local",
        nodes: { count: 3, cpus: 1 },
        benchmark: { size: "small", workloads: ["inc-sleep"] },
      }),
    );
    await $({ quiet: true })`ip netns add ${NS}`;
    await $({ quiet: true })`ip netns exec ${NS} ip link set lo up`;
  }, 120_000);

  afterAll(async () => {
    if (deployed) await offline(["node_modules/.bin/cdktf", "destroy", "--auto-approve"]);
    await $({ quiet: true, nothrow: true })`ip netns del ${NS}`;
    if (top) rmSync(top, { recursive: true, force: true });
    writeTestOutput("kit-local.json", measured);
    console.log("kit.local measured:", JSON.stringify(measured));
  }, 600_000);

  it("bad input: an unknown platform, a folder that is not a kit: exit 2, nothing made", async () => {
    const r = await teach(["build", path.join(top, "nope"), "--platforms", "beos-x64"]);
    expect(r.exitCode, tail(r)).toBe(2);
    expect(r.stderr).toMatch(/--platforms names beos-x64/);
    expect(r.stderr).toMatch(/linux-x64, linux-arm64, darwin-x64, darwin-arm64, win32-x64, win32-arm64/);
    expect(existsSync(path.join(top, "nope"))).toBe(false);
    const mac = await teach([
      "build",
      path.join(top, "nope"),
      "--platforms",
      "linux-x64,darwin-arm64",
      "--config",
      path.join(top, "class.json"),
    ]);
    expect(mac.exitCode, tail(mac)).toBe(2);
    expect(mac.stderr).toMatch(/provider local does not run on darwin-arm64/);
    expect(existsSync(path.join(top, "nope"))).toBe(false);
    writeFileSync(path.join(top, "not-a.box"), "hello");
    const box = await teach([
      "build",
      path.join(top, "nope"),
      "--config",
      path.join(top, "class.json"),
      "--box",
      path.join(top, "not-a.box"),
    ]);
    expect(box.exitCode, tail(box)).toBe(2);
    expect(box.stderr).toContain("not a Vagrant box: no metadata.json naming its provider");
    expect(existsSync(path.join(top, "nope"))).toBe(false);
    const u = await teach(["check", path.join(top, "nope")]);
    expect(u.exitCode).toBe(2);
    expect(u.stderr).toMatch(/is not a kit/);
  });

  it("kit build: this computer's platform, every item in the manifest with its sha256", async () => {
    const t0 = performance.now();
    const r = await teach(["build", kit(), "--config", path.join(top, "class.json")]);
    measured.buildSeconds = Number(((performance.now() - t0) / 1000).toFixed(1));
    expect(r.exitCode, tail(r, 60)).toBe(0);
    const m = JSON.parse(readFileSync(path.join(kit(), "kit.json"), "utf8"));
    const kinds = new Set(m.items.map((i: { kind: string }) => i.kind));
    for (const k of ["repo", "config", "bundle", "notebook", "provider", "lock", "uv", "npm"])
      expect(kinds).toContain(k);
    expect(m.platforms).toEqual([`${process.platform}-${process.arch}`]);
    measured.kitBytes = m.items.reduce((s: number, i: { bytes: number }) => s + i.bytes, 0);
    measured.kitItems = m.items.length;
    expect(r.stdout).toMatch(/^kit .*: \d+ items, [\d.]+ MB, built in [\d.]+ s, for linux-/m);
    const pinned = JSON.parse(readFileSync(path.join(kit(), "class", "cluster.config.json"), "utf8"));
    expect(pinned.nodes).toEqual({ count: 3, cpus: 1, memoryMb: 1024 });
    expect(pinned.runtime.python).toMatch(/^3\.\d+$/);
    const c = await teach(["check", kit()]);
    expect(c.exitCode, tail(c)).toBe(0);
    expect(c.stdout).toMatch(/all \d+ items whole/);
    expect(c.stdout).toMatch(/Node\.js .* Terraform or OpenTofu/);
  }, 1_200_000);

  it("with no route out, a fresh clone installs from the kit and deploys from it: 3 workers, one set of versions", async () => {
    // The proof that nothing can be fetched: no route, so any connection out fails at once.
    const routes = await offline(["ip", "-4", "route"], top);
    expect(routes.stdout.trim()).toBe("");
    const probe = await offline(
      [
        process.execPath,
        "-e",
        "fetch('https://registry.npmjs.org/zx').then(() => process.exit(0), (e) => { console.log(e.cause?.code ?? e.message); process.exit(1) })",
      ],
      top,
    );
    expect(probe.exitCode).toBe(1);
    expect(probe.stdout.trim()).toMatch(/ENETUNREACH|EAI_AGAIN|ENOTFOUND/);

    const clone = await offline(["git", "clone", "-q", path.join(kit(), "repo.bundle"), student()], top);
    expect(clone.exitCode, tail(clone)).toBe(0);
    let t0 = performance.now();
    const npm = await offline([
      "npm",
      "install",
      "--offline",
      "--cache",
      path.join(kit(), "npm"),
      "--no-audit",
      "--no-fund",
      "--loglevel=error",
    ]);
    measured.npmInstallSeconds = Number(((performance.now() - t0) / 1000).toFixed(1));
    expect(npm.exitCode, tail(npm)).toBe(0);
    const use = await offline([process.execPath, "node_modules/.bin/tsx", "provision/cli.ts", "kit", "use", kit()]);
    expect(use.exitCode, tail(use)).toBe(0);
    expect(use.stdout).toMatch(
      /\[kit\] from the kit at .*runtime bundle \w+ .*\[copied, [\d.]+ MB\].*hashicorp\/null .*nothing fetched/,
    );
    t0 = performance.now();
    const d = await offline(["node_modules/.bin/cdktf", "deploy", "--auto-approve"]);
    deployed = true;
    measured.deploySeconds = Number(((performance.now() - t0) / 1000).toFixed(1));
    expect(d.exitCode, tail(d, 80)).toBe(0);
    expect(d.stdout).toMatch(/\[kit\] from the kit at .*already in the cache.*nothing fetched/);
    expect(d.stdout).toMatch(/hashicorp\/null 2\.2\.0 from terraform\.d\/plugins \(taken from the kit/);
    const v = await offline(["npm", "run", "-s", "verify-versions"]);
    expect(v.exitCode, tail(v)).toBe(0);
    const s = await offline([process.execPath, "node_modules/.bin/tsx", "provision/cli.ts", "status", "--json"]);
    expect(s.exitCode, tail(s)).toBe(0);
    expect(JSON.parse(s.stdout).workers.map((w: { name: string }) => w.name)).toEqual(["node1", "node2", "node3"]);
    // Still no way out: the only routes are the project's own bridge to its nodes.
    const after = await offline(["ip", "-4", "route"], top);
    expect(after.stdout).not.toMatch(/^default/m);
    const t1 = performance.now();
    const x = await offline(["node_modules/.bin/cdktf", "destroy", "--auto-approve"]);
    measured.destroySeconds = Number(((performance.now() - t1) / 1000).toFixed(1));
    expect(x.exitCode, tail(x)).toBe(0);
    deployed = false;
  }, 1_800_000);

  it("a box from the teacher's Vagrant box store goes into the kit, and into a CRLF checkout's box store from it", async (ctx) => {
    const vagrant = await $({ quiet: true, nothrow: true })`vagrant --version`;
    if (vagrant.exitCode !== 0) ctx.skip("vagrant is not installed: the box store cannot be read or filled");
    // A small libvirt box of our own making (metadata, Vagrantfile, an image of 1 kB): the
    // kit carries it as Vagrant unpacked it; its use adds it with `vagrant box add`.
    const boxDir = path.join(top, "box");
    mkdirSync(boxDir);
    writeFileSync(path.join(boxDir, "metadata.json"), '{"provider":"libvirt","format":"qcow2","virtual_size":1}');
    writeFileSync(path.join(boxDir, "Vagrantfile"), 'Vagrant.configure("2") { |c| }\n');
    writeFileSync(path.join(boxDir, "box.img"), Buffer.alloc(1024, 7));
    await $({ quiet: true })`tar -czf ${path.join(top, "tiny.box")} -C ${boxDir} metadata.json Vagrantfile box.img`;
    const teacherBoxes = path.join(top, "vagrant-teacher");
    const studentBoxes = path.join(top, "vagrant-élève");
    await $({
      quiet: true,
      env: { ...process.env, VAGRANT_HOME: teacherBoxes },
    })`vagrant box add --name dvc/tiny --provider libvirt ${path.join(top, "tiny.box")}`;
    writeFileSync(
      path.join(top, "class-libvirt.json"),
      JSON.stringify({ provider: "libvirt", box: { name: "dvc/tiny" }, nodes: { count: 2 } }),
    );
    const vmKit = path.join(top, "kit libvirt");
    const b = await $({
      cwd: teacher(),
      nothrow: true,
      quiet: true,
      env: { ...process.env, INIT_CWD: teacher(), VAGRANT_HOME: teacherBoxes },
    })`${path.join(REPO, "node_modules", ".bin", "tsx")} provision/cli.ts kit build ${vmKit} --config ${path.join(top, "class-libvirt.json")}`;
    expect(b.exitCode, tail(b)).toBe(0);
    const m = JSON.parse(readFileSync(path.join(vmKit, "kit.json"), "utf8"));
    expect(m.items.filter((i: { kind: string }) => i.kind === "box").map((i: { what: string }) => i.what)).toEqual([
      "box dvc/tiny (libvirt 0, from the box store)",
    ]);
    const crlf = path.join(top, SPACED_FOLDER, "windows");
    await $({ quiet: true })`git clone -q ${path.join(vmKit, "repo.bundle")} ${crlf}`;
    await checkOutWithCrlf(crlf);
    expect(readFileSync(path.join(crlf, "cluster-runtime", "install.sh"), "utf8")).toContain("\r\n");
    symlinkSync(path.join(REPO, "node_modules"), path.join(crlf, "node_modules"), "dir");
    const u = await $({
      cwd: crlf,
      nothrow: true,
      quiet: true,
      env: { ...process.env, INIT_CWD: crlf, VAGRANT_HOME: studentBoxes, DVC_CACHE_DIR: path.join(top, "crlf-cache") },
    })`node_modules/.bin/tsx provision/cli.ts kit use ${vmKit}`;
    expect(u.exitCode, tail(u)).toBe(0);
    // The CRLF checkout's bundle is the kit's (sources hashed with LF endings), and the box was added.
    expect(u.stdout).toMatch(/runtime bundle \w+ .*\[copied, [\d.]+ MB\]/);
    expect(u.stdout).toMatch(/box dvc\/tiny \(libvirt 0, from the box store\) \[copied, /);
    const list = await $({ quiet: true, env: { ...process.env, VAGRANT_HOME: studentBoxes } })`vagrant box list`;
    expect(list.stdout).toMatch(/^dvc\/tiny\s+\(libvirt, 0/m);
  }, 600_000);

  it("kit check names a damaged item and exits 1", async () => {
    const m = JSON.parse(readFileSync(path.join(kit(), "kit.json"), "utf8"));
    const provider = m.items.find((i: { kind: string }) => i.kind === "provider");
    truncateSync(path.join(kit(), ...provider.path.split("/")), 1000);
    const c = await teach(["check", kit()]);
    expect(c.exitCode, tail(c)).toBe(1);
    expect(c.stderr).toContain(provider.path);
    expect(c.stderr).toMatch(/truncated or changed/);
  });
});
