/**
 * PURE: what the config wants in the pod's table — the `addroutes` routes, the host route and its
 * gateway policy, and the CNI routes they show in the result. Built from the config and the facts
 * `observe()` found; nothing here reads the system, and nothing here compares with the table
 * (that is `plan.ts`).
 */
import {
  type Cidr,
  cidrText,
  type Family,
  hostCidr,
  type Ip,
  minAddress,
  parseCidr,
} from "./address.ts";
import { CniError, ErrorCode, invalidConfig } from "./cni/errors.ts";
import type { CniRoute } from "./cni/result.ts";
import { nextHops, type PluginConfig, type RouteRequest } from "./config.ts";
import {
  type AskedAttribute,
  defaultMetric,
  kernelMetric,
  type Route,
  routeKey,
  scopeName,
  tableName,
} from "./route.ts";
import type { PodSnapshot } from "./snapshot.ts";

/** The pod's address on an interface and the gateway prevResult gives for it. */
export interface PodAddress {
  cidr: Cidr;
  gateway?: Ip;
}

/** Host addresses per family, as discovered or configured. */
export interface HostFacts {
  v4?: Ip;
  v6?: Ip;
}

/** A route the plugin is responsible for, with the CNI route it shows in the result. */
export interface DesiredRoute {
  route: Route;
  cni: CniRoute;
  /** Where it comes from, e.g. `addroutes[0]` or `hostRoute`. */
  source: string;
  /** The attributes the config asked for: a route to the same place without them is not it. */
  asked: readonly AskedAttribute[];
  /** The `addroutes` entry it was made from (none for the host route). */
  request?: RouteRequest;
}

/** The pod's addresses on the host route's interface, found once by `observe()`. */
export interface PodFacts {
  v4?: PodAddress;
  v6?: PodAddress;
}

/**
 * The interface the host route goes through: `hostRoute.interface`, else CNI_IFNAME. Only the
 * NAD may name another interface: through `args.cni` (the pod author) it must be CNI_IFNAME.
 */
export function hostRouteInterface(config: PluginConfig, ifname: string): string {
  const iface = config.hostRoute.interface ?? ifname;
  if (iface !== ifname && config.podOverrides.includes("hostRoute")) {
    throw invalidConfig(
      "args.cni.hostRoute.interface",
      iface,
      `a pod's args.cni may only name its own interface ${ifname}; set it in the NAD`,
    );
  }
  return iface;
}

/** The pod addresses the host route needs (IPv6 only when `hostRoute.ipv6`). */
export function podFacts(config: PluginConfig, ifname: string, snapshot: PodSnapshot): PodFacts {
  const iface = hostRouteInterface(config, ifname);
  const facts: PodFacts = {};
  const v4 = podAddress(config, snapshot, iface, 4);
  if (v4) facts.v4 = v4;
  if (config.hostRoute.ipv6) {
    const v6 = podAddress(config, snapshot, iface, 6);
    if (v6) facts.v6 = v6;
  }
  return facts;
}

function parseIpFamily(text: string | undefined): Ip | undefined {
  if (!text) return undefined;
  const c = parseCidr(text.includes("/") ? text : `${text}/${text.includes(":") ? 128 : 32}`);
  return c ? { address: c.address, family: c.family } : undefined;
}

/**
 * The interfaces whose routes this attachment may change (its scope): CNI_IFNAME, prevResult's
 * interfaces inside a sandbox, and the NAD's `hostRoute.interface` while the host route is on. When `key` (flushroutes,
 * flushgateway, delroutes, addroutes) was set by `args.cni`, only CNI_IFNAME: a pod author can
 * never change another interface's routes.
 */
export function podInterfaces(config: PluginConfig, ifname: string, key?: string): Set<string> {
  const names = new Set<string>([ifname]);
  if (key !== undefined && config.podOverrides.includes(key)) return names;
  for (const i of config.prevResult?.interfaces ?? []) {
    if (i.sandbox && typeof i.name === "string") names.add(i.name);
  }
  // A disabled host route's interface is no part of the attachment: it widens nothing.
  if (config.hostRoute.enabled) names.add(hostRouteInterface(config, ifname));
  return names;
}

/**
 * The pod's address of `family` on `iface`: from prevResult's ips on that interface (or on no
 * interface, as 0.2.0 results have), else from the addresses read in the netns; null if none.
 */
function podAddress(
  config: PluginConfig,
  snapshot: PodSnapshot,
  iface: string,
  family: Family,
): PodAddress | null {
  const prev = config.prevResult;
  if (prev?.ips) {
    const index = (prev.interfaces ?? []).findIndex((i) => i.name === iface);
    for (const ip of prev.ips) {
      const onIface = ip.interface === undefined || (index >= 0 && ip.interface === index);
      const cidr = parseCidr(ip.address);
      if (!onIface || !cidr || cidr.family !== family) continue;
      const gateway = parseIpFamily(ip.gateway);
      return gateway ? { cidr, gateway } : { cidr };
    }
  }
  const fromKernel = (snapshot.addresses.get(iface) ?? []).find((c) => c.family === family);
  return fromKernel ? { cidr: fromKernel } : null;
}

/**
 * Why this config can never be applied in this pod, or null: the answer cannot change by waiting,
 * so ADD fails at once (code 7) instead of after `timeoutSeconds` (code 11) or at the kernel (code
 * 100). The pod lacks an interface the routes need (a hard-coded `hostRoute.interface`, or the
 * plugin run standalone with a CNI_IFNAME no earlier plugin created), or prevResult gives the host
 * route's interface addresses and none is IPv4. An empty snapshot (a dry run that cannot read the
 * pod) proves nothing.
 */
export function cannotApply(
  config: PluginConfig,
  ifname: string,
  snapshot: PodSnapshot,
): string | null {
  const hr = config.hostRoute;
  const iface = hostRouteInterface(config, ifname);
  const needed = new Set<string>();
  if (hr.enabled) needed.add(iface);
  if (config.addroutes.length > 0) needed.add(ifname);
  for (const name of needed) {
    if (snapshot.addresses.size === 0 || snapshot.addresses.has(name)) continue;
    const names = [...snapshot.addresses.keys()].filter((n) => n !== "lo").sort();
    const has = `the pod has no interface ${name} (it has: ${names.join(", ") || "only lo"})`;
    if (hr.enabled && name === hr.interface) {
      return `${has}; hostRoute.interface must name one of them, or be left out to use ` +
        "CNI_IFNAME (Multus names interfaces by attachment order: net1, net2...)";
    }
    return config.prevResult
      ? `${has}; the earlier plugins of the chain did not create ${name}`
      : `${has}; there is no prevResult: run this plugin chained after the plugin that ` +
        `creates ${name} (in the same conflist), not as a network of its own`;
  }
  const prev = config.prevResult;
  if (!hr.enabled || !prev?.ips || prev.ips.length === 0) return null;
  const index = (prev.interfaces ?? []).findIndex((i) => i.name === iface);
  if (index < 0 && iface !== ifname) return null; // prevResult says nothing about that interface
  const mine = prev.ips.filter((ip) =>
    ip.interface === undefined ? iface === ifname : ip.interface === index
  );
  const v4InKernel = (snapshot.addresses.get(iface) ?? []).some((c) => c.family === 4);
  if (mine.length === 0 || v4InKernel) return null;
  if (mine.some((ip) => parseCidr(ip.address)?.family === 4)) return null;
  return `the pod has no IPv4 address on ${iface} (prevResult gives only ${
    mine.map((ip) => ip.address).join(", ")
  }) and the host route is IPv4: set hostRoute: false on an IPv6-only network`;
}

/** The gateway of the host route for a pod address, per `hostRoute.gateway`. */
function hostRouteGateway(config: PluginConfig, pod: PodAddress, iface: string): Ip {
  const mode = config.hostRoute.gateway;
  const podText = cidrText(pod.cidr);
  let gw: Ip | null;
  if (mode === "minaddr") {
    gw = minAddress(pod.cidr);
    if (!gw) {
      throw invalidConfig(
        "hostRoute.gateway",
        "minaddr",
        `no gateway can be derived from the /${pod.cidr.prefix} address ${podText} on ${iface}; ` +
          "set hostRoute.gateway to an IP address",
      );
    }
  } else if (mode === "prevResult") {
    gw = pod.gateway ?? null;
    if (!gw) {
      throw invalidConfig(
        "hostRoute.gateway",
        "prevResult",
        `prevResult has no gateway for ${podText} on ${iface}`,
      );
    }
  } else {
    // config.ts makes sure each host route that is on has a literal of its family.
    gw = (pod.cidr.family === 4 ? mode.v4 : mode.v6) ?? null;
    if (!gw) {
      throw invalidConfig(
        "hostRoute.gateway",
        [mode.v4?.address, mode.v6?.address].filter(Boolean),
        `has no IPv${pod.cidr.family} address for ${podText} on ${iface}`,
      );
    }
  }
  if (gw.address === pod.cidr.address) {
    throw invalidConfig(
      "hostRoute.gateway",
      typeof mode === "string" ? mode : gw.address,
      `the gateway ${gw.address} is the pod's own address on ${iface}; set hostRoute.gateway`,
    );
  }
  return gw;
}

/** The kernel route a RouteRequest asks for on `dev`, with prevResult's gateway as fallback. */
function requestRoute(req: RouteRequest, dev: string, fallbackGw?: Ip): Route {
  const family = req.dst.family;
  const dst = cidrText(req.dst);
  const table = tableName(req.table);
  const metric = kernelMetric(family, req.priority);
  // Each route is made whole at once (a property added later costs a cold run an allocation
  // per route), its keys in the order the state file has always listed them.
  let r: Route;
  if (req.gws) {
    // One multipath route: every next hop on the pod interface, weight 1; route-wide
    // options (table, metric, mtu, ...) apply to the route as a whole.
    const nexthops = nextHops(req).map((h) => ({ gateway: h.address, dev, weight: 1 }));
    r = { family, dst, table, metric, nexthops };
  } else {
    // gw 0.0.0.0 (or ::) asks for no gateway: never prevResult's.
    const fallback = req.noGateway ? undefined : fallbackGw;
    const gw = req.gw ?? (fallback?.family === family ? fallback : undefined);
    r = gw
      ? { family, dst, dev, table, metric, gateway: gw.address }
      : { family, dst, dev, table, metric };
  }
  if (req.mtu !== undefined) r.mtu = req.mtu;
  if (req.advmss !== undefined) r.advmss = req.advmss;
  if (req.scope !== undefined) r.scope = scopeName(req.scope);
  return r;
}

const NONE_ASKED: readonly AskedAttribute[] = [];

/**
 * The routes the plugin is responsible for: every `addroutes` entry, then the host route(s);
 * with `range`, only the addroutes from `range.from` up to `range.to` (no host route).
 * Throws code 7 when an addroute collides with the host route.
 */
export function desiredRoutes(
  config: PluginConfig,
  ifname: string,
  snapshot: PodSnapshot,
  host: HostFacts,
  pod: PodFacts = podFacts(config, ifname, snapshot),
  range?: { from: number; to: number },
): DesiredRoute[] {
  const out: DesiredRoute[] = [];
  const gateways = new Map<Family, Ip | undefined>();
  const iface = hostRouteInterface(config, ifname);
  const gatewayOf = (family: Family): Ip | undefined => {
    const known = iface === ifname ? (family === 4 ? pod.v4 : pod.v6) : undefined;
    if (known) return known.gateway;
    if (!gateways.has(family)) {
      gateways.set(family, podAddress(config, snapshot, ifname, family)?.gateway);
    }
    return gateways.get(family);
  };
  const to = range?.to ?? config.addroutes.length;
  for (let i = range?.from ?? 0; i < to; i++) {
    const req = config.addroutes[i]!;
    // route-override adds a route without gw on the pod interface itself, scope global; the
    // seamless type routes it via prevResult's gateway for the interface when there is one.
    // An unspecified gw (0.0.0.0, ::) is on-link with scope global in both types, as `ip route
    // add ... via 0.0.0.0` and route-override install it; the result lists it without gw.
    const onLink = config.type === "route-override" || req.noGateway === true;
    const route = requestRoute(req, ifname, onLink ? undefined : gatewayOf(req.dst.family));
    if (onLink && !route.gateway && req.scope === undefined) route.scope = "global";
    let asked: readonly AskedAttribute[] = NONE_ASKED;
    if (req.mtu !== undefined || req.advmss !== undefined || req.scope !== undefined) {
      asked = (["mtu", "advmss", "scope"] as const).filter((k) => req[k] !== undefined);
    }
    const cni = requestToCniRoute(req, route);
    out.push({ route, cni, source: `addroutes[${i}]`, asked, request: req });
  }
  if (range || !config.hostRoute.enabled) return out;
  const families: Family[] = config.hostRoute.ipv6 ? [4, 6] : [4];
  for (const family of families) {
    const hostIp = family === 4 ? host.v4 : host.v6;
    const podIp = family === 4 ? pod.v4 : pod.v6;
    if (!hostIp || !podIp) {
      if (family === 4) {
        throw new CniError(
          ErrorCode.TryAgainLater,
          `host route: ${
            hostIp ? `no IPv4 address on pod interface ${iface}` : "no node IPv4 address"
          }`,
        );
      }
      continue; // IPv6 host route only when both the node and the pod have an IPv6 address.
    }
    const gw = hostRouteGateway(config, podIp, iface);
    const dst = hostCidr(hostIp);
    const route: Route = {
      family,
      dst: cidrText(dst),
      gateway: gw.address,
      dev: iface,
      table: "main",
      metric: defaultMetric(family),
    };
    const key = routeKey(route);
    const clash = out.find((d) => routeKey(d.route) === key);
    if (clash) {
      throw invalidConfig(
        `${clash.source}.dst`,
        route.dst,
        "is the host route's destination; drop it or set hostRoute: false",
      );
    }
    out.push({
      route,
      cni: { dst: route.dst, gw: gw.address },
      source: "hostRoute",
      asked: NONE_ASKED,
    });
  }
  return out;
}

/** A RouteRequest as the CNI route it came from (for results), `route` the route made of it. */
function requestToCniRoute(r: RouteRequest, route: Route): CniRoute {
  // A multipath route's gw is the request's own; a single path's is the route's (or none).
  const via = r.gws ? r.gw?.address : route.gateway;
  const out: CniRoute = via ? { dst: route.dst, gw: via } : { dst: route.dst };
  if (r.gws) out.gws = r.gws.map((g) => g.address);
  if (r.mtu !== undefined) out.mtu = r.mtu;
  if (r.advmss !== undefined) out.advmss = r.advmss;
  if (r.priority !== undefined) out.priority = r.priority;
  if (r.table !== undefined) out.table = r.table;
  if (r.scope !== undefined) out.scope = r.scope;
  return out;
}
