// IPv4 arithmetic for subnets and node addresses: small enough to own, and exact.

export interface Cidr {
  /** The address as written, e.g. 192.168.56.0 */
  readonly address: string;
  readonly prefix: number;
  /** Network address as an unsigned 32-bit integer. */
  readonly network: number;
  /** Broadcast address as an unsigned 32-bit integer. */
  readonly broadcast: number;
  /** network/prefix, normalised. */
  readonly text: string;
}

export function ipToInt(ip: string): number {
  const parts = ip.split(".").map(Number);
  return (((parts[0]! << 24) >>> 0) + (parts[1]! << 16) + (parts[2]! << 8) + parts[3]!) >>> 0;
}

export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff].join(".");
}

export function isIpv4(ip: string): boolean {
  const parts = ip.split(".");
  return parts.length === 4 && parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255);
}

/** Parses a.b.c.d/p; undefined when it is not one. */
export function parseCidr(text: string): Cidr | undefined {
  const m = /^(\d{1,3}(?:\.\d{1,3}){3})\/(\d{1,2})$/.exec(text.trim());
  if (!m || !isIpv4(m[1]!) || Number(m[2]) > 32) return undefined;
  const prefix = Number(m[2]);
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  const network = (ipToInt(m[1]!) & mask) >>> 0;
  const broadcast = (network | (~mask >>> 0)) >>> 0;
  return { address: m[1]!, prefix, network, broadcast, text: `${intToIp(network)}/${prefix}` };
}

export function cidrContains(c: Cidr, ip: number): boolean {
  return ip >= c.network && ip <= c.broadcast;
}

/** Whether b lies wholly inside a. */
export function cidrWithin(a: Cidr, b: Cidr): boolean {
  return cidrContains(a, b.network) && cidrContains(a, b.broadcast);
}

export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  return a.network <= b.broadcast && b.network <= a.broadcast;
}

export function netmaskOf(prefix: number): string {
  return intToIp(prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0);
}

/** The host's address on a private network: the subnet's first host (.1). */
export function hostAddress(subnet: Cidr): string {
  return intToIp(subnet.network + 1);
}
