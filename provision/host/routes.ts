// The host's IPv4 routes, read the way each OS prints them, and the question every VM
// provider asks of them: does the cluster's subnet clash with a network already here?
import { cidrsOverlap, parseCidr, type Cidr } from "../core/ipv4.js";
import type { Host } from "./host.js";
import { describeFailure } from "./process.js";

export interface HostRoute {
  readonly dst: Cidr;
  readonly dev: string;
  /** The route as the host prints it, for messages. */
  readonly text: string;
}

/** Parses `ip -j route` (Linux). Host routes ("10.0.0.1") count as /32; default routes are skipped. */
export function parseIpRouteJson(stdout: string): HostRoute[] {
  let rows: { dst?: string; dev?: string; protocol?: string }[];
  try {
    rows = JSON.parse(stdout) as typeof rows;
  } catch {
    return [];
  }
  return rows.flatMap((r) => {
    if (!r.dst || r.dst === "default") return [];
    const dst = parseCidr(r.dst.includes("/") ? r.dst : `${r.dst}/32`);
    return dst
      ? [{ dst, dev: r.dev ?? "", text: `${r.dst} dev ${r.dev ?? "?"}${r.protocol ? ` proto ${r.protocol}` : ""}` }]
      : [];
  });
}

/**
 * Parses `netstat -rn -f inet` (macOS): destinations like "192.168.56", "10/8",
 * "192.168.1.0/24"; short forms imply the prefix from the octets written.
 * Host entries (four octets, no prefix: neighbours) and link-local are skipped.
 */
export function parseNetstatRoutes(stdout: string): HostRoute[] {
  const routes: HostRoute[] = [];
  for (const line of stdout.split("\n")) {
    const cols = line.trim().split(/\s+/);
    const [dst, , flags = "", netif = ""] = cols;
    if (!dst || !/^\d/.test(dst)) continue;
    const [addr = "", prefixText] = dst.split("/");
    const octets = addr.split(".");
    if (octets.length === 4 && prefixText === undefined) continue;
    if (flags.includes("W")) continue;
    while (octets.length < 4) octets.push("0");
    const prefix = prefixText !== undefined ? Number(prefixText) : 8 * addr.split(".").length;
    const cidr = parseCidr(`${octets.join(".")}/${prefix}`);
    if (cidr && !cidr.text.startsWith("169.254.") && !cidr.text.startsWith("127."))
      routes.push({ dst: cidr, dev: netif, text: line.trim() });
  }
  return routes;
}

/**
 * Parses `route print -4` (Windows): the "IPv4 Route Table" rows "Network Destination,
 * Netmask, Gateway, Interface, Metric". The interface column is the host's own address on
 * that network, which is what a Windows host-only adapter is known by there.
 */
export function parseRoutePrint(stdout: string): HostRoute[] {
  const routes: HostRoute[] = [];
  for (const line of stdout.split(/\r?\n/)) {
    const m = /^\s*(\d+\.\d+\.\d+\.\d+)\s+(\d+\.\d+\.\d+\.\d+)\s+(\S+)\s+(\d+\.\d+\.\d+\.\d+)\s+\d+\s*$/.exec(line);
    if (!m) continue;
    const [, dst, mask, , iface] = m;
    const prefix = mask!.split(".").reduce((n, o) => n + Number(o).toString(2).replace(/0/g, "").length, 0);
    if (
      dst === "0.0.0.0" ||
      prefix === 32 ||
      dst!.startsWith("127.") ||
      dst!.startsWith("224.") ||
      dst!.startsWith("169.254.")
    )
      continue;
    const cidr = parseCidr(`${dst}/${prefix}`);
    if (cidr) routes.push({ dst: cidr, dev: iface!, text: line.trim().replace(/\s+/g, " ") });
  }
  return routes;
}

export interface RouteTable {
  readonly routes: readonly HostRoute[];
  /** The command that printed them, for messages. */
  readonly source: string;
}

/** The host's routes, or why they could not be read. */
export async function hostRoutes(host: Host): Promise<RouteTable | { readonly error: string }> {
  const how: Record<string, { argv: string[]; parse: (s: string) => HostRoute[] }> = {
    linux: { argv: ["ip", "-j", "route"], parse: parseIpRouteJson },
    darwin: { argv: ["netstat", "-rn", "-f", "inet"], parse: parseNetstatRoutes },
    win32: { argv: ["route", "print", "-4"], parse: parseRoutePrint },
  };
  const h = how[host.platform];
  if (!h) return { error: `reading routes on ${host.platform} is not supported` };
  const r = await host.run(h.argv, { timeoutMs: 10_000 });
  if (r.exitCode !== 0) return { error: describeFailure(r) };
  return { routes: h.parse(r.stdout), source: h.argv.join(" ") };
}

/** Routes that overlap subnet on a device other than the cluster's own. */
export function clashingRoutes(routes: readonly HostRoute[], subnet: Cidr, ownDevices: readonly string[]): HostRoute[] {
  return routes.filter((r) => cidrsOverlap(r.dst, subnet) && !ownDevices.includes(r.dev));
}

/** A /24 inside VirtualBox's default range that no route touches, to suggest. */
export function freeSubnet(routes: readonly HostRoute[]): string | undefined {
  for (let third = 56; third <= 63; third++) {
    const c = parseCidr(`192.168.${third}.0/24`)!;
    if (!routes.some((r) => cidrsOverlap(r.dst, c))) return c.text;
  }
  return undefined;
}
