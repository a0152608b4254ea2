/**
 * THE PROOF of exact revert: a model-based property test against the real kernel. fast-check
 * generates a random starting pod table (three interfaces, IPv4 and IPv6, numbered and named
 * tables, metrics, on-link routes, multipath routes and route attributes), a random valid config
 * (both types, every key, `args.cni`) and optionally a fault (a kernel refusal at a random line
 * through an unreachable gateway, a concurrent writer, a SIGKILL at a random moment, a corrupt
 * state file, look-alikes of ADD's routes the pod adds after ADD). In a fresh pod namespace per
 * case it checks, on `ip -d -j route show table all`:
 *
 * - ADD succeeds ⇒ CHECK succeeds, and DEL restores the starting table exactly;
 * - ADD fails ⇒ the table is the starting table exactly, except routes added by others;
 * - DEL always exits 0, after at most one retry;
 * - no route outside the attachment's scope (CNI_IFNAME, prevResult's sandbox interfaces, the
 *   host route's interface) ever changes.
 *
 * A failure prints the shrunk case as JSON and the command that replays it:
 * `MODEL_SEED=<seed> MODEL_PATH=<path> deno test ... tests/proof/model.test.ts`.
 * MODEL_RUNS sets the number of cases (default 60), MODEL_SEED the seed (default fixed, so CI is
 * repeatable; set another to explore).
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { BinDir, IS_ROOT, Lab, type PluginRun, TempDir } from "../../testing/mod.ts";
import { FaultyIp } from "../support/faultip.ts";
import { isCniError, withTimeout } from "../support/proof.ts";
import { goodRouteArb } from "../support/arbitraries.ts";
import {
  type KernelRoute,
  MODEL_IFACES,
  ModelPod,
  privateTableNames,
  resultProblems,
  type ResultRoute,
  routeDevs,
  startPlugin,
} from "../support/model.ts";
import { statePath } from "../../src/state.ts";
import { cidrText, networkOf, parseCidr } from "../../src/address.ts";

// The features the starting tables and configs are generated with. Each was first found failing
// (its minimal case below is the regression the model now guards); all are on since issue 10's
// classes 2, 6, 7 and issue 11 were fixed. One can be switched off here to narrow a failure, or
// an off one on for a run with MODEL_WITH_<NAME>=1.
function feature(name: string, on: boolean): boolean {
  return on || Deno.env.get(`MODEL_WITH_${name}`) === "1";
}
/** Multipath routes in the starting table (class 7: flushing one used to fail). */
const WITH_MULTIPATH = feature("MULTIPATH", true);
/**
 * Route attributes beyond mtu/advmss (initcwnd, rtt, quickack, realm, pref, ...) (class 7).
 * Minimal case: start `::/0 dev net1 pref high`, prevResult lists net1, flushroutes → DEL restored
 * it with pref medium.
 */
const WITH_ATTRIBUTES = feature("ATTRIBUTES", true);
/**
 * IPv4 routes via an IPv6 next hop, once restored as link routes (class 7). Minimal case: start
 * `default via inet6 fe80::1 dev eth0`, flushroutes or flushgateway → DEL restored `default dev eth0`.
 */
const WITH_VIA_INET6 = feature("VIA_INET6", true);
/** Routes into table 253, which `ip` prints by its rt_tables name "default" (class 2). */
const WITH_NAMED_TABLES = feature("NAMED_TABLES", true);
/**
 * Table 100 named "blue" in the rt_tables the plugin's `ip` reads (a private copy for the node
 * namespace), so `ip -j` prints `"table":"blue"` to the plugin (class 2). Minimal case: addroutes
 * `10.60.0.0/16 table 100` → CHECK said "missing"; with a refused later line the rollback left it.
 */
const WITH_RT_TABLE_NAMES = feature("RT_TABLE_NAMES", true);
/**
 * IPv6 addroutes with `priority: 0`, which the kernel stores as metric 1024 (class 2). Minimal
 * case: route-override addroutes `fd00:22::/64 priority 0` → ADD ok, CHECK said "missing".
 */
const WITH_V6_METRIC0 = feature("V6_METRIC0", true);
/**
 * Addroutes with the kernel identity (table, dst, metric) of a start route on an interface outside
 * the attachment's scope: ADD replaced that route (class 6: now a clear error, code 7).
 * Minimal case: start `10.62.0.0/16 dev net2 table 100`; attachment eth0, addroutes
 * `10.62.0.0/16 table 100` → net2's route was replaced.
 */
const WITH_OUT_OF_SCOPE_CLASH = feature("OUT_OF_SCOPE_CLASH", true);
/**
 * `hostRoute: {enabled: false, interface: X}`: the disabled host route's interface widens what
 * flushroutes/delroutes touched (class 6: it no longer does). Minimal case: attachment net1,
 * `hostRoute: {enabled: false, interface: "eth0"}`, flushgateway → eth0's default routes went.
 */
const WITH_DISABLED_HOSTROUTE_INTERFACE = feature("DISABLED_HOSTROUTE_INTERFACE", true);
/** `gws` (ECMP) in addroutes and delroutes (issue 11). */
const WITH_GWS = feature("GWS", true);
/**
 * Start routes with tos, TCP metrics (fastopen_no_cookie, ssthresh, cwnd, reordering, rto_min),
 * features ecn, an IPv6 next hop in a multipath route or a per-hop onlink (issue 17 class 8: once
 * refused for deletion).
 */
const WITH_EXACT_RESTORE = feature("EXACT_RESTORE", true);
/**
 * Start routes to an addroute's dst via its gw with other attributes (mtu, advmss, tos, ...), and
 * addroutes with gw 0.0.0.0 or :: (issue 17 class 7). Minimal case: start `10.60.0.0/16 via
 * 10.131.0.1 dev eth0`, addroutes `10.60.0.0/16 gw 10.131.0.1 mtu 1400` → ADD reported mtu 1400,
 * the kernel route had none, CHECK passed.
 */
const WITH_ATTRIBUTE_MISMATCH = feature("ATTRIBUTE_MISMATCH", true);

const NETWORK = "modelnet";
const SEED = Number(Deno.env.get("MODEL_SEED") ?? 20261123);
const PATH = Deno.env.get("MODEL_PATH");
const RUNS = Number(Deno.env.get("MODEL_RUNS") ?? 60);

// ---------------------------------------------------------------------------------------------
// The starting table

/** A route of the starting table, as the `ip route add` line that makes it. */
interface StartRoute {
  family: 4 | 6;
  dst: string;
  dev: string;
  gw?: string | undefined;
  onlink?: boolean | undefined;
  table?: number | undefined;
  metric?: number | undefined;
  proto?: string | undefined;
  mtu?: number | undefined;
  attrs?: string[] | undefined;
  hops?: { gw: string; dev: string; weight: number }[] | undefined;
}

const V4_DSTS = ["0.0.0.0/0", "10.60.0.0/16", "10.61.0.0/24", "10.62.0.0/16", "172.20.0.0/16"];
const V6_DSTS = ["::/0", "fd00:20::/64", "fd00:21::/48"];
const GATEWAYS: Record<string, { 4: string[]; 6: string[] }> = {
  eth0: { 4: ["10.131.0.1", "10.131.1.200"], 6: ["fd00:10::1", "fd00:10::2"] },
  net1: { 4: ["10.132.0.1"], 6: ["fd00:11::1"] },
  net2: { 4: ["10.133.0.1"], 6: [] },
};
const TABLES = WITH_NAMED_TABLES ? [100, 253] : [100];
const V4_ATTRS = ["initcwnd 10", "initrwnd 20", "rtt 100ms", "quickack 1", "realm 3", "hoplimit 5"];
const V6_ATTRS = ["initcwnd 10", "rttvar 50ms", "window 1000", "pref high", "hoplimit 5"];

function optional<T>(arb: fc.Arbitrary<T>, freq = 2): fc.Arbitrary<T | undefined> {
  return fc.option(arb, { nil: undefined, freq });
}

function singleRouteArb(family: 4 | 6): fc.Arbitrary<StartRoute> {
  const devs = family === 4 ? ["eth0", "net1", "net2"] : ["eth0", "net1"];
  return fc.constantFrom(...devs).chain((dev) =>
    fc.record({
      dst: fc.constantFrom(...(family === 4 ? V4_DSTS : V6_DSTS)),
      via: fc.oneof(
        fc.constantFrom(...(GATEWAYS[dev]?.[family] ?? [])).map((gw) => ({ gw })),
        fc.constant({}),
        // On-link: a gateway outside every subnet of the interface.
        ...(family === 4 ? [fc.constant({ gw: "10.99.0.1", onlink: true })] : []),
        ...(family === 4 && WITH_VIA_INET6 ? [fc.constant({ gw: "inet6 fe80::1" })] : []),
      ),
      table: optional(fc.constantFrom(...TABLES)),
      metric: optional(fc.constantFrom(0, 10, 100, 1024)),
      proto: optional(fc.constant("static"), 3),
      mtu: optional(fc.constantFrom(1400, 1280), 3),
      attrs: WITH_ATTRIBUTES
        ? optional(fc.subarray(family === 4 ? V4_ATTRS : V6_ATTRS, { minLength: 1 }))
        : fc.constant(undefined),
    }).map(({ via, ...r }) => strip({ family, dev, ...via, ...r }))
  );
}

function multipathArb(family: 4 | 6): fc.Arbitrary<StartRoute> {
  const hops = family === 4
    ? [["10.131.0.1", "eth0"], ["10.132.0.1", "net1"], ["10.133.0.1", "net2"]]
    : [["fd00:10::1", "eth0"], ["fd00:11::1", "net1"]];
  return fc.record({
    dst: fc.constantFrom(...(family === 4 ? V4_DSTS : V6_DSTS)),
    hops: fc.subarray(hops, { minLength: 2 }),
    weights: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 3, maxLength: 3 }),
    table: optional(fc.constantFrom(...TABLES)),
    metric: optional(fc.constantFrom(0, 10, 1024)),
  }).map(({ hops, weights, ...r }) =>
    strip({
      family,
      dev: hops[0]?.[1] ?? "eth0",
      ...r,
      hops: hops.map(([gw, dev], i) => ({ gw: gw ?? "", dev: dev ?? "", weight: weights[i] ?? 1 })),
    })
  );
}

/** Routes whose exact restore was once refused (class 8): tos, TCP metrics, RFC 5549 hops. */
function exactRestoreArb(): fc.Arbitrary<StartRoute> {
  const single = fc.record({
    dst: fc.constantFrom(...V4_DSTS),
    gw: fc.constantFrom("10.131.0.1", "10.131.1.200", "inet6 fe80::1"),
    attrs: fc.subarray(
      [
        "tos 0x10",
        "fastopen_no_cookie 1",
        "ssthresh 5",
        "cwnd 7",
        "reordering 4",
        "rto_min 300ms",
        "features ecn",
      ],
      { minLength: 1 },
    ),
    metric: optional(fc.constantFrom(0, 10)),
  }).map((r) => strip({ family: 4 as const, dev: "eth0", ...r }));
  const multipath = fc.record({
    dst: fc.constantFrom(...V4_DSTS),
    // The gw word carries the hop's extra words (startLine joins them): an IPv6 next hop, onlink.
    hop: fc.constantFrom("inet6 fe80::1", "10.99.0.1 onlink"),
    weights: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 2, maxLength: 2 }),
  }).map(({ dst, hop, weights }) => ({
    family: 4 as const,
    dst,
    dev: "eth0",
    hops: [
      { gw: hop, dev: "eth0", weight: weights[0] ?? 1 },
      { gw: "10.131.0.1", dev: "eth0", weight: weights[1] ?? 1 },
    ],
  }));
  return fc.oneof(single, multipath);
}

/** A route to an addroute's dst via its gw, with attributes it does not ask for (class 7). */
function attributeMismatchArb(): fc.Arbitrary<StartRoute> {
  return fc.oneof(
    fc.record({
      dst: fc.constantFrom("10.60.0.0/16", "10.61.0.0/24", "10.62.0.0/16", "172.20.0.0/16"),
      gw: fc.constantFrom("10.131.0.1", "10.131.1.200"),
      mtu: optional(fc.constantFrom(1500, 1400)),
      attrs: optional(fc.subarray(["advmss 1200", "initcwnd 10", "tos 0x10"], { minLength: 1 })),
      table: optional(fc.constant(100), 3),
      metric: optional(fc.constant(10), 3),
    }).map((r) => strip({ family: 4 as const, dev: "eth0", ...r })),
    fc.record({
      dst: fc.constantFrom("fd00:20::/64", "fd00:22::/64"),
      gw: fc.constantFrom("fd00:10::1", "fd00:10::2"),
      mtu: optional(fc.constantFrom(1500, 1400)),
      attrs: optional(fc.constant(["advmss 1200"])),
    }).map((r) => strip({ family: 6 as const, dev: "eth0", ...r })),
  );
}

/** Drops undefined fields, so a case prints (and replays) as plain JSON. */
function strip<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

/** The kernel identity of a start route: routes with the same one would merge or clash. */
function startKey(r: StartRoute): string {
  const metric = r.family === 6 && (r.metric ?? 0) === 0 ? 1024 : r.metric ?? 0;
  return `${r.family}|${r.table ?? 254}|${r.dst}|${metric}`;
}

const startTableArb: fc.Arbitrary<StartRoute[]> = fc.uniqueArray(
  fc.oneof(
    { weight: 4, arbitrary: singleRouteArb(4) },
    { weight: 3, arbitrary: singleRouteArb(6) },
    ...(WITH_MULTIPATH
      ? [{ weight: 1, arbitrary: multipathArb(4) }, { weight: 1, arbitrary: multipathArb(6) }]
      : []),
    ...(WITH_EXACT_RESTORE ? [{ weight: 1, arbitrary: exactRestoreArb() }] : []),
    ...(WITH_ATTRIBUTE_MISMATCH ? [{ weight: 2, arbitrary: attributeMismatchArb() }] : []),
  ),
  { maxLength: 7, selector: startKey },
).map((routes) => {
  // A pod as a main plugin leaves it: default routes via eth0, unless generated otherwise.
  const base: StartRoute[] = [
    { family: 4, dst: "0.0.0.0/0", dev: "eth0", gw: "10.131.0.1" },
    { family: 6, dst: "::/0", dev: "eth0", gw: "fd00:10::1" },
  ];
  const keys = new Set(routes.map(startKey));
  return [...base.filter((r) => !keys.has(startKey(r))), ...routes];
});

/** The `ip -batch` line that adds a start route (options before nexthops, as ip requires). */
function startLine(r: StartRoute): string {
  const words = ["route", "add", r.dst];
  const opts: string[] = [];
  if (r.table !== undefined) opts.push("table", String(r.table));
  if (r.metric !== undefined) opts.push("metric", String(r.metric));
  if (r.proto) opts.push("proto", r.proto);
  if (r.mtu !== undefined) opts.push("mtu", String(r.mtu));
  for (const a of r.attrs ?? []) opts.push(...a.split(" "));
  if (r.hops) {
    words.push(...opts);
    for (const h of r.hops) {
      words.push("nexthop", "via", h.gw, "dev", h.dev, "weight", `${h.weight}`);
    }
  } else {
    if (r.gw) words.push("via", r.gw);
    words.push("dev", r.dev);
    if (r.onlink) words.push("onlink");
    words.push(...opts);
  }
  return words.join(" ");
}

// ---------------------------------------------------------------------------------------------
// The config

type Json = Record<string, unknown>;

/** A CNI route for the attachment `ifname`: the shared generator's, moved onto its subnet. */
function onIface(route: Json, ifname: string): Json {
  if (ifname === "eth0") return route;
  const move = (gw: string) =>
    gw.replace(/^10\.131\.\d+\./, "10.132.0.").replace(/^fd00:10::/, "fd00:11::");
  const out = { ...route };
  if (typeof route.gw === "string") out.gw = move(route.gw);
  if (Array.isArray(route.gws)) out.gws = route.gws.map((g) => move(String(g)));
  return out;
}

function addrouteArb(ifname: string): fc.Arbitrary<Json> {
  const extra = fc.record({
    dst: fc.constantFrom("172.20.0.0/16", "10.63.0.0/16", "fd00:22::/64"),
    advmss: optional(fc.constant(1300)),
    scope: optional(fc.constantFrom(0, 253)),
    table: optional(fc.constantFrom(...TABLES)),
    priority: optional(fc.constantFrom(5, ...(WITH_V6_METRIC0 ? [0] : []))),
  }).map((r) => strip(r) as Json);
  const gws = WITH_GWS
    ? [
      fc.record({
        dst: fc.constantFrom("10.64.0.0/16", "fd00:23::/64"),
        priority: optional(fc.constant(20)),
      }).map((r) => ({
        ...strip(r),
        gws: r.dst.includes(":") ? ["fd00:10::1", "fd00:10::2"] : ["10.131.0.1", "10.131.1.200"],
      })),
    ]
    : [];
  // gw 0.0.0.0 or :: is no gateway: the on-link route (class 7).
  const unspecified = WITH_ATTRIBUTE_MISMATCH
    ? [
      fc.record({
        dst: fc.constantFrom("10.65.0.0/16", "10.60.0.0/16", "fd00:24::/64"),
        mtu: optional(fc.constant(1400)),
      }).map((r) => ({ ...strip(r), gw: r.dst.includes(":") ? "::" : "0.0.0.0" }) as Json),
    ]
    : [];
  return fc.oneof(
    { weight: 4, arbitrary: goodRouteArb.map((r) => strip(r) as Json) },
    { weight: 1, arbitrary: extra },
    ...gws.map((arbitrary) => ({ weight: 1, arbitrary })),
    ...unspecified.map((arbitrary) => ({ weight: 1, arbitrary })),
  ).map((r) => onIface(r, ifname));
}

const delrouteArb: fc.Arbitrary<Json> = fc.record({
  dst: fc.constantFrom(...V4_DSTS, ...V6_DSTS),
  gw: optional(
    fc.constantFrom(
      "10.131.0.1",
      "10.131.1.200",
      "fd00:10::1",
      "10.99.0.1",
      ...(WITH_ATTRIBUTE_MISMATCH ? ["0.0.0.0"] : []),
    ),
  ),
  table: optional(fc.constantFrom(...TABLES)),
  priority: optional(fc.constantFrom(10, 100)),
  // A next-hop set: deletes the multipath route with exactly these next hops (issue 11).
  multipath: WITH_GWS ? fc.boolean() : fc.constant(false),
}).map(({ multipath, ...r }) => {
  const v6 = r.dst.includes(":");
  // A gw of the other family would be refused (code 7): keep the config valid.
  const gw = r.gw && r.gw.includes(":") === v6 ? r.gw : undefined;
  const gws = !multipath
    ? undefined
    : v6
    ? ["fd00:10::1", "fd00:11::1"]
    : ["10.131.0.1", "10.132.0.1"];
  return strip({ ...r, gw: gws ? undefined : gw, gws }) as Json;
});

function hostRouteArb(ifname: string): fc.Arbitrary<unknown> {
  return fc.oneof(
    fc.constant(undefined),
    fc.constant(true),
    fc.record({
      enabled: optional(fc.boolean(), 4),
      gateway: optional(fc.constantFrom("minaddr", "prevResult")),
      // The host route through another interface widens the attachment's scope to it.
      interface: optional(fc.constantFrom(ifname, ifname === "eth0" ? "net1" : "eth0"), 4),
      ipv6: optional(fc.boolean()),
      timeoutSeconds: optional(fc.constantFrom(0, 1)),
    }).map((h) => {
      const out = strip(h) as Json;
      if (out.enabled === false && !WITH_DISABLED_HOSTROUTE_INTERFACE) delete out.interface;
      return out;
    }),
  );
}

/** What a case's config is made of (the pod's netns path is filled in when it exists). */
interface ConfigSpec {
  type: "seamless-static-route" | "route-override";
  /** The result's version: 1.1.0 results carry table, priority and the other attributes. */
  cniVersion?: "1.0.0" | "1.1.0" | undefined;
  ifname: string;
  /** prevResult also lists the other interface (eth0 or net1) as the pod's. */
  bothInPrev: boolean;
  v6InPrev: boolean;
  top: Json;
  cni?: Json | undefined;
}

const keysArb = (ifname: string, type: ConfigSpec["type"]) =>
  fc.record({
    flushroutes: optional(fc.boolean(), 3),
    flushgateway: optional(fc.boolean()),
    delroutes: optional(fc.array(delrouteArb, { maxLength: 3 })),
    addroutes: optional(
      fc.uniqueArray(addrouteArb(ifname), {
        maxLength: 4,
        // By kernel identity (10.60.1.7/16 is 10.60.0.0/16): duplicates are refused (code 7).
        selector: requestKey,
      }),
    ),
    skipcheck: optional(fc.boolean(), 4),
    hostRoute: type === "seamless-static-route" ? hostRouteArb(ifname) : fc.constant(undefined),
  }).map((k) => strip(k) as Json);

const configSpecArb: fc.Arbitrary<ConfigSpec> = fc.record({
  type: fc.constantFrom("seamless-static-route" as const, "route-override" as const),
  ifname: fc.oneof({ weight: 3, arbitrary: fc.constant("eth0") }, fc.constant("net1")),
  bothInPrev: fc.boolean(),
  v6InPrev: fc.boolean(),
  cniVersion: WITH_ATTRIBUTE_MISMATCH
    ? fc.constantFrom("1.0.0" as const, "1.1.0" as const)
    : fc.constant(undefined),
}).chain((base) =>
  fc.record({
    top: keysArb(base.ifname, base.type),
    cni: optional(keysArb(base.ifname, base.type), 3),
  }).map((k) => strip({ ...base, ...k }))
);

function ifaceOf(name: string) {
  const i = MODEL_IFACES.find((x) => x.name === name);
  if (!i) throw new Error(`no model interface ${name}`);
  return i;
}

function gatewayOf(cidr: string): string {
  return cidr.includes(":")
    ? cidr.replace(/::\d+\/\d+$/, "::1")
    : cidr.replace(/\.\d+\/\d+$/, ".1");
}

/** The network config of a case for the pod at `netns`, state in `stateDir`. */
function configOf(spec: ConfigSpec, netns: string, stateDir: string): Json {
  const names = spec.bothInPrev
    ? [spec.ifname, spec.ifname === "eth0" ? "net1" : "eth0"]
    : [spec.ifname];
  const ips: Json[] = [];
  names.forEach((name, index) => {
    const i = ifaceOf(name);
    ips.push({ address: i.v4, gateway: gatewayOf(i.v4), interface: index });
    if (spec.v6InPrev && i.v6) {
      ips.push({ address: i.v6, gateway: gatewayOf(i.v6), interface: index });
    }
  });
  const first = ifaceOf(spec.ifname);
  return strip({
    cniVersion: spec.cniVersion ?? "1.0.0",
    name: NETWORK,
    type: spec.type,
    stateDir,
    ...spec.top,
    args: spec.cni ? { cni: spec.cni } : undefined,
    prevResult: {
      cniVersion: "1.0.0",
      interfaces: names.map((name) => ({ name, sandbox: netns })),
      ips,
      routes: [{ dst: "0.0.0.0/0", gw: gatewayOf(first.v4) }],
      dns: {},
    },
  });
}

/** A key as the plugin sees it: `args.cni` wins over the top level. */
function effective(spec: ConfigSpec, key: string): unknown {
  return spec.cni && key in spec.cni ? spec.cni[key] : spec.top[key];
}

/**
 * The attachment's scope: the interfaces its routes may be on — CNI_IFNAME, prevResult's sandbox
 * interfaces, and the host route's interface when the host route is on.
 */
function scopeOf(spec: ConfigSpec): Set<string> {
  const scope = new Set([spec.ifname]);
  if (spec.bothInPrev) scope.add(spec.ifname === "eth0" ? "net1" : "eth0");
  const h = effective(spec, "hostRoute");
  if (spec.type === "seamless-static-route" && h && typeof h === "object") {
    const o = h as Json;
    if (o.enabled !== false && typeof o.interface === "string") scope.add(o.interface);
  }
  return scope;
}

/** The kernel identity of an addroute, as startKey computes it for start routes. */
function requestKey(r: Json): string {
  const dst = parseCidr(String(r.dst));
  if (!dst) return "";
  const p = typeof r.priority === "number" ? r.priority : 0;
  const metric = dst.family === 6 && p === 0 ? 1024 : p;
  return `${dst.family}|${r.table ?? 254}|${cidrText(networkOf(dst))}|${metric}`;
}

/** True when an addroute names the identity of a start route outside the attachment's scope. */
function clashesOutsideScope(c: Case): boolean {
  const scope = scopeOf(c.config);
  const adds = (effective(c.config, "addroutes") as Json[] | undefined) ?? [];
  const keys = new Set(adds.map(requestKey));
  return c.start.some((r) => {
    const devs = r.hops ? r.hops.map((h) => h.dev) : [r.dev];
    return keys.has(startKey(r)) && !devs.some((d) => scope.has(d));
  });
}

// ---------------------------------------------------------------------------------------------
// Faults

type Fault =
  | { kind: "none" }
  /** An addroute whose gateway is on no interface: the kernel refuses its batch line. */
  | { kind: "refuse"; at: number }
  /** Another writer adds `line` while ADD's write batch is pending. */
  | { kind: "writer"; line: string }
  /** A second ADD of the same attachment starts while the first's write batch is pending. */
  | { kind: "twin" }
  /** SIGKILL the ADD after `delayMs`, or (`midBatch`) while its write batch is pending. */
  | { kind: "kill"; delayMs: number; midBatch: boolean }
  /** The state file is corrupt: left before ADD, or put in place of ADD's after it succeeded. */
  | { kind: "corrupt"; how: "empty" | "garbage" | "hostile"; beforeAdd: boolean }
  /**
   * After ADD the pod adds look-alikes of the routes ADD added (same destination, gateway and
   * device, another metric, `proto bgp`) and deletes ADD's own (`dropOwn`): DEL, which does not
   * read the table, must delete no look-alike.
   */
  | { kind: "lookalikes"; dropOwn: boolean }
  /**
   * The pod goes without a DEL; a new pod gets its namespace name (and often its inode) and the
   * same ADD; then the gone pod's late DEL comes without CNI_NETNS.
   */
  | { kind: "reused" };

const faultArb: fc.Arbitrary<Fault> = fc.oneof(
  { weight: 5, arbitrary: fc.constant({ kind: "none" as const }) },
  { weight: 2, arbitrary: fc.nat(5).map((at) => ({ kind: "refuse" as const, at })) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      "route add 10.98.0.0/16 via 10.131.0.1 dev eth0",
      "route add fd00:98::/64 via fd00:10::1 dev eth0",
      "route add 10.60.0.0/16 via 10.131.1.200 dev eth0",
      "route add 10.62.0.0/16 via 10.133.0.1 dev net2",
    ).map((line) => ({ kind: "writer" as const, line })),
  },
  { weight: 1, arbitrary: fc.constant({ kind: "twin" as const }) },
  {
    weight: 1,
    arbitrary: fc.boolean().map((dropOwn) => ({ kind: "lookalikes" as const, dropOwn })),
  },
  {
    weight: 2,
    arbitrary: fc.record({ delayMs: fc.nat(300), midBatch: fc.boolean() })
      .map((k) => ({ kind: "kill" as const, ...k })),
  },
  { weight: 1, arbitrary: fc.constant({ kind: "reused" as const }) },
  {
    weight: 1,
    arbitrary: fc.record({
      how: fc.constantFrom("empty" as const, "garbage" as const, "hostile" as const),
      beforeAdd: fc.boolean(),
    }).map((k) => ({ kind: "corrupt" as const, ...k })),
  },
);

/** One generated case: everything needed to replay it. */
interface Case {
  start: StartRoute[];
  config: ConfigSpec;
  fault: Fault;
}

const caseArb: fc.Arbitrary<Case> = fc.record({
  start: startTableArb,
  config: configSpecArb,
  fault: faultArb,
}).map((c) => {
  if (c.fault.kind !== "refuse") return c;
  // The refused route goes into the addroutes the plugin will use, at a random position.
  const bad = { dst: "10.77.0.0/16", gw: "10.250.0.1" };
  const where = c.config.cni && "addroutes" in c.config.cni ? c.config.cni : c.config.top;
  const list = [...((where.addroutes as Json[] | undefined) ?? [])];
  list.splice(c.fault.at % (list.length + 1), 0, bad);
  const next = { ...where, addroutes: list };
  return {
    ...c,
    config: where === c.config.top ? { ...c.config, top: next } : { ...c.config, cni: next },
  };
});

// ---------------------------------------------------------------------------------------------
// The property

interface Shared {
  lab: Lab;
  bin: BinDir;
  stateDir: string;
  /** The plugin's TMPDIR: a temp file a SIGKILLed plugin left would stay here, not in /tmp. */
  tmpDir: string;
}

let caseNumber = 0;
const stats: Record<string, number> = {};

function count(what: string): void {
  stats[what] = (stats[what] ?? 0) + 1;
}

/** Lines of `b` not in `a` and of `a` not in `b`, for messages. */
function diff(a: string[], b: string[]): string {
  const gone = a.filter((l) => !b.includes(l)).map((l) => `- ${l}`);
  const came = b.filter((l) => !a.includes(l)).map((l) => `+ ${l}`);
  return [...gone, ...came].join("\n");
}

function assertTable(now: string[], want: string[], what: string, transcript: string[]): void {
  if (JSON.stringify(now) === JSON.stringify(want)) return;
  assert.fail(`${what}\n${diff(want, now)}\n--- transcript\n${transcript.join("\n")}`);
}

async function runCase(c: Case, shared: Shared): Promise<void> {
  fc.pre(WITH_OUT_OF_SCOPE_CLASH || !clashesOutsideScope(c));
  const { lab, bin, stateDir } = shared;
  const plugin = (env: Record<string, string>, cfg: Json) =>
    startPlugin(bin, lab.node, c.config.type, { TMPDIR: shared.tmpDir, ...env }, cfg);
  await using pod = await ModelPod.create();
  await using ip = await FaultyIp.create({ slowSeconds: 1 });
  const refused = await pod.batch(c.start.map(startLine), true);
  const start = await pod.settledTable();
  const id = `model${++caseNumber}`;
  const config = configOf(c.config, pod.netns, stateDir);
  const transcript: string[] = [`start table refused: ${refused || "nothing"}`];
  if (refused) count("start route refused");
  if (c.start.some((r) => r.hops)) count("multipath start");
  const path = statePath(stateDir, NETWORK, id, c.config.ifname);
  const call = async (command: string, cfg: Json = config, slow = false): Promise<PluginRun> => {
    const env = {
      CNI_COMMAND: command,
      CNI_CONTAINERID: id,
      CNI_NETNS: pod.netns,
      CNI_IFNAME: c.config.ifname,
      ...(slow ? { PATH: ip.path } : {}),
    };
    const r = await withTimeout(
      plugin(env, cfg).done,
      30_000,
      command,
    );
    transcript.push(`${command} → ${r.code}${r.signal ? ` ${r.signal}` : ""} ${r.stdout.trim()}`);
    if (r.stderr.trim()) transcript.push(`  stderr: ${r.stderr.trim().slice(0, 2000)}`);
    return r;
  };
  /** DEL exits 0, at most after one retry. */
  const del = async () => {
    let r = await call("DEL");
    if (r.code !== 0) r = await call("DEL");
    assert.equal(r.code, 0, `DEL failed twice\n${transcript.join("\n")}`);
    assert.equal(await exists(path), false, `DEL left the state file\n${transcript.join("\n")}`);
  };
  const scope = scopeOf(c.config);
  const outside = (lines: string[]) =>
    lines.filter((l) => routeDevs(l).length > 0 && !routeDevs(l).some((d) => scope.has(d)));
  /** CHECK with skipcheck off everywhere: the routes really are in place. */
  const check = async () => {
    const strict = structuredClone(config);
    delete strict.skipcheck;
    const cni = (strict.args as Json | undefined)?.cni as Json | undefined;
    if (cni) delete cni.skipcheck;
    const r = await call("CHECK", strict);
    // A route another writer added after ADD read the table may be one the config says must be
    // absent (a delroute's dst): CHECK is right to report it, and only it.
    const writerDst = c.fault.kind === "writer" ? c.fault.line.split(" ")[2] : undefined;
    if (
      r.code !== 0 && writerDst && r.json?.code === 101 && String(r.json.msg).includes(writerDst)
    ) {
      count("CHECK reported the concurrent writer's route");
      return;
    }
    assert.equal(r.code, 0, `CHECK failed after a successful ADD\n${transcript.join("\n")}`);
  };

  /** Writes a corrupt record at the attachment's state path. */
  const corruptState = async (how: "empty" | "garbage" | "hostile") => {
    const text = how === "empty" ? "" : how === "garbage" ? '{"version":1,[' : JSON.stringify({
      version: 1,
      network: NETWORK,
      containerId: id,
      ifname: c.config.ifname,
      netns: pod.netns,
      added: [{ family: 4, dst: "0.0.0.0/0", table: "main", metric: "0\nroute flush table all" }],
      deleted: [],
    });
    await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true, mode: 0o700 });
    await Deno.writeTextFile(path, text, { mode: 0o600 });
  };

  if (c.fault.kind === "kill") {
    const run = plugin({
      CNI_COMMAND: "ADD",
      CNI_CONTAINERID: id,
      CNI_NETNS: pod.netns,
      CNI_IFNAME: c.config.ifname,
      ...(c.fault.midBatch ? { PATH: ip.path } : {}),
    }, config);
    let finished = false;
    run.done.then(() => finished = true, () => finished = true);
    if (c.fault.midBatch) {
      while (!finished && !(await ip.has("started.1"))) await sleep(10);
    } else await sleep(c.fault.delayMs);
    try {
      Deno.kill(run.pid, "SIGKILL");
    } catch { /* it ended first */ }
    const r = await run.done;
    transcript.push(`ADD (SIGKILL) → ${r.code} ${r.signal ?? ""} ${r.stdout.trim()}`);
    count(r.signal === "SIGKILL" ? "killed" : "kill came late");
    await del();
    assertTable(
      await pod.table(),
      start,
      "DEL after a killed ADD: not the start table",
      transcript,
    );
    return;
  }

  if (c.fault.kind === "twin") {
    const first = call("ADD", config, true);
    let finished = false;
    first.then(() => finished = true, () => finished = true);
    while (!finished && !(await ip.has("started.1"))) await sleep(10);
    const second = await call("ADD");
    const one = await first;
    count(`twin ADDs ${one.code}/${second.code}`);
    if (one.code === 0 && second.code === 0) await check();
    await del();
    assertTable(await pod.table(), start, "two ADDs + DEL: not the start table", transcript);
    return;
  }

  let others = start;
  let add: PluginRun;
  if (c.fault.kind === "writer") {
    const pending = call("ADD", config, true);
    let finished = false;
    pending.then(() => finished = true, () => finished = true);
    while (!finished && !(await ip.has("started.1"))) await sleep(10);
    if (!finished) {
      transcript.push(`writer: ${c.fault.line} ${await pod.batch([c.fault.line], true)}`);
      others = await pod.table();
    }
    add = await pending;
  } else {
    if (c.fault.kind === "corrupt" && c.fault.beforeAdd) await corruptState(c.fault.how);
    add = await call("ADD");
  }
  const leftover = c.fault.kind === "corrupt" && c.fault.beforeAdd;
  const afterAdd = await pod.table();
  assertTable(
    outside(afterAdd),
    outside(others),
    `ADD changed a route outside the scope ${[...scope].join(",")}`,
    transcript,
  );
  if (add.code !== 0) {
    count(`ADD failed (code ${add.json?.code})`);
    assert.ok(isCniError(add.json), `not a CNI error: ${add.stdout}`);
    assert.notEqual(add.json.code, 199, add.stdout);
    assertTable(afterAdd, others, "failed ADD: not the start table (+ others' routes)", transcript);
    if (!leftover) assert.equal(await exists(path), false, "failed ADD left a state file");
    await del(); // as a runtime does after a failed ADD
    assertTable(await pod.table(), others, "DEL after a failed ADD changed the table", transcript);
    return;
  }
  count(`ADD ok (${c.fault.kind})`);
  // The result lists what is in the table (class 7), as a reference plugin's CHECK reads it.
  const problems = resultProblems(
    (add.json?.routes ?? []) as ResultRoute[],
    ((config.prevResult as Json).routes ?? []) as ResultRoute[],
    await pod.routes(),
    (cidr) => {
      const p = parseCidr(cidr);
      return p ? cidrText(networkOf(p)) : cidr;
    },
    c.config.cniVersion === "1.1.0",
  );
  assert.deepEqual(problems, [], `the result is not the table\n${transcript.join("\n")}`);
  await check();
  if (c.fault.kind === "corrupt" && !c.fault.beforeAdd) {
    await corruptState(c.fault.how);
    await del();
    // Nothing can be attributed to the attachment: no route changes.
    assertTable(
      await pod.table(),
      afterAdd,
      "DEL with a corrupt state file changed routes",
      transcript,
    );
    return;
  }
  if (c.fault.kind === "lookalikes") {
    // The pod's own routes, added after ADD: they must survive DEL, whatever it finds.
    const taken = new Set(others.map((l) => routeKeyOf(JSON.parse(l) as KernelRoute, 0)));
    const added = afterAdd.filter((l) => !others.includes(l)).map((l) => JSON.parse(l));
    const lines: string[] = [];
    const drops: string[] = [];
    for (const r of added as KernelRoute[]) {
      if (typeof r.gateway !== "string" || typeof r.dev !== "string" || r.nexthops) continue;
      if (taken.has(routeKeyOf(r, 5))) continue; // would hold the place of a route to restore
      const where = `${kernelDstOf(r)} via ${r.gateway} dev ${r.dev} table ${r.table ?? "main"}`;
      lines.push(`route add ${where} metric ${Number(r.metric ?? 0) + 5} proto bgp`);
      drops.push(`route del ${where} metric ${Number(r.metric ?? 0)}`);
    }
    if (c.fault.dropOwn) transcript.push(`pod drops: ${await pod.batch(drops, true)}`);
    transcript.push(`pod adds: ${lines.join("; ")} ${await pod.batch(lines, true)}`);
    const withPod = await pod.table();
    const pods = withPod.filter((l) => !afterAdd.includes(l));
    await del();
    assertTable(
      await pod.table(),
      [...others, ...pods].sort(),
      "DEL changed a route the pod added after ADD",
      transcript,
    );
    return;
  }
  if (c.fault.kind === "reused") {
    // The pod went without a DEL; a new one at the same name gets the same start and ADD.
    const sameInode = await pod.renew();
    count(`reused namespace (same inode: ${sameInode})`);
    await pod.batch(c.start.map(startLine), true);
    const fresh = await pod.settledTable();
    const env = { CNI_NETNS: pod.netns, CNI_IFNAME: c.config.ifname };
    const other = await withTimeout(
      plugin({ ...env, CNI_COMMAND: "ADD", CNI_CONTAINERID: `${id}b` }, config).done,
      30_000,
      "the new pod's ADD",
    );
    transcript.push(`new pod ADD → ${other.code} ${other.stdout.trim()}`);
    if (other.code !== 0) return; // its start differs from the first (a refused start line)
    const newPod = await pod.table();
    // The gone pod's late DEL, without CNI_NETNS: the new pod's table stays as it is.
    const late = await withTimeout(
      plugin({ CNI_COMMAND: "DEL", CNI_CONTAINERID: id, CNI_IFNAME: c.config.ifname }, config)
        .done,
      30_000,
      "late DEL",
    );
    transcript.push(`late DEL → ${late.code} ${late.stdout.trim()}`);
    assert.equal(late.code, 0, `late DEL failed\n${transcript.join("\n")}`);
    assertTable(await pod.table(), newPod, "a late DEL changed a new pod's routes", transcript);
    assert.equal(await exists(path), false, "the late DEL left the state file");
    const own = await withTimeout(
      plugin({ ...env, CNI_COMMAND: "DEL", CNI_CONTAINERID: `${id}b` }, config).done,
      30_000,
      "the new pod's DEL",
    );
    assert.equal(own.code, 0, own.stdout);
    assertTable(await pod.table(), fresh, "the new pod's DEL: not its start table", transcript);
    return;
  }
  await del();
  assertTable(await pod.table(), others, "ADD + DEL: not the start table", transcript);
  // containerd's second DEL, without CNI_NETNS: exit 0, nothing changes.
  const again = await withTimeout(
    plugin({
      CNI_COMMAND: "DEL",
      CNI_CONTAINERID: id,
      CNI_IFNAME: c.config.ifname,
    }, config).done,
    30_000,
    "second DEL",
  );
  assert.equal(again.code, 0, `second DEL without CNI_NETNS: ${again.stdout}`);
  assertTable(await pod.table(), others, "a second DEL changed the table", transcript);
}

/** A kernel route's destination as `ip route add` takes it ("default" as a family's /0). */
function kernelDstOf(r: KernelRoute): string {
  const dst = String(r.dst);
  if (dst !== "default") return dst;
  return typeof r.gateway === "string" && r.gateway.includes(":") ? "::/0" : "0.0.0.0/0";
}

/** A route's identity (destination, table, metric + `plus`) as text. */
function routeKeyOf(r: KernelRoute, plus: number): string {
  return `${kernelDstOf(r)}|${r.table ?? "main"}|${Number(r.metric ?? 0) + plus}`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

Deno.test({
  name: `proof: model — random pod tables × configs × faults against the kernel (${RUNS} cases)`,
  ignore: !IS_ROOT,
  fn: async () => {
    await using lab = await Lab.create({ nodeAddress6: "fd00:100::10/64" });
    await using _names = WITH_RT_TABLE_NAMES
      ? await privateTableNames(lab.node, { 100: "blue" })
      : null;
    await using bin = await BinDir.create();
    await using tmp = await TempDir.create("ssr-model-");
    await using tmpDir = await TempDir.create("ssr-model-tmp-");
    const shared: Shared = { lab, bin, stateDir: tmp.path, tmpDir: tmpDir.path };
    const t0 = performance.now();
    const out = await fc.check(fc.asyncProperty(caseArb, (c) => runCase(c, shared)), {
      numRuns: RUNS,
      seed: SEED,
      ...(PATH ? { path: PATH } : {}),
      interruptAfterTimeLimit: 100_000,
    });
    const secs = ((performance.now() - t0) / 1000).toFixed(1);
    console.log(
      `model: seed ${SEED}, ${out.numRuns} cases in ${secs} s; runs incl. shrinking: ${
        JSON.stringify(stats)
      }`,
    );
    if (out.failed) {
      const replay = `MODEL_SEED=${out.seed} MODEL_PATH=${out.counterexamplePath} deno test ` +
        "--frozen --cached-only --allow-all --no-prompt tests/proof/model.test.ts";
      const error = out.errorInstance instanceof Error
        ? out.errorInstance.message
        : String(out.errorInstance);
      assert.fail(
        `counterexample after ${out.numShrinks} shrinks:\n` +
          `${JSON.stringify(out.counterexample?.[0], null, 1)}\n` +
          `start table lines:\n${
            (out.counterexample?.[0]?.start ?? []).map(startLine).join("\n")
          }\n` +
          `replay: ${replay}\n${error}`,
      );
    }
    assert.ok(!out.interrupted || out.numRuns >= 10, `only ${out.numRuns} cases in the time limit`);
  },
});
