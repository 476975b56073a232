// Terraform without its registry. The stack needs one provider, hashicorp/null; where
// registry.terraform.io cannot be reached, it is built from the Go module proxy (which
// serves the 2.2.0 source of terraform-provider-null) into the cache, and the synth puts
// it where Terraform looks on its own: the stack folder's terraform.d/plugins (an
// implied local mirror, used when the CLI config has no provider_installation block), with
// a .terraform.lock.hcl, so cdktf's first init needs no `terraform providers lock` (which
// asks the registry). So `npm install` then `cdktf deploy` is all a newcomer types.
// `npm run setup` does the same ahead of time, and can build OpenTofu when the host has
// neither terraform nor tofu (CI). Everything built lives in the cache, never the repo.
import { createHash, randomBytes } from "node:crypto";
import {
  chmodSync,
  copyFileSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import path from "node:path";
import { fail, ok, warn, type CheckRow } from "../core/check-rows.js";
import { badInput, UserError } from "../core/errors.js";
import type { Host } from "./host.js";
import type { Log } from "../core/log.js";
import { cacheDir } from "./paths.js";
import { describeFailure, tail } from "./process.js";

/**
 * terraform-provider-null v2.1.2 + 8 commits ("2.2.0 (Unreleased)" in its CHANGELOG),
 * plugin SDK v1, plugin protocol 5: the only post-2.1.2 commit the Go module proxy serves
 * for this module path (v2/v3 tags are not valid module versions there).
 */
export const NULL_PROVIDER = {
  module: "github.com/terraform-providers/terraform-provider-null",
  moduleVersion: "v1.0.1-0.20191204185112-e5c592237f62",
  version: "2.2.0",
} as const;
/** OpenTofu, built only when the host has neither terraform (>= 1.5) nor tofu. */
export const OPENTOFU = { module: "github.com/opentofu/opentofu", version: "v1.12.6" } as const;
/** Where each CLI resolves "hashicorp/null". */
export const REGISTRY_HOSTS = { terraform: "registry.terraform.io", tofu: "registry.opentofu.org" } as const;
export type CliKind = keyof typeof REGISTRY_HOSTS;
/** The stack's constraint on hashicorp/null (2.x and 3.x have the same null_resource). */
export const NULL_PROVIDER_CONSTRAINT = ">= 2.1.2, < 4.0.0";

const REGISTRY_TIMEOUT_MS = 3_000;

export function toolchainDir(env: NodeJS.ProcessEnv): string {
  return path.join(cacheDir(env), "toolchain");
}

/** Terraform's os_arch for this host: linux_amd64, darwin_arm64, windows_amd64... */
export function terraformPlatform(host: Pick<Host, "platform" | "arch">): string {
  const os = host.platform === "win32" ? "windows" : host.platform;
  const arch = host.arch === "x64" ? "amd64" : host.arch;
  return `${os}_${arch}`;
}

/** The CLI cdktf will run, by the name it is given (TERRAFORM_BINARY_NAME). */
export function cliKind(env: NodeJS.ProcessEnv): CliKind {
  return path.basename(env.TERRAFORM_BINARY_NAME ?? "terraform").startsWith("tofu") ? "tofu" : "terraform";
}

function exe(host: Pick<Host, "platform">, name: string): string {
  return host.platform === "win32" ? `${name}.exe` : name;
}

/** The unpacked-layout path of the null provider under a mirror folder. */
export function nullProviderPath(mirror: string, registry: string, host: Pick<Host, "platform" | "arch">): string {
  return path.join(
    mirror,
    registry,
    "hashicorp",
    "null",
    NULL_PROVIDER.version,
    terraformPlatform(host),
    exe(host, `terraform-provider-null_v${NULL_PROVIDER.version}`),
  );
}

/** The provider binary built into the cache (one per platform). */
export function builtNullProvider(host: Host): string {
  return path.join(
    toolchainDir(host.env),
    "build",
    exe(host, `terraform-provider-null_v${NULL_PROVIDER.version}_${terraformPlatform(host)}`),
  );
}

/**
 * The "h1:" hash Terraform records for an unpacked provider folder (golang.org/x/mod
 * sumdb/dirhash Hash1, as getproviders.PackageHashV1 calls it with no prefix): the sha256
 * of "<hex sha256>  <name>\n" lines, names sorted, in base64.
 */
export function packageHashV1(files: ReadonlyArray<{ readonly name: string; readonly data: Buffer }>): string {
  const lines = [...files]
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map((f) => `${createHash("sha256").update(f.data).digest("hex")}  ${f.name}\n`)
    .join("");
  return `h1:${createHash("sha256").update(lines).digest("base64")}`;
}

/**
 * A dependency lock file naming the null provider with its hash, as terraform init writes
 * it, under both registry names: cdktf checks the lock under registry.terraform.io (its
 * ProviderConstraint always spells "hashicorp/null" that way) before it would run
 * `providers lock` against the registry, and OpenTofu reads the registry.opentofu.org one.
 */
export function lockFileText(
  hash: string | readonly string[],
  registries: readonly string[] = Object.values(REGISTRY_HOSTS),
): string {
  // Several hashes: one per platform (a classroom kit's lock), sorted as terraform writes them.
  const hashes = [...new Set(typeof hash === "string" ? [hash] : hash)].sort();
  const block = (registry: string) => [
    `provider "${registry}/hashicorp/null" {`,
    `  version     = "${NULL_PROVIDER.version}"`,
    `  constraints = "${NULL_PROVIDER_CONSTRAINT}"`,
    "  hashes = [",
    ...hashes.map((h) => `    "${h}",`),
    "  ]",
    "}",
    "",
  ];
  return [
    '# This file is maintained automatically by "terraform init".',
    "# Manual edits may be lost in future updates.",
    "",
    ...registries.flatMap(block),
  ].join("\n");
}

/** Whether the user's Terraform CLI config says where providers come from (then it is theirs to say). */
export function cliConfigInstallsProviders(host: Host): boolean {
  const candidates = [
    host.env.TF_CLI_CONFIG_FILE,
    host.platform === "win32"
      ? path.join(host.env.APPDATA ?? "", "terraform.rc")
      : path.join(host.env.HOME ?? "", ".terraformrc"),
  ].filter((f): f is string => !!f);
  return candidates.some((f) => /^\s*provider_installation\b/m.test(host.readText(f) ?? ""));
}

/**
 * Runs go with a predictable configuration: the module proxy of the environment, no cgo, a too-old Go fails instead of
 * downloading another.
 */
async function go(host: Host, args: readonly string[], cwd: string, timeoutMs: number) {
  const env = {
    ...host.env,
    GOFLAGS: "-mod=mod -buildvcs=false",
    GOTOOLCHAIN: host.env.GOTOOLCHAIN || "local",
    CGO_ENABLED: "0",
    GOOS: terraformPlatform(host).split("_")[0],
    GOARCH: terraformPlatform(host).split("_")[1],
  };
  return host.run(["go", ...args], { cwd, env, timeoutMs });
}

/** Builds package pkg of module@version from the Go module proxy into out. */
async function goBuild(
  host: Host,
  mod: string,
  version: string,
  pkg: string,
  out: string,
  ldflags: string,
  log: Log,
  what: string,
  howLong: string,
): Promise<void> {
  const build = path.join(toolchainDir(host.env), "build");
  mkdirSync(build, { recursive: true });
  const hint =
    "install Go (https://go.dev/dl, or apt-get install golang-go) and make the Go module proxy reachable, or give this host access to the Terraform registry";
  const dl = await go(host, ["mod", "download", "-json", `${mod}@${version}`], build, 600_000);
  if (dl.missing)
    throw badInput(`${what} has to be built from source here, and Go is not installed`, [
      { path: "go", message: "not found", fix: hint },
    ]);
  let dir: string | undefined;
  try {
    const info = JSON.parse(dl.stdout) as { Dir?: string; Error?: string };
    if (info.Error) throw new Error(info.Error);
    dir = info.Dir;
  } catch (err) {
    throw new UserError(`go mod download ${mod}@${version} failed`, 1, [
      {
        path: "go mod download",
        message: (err as Error).message || tail(dl.stderr || dl.stdout, 5),
        fix: `the Go module proxy must serve ${mod}@${version} (GOPROXY); ${hint}`,
      },
    ]);
  }
  if (!dir || !existsSync(dir))
    throw new UserError(`go mod download ${mod}@${version} named no module folder`, 1, [
      { path: "go mod download", message: tail(dl.stdout, 5), fix: hint },
    ]);
  const work = mkdtempSync(path.join(build, "src-"));
  try {
    cpSync(dir, work, { recursive: true });
    // Module-cache copies are read-only, and module zips keep vendor/modules.txt without
    // the vendored code: make it writable and let Go resolve from the module cache.
    await host.run(host.platform === "win32" ? ["attrib", "-R", `${work}\\*`, "/S"] : ["chmod", "-R", "u+w", work]);
    rmSync(path.join(work, "vendor"), { recursive: true, force: true });
    const tmp = `${out}.tmp-${process.pid}`;
    log.step("toolchain", `building ${what} from ${mod}@${version} with Go (${howLong}, once)`);
    const r = await go(host, ["build", "-trimpath", "-ldflags", ldflags, "-o", tmp, pkg], work, 3_600_000);
    if (r.exitCode !== 0)
      throw new UserError(`building ${what} failed`, 1, [
        { path: "go build", message: describeFailure(r), fix: `it needs the Go version its go.mod names; ${hint}` },
      ]);
    renameSync(tmp, out);
  } finally {
    if (host.platform !== "win32") await host.run(["chmod", "-R", "u+w", work]);
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * The null provider built into the cache for host's platform (once): give a host with another
 * platform and arch to cross-build it (Go's GOOS/GOARCH, no cgo), as a classroom kit does.
 */
export async function buildNullProvider(host: Host, log: Log): Promise<string> {
  const binary = builtNullProvider(host);
  if (!host.exists(binary)) {
    mkdirSync(path.dirname(binary), { recursive: true });
    await goBuild(
      host,
      NULL_PROVIDER.module,
      NULL_PROVIDER.moduleVersion,
      ".",
      binary,
      "-s -w",
      log,
      `hashicorp/null ${NULL_PROVIDER.version} for ${terraformPlatform(host)}`,
      "a minute or two",
    );
  }
  return binary;
}

/** The null provider in the cache's mirror (built once), and the CLI config file that points at it. */
export async function ensureNullMirror(host: Host, log: Log): Promise<{ mirror: string; rc: string }> {
  const dir = toolchainDir(host.env);
  const mirror = path.join(dir, "providers");
  const binary = await buildNullProvider(host, log);
  for (const registry of Object.values(REGISTRY_HOSTS)) {
    const dest = nullProviderPath(mirror, registry, host);
    // Only the pinned version: the mirror offers exactly one.
    rmSync(path.dirname(path.dirname(dest)), { recursive: true, force: true });
    mkdirSync(path.dirname(dest), { recursive: true });
    copyFileSync(binary, `${dest}.tmp`);
    chmodSync(`${dest}.tmp`, 0o755);
    renameSync(`${dest}.tmp`, dest);
  }
  const rc = path.join(dir, "terraformrc");
  const include = Object.values(REGISTRY_HOSTS)
    .map((h) => `"${h}/hashicorp/null"`)
    .join(", ");
  const text = `# Written by provision/host/toolchain.ts; do not edit (npm run setup writes it again).\ndisable_checkpoint = true\n\nprovider_installation {\n  filesystem_mirror {\n    path    = ${JSON.stringify(mirror)}\n    include = [${include}]\n  }\n  direct {\n    exclude = [${include}]\n  }\n}\n`;
  writeFileSync(`${rc}.tmp`, text);
  renameSync(`${rc}.tmp`, rc);
  return { mirror, rc };
}

/** Where `npm run setup` builds OpenTofu: the cache's toolchain/bin. */
export function builtTofu(env: NodeJS.ProcessEnv, platform: NodeJS.Platform = process.platform): string {
  return path.join(toolchainDir(env), "bin", exe({ platform }, "tofu"));
}

/** OpenTofu built into the cache's bin folder (for hosts with neither terraform nor tofu: CI). */
export async function ensureOpenTofu(host: Host, log: Log): Promise<string> {
  const binary = builtTofu(host.env, host.platform);
  const stamp = `${binary}.version`;
  if (host.exists(binary) && host.readText(stamp)?.trim() === OPENTOFU.version) return binary;
  mkdirSync(path.dirname(binary), { recursive: true });
  // version.dev=no marks it a release build (no "-dev" suffix).
  await goBuild(
    host,
    OPENTOFU.module,
    OPENTOFU.version,
    "./cmd/tofu",
    binary,
    "-s -w -X github.com/opentofu/opentofu/version.dev=no",
    log,
    `OpenTofu ${OPENTOFU.version}`,
    "about 15 minutes on 2 cores",
  );
  writeFileSync(stamp, `${OPENTOFU.version}\n`);
  return binary;
}

/** A classroom kit's hashicorp/null (runtime/kit.ts): the lock names every platform of the kit. */
export interface StackProvidersFromKit {
  /** Terraform's h1: hash of each platform's package in the kit. */
  readonly hashes: readonly string[];
  /** Where it came from, for the log: "the kit at <dir>". */
  readonly from: string;
}

/**
 * Run by the synth, in the synthesized stack's folder: nothing when the user's CLI config
 * says where providers come from, or when the registry answers; otherwise the build from
 * the cache (made on first use) as the folder's implied local mirror (terraform.d/plugins),
 * with a lock file naming it, and installed as a real copy in .terraform/providers.
 *
 * That last copy matters: cdktf points TF_PLUGIN_CACHE_DIR at ~/.terraform.d/plugin-cache,
 * shared by every project of the user, and terraform init "installs" a package from a local
 * mirror into that cache as a symlink to the mirror of whichever project ran init last, then
 * links the project's .terraform/providers to the cache. Deleting that other clone (or its
 * next init) left every other project with "Required plugins are not installed" after an
 * apply. With a matching copy already in .terraform/providers, init says "Using
 * previously-installed" and touches neither (also with -upgrade).
 */
export async function ensureStackProviders(
  stackDir: string,
  host: Host,
  log: Log,
  kit?: StackProvidersFromKit,
): Promise<"present" | "user-config" | "registry" | "mirror"> {
  const kind = cliKind(host.env);
  const registry = REGISTRY_HOSTS[kind];
  const lockFile = path.join(stackDir, ".terraform.lock.hcl");
  const lock = host.readText(lockFile) ?? "";
  // Both registries' names in one lock: written by this function (Terraform writes one).
  const ours =
    lock.includes(`"${registry}/hashicorp/null"`) &&
    lock.includes(`"${REGISTRY_HOSTS.terraform}/hashicorp/null"`) &&
    (kit?.hashes ?? []).every((h) => lock.includes(`"${h}"`));
  if (!ours && cliConfigInstallsProviders(host)) return "user-config";
  const mirrored = (name: string) => nullProviderPath(path.join(stackDir, "terraform.d", "plugins"), name, host);
  const installed = (name: string) => nullProviderPath(path.join(stackDir, ".terraform", "providers"), name, host);
  if (ours && Object.values(REGISTRY_HOSTS).every((name) => isRealCopy(installed(name), mirrored(name))))
    return "present";
  let binary = builtNullProvider(host);
  if (!host.exists(binary) && ours && existsSync(mirrored(registry))) binary = mirrored(registry);
  if (!host.exists(binary)) {
    try {
      await host.head(`https://${registry}/.well-known/terraform.json`, REGISTRY_TIMEOUT_MS);
      return "registry";
    } catch (err) {
      log.step(
        "toolchain",
        `${registry} does not answer (${(err as Error).message}): making hashicorp/null ${NULL_PROVIDER.version} here instead`,
      );
    }
    await ensureNullMirror(host, log);
    binary = builtNullProvider(host);
  }
  // Under both registries' names, so terraform and tofu find it alike.
  for (const name of Object.values(REGISTRY_HOSTS)) {
    for (const dest of [mirrored(name), installed(name)]) {
      if (dest === binary || isRealCopy(dest, binary)) continue;
      // A symlink there (Terraform's link to the shared plugin cache) is replaced by a folder.
      rmSync(path.dirname(dest), { recursive: true, force: true });
      mkdirSync(path.dirname(dest), { recursive: true });
      const tmp = `${dest}.tmp-${randomBytes(4).toString("hex")}`;
      copyFileSync(binary, tmp);
      chmodSync(tmp, 0o755);
      renameSync(tmp, dest);
    }
  }
  const dest = mirrored(registry);
  if (!ours)
    writeFileSync(
      lockFile,
      lockFileText([packageHashV1([{ name: path.basename(dest), data: readFileSync(dest) }]), ...(kit?.hashes ?? [])]),
    );
  log.step(
    "toolchain",
    kit
      ? `hashicorp/null ${NULL_PROVIDER.version} from terraform.d/plugins (taken from ${kit.from}; the lock holds the hashes of its ${kit.hashes.length} platform${kit.hashes.length === 1 ? "" : "s"})`
      : `hashicorp/null ${NULL_PROVIDER.version} from terraform.d/plugins (built from the Go module proxy; ${registry} unreachable)`,
  );
  return "mirror";
}

/**
 * Whether file is a regular file in a real folder (no symlink on the way from its platform folder) of the same size as
 * source.
 */
function isRealCopy(file: string, source: string): boolean {
  try {
    const dir = lstatSync(path.dirname(file));
    const f = lstatSync(file);
    return dir.isDirectory() && f.isFile() && f.size === statSync(source).size;
  } catch {
    return false;
  }
}

/** Doctor's row: where Terraform will get hashicorp/null from. */
export async function providerSourceCheck(host: Host, online: boolean): Promise<CheckRow> {
  const name = "terraform providers";
  const registry = REGISTRY_HOSTS[cliKind(host.env)];
  if (cliConfigInstallsProviders(host))
    return ok(
      name,
      `your Terraform CLI config (${host.env.TF_CLI_CONFIG_FILE ?? "~/.terraformrc"}) says where providers come from`,
    );
  const built = host.exists(builtNullProvider(host));
  if (built)
    return ok(
      name,
      `hashicorp/null ${NULL_PROVIDER.version} built in ${toolchainDir(host.env)}: each deploy uses it as the stack's local mirror`,
    );
  if (!online)
    return ok(
      name,
      `terraform init downloads hashicorp/null from ${registry}; where it cannot, the first deploy builds it with Go (\`npm run doctor -- --online\` tests the registry)`,
    );
  try {
    return ok(
      name,
      `${registry} answers (${await host.head(`https://${registry}/.well-known/terraform.json`, REGISTRY_TIMEOUT_MS)})`,
    );
  } catch (err) {
    const go = await host.run(["go", "version"], { timeoutMs: 10_000 });
    if (go.exitCode === 0)
      return warn(
        name,
        `${registry} unreachable (${(err as Error).message}); ${go.stdout.trim()}`,
        "the first deploy builds hashicorp/null with Go (a minute or two, once); npm run setup does it now",
      );
    return fail(
      name,
      `${registry} unreachable (${(err as Error).message}), and no Go to build hashicorp/null with`,
      "install Go (https://go.dev/dl), or give this host access to the Terraform registry",
    );
  }
}
