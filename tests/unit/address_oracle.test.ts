/**
 * address.ts reads dotted quads and canonical IPv6 text itself and leaves every other form to
 * ipaddr.js: over random text and random addresses, each function answers exactly as the same
 * function written on ipaddr.js alone (the oracle below) does.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import ipaddr from "ipaddr.js";
import {
  type Cidr,
  contains,
  type Ip,
  isLinkLocal,
  isV4Mapped,
  kernelDst,
  minAddress,
  networkOf,
  parseCidr,
  parseIp,
  v4OfMapped,
} from "../../src/address.ts";

// The oracle: address.ts as it was on ipaddr.js alone.
type Addr = ipaddr.IPv4 | ipaddr.IPv6;
const FOUR_PART_DECIMAL = /^(0|[1-9]\d*)(\.(0|[1-9]\d*)){3}$/;
const IPV6_CHARS = /^[0-9a-fA-F:.]+$/;
const EMBEDDED_V4 = /:((0|[1-9]\d*)(\.(0|[1-9]\d*)){3})$/;

function oracleHex(text: string): string | null {
  const m = EMBEDDED_V4.exec(text);
  const quad = m?.[1];
  if (!m || quad === undefined) return text.includes(".") ? null : text;
  const parts = quad.split(".").map(Number);
  if (parts.some((p) => p > 255)) return null;
  const [a = 0, b = 0, c = 0, d = 0] = parts;
  return `${text.slice(0, m.index + 1)}${((a << 8) | b).toString(16)}:${
    ((c << 8) | d).toString(16)
  }`;
}

function oracleAddr(text: string): Addr | null {
  try {
    if (FOUR_PART_DECIMAL.test(text)) return ipaddr.IPv4.parse(text);
    if (IPV6_CHARS.test(text) && text.includes(":")) {
      const hex = oracleHex(text);
      return hex === null ? null : ipaddr.IPv6.parse(hex);
    }
  } catch {
    // not an address
  }
  return null;
}

function toIp(addr: Addr): Ip {
  return { address: addr.toString(), family: addr.kind() === "ipv4" ? 4 : 6 };
}

function oracleIp(text: string): Ip | null {
  const addr = oracleAddr(text);
  return addr && toIp(addr);
}

function oracleNetwork(c: Cidr): Cidr {
  if (c.prefix === (c.family === 4 ? 32 : 128)) return { ...c };
  const bytes = oracleAddr(c.address)!.toByteArray();
  for (let i = 0; i < bytes.length; i++) {
    const bitsHere = Math.max(0, Math.min(8, c.prefix - i * 8));
    bytes[i] = (bytes[i] ?? 0) & (0xff << (8 - bitsHere)) & 0xff;
  }
  return { ...toIp(ipaddr.fromByteArray(bytes)), prefix: c.prefix };
}

function oracleMin(c: Cidr): Ip | null {
  const bits = c.family === 4 ? 32 : 128;
  if (c.prefix === bits) return null;
  const net = oracleNetwork(c);
  if (c.prefix === bits - 1) return { address: net.address, family: net.family };
  const bytes = oracleAddr(net.address)!.toByteArray();
  for (let i = bytes.length - 1; i >= 0; i--) {
    bytes[i] = ((bytes[i] ?? 0) + 1) & 0xff;
    if (bytes[i] !== 0) break;
  }
  return toIp(ipaddr.fromByteArray(bytes));
}

function oracleMapped(ip: Ip): Ip | null {
  const addr = ip.family === 6 ? oracleAddr(ip.address) : null;
  if (!(addr instanceof ipaddr.IPv6) || !addr.isIPv4MappedAddress()) return null;
  return toIp(addr.toIPv4Address());
}

// Text an address parser may meet: pieces of addresses, in and out of form.
const CHARS = [..."0123456789abcdefABCDEF:.", "::", ".", ":", "0", "00", "255", "256", "ffff"];
const noise = fc.array(fc.constantFrom(...CHARS, " ", "%", "/", "x", "-"), { maxLength: 14 })
  .map((a) => a.join(""));
const near = fc.array(fc.constantFrom(...CHARS), { minLength: 1, maxLength: 20 })
  .map((a) => a.join(""));
// Addresses from bytes: mostly zeros, so every run of zero groups and every mapped form shows up.
const byte = fc.oneof(
  fc.constant(0),
  fc.constant(0),
  fc.constant(255),
  fc.integer({ min: 0, max: 255 }),
);
const v4Text = fc.array(byte, { minLength: 4, maxLength: 4 }).map((b) => b.join("."));
const v6Canonical = fc.array(byte, { minLength: 16, maxLength: 16 })
  .map((b) => ipaddr.fromByteArray(b).toString());
const mapped = v4Text.map((t) => `::ffff:${t}`);
const text = fc.oneof(
  noise,
  near,
  v4Text,
  v6Canonical,
  mapped,
  fc.ipV4(),
  fc.ipV4Extended(),
  fc.ipV6(),
  v6Canonical.map((t) => t.toUpperCase()),
  v6Canonical.map((t) => t.replace("::", ":0:0:")),
);

Deno.test("parseIp answers as ipaddr.js does, for any text", () => {
  fc.assert(
    fc.property(text, (t) => {
      assert.deepEqual(parseIp(t), oracleIp(t), JSON.stringify(t));
    }),
    { numRuns: 20000 },
  );
});

Deno.test("parseCidr and kernelDst answer as on ipaddr.js", () => {
  fc.assert(
    fc.property(
      text,
      fc.oneof(fc.integer({ min: 0, max: 129 }), fc.constantFrom("", "x", "012", "1234")),
      (t, p) => {
        const cidr = `${t}/${p}`;
        const ip = oracleIp(t);
        const bits = ip?.family === 4 ? 32 : 128;
        const want = ip && /^\d{1,3}$/.test(String(p)) && Number(p) <= bits
          ? { ...ip, prefix: Number(p) }
          : null;
        assert.deepEqual(parseCidr(cidr), want, cidr);
      },
    ),
    { numRuns: 5000 },
  );
  fc.assert(
    fc.property(fc.oneof(v4Text, v6Canonical), fc.integer({ min: 0, max: 128 }), (t, p) => {
      const family = t.includes(":") ? 6 : 4;
      const want = p <= (family === 4 ? 32 : 128) ? { address: t, family, prefix: p } : null;
      assert.deepEqual(kernelDst(`${t}/${p}`, family), want);
    }),
  );
});

Deno.test("networkOf, minAddress, contains, isLinkLocal and the mapped forms answer as on ipaddr.js", () => {
  const addr = fc.oneof(
    v4Text,
    v6Canonical,
    mapped,
    fc.ipV6(),
    fc.constantFrom("169.254.3.4", "fe80::1", "febf:ffff::", "fec0::1"),
  );
  fc.assert(
    fc.property(addr, fc.integer({ min: 0, max: 128 }), addr, (t, p, other) => {
      const ip = parseIp(t)!;
      const c: Cidr = { ...ip, prefix: Math.min(p, ip.family === 4 ? 32 : 128) };
      assert.deepEqual(networkOf(c), oracleNetwork(c), `networkOf ${t}/${c.prefix}`);
      assert.deepEqual(minAddress(c), oracleMin(c), `minAddress ${t}/${c.prefix}`);
      const o = parseIp(other)!;
      const inside = c.family === o.family &&
        oracleNetwork({ ...o, prefix: c.prefix }).address === oracleNetwork(c).address;
      assert.equal(contains(c, o), inside, `${other} in ${t}/${c.prefix}`);
      const linkLocal = oracleAddr(t)!.range() === "linkLocal" &&
        c.prefix >= (c.family === 4 ? 16 : 10);
      assert.equal(isLinkLocal(c), linkLocal, `isLinkLocal ${t}/${c.prefix}`);
      assert.deepEqual(v4OfMapped(ip), oracleMapped(ip), `v4OfMapped ${t}`);
      assert.equal(isV4Mapped(ip), oracleMapped(ip) !== null, `isV4Mapped ${t}`);
    }),
    { numRuns: 5000 },
  );
});
