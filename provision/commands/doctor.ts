// `npm run doctor`: are this host's prerequisites in place for the configured provider?
// One row per check (ok, warn or fail, what was found, what to do) and a verdict, before
// a deploy finds out the slow way. Node, the Terraform CLI and where hashicorp/null comes
// from are doctor's own rows; everything else is exactly what the preflight stage runs
// (host/checks.ts preflightChecks: the provider's checks, memory, disk), so the two
// cannot disagree. Read-only: version commands and files, and, only with --online, one
// HEAD request to the Terraform registry.
// Exit 0 when nothing fails, 1 when something does, 2 on bad arguments or a bad config.
import { cacheCheck } from "../runtime/cache.js";
import { PROVIDERS, type ProviderName } from "../core/config-schema.js";
import { loadCluster } from "../config/resolve.js";
import { verdictOf, type CheckRow, type Status } from "../core/check-rows.js";
import { badInput } from "../core/errors.js";
import { parseCli } from "../core/cli-args.js";
import { nodeCheck, terraformCheck } from "../host/checks.js";
import { realHost, type Host } from "../host/host.js";
import { kitCheck } from "../runtime/kit.js";
import { packagesCheck, runtimeOfCluster } from "../runtime/packages.js";
import { cacheDir, PROJECT_DIR } from "../host/paths.js";
import { providerFor } from "../machines/registry.js";
import { clusterRefOf } from "../core/stage-spec.js";
import { providerSourceCheck } from "../host/toolchain.js";
import type { Cluster } from "../core/model.js";
import { preflightChecks } from "../machines/preflight-checks.js";

export interface DoctorOptions {
  /** The provider whose checks run. */
  readonly provider: ProviderName;
  /** Also test whether the Terraform registry answers (one 3 s HEAD request). */
  readonly online: boolean;
}

/** The kit's row, where one is in use and this config's runtime can be named without locking. */
function kitRow(cluster: Cluster, host: Host): CheckRow | undefined {
  try {
    return kitCheck(cluster.projectDir, runtimeOfCluster(cluster), host);
  } catch {
    return undefined;
  }
}

/** Every check for the provider, in the order a person fixes them. */
export async function runChecks(cluster: Cluster, o: DoctorOptions, host: Host): Promise<CheckRow[]> {
  const { runtime, box } = cluster.config;
  const provider = providerFor(o.provider, host);
  const ref = { ...clusterRefOf(cluster), provider: o.provider };
  const packages = await packagesCheck(cluster, host);
  const kit = packages?.status === "fail" ? undefined : kitRow(cluster, host);
  return [
    nodeCheck(host),
    await terraformCheck(host),
    await providerSourceCheck(host, o.online),
    ...(packages ? [packages] : []),
    ...(kit ? [kit] : []),
    ...(await preflightChecks(provider, host, ref, {
      box,
      python: runtime.python,
      platform: runtime.platform,
      dask: cluster.config.dask,
    })),
    cacheCheck(cacheDir(host.env)),
  ];
}

/** check, status and found aligned in columns; what to do on the line below, under found. */
export function renderTable(rows: readonly CheckRow[]): string {
  const w1 = Math.max("check".length, ...rows.map((r) => r.check.length));
  const w2 = Math.max("status".length, ...rows.map((r) => r.status.length));
  const line = (a: string, b: string, c: string) => `${a.padEnd(w1)}  ${b.padEnd(w2)}  ${c}`.trimEnd();
  const out = [line("check", "status", "found / what to do"), line("-".repeat(w1), "-".repeat(w2), "-".repeat(18))];
  for (const r of rows) {
    out.push(line(r.check, r.status, r.found));
    if (r.fix) out.push(line("", "", `→ ${r.fix}`));
  }
  return out.join("\n");
}

export function verdictLine(provider: ProviderName, rows: readonly CheckRow[]): string {
  const names = (s: Status) => rows.filter((r) => r.status === s).map((r) => r.check);
  const fails = names("fail");
  const warns = names("warn");
  const oks = names("ok").length;
  const list = (n: readonly string[], word: string) =>
    `${n.length} ${word}${n.length === 1 ? "" : "s"} (${n.join(", ")})`;
  switch (verdictOf(rows)) {
    case "ready":
      return `ready for ${provider}: all ${oks} checks ok`;
    case "ready with warnings":
      return `ready for ${provider}, with ${list(warns, "warning")}; ${oks} ok`;
    case "not ready":
      return `NOT READY for ${provider}: ${list(fails, "failure")}${warns.length ? `, ${list(warns, "warning")}` : ""}; ${oks} ok`;
  }
}

export interface MainOptions {
  /** Default: the configured provider. */
  readonly provider?: ProviderName;
  readonly online: boolean;
  readonly json: boolean;
  readonly projectDir: string;
  readonly env?: NodeJS.ProcessEnv;
}

/** Loads the config, runs the checks, prints; returns 0 when nothing fails, else 1. */
export async function main(opts: MainOptions, host: Host = realHost()): Promise<number> {
  const cluster = loadCluster({ projectDir: opts.projectDir, env: opts.env ?? host.env, host });
  const provider = opts.provider ?? cluster.config.provider;
  const rows = await runChecks(cluster, { provider, online: opts.online }, host);
  const verdict = verdictOf(rows);
  if (opts.json) process.stdout.write(`${JSON.stringify({ provider, online: opts.online, verdict, rows }, null, 2)}\n`);
  else process.stdout.write(`${renderTable(rows)}\n\n${verdictLine(provider, rows)}\n`);
  return verdict === "not ready" ? 1 : 0;
}

const USAGE = `usage: npm run doctor [-- [--provider ${PROVIDERS.join("|")}] [--online] [--json]]
  --provider P  check the prerequisites of provider P (default: "provider" of cluster.config.json, virtualbox)
  --online      also test that the Terraform registry answers (one 3 s HEAD request; default: offline)
  --json        machine-readable rows on stdout (default: a table and a verdict)
exit: 0 nothing fails, 1 something fails, 2 bad arguments or an invalid cluster.config.json`;

export async function cli(argv: readonly string[], projectDir = PROJECT_DIR): Promise<number> {
  const parsed = parseCli(argv, USAGE, {
    provider: { type: "string" },
    online: { type: "boolean", default: false },
    json: { type: "boolean", default: false },
  });
  if (!parsed) return 0;
  const { values } = parsed;
  const provider = values.provider;
  if (provider !== undefined && !(PROVIDERS as readonly string[]).includes(provider)) {
    throw badInput(`--provider ${provider} is not a provider`, [
      { path: "--provider", message: `"${provider}"`, fix: `use one of: ${PROVIDERS.join(", ")}` },
    ]);
  }
  return main({ provider: provider as ProviderName | undefined, online: values.online, json: values.json, projectDir });
}
