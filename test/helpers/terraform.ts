// The Terraform environment of the tests: the project's own (provision/lib/terraform.ts),
// so a test runs cdktf exactly as a user's shell would, first-use provider build included.
import { terraformCli, terraformEnvironment } from "../../provision/lib/terraform.js";

export function terraformEnv(): NodeJS.ProcessEnv {
  return terraformEnvironment();
}

/** The CLI cdktf runs (terraform, or the tofu the environment names). */
export function terraformBinary(): string {
  return terraformCli();
}
