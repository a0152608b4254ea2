/**
 * Issue 17, classes 7 and 8: what ADD reports, what CHECK compares and what DEL restores match
 * the kernel — addresses in the odd IPv6 ranges, attributes of an existing route, an unspecified
 * gateway, a replaced default route, and routes with tos, TCP metrics or an IPv6 next hop.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { ipIn, LAB, prevResultFor, tableText } from "../../testing/mod.ts";
import { labTest } from "../support/lab_test.ts";
import { cidrText, networkOf, parseCidr, parseIp } from "../../src/address.ts";
import { applyOps, readPod } from "../../src/ip.ts";
import { describeRoute, type Route } from "../../src/route.ts";

const V6 = { podAddress6: LAB.podAddress6, podGateway6: LAB.podGateway6 } as const;

function ok(r: { code: number; stdout: string; stderr: string }, what: string): void {
  assert.equal(r.code, 0, `${what} failed: ${r.stdout} ${r.stderr}`);
}

/** The `ip -j -d` routes of a namespace, as JSON lines, for "restored identically" comparisons. */
async function detailed(ns: string): Promise<string[]> {
  const out: string[] = [];
  for (const fam of ["-4", "-6"]) {
    const list = JSON.parse(await ipIn(ns, "-j", "-d", fam, "route", "show", "table", "all"));
    for (const r of list as Record<string, unknown>[]) {
      if (r.table !== "local") out.push(JSON.stringify(r));
    }
  }
  return out.sort();
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

// ---------------------------------------------------------------------------------------------
// Class 8: deleted routes with tos, TCP metrics or an IPv6 next hop come back exactly

/** Routes the plugin once refused to delete, as the `ip route add` arguments that make them. */
const EXACT_ROUTES: { what: string; add: string[]; dst: string }[] = [
  { what: "tos", add: ["10.50.0.0/16", "tos", "0x10", "via", "10.131.0.1"], dst: "10.50.0.0/16" },
  {
    what: "tos beside a tos-0 route of the same metric",
    add: ["10.51.0.0/16", "tos", "0x08", "via", "10.131.1.200", "metric", "7"],
    dst: "10.51.0.0/16",
  },
  {
    what: "fastopen_no_cookie",
    add: ["10.52.0.0/16", "via", "10.131.0.1", "fastopen_no_cookie", "1"],
    dst: "10.52.0.0/16",
  },
  {
    what: "ssthresh, cwnd, reordering, rto_min and features ecn",
    add: [
      "10.53.0.0/16",
      "via",
      "10.131.0.1",
      "ssthresh",
      "5",
      "cwnd",
      "7",
      "reordering",
      "4",
      "rto_min",
      "300ms",
      "features",
      "ecn",
    ],
    dst: "10.53.0.0/16",
  },
  {
    what: "an IPv6 next hop (RFC 5549)",
    add: ["10.54.0.0/16", "via", "inet6", "fe80::1", "dev", "eth0"],
    dst: "10.54.0.0/16",
  },
  {
    what: "a multipath route with an IPv6 next hop",
    add: [
      "10.55.0.0/16",
      "nexthop",
      "via",
      "inet6",
      "fe80::1",
      "dev",
      "eth0",
      "nexthop",
      "via",
      "10.131.0.1",
      "dev",
      "eth0",
    ],
    dst: "10.55.0.0/16",
  },
  {
    what: "a multipath route with a per-hop onlink",
    add: [
      "10.56.0.0/16",
      "nexthop",
      "via",
      "10.200.0.1",
      "dev",
      "eth0",
      "onlink",
      "nexthop",
      "via",
      "10.131.0.1",
      "dev",
      "eth0",
    ],
    dst: "10.56.0.0/16",
  },
];

for (const how of ["delroutes", "flushroutes"] as const) {
  labTest(
    `${how}: routes with tos, TCP metrics, via inet6 are restored exactly by DEL`,
    V6,
    async (e2e) => {
      const { lab } = e2e;
      await ipIn(lab.pod, "route", "add", "10.51.0.0/16", "via", "10.131.0.1", "metric", "7");
      for (const r of EXACT_ROUTES) await ipIn(lab.pod, "route", "add", ...r.add);
      const before = await detailed(lab.pod);
      // strict: route-override v1 deletes no delroute prevResult does not list (compat.test.ts).
      const fields = how === "delroutes"
        ? { strict: true, delroutes: EXACT_ROUTES.map((r) => ({ dst: r.dst })) }
        : { flushroutes: true };
      const inv = e2e.invocation(`x8${how}`, e2e.config(`exact-${how}`, "route-override", fields));
      const add = await e2e.run("ADD", inv);
      ok(add, "ADD");
      const left = (await detailed(lab.pod)).filter((l) =>
        EXACT_ROUTES.some((r) => l.includes(`"dst":"${r.dst}"`))
      );
      assert.deepEqual(left, [], "every listed route deleted, the tos ones too");
      ok(await e2e.run("CHECK", inv), "CHECK");
      ok(await e2e.run("DEL", inv), "DEL");
      assert.deepEqual(await detailed(lab.pod), before);
    },
  );
}

// ---------------------------------------------------------------------------------------------
// Class 7: the result and CHECK match the kernel

/**
 * What a reference plugin's CHECK (ip.ValidateExpectedRoute in containernetworking/plugins) does
 * with a result: every route must be in the table, with its gw when it has one.
 */
async function resultInKernel(ns: string, routes: { dst: string; gw?: string }[]): Promise<void> {
  const all = JSON.parse(await ipIn(ns, "-j", "route", "show", "table", "all")).concat(
    JSON.parse(await ipIn(ns, "-j", "-6", "route", "show", "table", "all")),
  ) as { dst: string; gateway?: string }[];
  for (const r of routes) {
    const dst = r.dst === "0.0.0.0/0" || r.dst === "::/0"
      ? "default"
      : r.dst.replace(/\/(32|128)$/, "");
    const found = all.filter((k) => k.dst === dst && (r.gw === undefined || k.gateway === r.gw));
    assert.ok(found.length > 0, `result route ${JSON.stringify(r)} is not in the table`);
  }
}

for (const type of ["route-override", "seamless-static-route"]) {
  labTest(
    `${type}: an addroute asking for mtu, advmss or scope replaces the same route without`,
    async (e2e) => {
      const { lab } = e2e;
      await ipIn(lab.pod, "route", "add", "10.60.0.0/16", "via", "10.131.0.1");
      await ipIn(lab.pod, "route", "add", "10.61.0.0/16", "via", "10.131.0.1", "mtu", "1500");
      await ipIn(lab.pod, "route", "add", "10.62.0.0/16", "via", "10.131.0.1");
      const before = await detailed(lab.pod);
      // strict: without it route-override keeps the existing route, as v1 does ("File exists").
      const config = e2e.config(`attrs-${type}`, type, {
        cniVersion: "1.1.0",
        strict: true,
        hostRoute: false,
        addroutes: [
          { dst: "10.60.0.0/16", gw: "10.131.0.1", mtu: 1400, advmss: 1360 },
          { dst: "10.61.0.0/16", gw: "10.131.0.1", mtu: 1400 },
          { dst: "10.62.0.0/16", gw: "10.131.0.1", scope: 200 },
        ],
      });
      if (type === "route-override") delete config.hostRoute;
      const inv = e2e.invocation(`attrs${type.length}`, config);
      const add = await e2e.run("ADD", inv);
      ok(add, "ADD");
      assert.deepEqual((await tableText(lab.pod)).filter((l) => !l.startsWith("fe80::")), [
        "10.131.0.0/23 dev eth0 proto kernel scope link src 10.131.0.5",
        "10.60.0.0/16 via 10.131.0.1 dev eth0 mtu 1400 advmss 1360",
        "10.61.0.0/16 via 10.131.0.1 dev eth0 mtu 1400",
        "10.62.0.0/16 via 10.131.0.1 dev eth0 scope site",
        "default via 10.131.0.1 dev eth0",
      ]);
      ok(await e2e.run("CHECK", inv), "CHECK");
      // CHECK compares what the config asked for.
      await ipIn(lab.pod, "route", "replace", "10.61.0.0/16", "via", "10.131.0.1");
      const check = await e2e.run("CHECK", inv);
      assert.equal(check.json?.code, 101, check.stdout);
      assert.match(check.json.msg, /10\.61\.0\.0\/16.*mtu none \(want 1400\)/);
      ok(await e2e.run("DEL", inv), "DEL");
      assert.deepEqual(await detailed(lab.pod), before);
    },
  );
}

labTest("gw 0.0.0.0 and :: are no gateway: ADD, result, CHECK and DEL agree", V6, async (e2e) => {
  const { lab } = e2e;
  // route-override v1 (side by side, this machine): `gw: "0.0.0.0"` → exit 0, the kernel route
  // `10.70.0.0/16 dev eth0 scope global`, the result echoing gw "0.0.0.0" (which a reference
  // CHECK then fails on); `gw: "::"` → the kernel refuses (EINVAL), v1 exits 0 without the route.
  // Here, with strict: true, both are the on-link route, scope global, listed without gw; without
  // it `gw: "::"` is skipped as v1 skips it (tests/e2e/compat.test.ts).
  await ipIn(lab.pod, "route", "add", "10.72.0.0/16", "dev", "eth0", "scope", "global");
  await ipIn(lab.pod, "route", "add", "10.72.0.0/16", "via", "10.131.0.1", "metric", "5");
  const before = await detailed(lab.pod);
  const prevResult = prevResultFor(lab, { v6: true });
  for (const type of ["route-override", "seamless-static-route"]) {
    const config = e2e.config(`unspec-${type}`, type, {
      prevResult,
      strict: true,
      ...(type === "seamless-static-route" ? { hostRoute: false } : {}),
      addroutes: [{ dst: "10.70.0.0/16", gw: "0.0.0.0" }],
      delroutes: [{ dst: "10.72.0.0/16", gw: "0.0.0.0" }],
      args: { cni: { addroutes: [{ dst: "fd00:71::/64", gw: "::" }] } },
    });
    // args.cni replaces addroutes: the NAD's route comes back through a second attachment.
    const inv = e2e.invocation(`u${type.length}`, config);
    const add = await e2e.run("ADD", inv);
    ok(add, `${type} ADD`);
    assert.deepEqual(
      add.json.routes.filter((r: { dst: string }) =>
        r.dst !== "0.0.0.0/0" && !r.dst.startsWith("::")
      ),
      [{ dst: "fd00:71::/64" }],
    );
    await resultInKernel(lab.pod, add.json.routes);
    const text = await tableText(lab.pod);
    assert.ok(text.includes("fd00:71::/64 dev eth0 metric 1024 pref medium"), text.join("\n"));
    assert.ok(!text.some((l) => l.startsWith("10.72.0.0/16 dev eth0")), "on-link route deleted");
    assert.ok(text.includes("10.72.0.0/16 via 10.131.0.1 dev eth0 metric 5"), "via route kept");
    ok(await e2e.run("CHECK", inv), `${type} CHECK`);
    ok(await e2e.run("DEL", inv), `${type} DEL`);
    assert.deepEqual(await detailed(lab.pod), before, type);

    const { args: _args, ...nad } = config;
    const inv4 = e2e.invocation(`v${type.length}`, nad);
    const add4 = await e2e.run("ADD", inv4);
    ok(add4, `${type} ADD 0.0.0.0`);
    assert.deepEqual(add4.json.routes.filter((r: { dst: string }) => r.dst === "10.70.0.0/16"), [{
      dst: "10.70.0.0/16",
    }]);
    // `ip route` leaves scope global unsaid: this is the on-link route of scope global.
    assert.ok((await tableText(lab.pod)).includes("10.70.0.0/16 dev eth0"));
    await resultInKernel(lab.pod, add4.json.routes);
    ok(await e2e.run("CHECK", inv4), `${type} CHECK 0.0.0.0`);
    ok(await e2e.run("DEL", inv4), `${type} DEL 0.0.0.0`);
    assert.deepEqual(await detailed(lab.pod), before, `${type} after DEL`);
  }
  // As a next hop of a multipath route it is refused, naming the key and the value.
  for (
    const route of [
      { dst: "10.73.0.0/16", gws: ["10.131.0.1", "0.0.0.0"] },
      { dst: "10.73.0.0/16", gws: ["10.131.0.1", "10.131.1.200"], gw: "0.0.0.0" },
    ]
  ) {
    const config = e2e.config("unspec-gws", "route-override", {
      args: { cni: { addroutes: [route] } },
    });
    const add = await e2e.run("ADD", e2e.invocation("ugws", config));
    assert.equal(add.json?.code, 7, add.stdout);
    assert.match(
      add.json.msg,
      /args\.cni\.addroutes\[0\]\.(gws\[1\]|gw) "0\.0\.0\.0".*unspecified/,
    );
  }
  assert.deepEqual(await detailed(lab.pod), before);
});

labTest(
  "an addroute that replaces the default route: the result lists only the new one",
  async (e2e) => {
    const { lab } = e2e;
    const before = await detailed(lab.pod);
    for (const type of ["route-override", "seamless-static-route"]) {
      // strict: without it route-override keeps the existing default, as v1 does.
      const config = e2e.config(`newdefault-${type}`, type, {
        strict: true,
        addroutes: [{ dst: "0.0.0.0/0", gw: "10.131.1.200" }],
      });
      const inv = e2e.invocation(`nd${type.length}`, config);
      const add = await e2e.run("ADD", inv);
      ok(add, `${type} ADD`);
      const defaults = add.json.routes.filter((r: { dst: string }) => r.dst === "0.0.0.0/0");
      assert.deepEqual(defaults, [{ dst: "0.0.0.0/0", gw: "10.131.1.200" }]);
      await resultInKernel(lab.pod, add.json.routes);
      ok(await e2e.run("CHECK", inv), `${type} CHECK`);
      ok(await e2e.run("DEL", inv), `${type} DEL`);
      assert.deepEqual(await detailed(lab.pod), before);
    }
  },
);
