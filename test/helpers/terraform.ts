// The Terraform environment of the tests: the project's own (provision/host/terraform.ts),
// so a test runs cdktf exactly as a user's shell would, first-use provider build included.
import { terraformCli, terraformEnvironment } from "../../provision/host/terraform.js";

export function terraformEnv(): NodeJS.ProcessEnv {
  return terraformEnvironment();
}

/** How the tests run cdktf: that environment, non-interactive (CI) and without colours, plus extra. */
export function cdktfEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { ...terraformEnvironment(), CI: "true", FORCE_COLOR: "0", ...extra };
}

/** The CLI cdktf runs (terraform, or the tofu the environment names). */
export function terraformBinary(): string {
  return terraformCli();
}
