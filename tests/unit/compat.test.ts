/**
 * The planner under route-override v1's semantics (strict: false, the default of type
 * route-override): which addroutes it predicts the kernel refuses and skips, and why; that strict
 * refuses instead; CHECK after a compat ADD; `skipRefused` for a refusal it did not foresee.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { kernelRoute } from "../support/fixtures.ts";
import { parseCidr } from "../../src/address.ts";
import { CniError } from "../../src/cni/errors.ts";
import { parseConfig } from "../../src/config.ts";
import {
  type Plan,
  planAdd,
  planCheck,
  planInParts,
  skipMessage,
  skipRefused,
  SPLIT_PLAN_MIN,
} from "../../src/plan.ts";
import { routeOpArgs } from "../../src/route.ts";
import type { PodSnapshot } from "../../src/snapshot.ts";

const SANDBOX = "/var/run/netns/pod";
const host = { v4: { address: "192.168.100.10", family: 4 as const } };
const route = kernelRoute;

/** A Multus pod: eth0 (cluster network, default route + service route), net1 the attachment. */
const MULTUS: PodSnapshot = {
  routes: [
    route("0.0.0.0/0", { gateway: "10.128.2.1" }),
    route("10.128.2.0/23", { protocol: "kernel", scope: "link", prefsrc: "10.128.2.5" }),
    route("172.30.0.0/16", { gateway: "10.128.2.1" }),
    route("192.168.10.0/24", {
      dev: "net1",
      protocol: "kernel",
      scope: "link",
      prefsrc: "192.168.10.5",
    }),
    route("fe80::/64", { protocol: "kernel", metric: 256 }),
    route("fe80::/64", { dev: "net1", protocol: "kernel", metric: 256 }),
  ],
  addresses: new Map([
    ["eth0", [parseCidr("10.128.2.5/23")!]],
    ["net1", [parseCidr("192.168.10.5/24")!]],
    ["lo", []],
  ]),
};
const MULTUS_PREV = {
  cniVersion: "1.0.0",
  interfaces: [{ name: "net1", sandbox: SANDBOX }],
  ips: [{ address: "192.168.10.5/24", gateway: "192.168.10.1", interface: 0 }],
  routes: [],
};

/** A dual-stack single-homed pod: eth0 with 10.131.0.5/23 and fd00:10::5/64, both defaults. */
const DUAL: PodSnapshot = {
  routes: [
    route("0.0.0.0/0", { gateway: "10.131.0.1" }),
    route("10.131.0.0/23", { protocol: "kernel", scope: "link", prefsrc: "10.131.0.5" }),
    route("fd00:10::/64", { protocol: "kernel", metric: 256 }),
    route("fe80::/64", { protocol: "kernel", metric: 256 }),
    route("::/0", { gateway: "fd00:10::1" }),
  ],
  addresses: new Map([["eth0", [parseCidr("10.131.0.5/23")!, parseCidr("fd00:10::5/64")!]]]),
};
const DUAL_PREV = {
  cniVersion: "1.0.0",
  interfaces: [{ name: "eth0", sandbox: SANDBOX }],
  ips: [
    { address: "10.131.0.5/23", gateway: "10.131.0.1", interface: 0 },
    { address: "fd00:10::5/64", gateway: "fd00:10::1", interface: 0 },
  ],
  routes: [{ dst: "0.0.0.0/0", gw: "10.131.0.1" }, { dst: "::/0", gw: "fd00:10::1" }],
};

/** A route-override plan input for a pod: its snapshot, prevResult and CNI_IFNAME, and `extra`. */
function podInput(
  snapshot: PodSnapshot,
  prevResult: Record<string, unknown>,
  ifname: string,
  extra: Record<string, unknown>,
) {
  const config = parseConfig({
    cniVersion: "1.0.0",
    name: "n",
    type: "route-override",
    prevResult,
    ...extra,
  });
  return { config, ifname, snapshot, host };
}

/** The plan input of the Multus pod (attachment net1) with `extra` keys. */
const multus = (extra: Record<string, unknown>) => podInput(MULTUS, MULTUS_PREV, "net1", extra);

/** The plan input of the dual-stack single-homed pod (eth0) with `extra` keys. */
const dual = (extra: Record<string, unknown>) => podInput(DUAL, DUAL_PREV, "eth0", extra);

function lines(plan: Plan): string[] {
  return plan.ops.map((op) => routeOpArgs(op).join(" "));
}

/** `[source, first words of the reason]` of each skip. */
function skips(plan: Plan): [string, string][] {
  return plan.skipped.map((s) => [s.source, s.reason.split(" ").slice(0, 3).join(" ")]);
}

Deno.test("compat: the README's 'secondary network as default' NAD in a Multus pod is skipped", () => {
  const input = multus({
    flushgateway: true,
    addroutes: [{ dst: "0.0.0.0/0", gw: "192.168.10.1" }],
  });
  const plan = planAdd(input);
  assert.deepEqual(plan.ops, []); // net1 has no default route; eth0's is not the attachment's
  assert.deepEqual(skips(plan), [["addroutes[0]", "the table already"]]);
  assert.match(
    plan.skipped[0]!.reason,
    /0\.0\.0\.0\/0 via 10\.128\.2\.1 dev eth0, a route outside/,
  );
  assert.deepEqual(plan.result.routes, []);
  assert.deepEqual(plan.added, []);
  assert.equal(plan.strict, false);
  assert.match(
    skipMessage(plan.skipped[0]!),
    /^skipped route 0\.0\.0\.0\/0 via 192\.168\.10\.1 dev net1 \(addroutes\[0\]\): .*route-override v1 skips it too/,
  );
  // CHECK after it: nothing is wrong (ADD kept eth0's default, as route-override does).
  assert.deepEqual(planCheck(input), []);
});

Deno.test("compat: strict refuses the same NAD with today's code 7, naming both routes", () => {
  const input = multus({
    strict: true,
    flushgateway: true,
    addroutes: [{ dst: "0.0.0.0/0", gw: "192.168.10.1" }],
  });
  assert.throws(() => planAdd(input), (e: unknown) =>
    e instanceof CniError && e.code === 7 &&
    e.message.includes("0.0.0.0/0 via 10.128.2.1 dev eth0") &&
    e.message.includes("a route outside this attachment"));
  // The dry run's audit of a strict config still lists what route-override would skip.
  assert.equal(planAdd({ ...input, strict: false }).skipped.length, 1);
});

Deno.test("compat: gateways the kernel refuses as unreachable are skipped, by family", () => {
  const plan = planAdd(multus({
    addroutes: [
      { dst: "10.0.0.0/8", gw: "10.128.2.1" }, // eth0's gateway, not reachable from net1
      { dst: "10.1.0.0/16", gw: "169.254.1.1" }, // route-override's issue tracker NAD
      { dst: "fd00:99::/64", gw: "fd00:10::1" }, // IPv6 in an IPv4-only attachment
      { dst: "fd00:98::/64" }, // IPv6 without gw: the kernel takes it
      { dst: "fd00:97::/64", gw: "fe80::1" }, // link-local gateway: always on the link
      { dst: "10.2.0.0/16", gw: "192.168.10.1" }, // reachable: added
    ],
  }));
  assert.deepEqual(skips(plan), [
    ["addroutes[0]", "gateway 10.128.2.1 is"],
    ["addroutes[1]", "gateway 169.254.1.1 is"],
    ["addroutes[2]", "gateway fd00:10::1 is"],
  ]);
  assert.deepEqual(lines(plan), [
    "route add fd00:98::/64 dev net1",
    "route add fd00:97::/64 via fe80::1 dev net1",
    "route add 10.2.0.0/16 via 192.168.10.1 dev net1",
  ]);
  assert.deepEqual(plan.result.routes?.map((r) => r.dst), [
    "fd00:98::/64",
    "fd00:97::/64",
    "10.2.0.0/16",
  ]);
  // Under strict the kernel decides (code 100 and a rollback at ADD): every route is planned.
  const strict = planAdd({
    ...multus({ addroutes: [{ dst: "10.0.0.0/8", gw: "10.128.2.1" }] }),
    strict: true,
  });
  assert.deepEqual(lines(strict), ["route add 10.0.0.0/8 via 10.128.2.1 dev net1"]);
  assert.deepEqual(strict.skipped, []);
});

Deno.test("compat: an IPv4 dst with host bits is skipped; an IPv6 one the kernel masks", () => {
  const plan = planAdd(dual({
    addroutes: [{ dst: "192.168.4.7/24", gw: "10.131.0.1" }, { dst: "fd00:99::7/64" }],
  }));
  assert.deepEqual(skips(plan), [["addroutes[0]", "dst 192.168.4.7/24 has"]]);
  assert.deepEqual(lines(plan), ["route add fd00:99::/64 dev eth0"]);
});

Deno.test("compat: an existing route at the key is kept (no replace), on the attachment too", () => {
  const plan = planAdd(dual({
    addroutes: [
      { dst: "0.0.0.0/0", gw: "10.131.0.2" },
      { dst: "::/0", gw: "fd00:10::2" },
      { dst: "10.131.0.0/23", gw: "10.131.0.1" }, // the connected route's key
      { dst: "0.0.0.0/0", gw: "10.131.0.1", priority: 5 }, // another metric: a new key
    ],
  }));
  assert.deepEqual(plan.skipped.map((s) => s.source), [
    "addroutes[0]",
    "addroutes[1]",
    "addroutes[2]",
  ]);
  assert.ok(plan.skipped.every((s) => !s.reason.includes("outside")));
  assert.deepEqual(lines(plan), ["route add 0.0.0.0/0 via 10.131.0.1 dev eth0 metric 5"]);
  assert.deepEqual(plan.deleted, []);
  // Strict replaces the attachment's own routes, as before.
  const strict = planAdd({
    ...dual({ addroutes: [{ dst: "0.0.0.0/0", gw: "10.131.0.2" }] }),
    strict: true,
  });
  assert.deepEqual(strict.ops.map((o) => o.action), ["del", "add"]);
});

Deno.test("compat: what earlier ops change is what later adds are checked against", () => {
  const plan = planAdd(dual({
    flushgateway: true,
    addroutes: [
      { dst: "0.0.0.0/0", gw: "10.131.0.2" }, // its key was freed by flushgateway
      { dst: "10.50.0.0/16" }, // scope global, no gw: does not make 10.50.0.1 reachable (IPv4)
      { dst: "10.60.0.0/16", gw: "10.50.0.1" },
      { dst: "10.70.0.0/16", scope: 253 }, // scope link: makes 10.70.0.1 reachable
      { dst: "10.80.0.0/16", gw: "10.70.0.1" },
      { dst: "fd00:99::/64" }, // IPv6: a route without gw makes its range reachable
      { dst: "fd00:96::/64", gw: "fd00:99::1" },
    ],
  }));
  assert.deepEqual(plan.skipped.map((s) => s.source), ["addroutes[2]"]);
  assert.deepEqual(plan.ops.map((o) => o.action), ["del", "del", ...Array(6).fill("add")]);
});

Deno.test("compat: delroutes delete only what route-override v1 deletes", () => {
  const extra = route("10.70.0.0/16", { gateway: "10.131.0.1" });
  const snapshot = { ...DUAL, routes: [...DUAL.routes, extra] };
  const prev = { ...DUAL_PREV, routes: [...DUAL_PREV.routes, { dst: "10.70.0.0/16" }] };
  const input = (keys: Record<string, unknown>, prevResult: unknown = DUAL_PREV) => ({
    ...dual({ prevResult, ...keys }),
    snapshot,
  });
  // A default route: v1's match needs a destination, so it is kept (flushgateway deletes it).
  const dflt = planAdd(input({ delroutes: [{ dst: "0.0.0.0/0" }] }));
  assert.deepEqual(dflt.ops, []);
  assert.deepEqual(skips(dflt), [["delroutes[0]", "route-override v1 deletes"]]);
  assert.match(dflt.skipped[0]!.reason, /never match a default route/);
  assert.deepEqual(dflt.result.routes, DUAL_PREV.routes, "the kept route stays in the result");
  // A dst prevResult does not list: kept; listed: deleted; written with host bits: kept.
  const unlisted = planAdd(input({ args: { cni: { delroutes: [{ dst: "10.70.0.0/16" }] } } }));
  assert.deepEqual(skips(unlisted), [["args.cni.delroutes[0]", "route-override v1 deletes"]]);
  assert.match(unlisted.skipped[0]!.reason, /prevResult's routes/);
  assert.deepEqual(lines(planAdd(input({ delroutes: [{ dst: "10.70.0.0/16" }] }, prev))), [
    "route del 10.70.0.0/16 via 10.131.0.1 dev eth0 metric 0",
  ]);
  const bits = planAdd(input({ delroutes: [{ dst: "10.70.0.9/16" }] }, prev));
  assert.match(bits.skipped[0]!.reason, /host bits/);
  // CHECK after such an ADD is clean; strict deletes them all.
  assert.deepEqual(planCheck(input({ delroutes: [{ dst: "0.0.0.0/0" }] })), []);
  const strict = planAdd({
    ...input({ delroutes: [{ dst: "0.0.0.0/0" }, { dst: "10.70.0.0/16" }] }),
    strict: true,
  });
  assert.equal(strict.ops.length, 2);
});

Deno.test("compat: a pod's args.cni addroute is named as such; it never reaches outside", () => {
  const input = multus({
    args: { cni: { addroutes: [{ dst: "172.30.0.0/16", gw: "192.168.10.1" }] } },
  });
  const plan = planAdd(input);
  assert.deepEqual(plan.ops, []);
  assert.deepEqual(plan.skipped.map((s) => s.source), ["args.cni.addroutes[0]"]);
  assert.match(
    plan.skipped[0]!.reason,
    /172\.30\.0\.0\/16 via 10\.128\.2\.1 dev eth0, a route outside/,
  );
  // Strict: refused, as before.
  assert.throws(
    () => planAdd({ ...input, strict: true }),
    (e: unknown) => e instanceof CniError && e.code === 7 && /args\.cni\.addroutes/.test(e.message),
  );
});

Deno.test("compat: CHECK after a compat ADD is clean; strict CHECK names the difference", () => {
  const input = dual({
    addroutes: [
      { dst: "0.0.0.0/0", gw: "10.131.0.2" },
      { dst: "10.9.0.0/16", gw: "10.99.0.1" },
      { dst: "192.168.4.7/24", gw: "10.131.0.1" },
    ],
  });
  assert.deepEqual(planAdd(input).ops, []);
  assert.deepEqual(planCheck(input), []);
  assert.equal(planCheck({ ...input, strict: true }).length, 3);
});

Deno.test("compat: CHECK skips an addroute ADD's result left out, not one it lists", () => {
  // The kernel refused fd00:98::/64 at ADD (IPv6 off on eth0: nothing the planner can see).
  const input = dual({ addroutes: [{ dst: "10.70.0.0/16" }, { dst: "fd00:98::/64" }] });
  const plan = planAdd(input);
  assert.equal(plan.ops.length, 2);
  const add = skipRefused(plan, 1, "the kernel refused it: IPv6 is disabled on nexthop device.")!;
  const table = { ...DUAL, routes: [...DUAL.routes, ...add.added] };
  const config = { ...input.config, prevResult: add.result };
  assert.deepEqual(planCheck({ ...input, config, snapshot: table }), []);
  // 10.70.0.0/16 is in ADD's result: its absence is reported.
  const problems = planCheck({ ...input, config, snapshot: DUAL });
  assert.deepEqual(problems.map((p) => p.route), ["10.70.0.0/16 dev eth0"]);
  // strict reports both.
  assert.equal(planCheck({ ...input, config, snapshot: DUAL, strict: true }).length, 2);
});

Deno.test("compat: skipRefused leaves out a refused addroute; never under strict or for a del", () => {
  const input = dual({
    flushgateway: true,
    addroutes: [{ dst: "10.9.0.0/16", gw: "10.131.0.9" }, { dst: "10.8.0.0/16", gw: "10.131.0.8" }],
  });
  const plan = planAdd(input);
  assert.deepEqual(plan.ops.map((o) => o.action), ["del", "del", "add", "add"]);
  const next = skipRefused(plan, 2, "the kernel refused it: File exists");
  assert.ok(next);
  assert.deepEqual(lines(next), [
    "route del 0.0.0.0/0 via 10.131.0.1 dev eth0 metric 0",
    "route del ::/0 via fd00:10::1 dev eth0 metric 1024",
    "route add 10.8.0.0/16 via 10.131.0.8 dev eth0",
  ]);
  assert.deepEqual(next.added.map((r) => r.dst), ["10.8.0.0/16"]);
  assert.deepEqual(next.result.routes?.map((r) => r.dst), ["10.8.0.0/16"]);
  assert.deepEqual(next.skipped, [{
    route: plan.ops[2]!.route,
    source: "addroutes[0]",
    reason: "the kernel refused it: File exists",
  }]);
  assert.equal(plan.result.routes?.length, 2, "the plan itself is unchanged");
  assert.equal(skipRefused(next, 0, "x"), null, "a refused del fails the ADD");
  assert.equal(skipRefused({ ...plan, strict: true }, 2, "x"), null, "strict fails the ADD");
});

Deno.test("compat: strict defaults per type; args.cni may only make it stricter", () => {
  const base = { cniVersion: "1.0.0", name: "n" };
  assert.equal(parseConfig({ ...base, type: "route-override" }).strict, false);
  assert.equal(parseConfig({ ...base, type: "seamless-static-route" }).strict, true);
  assert.equal(
    parseConfig({ ...base, type: "seamless-static-route", strict: false }).strict,
    false,
  );
  const ro = { ...base, type: "route-override" };
  const pod = (v: unknown) => ({ ...ro, args: { cni: { strict: v } } });
  assert.equal(parseConfig(pod(true)).strict, true);
  assert.equal(parseConfig(pod(false)).strict, false);
  assert.deepEqual(parseConfig(pod(true)).warnings, []);
  assert.throws(
    () => parseConfig({ ...pod(false), strict: true }),
    (e: unknown) => e instanceof CniError && e.code === 7 && /args\.cni\.strict/.test(e.message),
  );
  assert.throws(
    () => parseConfig({ ...base, type: "seamless-static-route", args: { cni: { strict: false } } }),
    (e: unknown) =>
      e instanceof CniError && e.code === 7 && /default for seamless-static-route/.test(e.message),
  );
  assert.throws(
    () => parseConfig({ ...ro, strict: "yes" }),
    (e: unknown) => e instanceof CniError && e.code === 7 && /strict/.test(e.message),
  );
  assert.match(parseConfig({ ...ro, strictMode: true }).warnings.join(), /did you mean "strict"/);
});

Deno.test("property: a compat plan only adds, never outside, and accounts for every addroute", () => {
  const gw = fc.constantFrom("192.168.10.1", "192.168.10.7", "10.128.2.1", "169.254.1.1", "");
  const addroute = fc.record({
    dst: fc.constantFrom(
      "0.0.0.0/0",
      "172.30.0.0/16",
      "10.0.0.0/8",
      "10.5.0.0/16",
      "192.168.10.0/24",
      "192.168.4.7/24",
      "fd00:99::/64",
    ),
    gw,
  }).map((r) => (r.gw === "" ? { dst: r.dst } : r));
  fc.assert(
    fc.property(
      fc.uniqueArray(addroute, { maxLength: 6, selector: (r) => r.dst }),
      fc.boolean(),
      (addroutes, fromPod) => {
        const valid = addroutes.filter((r) => !r.dst.includes(":") || !("gw" in r));
        const input = multus(
          fromPod ? { args: { cni: { addroutes: valid } } } : { addroutes: valid },
        );
        let plan: Plan;
        try {
          plan = planAdd(input);
        } catch (e) {
          // Duplicates by kernel identity (192.168.4.7/24 and 192.168.10.0/24 differ) are refused
          // as malformed config, before any policy.
          assert.ok(e instanceof CniError && e.code === 7, String(e));
          return;
        }
        assert.ok(plan.ops.every((o) => o.action === "add" && o.route.dev === "net1"));
        // Each addroute is added, skipped, or already in the table exactly (then left alone).
        assert.ok(plan.ops.length + plan.skipped.length <= valid.length);
        for (const op of plan.ops) {
          const g = op.route.gateway;
          assert.ok(g === undefined || g.startsWith("192.168.10."), `unreachable ${g} planned`);
        }
        assert.equal(plan.result.routes?.length, valid.length - plan.skipped.length);
        // CHECK, given ADD's result as runtimes do: clean; and it sees an added route go missing.
        const after = { ...MULTUS, routes: [...MULTUS.routes, ...plan.added] };
        const config = { ...input.config, prevResult: plan.result };
        assert.deepEqual(planCheck({ ...input, config, snapshot: after }), []);
        if (plan.added.length > 0) {
          const gone = { ...MULTUS, routes: [...MULTUS.routes, ...plan.added.slice(1)] };
          assert.equal(planCheck({ ...input, config, snapshot: gone }).length, 1);
        }
      },
    ),
    { numRuns: 200 },
  );
});

Deno.test("property: a long plan's first part is exactly the first ops of the whole plan", () => {
  // Destinations that collide (twice the same, one outside the attachment on eth0, the default),
  // gateways the pod reaches or not, and flush/delete keys: what could make a later addroute
  // change an earlier one's op, or make the rest of the plan throw.
  const dst = fc.oneof(
    fc.integer({ min: 0, max: 40 }).map((i) => `10.${90 + (i >> 4)}.${i & 15}.0/24`),
    fc.constantFrom("172.30.0.0/16", "192.168.10.0/24", "0.0.0.0/0", "10.128.2.0/23"),
  );
  const gw = fc.constantFrom("192.168.10.1", "192.168.10.7", "10.128.2.1", "");
  const addroute = fc.record({ dst, gw }).map((r) => (r.gw === "" ? { dst: r.dst } : r));
  const extra = fc.record({
    flushroutes: fc.boolean(),
    flushgateway: fc.boolean(),
    delroutes: fc.subarray([{ dst: "172.30.0.0/16" }, { dst: "10.90.3.0/24" }]),
  }, { requiredKeys: [] });
  fc.assert(
    fc.property(
      fc.array(addroute, { minLength: SPLIT_PLAN_MIN, maxLength: SPLIT_PLAN_MIN + 60 }),
      extra,
      fc.boolean(),
      (addroutes, keys, fromPod) => {
        const input = multus(
          fromPod ? { ...keys, args: { cni: { addroutes } } } : { ...keys, addroutes },
        );
        const parts = planInParts(input);
        assert.ok(parts, "a long route-override plan is made in two parts");
        const whole = planAdd(input);
        const first = parts.first;
        assert.ok(first.ops.length <= whole.ops.length);
        assert.deepEqual(first.ops, whole.ops.slice(0, first.ops.length));
        // Every deletion is in the first part: the rest only adds (or skips).
        assert.deepEqual(first.deleted, whole.deleted);
        assert.ok(whole.ops.slice(first.ops.length).every((op) => op.action === "add"));
        // Going on from the first part gives the plan made at once.
        assert.deepEqual(parts.rest(), whole);
      },
    ),
    { numRuns: 150 },
  );
});

Deno.test("planInParts: one part when strict, with a host route, or for a short list", () => {
  const many = Array.from({ length: SPLIT_PLAN_MIN }, (_, i) => ({ dst: `10.90.${i}.0/24` }));
  assert.ok(planInParts(multus({ addroutes: many })));
  assert.equal(planInParts(multus({ addroutes: many.slice(1) })), null);
  assert.equal(planInParts({ ...multus({ addroutes: many }), strict: true }), null);
  const seamless = parseConfig({
    cniVersion: "1.0.0",
    name: "n",
    type: "seamless-static-route",
    strict: false,
    addroutes: many,
    prevResult: MULTUS_PREV,
  });
  assert.equal(seamless.hostRoute.enabled, true);
  assert.equal(planInParts({ ...multus({}), config: seamless }), null);
});
