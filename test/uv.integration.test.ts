// The real uv: the pinned wheel for this computer fetched from PyPI into an empty cache,
// checked against the pin, unpacked and run, with no uv on PATH. Needs PyPI.
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, expect, it } from "vitest";
import { realHost } from "../provision/host/host.js";
import type { Log } from "../provision/core/log.js";
import { cachedUvPath, ensureUv, UV_PIN } from "../provision/runtime/uv.js";

const cache = mkdtempSync(path.join(os.tmpdir(), "dvc-uv-pypi-"));
afterAll(() => rmSync(cache, { recursive: true, force: true }));

it(`fetches uv ${UV_PIN.version} from PyPI for this computer, checks its hash, and runs uv --version`, async () => {
  // PATH holds no uv and no python3: the uv that runs is the fetched one.
  const host = {
    ...realHost(),
    env: { ...process.env, DVC_CACHE_DIR: cache, PATH: "/nonexistent", PIP_INDEX_URL: undefined },
  };
  const steps: string[] = [];
  const log: Log = { step: (s, m) => void steps.push(`[${s}] ${m}`), timed: (_s, _w, fn) => fn() };
  const uv = await ensureUv(host, log);
  expect(uv).toEqual({ argv: [cachedUvPath(host)], version: `uv ${UV_PIN.version}` });
  expect(steps).toEqual([expect.stringMatching(/^\[uv\] fetching uv 0\.13\.9 \(uv-0\.13\.9-py3-none-/)]);
  const r = await host.run([...uv.argv, "--version"], { env: host.env, timeoutMs: 30_000 });
  expect(r.exitCode).toBe(0);
  expect(r.stdout).toMatch(/^uv 0\.13\.9\b/);
}, 180_000);
