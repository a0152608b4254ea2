/**
 * The route model shared by planning and `ip`: a normalized kernel route, how `ip -j` output
 * becomes one, and how one becomes the tokens of an `ip route add|del` batch line.
 */
import { type Family, kernelAddress, kernelDst, parseCidr, parseIp } from "./address.ts";
import { isValidIfname } from "./validate.ts";

/** One nexthop of a multipath route. */
export interface Nexthop {
  gateway?: string;
  dev?: string;
  weight?: number;
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
  type?: string;
  protocol?: string;
  scope?: string;
  prefsrc?: string;
  mtu?: number;
  advmss?: number;
  onlink?: boolean;
  nexthops?: Nexthop[];
}

/** The most next hops a multipath route may have here (the kernel's own limit is far higher). */
export const MAX_NEXTHOPS = 32;

/** A planned change: add or delete one route, with why (shown by `--dry-run` and the log). */
export interface RouteOp {
  action: "add" | "del";
  route: Route;
  reason: string;
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

/** The identity of a route in the kernel: family, table, destination and metric. */
export function routeKey(r: Route): string {
  return `${r.family}|${r.table}|${r.dst}|${r.metric}`;
}

/** True when `have` is the route `want` describes (same key, gateway and device). */
export function sameRoute(want: Route, have: Route): boolean {
  return routeKey(want) === routeKey(have) && (want.gateway ?? "") === (have.gateway ?? "") &&
    (want.dev === undefined || want.dev === have.dev);
}

/** A route for logs and messages: `10.0.0.0/24 via 10.0.0.1 dev eth0 table 100`. */
export function describeRoute(r: Route): string {
  const parts = [r.dst];
  if (r.gateway) parts.push(`via ${r.gateway}`);
  if (r.dev) parts.push(`dev ${r.dev}`);
  if (r.table !== "main") parts.push(`table ${r.table}`);
  if (r.metric !== defaultMetric(r.family)) parts.push(`metric ${r.metric}`);
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

function cidrToken(value: string, family: Family): string {
  const c = typeof value === "string" ? parseCidr(value) : null;
  if (!c || c.family !== family) throw invalid("destination", String(value));
  return token(value, "destination");
}

function ipToken(value: string, what: string): string {
  if (typeof value !== "string" || !parseIp(value)) throw invalid(what, String(value));
  return token(value, what);
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
} as const;

// A number field, whatever its source, as the decimal text of an integer in its range: a string
// or a float smuggled in through a state file never reaches ip.
function numToken(value: unknown, what: keyof typeof NUMBER_RANGES): string {
  const [min, max] = NUMBER_RANGES[what];
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

/** Turns one element of `ip -j route show` output into a Route; null when it can't be read. */
export function routeFromJson(raw: Record<string, unknown>, family: Family): Route | null {
  const dst = kernelDst(str(raw.dst) ?? "", family);
  if (!dst || dst.family !== family) return null;
  const r: Route = {
    family,
    dst: `${dst.address}/${dst.prefix}`,
    table: tableName(str(raw.table)),
    metric: num(raw.metric) ?? 0,
    type: str(raw.type) ?? "unicast",
    protocol: str(raw.protocol) ?? "boot",
    scope: str(raw.scope) ?? "global",
  };
  const gw = str(raw.gateway);
  if (gw) r.gateway = kernelAddress(gw, family) ?? parseIp(gw)?.address ?? gw;
  const dev = str(raw.dev);
  if (dev) r.dev = dev;
  const prefsrc = str(raw.prefsrc);
  if (prefsrc) r.prefsrc = prefsrc;
  const flags = Array.isArray(raw.flags) ? raw.flags : [];
  if (flags.includes("onlink")) r.onlink = true;
  if (Array.isArray(raw.metrics)) {
    for (const m of raw.metrics) {
      if (m && typeof m === "object") {
        const rec = m as Record<string, unknown>;
        const mtu = num(rec.mtu);
        if (mtu !== undefined) r.mtu = mtu;
        const advmss = num(rec.advmss);
        if (advmss !== undefined) r.advmss = advmss;
      }
    }
  }
  if (Array.isArray(raw.nexthops)) {
    r.nexthops = raw.nexthops.filter((n) => n && typeof n === "object").map((n) => {
      const rec = n as Record<string, unknown>;
      const hop: Nexthop = {};
      const gateway = str(rec.gateway);
      if (gateway) hop.gateway = gateway;
      const dev = str(rec.dev);
      if (dev) hop.dev = dev;
      const weight = num(rec.weight);
      if (weight !== undefined) hop.weight = weight;
      return hop;
    });
  }
  return r;
}

/**
 * The tokens of the `ip` command for an operation, e.g.
 * `["route", "add", "10.0.0.1/32", "via", "10.131.0.1", "dev", "eth0"]`. This is where every value
 * is validated before it reaches `ip`, whether it came from the config, the kernel or a state file:
 * addresses and CIDRs by ipaddr.js, devices as interface names, every other word as one safe
 * token, so no value can add a command to an `ip -batch` stream.
 */
export function routeOpArgs(op: RouteOp): string[] {
  const r = op.route;
  // The family follows from the destination (always a full CIDR): `ip -batch` lines take no -4/-6.
  const args = ["route", op.action];
  if (r.type && r.type !== "unicast") args.push(token(r.type, "route type"));
  args.push(cidrToken(r.dst, r.family));
  if (r.nexthops && r.nexthops.length > 0) {
    for (const hop of r.nexthops) {
      args.push("nexthop");
      if (hop.gateway) args.push("via", ipToken(hop.gateway, "gateway"));
      if (hop.dev) args.push("dev", devToken(hop.dev));
      if (hop.weight !== undefined) args.push("weight", numToken(hop.weight, "weight"));
    }
  } else {
    if (r.gateway) args.push("via", ipToken(r.gateway, "gateway"));
    if (r.dev) args.push("dev", devToken(r.dev));
  }
  if (r.table !== "main") args.push("table", token(r.table, "table"));
  // A delete names the metric always (it is part of the route's identity); an add only when it
  // differs from the kernel's default, to keep printed commands readable.
  if (op.action === "del" || r.metric !== defaultMetric(r.family)) {
    args.push("metric", numToken(r.metric, "metric"));
  }
  if (r.protocol && r.protocol !== "boot") args.push("proto", token(r.protocol, "protocol"));
  if (op.action === "add") {
    // ip gives an IPv4 route without a gateway scope link: a global one (route-override's on-link
    // routes, a restored kernel route) must say so.
    const globalOnLink = r.family === 4 && r.scope === "global" && !r.gateway &&
      !r.nexthops?.length && (r.type ?? "unicast") === "unicast";
    if (globalOnLink || (r.scope && r.scope !== "global" && !(r.scope === "link" && !r.gateway))) {
      args.push("scope", token(r.scope ?? "global", "scope"));
    }
    if (r.prefsrc) args.push("src", ipToken(r.prefsrc, "source"));
    if (r.mtu !== undefined) args.push("mtu", numToken(r.mtu, "mtu"));
    if (r.advmss !== undefined) args.push("advmss", numToken(r.advmss, "advmss"));
    if (r.onlink) args.push("onlink");
  }
  return args;
}

const ROUTE_KEYS: ReadonlySet<string> = new Set([
  "family",
  "dst",
  "gateway",
  "dev",
  "table",
  "metric",
  "type",
  "protocol",
  "scope",
  "prefsrc",
  "mtu",
  "advmss",
  "onlink",
  "nexthops",
]);
const NEXTHOP_KEYS: ReadonlySet<string> = new Set(["gateway", "dev", "weight"]);

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
  for (const k of Object.keys(v)) {
    if (!ROUTE_KEYS.has(k)) throw new Error(`unknown route field ${JSON.stringify(k)}`);
  }
  if (v.family !== 4 && v.family !== 6) {
    throw new Error(`invalid family ${JSON.stringify(v.family)}`);
  }
  const fields: [string, "string" | "number" | "boolean", boolean][] = [
    ["dst", "string", true],
    ["table", "string", true],
    ["metric", "number", true],
    ["gateway", "string", false],
    ["dev", "string", false],
    ["type", "string", false],
    ["protocol", "string", false],
    ["scope", "string", false],
    ["prefsrc", "string", false],
    ["mtu", "number", false],
    ["advmss", "number", false],
    ["onlink", "boolean", false],
  ];
  for (const [k, type, required] of fields) {
    if (!required && v[k] === undefined) continue;
    const actual: string = typeof v[k];
    if (actual !== type) throw new Error(`route field ${k} must be a ${type}`);
  }
  if (v.nexthops !== undefined) {
    if (!Array.isArray(v.nexthops) || v.nexthops.length > MAX_NEXTHOPS) {
      throw new Error(`route field nexthops must be a list of at most ${MAX_NEXTHOPS}`);
    }
    for (const hop of v.nexthops) {
      if (!isRecord(hop) || Object.keys(hop).some((k) => !NEXTHOP_KEYS.has(k))) {
        throw new Error("a nexthop must be an object with gateway, dev and weight only");
      }
    }
  }
  const route = v as unknown as Route;
  // The checks of the ip boundary, both ways a stored route is used (DEL deletes or re-adds it).
  routeOpArgs({ action: "add", route, reason: "state" });
  routeOpArgs({ action: "del", route, reason: "state" });
  return route;
}
