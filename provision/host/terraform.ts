// The one environment every script, test and CLI runs cdktf and terraform with: no
// checkpoint calls, and, where the host has only the OpenTofu that `npm run setup` built,
// that tofu on PATH and named for cdktf. Where hashicorp/null comes from is the synth's
// business (host/toolchain.ts ensureStackProviders), so no CLI config is needed here.
// A TF_CLI_CONFIG_FILE naming no file is dropped: both CLIs ignore it anyway, but OpenTofu
// then prints "There are some problems with the CLI configuration" on stdout, ahead of the
// JSON that cdktf parses from `tofu output -json` ("Unexpected token 'W'").
import { existsSync } from "node:fs";
import path from "node:path";
import { onPath } from "./process.js";
import { builtTofu } from "./toolchain.js";

export function terraformEnvironment(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = { ...env, CHECKPOINT_DISABLE: "1" };
  if (out.TF_CLI_CONFIG_FILE && !existsSync(out.TF_CLI_CONFIG_FILE)) delete out.TF_CLI_CONFIG_FILE;
  const built = builtTofu(env);
  if (!env.TERRAFORM_BINARY_NAME && existsSync(built) && !onPath("terraform", env)) {
    out.PATH = [path.dirname(built), env.PATH ?? ""].filter(Boolean).join(path.delimiter);
    out.TERRAFORM_BINARY_NAME = built;
  }
  return out;
}

/** The CLI cdktf runs in that environment: TERRAFORM_BINARY_NAME, else terraform. */
export function terraformCli(env: NodeJS.ProcessEnv = terraformEnvironment()): string {
  return env.TERRAFORM_BINARY_NAME || "terraform";
}
