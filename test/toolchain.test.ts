/**
 * End-to-end check of the offline Terraform toolchain (provision/setup-toolchain.sh):
 * a plain Terraform JSON config with one null_resource is initialised from the
 * filesystem mirror (no network), applied, re-planned (no changes) and destroyed.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { $ } from "zx";
import { terraformBinary, terraformEnv } from "./helpers/terraform.js";

const STEP_TIMEOUT = 180_000;

describe("offline terraform toolchain", () => {
  let dir = "";
  let tf = "";
  let env: NodeJS.ProcessEnv = {};
  let applied = false;
  let destroyed = false;
  const createdFile = () => join(dir, "created.txt");
  const destroyedFile = () => join(dir, "destroyed.txt");

  const run = (args: string[], extraEnv: NodeJS.ProcessEnv = {}) =>
    $({ cwd: dir, env: { ...env, ...extraEnv }, quiet: true, nothrow: true })`${tf} ${args}`;

  beforeAll(() => {
    env = terraformEnv(); // throws "run provision/setup-toolchain.sh first" if missing
    tf = terraformBinary();
    dir = mkdtempSync(join(tmpdir(), "dvc-toolchain-"));
    const config = {
      terraform: {
        required_providers: {
          null: { source: "hashicorp/null", version: ">= 2.1.2, < 4.0.0" },
        },
      },
      resource: {
        null_resource: {
          probe: {
            triggers: {
              greeting: "hello from the mirror",
              created_file: createdFile(),
              destroyed_file: destroyedFile(),
            },
            provisioner: [
              {
                "local-exec": {
                  command: 'printf "%s" "$GREETING" > "$OUT"',
                  environment: {
                    GREETING: "${self.triggers.greeting}",
                    OUT: "${self.triggers.created_file}",
                  },
                },
              },
              {
                "local-exec": {
                  when: "destroy",
                  command: 'printf "destroyed: %s" "$GREETING" > "$OUT"',
                  environment: {
                    GREETING: "${self.triggers.greeting}",
                    OUT: "${self.triggers.destroyed_file}",
                  },
                },
              },
            ],
          },
        },
      },
    };
    writeFileSync(join(dir, "main.tf.json"), JSON.stringify(config, null, 2));
  });

  afterAll(async () => {
    if (dir === "") return;
    if (applied && !destroyed) {
      await run(["destroy", "-auto-approve", "-input=false", "-no-color"]);
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it(
    "init installs hashicorp/null 2.2.0 from the filesystem mirror without network",
    async () => {
      // A dead proxy makes any registry / checkpoint request fail fast.
      const offline = { HTTPS_PROXY: "http://127.0.0.1:9", HTTP_PROXY: "http://127.0.0.1:9", NO_PROXY: "" };
      const res = await run(["init", "-input=false", "-no-color"], offline);
      expect(res.exitCode, res.stdout + res.stderr).toBe(0);
      const lock = readFileSync(join(dir, ".terraform.lock.hcl"), "utf8");
      expect(lock).toMatch(
        /provider "registry\.(terraform\.io|opentofu\.org)\/hashicorp\/null" \{\s*version\s*=\s*"2\.2\.0"/,
      );
    },
    STEP_TIMEOUT,
  );

  it(
    "apply runs the create-time local-exec provisioner",
    async () => {
      const res = await run(["apply", "-auto-approve", "-input=false", "-no-color"]);
      applied = res.exitCode === 0;
      expect(res.exitCode, res.stdout + res.stderr).toBe(0);
      expect(readFileSync(createdFile(), "utf8")).toBe("hello from the mirror");
    },
    STEP_TIMEOUT,
  );

  it(
    "plan -detailed-exitcode reports no changes after apply",
    async () => {
      const res = await run(["plan", "-detailed-exitcode", "-input=false", "-no-color"]);
      expect(res.exitCode, res.stdout + res.stderr).toBe(0);
    },
    STEP_TIMEOUT,
  );

  it(
    "destroy runs the destroy-time provisioner with self.triggers",
    async () => {
      expect(existsSync(destroyedFile())).toBe(false);
      const res = await run(["destroy", "-auto-approve", "-input=false", "-no-color"]);
      destroyed = res.exitCode === 0;
      expect(res.exitCode, res.stdout + res.stderr).toBe(0);
      expect(readFileSync(destroyedFile(), "utf8")).toBe("destroyed: hello from the mirror");
      const state = JSON.parse(readFileSync(join(dir, "terraform.tfstate"), "utf8")) as { resources: unknown[] };
      expect(state.resources).toEqual([]);
    },
    STEP_TIMEOUT,
  );
});
