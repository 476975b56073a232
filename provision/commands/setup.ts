// `npm run setup`: what a deploy would otherwise do on first use, done now: hashicorp/null
// built from the Go module proxy into the cache (with a CLI config file pointing at it,
// for those who want one), and, where this host has neither terraform (>= 1.5) nor tofu,
// OpenTofu built the same way (CI machines). Nothing goes into the repository.
import { symlinkSync, rmSync } from "node:fs";
import path from "node:path";
import { parseCli } from "../core/cli-args.js";
import { terraformCheck } from "../host/checks.js";
import { realHost } from "../host/host.js";
import { consoleLog } from "../core/log.js";
import { ensureNullMirror, ensureOpenTofu } from "../host/toolchain.js";

const USAGE = `usage: npm run setup [-- [--with-tofu] [--install] [--print-env]]
  --with-tofu   build OpenTofu even when terraform or tofu is on PATH (default: only when neither is)
  --install     (root) link the OpenTofu it built into /usr/local/bin
  --print-env   print only the shell lines that put what it built to use (progress on stderr)
exit: 0 ready, 1 a build failed, 2 bad arguments or no Go`;

export async function cli(argv: readonly string[]): Promise<number> {
  const parsed = parseCli(argv, USAGE, {
    "with-tofu": { type: "boolean", default: false },
    install: { type: "boolean", default: false },
    "print-env": { type: "boolean", default: false },
  });
  if (!parsed) return 0;
  const { values } = parsed;
  const host = realHost();
  // With --print-env, stdout is for eval: progress goes to stderr.
  const log = values["print-env"]
    ? { ...consoleLog, step: (s: string, m: string) => void process.stderr.write(`[${s}] ${m}\n`) }
    : consoleLog;
  const { rc } = await ensureNullMirror(host, log);
  log.step(
    "setup",
    `hashicorp/null: built; CLI config with its mirror: ${rc} (deploys need no CLI config: the synth uses the build directly)`,
  );
  const env: string[] = ["export CHECKPOINT_DISABLE=1"];
  const cli = await terraformCheck(host);
  if (values["with-tofu"] || cli.status === "fail") {
    const tofu = await ensureOpenTofu(host, log);
    log.step("setup", `OpenTofu: ${tofu}`);
    if (values.install && host.uid === 0) {
      rmSync("/usr/local/bin/tofu", { force: true });
      symlinkSync(tofu, "/usr/local/bin/tofu");
      log.step("setup", "linked /usr/local/bin/tofu to it");
      env.push("export TERRAFORM_BINARY_NAME=tofu");
    } else {
      env.push(`export PATH=${JSON.stringify(path.dirname(tofu))}:"$PATH"`, "export TERRAFORM_BINARY_NAME=tofu");
    }
  } else {
    log.step("setup", `Terraform CLI: ${cli.found}`);
  }
  if (values["print-env"]) process.stdout.write(`${env.join("\n")}\n`);
  return 0;
}
