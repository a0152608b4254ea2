import assert from "node:assert/strict";
import { kernelRoute } from "../support/fixtures.ts";
import { parseCidr } from "../../src/address.ts";
import { CniError } from "../../src/cni/errors.ts";
import { parseConfig } from "../../src/config.ts";
import type { PodSnapshot } from "../../src/snapshot.ts";
import { GUARD_REASON, planAdd, planCheck, planRevert, revertOps } from "../../src/plan.ts";
import { type Route, routeOpArgs } from "../../src/route.ts";

const SANDBOX = "/var/run/netns/pod";
const prevResult = {
  cniVersion: "1.0.0",
  interfaces: [{ name: "eth0", sandbox: SANDBOX }],
  ips: [{ address: "10.131.0.5/23", gateway: "10.131.0.1", interface: 0 }],
  routes: [{ dst: "0.0.0.0/0", gw: "10.131.0.1" }, { dst: "10.0.0.0/8", gw: "10.131.0.1" }],
};

const route = kernelRoute;

const connected = route("10.131.0.0/23", {
  protocol: "kernel",
  scope: "link",
  prefsrc: "10.131.0.5",
});
const dflt = route("0.0.0.0/0", { gateway: "10.131.0.1" });
const ten = route("10.0.0.0/8", { gateway: "10.131.0.1", protocol: "static" });
const ll = route("169.254.0.0/16", { gateway: "10.131.0.1" });
const v6ll = route("fe80::/64", { protocol: "kernel", metric: 256 });

function snapshot(routes: Route[] = [connected, dflt, ten, ll, v6ll]): PodSnapshot {
  return { routes, addresses: new Map([["eth0", [parseCidr("10.131.0.5/23")!]], ["lo", []]]) };
}

const host = { v4: { address: "192.168.100.10", family: 4 as const } };

/** A parsed config of `type` with the shared prevResult; `extra` adds or replaces keys. */
function configOf(type: string, extra: Record<string, unknown> = {}) {
  return parseConfig({ cniVersion: "1.0.0", name: "n", type, prevResult, ...extra });
}

function lines(ops: ReturnType<typeof planAdd>["ops"]): string[] {
  return ops.map((op) => routeOpArgs(op).join(" "));
}

Deno.test("plan: seamless default adds only the host route via minaddr", () => {
  const config = configOf("seamless-static-route");
  const plan = planAdd({ config, ifname: "eth0", snapshot: snapshot(), host });
  assert.deepEqual(lines(plan.ops), ["route add 192.168.100.10/32 via 10.131.0.1 dev eth0"]);
  assert.deepEqual(plan.deleted, []);
  assert.deepEqual(plan.result.routes, [...prevResult.routes, {
    dst: "192.168.100.10/32",
    gw: "10.131.0.1",
  }]);
  assert.deepEqual(plan.result.ips, prevResult.ips);
  assert.deepEqual(plan.result.interfaces, prevResult.interfaces);
});

Deno.test("plan: an identical host route already present is left alone (and not owned)", () => {
  const config = configOf("seamless-static-route");
  const existing = route("192.168.100.10/32", { gateway: "10.131.0.1" });
  const plan = planAdd({ config, ifname: "eth0", snapshot: snapshot([connected, existing]), host });
  assert.deepEqual(plan.ops, []);
  assert.deepEqual(plan.added, []);
});

Deno.test("plan: a different route to the host address is replaced and remembered", () => {
  const config = configOf("seamless-static-route");
  const other = route("192.168.100.10/32", { gateway: "10.131.0.99" });
  const plan = planAdd({ config, ifname: "eth0", snapshot: snapshot([connected, other]), host });
  assert.deepEqual(lines(plan.ops), [
    "route del 192.168.100.10/32 via 10.131.0.99 dev eth0 metric 0",
    "route add 192.168.100.10/32 via 10.131.0.1 dev eth0",
  ]);
  assert.deepEqual(plan.deleted, [other]);
});

Deno.test("plan: route-override order — flush routes, flush gateway, delete, add", () => {
  const config = configOf("route-override", {
    flushroutes: true,
    flushgateway: true,
    delroutes: [{ dst: "10.0.0.0/8" }],
    addroutes: [{ dst: "192.168.0.0/16", gw: "10.131.0.254" }, { dst: "172.16.0.0/12" }],
  });
  const plan = planAdd({ config, ifname: "eth0", snapshot: snapshot(), host: {} });
  assert.deepEqual(lines(plan.ops), [
    "route del 0.0.0.0/0 via 10.131.0.1 dev eth0 metric 0",
    "route del 10.0.0.0/8 via 10.131.0.1 dev eth0 metric 0 proto static",
    "route add 192.168.0.0/16 via 10.131.0.254 dev eth0",
    // route-override: an addroute without gw is on-link on the pod interface, scope global.
    "route add 172.16.0.0/12 dev eth0 scope global",
  ]);
  // Kernel, link-scope and link-local routes survive flushroutes.
  assert.deepEqual(plan.deleted, [dflt, ten]);
  assert.deepEqual(plan.result.routes, [
    { dst: "192.168.0.0/16", gw: "10.131.0.254" },
    { dst: "172.16.0.0/12" },
  ]);
  assert.deepEqual(plan.result.ips, [{ address: "10.131.0.5/23", interface: 0 }]);
});

Deno.test("plan: flushgateway removes default routes and gateways only", () => {
  const config = configOf("route-override", { flushgateway: true });
  const plan = planAdd({ config, ifname: "eth0", snapshot: snapshot(), host: {} });
  assert.deepEqual(lines(plan.ops), ["route del 0.0.0.0/0 via 10.131.0.1 dev eth0 metric 0"]);
  assert.deepEqual(plan.result.routes, [{ dst: "10.0.0.0/8", gw: "10.131.0.1" }]);
  // The gateway key goes; route-override v1 prints "gateway": "0.0.0.0" instead (observed with
  // its binary; docs/configuration.md says so).
  assert.deepEqual(plan.result.ips, [{ address: "10.131.0.5/23", interface: 0 }]);
});

Deno.test("plan: delroutes matching is by dst; a missing one is not an error", () => {
  const config = configOf("route-override", {
    delroutes: [{ dst: "10.0.0.0/8" }, { dst: "203.0.113.0/24" }],
  });
  const plan = planAdd({ config, ifname: "eth0", snapshot: snapshot(), host: {} });
  assert.deepEqual(plan.deleted, [ten]);
  assert.deepEqual(plan.result.routes, [{ dst: "0.0.0.0/0", gw: "10.131.0.1" }]);
});

Deno.test("plan: addroutes carry 1.1 attributes to ip and to the result", () => {
  const config = configOf("route-override", {
    cniVersion: "1.1.0",
    addroutes: [{
      dst: "198.51.100.0/24",
      gw: "10.131.0.1",
      mtu: 1400,
      advmss: 1360,
      priority: 7,
      table: 100,
    }],
  });
  const plan = planAdd({ config, ifname: "eth0", snapshot: snapshot(), host: {} });
  assert.deepEqual(lines(plan.ops), [
    "route add 198.51.100.0/24 via 10.131.0.1 dev eth0 table 100 metric 7 mtu 1400 advmss 1360",
  ]);
  assert.deepEqual(plan.result.routes?.at(-1), {
    dst: "198.51.100.0/24",
    gw: "10.131.0.1",
    mtu: 1400,
    advmss: 1360,
    priority: 7,
    table: 100,
  });
});

Deno.test("plan: hostRoute gateway modes", () => {
  const mk = (hostRoute: unknown, prev: unknown = prevResult) =>
    parseConfig({
      cniVersion: "1.0.0",
      name: "n",
      type: "seamless-static-route",
      hostRoute,
      prevResult: prev,
    });
  const gwOf = (hostRoute: unknown, prev?: unknown) =>
    planAdd({ config: mk(hostRoute, prev), ifname: "eth0", snapshot: snapshot(), host }).ops[0]
      ?.route.gateway;
  assert.equal(gwOf({ gateway: "prevResult" }), "10.131.0.1");
  assert.equal(gwOf({ gateway: "10.131.0.254" }), "10.131.0.254");
  assert.equal(gwOf({ hostIP: "198.51.100.7" }), "10.131.0.1");
  const noGw = { ...prevResult, ips: [{ address: "10.131.0.5/23", interface: 0 }] };
  assert.throws(
    () => gwOf({ gateway: "prevResult" }, noGw),
    (e: unknown) =>
      e instanceof CniError && e.code === 7 && /prevResult has no gateway/.test(e.message),
  );
  const slash32 = { ...prevResult, ips: [{ address: "10.131.0.5/32", interface: 0 }] };
  assert.throws(
    () => gwOf({}, slash32),
    (e: unknown) =>
      e instanceof CniError && e.code === 7 && /hostRoute\.gateway/.test(e.message) &&
      /\/32/.test(e.message),
  );
  const own = { ...prevResult, ips: [{ address: "10.131.0.1/23", interface: 0 }] };
  assert.throws(() => gwOf({}, own), /own address/);
});

Deno.test("plan: without prevResult the pod address comes from the interface", () => {
  const config = parseConfig({ cniVersion: "1.0.0", name: "n", type: "seamless-static-route" });
  const plan = planAdd({ config, ifname: "eth0", snapshot: snapshot(), host });
  assert.deepEqual(lines(plan.ops), ["route add 192.168.100.10/32 via 10.131.0.1 dev eth0"]);
  assert.deepEqual(plan.result.routes, [{ dst: "192.168.100.10/32", gw: "10.131.0.1" }]);
});

Deno.test("plan: IPv6 host route only when asked and both sides have IPv6", () => {
  const prev6 = {
    ...prevResult,
    ips: [...prevResult.ips, { address: "fd00:10::5/64", gateway: "fd00:10::1", interface: 0 }],
  };
  const config = configOf("seamless-static-route", {
    hostRoute: { ipv6: true },
    prevResult: prev6,
  });
  const both = { ...host, v6: { address: "fd00:100::10", family: 6 as const } };
  assert.deepEqual(
    lines(planAdd({ config, ifname: "eth0", snapshot: snapshot(), host: both }).ops),
    [
      "route add 192.168.100.10/32 via 10.131.0.1 dev eth0",
      "route add fd00:100::10/128 via fd00:10::1 dev eth0",
    ],
  );
  assert.equal(planAdd({ config, ifname: "eth0", snapshot: snapshot(), host }).ops.length, 1);
});

Deno.test("plan: an addroute on the host route's destination is refused (code 7)", () => {
  const config = configOf("seamless-static-route", { addroutes: [{ dst: "192.168.100.10/32" }] });
  assert.throws(
    () => planAdd({ config, ifname: "eth0", snapshot: snapshot(), host }),
    /addroutes\[0\]\.dst/,
  );
});

Deno.test("planRevert: deletes what was added, restores what was deleted, link routes first", () => {
  const hostRoute = route("192.168.100.10/32", { gateway: "10.131.0.1" });
  const added = [hostRoute];
  const linkRoute = route("10.200.0.0/16", { scope: "link" });
  const deleted = [dflt, linkRoute];
  const now = snapshot([connected, hostRoute]);
  assert.deepEqual(planRevert(added, deleted, now, "DEL").map((op) => routeOpArgs(op).join(" ")), [
    "route del 192.168.100.10/32 via 10.131.0.1 dev eth0 metric 0",
    "route add 10.200.0.0/16 dev eth0",
    "route add 0.0.0.0/0 via 10.131.0.1 dev eth0",
  ]);
  // Idempotent: after the revert nothing is left to do.
  assert.deepEqual(planRevert(added, deleted, snapshot([connected, dflt, linkRoute]), "DEL"), []);
  // Routes on an interface that is gone are not restored.
  const gone = { routes: [], addresses: new Map() };
  assert.deepEqual(planRevert(added, deleted, gone, "DEL"), []);
});

Deno.test("revertOps: guard add then exact delete, latest first, restores after; no table", () => {
  const first = route("192.168.100.10/32", { gateway: "10.131.0.1" });
  const second = route("192.168.100.10/32", { gateway: "10.131.0.9" });
  const linkRoute = route("10.200.0.0/16", { scope: "link" });
  const empty = { routes: [], addresses: new Map() };
  const ops = revertOps([first, second], [dflt, linkRoute], empty, "DEL");
  assert.deepEqual(ops.map((op) => `${op.reason}: ${routeOpArgs(op).join(" ")}`), [
    `${GUARD_REASON}: route add 192.168.100.10/32 via 10.131.0.9 dev eth0`,
    "DEL: route del 192.168.100.10/32 via 10.131.0.9 dev eth0 metric 0",
    `${GUARD_REASON}: route add 192.168.100.10/32 via 10.131.0.1 dev eth0`,
    "DEL: route del 192.168.100.10/32 via 10.131.0.1 dev eth0 metric 0",
    "DEL: route add 10.200.0.0/16 dev eth0",
    "DEL: route add 0.0.0.0/0 via 10.131.0.1 dev eth0",
  ]);
  // A multipath route is deleted only when the routes read to its destination hold it as added.
  const hops = [{ gateway: "10.131.0.1", dev: "eth0" }, { gateway: "10.131.0.2", dev: "eth0" }];
  const mp = route("10.50.0.0/16", { dev: undefined, nexthops: hops });
  const changed = route("10.50.0.0/16", { dev: undefined, nexthops: hops.slice(0, 1) });
  assert.deepEqual(revertOps([mp], [], empty, "DEL"), []);
  assert.deepEqual(revertOps([mp], [], { routes: [changed], addresses: new Map() }, "DEL"), []);
  assert.deepEqual(
    revertOps([mp], [], { routes: [mp], addresses: new Map() }, "DEL").map((op) => op.action),
    ["del"],
  );
});

Deno.test("planCheck: missing, wrong-gateway and undeleted routes are reported", () => {
  const config = configOf("seamless-static-route", {
    addroutes: [{ dst: "172.16.0.0/12" }],
    delroutes: [{ dst: "10.0.0.0/8" }],
  });
  const wrongHost = route("192.168.100.10/32", { gateway: "10.131.0.7" });
  const problems = planCheck({
    config,
    ifname: "eth0",
    snapshot: snapshot([connected, wrongHost, ten]),
    host,
  });
  assert.deepEqual(problems.map((p) => `${p.route}: ${p.problem}`), [
    "172.16.0.0/12 via 10.131.0.1 dev eth0: missing (addroutes[0])",
    "192.168.100.10/32 via 10.131.0.1 dev eth0: found 192.168.100.10/32 via 10.131.0.7 dev eth0 instead (hostRoute)",
    "10.0.0.0/8 via 10.131.0.1 dev eth0: present but deleted by delroutes[0]",
  ]);
  const good = [
    connected,
    route("172.16.0.0/12", { gateway: "10.131.0.1" }),
    route("192.168.100.10/32", { gateway: "10.131.0.1" }),
  ];
  assert.deepEqual(planCheck({ config, ifname: "eth0", snapshot: snapshot(good), host }), []);
});

Deno.test("planAdd: the host route uses the pod address observe() found, not one derived again", () => {
  // No prevResult and nothing in the table: the only pod address is the one passed in.
  const config = parseConfig({ cniVersion: "1.0.0", name: "n", type: "seamless-static-route" });
  const empty: PodSnapshot = { routes: [], addresses: new Map() };
  const cidr = parseCidr("10.77.0.9/24");
  assert.ok(cidr);
  const plan = planAdd({ config, ifname: "eth0", snapshot: empty, host, pod: { v4: { cidr } } });
  assert.deepEqual(lines(plan.ops), ["route add 192.168.100.10/32 via 10.77.0.1 dev eth0"]);
  // Without it the same input has no pod address: code 11.
  assert.throws(
    () => planAdd({ config, ifname: "eth0", snapshot: empty, host }),
    (e) => e instanceof CniError && e.code === 11,
  );
});

Deno.test("planCheck: linear — each delroute reads only routes to its own destination", () => {
  // 1000 delroutes against a 2000-route table: a scan of the table per delroute would read
  // 2 000 000 routes; an index reads each route a constant number of times.
  const delroutes = Array.from({ length: 1000 }, (_, i) => ({
    dst: `10.${100 + (i >> 8)}.${i & 255}.0/24`,
  }));
  // strict: route-override v1 would delete none of them (prevResult does not list them).
  const config = configOf("route-override", { strict: true, delroutes });
  const table = Array.from(
    { length: 2000 },
    (_, i) => route(`10.${i >> 8}.${i & 255}.0/24`, { gateway: "10.131.0.1" }),
  );
  let reads = 0;
  const counted = new Proxy(table, {
    get(target, key, receiver) {
      if (typeof key === "string" && /^\d+$/.test(key)) reads++;
      return Reflect.get(target, key, receiver);
    },
  });
  const snap: PodSnapshot = { routes: counted, addresses: snapshot().addresses };
  assert.deepEqual(planCheck({ config, ifname: "eth0", snapshot: snap, host }), []);
  assert.ok(reads <= 10 * table.length, `${reads} route reads for ${table.length} routes`);
  // And a delroute still finds its route.
  const hit = planCheck({
    config,
    ifname: "eth0",
    snapshot: {
      routes: [route("10.100.7.0/24", { gateway: "10.131.0.1" })],
      addresses: snap.addresses,
    },
    host,
  });
  assert.deepEqual(hit.map((p) => p.problem), ["present but deleted by delroutes[7]"]);
});

Deno.test("planCheck: a route delroutes deletes and addroutes adds again is wanted, not a leftover", () => {
  // Found by the model test: ADD runs delroutes before addroutes, so the route is in place.
  const config = configOf("route-override", {
    strict: true, // route-override v1 would not delete a dst prevResult does not list
    delroutes: [{ dst: "10.60.0.0/16" }],
    addroutes: [{ dst: "10.60.0.0/16", priority: 10 }],
  });
  // route-override: an addroute without gw is on-link.
  const added = route("10.60.0.0/16", { metric: 10 });
  assert.deepEqual(planCheck({ config, ifname: "eth0", snapshot: snapshot([added]), host }), []);
  // Another route to the same dst is still reported.
  const other = route("10.60.0.0/16", { gateway: "10.131.0.1", metric: 0 });
  assert.deepEqual(
    planCheck({ config, ifname: "eth0", snapshot: snapshot([added, other]), host })
      .map((p) => p.problem),
    ["present but deleted by delroutes[0]"],
  );
});

Deno.test("plan: a disabled host route's interface widens no flush (model counterexample)", () => {
  // Found by the model: flushroutes on eth0 with hostRoute {enabled: false, interface: net1}
  // deleted net1's `::/0 dev net1`.
  const onNet1 = route("::/0", { dev: "net1", metric: 1024 });
  const snap = snapshot([connected, dflt, onNet1]);
  for (const hostRoute of [{ enabled: false, interface: "net1" }, { enabled: false }, false]) {
    const config = configOf("seamless-static-route", { flushroutes: true, hostRoute });
    const plan = planAdd({ config, ifname: "eth0", snapshot: snap, host: {} });
    assert.deepEqual(lines(plan.ops), ["route del 0.0.0.0/0 via 10.131.0.1 dev eth0 metric 0"]);
  }
});

Deno.test("planAdd: a deleted route that shared its key records its place; revert puts it there", () => {
  // A Multus pod: net1's default (prepended by the main plugin) before eth0's, one key.
  const net1 = route("0.0.0.0/0", { gateway: "192.168.50.1", dev: "net1" });
  const eth0 = route("0.0.0.0/0", { gateway: "10.128.2.1", dev: "eth0" });
  const config = parseConfig({
    cniVersion: "1.0.0",
    name: "n",
    type: "route-override",
    flushgateway: true,
    prevResult: { cniVersion: "1.0.0", interfaces: [{ name: "net1", sandbox: SANDBOX }] },
  });
  const addresses = new Map([["eth0", []], ["net1", []]]);
  for (
    const [table, place, action] of [[[net1, eth0], "first", "prepend"], [
      [eth0, net1],
      "after",
      "append",
    ]] as const
  ) {
    const plan = planAdd({
      config,
      ifname: "net1",
      snapshot: { routes: [...table], addresses },
      host: {},
    });
    assert.deepEqual(plan.deleted, [{ ...net1, place }]);
    // The delete itself names no place: its batch line is as before.
    assert.deepEqual(lines(plan.ops), ["route del 0.0.0.0/0 via 192.168.50.1 dev net1 metric 0"]);
    const restore = `route ${action} 0.0.0.0/0 via 192.168.50.1 dev net1`;
    assert.deepEqual(lines(revertOps([], plan.deleted, { routes: [], addresses }, "DEL")), [
      restore,
    ]);
    assert.deepEqual(
      lines(planRevert([], plan.deleted, { routes: [eth0], addresses }, "rollback")),
      [
        restore,
      ],
    );
  }
  // A route alone at its key records no place, and is restored with a plain add, as before.
  const alone = planAdd({
    config,
    ifname: "net1",
    snapshot: { routes: [net1], addresses },
    host: {},
  });
  assert.deepEqual(alone.deleted, [net1]);
  assert.deepEqual(lines(revertOps([], alone.deleted, { routes: [], addresses }, "DEL")), [
    "route add 0.0.0.0/0 via 192.168.50.1 dev net1",
  ]);
});
