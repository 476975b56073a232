// The node runtime's services, run for real with the host's Python 3.11: the supervisor
// (start, idempotence, restart after kill -9 and after crashes with its backoff, stop
// that leaves no process, SIGKILL for a process that ignores SIGTERM, a program that
// cannot run) and the systemd unit it renders for VMs. The supervisor needs only the
// standard library, so the package runs from the source tree (PYTHONPATH).
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { $ } from "zx";

const REPO = path.resolve(import.meta.dirname, "..");
const RUNTIME = path.join(REPO, "cluster-runtime");

interface Status {
  name: string;
  manager: string;
  running: boolean;
  pid: number | null;
  child_pid: number | null;
  since: string | null;
  restarts: number;
  last_exit: { code: number } | null;
}

/** A node root as the stages use it, in rendered paths only (nothing is written there). */
const EXAMPLE_ROOT = "/opt/dvc";
let py = "";
const roots: string[] = [];

async function runtime(args: readonly string[]) {
  return $({
    nothrow: true,
    quiet: true,
    env: { ...process.env, PYTHONPATH: RUNTIME },
    timeout: 60_000,
  })`${py} -m dask_vm_runtime ${args}`;
}

async function service(action: string, root: string, name: string, manager = "supervisor"): Promise<Status> {
  const r = await runtime(["service", action, name, "--root", root, "--manager", manager]);
  if (r.exitCode !== 0) throw new Error(`service ${action} ${name} failed (${r.exitCode}): ${r.stderr}`);
  return JSON.parse(r.stdout) as Status;
}

function makeRoot(services: Record<string, object>): string {
  const root = mkdtempSync(path.join(os.tmpdir(), "dvc-svc-"));
  roots.push(root);
  mkdirSync(path.join(root, "etc"));
  for (const [name, def] of Object.entries(services))
    writeFileSync(path.join(root, "etc", `${name}.json`), JSON.stringify(def));
  return root;
}

/** A service like the nanny: a process that starts a subprocess, both recorded in pids.txt. */
function parentWithChild(root: string, extra = ""): object {
  const script = [
    "import os, subprocess, sys, time",
    extra,
    "g = subprocess.Popen(['sleep', '1000'])",
    "open(os.path.join(sys.argv[1], 'pids.txt'), 'a').write(f'{os.getpid()} {g.pid}\\n')",
    "time.sleep(1000)",
  ].join("\n");
  return { argv: [py, "-c", script, root], env: { SERVICE_MARK: "dvc-test" } };
}

function recordedPids(root: string): number[] {
  const file = path.join(root, "pids.txt");
  return existsSync(file) ? readFileSync(file, "utf8").split(/\s+/).filter(Boolean).map(Number) : [];
}

/** Alive means in /proc and not a zombie (PID 1 of a sandbox may never reap orphans). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return !/^[ZX]$/.test(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0]!);
  } catch {
    return false;
  }
}

async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  py = (await $({ quiet: true })`python3.11 -c ${"import sys; print(sys.executable)"}`).stdout.trim();
});

afterAll(async () => {
  for (const root of roots) {
    for (const name of ["svc", "crash", "stubborn"])
      if (existsSync(path.join(root, "etc", `${name}.json`)))
        await runtime(["service", "stop", name, "--root", root, "--manager", "supervisor"]);
    rmSync(root, { recursive: true, force: true });
  }
});

describe("supervisor", () => {
  it("starts once, restarts after kill -9 with the subprocess gone too, and stops leaving nothing", async () => {
    const root = makeRoot({});
    writeFileSync(path.join(root, "etc", "svc.json"), JSON.stringify(parentWithChild(root)));

    const first = await service("start", root, "svc");
    expect(first).toMatchObject({ name: "svc", manager: "supervisor", running: true, restarts: 0 });
    expect(first.child_pid).toBeGreaterThan(0);
    expect(readFileSync(path.join(root, "run", "svc.pid"), "utf8").trim()).toBe(String(first.pid));
    const state = JSON.parse(readFileSync(path.join(root, "run", "svc.state.json"), "utf8")) as Record<string, unknown>;
    expect(state).toMatchObject({ supervisor_pid: first.pid, child_pid: first.child_pid, restarts: 0 });

    const again = await service("start", root, "svc");
    expect(again.pid).toBe(first.pid);
    expect(again.child_pid).toBe(first.child_pid);

    const [child, grandchild] = await waitFor("the service's pids", () =>
      recordedPids(root).length === 2 ? recordedPids(root) : undefined,
    );
    expect(child).toBe(first.child_pid);
    process.kill(child!, "SIGKILL");
    const restarted = await waitFor("a restart", async () => {
      const s = await service("status", root, "svc");
      return s.child_pid && s.child_pid !== child ? s : undefined;
    });
    expect(restarted).toMatchObject({ running: true, pid: first.pid, restarts: 1, last_exit: { code: -9 } });
    // Like KillMode=control-group: the orphaned subprocess went before the restart.
    expect(alive(grandchild!)).toBe(false);
    const log = readFileSync(path.join(root, "logs", "svc.log"), "utf8");
    expect(log).toMatch(/process ended with signal SIGKILL/);
    expect(log).toMatch(/restarting in 1 s/);

    await waitFor("the new pids", () => (recordedPids(root).length === 4 ? true : undefined));
    const stopped = await service("stop", root, "svc");
    expect(stopped).toMatchObject({ running: false, pid: null, child_pid: null });
    for (const pid of [first.pid!, ...recordedPids(root)]) expect(alive(pid), `pid ${pid} survived stop`).toBe(false);
    expect(existsSync(path.join(root, "run", "svc.pid"))).toBe(false);
    expect(existsSync(path.join(root, "run", "svc.state.json"))).toBe(false);

    expect(await service("stop", root, "svc")).toMatchObject({ running: false });
  });

  it("restarts a crashing process with a growing backoff (1 s, 2 s, ...)", async () => {
    const root = makeRoot({});
    writeFileSync(
      path.join(root, "etc", "crash.json"),
      JSON.stringify({ argv: [py, "-c", "import sys; print('crashing', flush=True); sys.exit(7)"] }),
    );
    await service("start", root, "crash");
    const s = await waitFor("two restarts", async () => {
      const st = await service("status", root, "crash");
      return st.restarts >= 2 ? st : undefined;
    });
    expect(s.running).toBe(true);
    expect(s.last_exit?.code).toBe(7);
    const log = readFileSync(path.join(root, "logs", "crash.log"), "utf8");
    expect(log).toMatch(/crashing/);
    expect(log).toMatch(/ended with exit code 7[\s\S]*restarting in 1 s[\s\S]*restarting in 2 s/);
    expect((await service("stop", root, "crash")).running).toBe(false);
  });

  it("SIGKILLs a service that ignores SIGTERM after the 10 s grace", async () => {
    const root = makeRoot({});
    writeFileSync(
      path.join(root, "etc", "stubborn.json"),
      JSON.stringify(parentWithChild(root, "import signal; signal.signal(signal.SIGTERM, signal.SIG_IGN)")),
    );
    const started = await service("start", root, "stubborn");
    await waitFor("the service's pids", () => (recordedPids(root).length === 2 ? true : undefined));
    const t0 = performance.now();
    expect((await service("stop", root, "stubborn")).running).toBe(false);
    expect((performance.now() - t0) / 1000).toBeGreaterThanOrEqual(9);
    for (const pid of [started.pid!, ...recordedPids(root)]) expect(alive(pid), `pid ${pid} survived stop`).toBe(false);
    expect(readFileSync(path.join(root, "logs", "stubborn.log"), "utf8")).toMatch(/still running after 10 s: SIGKILL/);
  }, 60_000);

  it("fails start with a one-line reason when the program cannot be executed", async () => {
    const root = makeRoot({ broken: { argv: ["/nonexistent/dask", "scheduler"] } });
    const r = await runtime(["service", "start", "broken", "--root", root, "--manager", "supervisor"]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/did not start: cannot execute \/nonexistent\/dask/);
    expect((await service("status", root, "broken")).running).toBe(false);
  });

  it("rejects bad definitions and arguments with exit 2 and one line", async () => {
    const root = makeRoot({ bad: { argv: [], colour: "blue" } });
    for (const args of [
      ["service", "start", "bad", "--root", root, "--manager", "supervisor"],
      ["service", "start", "missing", "--root", root, "--manager", "supervisor"],
      ["service", "start", "Bad_Name", "--root", root, "--manager", "supervisor"],
      ["service", "start", "bad", "--root", root],
      ["service", "start", "bad", "--root", root, "--manager", "upstart"],
      ["wait-workers", "--scheduler", "tcp://127.0.0.1:1"],
    ]) {
      const r = await runtime(args);
      expect(r.exitCode, args.join(" ")).toBe(2);
      expect(r.stderr.trim().split("\n"), r.stderr).toHaveLength(1);
    }
    const r = await runtime(["service", "start", "bad", "--root", root, "--manager", "supervisor"]);
    expect(r.stderr).toMatch(/unknown key\(s\) colour; allowed keys are argv, env, cwd/);
  });
});

describe("systemd unit", () => {
  it("renders Restart=always, the whole cgroup, the owner, and quotes what systemd would expand", async () => {
    const root = makeRoot({
      scheduler: {
        argv: [
          `${EXAMPLE_ROOT}/venv/bin/dask`,
          "scheduler",
          "--host",
          "192.168.56.11",
          "--note",
          'a "quoted" $HOME 100% \\ word',
        ],
        env: { DASK_CONFIG: "/opt/dvc/etc/dask", GREETING: "hello world" },
        cwd: "/opt/dvc",
      },
    });
    const r = await runtime(["service", "unit", "scheduler", "--root", root]);
    expect(r.exitCode, r.stderr).toBe(0);
    const unit = r.stdout;
    const owner = os.userInfo().username;
    for (const line of [
      "[Unit]",
      "After=network-online.target",
      "StartLimitIntervalSec=0",
      "[Service]",
      "Type=exec",
      `User=${owner}`,
      "WorkingDirectory=/opt/dvc",
      'Environment="DASK_CONFIG=/opt/dvc/etc/dask"',
      'Environment="GREETING=hello world"',
      'Environment="PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"',
      `ExecStart="${EXAMPLE_ROOT}/venv/bin/dask" "scheduler" "--host" "192.168.56.11" "--note" "a \\"quoted\\" $$HOME 100%% \\\\ word"`,
      "Restart=always",
      "RestartSec=1",
      "KillMode=control-group",
      `StandardOutput=append:${root}/logs/scheduler.log`,
      "[Install]",
      "WantedBy=multi-user.target",
    ]) {
      expect(unit.split("\n"), line).toContain(line);
    }
  });

  it("is a pure function: same definition, same text; a changed env changes it", async () => {
    const code = [
      "from dask_vm_runtime.services.definition import ServiceDef",
      "from dask_vm_runtime.services.systemd import render_unit",
      "spec = lambda env: ServiceDef(name='worker', argv=('/r/venv/bin/dask', 'worker'), env=env, cwd='/r')",
      "kw = dict(user='vagrant', group='vagrant', log_path='/r/logs/worker.log', definition_path='/r/etc/worker.json')",
      "a = render_unit(spec({'B': '2', 'A': '1'}), env={'B': '2', 'A': '1'}, **kw)",
      "b = render_unit(spec({'A': '1', 'B': '2'}), env={'A': '1', 'B': '2'}, **kw)",
      "c = render_unit(spec({'A': '1'}), env={'A': '1'}, **kw)",
      "print(a == b, a != c, a.index('Environment=\"A=1\"') < a.index('Environment=\"B=2\"'))",
    ].join("\n");
    const r = await $({ quiet: true, nothrow: true, env: { ...process.env, PYTHONPATH: RUNTIME } })`${py} -c ${code}`;
    expect(r.stderr).toBe("");
    expect(r.stdout.trim()).toBe("True True True");
  });

  it("drives systemctl with one daemon-reload at most, and none when nothing changed", async () => {
    // A stand-in systemctl that logs its arguments and keeps is-enabled state; the
    // manager's own code runs unchanged except where it would touch /etc/systemd.
    const root = makeRoot({ scheduler: { argv: ["/bin/sleep", "1000"], env: { A: "1" }, cwd: "/" } });
    const bin = path.join(root, "bin");
    mkdirSync(bin);
    const log = path.join(root, "systemctl.log");
    writeFileSync(
      path.join(bin, "systemctl"),
      `#!/bin/sh\necho "$*" >> ${log}\ncase "$1" in\n  is-enabled) [ -e ${root}/enabled ] ;;\n  enable) touch ${root}/enabled ;;\n  disable) rm -f ${root}/enabled ;;\nesac\n`,
      { mode: 0o755 },
    );
    const units = path.join(root, "units");
    mkdirSync(units);
    const code = [
      "import json, sys",
      "from pathlib import Path",
      "import dask_vm_runtime.services.systemd as sd",
      "sd._require_systemd = lambda *a: None",
      "sd.UNIT_DIR = Path(sys.argv[1])",
      "sd.status = lambda *a: {}",
      "root = Path(sys.argv[2]); log = Path(sys.argv[3])",
      "def step(label, f):",
      "    f(root, 'scheduler'); print(label + ': ' + ' | '.join(log.read_text().splitlines())); log.write_text('')",
      "step('first start', sd.start)",
      "step('start again', sd.start)",
      "step('restart', sd.restart)",
      "d = root / 'etc' / 'scheduler.json'; spec = json.loads(d.read_text()); spec['env']['A'] = '2'; d.write_text(json.dumps(spec))",
      "step('changed', sd.start)",
      "step('stop', sd.stop)",
    ].join("\n");
    const r = await $({
      quiet: true,
      nothrow: true,
      env: { ...process.env, PYTHONPATH: RUNTIME, PATH: `${bin}:${process.env.PATH}` },
    })`${py} -c ${code} ${units} ${root} ${log}`;
    expect(r.stderr).toBe("");
    // Not the VM root: the unit's name carries a hash of the runtime's folder.
    const u = `dvc-scheduler-${createHash("sha256").update(root).digest("hex").slice(0, 8)}.service`;
    expect(r.stdout.trim().split("\n")).toEqual([
      `first start: is-enabled --quiet ${u} | enable --no-reload ${u} | daemon-reload | start ${u}`,
      `start again: is-enabled --quiet ${u} | start ${u}`,
      `restart: is-enabled --quiet ${u} | restart ${u}`,
      `changed: is-enabled --quiet ${u} | daemon-reload | restart ${u}`,
      `stop: disable --no-reload --now ${u} | daemon-reload | reset-failed ${u}`,
    ]);
    expect(existsSync(path.join(units, u))).toBe(false);
  });

  it("refuses the systemd manager where systemd does not run, writing nothing", async (ctx) => {
    if (existsSync("/run/systemd/system"))
      ctx.skip("this host runs systemd; the VM suites exercise the systemd manager for real");
    const root = makeRoot({ svc: { argv: ["/bin/true"] } });
    for (const action of ["start", "status", "stop"]) {
      const r = await runtime(["service", action, "svc", "--root", root, "--manager", "systemd"]);
      expect(r.exitCode).toBe(1);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stderr).toMatch(/systemd is not running on this machine.*use --manager supervisor/);
    }
    expect(
      existsSync("/etc/systemd/system")
        ? readdirSync("/etc/systemd/system").filter((f) => f.startsWith("dvc-svc"))
        : [],
    ).toEqual([]);
  });
});
