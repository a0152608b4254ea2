/**
 * Address and CIDR helpers: strict parsing, canonical text, the minaddr gateway. Dotted quads and
 * IPv6 text already in canonical form are read here; any other IPv6 text goes through ipaddr.js,
 * which is loaded only then (most runs never need it: loading it costs a cold run ~2-3 ms).
 */
import type ipaddrLib from "ipaddr.js";

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

type IpaddrLib = typeof ipaddrLib;

let lib: IpaddrLib | undefined;

/** ipaddr.js, loaded on first use. */
function ipaddr(): IpaddrLib {
  if (lib) return lib;
  try {
    // Bundled, this `require` is the bundled module's lazy initialisation.
    lib = require("ipaddr.js") as IpaddrLib;
  } catch (e) {
    // Unbundled (tests), an ES module has no `require`: Node's, for this module's location.
    if (!(e instanceof ReferenceError)) throw e;
    const node = (globalThis as unknown as { process: NodeProcess }).process;
    const { createRequire } = node.getBuiltinModule("node:module") as NodeModule;
    lib = createRequire(import.meta.url)("ipaddr.js") as IpaddrLib;
  }
  return lib;
}

interface NodeProcess {
  getBuiltinModule(id: string): unknown;
}

interface NodeModule {
  createRequire(url: string): (id: string) => unknown;
}

/** An address as text and bytes (4 or 16, network order). */
interface Parsed {
  ip: Ip;
  bytes: readonly number[];
}

/**
 * The bytes of a dotted quad as ipaddr.js's four-part-decimal rule reads it (IPv4
 * isValidFourPartDecimal: four decimal parts without leading zeros, each at most 255), null for
 * any other text. Such text is its own canonical form.
 */
function dottedQuad(text: string): number[] | null {
  const bytes: number[] = [];
  let value = 0;
  let digits = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      if (digits > 0 && value === 0) return null; // a leading zero
      value = value * 10 + c - 48;
      if (value > 255) return null;
      digits++;
    } else if (c === 46 && digits > 0 && bytes.length < 3) {
      bytes.push(value);
      value = 0;
      digits = 0;
    } else return null;
  }
  if (digits === 0 || bytes.length !== 3) return null;
  bytes.push(value);
  return bytes;
}

/**
 * The eight groups of IPv6 text in lower-case hex, at most one `::`, each group 1 to 4 digits;
 * null for any other text (which ipaddr.js then reads, or refuses).
 */
function plainV6Groups(text: string): number[] | null {
  const n = text.length;
  const head: number[] = [];
  let tail: number[] | null = null;
  let at = 0;
  if (n >= 2 && text.charCodeAt(0) === 58 && text.charCodeAt(1) === 58) {
    tail = [];
    at = 2;
  }
  while (at < n) {
    const start = at;
    let value = 0;
    for (; at < n; at++) {
      const c = text.charCodeAt(at);
      if (c >= 48 && c <= 57) value = value * 16 + c - 48;
      else if (c >= 97 && c <= 102) value = value * 16 + c - 87;
      else break;
    }
    if (at === start || at - start > 4) return null;
    (tail ?? head).push(value);
    if (at === n) break;
    if (text.charCodeAt(at) !== 58) return null; // not a colon
    at++;
    if (at < n && text.charCodeAt(at) === 58) {
      if (tail) return null; // a second `::`
      tail = [];
      at++;
    } else if (at === n) return null; // one trailing colon
  }
  const count = head.length + (tail?.length ?? 0);
  if (tail === null) return count === 8 ? head : null;
  if (count > 7) return null; // `::` stands for one group or more
  return [...head, ...new Array<number>(8 - count).fill(0), ...tail];
}

/** IPv6 groups as ipaddr.js prints them (RFC 5952: the first longest run of 2+ zero groups). */
function v6Text(groups: readonly number[]): string {
  let bestAt = -1;
  let bestLength = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i + 1;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestAt = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number) =>
    groups.slice(from, to).map((g) => g.toString(16)).join(":");
  if (bestAt < 0) return hex(0, 8);
  return `${hex(0, bestAt)}::${hex(bestAt + bestLength, 8)}`;
}

function v6Bytes(groups: readonly number[]): number[] {
  const bytes: number[] = [];
  for (const g of groups) bytes.push(g >> 8, g & 0xff);
  return bytes;
}

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

/** IPv6 text in any form ipaddr.js reads (but zones), in its canonical form; null if invalid. */
function parseV6(text: string): Parsed | null {
  const groups = plainV6Groups(text);
  if (groups && v6Text(groups) === text) {
    return { ip: { address: text, family: 6 }, bytes: v6Bytes(groups) };
  }
  if (!IPV6_CHARS.test(text)) return null;
  const hex = hexEmbeddedV4(text);
  if (hex === null) return null;
  try {
    const addr = ipaddr().IPv6.parse(hex);
    return { ip: { address: addr.toString(), family: 6 }, bytes: addr.toByteArray() };
  } catch {
    // ipaddr.js throws on malformed IPv6: not an address.
    return null;
  }
}

function parseStrict(text: string): Parsed | null {
  if (text.includes(":")) return parseV6(text);
  const bytes = dottedQuad(text);
  return bytes && { ip: { address: text, family: 4 }, bytes };
}

// One invocation sees the same addresses many times (prevResult, the pod's table, the plan):
// each text is parsed once.
const parsed = new Map<string, Parsed | null>();

function lookup(text: string): Parsed | null {
  let hit = parsed.get(text);
  if (hit === undefined) {
    hit = parseStrict(text);
    parsed.set(text, hit);
  }
  return hit;
}

/** Parses an IP literal strictly (four-part decimal IPv4 or IPv6 without zone); null if invalid. */
export function parseIp(text: string): Ip | null {
  if (typeof text !== "string") return null;
  const hit = lookup(text);
  return hit && { address: hit.ip.address, family: hit.ip.family };
}

/** The parse-cache entry and the prefix of `address/prefix`, or null if invalid. */
function lookupCidr(text: string): { ip: Ip; prefix: number } | null {
  if (typeof text !== "string") return null;
  const slash = text.indexOf("/");
  const prefix = slash < 0 ? NaN : prefixOf(text, slash + 1);
  if (Number.isNaN(prefix)) return null;
  const hit = lookup(text.slice(0, slash));
  if (!hit || prefix > (hit.ip.family === 4 ? 32 : 128)) return null;
  return { ip: hit.ip, prefix };
}

/** Parses `address/prefix` strictly; null if invalid. */
export function parseCidr(text: string): Cidr | null {
  const c = lookupCidr(text);
  return c && { address: c.ip.address, family: c.ip.family, prefix: c.prefix };
}

/** The family of an IP literal (`parseIp` without the copy), or null if invalid. */
export function ipFamily(text: string): Family | null {
  return typeof text === "string" ? lookup(text)?.ip.family ?? null : null;
}

/** The family of `address/prefix` (`parseCidr` without the copy), or null if invalid. */
export function cidrFamily(text: string): Family | null {
  return lookupCidr(text)?.ip.family ?? null;
}

/** The 1 to 3 decimal digits from `at` to the end of `text` as a number; NaN for anything else. */
function prefixOf(text: string, at: number): number {
  const digits = text.length - at;
  if (digits < 1 || digits > 3) return NaN;
  let n = 0;
  for (let i = at; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) return NaN;
    n = n * 10 + c - 48;
  }
  return n;
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
function parsedOf(ip: Ip): Parsed {
  const hit = lookup(ip.address);
  if (!hit) throw new Error(`not an IP address: ${JSON.stringify(ip.address)}`);
  return hit;
}

function bytesOf(ip: Ip): readonly number[] {
  return parsedOf(ip).bytes;
}

/** The address of 4 or 16 bytes, in canonical text. */
function fromBytes(bytes: readonly number[]): Ip {
  if (bytes.length === 4) return { address: bytes.join("."), family: 4 };
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0));
  return { address: v6Text(groups), family: 6 };
}

/** `bytes` with the bits after the first `prefix` cleared. */
function masked(bytes: readonly number[], prefix: number): number[] {
  const out = bytes.slice();
  for (let i = 0; i < out.length; i++) {
    const bitsHere = prefix - i * 8;
    if (bitsHere >= 8) continue;
    out[i] = bitsHere <= 0 ? 0 : (out[i] ?? 0) & (0xff << (8 - bitsHere)) & 0xff;
  }
  return out;
}

/** True when every bit of `bytes` after the first `prefix` is 0. */
function hostBitsClear(bytes: readonly number[], prefix: number): boolean {
  for (let i = prefix >> 3; i < bytes.length; i++) {
    const bitsHere = prefix - i * 8;
    const hostMask = bitsHere <= 0 ? 0xff : 0xff >> bitsHere;
    if (((bytes[i] ?? 0) & hostMask) !== 0) return false;
  }
  return true;
}

/** The network of a CIDR: host bits cleared (10.131.0.5/23 → 10.131.0.0/23). */
export function networkOf(c: Cidr): Cidr {
  if (c.prefix === (c.family === 4 ? 32 : 128)) return { ...c };
  const { ip, bytes } = parsedOf(c);
  // Most destinations are written as their network already: nothing to mask or format then.
  const canonical = hostBitsClear(bytes, c.prefix) ? ip : fromBytes(masked(bytes, c.prefix));
  return { address: canonical.address, family: canonical.family, prefix: c.prefix };
}

/**
 * The lowest host address of a subnet, the "minaddr" gateway: network + 1
 * (10.131.0.5/23 → 10.131.0.1); for /31 and /127 the lower of the two addresses (RFC 3021,
 * RFC 6164); null for /32 and /128, where no gateway can be derived.
 */
export function minAddress(c: Cidr): Ip | null {
  const bits = c.family === 4 ? 32 : 128;
  if (c.prefix === bits) return null;
  const bytes = masked(bytesOf(c), c.prefix);
  if (c.prefix === bits - 1) return fromBytes(bytes);
  for (let i = bytes.length - 1; i >= 0; i--) {
    bytes[i] = ((bytes[i] ?? 0) + 1) & 0xff;
    if (bytes[i] !== 0) break;
  }
  return fromBytes(bytes);
}

/** True when `ip` lies inside the subnet `c`. */
export function contains(c: Cidr, ip: Ip): boolean {
  if (c.family !== ip.family) return false;
  const net = bytesOf(c);
  const bytes = bytesOf(ip);
  for (let i = 0, bits = c.prefix; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if (((net[i] ?? 0) & mask) !== ((bytes[i] ?? 0) & mask)) return false;
  }
  return true;
}

/** The host route destination for an address: `a.b.c.d/32` or `x::y/128`. */
export function hostCidr(ip: Ip): Cidr {
  return { ...ip, prefix: ip.family === 4 ? 32 : 128 };
}

/** True for a link-local destination (169.254.0.0/16, fe80::/10). */
export function isLinkLocal(c: Cidr): boolean {
  const b = bytesOf(c);
  return c.family === 4
    ? b[0] === 169 && b[1] === 254 && c.prefix >= 16
    : b[0] === 0xfe && ((b[1] ?? 0) & 0xc0) === 0x80 && c.prefix >= 10;
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
  const prefix = slash < 0 ? bits : prefixOf(dst, slash + 1);
  if (!address || !(prefix <= bits)) return null;
  return { address, family, prefix };
}

/** The bytes of an IPv4-mapped IPv6 address (::ffff:0:0/96), or null. */
function mappedBytes(ip: Ip): readonly number[] | null {
  if (ip.family !== 6) return null;
  const b = lookup(ip.address)?.bytes;
  if (!b) return null;
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return null;
  return b[10] === 0xff && b[11] === 0xff ? b : null;
}

/** True for an IPv4-mapped IPv6 address (::ffff:0:0/96), which Go's net package reads as IPv4. */
export function isV4Mapped(ip: Ip): boolean {
  return mappedBytes(ip) !== null;
}

/** The IPv4 address an IPv4-mapped IPv6 address stands for (::ffff:10.0.0.1 → 10.0.0.1), or null. */
export function v4OfMapped(ip: Ip): Ip | null {
  const b = mappedBytes(ip);
  return b && fromBytes(b.slice(12));
}
