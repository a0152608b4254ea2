/**
 * Issue 17, classes 7 and 8: what ADD reports, what CHECK compares and what DEL restores match
 * the kernel — addresses in the odd IPv6 ranges, attributes of an existing route, an unspecified
 * gateway, a replaced default route, and routes with tos, TCP metrics or an IPv6 next hop.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { ipIn, LAB, tableText } from "../../testing/mod.ts";
import { labTest } from "../support/lab_test.ts";
import { cidrText, networkOf, parseCidr, parseIp } from "../../src/address.ts";
import { applyOps, readPod } from "../../src/ip.ts";
import { describeRoute, type Route } from "../../src/route.ts";

const V6 = { podAddress6: LAB.podAddress6, podGateway6: LAB.podGateway6 } as const;

function ok(r: { code: number; stdout: string; stderr: string }, what: string): void {
  assert.equal(r.code, 0, `${what} failed: ${r.stdout} ${r.stderr}`);
}

// ---------------------------------------------------------------------------------------------
// Addresses in the odd IPv6 ranges

/** Prefixes (as bytes) of the IPv6 ranges whose text embeds, or may embed, an IPv4 address. */
const ODD_RANGES: { name: string; bytes: number[] }[] = [
  { name: "::/96 (IPv4-compatible)", bytes: [] },
  { name: "::ffff:0:0/96 (IPv4-mapped)", bytes: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff] },
  { name: "::ffff:0:0:0/96 (SIIT)", bytes: [0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0] },
  { name: "64:ff9b::/96 (NAT64)", bytes: [0, 0x64, 0xff, 0x9b] },
  { name: "64:ff9b:1::/48 (local NAT64)", bytes: [0, 0x64, 0xff, 0x9b, 0, 1] },
  { name: "2002::/16 (6to4)", bytes: [0x20, 0x02] },
  { name: "100::/64 (discard)", bytes: [1, 0] },
];

/** A 16-byte address: a range's prefix, zeros, then a random tail (so ::/96 tails are IPv4). */
const oddAddress = fc.record({
  range: fc.constantFrom(...ODD_RANGES),
  tail: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 4, maxLength: 6 }),
  dotted: fc.boolean(),
}).map(({ range, tail, dotted }) => {
  const bytes = [...range.bytes, ...Array(16).fill(0)].slice(0, 16);
  tail.forEach((b, i) => (bytes[16 - tail.length + i] = b));
  const groups = Array.from({ length: 8 }, (_, i) => ((bytes[2 * i]! << 8) | bytes[2 * i + 1]!));
  // The config may write the last 32 bits as a dotted quad, as RFC 4291 allows.
  const text = dotted
    ? `${groups.slice(0, 6).map((g) => g.toString(16)).join(":")}:${bytes.slice(12).join(".")}`
    : groups.map((g) => g.toString(16)).join(":");
  return { range: range.name, text };
});

labTest(
  "odd IPv6 ranges: a route round-trips config → ip line → kernel → read → the same Route",
  V6,
  async (e2e) => {
    const { lab } = e2e;
    const ifname = lab.podIfname;
    const before = await tableText(lab.pod);
    fc.assert(
      fc.property(
        oddAddress,
        fc.integer({ min: 96, max: 128 }),
        // `via ::` is no gateway at all (ip refuses it): every other address is one.
        oddAddress.filter((a) => parseIp(a.text)?.address !== "::"),
        (dstAddr, prefix, gwAddr) => {
          const cidr = parseCidr(`${dstAddr.text}/${prefix}`);
          const gw = parseIp(gwAddr.text);
          assert.ok(cidr && gw, `parse ${dstAddr.text} and ${gwAddr.text}`);
          const route: Route = {
            family: 6,
            dst: cidrText(networkOf(cidr)),
            gateway: gw.address,
            dev: ifname,
            table: "main",
            metric: 1024,
            onlink: true,
          };
          applyOps(lab.podNetns, [{ action: "add", route, reason: "test" }]);
          const read = readPod(lab.podNetns).routes.filter((r) => r.dst === route.dst);
          assert.equal(read.length, 1, `${describeRoute(route)} read back as one route`);
          const back = read[0]!;
          assert.deepEqual(
            { dst: back.dst, gateway: back.gateway, dev: back.dev, onlink: back.onlink },
            { dst: route.dst, gateway: route.gateway, dev: ifname, onlink: true },
            `${dstAddr.range} via ${gwAddr.range}`,
          );
          // The route as read deletes the route as added: DEL and CHECK see the same address.
          applyOps(lab.podNetns, [{ action: "del", route: back, reason: "test" }]);
          assert.deepEqual(readPod(lab.podNetns).routes.filter((r) => r.dst === route.dst), []);
        },
      ),
      { numRuns: 60 },
    );
    assert.deepEqual(await tableText(lab.pod), before);
  },
);

labTest(
  "IPv4-compatible IPv6 addroutes: ADD, CHECK and DEL agree with the kernel",
  V6,
  async (e2e) => {
    const { lab } = e2e;
    const before = await tableText(lab.pod);
    const config = e2e.config("odd6", "route-override", {
      cniVersion: "1.1.0",
      addroutes: [
        { dst: "::102:304/128" },
        { dst: "::5.6.7.0/120", gw: LAB.podGateway6 },
        { dst: "64:ff9b::/96", gw: "::a00:1", mtu: 1400 },
      ],
    }, true);
    (config.prevResult as { ips: unknown[] }).ips.push({ address: LAB.podAddress6, interface: 0 });
    const inv = e2e.invocation("odd6", config);
    // ::a00:1 (= ::10.0.0.1) must be reachable for the third route.
    await ipIn(lab.pod, "-6", "route", "add", "::a00:1/128", "dev", lab.podIfname);
    const withLink = await tableText(lab.pod);
    const add = await e2e.run("ADD", inv);
    ok(add, "ADD");
    assert.deepEqual(add.json.routes, [
      { dst: "0.0.0.0/0", gw: LAB.podGateway },
      { dst: "::102:304/128" },
      { dst: "::506:700/120", gw: LAB.podGateway6 },
      { dst: "64:ff9b::/96", gw: "::a00:1", mtu: 1400 },
    ]);
    ok(await e2e.run("CHECK", inv), "CHECK");
    ok(await e2e.run("DEL", inv), "DEL");
    assert.deepEqual(await tableText(lab.pod), withLink);
    assert.notDeepEqual(withLink, before);
  },
);
