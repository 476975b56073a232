// uv comes pinned and hash-checked, with nothing to install by hand (runtime/uv.ts): the wheel
// chosen for each computer, a wheel whose bytes are not the pinned ones refused before
// anything of it runs, and the whole fetch (index page, download, check, unpack, run)
// against a loopback package index serving a small stand-in wheel whose uv is a script.
// The real wheel from PyPI is fetched and run by test/uv.integration.test.ts.
import { createHash } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UserError } from "../provision/core/errors.js";
import { realHost, type Host } from "../provision/host/host.js";
import type { Log } from "../provision/core/log.js";
import {
  cachedUvPath,
  checkUvWheel,
  ensureUv,
  UV_PIN,
  uvBinaryOf,
  uvWheelFor,
  type UvPin,
} from "../provision/runtime/uv.js";
import { wheelTags } from "../provision/runtime/wheels.js";
import { zipOf } from "./helpers/zip.js";

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

describe("the uv pin", () => {
  it("names, for each computer the project supports, a PyPI wheel of the pinned version for that OS and CPU, with a sha256", () => {
    const expected: Record<string, RegExp> = {
      "linux-x64": /manylinux_2_17_x86_64/,
      "linux-arm64": /manylinux_2_17_aarch64/,
      "darwin-x64": /macosx_10_12_x86_64/,
      "darwin-arm64": /macosx_11_0_arm64/,
      "win32-x64": /win_amd64/,
      "win32-arm64": /win_arm64/,
    };
    expect(Object.keys(UV_PIN.wheels).sort()).toEqual(Object.keys(expected).sort());
    for (const [key, plat] of Object.entries(expected)) {
      const [platform, arch] = key.split("-") as [NodeJS.Platform, string];
      const wheel = uvWheelFor({ platform, arch });
      expect(wheel.file, key).toMatch(plat);
      expect(wheelTags(wheel.file), key).toMatchObject({ name: "uv", version: UV_PIN.version });
      expect(wheel.sha256, key).toMatch(/^[0-9a-f]{64}$/);
    }
    expect(new Set(Object.values(UV_PIN.wheels).map((w) => w.sha256)).size).toBe(6);
  });

  it("refuses a computer it has no wheel for, naming the ones it has", () => {
    expect(() => uvWheelFor({ platform: "freebsd", arch: "x64" })).toThrow(
      /not pinned for this computer \(freebsd-x64\)/,
    );
    try {
      uvWheelFor({ platform: "linux", arch: "ppc64" });
    } catch (err) {
      expect((err as UserError).exitCode).toBe(2);
      expect((err as UserError).problems[0]!.fix).toContain("linux-x64, linux-arm64, darwin-x64");
    }
  });

  it("refuses bytes whose sha256 is not the pinned one, naming both hashes", () => {
    const wheel = { file: "uv-0.13.9-py3-none-win_amd64.whl", sha256: sha(Buffer.from("the real one")) };
    expect(() => checkUvWheel(Buffer.from("the real one"), wheel, "PyPI")).not.toThrow();
    let err: UserError | undefined;
    try {
      checkUvWheel(Buffer.from("something else"), wheel, "https://mirror.example/simple/");
    } catch (e) {
      err = e as UserError;
    }
    expect(err).toBeInstanceOf(UserError);
    expect(err!.message).toBe(
      "the uv wheel from https://mirror.example/simple/ is not the pinned one: refused, nothing of it was run",
    );
    expect(err!.problems[0]!.message).toContain(
      `sha256 ${sha(Buffer.from("something else"))}, but provision/runtime/uv.ts pins ${wheel.sha256}`,
    );
  });

  it("takes the binary out of a wheel (uv-<version>.data/scripts/uv, uv.exe on Windows)", () => {
    const wheel = zipOf({
      "uv/__init__.py": "",
      "uv-1.2.3.data/scripts/uv": "posix",
      "uv-1.2.3.data/scripts/uv.exe": "windows",
    });
    expect(uvBinaryOf(wheel, "1.2.3", "linux").toString()).toBe("posix");
    expect(uvBinaryOf(wheel, "1.2.3", "win32").toString()).toBe("windows");
    expect(() => uvBinaryOf(wheel, "9.9.9", "linux")).toThrow(/has no uv-9\.9\.9\.data\/scripts\/uv/);
  });
});

const posix = process.platform !== "win32";
if (!posix)
  console.log(
    `uv: ensureUv against a loopback package index skipped: its stand-in uv is a shell script run by its shebang, which Windows cannot, on ${process.platform}`,
  );
describe.runIf(posix)("ensureUv against a loopback package index", () => {
  const version = "0.13.9";
  const key = `${process.platform}-${process.arch}`;
  const file = UV_PIN.wheels[key]?.file ?? `uv-${version}-py3-none-any.whl`;
  // A stand-in uv: a script that says its version as uv does, and runs only as uv --version.
  const wheelBytes = zipOf({ [`uv-${version}.data/scripts/uv`]: `#!/bin/sh\necho "uv ${version} (stand-in)"\n` });
  let server: Server;
  let index = "";
  let downloads = 0;
  const tmp = mkdtempSync(path.join(os.tmpdir(), "dvc-uv-"));
  const bin = path.join(tmp, "bin");
  const steps: string[] = [];
  const log: Log = { step: (s, m) => void steps.push(`[${s}] ${m}`), timed: (_s, _w, fn) => fn() };
  const pinWith = (sha256: string): UvPin => ({ version, wheels: { [key]: { file, sha256 } } });
  /** This computer with its own cache folder and a PATH with no uv but bin/, and no python3. */
  const host = (cache: string): Host => ({
    ...realHost(),
    env: { ...process.env, DVC_CACHE_DIR: cache, PATH: bin, PIP_INDEX_URL: undefined },
  });

  beforeAll(async () => {
    mkdirSync(bin);
    server = createServer((req, res) => {
      if (req.url === "/simple/uv/") {
        res.setHeader("content-type", "application/vnd.pypi.simple.v1+json");
        res.end(
          JSON.stringify({ files: [{ filename: file, url: `/files/${file}`, hashes: { sha256: sha(wheelBytes) } }] }),
        );
      } else if (req.url === `/files/${file}`) {
        downloads++;
        res.end(wheelBytes);
      } else {
        res.statusCode = 404;
        res.end();
      }
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    index = `http://127.0.0.1:${(server.address() as AddressInfo).port}/simple/`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    rmSync(tmp, { recursive: true, force: true });
  });

  it("fetches the pinned wheel once into the cache's toolchain folder, checks it, unpacks uv and runs it", async () => {
    const cache = path.join(tmp, "cache-ok");
    const h = host(cache);
    const uv = await ensureUv(h, log, { pin: pinWith(sha(wheelBytes)), index });
    const binary = cachedUvPath(h, pinWith(""));
    expect(uv).toEqual({ argv: [binary], version: `uv ${version}` });
    expect(binary.startsWith(path.join(cache, "toolchain", `uv-${version}-`))).toBe(true);
    expect(readdirSync(path.dirname(binary))).toEqual(["uv"]);
    expect(steps.at(-1)).toMatch(new RegExp(`^\\[uv\\] fetching uv ${version} \\(${file.replace(/\./g, "\\.")}\\)`));
    const before = downloads;
    expect(await ensureUv(h, log, { pin: pinWith(sha(wheelBytes)), index })).toEqual(uv);
    expect(downloads).toBe(before);
  });

  it("refuses a wheel whose sha256 is not the pinned one: nothing unpacked, nothing run, nothing left in the cache", async () => {
    const cache = path.join(tmp, "cache-bad");
    const h = host(cache);
    const pinned = "0".repeat(64);
    const err = await ensureUv(h, log, { pin: pinWith(pinned), index }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as UserError).message).toMatch(
      /^the index's uv wheel is not the pinned one: refused, nothing of it was run/,
    );
    expect((err as UserError).problems[0]!.message).toContain(`sha256 ${pinned}, pinned in provision/runtime/uv.ts`);
    expect(existsSync(cachedUvPath(h, pinWith(pinned)))).toBe(false);
    expect(readdirSync(path.join(cache, "toolchain"))).toEqual([]);
  });

  it("uses a uv on PATH at the pinned version as it is, and fetches the pinned one past a uv at another version", async () => {
    const say = (v: string) => {
      writeFileSync(path.join(bin, "uv"), `#!/bin/sh\necho "uv ${v} (on PATH)"\n`);
      chmodSync(path.join(bin, "uv"), 0o755);
    };
    say(version);
    const cache = path.join(tmp, "cache-path");
    expect(await ensureUv(host(cache), log, { pin: pinWith(sha(wheelBytes)), index })).toEqual({
      argv: ["uv"],
      version: `uv ${version}`,
    });
    expect(existsSync(cache)).toBe(false);
    say("0.4.0");
    const uv = await ensureUv(host(cache), log, { pin: pinWith(sha(wheelBytes)), index });
    expect(uv.argv).toEqual([cachedUvPath(host(cache), pinWith(""))]);
    rmSync(path.join(bin, "uv"));
  });
});
