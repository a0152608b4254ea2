import assert from "node:assert/strict";
import { kernelRoute } from "../support/fixtures.ts";
import fc from "fast-check";
import { parseCidr } from "../../src/address.ts";
import { CniError } from "../../src/cni/errors.ts";
import { resultToJson } from "../../src/cni/result.ts";
import { nextHops, parseConfig } from "../../src/config.ts";
import { planAdd, planCheck, planRevert } from "../../src/plan.ts";
import {
  MAX_NEXTHOPS,
  type Route,
  routeFromJson,
  routeFromRecord,
  type RouteOp,
  routeOpArgs,
  sameRoute,
} from "../../src/route.ts";
import { parseSnapshot, type PodSnapshot } from "../../src/snapshot.ts";

const SANDBOX = "/var/run/netns/pod";
const prevResult = {
  cniVersion: "1.1.0",
  interfaces: [{ name: "eth0", sandbox: SANDBOX }],
  ips: [{ address: "10.131.0.5/23", gateway: "10.131.0.1", interface: 0 }],
  routes: [{ dst: "0.0.0.0/0", gw: "10.131.0.1" }],
};
const host = { v4: { address: "192.168.100.10", family: 4 as const } };

/**
 * A route-override config, strict: these tests pin the planner's own decisions (replace a route of
 * the attachment, refuse one outside it), not route-override v1's skips (tests/unit/plan.test.ts).
 */
function configOf(extra: Record<string, unknown> = {}) {
  return parseConfig({
    cniVersion: "1.1.0",
    name: "n",
    type: "route-override",
    strict: true,
    prevResult,
    ...extra,
  });
}

function refused(extra: Record<string, unknown>, ...parts: string[]): void {
  assert.throws(() => configOf(extra), (e: unknown) => {
    assert.ok(e instanceof CniError && e.code === 7, String(e));
    for (const p of parts) assert.ok(e.message.includes(p), `${e.message} should name ${p}`);
    return true;
  });
}

const route = kernelRoute;

function snap(routes: Route[], devs = ["eth0"]): PodSnapshot {
  const addresses = new Map(devs.map((d) => [d, [parseCidr("10.131.0.5/23")!]]));
  return { routes, addresses };
}

const multi = (gws: string[], extra: Partial<Route> = {}) =>
  route("0.0.0.0/0", {
    dev: undefined,
    nexthops: gws.map((gateway) => ({ gateway, dev: "eth0", weight: 1 })),
    ...extra,
  });

function lines(ops: RouteOp[]): string[] {
  return ops.map((op) => routeOpArgs(op).join(" "));
}

Deno.test("gws: parsed, gw appended without duplicates", () => {
  const c = configOf({
    addroutes: [
      { dst: "10.50.0.0/16", gws: ["10.131.0.2", "10.131.0.3"], gw: "10.131.0.4" },
      { dst: "10.51.0.0/16", gws: ["10.131.0.2", "10.131.0.3"], gw: "10.131.0.3" },
    ],
  });
  assert.deepEqual(nextHops(c.addroutes[0]!).map((h) => h.address), [
    "10.131.0.2",
    "10.131.0.3",
    "10.131.0.4",
  ]);
  assert.deepEqual(nextHops(c.addroutes[1]!).map((h) => h.address), ["10.131.0.2", "10.131.0.3"]);
});

Deno.test("gws: invalid input is code 7 naming key and value", () => {
  const one = (gws: unknown, ...parts: string[]) =>
    refused({ addroutes: [{ dst: "10.50.0.0/16", gws }] }, ...parts);
  one(["10.0.0.1"], "addroutes[0].gws", "10.0.0.1");
  one("10.0.0.1", "addroutes[0].gws", "list");
  one(["10.0.0.1", "fd00::1"], "addroutes[0].gws[1]", "fd00::1", "family");
  one(["10.0.0.1", "10.0.0.1"], "addroutes[0].gws[1]", "twice");
  one(["10.0.0.1", "nope"], "addroutes[0].gws[1]", "nope");
  one(Array.from({ length: MAX_NEXTHOPS + 1 }, (_, i) => `10.0.1.${i + 1}`), "gws", "32");
  refused(
    {
      addroutes: [{
        dst: "10.50.0.0/16",
        gws: Array.from({ length: MAX_NEXTHOPS }, (_, i) => `10.0.1.${i + 1}`),
        gw: "10.0.2.1",
      }],
    },
    "gws",
    "32",
  );
  refused({ args: { cni: { delroutes: [{ dst: "10.50.0.0/16", gws: ["x", "y"] }] } } }, "args.cni");
  refused(
    { addroutes: [{ dst: "10.50.0.0/16", gw: "10.0.0.1" }, { dst: "10.50.0.0/16" }] },
    "duplicates",
    "gws",
  );
  refused({ addroutes: [{ dst: "10.50.0.0/16", table: 255 }] }, "table", "255", "1 to 4294967295");
  // The message's hint names only tables that are accepted: 253, 254 and 256 and up are.
  for (const table of [1, 252, 253, 254, 256, 4294967295]) {
    assert.equal(
      configOf({ addroutes: [{ dst: "10.50.0.0/16", table }] }).addroutes[0]?.table,
      table,
    );
  }
  refused({ delroutes: [{ dst: "10.50.0.0/16", table: 255 }] }, "table", "255");
});

Deno.test("gws: IPv6 priority 0 and 1024 are the same route (duplicates)", () => {
  refused({ addroutes: [{ dst: "fd00::/64", priority: 0 }, { dst: "fd00::/64" }] }, "duplicates");
});

Deno.test("gws: one multipath line, route options before the nexthops", () => {
  const c = configOf({
    addroutes: [{
      dst: "10.50.0.0/16",
      gws: ["10.131.0.2", "10.131.0.3"],
      table: 100,
      priority: 7,
      mtu: 1400,
      advmss: 1300,
      scope: 0,
    }],
  });
  const plan = planAdd({ config: c, ifname: "eth0", snapshot: snap([]), host });
  assert.deepEqual(lines(plan.ops), [
    "route add 10.50.0.0/16 table 100 metric 7 mtu 1400 advmss 1300 " +
    "nexthop via 10.131.0.2 dev eth0 weight 1 nexthop via 10.131.0.3 dev eth0 weight 1",
  ]);
  assert.deepEqual(plan.result.routes?.at(-1), {
    dst: "10.50.0.0/16",
    gws: ["10.131.0.2", "10.131.0.3"],
    mtu: 1400,
    advmss: 1300,
    priority: 7,
    table: 100,
    scope: 0,
  });
  // Deleting it, by key: table and metric also before the nexthops.
  assert.deepEqual(lines(planRevert(plan.added, [], snap(plan.added), "DEL")), [
    "route del 10.50.0.0/16 table 100 metric 7 " +
    "nexthop via 10.131.0.2 dev eth0 weight 1 nexthop via 10.131.0.3 dev eth0 weight 1",
  ]);
});

Deno.test("gws: result carries gws in every version", () => {
  const routes = [{ dst: "10.50.0.0/16", gws: ["10.131.0.2", "10.131.0.3"] }];
  for (const v of ["0.3.1", "0.4.0", "1.0.0", "1.1.0"]) {
    assert.deepEqual((resultToJson({ routes }, v) as { routes: unknown }).routes, routes, v);
  }
  const old = resultToJson({ routes }, "0.2.0") as { ip4: { routes: unknown } };
  assert.deepEqual(old.ip4.routes, routes);
});

Deno.test("gws: the same next-hop set in any order is present; another set is replaced", () => {
  const c = configOf({ addroutes: [{ dst: "0.0.0.0/0", gws: ["10.131.0.3", "10.131.0.2"] }] });
  const same = multi(["10.131.0.2", "10.131.0.3"]);
  assert.deepEqual(planAdd({ config: c, ifname: "eth0", snapshot: snap([same]), host }).ops, []);
  assert.deepEqual(planCheck({ config: c, ifname: "eth0", snapshot: snap([same]), host }), []);
  const other = multi(["10.131.0.2", "10.131.0.4"]);
  const plan = planAdd({ config: c, ifname: "eth0", snapshot: snap([other]), host });
  assert.deepEqual(plan.ops.map((o) => o.action), ["del", "add"]);
  const problems = planCheck({ config: c, ifname: "eth0", snapshot: snap([other]), host });
  assert.equal(problems.length, 1);
  assert.match(problems[0]!.problem, /has next hops \[10\.131\.0\.2, 10\.131\.0\.4\]/);
  assert.match(problems[0]!.problem, /want next hops \[10\.131\.0\.2, 10\.131\.0\.3\]/);
  // A single-path route with one of the hops is not the multipath route.
  const single = route("0.0.0.0/0", { gateway: "10.131.0.2" });
  assert.equal(sameRoute(plan.added[0]!, single), false);
});

Deno.test("delroutes: by next-hop set (order-insensitive); without gw/gws, any route", () => {
  const m = multi(["10.131.0.2", "10.131.0.3"], { dst: "10.50.0.0/16" });
  const single = route("10.50.0.0/16", { gateway: "10.131.0.2", metric: 5 });
  const del = (req: Record<string, unknown>) =>
    planAdd({
      config: configOf({ delroutes: [{ dst: "10.50.0.0/16", ...req }] }),
      ifname: "eth0",
      snapshot: snap([m, single]),
      host,
    }).deleted;
  assert.deepEqual(del({ gws: ["10.131.0.3", "10.131.0.2"] }), [m]);
  assert.deepEqual(del({ gws: ["10.131.0.3", "10.131.0.4"] }), []);
  assert.deepEqual(del({ gw: "10.131.0.2" }), [single]);
  assert.deepEqual(del({}), [m, single]);
});

Deno.test("flushgateway deletes a multipath default; DEL restores it with its weights", () => {
  const m = multi(["10.131.0.2", "10.131.0.3"]);
  m.nexthops![0]!.weight = 3;
  const c = configOf({ flushgateway: true });
  const plan = planAdd({ config: c, ifname: "eth0", snapshot: snap([m]), host });
  assert.deepEqual(lines(plan.ops), [
    "route del 0.0.0.0/0 metric 0 nexthop via 10.131.0.2 dev eth0 weight 3 " +
    "nexthop via 10.131.0.3 dev eth0 weight 1",
  ]);
  assert.deepEqual(lines(planRevert([], plan.deleted, snap([]), "DEL")), [
    "route add 0.0.0.0/0 nexthop via 10.131.0.2 dev eth0 weight 3 " +
    "nexthop via 10.131.0.3 dev eth0 weight 1",
  ]);
});

Deno.test("snapshot: -N numbers read by value (tables, types, protocols, scopes)", () => {
  const v4 = [
    {
      type: "1",
      dst: "10.8.0.0/16",
      gateway: "10.0.0.1",
      dev: "a0",
      table: "100",
      protocol: "3",
      scope: "0",
      flags: [],
      flow: { to: "3" },
      metrics: [{ initcwnd: 10, rtt: 100, congestion: "cubic", quickack: 1 }],
    },
    { type: "2", dst: "10.0.0.2", dev: "a0", table: "255", protocol: "2", scope: "254" },
    { type: "1", dst: "10.0.0.0/24", dev: "a0", table: "254", protocol: "2", scope: "253" },
    { type: "7", dst: "10.9.0.0/16", table: "254", protocol: "4", scope: "0", via: {} },
    {
      type: "1",
      dst: "10.7.0.0/16",
      via: { family: "inet6", host: "fe80::1" },
      dev: "a0",
      table: "254",
      protocol: "3",
      scope: "0",
    },
  ];
  const v6 = [{
    type: "1",
    dst: "fd0d::/64",
    gateway: "fd0a::1",
    dev: "a0",
    table: "254",
    protocol: "3",
    scope: "0",
    metric: 1024,
    pref: "high",
  }];
  const s = parseSnapshot(
    `${JSON.stringify(v4)}\n${JSON.stringify(v6)}\n` +
      JSON.stringify([{
        ifname: "a0",
        addr_info: [{ local: "10.0.0.2", prefixlen: 24, scope: "0" }],
      }]),
  );
  assert.equal(s.routes.length, 5); // table 255 left out
  const [attr, link, unreach, inet6, v6r] = s.routes as [Route, Route, Route, Route, Route];
  assert.deepEqual(
    [attr.table, attr.type, attr.protocol, attr.scope, attr.realm, attr.initcwnd, attr.rtt],
    ["100", "unicast", "boot", "global", 3, 10, 100],
  );
  assert.deepEqual([attr.congctl, attr.quickack, attr.unrestorable], ["cubic", 1, undefined]);
  assert.deepEqual([link.table, link.protocol, link.scope], ["main", "kernel", "link"]);
  assert.deepEqual([unreach.type, unreach.protocol], ["unreachable", "static"]);
  assert.equal(inet6.gateway, "fe80::1");
  assert.equal(v6r.pref, "high");
  assert.equal(s.addresses.get("a0")?.length, 1);
  assert.equal(
    routeOpArgs({ action: "add", route: attr, reason: "t" }).join(" "),
    "route add 10.8.0.0/16 via 10.0.0.1 dev a0 table 100 initcwnd 10 rtt 100ms quickack 1 " +
      "realm 3 congctl cubic",
  );
  assert.equal(
    routeOpArgs({ action: "add", route: inet6, reason: "t" }).join(" "),
    "route add 10.7.0.0/16 via inet6 fe80::1 dev a0",
  );
  assert.equal(
    routeOpArgs({ action: "add", route: v6r, reason: "t" }).join(" "),
    "route add fd0d::/64 via fd0a::1 dev a0 pref high",
  );
});

Deno.test("routeFromJson: what cannot be restored is named; the planner refuses to delete it", () => {
  const r = routeFromJson({
    dst: "10.11.0.0/16",
    gateway: "10.131.0.2",
    dev: "eth0",
    metrics: [{ ssthresh: 10 }],
    encap: { type: "mpls" },
  }, 4);
  assert.equal(r?.ssthresh, 10);
  assert.equal(r?.unrestorable, "encap");
  assert.throws(
    () =>
      planAdd({
        config: configOf({ delroutes: [{ dst: "10.11.0.0/16" }] }),
        ifname: "eth0",
        snapshot: snap([r!]),
        host,
      }),
    (e: unknown) => e instanceof CniError && e.code === 7 && /encap/.test(e.message),
  );
});

Deno.test("routeFromRecord: new attributes validated; unrestorable never read back", () => {
  const base = route("10.8.0.0/16", { gateway: "10.131.0.2" });
  assert.deepEqual(routeFromRecord({ ...base, initcwnd: 10, pref: undefined }), {
    ...base,
    initcwnd: 10,
    pref: undefined,
  });
  const bad: Record<string, unknown>[] = [
    { initcwnd: "10\nroute flush all" },
    { initcwnd: -1 },
    { quickack: 2 },
    { realm: 256 },
    { rtt: 1.5 },
    { congctl: "cubic flush" },
    { pref: "high" }, // IPv4 route
    { unrestorable: "x" },
    { tos: 256 },
    { tos: "0x10 flush" },
    { fastopenNoCookie: 2 },
    { rtoMin: -1 },
    { ecn: false },
    { gateway: "fe80::1 dev x" },
  ];
  for (const patch of bad) {
    assert.throws(() => routeFromRecord({ ...base, ...patch }), JSON.stringify(patch));
  }
  assert.equal(
    routeOpArgs({
      action: "add",
      route: routeFromRecord({ ...route("fd08::/64", { gateway: "fd00::2" }), pref: "low" }),
      reason: "t",
    }).join(" "),
    "route add fd08::/64 via fd00::2 dev eth0 pref low",
  );
});

Deno.test("scope: args.cni flush/del stay on CNI_IFNAME; clashes outside are code 7 (strict)", () => {
  const prev = {
    cniVersion: "1.1.0",
    interfaces: [{ name: "net1", sandbox: SANDBOX }, { name: "eth0", sandbox: SANDBOX }],
    ips: [{ address: "10.140.0.5/24", gateway: "10.140.0.1", interface: 0 }],
  };
  const eth0Default = route("0.0.0.0/0", { gateway: "10.131.0.1" });
  const eth0Route = route("10.70.0.0/16", { gateway: "10.131.0.2" });
  const s = snap([eth0Default, eth0Route], ["eth0", "net1"]);
  const cfg = (extra: Record<string, unknown>) =>
    parseConfig({
      cniVersion: "1.1.0",
      name: "n",
      type: "route-override",
      strict: true,
      prevResult: prev,
      ...extra,
    });
  const pod = {
    args: { cni: { flushroutes: true, flushgateway: true, delroutes: [{ dst: "10.70.0.0/16" }] } },
  };
  assert.deepEqual(planAdd({ config: cfg(pod), ifname: "net1", snapshot: s, host }).ops, []);
  // The same keys in the NAD reach every interface of the attachment's prevResult.
  const nad = { flushroutes: true, delroutes: [{ dst: "10.70.0.0/16" }] };
  assert.equal(planAdd({ config: cfg(nad), ifname: "net1", snapshot: s, host }).ops.length, 2);
  // An addroute replacing a route outside the scope: code 7 naming both routes.
  const own = parseConfig({
    cniVersion: "1.1.0",
    name: "n",
    type: "route-override",
    strict: true,
    prevResult: { ...prev, interfaces: [{ name: "net1", sandbox: SANDBOX }] },
    addroutes: [{ dst: "0.0.0.0/0", gw: "10.140.0.1" }],
  });
  assert.throws(
    () => planAdd({ config: own, ifname: "net1", snapshot: s, host }),
    (e: unknown) =>
      e instanceof CniError && e.code === 7 &&
      e.message.includes("0.0.0.0/0 via 10.131.0.1 dev eth0") &&
      e.message.includes("0.0.0.0/0 via 10.140.0.1 dev net1"),
  );
  // The same addroute from args.cni, with eth0 among prevResult's interfaces: still refused
  // (the NAD could replace it; the pod author may not).
  const fromPod = cfg({ args: { cni: { addroutes: [{ dst: "0.0.0.0/0", gw: "10.140.0.1" }] } } });
  assert.throws(
    () => planAdd({ config: fromPod, ifname: "net1", snapshot: s, host }),
    (e: unknown) => e instanceof CniError && e.code === 7 && /args\.cni\.addroutes/.test(e.message),
  );
  const fromNad = cfg({ addroutes: [{ dst: "0.0.0.0/0", gw: "10.140.0.1" }] });
  assert.deepEqual(
    lines(planAdd({ config: fromNad, ifname: "net1", snapshot: s, host }).ops),
    [
      "route del 0.0.0.0/0 via 10.131.0.1 dev eth0 metric 0",
      "route add 0.0.0.0/0 via 10.140.0.1 dev net1",
    ],
  );
  // hostRoute.interface through args.cni: only CNI_IFNAME.
  const hr = parseConfig({
    cniVersion: "1.1.0",
    name: "n",
    type: "seamless-static-route",
    prevResult: prev,
    args: { cni: { hostRoute: { interface: "eth0" } } },
  });
  assert.throws(
    () => planAdd({ config: hr, ifname: "net1", snapshot: s, host }),
    (e: unknown) => e instanceof CniError && e.code === 7 && /args\.cni\.hostRoute/.test(e.message),
  );
});

Deno.test("property: any order of a next-hop set plans nothing against that set", () => {
  const ip = fc.integer({ min: 2, max: 250 }).map((n) => `10.131.0.${n}`);
  fc.assert(
    fc.property(fc.uniqueArray(ip, { minLength: 2, maxLength: MAX_NEXTHOPS }), (gws) => {
      const config = configOf({ addroutes: [{ dst: "0.0.0.0/0", gws }] });
      const kernel = multi([...gws].reverse());
      const plan = planAdd({ config, ifname: "eth0", snapshot: snap([kernel]), host });
      assert.deepEqual(plan.ops, []);
      const check = planCheck({ config, ifname: "eth0", snapshot: snap([kernel]), host });
      assert.deepEqual(check, []);
      const fewer = multi(gws.slice(1));
      const problems = planCheck({ config, ifname: "eth0", snapshot: snap([fewer]), host });
      assert.equal(problems.length, 1);
    }),
    { numRuns: 100 },
  );
});

Deno.test("property: a state-file route with any attribute values never smuggles a word into ip", () => {
  const value = fc.oneof(
    fc.integer({ min: -5, max: 5_000_000_000 }),
    fc.double(),
    fc.string(),
    fc.constantFrom("cubic", "high", "low", "1\nroute flush all", "fe80::1", "10.0.0.1 dev x"),
    fc.boolean(),
  );
  const key = fc.constantFrom(
    "initcwnd",
    "initrwnd",
    "rtt",
    "rttvar",
    "hoplimit",
    "window",
    "quickack",
    "congctl",
    "realm",
    "pref",
    "gateway",
  );
  const safe = /^[A-Za-z0-9_.:\/@+\-]+$/;
  fc.assert(
    fc.property(fc.dictionary(key, value), fc.constantFrom(4, 6), (attrs, family) => {
      const base = family === 4
        ? route("10.8.0.0/16", { gateway: "10.131.0.2" })
        : route("fd08::/64", { gateway: "fd00::2" });
      let r: Route;
      try {
        r = routeFromRecord(JSON.parse(JSON.stringify({ ...base, ...attrs })));
      } catch {
        return; // refused: fine
      }
      for (const action of ["add", "del"] as const) {
        for (const word of routeOpArgs({ action, route: r, reason: "t" })) {
          assert.match(word, safe);
        }
      }
    }),
    { numRuns: 500 },
  );
});
