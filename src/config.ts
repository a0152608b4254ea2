/**
 * The network configuration: stdin JSON → a typed, validated PluginConfig. Keys under
 * `args.cni` override the top-level ones. Unknown top-level, `hostRoute` and `args.cni` keys are
 * accepted, as CNI plugins do, with one warning each; unknown keys inside a route are refused.
 */
import {
  type Cidr,
  cidrText,
  type Ip,
  isUnspecified,
  isV4Mapped,
  networkOf,
  parseCidr,
  parseIp,
  v4OfMapped,
} from "./address.ts";
import { CniError, invalidConfig } from "./cni/errors.ts";
import { type CniResult, resultFromJson } from "./cni/result.ts";
import { configVersion } from "./cni/version.ts";
import {
  CNI_ARGS_CONVENTION_KEYS,
  CNI_KEYS,
  didYouMean,
  goKeys,
  showKey,
  unknownKeyWarnings,
} from "./keys.ts";
import type { LogLevel } from "./log_level.ts";
import { kernelMetric, MAX_NEXTHOPS, tableName } from "./route.ts";
import { hasControlChars, isObject, isValidIfname, type Json } from "./validate.ts";

/** The two plugin types this binary serves. */
export type PluginType = "seamless-static-route" | "route-override";

/** A route requested by `addroutes` / `delroutes`, validated. */
export interface RouteRequest {
  /** Destination as a network CIDR (host bits cleared, as Go's ParseCIDR does). */
  dst: Cidr;
  /**
   * The dst as written, only when it had host bits set (e.g. "192.168.4.7/24"): route-override
   * hands such a dst to the kernel as is, which refuses it for IPv4.
   */
  dstWithHostBits?: string;
  gw?: Ip;
  /**
   * `gw` was the unspecified address (0.0.0.0 or ::): explicitly no gateway, an on-link route
   * (scope global), as the kernel and route-override make it; never replaced by another gateway.
   */
  noGateway?: true;
  /** `gws` as configured: 2 or more next hops of the dst's family (a multipath route). */
  gws?: Ip[];
  mtu?: number;
  advmss?: number;
  priority?: number;
  table?: number;
  scope?: number;
  /**
   * Under route-override semantics, an IPv4-mapped IPv6 dst or gw (`::ffff:10.9.0.0/112`), as
   * written: Go reads it as IPv4, so route-override v1's add fails and it skips the route.
   */
  v4Mapped?: string;
}

/** How route objects are read: as route-override v1 reads them, or by this plugin's own rules. */
interface RouteReading {
  /** Match `dst`/`gw` in any letter case as Go does (type route-override); notes go here. */
  goNotes?: string[];
  /** Refuse what route-override v1 would skip (a mapped address) instead of marking it. */
  strict: boolean;
}

/** Host route gateways given as IP literals, at most one per family. */
export interface GatewayLiterals {
  v4?: Ip;
  v6?: Ip;
}

/** How the host route's gateway is chosen. */
export type GatewayMode = "minaddr" | "prevResult" | GatewayLiterals;

/** The host route settings (type seamless-static-route). */
export interface HostRouteConfig {
  enabled: boolean;
  /** A fixed host address instead of discovery. */
  hostIP?: Ip;
  gateway: GatewayMode;
  /** Pod interface for the route; default CNI_IFNAME. */
  interface?: string;
  ipv6: boolean;
  timeoutSeconds: number;
}

/** One attachment GC must keep. */
export interface Attachment {
  containerID: string;
  ifname: string;
}

/** The validated configuration of one invocation. */
export interface PluginConfig {
  cniVersion: string;
  name: string;
  type: PluginType;
  flushroutes: boolean;
  flushgateway: boolean;
  delroutes: RouteRequest[];
  addroutes: RouteRequest[];
  skipcheck: boolean;
  /**
   * Refuse (ADD fails, table untouched) a route the kernel would refuse or that collides with an
   * existing route, instead of skipping it with a warning as route-override v1 does. Default:
   * true for seamless-static-route, false for route-override.
   */
  strict: boolean;
  hostRoute: HostRouteConfig;
  stateDir: string;
  logFile?: string;
  logLevel: LogLevel;
  /** Size at which `logFile` is rotated to `<logFile>.1`, in bytes (0: never). */
  logMaxBytes: number;
  /** One line per unknown key, said on stderr and in the log; nothing else depends on them. */
  warnings: string[];
  prevResult?: CniResult;
  /** The keys `args.cni` (the pod author) set; their scope is CNI_IFNAME only. */
  podOverrides: string[];
  /**
   * GC: the attachments to keep, from `cni.dev/valid-attachments` (or the older
   * `cni.dev/attachments`); `null` is an empty list; undefined when neither key is present.
   */
  validAttachments?: Attachment[];
}

/** Default directory of the per-attachment state files. */
export const DEFAULT_STATE_DIR = "/var/lib/cni/seamless-static-route";
/** Default size of `logFile` before it is rotated, in MB. */
export const DEFAULT_LOG_MAX_SIZE_MB = 10;
/** Default wait for the host default route / pod address, in seconds. */
export const DEFAULT_TIMEOUT_SECONDS = 10;
/** The longest wait the network config may set; `args.cni` may not go above the network's own. */
export const MAX_TIMEOUT_SECONDS = 300;
/**
 * The most `addroutes` and the most `delroutes` one config may list. Measured on a 2-core VM, an
 * ADD of 1000 addroutes takes ~80 ms and 49 MB peak RSS (one route: ~50 ms, 38 MB).
 */
export const MAX_ROUTES = 1000;

const NETWORK_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$/;

function isNetworkName(v: unknown): v is string {
  return typeof v === "string" && NETWORK_NAME.test(v);
}

/**
 * The network name and state directory of a config not yet validated, read as `parseConfig`
 * reads them (`args.cni` sets neither); null when either is invalid, which the parse then says.
 */
export function stateLocation(input: Json): { name: string; stateDir: string } | null {
  if (!isNetworkName(input.name)) return null;
  try {
    return { name: input.name, stateDir: absPath(input.stateDir, "stateDir") ?? DEFAULT_STATE_DIR };
  } catch {
    return null;
  }
}

function bool(v: unknown, key: string, dflt: boolean): boolean {
  if (v === undefined || v === null) return dflt;
  if (typeof v !== "boolean") throw invalidConfig(key, v, "must be true or false");
  return v;
}

function intIn(v: unknown, key: string, min: number, max: number): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    throw invalidConfig(key, v, `must be a whole number from ${min} to ${max}`);
  }
  return v;
}

function absPath(v: unknown, key: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string" || !v.startsWith("/") || hasControlChars(v)) {
    throw invalidConfig(key, v, "must be an absolute path");
  }
  return v;
}

/** The numeric keys of a route request and their ranges, in the order they are checked. */
const REQUEST_NUMBERS = [
  ["mtu", 68, 65535],
  ["advmss", 1, 65535],
  ["priority", 0, 4294967295],
  ["table", 1, 4294967295],
  ["scope", 0, 255],
] as const;

/** The keys a route object may have; any other is refused (a misspelt one changes the route). */
export const ROUTE_KEYS: readonly string[] = [
  "dst",
  "gw",
  "gws",
  "mtu",
  "advmss",
  "priority",
  "table",
  "scope",
];

/** The keys of a route route-override v1 reads (the CNI types' route), in any letter case. */
const V1_ROUTE_KEYS: readonly string[] = ["dst", "gw"];

/** True when every key of `obj` is a route key as written (nothing to rename, nothing unknown). */
function exactRouteKeys(obj: Json): boolean {
  for (const k in obj) if (!ROUTE_KEYS.includes(k)) return false;
  return true;
}

/** The name of entry `index` of the route list `list` in messages: `addroutes[3]`. */
function entry(list: string, index: number): string {
  return `${list}[${index}]`;
}

/** Validates entry `index` of the route list `list` (`addroutes`/`delroutes`). */
function parseRouteRequest(
  input: unknown,
  list: string,
  index: number,
  reading: RouteReading,
): RouteRequest {
  if (!isObject(input)) {
    throw invalidConfig(entry(list, index), input, "must be an object with dst");
  }
  let v = input;
  // Keys written as the route keys they are need no Go reading: it would rename nothing.
  if (!exactRouteKeys(v)) {
    if (reading.goNotes) {
      const read = goKeys(input, V1_ROUTE_KEYS, `${entry(list, index)}.`);
      for (const note of read.notes) reading.goNotes.push(note);
      v = read.obj;
    }
    for (const k of Object.keys(v)) {
      if (ROUTE_KEYS.includes(k)) continue;
      throw invalidConfig(
        `${entry(list, index)}.${showKey(k)}`,
        v[k],
        `is not a route key${didYouMean(k, ROUTE_KEYS)}; a route has ${ROUTE_KEYS.join(", ")}`,
      );
    }
  }
  if (typeof v.dst !== "string") {
    throw invalidConfig(`${entry(list, index)}.dst`, v.dst, "must be a CIDR");
  }
  const dst = parseCidr(v.dst);
  if (!dst) {
    throw invalidConfig(`${entry(list, index)}.dst`, v.dst, "must be a CIDR such as 10.0.0.0/8");
  }
  const req: RouteRequest = { dst: networkOf(dst) };
  if (req.dst.address !== dst.address) req.dstWithHostBits = cidrText(dst);
  if (v.gw !== undefined && v.gw !== null && v.gw !== "") {
    let gw = typeof v.gw === "string" ? parseIp(v.gw) : null;
    if (!gw) throw invalidConfig(`${entry(list, index)}.gw`, v.gw, "must be an IP address");
    const v4 = dst.family === 4 && reading.goNotes ? v4OfMapped(gw) : null;
    if (v4 && !reading.strict) {
      // Go reads it as the IPv4 address, so route-override v1 adds the IPv4 route via it.
      reading.goNotes?.push(
        `${
          entry(list, index)
        }.gw ${v.gw} is read as ${v4.address}, as route-override v1 (Go) reads an ` +
          `IPv4-mapped address; write ${v4.address}`,
      );
      gw = v4;
    } else if (v4) {
      throw invalidConfig(
        `${entry(list, index)}.gw`,
        v.gw,
        `is an IPv4-mapped IPv6 address; write the IPv4 address ${v4.address}`,
      );
    }
    if (gw.family !== dst.family) {
      throw invalidConfig(`${entry(list, index)}.gw`, v.gw, `is not in the family of dst ${v.dst}`);
    }
    if (isV4Mapped(gw)) req.v4Mapped = `gw ${v.gw}`;
    if (!isUnspecified(gw)) req.gw = gw;
    else if (v.gws !== undefined && v.gws !== null) {
      throw invalidConfig(
        `${entry(list, index)}.gw`,
        v.gw,
        "is the unspecified address, which is no next hop of a multipath route; leave gw out",
      );
    } else req.noGateway = true;
  }
  // Go masks the dst before it looks at the family: ::ffff:0.0.0.0/80 is the IPv6 ::/80.
  if (isV4Mapped(req.dst)) req.v4Mapped = `dst ${v.dst}`;
  if (req.v4Mapped && reading.strict) {
    const [k, value] = req.v4Mapped.startsWith("dst") ? ["dst", v.dst] : ["gw", v.gw];
    throw invalidConfig(
      `${entry(list, index)}.${k}`,
      value,
      "is an IPv4-mapped IPv6 address, which route-override v1 reads as IPv4 and cannot add; " +
        "write the IPv4 route, or an IPv6 address outside ::ffff:0:0/96",
    );
  }
  if (v.gws !== undefined && v.gws !== null) {
    req.gws = parseGws(v.gws, `${entry(list, index)}.gws`, dst.family);
  }
  for (let i = 0; i < REQUEST_NUMBERS.length; i++) {
    const number = REQUEST_NUMBERS[i]!;
    const k = number[0];
    if (v[k] === undefined || v[k] === null) continue;
    const n = intIn(v[k], `${entry(list, index)}.${k}`, number[1], number[2]);
    if (n !== undefined) req[k] = n;
  }
  if (req.table === LOCAL_TABLE) {
    throw invalidConfig(
      `${entry(list, index)}.table`,
      LOCAL_TABLE,
      "is the kernel's local table (255), which this plugin never changes; " +
        "leave table out for main, or use another table from 1 to 4294967295",
    );
  }
  if (req.gws && nextHops(req).length > MAX_NEXTHOPS) {
    throw invalidConfig(
      `${entry(list, index)}.gws`,
      v.gws,
      `has more than ${MAX_NEXTHOPS} next hops with gw`,
    );
  }
  return req;
}

/** The kernel's local table: local and broadcast addresses, never changed by this plugin. */
const LOCAL_TABLE = 255;

/** Validates `gws`: a list of 2 to MAX_NEXTHOPS distinct IPs of the dst's family. */
function parseGws(v: unknown, key: string, family: number): Ip[] {
  if (!Array.isArray(v) || v.length < 2 || v.length > MAX_NEXTHOPS) {
    throw invalidConfig(key, v, `must be a list of 2 to ${MAX_NEXTHOPS} IP addresses`);
  }
  const seen = new Set<string>();
  return v.map((g, i) => {
    const ip = typeof g === "string" ? parseIp(g) : null;
    if (!ip) throw invalidConfig(`${key}[${i}]`, g, "must be an IP address");
    if (ip.family !== family) {
      throw invalidConfig(`${key}[${i}]`, g, `is not in the family of dst (IPv${family})`);
    }
    if (seen.has(ip.address)) throw invalidConfig(`${key}[${i}]`, g, "is listed twice");
    if (isUnspecified(ip)) {
      throw invalidConfig(
        `${key}[${i}]`,
        g,
        "is the unspecified address, which is no next hop: every gws entry must be a gateway",
      );
    }
    seen.add(ip.address);
    return ip;
  });
}

/**
 * The next hops of a request: `gws`, then `gw` when it is not already among them (the CNI
 * proposal's rule); `gw` alone for a single-path route; none for a route without a gateway.
 */
export function nextHops(req: RouteRequest): Ip[] {
  const hops = [...(req.gws ?? [])];
  if (req.gw && !hops.some((h) => h.address === req.gw?.address)) hops.push(req.gw);
  return hops;
}

function routeList(v: unknown, key: string, reading: RouteReading): RouteRequest[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw invalidConfig(key, v, "must be a list of routes");
  if (v.length > MAX_ROUTES) {
    throw invalidConfig(
      key,
      `${v.length} routes`,
      `lists more than ${MAX_ROUTES} routes, the most one network allows`,
    );
  }
  return v.map((r, i) => parseRouteRequest(r, key, i, reading));
}

/** The identity a request will have in the kernel (for duplicate detection). */
function requestKey(r: RouteRequest): string {
  const metric = kernelMetric(r.dst.family, r.priority);
  return `${tableName(r.table)}|${cidrText(r.dst)}|${metric}`;
}

/** The keys of a `hostRoute` object. */
export const HOST_ROUTE_KEYS: readonly string[] = [
  "enabled",
  "hostIP",
  "gateway",
  "interface",
  "ipv6",
  "timeoutSeconds",
];

/** One IP literal of `hostRoute.gateway`, or null (also for 0.0.0.0 and ::, which are none). */
function gatewayLiteral(v: unknown): Ip | null {
  const ip = typeof v === "string" ? parseIp(v) : null;
  return ip && !isUnspecified(ip) ? ip : null;
}

/**
 * `hostRoute.gateway`: "minaddr", "prevResult", an IP, or a list of one IP per family. Each host
 * route that is on needs a literal of its family, and every literal must have a route: an
 * explicit gateway is never silently replaced by minaddr, nor silently unused.
 */
function parseGateway(v: unknown, key: string, ipv6: boolean): GatewayMode {
  if (v === "minaddr" || v === "prevResult") return v;
  const list = Array.isArray(v) ? v : [v];
  const out: GatewayLiterals = {};
  for (const item of list) {
    const ip = gatewayLiteral(item);
    if (!ip || list.length > 2) {
      throw invalidConfig(
        key,
        v,
        'must be "minaddr", "prevResult", an IP, or a list of an IPv4 and an IPv6 address',
      );
    }
    if (out[ip.family === 4 ? "v4" : "v6"]) {
      throw invalidConfig(key, v, `has two IPv${ip.family} addresses; give one per family`);
    }
    out[ip.family === 4 ? "v4" : "v6"] = ip;
  }
  if (!out.v4) {
    throw invalidConfig(key, v, "has no IPv4 address for the IPv4 host route");
  }
  if (ipv6 && !out.v6) {
    throw invalidConfig(
      key,
      v,
      "has no IPv6 address for the IPv6 host route (hostRoute.ipv6 is true): " +
        `give both, e.g. ["${out.v4.address}", "fd00::1"], or use "minaddr"`,
    );
  }
  if (!ipv6 && out.v6) {
    throw invalidConfig(key, v, "has an IPv6 address but hostRoute.ipv6 is false");
  }
  return out;
}

/**
 * The longest `hostRoute.timeoutSeconds` `args.cni` may set: the network config's own value when
 * it sets a valid one, else the default. Only the node admin's config may make ADD wait longer.
 */
function podTimeoutCeiling(networkHostRoute: unknown): number {
  const t = isObject(networkHostRoute) ? networkHostRoute.timeoutSeconds : undefined;
  return typeof t === "number" && Number.isFinite(t) && t >= 0 && t <= MAX_TIMEOUT_SECONDS
    ? t
    : DEFAULT_TIMEOUT_SECONDS;
}

function parseHostRoute(
  v: unknown,
  key: string,
  type: PluginType,
  warnings: string[],
  maxTimeout: number = MAX_TIMEOUT_SECONDS,
): HostRouteConfig {
  const dflt: HostRouteConfig = {
    enabled: type === "seamless-static-route",
    gateway: "minaddr",
    ipv6: false,
    timeoutSeconds: DEFAULT_TIMEOUT_SECONDS,
  };
  if (v === undefined || v === null) return dflt;
  if (typeof v === "boolean") return { ...dflt, enabled: v };
  if (!isObject(v)) throw invalidConfig(key, v, "must be true, false or an object");
  for (const w of unknownKeyWarnings(v, `${key}.`, HOST_ROUTE_KEYS)) warnings.push(w);
  const out: HostRouteConfig = { ...dflt, enabled: bool(v.enabled, `${key}.enabled`, true) };
  out.ipv6 = bool(v.ipv6, `${key}.ipv6`, false);
  if (v.hostIP !== undefined && v.hostIP !== null) {
    const ip = typeof v.hostIP === "string" ? parseIp(v.hostIP) : null;
    if (!ip) throw invalidConfig(`${key}.hostIP`, v.hostIP, "must be an IP address");
    if (ip.family === 6 && !out.ipv6) {
      throw invalidConfig(
        `${key}.hostIP`,
        v.hostIP,
        "is IPv6 but hostRoute.ipv6 is false: set ipv6: true for an IPv6 host route " +
          "(the IPv4 one then uses the discovered address)",
      );
    }
    out.hostIP = ip;
  }
  if (v.gateway !== undefined && v.gateway !== null) {
    out.gateway = parseGateway(v.gateway, `${key}.gateway`, out.ipv6);
  }
  if (v.interface !== undefined && v.interface !== null) {
    if (typeof v.interface !== "string" || !isValidIfname(v.interface)) {
      throw invalidConfig(`${key}.interface`, v.interface, "must be an interface name");
    }
    out.interface = v.interface;
  }
  if (v.timeoutSeconds !== undefined && v.timeoutSeconds !== null) {
    const t = v.timeoutSeconds;
    if (typeof t !== "number" || !Number.isFinite(t) || t < 0 || t > MAX_TIMEOUT_SECONDS) {
      throw invalidConfig(
        `${key}.timeoutSeconds`,
        t,
        `must be a number of seconds from 0 to ${MAX_TIMEOUT_SECONDS}`,
      );
    }
    if (t > maxTimeout) {
      throw invalidConfig(
        `${key}.timeoutSeconds`,
        t,
        `may be at most ${maxTimeout} here; only the network config (not args.cni) may raise it`,
      );
    }
    out.timeoutSeconds = t;
  }
  return out;
}

/** `logMaxSizeMB` in bytes: 0 never rotates; default DEFAULT_LOG_MAX_SIZE_MB. */
export function logMaxBytes(v: unknown): number {
  if (v === undefined || v === null) return DEFAULT_LOG_MAX_SIZE_MB * 1024 * 1024;
  if (typeof v !== "number" || !Number.isFinite(v) || v < 0 || v > 10240) {
    throw invalidConfig("logMaxSizeMB", v, "must be a number of megabytes from 0 to 10240");
  }
  return Math.round(v * 1024 * 1024);
}

/** The plugin's own top-level keys (besides the `args.cni` ones and CNI_KEYS). */
export const TOP_LEVEL_KEYS: readonly string[] = [
  "stateDir",
  "logFile",
  "logLevel",
  "logMaxSizeMB",
  "debug",
  "strict",
];

/** The keys `args.cni` may set; each replaces the network config's value whole. */
export const OVERRIDABLE = [
  "flushroutes",
  "flushgateway",
  "delroutes",
  "addroutes",
  "skipcheck",
  "hostRoute",
] as const;

/** The keys DEL does not read: it undoes what the state file records, whatever they say now. */
const NOT_FOR_DEL = [...OVERRIDABLE, "args", "prevResult"] as const;

/** The keys of route-override v1's config (and of its `args.cni`, but `args`). */
const V1_KEYS: readonly string[] = [
  "flushroutes",
  "flushgateway",
  "delroutes",
  "addroutes",
  "skipcheck",
  "args",
];

/**
 * The config with route-override v1's keys (top level, `args`, `args.cni`) as its Go decoder
 * reads them: in any letter case, the last of one name winning. Route keys are read so later.
 */
function v1Keys(input: Json, notes: string[]): Json {
  const top = goKeys(input, V1_KEYS, "");
  for (const note of top.notes) notes.push(note);
  const args = top.obj.args;
  if (!isObject(args)) return top.obj;
  const withCni = goKeys(args, ["cni"], "args.");
  for (const note of withCni.notes) notes.push(note);
  const cni = withCni.obj.cni;
  if (isObject(cni)) {
    const read = goKeys(cni, V1_KEYS.filter((k) => k !== "args"), "args.cni.");
    for (const note of read.notes) notes.push(note);
    withCni.obj.cni = read.obj;
  }
  return { ...top.obj, args: withCni.obj };
}

/**
 * For DEL, a key DEL does not need (logLevel, debug, strict, logMaxSizeMB, logFile) that is
 * invalid gives a warning and its default instead of an error; other commands refuse it.
 */
function forgiving<T>(
  command: string | undefined,
  warnings: string[],
  parse: () => T,
  fallback: T,
): T {
  if (command !== "DEL") return parse();
  try {
    return parse();
  } catch (e) {
    if (!(e instanceof CniError)) throw e;
    warnings.push(`${e.message}; DEL does not need it and uses the default`);
    return fallback;
  }
}

/**
 * Validates a decoded network configuration into a PluginConfig. `cniVersion` is the config's
 * version when the caller has read it already (the CNI skeleton does, to negotiate). For DEL the
 * route keys, `args` and `prevResult` are left out unread, and only name, type, cniVersion and
 * stateDir are refused when invalid (the other keys warn and take their default): a config that
 * became invalid since ADD (an edited network, a bad pod annotation) must not make DEL fail on
 * every retry. The GC keys are read for GC only (and when no command is given). Under type
 * route-override, v1's keys are matched in any letter case, as its Go decoder does.
 */
export function parseConfig(
  input: Json,
  cniVersion: string = configVersion(input),
  command?: string,
): PluginConfig {
  const goNotes: string[] = [];
  const v1 = input.type === "route-override";
  let raw = v1 ? v1Keys(input, goNotes) : input;
  if (command === "DEL") {
    raw = { ...raw };
    for (const k of NOT_FOR_DEL) delete raw[k];
    goNotes.length = 0; // DEL reads none of those keys: nothing to say about them
  }
  const warnings = unknownKeyWarnings(raw, "", [...OVERRIDABLE, ...TOP_LEVEL_KEYS, ...CNI_KEYS]);
  for (const note of goNotes) warnings.push(note);
  if (!isNetworkName(raw.name)) {
    throw invalidConfig("name", raw.name, "must be a network name (letters, digits, _ . -)");
  }
  if (raw.type !== "seamless-static-route" && raw.type !== "route-override") {
    throw invalidConfig("type", raw.type, 'must be "seamless-static-route" or "route-override"');
  }
  const type: PluginType = raw.type;

  // args.cni overrides the top-level keys (per pod, e.g. from a Multus network selection).
  const merged: Json = { ...raw };
  const podOverrides: string[] = [];
  const where = Object.fromEntries(OVERRIDABLE.map((k) => [k, k])) as Record<
    (typeof OVERRIDABLE)[number],
    string
  >;
  if (raw.args !== undefined && raw.args !== null) {
    if (!isObject(raw.args)) throw invalidConfig("args", raw.args, "must be an object");
    const cni = raw.args.cni;
    if (cni !== undefined && cni !== null) {
      if (!isObject(cni)) throw invalidConfig("args.cni", cni, "must be an object");
      const known = [...OVERRIDABLE, "strict"];
      for (const w of unknownKeyWarnings(cni, "args.cni.", known, CNI_ARGS_CONVENTION_KEYS)) {
        warnings.push(w);
      }
      for (const k of OVERRIDABLE) {
        if (k in cni && cni[k] !== undefined) {
          merged[k] = cni[k];
          where[k] = `args.cni.${k}`;
          podOverrides.push(k);
        }
      }
    }
  }
  if (type === "route-override" && merged.hostRoute !== undefined && merged.hostRoute !== false) {
    throw invalidConfig(
      where.hostRoute,
      merged.hostRoute,
      'is only for type "seamless-static-route"',
    );
  }

  const strict = forgiving(
    command,
    warnings,
    () => parseStrict(raw, type),
    type === "seamless-static-route",
  );
  const reading: RouteReading = v1 ? { goNotes: warnings, strict } : { strict };
  const addroutes = routeList(merged.addroutes, where.addroutes, reading);
  // Not strict: the planner skips the later one, as the kernel refuses v1's second add.
  const seen = new Map<string, number>();
  if (strict) {
    addroutes.forEach((r, i) => {
      const k = requestKey(r);
      if (seen.has(k)) {
        throw invalidConfig(
          `${where.addroutes}[${i}].dst`,
          cidrText(r.dst),
          `duplicates ${where.addroutes}[${seen.get(k)}] (same dst, table and priority); ` +
            "for several next hops, write one route with gws (a multipath route)",
        );
      }
      seen.set(k, i);
    });
  }

  let logLevel: LogLevel = forgiving(command, warnings, () => parseLogLevel(raw.logLevel), "error");
  if (forgiving(command, warnings, () => bool(raw.debug, "debug", false), false)) {
    logLevel = "debug";
  }

  const config: PluginConfig = {
    cniVersion,
    name: raw.name,
    type,
    flushroutes: bool(merged.flushroutes, where.flushroutes, false),
    flushgateway: bool(merged.flushgateway, where.flushgateway, false),
    delroutes: routeList(merged.delroutes, where.delroutes, reading),
    addroutes,
    skipcheck: bool(merged.skipcheck, where.skipcheck, false),
    strict,
    hostRoute: parseHostRoute(
      merged.hostRoute,
      where.hostRoute,
      type,
      warnings,
      where.hostRoute === "hostRoute" ? MAX_TIMEOUT_SECONDS : podTimeoutCeiling(raw.hostRoute),
    ),
    stateDir: absPath(raw.stateDir, "stateDir") ?? DEFAULT_STATE_DIR,
    logLevel,
    logMaxBytes: forgiving(
      command,
      warnings,
      () => logMaxBytes(raw.logMaxSizeMB),
      logMaxBytes(undefined),
    ),
    warnings,
    podOverrides,
  };
  const logFile = forgiving(command, warnings, () => absPath(raw.logFile, "logFile"), undefined);
  if (logFile) config.logFile = logFile;
  if (raw.prevResult !== undefined && raw.prevResult !== null) {
    config.prevResult = resultFromJson(raw.prevResult);
  }
  if (command === undefined || command === "GC") {
    const valid = validAttachments(raw);
    if (valid) config.validAttachments = valid;
  }
  return config;
}

/** `logLevel`: "error" (the default), "info" or "debug". */
function parseLogLevel(v: unknown): LogLevel {
  if (v === undefined || v === null) return "error";
  if (v !== "error" && v !== "info" && v !== "debug") {
    throw invalidConfig("logLevel", v, 'must be "error", "info" or "debug"');
  }
  return v;
}

/**
 * `strict`: the network config's value (default: true for seamless-static-route, false for
 * route-override), which `args.cni.strict` may only make stricter: a pod may ask to be refused
 * instead of skipped, never weaken the strict an admin (or the type) chose.
 */
function parseStrict(raw: Json, type: PluginType): boolean {
  const network = bool(raw.strict, "strict", type === "seamless-static-route");
  const cni = isObject(raw.args) && isObject(raw.args.cni) ? raw.args.cni.strict : undefined;
  if (cni === undefined || cni === null) return network;
  const pod = bool(cni, "args.cni.strict", network);
  if (network && !pod) {
    throw invalidConfig(
      "args.cni.strict",
      cni,
      `the network config is strict${
        raw.strict === undefined ? ` (the default for ${type})` : ""
      }` +
        " and a pod's args.cni may only turn strict on; set strict: false in the network config",
    );
  }
  return pod;
}

/** The GC keys in the order they are read: the spec's name, then the name libcni also sends. */
export const GC_KEYS = ["cni.dev/valid-attachments", "cni.dev/attachments"] as const;

/**
 * The attachments GC keeps, as libcni sends them: the first GC key present wins, `null` (how Go
 * encodes an empty list) is an empty list, and no key at all gives undefined (libcni's nil GCArgs:
 * no attachment is valid).
 */
function validAttachments(raw: Json): Attachment[] | undefined {
  const key = GC_KEYS.find((k) => raw[k] !== undefined);
  if (key === undefined) return undefined;
  const list = raw[key];
  if (list === null) return [];
  if (!Array.isArray(list)) throw invalidConfig(key, list, "must be a list");
  return list.map((a, i) => {
    if (!isObject(a) || typeof a.containerID !== "string" || typeof a.ifname !== "string") {
      throw invalidConfig(`${key}[${i}]`, a, "must be {containerID, ifname}");
    }
    return { containerID: a.containerID, ifname: a.ifname };
  });
}
