/**
 * The route model shared by planning and `ip`: a normalized kernel route, how `ip -j` output
 * becomes one, and how one becomes the tokens of an `ip route add|del|prepend|append` batch line.
 */
import { cidrFamily, type Family, ipFamily, kernelAddress, kernelDst, parseIp } from "./address.ts";
import { isValidIfname } from "./validate.ts";

/** One nexthop of a multipath route. */
export interface Nexthop {
  /** The next hop's address; of the other family for `via inet6` (an IPv4 route). */
  gateway?: string;
  dev?: string;
  weight?: number;
  /** `onlink` on this hop: its gateway is taken as on the link, unchecked. */
  onlink?: boolean;
}

/** A route in canonical form; kernel routes have every field, planned routes the ones they set. */
export interface Route {
  family: Family;
  /** Canonical network CIDR, e.g. "10.0.0.0/24", "0.0.0.0/0", "fd00::1/128". */
  dst: string;
  gateway?: string;
  dev?: string;
  /** "main", "local", "default" or a number as text. */
  table: string;
  /** Kernel metric (CNI "priority"); 0 is the IPv4 default, 1024 the IPv6 one. */
  metric: number;
  /** IPv4 type of service (DS field), 1-255: part of the route's identity, as the metric is. */
  tos?: number;
  type?: string;
  protocol?: string;
  scope?: string;
  prefsrc?: string;
  mtu?: number;
  advmss?: number;
  onlink?: boolean;
  nexthops?: Nexthop[];
  // Attributes a deleted route is restored with (as `ip -j -d` prints them).
  initcwnd?: number;
  initrwnd?: number;
  /** Milliseconds. */
  rtt?: number;
  /** Milliseconds. */
  rttvar?: number;
  hoplimit?: number;
  window?: number;
  quickack?: number;
  fastopenNoCookie?: number;
  ssthresh?: number;
  cwnd?: number;
  reordering?: number;
  /** Milliseconds. */
  rtoMin?: number;
  /** `features ecn`: ECN asked for on connections over this route. */
  ecn?: boolean;
  congctl?: string;
  realm?: number;
  /** IPv6 router preference: "low" or "high" ("medium", the default, is not stored). */
  pref?: string;
  /**
   * Only on a deleted route (a record's `deleted`), when other routes shared its key (routeKey)
   * in the table ADD read: "first" when it came before them (the one the kernel's lookup found),
   * "after" when another came before it. It is restored with `ip route prepend` or `append`
   * where a plain `add` would collide with them; absent, with `add`.
   */
  place?: RoutePlace;
  /**
   * Only on routes read from the kernel: what the plugin could not restore if it deleted this
   * route (e.g. an encap or a per-hop flag). The planner refuses to delete such a route.
   */
  unrestorable?: string;
}

/** The most next hops a multipath route may have here (the kernel's own limit is far higher). */
export const MAX_NEXTHOPS = 32;

/** Where a deleted route stood among the routes of its key: see `Route.place`. */
export type RoutePlace = "first" | "after";

const PLACES: ReadonlySet<string> = new Set<RoutePlace>(["first", "after"]);

/**
 * What an op does to its route: `add` (exclusive: refused when the key is held), `del`, or, to
 * restore a route that shared its key with others, `prepend` (before them) or `append` (after).
 */
export type RouteAction = "add" | "del" | "prepend" | "append";

const ACTIONS: ReadonlySet<string> = new Set<RouteAction>(["add", "del", "prepend", "append"]);

/** A planned change: add or delete one route, with why (shown by `--dry-run` and the log). */
export interface RouteOp {
  action: RouteAction;
  route: Route;
  reason: string;
}

/**
 * The op that puts a deleted route back: `prepend` when it was first of the routes sharing its
 * key, `append` when it came after one, else a plain `add`.
 */
export function restoreOp(route: Route, reason: string): RouteOp {
  const action: RouteAction = route.place === "first"
    ? "prepend"
    : route.place === "after"
    ? "append"
    : "add";
  return { action, route, reason };
}

/** The metric the kernel gives a route added without one. */
export function defaultMetric(family: Family): number {
  return family === 4 ? 0 : 1024;
}

const TABLE_NAMES: Record<string, string> = { "254": "main", "255": "local", "253": "default" };

const SCOPE_NAMES: Record<number, string> = { 0: "global", 200: "site", 253: "link", 254: "host" };

/** A scope number in the form `ip -j` prints it ("link" for 253). */
export function scopeName(scope: number): string {
  return SCOPE_NAMES[scope] ?? String(scope);
}

/** A table number or name in the form `ip -j` prints it ("main" for 254). */
export function tableName(table: number | string | undefined): string {
  if (table === undefined) return "main";
  const text = String(table);
  return TABLE_NAMES[text] ?? text;
}

/** The kernel metric of a CNI priority: IPv6 stores 0 as 1024. */
export function kernelMetric(family: Family, priority: number | undefined): number {
  if (priority === undefined) return defaultMetric(family);
  return family === 6 && priority === 0 ? 1024 : priority;
}

/** The identity of a route in the kernel: family, table, destination, metric (and IPv4 tos). */
export function routeKey(r: Route): string {
  const key = `${r.family}|${r.table}|${r.dst}|${r.metric}`;
  return r.tos ? `${key}|tos ${r.tos}` : key;
}

/** True when a route is multipath (has a nexthop list). */
export function isMultipath(r: Route): boolean {
  return r.nexthops !== undefined && r.nexthops.length > 0;
}

/** The next hops' addresses of a route, sorted: its next-hop set (order does not matter). */
export function nexthopSet(r: Route): string[] {
  const hops = isMultipath(r) ? (r.nexthops ?? []).map((h) => h.gateway ?? "") : [];
  return hops.sort();
}

/** Every device a route uses (its own and its next hops'). */
export function routeDevs(r: Route): string[] {
  const devs = [r.dev, ...(r.nexthops ?? []).map((h) => h.dev)];
  return devs.filter((d): d is string => d !== undefined);
}

function hopsMatch(want: Nexthop[], have: Nexthop[]): boolean {
  if (want.length !== have.length) return false;
  const key = (h: Nexthop) => `${h.gateway ?? ""}|${h.dev ?? ""}`;
  const left = new Map(have.map((h) => [key(h), h]));
  return want.every((w) => {
    const h = left.get(key(w)) ??
      (w.dev === undefined ? have.find((x) => (x.gateway ?? "") === (w.gateway ?? "")) : undefined);
    return h !== undefined && (w.weight === undefined || (h.weight ?? 1) === w.weight);
  });
}

/**
 * True when `have` is the route `want` describes: same key, and the same gateway and device, or
 * for a multipath route the same next-hop set (gateway and device per hop, in any order, weights
 * when `want` sets them).
 */
export function sameRoute(want: Route, have: Route): boolean {
  return routeKey(want) === routeKey(have) && samePath(want, have);
}

/**
 * `sameRoute` for two routes already known to share their key (e.g. found under it in an index):
 * the same gateway and device, or the same next-hop set.
 */
export function samePath(want: Route, have: Route): boolean {
  if (isMultipath(want) || isMultipath(have)) {
    return isMultipath(want) && isMultipath(have) &&
      hopsMatch(want.nexthops ?? [], have.nexthops ?? []);
  }
  return (want.gateway ?? "") === (have.gateway ?? "") &&
    (want.dev === undefined || want.dev === have.dev);
}

/** The route attributes a CNI route may ask for (CNI 1.1), compared only where asked. */
export type AskedAttribute = "mtu" | "advmss" | "scope";

/**
 * How `have` differs from `want` in the attributes `asked` for, e.g. `mtu none (want 1400)`;
 * null when it does not. IPv6 routes keep no scope in the kernel: it is not compared for them.
 */
export function attributeDifference(
  want: Route,
  have: Route,
  asked: readonly AskedAttribute[],
): string | null {
  if (asked.length === 0) return null;
  const diffs: string[] = [];
  for (const k of asked) {
    if (k === "scope" && want.family === 6) continue;
    const w = want[k];
    const h = have[k] ?? (k === "scope" ? "global" : undefined);
    if (w !== undefined && w !== h) diffs.push(`${k} ${h ?? "none"} (want ${w})`);
  }
  return diffs.length > 0 ? diffs.join(", ") : null;
}

/** A route for logs and messages: `10.0.0.0/24 via 10.0.0.1 dev eth0 table 100`. */
export function describeRoute(r: Route): string {
  const parts = [r.dst];
  if (r.tos) parts.push(`tos ${tosText(r.tos)}`);
  if (r.gateway) parts.push(`via ${r.gateway}`);
  if (r.dev) parts.push(`dev ${r.dev}`);
  if (r.table !== "main") parts.push(`table ${r.table}`);
  if (r.metric !== defaultMetric(r.family)) parts.push(`metric ${r.metric}`);
  for (const h of r.nexthops ?? []) {
    parts.push("nexthop");
    if (h.gateway) parts.push(`via ${h.gateway}`);
    if (h.dev) parts.push(`dev ${h.dev}`);
    if (h.weight !== undefined && h.weight !== 1) parts.push(`weight ${h.weight}`);
  }
  return parts.join(" ");
}

// A token that `ip -batch` reads as exactly one word: no blanks, quotes, `#` or control chars.
const SAFE_TOKEN = /^[A-Za-z0-9_.:\/@+\-]+$/;

function token(value: string, what: string): string {
  if (typeof value !== "string" || !SAFE_TOKEN.test(value)) {
    throw new Error(`unsafe ${what} for ip: ${JSON.stringify(value)}`);
  }
  return value;
}

function invalid(what: string, value: string): Error {
  return new Error(`invalid ${what} for ip: ${JSON.stringify(value)}`);
}

// An address or CIDR `address.ts` accepts is one safe token: hex digits, `.`, `:` and `/` only.
function cidrToken(value: string, family: Family): string {
  if (typeof value !== "string" || cidrFamily(value) !== family) {
    throw invalid("destination", String(value));
  }
  return value;
}

function ipToken(value: string, what: string): string {
  if (typeof value !== "string" || ipFamily(value) === null) throw invalid(what, String(value));
  return value;
}

function devToken(value: string): string {
  if (typeof value !== "string" || !isValidIfname(value)) throw invalid("device", String(value));
  return value;
}

/** Inclusive ranges of the numbers a batch line may carry (the kernel's own limits). */
const NUMBER_RANGES = {
  metric: [0, 4294967295],
  mtu: [0, 4294967295],
  advmss: [0, 4294967295],
  weight: [1, 256],
  initcwnd: [0, 4294967295],
  initrwnd: [0, 4294967295],
  rtt: [0, 4294967],
  rttvar: [0, 4294967],
  hoplimit: [0, 255],
  window: [0, 4294967295],
  quickack: [0, 1],
  realm: [0, 255],
  fastopen_no_cookie: [0, 1],
  ssthresh: [0, 4294967295],
  cwnd: [0, 4294967295],
  reordering: [0, 4294967295],
  rto_min: [0, 4294967295],
  tos: [1, 255],
} as const;

/** The route attributes restored as `NAME VALUE` (rtt and rttvar in ms), in batch-line order. */
const NUMBER_ATTRS = [
  "initcwnd",
  "initrwnd",
  "rtt",
  "rttvar",
  "hoplimit",
  "window",
  "quickack",
  "realm",
  "ssthresh",
  "cwnd",
  "reordering",
] as const;

/** Attributes whose Route field and `ip` word differ: [field, word as `ip -j` and `ip` spell it]. */
const RENAMED_ATTRS = [
  ["fastopenNoCookie", "fastopen_no_cookie"],
  ["rtoMin", "rto_min"],
] as const;

/** The `tos` of a batch line: hex, as `ip` reads it (rtnl_dsfield_a2n parses base 16). */
function tosText(tos: number): string {
  return `0x${tos.toString(16).padStart(2, "0")}`;
}

const PREFS: ReadonlySet<string> = new Set(["low", "medium", "high"]);
const CONGCTL = /^[a-z][a-z0-9_]{0,15}$/;

// A number field, whatever its source, as the decimal text of an integer in its range: a string
// or a float smuggled in through a state file never reaches ip.
function numToken(value: unknown, what: keyof typeof NUMBER_RANGES): string {
  const range = NUMBER_RANGES[what];
  const min = range[0], max = range[1];
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw new Error(
      `invalid ${what} for ip: ${JSON.stringify(value)} (a whole number ${min}-${max})`,
    );
  }
  return String(value);
}

function str(v: unknown): string | undefined {
  return typeof v === "string" ? v : undefined;
}

function num(v: unknown): number | undefined {
  return typeof v === "number" && Number.isFinite(v) ? v : undefined;
}

const TYPE_NAMES: Record<string, string> = {
  "1": "unicast",
  "2": "local",
  "3": "broadcast",
  "4": "anycast",
  "5": "multicast",
  "6": "blackhole",
  "7": "unreachable",
  "8": "prohibit",
  "9": "throw",
  "10": "nat",
};
const PROTOCOL_NAMES: Record<string, string> = { "2": "kernel", "3": "boot", "4": "static" };

/** The top-level keys of `ip -j -d -N route` the plugin reads (and so can restore). */
const KNOWN_JSON_KEYS: ReadonlySet<string> = new Set([
  "type",
  "dst",
  "gateway",
  "via",
  "dev",
  "table",
  "protocol",
  "scope",
  "metric",
  "flags",
  "prefsrc",
  "pref",
  "flow",
  "tos",
  "metrics",
  "nexthops",
  // The remaining lifetime of a route learned from a router advertisement: not restorable (a
  // restored RA route is permanent until the next advertisement replaces it), but refusing to
  // flush every SLAAC default route would break route-override's common use.
  "expires",
]);
const KNOWN_HOP_KEYS: ReadonlySet<string> = new Set(["gateway", "via", "dev", "weight", "flags"]);
/** Flags that only report state (not restored, not needed to restore). */
const STATE_FLAGS: ReadonlySet<string> = new Set(["linkdown", "dead", "offload", "trap"]);

// A gateway as `ip -j` prints it: "gateway", or "via": {"family": "inet6", "host": ...}.
function gatewayOf(rec: Record<string, unknown>, family: Family): string | undefined {
  const gw = str(rec.gateway);
  if (gw) return kernelAddress(gw, family) ?? parseIp(gw)?.address ?? gw;
  if (rec.via && typeof rec.via === "object") {
    const via = rec.via as Record<string, unknown>;
    const host = str(via.host);
    const fam: Family | undefined = via.family === "inet6"
      ? 6
      : via.family === "inet"
      ? 4
      : undefined;
    if (host && fam) return parseIp(host)?.family === fam ? (parseIp(host)?.address ?? host) : host;
  }
  return undefined;
}

/**
 * Turns one element of `ip -j -d -N route show` output into a Route, tables, types, protocols
 * and scopes compared by number (so a table named in rt_tables is still "100"); null when it
 * can't be read. What it cannot restore is named in `unrestorable`.
 */
export function routeFromJson(raw: Record<string, unknown>, family: Family): Route | null {
  const dst = kernelDst(str(raw.dst) ?? "", family);
  if (!dst || dst.family !== family) return null;
  const type = str(raw.type) ?? "unicast";
  const protocol = str(raw.protocol) ?? "boot";
  const scope = str(raw.scope) ?? "global";
  const r: Route = {
    family,
    dst: `${dst.address}/${dst.prefix}`,
    table: tableName(str(raw.table)),
    metric: num(raw.metric) ?? 0,
    type: TYPE_NAMES[type] ?? type,
    protocol: PROTOCOL_NAMES[protocol] ?? protocol,
    scope: /^\d+$/.test(scope) ? scopeName(Number(scope)) : scope,
  };
  const lost: string[] = Object.keys(raw).filter((k) => !KNOWN_JSON_KEYS.has(k));
  const gw = gatewayOf(raw, family);
  if (gw) r.gateway = gw;
  const dev = str(raw.dev);
  if (dev) r.dev = dev;
  const prefsrc = str(raw.prefsrc);
  if (prefsrc) r.prefsrc = prefsrc;
  const flags = Array.isArray(raw.flags) ? raw.flags : [];
  for (const f of flags) {
    if (f === "onlink") r.onlink = true;
    else if (!STATE_FLAGS.has(String(f))) lost.push(`flag ${f}`);
  }
  const pref = str(raw.pref);
  if (pref && pref !== "medium") r.pref = pref;
  if (raw.tos !== undefined) {
    // `ip -N` prints the DS field as "0x10" (or a decimal, from older versions).
    const text = str(raw.tos) ?? String(raw.tos);
    const tos = /^0x[0-9a-f]{1,2}$/i.test(text)
      ? parseInt(text, 16)
      : /^\d{1,3}$/.test(text)
      ? Number(text)
      : NaN;
    if (family === 4 && tos >= 0 && tos <= 255) {
      if (tos > 0) r.tos = tos;
    } else lost.push(`tos ${text}`);
  }
  if (raw.flow && typeof raw.flow === "object") {
    const flow = raw.flow as Record<string, unknown>;
    const to = Number(str(flow.to) ?? flow.to);
    if (Number.isInteger(to) && Object.keys(flow).length === 1) r.realm = to;
    else lost.push(`realms ${JSON.stringify(flow)}`);
  }
  if (Array.isArray(raw.metrics)) {
    for (const m of raw.metrics) {
      if (!m || typeof m !== "object") continue;
      for (const [k, v] of Object.entries(m as Record<string, unknown>)) {
        const n = num(v);
        const renamed = RENAMED_ATTRS.find(([, word]) => word === k);
        if (k === "congestion" && typeof v === "string") r.congctl = v;
        else if (k === "ecn" && v === null) r.ecn = true;
        else if ((k === "mtu" || k === "advmss") && n !== undefined) r[k] = n;
        else if (renamed && n !== undefined) r[renamed[0]] = n;
        else if ((NUMBER_ATTRS as readonly string[]).includes(k) && n !== undefined) {
          r[k as (typeof NUMBER_ATTRS)[number]] = n;
        } else lost.push(`metric ${k}`);
      }
    }
  }
  if (Array.isArray(raw.nexthops)) {
    r.nexthops = raw.nexthops.filter((n) => n && typeof n === "object").map((n) => {
      const rec = n as Record<string, unknown>;
      lost.push(
        ...Object.keys(rec).filter((k) => !KNOWN_HOP_KEYS.has(k)).map((k) => `nexthop ${k}`),
      );
      const hop: Nexthop = {};
      for (const f of Array.isArray(rec.flags) ? rec.flags : []) {
        if (f === "onlink") hop.onlink = true;
        else if (!STATE_FLAGS.has(String(f))) lost.push(`nexthop flag ${f}`);
      }
      const gateway = gatewayOf(rec, family);
      if (gateway) hop.gateway = gateway;
      const dev = str(rec.dev);
      if (dev) hop.dev = dev;
      const weight = num(rec.weight);
      if (weight !== undefined) hop.weight = weight;
      return hop;
    });
  }
  if (lost.length > 0) r.unrestorable = lost.join(", ");
  return r;
}

/**
 * The tokens of the `ip` command for an operation, e.g.
 * `["route", "add", "10.0.0.1/32", "via", "10.131.0.1", "dev", "eth0"]`. This is where every value
 * is validated before it reaches `ip`, whether it came from the config, the kernel or a state file:
 * addresses and CIDRs strictly (address.ts), devices as interface names, every other word as one safe
 * token, so no value can add a command to an `ip -batch` stream.
 */
export function routeOpArgs(op: RouteOp): string[] {
  const r = op.route;
  if (typeof op.action !== "string" || !ACTIONS.has(op.action)) {
    throw invalid("route action", String(op.action));
  }
  if (r.place !== undefined && !PLACES.has(r.place)) throw invalid("place", String(r.place));
  const adds = op.action !== "del";
  // The family follows from the destination (always a full CIDR): `ip -batch` lines take no -4/-6.
  const args: string[] = [];
  args.push("route", op.action);
  if (r.type && r.type !== "unicast") args.push(token(r.type, "route type"));
  args.push(cidrToken(r.dst, r.family));
  // The tos is part of the route's identity: a delete without it removes the tos-0 route.
  if (r.tos !== undefined) {
    if (r.family !== 4) throw invalid("tos", String(r.tos));
    args.push("tos", tosText(Number(numToken(r.tos, "tos"))));
  }
  const multipath = r.nexthops !== undefined && r.nexthops.length > 0;
  if (!multipath) {
    if (r.gateway) via(args, r.gateway, r.family);
    if (r.dev) args.push("dev", devToken(r.dev));
  }
  // Route-wide options come before the nexthops: `ip` refuses them after.
  if (r.table !== "main") args.push("table", token(r.table, "table"));
  // A delete names the metric always (it is part of the route's identity); an add only when it
  // differs from the kernel's default, to keep printed commands readable.
  if (!adds || r.metric !== defaultMetric(r.family)) {
    args.push("metric", numToken(r.metric, "metric"));
  }
  if (r.protocol && r.protocol !== "boot") args.push("proto", token(r.protocol, "protocol"));
  if (adds) {
    // ip gives an IPv4 route without a gateway scope link: a global one (route-override's on-link
    // routes, a restored kernel route) must say so.
    const globalOnLink = r.family === 4 && r.scope === "global" && !r.gateway && !multipath &&
      (r.type ?? "unicast") === "unicast";
    if (
      globalOnLink ||
      (r.scope && r.scope !== "global" && !(r.scope === "link" && !r.gateway && !multipath))
    ) {
      args.push("scope", token(r.scope ?? "global", "scope"));
    }
    if (r.prefsrc) args.push("src", ipToken(r.prefsrc, "source"));
    if (r.mtu !== undefined) args.push("mtu", numToken(r.mtu, "mtu"));
    if (r.advmss !== undefined) args.push("advmss", numToken(r.advmss, "advmss"));
    for (let i = 0; i < NUMBER_ATTRS.length; i++) {
      const k = NUMBER_ATTRS[i]!;
      if (r[k] === undefined) continue;
      const n = numToken(r[k], k);
      args.push(k, k === "rtt" || k === "rttvar" ? `${n}ms` : n);
    }
    for (let i = 0; i < RENAMED_ATTRS.length; i++) {
      const field = RENAMED_ATTRS[i]![0], word = RENAMED_ATTRS[i]![1];
      if (r[field] === undefined) continue;
      const n = numToken(r[field], word);
      args.push(word, field === "rtoMin" ? `${n}ms` : n);
    }
    if (r.ecn !== undefined) {
      if (r.ecn !== true) throw invalid("features", String(r.ecn));
      args.push("features", "ecn");
    }
    if (r.congctl !== undefined) {
      if (typeof r.congctl !== "string" || !CONGCTL.test(r.congctl)) {
        throw invalid("congctl", String(r.congctl));
      }
      args.push("congctl", r.congctl);
    }
    if (r.pref !== undefined) {
      if (r.family !== 6 || !PREFS.has(r.pref)) throw invalid("pref", String(r.pref));
      args.push("pref", r.pref);
    }
    if (r.onlink) args.push("onlink");
  }
  if (multipath) {
    if ((r.nexthops ?? []).length > MAX_NEXTHOPS) {
      throw new Error(`too many nexthops for ip: ${r.nexthops?.length} (at most ${MAX_NEXTHOPS})`);
    }
    for (const hop of r.nexthops ?? []) {
      args.push("nexthop");
      if (hop.gateway) via(args, hop.gateway, r.family);
      if (hop.dev) args.push("dev", devToken(hop.dev));
      if (hop.weight !== undefined) args.push("weight", numToken(hop.weight, "weight"));
      if (hop.onlink !== undefined) {
        if (hop.onlink !== true) throw invalid("nexthop onlink", String(hop.onlink));
        args.push("onlink");
      }
    }
  }
  return args;
}

// Pushes `via ADDR`, or `via inet6 ADDR` for an IPv4 route through an IPv6 next hop.
function via(args: string[], gateway: string, family: Family): void {
  const gwFamily = typeof gateway === "string" ? ipFamily(gateway) : null;
  if (gwFamily === null || (gwFamily !== family && !(family === 4 && gwFamily === 6))) {
    throw invalid("gateway", String(gateway));
  }
  if (gwFamily === family) args.push("via", gateway);
  else args.push("via", "inet6", gateway);
}

const ROUTE_KEYS: ReadonlySet<string> = new Set([
  "family",
  "dst",
  "gateway",
  "dev",
  "table",
  "metric",
  "tos",
  "type",
  "protocol",
  "scope",
  "prefsrc",
  "mtu",
  "advmss",
  "onlink",
  "nexthops",
  ...NUMBER_ATTRS,
  ...RENAMED_ATTRS.map(([field]) => field),
  "ecn",
  "congctl",
  "pref",
  "place",
]);
const NEXTHOP_KEYS: ReadonlySet<string> = new Set(["gateway", "dev", "weight", "onlink"]);

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * A Route read back from an untrusted source (the state file): every key known, every field of
 * its type, and the whole route accepted by `routeOpArgs` for both add and del, so nothing read
 * back can reach `ip` unless it is a well-formed route. Throws an Error saying what is wrong.
 */
export function routeFromRecord(v: unknown): Route {
  if (!isRecord(v)) throw new Error("a route must be an object");
  for (const k in v) {
    if (!ROUTE_KEYS.has(k)) throw new Error(`unknown route field ${JSON.stringify(k)}`);
  }
  if (v.family !== 4 && v.family !== 6) {
    throw new Error(`invalid family ${JSON.stringify(v.family)}`);
  }
  for (let i = 0; i < RECORD_FIELDS.length; i++) {
    const field = RECORD_FIELDS[i]!;
    const k = field[0], type = field[1];
    if (!field[2] && v[k] === undefined) continue;
    const actual: string = typeof v[k];
    if (actual !== type) throw new Error(`route field ${k} must be a ${type}`);
  }
  if (v.nexthops !== undefined) {
    if (!Array.isArray(v.nexthops) || v.nexthops.length > MAX_NEXTHOPS) {
      throw new Error(`route field nexthops must be a list of at most ${MAX_NEXTHOPS}`);
    }
    for (const hop of v.nexthops) {
      if (!isRecord(hop) || Object.keys(hop).some((k) => !NEXTHOP_KEYS.has(k))) {
        throw new Error("a nexthop must be an object with gateway, dev, weight and onlink only");
      }
    }
  }
  const route = v as unknown as Route;
  // The checks of the ip boundary, both ways a stored route is used (DEL deletes or re-adds it,
  // in its place among the routes that shared its key when it has one). The delete's checks are
  // the re-add's but for the metric, which a delete checks always and an add only when it is not
  // the family's default (which is a valid metric): a route the re-add accepts, the delete does.
  routeOpArgs(restoreOp(route, "state"));
  return route;
}

/** The fields of a stored route: [name, type, required]. */
const RECORD_FIELDS: readonly (readonly [string, "string" | "number" | "boolean", boolean])[] = [
  ["dst", "string", true],
  ["table", "string", true],
  ["metric", "number", true],
  ["tos", "number", false],
  ["gateway", "string", false],
  ["dev", "string", false],
  ["type", "string", false],
  ["protocol", "string", false],
  ["scope", "string", false],
  ["prefsrc", "string", false],
  ["mtu", "number", false],
  ["advmss", "number", false],
  ["onlink", "boolean", false],
  ["ecn", "boolean", false],
  ["congctl", "string", false],
  ["pref", "string", false],
  ["place", "string", false],
  ...[...NUMBER_ATTRS, ...RENAMED_ATTRS.map(([field]) => field)].map((
    k,
  ): [string, "number", boolean] => [k, "number", false]),
];
