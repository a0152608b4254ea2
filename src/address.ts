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

// ipaddr.js's own four-part-decimal rule (IPv4.isValidFourPartDecimal), checked before one parse
// instead of its isValid-then-parse, which parses twice.
const FOUR_PART_DECIMAL = /^(0|[1-9]\d*)(\.(0|[1-9]\d*)){3}$/;
// IPv6 text without zone ids ("%eth0") or embedded junk: only hex digits, colons and dots.
const IPV6_CHARS = /^[0-9a-fA-F:.]+$/;

// A trailing dotted quad of IPv6 text (`::1.2.3.4`, `::ffff:1.2.3.4`, `64:ff9b::1.2.3.4`).
const EMBEDDED_V4 = /:((0|[1-9]\d*)(\.(0|[1-9]\d*)){3})$/;

/**
 * IPv6 text with its trailing dotted quad written as two hex groups (`::1.2.3.4` →
 * `::102:304`), null when the quad is not a valid IPv4 address. ipaddr.js reads `::a.b.c.d`
 * (IPv4-compatible, as the kernel prints ::/96) as `::ffff:a.b.c.d` (IPv4-mapped): another
 * address. Every dotted form is rewritten here, so the config's text and the kernel's parse alike.
 */
function hexEmbeddedV4(text: string): string | null {
  const m = EMBEDDED_V4.exec(text);
  const quad = m?.[1];
  if (!m || quad === undefined) return text.includes(".") ? null : text;
  const parts = quad.split(".").map(Number);
  if (parts.some((p) => p > 255)) return null;
  const [a = 0, b = 0, c = 0, d = 0] = parts;
  const hex = `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  return `${text.slice(0, m.index + 1)}${hex}`;
}

function parseStrict(text: string): Addr | null {
  try {
    if (FOUR_PART_DECIMAL.test(text)) return ipaddr.IPv4.parse(text);
    if (IPV6_CHARS.test(text) && text.includes(":")) {
      const hex = hexEmbeddedV4(text);
      return hex === null ? null : ipaddr.IPv6.parse(hex);
    }
  } catch {
    // ipaddr.js throws on out-of-range parts and malformed IPv6: not an address.
  }
  return null;
}

// One invocation sees the same addresses many times (prevResult, the pod's table, the plan), and
// ipaddr.js parsing is most of the cost of cold code: each text is parsed once.
const parsed = new Map<string, { ip: Ip; addr: Addr } | null>();

function lookup(text: string): { ip: Ip; addr: Addr } | null {
  let hit = parsed.get(text);
  if (hit === undefined) {
    const addr = parseStrict(text);
    hit = addr ? { ip: toIp(addr), addr } : null;
    parsed.set(text, hit);
  }
  return hit;
}

/** Parses an IP literal strictly (four-part decimal IPv4 or IPv6 without zone); null if invalid. */
export function parseIp(text: string): Ip | null {
  if (typeof text !== "string") return null;
  const hit = lookup(text);
  return hit && { ...hit.ip };
}

/** Parses `address/prefix` strictly; null if invalid. */
export function parseCidr(text: string): Cidr | null {
  if (typeof text !== "string") return null;
  const slash = text.indexOf("/");
  if (slash < 0 || !/^\d{1,3}$/.test(text.slice(slash + 1))) return null;
  const ip = parseIp(text.slice(0, slash));
  if (!ip) return null;
  const prefix = Number(text.slice(slash + 1));
  if (prefix > (ip.family === 4 ? 32 : 128)) return null;
  return { ...ip, prefix };
}

/** True for the unspecified address (0.0.0.0, ::): as a gateway, no gateway at all. */
export function isUnspecified(ip: Ip): boolean {
  return ip.address === "0.0.0.0" || ip.address === "::";
}

/** The text form of a CIDR. */
export function cidrText(c: Cidr): string {
  return `${c.address}/${c.prefix}`;
}

/** The parsed form of an address (from the same per-run cache as `parseIp`). */
function addrOf(ip: Ip): Addr {
  const hit = lookup(ip.address);
  if (!hit) throw new Error(`not an IP address: ${JSON.stringify(ip.address)}`);
  return hit.addr;
}

function bytesOf(ip: Ip): number[] {
  return addrOf(ip).toByteArray();
}

function fromBytes(bytes: number[]): Ip {
  return toIp(ipaddr.fromByteArray(bytes));
}

/** The network of a CIDR: host bits cleared (10.131.0.5/23 → 10.131.0.0/23). */
export function networkOf(c: Cidr): Cidr {
  if (c.prefix === (c.family === 4 ? 32 : 128)) return { ...c };
  const bytes = bytesOf(c);
  for (let i = 0; i < bytes.length; i++) {
    const bitsHere = Math.max(0, Math.min(8, c.prefix - i * 8));
    bytes[i] = (bytes[i] ?? 0) & (0xff << (8 - bitsHere)) & 0xff;
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
    bytes[i] = ((bytes[i] ?? 0) + 1) & 0xff;
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
  const range = addrOf(c).range();
  return range === "linkLocal" && c.prefix >= (c.family === 4 ? 16 : 10);
}

// The shapes `ip -j` prints addresses in (inet_ntop): dotted quads, lower-case compressed IPv6.
const KERNEL_TEXT: Record<Family, RegExp> = { 4: /^[0-9.]+$/, 6: /^[0-9a-f:]+$/ };

/**
 * An address as `ip -j` prints it, in canonical text. The kernel's text is already canonical, so
 * it is only checked for shape here (full validation happens where a value is sent back to `ip`:
 * see `routeOpArgs`); IPv4-embedded IPv6 text goes through ipaddr.js. Null when unreadable.
 */
export function kernelAddress(text: string, family: Family): string | null {
  if (KERNEL_TEXT[family].test(text)) return text;
  const ip = family === 6 ? parseIp(text) : null;
  return ip?.family === 6 ? ip.address : null;
}

/**
 * A destination as `ip -j route` prints it (`default`, `10.0.0.1`, `10.0.0.0/24`) turned into a
 * canonical network CIDR of the given family; null when it cannot be read.
 */
export function kernelDst(dst: string, family: Family): Cidr | null {
  if (dst === "default") return { address: family === 4 ? "0.0.0.0" : "::", family, prefix: 0 };
  const bits = family === 4 ? 32 : 128;
  const slash = dst.indexOf("/");
  const address = kernelAddress(slash < 0 ? dst : dst.slice(0, slash), family);
  const prefixText = slash < 0 ? String(bits) : dst.slice(slash + 1);
  if (!address || !/^\d{1,3}$/.test(prefixText) || Number(prefixText) > bits) return null;
  return { address, family, prefix: Number(prefixText) };
}

/** True for an IPv4-mapped IPv6 address (::ffff:0:0/96), which Go's net package reads as IPv4. */
export function isV4Mapped(ip: Ip): boolean {
  const addr = ip.family === 6 ? lookup(ip.address)?.addr : undefined;
  return addr instanceof ipaddr.IPv6 && addr.isIPv4MappedAddress();
}

/** The IPv4 address an IPv4-mapped IPv6 address stands for (::ffff:10.0.0.1 → 10.0.0.1), or null. */
export function v4OfMapped(ip: Ip): Ip | null {
  const addr = ip.family === 6 ? lookup(ip.address)?.addr : undefined;
  if (!(addr instanceof ipaddr.IPv6) || !addr.isIPv4MappedAddress()) return null;
  return toIp(addr.toIPv4Address());
}
