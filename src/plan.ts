/**
 * PURE planning: (config, pod snapshot, host facts) → the ordered route operations and the
 * result to print. Nothing here reads the system or runs a process, so every decision the plugin
 * makes is testable in isolation and printable by `--dry-run`.
 */
import {
  type Cidr,
  cidrText,
  type Family,
  hostCidr,
  type Ip,
  isLinkLocal,
  minAddress,
  parseCidr,
} from "./address.ts";
import { CniError, ErrorCode, invalidConfig } from "./cni/errors.ts";
import type { CniResult, CniRoute } from "./cni/result.ts";
import { type PluginConfig, requestToCniRoute, type RouteRequest } from "./config.ts";
import type { PodSnapshot } from "./snapshot.ts";
import {
  defaultMetric,
  describeRoute,
  type Route,
  routeKey,
  type RouteOp,
  sameRoute,
  scopeName,
  tableName,
} from "./route.ts";

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

/** What planning needs. */
export interface PlanInput {
  config: PluginConfig;
  /** CNI_IFNAME. */
  ifname: string;
  snapshot: PodSnapshot;
  host: HostFacts;
}

/** A route the plugin is responsible for, with the CNI route it shows in the result. */
export interface DesiredRoute {
  route: Route;
  cni: CniRoute;
  /** Where it comes from, e.g. `addroutes[0]` or `hostRoute`. */
  source: string;
}

/** The plan of an ADD. */
export interface Plan {
  ops: RouteOp[];
  result: CniResult;
  /** Routes the plan adds: DEL removes them. */
  added: Route[];
  /** Routes the plan deletes: DEL restores them. */
  deleted: Route[];
}

function parseIpFamily(text: string | undefined): Ip | undefined {
  if (!text) return undefined;
  const c = parseCidr(text.includes("/") ? text : `${text}/${text.includes(":") ? 128 : 32}`);
  return c ? { address: c.address, family: c.family } : undefined;
}

/** Names of the pod's interfaces: prevResult's interfaces inside a sandbox, and CNI_IFNAME. */
export function podInterfaces(config: PluginConfig, ifname: string): Set<string> {
  const names = new Set<string>([ifname]);
  for (const i of config.prevResult?.interfaces ?? []) {
    if (i.sandbox && typeof i.name === "string") names.add(i.name);
  }
  if (config.hostRoute.interface) names.add(config.hostRoute.interface);
  return names;
}

/**
 * The pod's address of `family` on `iface`: from prevResult's ips on that interface (or on no
 * interface, as 0.2.0 results have), else from the addresses read in the netns; null if none.
 */
export function podAddress(
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
      return { cidr, gateway: parseIpFamily(ip.gateway) };
    }
  }
  const fromKernel = (snapshot.addresses.get(iface) ?? []).find((c) => c.family === family);
  return fromKernel ? { cidr: fromKernel } : null;
}

/** The gateway of the host route for a pod address, per `hostRoute.gateway`. */
export function hostRouteGateway(config: PluginConfig, pod: PodAddress, iface: string): Ip {
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
    if (mode.family !== pod.cidr.family) return minAddressOrFail(config, pod, iface);
    gw = mode;
  }
  if (gw.address === pod.cidr.address) {
    throw invalidConfig(
      "hostRoute.gateway",
      typeof mode === "string" ? mode : mode.address,
      `the gateway ${gw.address} is the pod's own address on ${iface}; set hostRoute.gateway`,
    );
  }
  return gw;
}

function minAddressOrFail(config: PluginConfig, pod: PodAddress, iface: string): Ip {
  return hostRouteGateway(
    { ...config, hostRoute: { ...config.hostRoute, gateway: "minaddr" } },
    pod,
    iface,
  );
}

/** The kernel route a RouteRequest asks for on `dev`, with prevResult's gateway as fallback. */
export function requestRoute(req: RouteRequest, dev: string, fallbackGw?: Ip): Route {
  const family = req.dst.family;
  const r: Route = {
    family,
    dst: cidrText(req.dst),
    dev,
    table: tableName(req.table),
    metric: req.priority ?? defaultMetric(family),
  };
  const gw = req.gw ?? (fallbackGw?.family === family ? fallbackGw : undefined);
  if (gw) r.gateway = gw.address;
  if (req.mtu !== undefined) r.mtu = req.mtu;
  if (req.advmss !== undefined) r.advmss = req.advmss;
  if (req.scope !== undefined) r.scope = scopeName(req.scope);
  return r;
}

/**
 * The routes the plugin is responsible for: every `addroutes` entry, then the host route(s).
 * Throws code 7 when an addroute collides with the host route.
 */
export function desiredRoutes(
  config: PluginConfig,
  ifname: string,
  snapshot: PodSnapshot,
  host: HostFacts,
): DesiredRoute[] {
  const out: DesiredRoute[] = [];
  const gateways = new Map<Family, Ip | undefined>();
  const gatewayOf = (family: Family): Ip | undefined => {
    if (!gateways.has(family)) {
      gateways.set(family, podAddress(config, snapshot, ifname, family)?.gateway);
    }
    return gateways.get(family);
  };
  config.addroutes.forEach((req, i) => {
    const gw = gatewayOf(req.dst.family);
    const route = requestRoute(req, ifname, gw);
    const via = route.gateway ? { address: route.gateway, family: route.family } : undefined;
    out.push({ route, cni: requestToCniRoute(req, via), source: `addroutes[${i}]` });
  });
  if (!config.hostRoute.enabled) return out;
  const iface = config.hostRoute.interface ?? ifname;
  const families: Family[] = config.hostRoute.ipv6 ? [4, 6] : [4];
  for (const family of families) {
    const hostIp = family === 4 ? host.v4 : host.v6;
    const pod = podAddress(config, snapshot, iface, family);
    if (!hostIp || !pod) {
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
    const gw = hostRouteGateway(config, pod, iface);
    const dst = hostCidr(hostIp);
    const route: Route = {
      family,
      dst: cidrText(dst),
      gateway: gw.address,
      dev: iface,
      table: "main",
      metric: defaultMetric(family),
    };
    const clash = out.find((d) => routeKey(d.route) === routeKey(route));
    if (clash) {
      throw invalidConfig(
        `${clash.source}.dst`,
        route.dst,
        "is the host route's destination; drop it or set hostRoute: false",
      );
    }
    out.push({ route, cni: { dst: route.dst, gw: gw.address }, source: "hostRoute" });
  }
  return out;
}

function onPod(r: Route, ifaces: Set<string>): boolean {
  if (r.dev && ifaces.has(r.dev)) return true;
  return (r.nexthops ?? []).some((h) => h.dev !== undefined && ifaces.has(h.dev));
}

/**
 * What `flushroutes` deletes, as route-override does: default routes, and routes through a
 * gateway to a non-link-local destination — never kernel-made, link-scope or on-link routes.
 */
export function flushable(r: Route): boolean {
  if (r.protocol === "kernel" || r.scope === "link" || r.scope === "host") return false;
  const dst = dstCidr(r);
  if (dst.prefix === 0) return true;
  const viaGateway = !!r.gateway || (r.nexthops ?? []).some((h) => !!h.gateway);
  return viaGateway && !isLinkLocal(dst);
}

function dstCidr(r: Route): Cidr {
  return parseCidr(r.dst) as Cidr;
}

/** Items grouped by `group(item)`, so lookups in long tables stay O(1). */
function indexBy<T>(items: readonly T[], group: (item: T) => string): Map<string, T[]> {
  const index = new Map<string, T[]>();
  for (const item of items) {
    const key = group(item);
    const same = index.get(key);
    if (same) same.push(item);
    else index.set(key, [item]);
  }
  return index;
}

function familyDst(r: { family: Family; dst: string }): string {
  return `${r.family}|${r.dst}`;
}

/** True when a CNI result route is removed by a `delroutes` entry (same dst, and gw if set). */
function deletedByRequest(cr: CniRoute, reqs: ReadonlyMap<string, RouteRequest[]>): boolean {
  const dst = parseCidr(cr.dst);
  if (!dst) return false;
  return (reqs.get(cidrText(dst)) ?? []).some((req) =>
    req.gw === undefined || cr.gw === req.gw.address
  );
}

/** True when a kernel route is what a `delroutes` entry names (dst, and gw/table/priority if set). */
export function matchesDelroute(req: RouteRequest, r: Route): boolean {
  return r.family === req.dst.family && r.dst === cidrText(req.dst) &&
    r.table === tableName(req.table) &&
    (req.priority === undefined || r.metric === req.priority) &&
    (req.gw === undefined || r.gateway === req.gw.address);
}

/** Plans an ADD: flush routes, flush gateway, delroutes, addroutes, host route — in that order. */
export function planAdd(input: PlanInput): Plan {
  const { config, ifname, snapshot } = input;
  const ifaces = podInterfaces(config, ifname);
  const desired = desiredRoutes(config, ifname, snapshot, input.host);
  // The table as it will be: the routes by identity and by destination (so lookups stay O(1)
  // for long lists), minus those planned for deletion (`gone`), plus those planned to be added.
  const byKey = indexBy(snapshot.routes, routeKey);
  const byDst = indexBy(snapshot.routes, familyDst);
  const gone = new Set<Route>();
  const live = (routes: readonly Route[] = snapshot.routes) => routes.filter((r) => !gone.has(r));
  const ops: RouteOp[] = [];
  const deleted: Route[] = [];
  const added: Route[] = [];
  const remove = (r: Route, reason: string) => {
    if (gone.has(r)) return;
    gone.add(r);
    ops.push({ action: "del", route: r, reason });
    deleted.push(r);
  };

  const result: CniResult = structuredClone(config.prevResult ?? {});
  let routes: CniRoute[] = result.routes ?? [];

  if (config.flushroutes) {
    for (const r of live()) {
      if (r.table === "main" && onPod(r, ifaces) && flushable(r)) remove(r, "flushroutes");
    }
    routes = [];
  }
  if (config.flushgateway) {
    for (const r of live()) {
      if (r.table === "main" && onPod(r, ifaces) && dstCidr(r).prefix === 0) {
        remove(r, "flushgateway");
      }
    }
    for (const ip of result.ips ?? []) delete ip.gateway;
    routes = routes.filter((r) => parseCidr(r.dst)?.prefix !== 0);
  }
  config.delroutes.forEach((req, i) => {
    const dst = familyDst({ family: req.dst.family, dst: cidrText(req.dst) });
    for (const r of live(byDst.get(dst) ?? [])) {
      if (onPod(r, ifaces) && matchesDelroute(req, r)) remove(r, `delroutes[${i}]`);
    }
  });
  const delByDst = indexBy(config.delroutes, (req) => cidrText(req.dst));
  if (delByDst.size > 0) routes = routes.filter((cr) => !deletedByRequest(cr, delByDst));
  for (const d of desired) {
    const key = routeKey(d.route);
    const same = live(byKey.get(key) ?? []);
    if (!same.some((r) => sameRoute(d.route, r))) {
      for (const clash of same) remove(clash, `replaced by ${d.source}`);
      ops.push({ action: "add", route: d.route, reason: d.source });
      added.push(d.route);
      byKey.set(key, [d.route]);
    }
    routes.push(d.cni);
  }
  result.routes = routes;
  return { ops, result, added, deleted };
}

/** Orders routes to add so that routes without a gateway (which others may need) come first. */
function linkRoutesFirst(routes: Route[]): Route[] {
  return [...routes].sort((a, b) =>
    Number(!!a.gateway || !!a.nexthops) - Number(!!b.gateway || !!b.nexthops)
  );
}

function present(r: Route, table: ReadonlyMap<string, Route[]>): boolean {
  return (table.get(routeKey(r)) ?? []).some((t) =>
    (t.gateway ?? "") === (r.gateway ?? "") && t.dev === r.dev
  );
}

/**
 * Plans the undo of `added`/`deleted` against the current table: delete the added routes still
 * present, then restore the deleted routes that are missing (on interfaces that still exist).
 * Used by DEL and by the rollback of a failed ADD.
 */
export function planRevert(
  added: readonly Route[],
  deleted: readonly Route[],
  now: PodSnapshot,
  reason: string,
): RouteOp[] {
  const table = indexBy(now.routes, routeKey);
  const ops: RouteOp[] = [];
  const gone = new Set<string>();
  for (const r of added) {
    if (!present(r, table)) continue;
    ops.push({ action: "del", route: r, reason });
    gone.add(routeKey(r));
  }
  for (const r of linkRoutesFirst([...deleted])) {
    const devs = [r.dev, ...(r.nexthops ?? []).map((h) => h.dev)].filter((d) => d !== undefined);
    if (!devs.every((d) => now.addresses.has(d as string))) continue;
    if (!present(r, table) || gone.has(routeKey(r))) {
      ops.push({ action: "add", route: r, reason });
    }
  }
  return ops;
}

/** A problem CHECK found. */
export interface CheckProblem {
  route: string;
  problem: string;
}

/** CHECK: every desired route present with its gateway, every delroute absent. */
export function planCheck(input: PlanInput): CheckProblem[] {
  const { config, ifname, snapshot } = input;
  const ifaces = podInterfaces(config, ifname);
  const problems: CheckProblem[] = [];
  const table = indexBy(snapshot.routes, routeKey);
  for (const d of desiredRoutes(config, ifname, snapshot, input.host)) {
    const same = table.get(routeKey(d.route)) ?? [];
    if (same.some((r) => sameRoute(d.route, r))) continue;
    const other = same[0];
    problems.push({
      route: describeRoute(d.route),
      problem: other
        ? `found ${describeRoute(other)} instead (${d.source})`
        : `missing (${d.source})`,
    });
  }
  config.delroutes.forEach((req, i) => {
    for (const r of snapshot.routes) {
      if (onPod(r, ifaces) && matchesDelroute(req, r)) {
        problems.push({
          route: describeRoute(r),
          problem: `present but deleted by delroutes[${i}]`,
        });
      }
    }
  });
  return problems;
}
