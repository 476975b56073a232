// Line endings of what goes to a node (provision/core/line-endings.ts) and of the bundle
// (provision/runtime/bundle.ts): a CRLF checkout, as Git for Windows makes it, ships LF and the
// same bundle id as an LF one; a script that a node still cannot run for it says why.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bundleIdOf, runtimeHashes, runtimeRef, writeCachedTar } from "../provision/runtime/bundle.js";
import { UserError } from "../provision/core/errors.js";
import { crlfSymptom, lineEndingError, toLf } from "../provision/core/line-endings.js";
import type { ProcessRunner } from "../provision/host/process.js";
import { runForNode } from "../provision/machines/transport.js";
import { copyCheckout } from "../provision/host/checkout-copy.js";
import { REPO } from "./helpers/project.js";

/** Every text file under dir rewritten with CRLF, as core.autocrlf=true checks it out. */
function toCrlf(dir: string): number {
  let n = 0;
  for (const rel of readdirSync(dir, { recursive: true, encoding: "utf8" })) {
    const file = path.join(dir, rel);
    if (!statSync(file).isFile()) continue;
    const data = readFileSync(file);
    if (data.subarray(0, 8000).includes(0)) continue;
    writeFileSync(file, Buffer.from(data.toString("latin1").replace(/\r?\n/g, "\r\n"), "latin1"));
    n++;
  }
  return n;
}

describe("toLf", () => {
  it("makes CRLF LF in text, leaves lone CRs, LF text and binary files as they are", () => {
    expect(toLf(Buffer.from("set -euo pipefail\r\necho é\r\n")).toString()).toBe("set -euo pipefail\necho é\n");
    expect(toLf(Buffer.from("progress\r50%\n")).toString()).toBe("progress\r50%\n");
    const lf = Buffer.from("a\nb\n");
    expect(toLf(lf)).toBe(lf);
    const binary = Buffer.from([0x50, 0x4b, 0x03, 0x04, 0x14, 0x00, 0x0d, 0x0a]);
    expect(toLf(binary)).toEqual(binary);
  });
});

describe("the runtime bundle of a CRLF checkout", () => {
  let top: string;
  let lf: string;
  let crlf: string;
  beforeAll(() => {
    top = mkdtempSync(path.join(os.tmpdir(), "dvc-crlf-"));
    lf = path.join(top, "lf");
    crlf = path.join(top, "crlf");
    copyCheckout(REPO, lf, ["cluster-runtime"]);
    copyCheckout(REPO, crlf, ["cluster-runtime"]);
    expect(toCrlf(path.join(crlf, "cluster-runtime"))).toBeGreaterThan(20);
    expect(readFileSync(path.join(crlf, "cluster-runtime", "install.sh"), "latin1")).toContain("set -euo pipefail\r\n");
  });
  afterAll(() => rmSync(top, { recursive: true, force: true }));

  it("has the same lock and source hashes, so the same bundle id, as the LF checkout of the same commit", () => {
    expect(runtimeHashes(crlf, "x86_64")).toEqual(runtimeHashes(lf, "x86_64"));
    expect(runtimeHashes(lf, "x86_64")).toEqual(runtimeHashes(REPO, "x86_64"));
    expect(bundleIdOf(runtimeRef(crlf, "3.11", "x86_64"))).toBe(bundleIdOf(runtimeRef(REPO, "3.11", "x86_64")));
  });

  it("writes text entries with LF into the tar, and a binary entry byte for byte", () => {
    const tar = path.join(top, "t.tar");
    const blob = path.join(top, "blob.whl");
    writeFileSync(blob, Buffer.from([0x50, 0x4b, 0x00, 0x0d, 0x0a, 0x0d, 0x0a]));
    const script = path.join(crlf, "cluster-runtime", "install.sh");
    writeCachedTar(tar, [
      { name: "install.sh", mode: 0o755, source: script, text: true },
      { name: "wheelhouse/blob.whl", mode: 0o644, source: blob },
    ]);
    // The archive by its name in its folder: the tar first on PATH in Git for Windows' bash
    // (GNU tar) reads "C:" in C:\...\t.tar as a remote host.
    const shipped = execFileSync("tar", ["-xOf", path.basename(tar), "install.sh"], { cwd: top });
    expect(shipped.includes(0x0d)).toBe(false);
    expect(shipped.equals(readFileSync(path.join(REPO, "cluster-runtime", "install.sh")))).toBe(true);
    expect(
      execFileSync("tar", ["-xOf", path.basename(tar), "wheelhouse/blob.whl"], { cwd: top }).equals(readFileSync(blob)),
    ).toBe(true);
  });
});

describe("a script a node cannot run for its CRLF line endings", () => {
  // bash's and env's own words, recorded on this Linux host (bash 5, coreutils' quotes).
  const recorded = {
    set: "/opt/dask-vm-cluster/incoming/install.sh: line 16: set: pipefail\r: invalid option name",
    command: "/opt/dask-vm-cluster/incoming/install.sh: line 2: $'\\r': command not found",
    env: "/usr/bin/env: ‘bash\\r’: No such file or directory",
    interpreter: "bash: ./install.sh: /bin/bash^M: bad interpreter: No such file or directory",
  };

  it("is recognized from what bash says, and a progress line's CR is not taken for it", () => {
    for (const [what, line] of Object.entries(recorded)) expect(crlfSymptom(`some output\n${line}\n`), what).toBe(line);
    expect(
      crlfSymptom("Downloading\r 10%\r 50%\r100%\nERROR: No matching distribution found for dask"),
    ).toBeUndefined();
    expect(crlfSymptom("install.sh: this node has no working python3.11")).toBeUndefined();
  });

  it("fails with what, why and the fix, instead of a bare exit code (through the runner every transport uses)", async () => {
    const runner: ProcessRunner = async (argv) => ({
      argv,
      stdout: "",
      stderr: `${recorded.set}\n`,
      exitCode: 2,
      missing: false,
      timedOut: false,
      seconds: 0,
    });
    const err = (await runForNode(runner, "node3", ["bash", "-c", "x"], "bash install.sh").catch(
      (e: unknown) => e,
    )) as UserError;
    expect(err).toBeInstanceOf(UserError);
    expect(err.exitCode).toBe(1);
    const text = err.render();
    expect(text).toContain("a script sent to node3 has Windows line endings (CRLF), which bash on the node cannot run");
    expect(text).toContain(
      "node3: it stopped with exit code 2: /opt/dask-vm-cluster/incoming/install.sh: line 16: set: pipefail\\r: invalid option name",
    );
    expect(text).toContain("git config --global core.autocrlf input");
    expect(lineEndingError("node1", 127, recorded.env).render()).toContain("‘bash\\r’: No such file or directory");
  });

  const posix = process.platform !== "win32";
  if (!posix)
    console.log(
      `line-endings: this host's bash and env on a CRLF script skipped: it runs a script by its shebang, which Windows cannot, on ${process.platform}`,
    );
  it.runIf(posix)("is recognized in what this host's bash and env really say about a CRLF script", () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "dvc-crlf-sh-"));
    try {
      const script = path.join(dir, "install.sh");
      writeFileSync(script, "#!/usr/bin/env bash\r\n\r\nset -euo pipefail\r\necho done\r\n", { mode: 0o755 });
      for (const argv of [["bash", script], [script]]) {
        const r = spawnSync(argv[0]!, argv.slice(1), { encoding: "utf8" });
        expect(r.status, argv.join(" ")).not.toBe(0);
        expect(crlfSymptom(r.stderr), r.stderr).toBeDefined();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("other failures stay a NodeCommandError with the command's stderr", async () => {
    const runner: ProcessRunner = async (argv) => ({
      argv,
      stdout: "",
      stderr: "boom\n",
      exitCode: 1,
      missing: false,
      timedOut: false,
      seconds: 0,
    });
    const err = (await runForNode(runner, "node3", ["bash"], "false").catch((e: unknown) => e)) as Error;
    expect(err.name).toBe("NodeCommandError");
    expect(err.message).toContain("boom");
  });
});
