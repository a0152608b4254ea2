/** Address and CIDR helpers on ipaddr.js: strict parsing, canonical text, the minaddr gateway. */
import ipaddr from "ipaddr.js";

/** An IP family. */
export type Family = 4 | 6;

/** A parsed address in canonical text. */
export interface Ip {
  /** Canonical text: dotted quad, or RFC 5952 compressed IPv6. */
  address: string;
  family: Family;
}

/** A parsed CIDR: an address (not necessarily the network's) and a prefix length. */
export interface Cidr extends Ip {
  prefix: number;
}

type Addr = ipaddr.IPv4 | ipaddr.IPv6;

function toIp(addr: Addr): Ip {
  return addr.kind() === "ipv4"
    ? { address: addr.toString(), family: 4 }
    : { address: addr.toString(), family: 6 };
}

function parseStrict(text: string): Addr | null {
  if (typeof text !== "string") return null;
  if (ipaddr.IPv4.isValidFourPartDecimal(text)) return ipaddr.IPv4.parse(text);
  // No zone ids ("%eth0") and no embedded junk: only hex digits, colons and dots.
  if (/^[0-9a-fA-F:.]+$/.test(text) && text.includes(":") && ipaddr.IPv6.isValid(text)) {
    return ipaddr.IPv6.parse(text);
  }
  return null;
}

/** Parses an IP literal strictly (four-part decimal IPv4 or IPv6 without zone); null if invalid. */
export function parseIp(text: string): Ip | null {
  const addr = parseStrict(text);
  return addr ? toIp(addr) : null;
}

/** Parses `address/prefix` strictly; null if invalid. */
export function parseCidr(text: string): Cidr | null {
  if (typeof text !== "string") return null;
  const slash = text.indexOf("/");
  if (slash < 0 || !/^\d{1,3}$/.test(text.slice(slash + 1))) return null;
  const addr = parseStrict(text.slice(0, slash));
  if (!addr) return null;
  const prefix = Number(text.slice(slash + 1));
  if (prefix > (addr.kind() === "ipv4" ? 32 : 128)) return null;
  return { ...toIp(addr), prefix };
}

/** The text form of a CIDR. */
export function cidrText(c: Cidr): string {
  return `${c.address}/${c.prefix}`;
}

function bytesOf(ip: Ip): number[] {
  return ipaddr.parse(ip.address).toByteArray();
}

function fromBytes(bytes: number[]): Ip {
  return toIp(ipaddr.fromByteArray(bytes));
}

/** The network of a CIDR: host bits cleared (10.131.0.5/23 → 10.131.0.0/23). */
export function networkOf(c: Cidr): Cidr {
  const bytes = bytesOf(c);
  for (let i = 0; i < bytes.length; i++) {
    const bitsHere = Math.max(0, Math.min(8, c.prefix - i * 8));
    bytes[i] &= (0xff << (8 - bitsHere)) & 0xff;
  }
  return { ...fromBytes(bytes), prefix: c.prefix };
}

/**
 * The lowest host address of a subnet, the "minaddr" gateway: network + 1
 * (10.131.0.5/23 → 10.131.0.1); for /31 and /127 the lower of the two addresses (RFC 3021,
 * RFC 6164); null for /32 and /128, where no gateway can be derived.
 */
export function minAddress(c: Cidr): Ip | null {
  const bits = c.family === 4 ? 32 : 128;
  if (c.prefix === bits) return null;
  const net = networkOf(c);
  if (c.prefix === bits - 1) return { address: net.address, family: net.family };
  const bytes = bytesOf(net);
  for (let i = bytes.length - 1; i >= 0; i--) {
    bytes[i] = (bytes[i] + 1) & 0xff;
    if (bytes[i] !== 0) break;
  }
  return fromBytes(bytes);
}

/** True when `ip` lies inside the subnet `c`. */
export function contains(c: Cidr, ip: Ip): boolean {
  if (c.family !== ip.family) return false;
  return networkOf({ ...ip, prefix: c.prefix }).address === networkOf(c).address;
}

/** The host route destination for an address: `a.b.c.d/32` or `x::y/128`. */
export function hostCidr(ip: Ip): Cidr {
  return { ...ip, prefix: ip.family === 4 ? 32 : 128 };
}

/** True for a link-local destination (169.254.0.0/16, fe80::/10). */
export function isLinkLocal(c: Cidr): boolean {
  const range = ipaddr.parse(c.address).range();
  return range === "linkLocal" && c.prefix >= (c.family === 4 ? 16 : 10);
}

/**
 * A destination as `ip -j route` prints it (`default`, `10.0.0.1`, `10.0.0.0/24`) turned into a
 * canonical network CIDR of the given family; null when it cannot be read.
 */
export function kernelDst(dst: string, family: Family): Cidr | null {
  if (dst === "default") return { address: family === 4 ? "0.0.0.0" : "::", family, prefix: 0 };
  if (dst.includes("/")) return parseCidr(dst);
  const ip = parseIp(dst);
  return ip ? hostCidr(ip) : null;
}
