// Terraform without its registry (provision/host/toolchain.ts), for real: a plain Terraform
// JSON config with one null_resource, its folder given hashicorp/null the way the synth
// does it (the implied local mirror terraform.d/plugins and a lock file with our h1 hash),
// then the real terraform/tofu init with every network request failing and no CLI
// config, apply, a plan with no change, and destroy. Also the CLI config npm run setup
// writes for those who want one.
import { createHash } from "node:crypto";
import {
  existsSync,
  lstatSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { $ } from "zx";
import { realHost } from "../provision/host/host.js";
import {
  REGISTRY_HOSTS,
  builtNullProvider,
  cliKind,
  ensureNullMirror,
  ensureStackProviders,
  lockFileText,
  nullProviderPath,
  packageHashV1,
} from "../provision/host/toolchain.js";
import { memoryLog } from "./helpers/fake-cluster.js";
import { terraformBinary, terraformEnv } from "./helpers/terraform.js";

const STEP_TIMEOUT = 600_000;
const log = memoryLog();
// Every HTTP(S) request through a dead proxy: the registry "does not answer".
const OFFLINE = {
  HTTPS_PROXY: "http://127.0.0.1:9",
  HTTP_PROXY: "http://127.0.0.1:9",
  NO_PROXY: "",
  TF_CLI_CONFIG_FILE: "/nonexistent/terraformrc",
};

function config(dir: string) {
  return {
    terraform: { required_providers: { null: { source: "hashicorp/null", version: ">= 2.1.2, < 4.0.0" } } },
    resource: {
      null_resource: {
        probe: {
          triggers: {
            greeting: "hello from the mirror",
            created_file: join(dir, "created.txt"),
            destroyed_file: join(dir, "destroyed.txt"),
          },
          provisioner: [
            {
              "local-exec": {
                command: 'printf "%s" "$GREETING" > "$OUT"',
                environment: { GREETING: "${self.triggers.greeting}", OUT: "${self.triggers.created_file}" },
              },
            },
            {
              "local-exec": {
                when: "destroy",
                command: 'printf "destroyed: %s" "$GREETING" > "$OUT"',
                environment: { GREETING: "${self.triggers.greeting}", OUT: "${self.triggers.destroyed_file}" },
              },
            },
          ],
        },
      },
    },
  };
}

describe("hashicorp/null where the registry is unreachable", () => {
  let dir = "";
  let tf = "";
  let env: NodeJS.ProcessEnv = {};
  let applied = false;
  const run = (args: string[]) =>
    $({ cwd: dir, env, quiet: true, nothrow: true, timeout: STEP_TIMEOUT })`${tf} ${args}`;

  beforeAll(() => {
    env = { ...terraformEnv(), ...OFFLINE };
    tf = terraformBinary();
    dir = mkdtempSync(join(tmpdir(), "dvc-toolchain-"));
    writeFileSync(join(dir, "main.tf.json"), JSON.stringify(config(dir), null, 2));
  });

  afterAll(async () => {
    if (dir === "") return;
    if (applied && !existsSync(join(dir, "destroyed.txt")))
      await run(["destroy", "-auto-approve", "-input=false", "-no-color"]);
    rmSync(dir, { recursive: true, force: true });
  });

  it(
    "the synth's step builds it once (Go module proxy) and puts it in the stack folder with a lock file",
    async () => {
      const host = { ...realHost(), env };
      const how = await ensureStackProviders(dir, host, log);
      expect(how).toBe("mirror");
      expect(existsSync(builtNullProvider(host))).toBe(true);
      const registry = REGISTRY_HOSTS[cliKind(env)];
      expect(readFileSync(join(dir, ".terraform.lock.hcl"), "utf8")).toContain(
        `provider "${registry}/hashicorp/null" {`,
      );
      expect(existsSync(join(dir, "terraform.d", "plugins", registry, "hashicorp", "null", "2.2.0"))).toBe(true);
      // Once the lock names it, the next synth does nothing (no probe, no copy).
      expect(await ensureStackProviders(dir, host, log)).toBe("present");
      // An init of an earlier version left .terraform/providers a link into the plugin cache
      // shared by every project (to another project's mirror, since deleted): replaced by a copy.
      const platformDir = dirname(nullProviderPath(join(dir, ".terraform", "providers"), registry, host));
      rmSync(platformDir, { recursive: true, force: true });
      symlinkSync(join(dir, "elsewhere-deleted"), platformDir);
      expect(await ensureStackProviders(dir, host, log)).toBe("mirror");
      expect(lstatSync(platformDir).isDirectory()).toBe(true);
      expect(await ensureStackProviders(dir, host, log)).toBe("present");
    },
    STEP_TIMEOUT,
  );

  it(
    "terraform init installs it without any network or CLI config, and accepts our h1 hash",
    async () => {
      const before = readFileSync(join(dir, ".terraform.lock.hcl"), "utf8");
      // As cdktf runs it: TF_PLUGIN_CACHE_DIR set to a cache every project shares.
      const shared = mkdtempSync(join(tmpdir(), "dvc-toolchain-plugin-cache-"));
      try {
        const res = await $({
          cwd: dir,
          env: { ...env, TF_PLUGIN_CACHE_DIR: shared },
          quiet: true,
          nothrow: true,
          timeout: STEP_TIMEOUT,
        })`${tf} init -input=false -no-color`;
        expect(res.exitCode, res.stdout + res.stderr).toBe(0);
        expect(res.stdout).toMatch(/Using previously-installed hashicorp\/null v2\.2\.0/);
        // Nothing went through the shared cache: the project's copy is its own.
        expect(readdirSync(shared)).toEqual([]);
        const platformDir = dirname(
          nullProviderPath(join(dir, ".terraform", "providers"), REGISTRY_HOSTS[cliKind(env)], realHost()),
        );
        expect(lstatSync(platformDir).isSymbolicLink()).toBe(false);
      } finally {
        rmSync(shared, { recursive: true, force: true });
      }
      // Terraform checked the package against the lock's hash and left the hash as it was.
      const after = readFileSync(join(dir, ".terraform.lock.hcl"), "utf8");
      const hashOf = (t: string) => /"(h1:[^"]+)"/.exec(t)?.[1];
      expect(hashOf(after)).toBe(hashOf(before));
    },
    STEP_TIMEOUT,
  );

  it(
    "apply, a plan with no change, and destroy run the provisioners with self.triggers",
    async () => {
      const apply = await run(["apply", "-auto-approve", "-input=false", "-no-color"]);
      applied = apply.exitCode === 0;
      expect(apply.exitCode, apply.stdout + apply.stderr).toBe(0);
      expect(readFileSync(join(dir, "created.txt"), "utf8")).toBe("hello from the mirror");
      const plan = await run(["plan", "-detailed-exitcode", "-input=false", "-no-color"]);
      expect(plan.exitCode, plan.stdout + plan.stderr).toBe(0);
      const destroy = await run(["destroy", "-auto-approve", "-input=false", "-no-color"]);
      expect(destroy.exitCode, destroy.stdout + destroy.stderr).toBe(0);
      expect(readFileSync(join(dir, "destroyed.txt"), "utf8")).toBe("destroyed: hello from the mirror");
    },
    STEP_TIMEOUT,
  );

  it("a CLI config of the user's own that says where providers come from is left to do so", async () => {
    const other = mkdtempSync(join(tmpdir(), "dvc-toolchain-rc-"));
    try {
      const rc = join(other, "terraformrc");
      writeFileSync(rc, "provider_installation {\n  direct {}\n}\n");
      expect(await ensureStackProviders(other, { ...realHost(), env: { ...env, TF_CLI_CONFIG_FILE: rc } }, log)).toBe(
        "user-config",
      );
      expect(existsSync(join(other, ".terraform.lock.hcl"))).toBe(false);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });

  it(
    "npm run setup's CLI config points a filesystem mirror at the same build",
    async () => {
      const { rc, mirror } = await ensureNullMirror({ ...realHost(), env }, log);
      expect(readFileSync(rc, "utf8")).toContain(`path    = ${JSON.stringify(mirror)}`);
      expect(existsSync(join(mirror, "registry.terraform.io", "hashicorp", "null", "2.2.0"))).toBe(true);
      expect(existsSync(join(mirror, "registry.opentofu.org", "hashicorp", "null", "2.2.0"))).toBe(true);
    },
    STEP_TIMEOUT,
  );
});

describe("the lock file's hash", () => {
  it("is dirhash Hash1: sha256 of sorted '<sha256>  <name>' lines, base64", () => {
    // sha256("hello\n") = 5891b5b5…; the summary line and its sha256, in base64.
    const h = packageHashV1([{ name: "f", data: Buffer.from("hello\n") }]);
    expect(h).toBe(
      `h1:${Buffer.from(createHash("sha256").update("5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03  f\n").digest()).toString("base64")}`,
    );
    const text = lockFileText(h);
    expect(text).toContain('constraints = ">= 2.1.2, < 4.0.0"');
    // cdktf reads the registry.terraform.io entry whatever the CLI; OpenTofu its own.
    expect(text).toContain('provider "registry.terraform.io/hashicorp/null" {');
    expect(text).toContain('provider "registry.opentofu.org/hashicorp/null" {');
  });
});
