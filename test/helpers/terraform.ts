/**
 * Locate the offline Terraform toolchain prepared by provision/setup-toolchain.sh
 * and build the environment to run terraform / tofu / cdktf with it.
 *
 * Layout (see the script): ${DVC_CACHE_DIR:-~/.cache/dask-vm-cluster}/toolchain/
 *   terraformrc   CLI config pointing hashicorp/null at the filesystem mirror
 *   providers/    the filesystem mirror
 *   bin/          OpenTofu, when it had to be built
 *   cli           absolute path of the CLI the script selected
 */
import { accessSync, constants, existsSync, readdirSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { basename, delimiter, isAbsolute, join } from "node:path";

const SETUP_HINT = "run provision/setup-toolchain.sh first";

export function toolchainDir(): string {
  const cache = process.env.DVC_CACHE_DIR || join(homedir(), ".cache", "dask-vm-cluster");
  return join(cache, "toolchain");
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function searchPath(): string {
  const bin = join(toolchainDir(), "bin");
  const parts = (process.env.PATH ?? "").split(delimiter).filter((p) => p !== "");
  return parts.includes(bin) ? parts.join(delimiter) : [...parts, bin].join(delimiter);
}

function which(name: string, pathValue: string = searchPath()): string | undefined {
  if (isAbsolute(name)) return isExecutable(name) ? name : undefined;
  for (const dir of pathValue.split(delimiter)) {
    if (dir === "") continue;
    const candidate = join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/**
 * Absolute path of the Terraform-compatible CLI to use: $TERRAFORM_BINARY_NAME
 * if set, else the one provision/setup-toolchain.sh selected, else `terraform`
 * then `tofu` from PATH (plus the toolchain's bin dir).
 */
export function terraformBinary(): string {
  const explicit = process.env.TERRAFORM_BINARY_NAME;
  if (explicit) {
    const found = which(explicit);
    if (!found) {
      throw new Error(`TERRAFORM_BINARY_NAME=${explicit} is not an executable on PATH (${SETUP_HINT})`);
    }
    return found;
  }
  const cliFile = join(toolchainDir(), "cli");
  if (existsSync(cliFile)) {
    const selected = readFileSync(cliFile, "utf8").trim();
    if (selected !== "" && isExecutable(selected)) return selected;
  }
  const found = which("terraform") ?? which("tofu");
  if (!found) {
    throw new Error(`neither terraform nor tofu found on PATH or in ${join(toolchainDir(), "bin")}: ${SETUP_HINT}`);
  }
  return found;
}

function assertMirror(): string {
  const dir = toolchainDir();
  const rc = join(dir, "terraformrc");
  const nullDir = join(dir, "providers", "registry.terraform.io", "hashicorp", "null");
  const hasVersion = existsSync(nullDir) && readdirSync(nullDir).length > 0;
  if (!existsSync(rc) || !hasVersion) {
    throw new Error(
      `offline Terraform toolchain not found under ${dir} (missing ${!existsSync(rc) ? rc : nullDir}): ${SETUP_HINT}`,
    );
  }
  return rc;
}

/**
 * process.env plus what terraform / tofu / cdktf need to run offline:
 * TF_CLI_CONFIG_FILE (filesystem mirror for hashicorp/null), PATH including
 * the toolchain's bin dir, CHECKPOINT_DISABLE=1 (also disables cdktf-cli
 * telemetry) and, when the CLI is OpenTofu, TERRAFORM_BINARY_NAME for cdktf.
 * Throws if provision/setup-toolchain.sh has not been run.
 */
export function terraformEnv(): NodeJS.ProcessEnv {
  const rc = assertMirror();
  const path = searchPath();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PATH: path,
    TF_CLI_CONFIG_FILE: rc,
    CHECKPOINT_DISABLE: "1",
    CDKTF_SKIP_PROVIDER_LOCK: "true",
  };
  const binary = terraformBinary();
  if (!process.env.TERRAFORM_BINARY_NAME && basename(binary).startsWith("tofu")) {
    // cdktf-cli spawns $TERRAFORM_BINARY_NAME (default "terraform") via PATH.
    env.TERRAFORM_BINARY_NAME = which("tofu", path) === binary ? "tofu" : binary;
  }
  return env;
}
