/**
 * PURE planning: the desired routes (`desired.ts`) against the pod's table → the ordered route
 * operations and the result to print (ADD), the undo of a recorded plan (DEL, rollback), and the
 * problems CHECK reports. Nothing here reads the system or runs a process, so every decision the
 * plugin makes is testable in isolation and printable by `--dry-run`.
 */
import {
  type Cidr,
  cidrText,
  type Family,
  isLinkLocal,
  isUnspecified,
  networkOf,
  parseCidr,
  parseIp,
} from "./address.ts";
import type { CniResult, CniRoute } from "./cni/result.ts";
import { invalidConfig } from "./cni/errors.ts";
import { nextHops, type PluginConfig, type RouteRequest } from "./config.ts";
import {
  type DesiredRoute,
  desiredRoutes,
  type HostFacts,
  type PodFacts,
  podInterfaces,
} from "./desired.ts";
import {
  attributeDifference,
  describeRoute,
  kernelMetric,
  nexthopSet,
  type Route,
  routeDevs,
  routeKey,
  type RouteOp,
  sameRoute,
  tableName,
} from "./route.ts";
import type { PodSnapshot } from "./snapshot.ts";

/** What planning needs. */
export interface PlanInput {
  config: PluginConfig;
  /** CNI_IFNAME. */
  ifname: string;
  snapshot: PodSnapshot;
  host: HostFacts;
  /** The pod addresses `observe()` found; derived from `snapshot` when absent. */
  pod?: PodFacts;
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

/** True when every device of `r` is in the attachment's scope (a route half outside is not). */
function onPod(r: Route, ifaces: Set<string>): boolean {
  const devs = routeDevs(r);
  return devs.length > 0 && devs.every((d) => ifaces.has(d));
}

/**
 * What `flushroutes` deletes, as route-override does: default routes, and routes through a
 * gateway to a non-link-local destination — never kernel-made, link-scope or on-link routes.
 */
function flushable(r: Route): boolean {
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
  return (reqs.get(cidrText(dst)) ?? []).some((req) => {
    if (req.gws) return sameSet(nextHops(req).map((h) => h.address), cr.gws ?? []);
    if (req.noGateway) return cr.gws === undefined && (cr.gw === undefined || noGw(cr.gw));
    return req.gw === undefined || (cr.gws === undefined && cr.gw === req.gw.address);
  });
}

function noGw(text: string): boolean {
  const ip = parseIp(text);
  return ip !== null && isUnspecified(ip);
}

/**
 * The kernel identity of a result route (prevResult's): the route an addroute with the same
 * destination, table and priority replaces. Null when its dst cannot be read.
 */
function cniRouteKey(cr: CniRoute): string | null {
  const dst = parseCidr(cr.dst);
  if (!dst) return null;
  return routeKey({
    family: dst.family,
    dst: cidrText(networkOf(dst)),
    table: tableName(cr.table),
    metric: kernelMetric(dst.family, cr.priority),
  });
}

/** True when `have` is the route `d` describes, the attributes its config asked for included. */
function isDesired(d: DesiredRoute, have: Route): boolean {
  return sameRoute(d.route, have) && attributeDifference(d.route, have, d.asked) === null;
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  const x = [...a].sort(), y = [...b].sort();
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

/** True when a kernel route is what a `delroutes` entry names (dst, and gw/table/priority if set). */
function matchesDelroute(req: RouteRequest, r: Route): boolean {
  return r.family === req.dst.family && r.dst === cidrText(req.dst) &&
    r.table === tableName(req.table) &&
    (req.priority === undefined || r.metric === kernelMetric(r.family, req.priority)) &&
    (req.gws !== undefined
      ? sameSet(nextHops(req).map((h) => h.address), nexthopSet(r))
      : req.noGateway
      ? !r.nexthops?.length && r.gateway === undefined
      : req.gw === undefined || (!r.nexthops?.length && r.gateway === req.gw.address));
}

/** Plans an ADD: flush routes, flush gateway, delroutes, addroutes, host route — in that order. */
export function planAdd(input: PlanInput): Plan {
  const { config, ifname, snapshot } = input;
  const ifaces = podInterfaces(config, ifname);
  const scopeOf = (key: string) => podInterfaces(config, ifname, key);
  const desired = desiredRoutes(config, ifname, snapshot, input.host, input.pod);
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
    if (r.unrestorable) {
      // Deleting it could not be undone exactly (by DEL or a rollback): refuse up front.
      throw invalidConfig(
        reason.replace(/^replaced by /, ""),
        describeRoute(r),
        `would delete a route with ${r.unrestorable}, which the plugin cannot restore as it ` +
          "was; leave it out of the flush/delete or remove it first",
      );
    }
    gone.add(r);
    ops.push({ action: "del", route: r, reason });
    deleted.push(r);
  };

  const result: CniResult = structuredClone(config.prevResult ?? {});
  let routes: CniRoute[] = result.routes ?? [];

  if (config.flushroutes) {
    const scope = scopeOf("flushroutes");
    for (const r of live()) {
      if (r.table === "main" && onPod(r, scope) && flushable(r)) remove(r, "flushroutes");
    }
    routes = [];
  }
  if (config.flushgateway) {
    const scope = scopeOf("flushgateway");
    for (const r of live()) {
      if (r.table === "main" && onPod(r, scope) && dstCidr(r).prefix === 0) {
        remove(r, "flushgateway");
      }
    }
    for (const ip of result.ips ?? []) delete ip.gateway;
    routes = routes.filter((r) => parseCidr(r.dst)?.prefix !== 0);
  }
  const delScope = scopeOf("delroutes");
  config.delroutes.forEach((req, i) => {
    const dst = familyDst({ family: req.dst.family, dst: cidrText(req.dst) });
    for (const r of live(byDst.get(dst) ?? [])) {
      if (onPod(r, delScope) && matchesDelroute(req, r)) remove(r, `delroutes[${i}]`);
    }
  });
  const addScope = scopeOf("addroutes");
  const delByDst = indexBy(config.delroutes, (req) => cidrText(req.dst));
  if (delByDst.size > 0) routes = routes.filter((cr) => !deletedByRequest(cr, delByDst));
  // The result lists what is in the table: a prevResult route that a desired route replaces
  // (the same destination, table and priority) is gone, and an identical one listed once.
  const desiredKeys = new Set(desired.map((d) => routeKey(d.route)));
  routes = routes.filter((cr) => !desiredKeys.has(cniRouteKey(cr) ?? ""));
  for (const d of desired) {
    const key = routeKey(d.route);
    const same = live(byKey.get(key) ?? []);
    // A route to the same place without the attributes asked for (mtu, advmss, scope) is
    // replaced too: the result and CHECK promise them.
    if (!same.some((r) => isDesired(d, r))) {
      // An addroute from args.cni may only replace a route on CNI_IFNAME.
      const scope = d.source.startsWith("addroutes") ? addScope : ifaces;
      for (const clash of same) {
        if (!onPod(clash, scope)) {
          // Another attachment's route: replacing it silently would break that attachment.
          const fromPod = scope === addScope && config.podOverrides.includes("addroutes");
          throw invalidConfig(
            `${fromPod ? "args.cni." : ""}${d.source}.dst`,
            d.route.dst,
            `would replace ${describeRoute(clash)}, a route outside this attachment, with ` +
              `${describeRoute(d.route)}; choose another table or priority`,
          );
        }
        remove(clash, `replaced by ${d.source}`);
      }
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
    sameRoute(r, t) && (r.dev === undefined) === (t.dev === undefined)
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
    if (!routeDevs(r).every((d) => now.addresses.has(d))) continue;
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
  const problems: CheckProblem[] = [];
  const table = indexBy(snapshot.routes, routeKey);
  const desired = desiredRoutes(config, ifname, snapshot, input.host, input.pod);
  // ADD applies delroutes before addroutes: a route both name is wanted, not a leftover.
  const wanted = new Set<Route>();
  for (const d of desired) {
    const same = table.get(routeKey(d.route)) ?? [];
    for (const r of same) if (isDesired(d, r)) wanted.add(r);
    if (same.some((r) => isDesired(d, r))) continue;
    const other = same.find((r) => sameRoute(d.route, r)) ?? same[0];
    const hops = (r: Route) => `next hops [${nexthopSet(r).join(", ")}]`;
    const attrs = other && sameRoute(d.route, other)
      ? attributeDifference(d.route, other, d.asked)
      : null;
    problems.push({
      route: describeRoute(d.route),
      problem: attrs
        ? `has ${attrs} (${d.source})`
        : other
        ? (d.route.nexthops?.length || other.nexthops?.length
          ? `has ${hops(other)}, want ${hops(d.route)}: found ${describeRoute(other)} (${d.source})`
          : `found ${describeRoute(other)} instead (${d.source})`)
        : `missing (${d.source})`,
    });
  }
  const delScope = podInterfaces(config, ifname, "delroutes");
  // Each delroute looks only at the routes to its destination: CHECK stays linear in the table.
  const byDst = indexBy(snapshot.routes, familyDst);
  config.delroutes.forEach((req, i) => {
    const dst = familyDst({ family: req.dst.family, dst: cidrText(req.dst) });
    for (const r of byDst.get(dst) ?? []) {
      if (onPod(r, delScope) && matchesDelroute(req, r) && !wanted.has(r)) {
        problems.push({
          route: describeRoute(r),
          problem: `present but deleted by delroutes[${i}]`,
        });
      }
    }
  });
  return problems;
}
