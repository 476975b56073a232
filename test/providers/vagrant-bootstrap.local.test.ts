// The machine bootstrap Vagrant's providers run on each new VM (BOOTSTRAP_SCRIPT), run
// for real: in a UTS and mount namespace of its own (so root), with /etc/hostname and
// /etc/hosts bound to scratch copies and a sudo that just runs the command.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { BOOTSTRAP_SCRIPT } from "../../provision/machines/vagrant/provider.js";
import { rootOrSkip } from "../helpers/root.js";

const isRoot = rootOrSkip(
  "vagrant-bootstrap.local",
  "the bootstrap runs in a UTS and mount namespace of its own (unshare), which needs root",
);

describe.runIf(isRoot)("the machine bootstrap", () => {
  it("the bootstrap sets the hostname (kernel, /etc/hostname, 127.0.1.1 in /etc/hosts) and checks the private IP", async () => {
    const work = mkdtempSync(path.join(os.tmpdir(), "dvc-bootstrap-"));
    try {
      writeFileSync(path.join(work, "hostname"), "debian\n");
      writeFileSync(path.join(work, "hosts"), "127.0.0.1\tlocalhost\n127.0.1.1\tdebian\n");
      mkdirSync(path.join(work, "bin"));
      writeFileSync(path.join(work, "bin", "sudo"), '#!/bin/sh\n[ "$1" = -n ] && shift\nexec "$@"\n', { mode: 0o755 });
      writeFileSync(path.join(work, "bootstrap.sh"), BOOTSTRAP_SCRIPT);
      const inner = [
        `mount --bind ${work}/hostname /etc/hostname`,
        `mount --bind ${work}/hosts /etc/hosts`,
        `export PATH=${work}/bin:$PATH DVC_ROOT=${work}/root DVC_IP=127.0.0.1 DVC_PREFIX=8 DVC_HOSTNAME=node2`,
        `bash ${work}/bootstrap.sh; echo "exit $?"`,
        "hostname",
        `DVC_IP=192.0.2.1 DVC_PREFIX=24 bash ${work}/bootstrap.sh; echo "exit $?"`,
      ].join("; ");
      const r = spawnSync("unshare", ["--uts", "--mount", "sh", "-c", inner], { encoding: "utf8" });
      if (r.error || /unshare failed|Operation not permitted/.test(r.stderr))
        throw new Error(`unshare is needed for this test (root on Linux): ${r.error?.message ?? r.stderr}`);
      expect(r.stdout.split("\n").slice(0, 2)).toEqual(["exit 0", "node2"]);
      expect(r.stdout).toMatch(/exit 3/);
      expect(r.stderr).toMatch(/192\.0\.2\.1\/24 is on no interface of node2/);
      expect(readFileSync(path.join(work, "hostname"), "utf8")).toBe("node2\n");
      expect(readFileSync(path.join(work, "hosts"), "utf8")).toBe("127.0.0.1\tlocalhost\n127.0.1.1\tnode2\n");
      expect(statSync(path.join(work, "root")).isDirectory()).toBe(true);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });
});
