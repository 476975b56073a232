// The Node.js support matrix, from what npm really installs: package.json's engines agree
// with provision/core/node-support.mjs; an unsupported Node gets one line with the fix; and, read
// from package-lock.json (which lists every platform's optional packages, not only this
// machine's), the pseudo-terminal module cdktf's CLI loads has a binary for every platform
// × Node line the README claims, with no install script and no compiler.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { enginesRange, nodeSupportProblem, SUPPORTED_NODE_LINES } from "../provision/core/node-support.mjs";
import { PROJECT_DIR } from "../provision/host/paths.js";

const pkg = JSON.parse(readFileSync(path.join(PROJECT_DIR, "package.json"), "utf8"));
const lock = JSON.parse(readFileSync(path.join(PROJECT_DIR, "package-lock.json"), "utf8")) as Lock;

/** The platforms the README's support table names, as npm's os/cpu fields spell them. */
const PLATFORMS = [
  { os: "win32", cpu: "x64" },
  { os: "darwin", cpu: "x64" },
  { os: "darwin", cpu: "arm64" },
  { os: "linux", cpu: "x64" },
  { os: "linux", cpu: "arm64" },
] as const;

interface LockEntry {
  name?: string;
  version?: string;
  hasInstallScript?: boolean;
  optional?: boolean;
  os?: string[];
  cpu?: string[];
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
}
interface Lock {
  packages: Record<string, LockEntry>;
}

/** The module name cdktf's CLI bundle requires for its pseudo-terminal. */
function ptyModuleOfCli(): string {
  const bundle = readFileSync(path.join(PROJECT_DIR, "node_modules/cdktf-cli/bundle/bin/cmds/handlers.js"), "utf8");
  const names = [...new Set([...bundle.matchAll(/require\("([^"]*pty[^"]*)"\)/g)].map((m) => m[1]))];
  expect(names, "cdktf-cli's bundle should require exactly one pty module").toHaveLength(1);
  return names[0];
}

/** Where node resolves `name` from node_modules/cdktf-cli: its own node_modules, then the top. */
function resolveInLock(l: Lock, name: string): [string, LockEntry] | undefined {
  for (const key of [`node_modules/cdktf-cli/node_modules/${name}`, `node_modules/${name}`]) {
    const entry = l.packages[key];
    if (entry) return [key, entry];
  }
  return undefined;
}

const matches = (list: string[] | undefined, value: string) =>
  !list || list.includes(value) || (list.some((v) => v.startsWith("!")) && !list.includes(`!${value}`));

/**
 * For one platform: the package holding the terminal module's native binary, or why there
 * is none that loads without an install script on every supported Node line.
 */
function binaryFor(
  l: Lock,
  moduleName: string,
  os: string,
  cpu: string,
): { ok: true; binaryPackage: string; version: string } | { ok: false; why: string } {
  const found = resolveInLock(l, moduleName);
  if (!found) return { ok: false, why: `${moduleName} is not in package-lock.json where cdktf-cli resolves it` };
  const [, entry] = found;
  if (entry.hasInstallScript) {
    return {
      ok: false,
      why: `${entry.name ?? moduleName}@${entry.version} gets its binary from an install script (a download per Node ABI, or a compiler): none without scripts, none for a Node ABI it was not built for`,
    };
  }
  for (const dep of Object.keys(entry.optionalDependencies ?? {})) {
    const [, sub] = resolveInLock(l, dep) ?? [];
    if (sub?.os && sub.cpu && matches(sub.os, os) && matches(sub.cpu, cpu))
      return { ok: true, binaryPackage: dep, version: sub.version ?? "" };
  }
  return { ok: false, why: `${entry.name ?? moduleName}@${entry.version} has no optional package for ${os}-${cpu}` };
}

describe("supported Node.js lines", () => {
  it("package.json's engines is the range provision/core/node-support.mjs makes (edit the list there, then engines)", () => {
    expect(pkg.engines.node).toBe(enginesRange());
    expect(SUPPORTED_NODE_LINES.map((l) => l.major)).toEqual([22, 24, 26]);
  });

  it("npm install refuses an unsupported Node before installing anything (.npmrc engine-strict)", () => {
    expect(readFileSync(path.join(PROJECT_DIR, ".npmrc"), "utf8")).toMatch(/^engine-strict=true$/m);
  });

  it("each supported line runs; an ended, odd, too old or untried one gets one line with the fix", () => {
    for (const v of ["v22.12.0", "v22.23.5", "v24.0.0", "v24.22.3", "v26.12.1"])
      expect(nodeSupportProblem(v), v).toBeUndefined();
    const cases: [string, RegExp][] = [
      [
        "v20.20.2",
        /not supported \(it is past its end of life\); supported lines: 22, 24, 26: install Node\.js 26 LTS/,
      ],
      ["v18.20.8", /past its end of life/],
      ["v22.11.0", /too old within its line: 22 needs 22\.12\.0 or newer/],
      ["v23.11.1", /odd Node lines are never LTS/],
      ["v27.2.0", /odd Node lines are never LTS/],
      ["v28.0.0", /has not been tried on it yet/],
    ];
    for (const [v, re] of cases) {
      const p = nodeSupportProblem(v);
      expect(p, v).toMatch(re);
      expect(p, v).not.toContain("\n");
    }
  });

  it("an unsupported Node running a verb prints that one line, no stack trace, exit 1", () => {
    // This Node, told it is Node 20 through the check's own parameter, as a CLI sees it.
    const out = (() => {
      try {
        execFileSync(
          process.execPath,
          [
            "--input-type=module",
            "-e",
            `import(${JSON.stringify(pathToFileURL(path.join(PROJECT_DIR, "provision", "core", "node-support.mjs")).href)}).then((m) => m.requireSupportedNode("v20.20.2", {}))`,
          ],
          { encoding: "utf8", stdio: "pipe" },
        );
        return { status: 0, stderr: "" };
      } catch (e) {
        const err = e as { status: number; stderr: string };
        return { status: err.status, stderr: err.stderr };
      }
    })();
    expect(out.status).toBe(1);
    expect(out.stderr.trim().split("\n")).toHaveLength(1);
    expect(out.stderr).toMatch(/^error: Node\.js v20\.20\.2 is not supported/);
    expect(out.stderr).not.toMatch(/\bat \S+ \(/);
  });
});

describe("cdktf's pseudo-terminal on every platform × Node line (read from package-lock.json)", () => {
  const moduleName = ptyModuleOfCli();

  it("cdktf-cli loads @cdktf/node-pty-prebuilt-multiarch, which npm overrides with @lydell/node-pty (N-API, one package per platform)", () => {
    expect(moduleName).toBe("@cdktf/node-pty-prebuilt-multiarch");
    const [, entry] = resolveInLock(lock, moduleName) ?? [];
    expect(entry?.name).toBe("@lydell/node-pty");
    expect(entry?.hasInstallScript).toBeFalsy();
    expect(pkg.overrides[moduleName]).toBe(`$${moduleName}`);
  });

  for (const { os, cpu } of PLATFORMS) {
    for (const { major } of SUPPORTED_NODE_LINES) {
      it(`${os}-${cpu}, Node ${major}: a prebuilt binary, no install script, no compiler`, () => {
        const b = binaryFor(lock, moduleName, os, cpu);
        expect(b.ok ? "" : b.why).toBe("");
        // The binary is N-API (below): one build serves every Node line, so the line only
        // has to be one npm installs the package on (no engines in the way).
        if (b.ok) expect(lock.packages[`node_modules/${b.binaryPackage}`]).not.toHaveProperty("engines");
      });
    }
  }

  // ELF symbols, read with binutils' nm: on the Windows and macOS runners of the GitHub
  // workflow the inventory above is the check.
  const elf = process.platform === "linux";
  if (!elf)
    console.log(`node-support: the N-API symbol check skipped: it reads ELF with nm, and this is ${process.platform}`);
  it.runIf(elf)(
    "the binary installed here is N-API: it imports napi_* and no V8 symbol (so no Node ABI version is baked in)",
    () => {
      const file = path.join(PROJECT_DIR, `node_modules/@lydell/node-pty-${process.platform}-${process.arch}/pty.node`);
      expect(existsSync(file), file).toBe(true);
      const symbols = execFileSync("nm", ["-D", "--undefined-only", file], { encoding: "utf8" });
      expect(symbols).toMatch(/\bnapi_create_function\b/);
      expect(symbols).not.toMatch(/_ZN2v8|node_module_register/);
    },
  );

  it("every platform's binary package is the same release as the one tried here", () => {
    const versions = new Set(
      PLATFORMS.map(({ os, cpu }) => binaryFor(lock, moduleName, os, cpu)).map((b) => (b.ok ? b.version : b.why)),
    );
    expect([...versions]).toEqual([lock.packages["node_modules/@cdktf/node-pty-prebuilt-multiarch"].version]);
  });

  it("the inventory refuses the package cdktf 0.21.0 ships with (an install script per Node ABI: no binary for Node 24's ABI 137 or 26's 147)", () => {
    const old: Lock = {
      packages: {
        "node_modules/@cdktf/node-pty-prebuilt-multiarch": {
          version: "0.10.2",
          hasInstallScript: true,
          dependencies: { nan: "^2.14.2", "prebuild-install": "^7.1.3" },
        },
      },
    };
    const b = binaryFor(old, moduleName, "linux", "x64");
    expect(b.ok).toBe(false);
    if (!b.ok) expect(b.why).toMatch(/install script/);
  });
});
