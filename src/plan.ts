/**
 * PURE planning: the desired routes (`desired.ts`) against the pod's table → the ordered route
 * operations and the result to print (ADD), the undo of a recorded plan (DEL, rollback), and the
 * problems CHECK reports. Nothing here reads the system or runs a process, so every decision the
 * plugin makes is testable in isolation and printable by `--dry-run`.
 */
import {
  type Cidr,
  cidrText,
  contains,
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
  isMultipath,
  kernelMetric,
  type Nexthop,
  nexthopSet,
  restoreOp,
  type Route,
  routeDevs,
  routeKey,
  type RouteOp,
  type RoutePlace,
  samePath,
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
  /**
   * The policy for an addroute the kernel would refuse or that collides with a route in the
   * table: refuse (true) or skip it as route-override v1 does (false). Default `config.strict`.
   */
  strict?: boolean;
}

/**
 * A route ADD leaves as it is, as route-override v1 does, and why: an addroute not added, or a
 * route a delroutes entry names that v1 would not delete.
 */
export interface SkippedRoute {
  route: Route;
  /** Where it comes from: `addroutes[2]`, or `args.cni.addroutes[2]` when a pod set the list. */
  source: string;
  reason: string;
}

/** The plan of an ADD. */
export interface Plan {
  ops: RouteOp[];
  result: CniResult;
  /** Routes the plan adds: DEL removes them. */
  added: Route[];
  /** Routes the plan deletes: DEL restores them. */
  deleted: Route[];
  /**
   * Routes left as they are (never under strict): an addroute not added, not in the result, not
   * recorded; a route a delroute names kept in the table and the result.
   */
  skipped: SkippedRoute[];
  /** The policy the plan was made with (see PlanInput.strict). */
  strict: boolean;
  /**
   * The desired routes the plan's `add` ops come from, `source` as messages name it (to leave one
   * out after the fact).
   */
  adds: DesiredRoute[];
}

/** The fewest addroutes a plan is made in two parts for (see `planInParts`). */
export const SPLIT_PLAN_MIN = 64;

/** The warning line of a skipped route, said once on stderr and in the log. */
export function skipMessage(s: SkippedRoute): string {
  return `skipped route ${describeRoute(s.route)} (${s.source}): ${s.reason}; route-override ` +
    "v1 skips it too (set strict: true in the network config to refuse instead)";
}

/**
 * Which gateways the kernel accepts for a route on a device, predicted from the table: an IPv4
 * gateway needs a link- or host-scope route on that device containing it (a gateway route or a
 * scope-global route without gateway does not count); an IPv6 one is link-local, or needs a route
 * without gateway on that device containing it. Conservative: routes of every table count, so a
 * gateway is called unreachable only when the kernel surely says so.
 */
class GatewayReach {
  private readonly connected = new Map<string, Cidr[]>();
  /** Answers of `reaches` by device and gateway since the last route noted (most share one). */
  private readonly answers = new Map<string, Map<string, boolean>>();

  constructor(routes: Iterable<Route>) {
    for (const r of routes) this.note(r);
  }

  /** Takes a route (of the table, or planned) into account. */
  note(r: Route): void {
    if (!r.dev || r.gateway || isMultipath(r) || (r.type ?? "unicast") !== "unicast") return;
    if (r.family === 4 && r.scope !== "link" && r.scope !== "host") return;
    const dst = parseCidr(r.dst);
    if (!dst) return;
    const key = `${r.family}|${r.dev}`;
    const list = this.connected.get(key);
    if (list) list.push(dst);
    else this.connected.set(key, [dst]);
    this.answers.clear();
  }

  /** True when the kernel would take `gateway` as a next hop on `dev`. */
  reaches(gateway: string, dev: string | undefined): boolean {
    if (dev === undefined) return true; // nothing to predict from: let the kernel say
    let onDev = this.answers.get(dev);
    if (!onDev) this.answers.set(dev, onDev = new Map());
    let answer = onDev.get(gateway);
    if (answer === undefined) {
      answer = this.predict(gateway, dev);
      onDev.set(gateway, answer);
    }
    return answer;
  }

  private predict(gateway: string, dev: string): boolean {
    const gw = parseIp(gateway);
    if (!gw) return true; // nothing to predict from: let the kernel say
    if (gw.family === 6 && isLinkLocal({ ...gw, prefix: 128 })) return true;
    return (this.connected.get(`${gw.family}|${dev}`) ?? []).some((c) => contains(c, gw));
  }
}

/**
 * Why route-override v1 deletes nothing for a `delroutes` entry, or null: it deletes only a dst
 * that prevResult's routes list (compared with its host bits, as written), and its match needs
 * a destination, which the kernel's default route lacks.
 */
function v1KeepsDelroute(req: RouteRequest, config: PluginConfig): string | null {
  const dst = cidrText(req.dst);
  const v1 = "route-override v1 deletes nothing for it";
  if (req.dst.prefix === 0) {
    return `${v1}: its delroutes never match a default route (flushgateway deletes those); it is kept`;
  }
  if (req.dstWithHostBits) {
    return `${v1}: dst ${req.dstWithHostBits} has host bits set, so no route matches it; write ` +
      `${dst}; it is kept`;
  }
  const listed = (config.prevResult?.routes ?? []).some((cr) => {
    const c = parseCidr(cr.dst);
    return c !== null && cidrText(c) === dst;
  });
  if (listed) return null;
  return `${v1}: it deletes only a dst that prevResult's routes list, and ${dst} is not ` +
    "among them; it is kept";
}

/**
 * Why the kernel would refuse route-override's add of `d` (a plain add: no replace) in a table
 * where `clash` holds its destination, table and metric, or null when it would take it.
 */
function kernelRefusal(
  d: DesiredRoute,
  clash: Route | undefined,
  reach: GatewayReach,
  outside: boolean,
): string | null {
  const mapped = d.request?.v4Mapped;
  if (mapped) {
    return `${mapped} is an IPv4-mapped IPv6 address, which route-override v1 (Go) reads as ` +
      'IPv4, so its add fails ("gateway, source, and destination ip are not the same IP ' +
      'family"); write the IPv4 route, or an IPv6 address outside ::ffff:0:0/96';
  }
  const hostBits = d.request?.dstWithHostBits;
  if (hostBits && d.route.family === 4) {
    return `dst ${hostBits} has host bits set, which the kernel refuses for IPv4 ` +
      `("Invalid prefix for given prefix length"); write ${d.route.dst}`;
  }
  if (d.request?.noGateway && d.route.family === 6) {
    return 'gw "::" is no next hop: route-override v1 hands it to the kernel, which refuses it ' +
      "for IPv6; leave gw out for an on-link route";
  }
  if (!d.route.onlink) {
    // A single-path route is its own one hop (counted without a list: this runs per route).
    const hops = d.route.nexthops ?? NO_HOPS;
    const count = isMultipath(d.route) ? hops.length : 1;
    for (let i = 0; i < count; i++) {
      const h: Nexthop = isMultipath(d.route) ? hops[i]! : d.route;
      if (h.gateway === undefined || reach.reaches(h.gateway, h.dev)) continue;
      return `gateway ${h.gateway} is not reachable from ${h.dev} (no ` +
        `${d.route.family === 4 ? "link-scope " : ""}route on ${h.dev} covers it), so the ` +
        "kernel refuses the route";
    }
  }
  if (clash) {
    return `the table already has ${describeRoute(clash)}${
      outside ? ", a route outside this attachment," : ""
    } at that destination, table and metric, which a plain add does not replace ("File ` +
      'exists"); it is kept';
  }
  return null;
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

/**
 * True when `have`, a route of the table found under `d`'s own key (so the key is not compared
 * again), is the route `d` describes, the attributes its config asked for included.
 */
function isDesiredAtKey(d: DesiredRoute, have: Route): boolean {
  return samePath(d.route, have) && attributeDifference(d.route, have, d.asked) === null;
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

const NONE: readonly Route[] = [];
const NO_HOPS: readonly Nexthop[] = [];

/** Plans an ADD: flush routes, flush gateway, delroutes, addroutes, host route — in that order. */
export function planAdd(input: PlanInput): Plan {
  return finish(planning(input));
}

/** A long plan in two parts (see `planInParts`). */
export interface PlanParts {
  /** The plan of the addroutes before `from`: exactly the whole plan's first ops. */
  first: Plan;
  /** The index of the first addroute the rest plans. */
  from: number;
  /** Plans the rest, going on from the first part: the whole plan. */
  rest(): Plan;
}

/**
 * A long plan in two parts: its first two fifths of addroutes planned now, the rest when asked.
 * Null unless the plan has SPLIT_PLAN_MIN addroutes or more, under route-override semantics (not
 * strict) and without a host route: then nothing after the first part can be refused (a later
 * addroute is skipped, never an error) nor delete a route (every deletion is planned before
 * the addroutes), so ADD can record the first part and hand it to `ip` while it plans the rest.
 */
export function planInParts(input: PlanInput): PlanParts | null {
  const { config } = input;
  const count = config.addroutes.length;
  if ((input.strict ?? config.strict) || config.hostRoute.enabled || count < SPLIT_PLAN_MIN) {
    return null;
  }
  const from = Math.ceil(count * 0.4);
  const steps = planning(input, from);
  const first = steps.next();
  if (first.done) return null; // planning pauses when asked to: not reached
  return { first: first.value, from, rest: () => finish(steps) };
}

/** Runs `steps` to their end: the whole plan. */
function finish(steps: Generator<Plan, Plan>): Plan {
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
  }
}

/**
 * The planning of an ADD (see `planAdd`). With `pause`, it plans the addroutes before `pause`,
 * yields that part's plan (its ops are the whole plan's first ops), then plans the rest.
 */
function* planning(input: PlanInput, pause?: number): Generator<Plan, Plan> {
  const { config, ifname, snapshot } = input;
  const scopes = new Map<string, Set<string>>();
  const scopeOf = (key: string) => {
    let scope = scopes.get(key);
    if (!scope) scopes.set(key, scope = podInterfaces(config, ifname, key));
    return scope;
  };
  const desiredFrom = (from: number, to?: number) =>
    desiredRoutes(
      config,
      ifname,
      snapshot,
      input.host,
      input.pod,
      to === undefined ? undefined : { from, to },
    );
  const desired = desiredFrom(0, pause);
  // The table as it will be: the routes by identity and by destination (so lookups stay O(1)
  // for long lists), minus those planned for deletion (`gone`), plus those planned to be added.
  const byKey = indexBy(snapshot.routes, routeKey);
  const byDst = indexBy(snapshot.routes, familyDst);
  const gone = new Set<Route>();
  const live = (routes: readonly Route[] = snapshot.routes) =>
    gone.size === 0 ? routes : routes.filter((r) => !gone.has(r));
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
    // Where it stood among the routes sharing its key (the snapshot lists them in the kernel's
    // order, which is the lookup order), so DEL and a rollback put it back there.
    const peers = byKey.get(routeKey(r)) ?? [];
    const place: RoutePlace | undefined = peers.length < 2 || !peers.includes(r)
      ? undefined
      : peers[0] === r
      ? "first"
      : "after";
    const recorded: Route = place ? { ...r, place } : r;
    ops.push({ action: "del", route: recorded, reason });
    deleted.push(recorded);
  };

  const strict = input.strict ?? config.strict;
  const skipped: SkippedRoute[] = [];
  const adds: DesiredRoute[] = [];
  const addLabel = config.podOverrides.includes("addroutes") ? "args.cni." : "";
  // prevResult as the result starts: planAdd changes only its ips (a flushed gateway) and its
  // routes (a new list), so only the ips are copied; the rest is shared and never changed. Not
  // structuredClone: its first use in a run costs ~0.7 ms.
  const prev = config.prevResult ?? {};
  const result: CniResult = { ...prev };
  if (prev.ips) result.ips = prev.ips.map((ip) => ({ ...ip }));
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
  const delLabel = config.podOverrides.includes("delroutes") ? "args.cni." : "";
  config.delroutes.forEach((req, i) => {
    const dst = familyDst({ family: req.dst.family, dst: cidrText(req.dst) });
    const kept = strict ? null : v1KeepsDelroute(req, config);
    for (const r of live(byDst.get(dst) ?? [])) {
      if (!onPod(r, delScope) || !matchesDelroute(req, r)) continue;
      if (kept) skipped.push({ route: r, source: `${delLabel}delroutes[${i}]`, reason: kept });
      else remove(r, `delroutes[${i}]`);
    }
  });
  const addScope = scopeOf("addroutes");
  // A delroute route-override v1 applies to nothing leaves the result's routes as they are too.
  const applied = strict
    ? config.delroutes
    : config.delroutes.filter((req) => !v1KeepsDelroute(req, config));
  const delByDst = indexBy(applied, (req) => cidrText(req.dst));
  if (delByDst.size > 0) routes = routes.filter((cr) => !deletedByRequest(cr, delByDst));
  // Under route-override semantics nothing is deleted from here on: the table the kernel checks
  // each add against is the live one plus the routes added before it.
  const reach = strict ? undefined : new GatewayReach(live());
  // The result lists what is in the table: a prevResult route that a desired route replaces
  // (the same destination, table and priority) is gone, and an identical one listed once. A
  // skipped route replaces nothing, so the prevResult routes are filtered once skips are known.
  // The identities placed, with the addroute that placed each (none for the host route): a later
  // addroute at the same identity is a duplicate.
  const placed = new Map<string, string | undefined>();
  const mine: CniRoute[] = [];
  const place = (d: DesiredRoute): void => {
    const key = routeKey(d.route);
    const first = d.request ? placed.get(key) : undefined;
    if (first !== undefined) {
      if (strict) {
        throw invalidConfig(
          `${addLabel}${d.source}.dst`,
          d.route.dst,
          `duplicates ${addLabel}${first} (same dst, table and priority); ` +
            "for several next hops, write one route with gws (a multipath route)",
        );
      }
      skipped.push({
        route: d.route,
        source: addLabel + d.source,
        reason: `${addLabel}${first} is at the same destination, table and metric, and the ` +
          'kernel refuses a second plain add there ("File exists")',
      });
      return;
    }
    const same = live(byKey.get(key) ?? NONE);
    // A route to the same place without the attributes asked for (mtu, advmss, scope) is
    // replaced too: the result and CHECK promise them.
    if (same.length === 0 || !same.some((r) => isDesiredAtKey(d, r))) {
      if (reach && d.request) {
        const clash = same[0];
        const outside = clash !== undefined && !onPod(clash, addScope);
        const why = kernelRefusal(d, clash, reach, outside);
        if (why) {
          skipped.push({ route: d.route, source: addLabel + d.source, reason: why });
          return;
        }
        reach.note(d.route);
      }
      // An addroute or host route from args.cni may only replace a route on CNI_IFNAME.
      const podKey = d.request ? "addroutes" : "hostRoute";
      const scope = scopeOf(podKey);
      for (let i = 0; i < same.length; i++) {
        const clash = same[i]!;
        if (!onPod(clash, scope)) {
          // Another attachment's route: replacing it silently would break that attachment.
          const fromPod = config.podOverrides.includes(podKey);
          throw invalidConfig(
            `${fromPod ? "args.cni." : ""}${d.source}${d.request ? ".dst" : ""}`,
            d.route.dst,
            `would replace ${describeRoute(clash)}, a route outside this attachment, with ` +
              `${describeRoute(d.route)}; choose another table or priority`,
          );
        }
        remove(clash, `replaced by ${d.source}`);
      }
      ops.push({ action: "add", route: d.route, reason: d.source });
      added.push(d.route);
      adds.push(d.request && addLabel ? { ...d, source: addLabel + d.source } : d);
      byKey.set(key, [d.route]);
    }
    placed.set(key, d.request ? d.source : undefined);
    mine.push(d.cni);
  };
  const routesNow = () => [...routes.filter((cr) => !placed.has(cniRouteKey(cr) ?? "")), ...mine];
  for (let i = 0; i < desired.length; i++) place(desired[i]!);
  if (pause !== undefined) {
    yield {
      ops: [...ops],
      result: { ...result, routes: routesNow() },
      added: [...added],
      deleted: [...deleted],
      skipped: [...skipped],
      strict,
      adds: [...adds],
    };
    const later = desiredFrom(pause, config.addroutes.length);
    for (let i = 0; i < later.length; i++) place(later[i]!);
  }
  result.routes = routesNow();
  return { ops, result, added, deleted, skipped, strict, adds };
}

/**
 * The plan after the kernel refused its op `index`, an addroute the planner did not foresee
 * refused (another writer, a kernel rule not modelled): under route-override semantics, the plan
 * without that route (not added, not in the result, named in `skipped`, its op removed so
 * `ops[index]` is the next one); under strict, or for any other op, null (ADD fails).
 */
export function skipRefused(plan: Plan, index: number, why: string): Plan | null {
  const op = plan.ops[index];
  const d = plan.adds.find((a) => a.route === op?.route);
  if (plan.strict || op?.action !== "add" || !d?.request) return null;
  const result: CniResult = { ...plan.result };
  if (result.routes) result.routes = result.routes.filter((r) => r !== d.cni);
  return {
    ...plan,
    ops: plan.ops.filter((_, i) => i !== index),
    result,
    added: plan.added.filter((r) => r !== d.route),
    adds: plan.adds.filter((a) => a !== d),
    skipped: [...plan.skipped, { route: d.route, source: d.source, reason: why }],
  };
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
 * present, then restore the deleted routes that are missing (on interfaces that still exist),
 * each before or after the routes that shared its key as it stood (`restoreOp`).
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
    if (!present(r, table) || gone.has(routeKey(r))) ops.push(restoreOp(r, reason));
  }
  return ops;
}

/** The reason of a guard op in `revertOps`: an add that only makes the delete after it exact. */
export const GUARD_REASON = "guard";

/**
 * The undo of `added`/`deleted` without reading the whole table (DEL). Every added route R that
 * has one next hop is undone by two lines: `route add R` (never a replace: it lands only when
 * R's key is free, and is "File exists" when R or another route holds it), then `route del R` —
 * so the delete always finds R itself first, and never, with R gone already, a route the kernel
 * would match loosely (an IPv4 delete with metric 0 matches any metric). Added routes go latest
 * first, so a key an earlier ADD's route shared is free again when that route's turn comes. A
 * multipath route is matched only hop by hop by the kernel, so it is deleted only when `known`
 * (the routes to its destination, read with `exact`) holds it unchanged. Then every deleted route
 * is added back (routes without a gateway first): "File exists" when it is back or taken; one
 * that shared its key with other routes is prepended or appended to them, as it stood (see
 * `Route.place`), where a plain add would collide with them.
 */
export function revertOps(
  added: readonly Route[],
  deleted: readonly Route[],
  known: PodSnapshot,
  reason: string,
): RouteOp[] {
  const table = indexBy(known.routes, routeKey);
  const ops: RouteOp[] = [];
  for (const route of [...added].reverse()) {
    if (isMultipath(route)) {
      if (present(route, table)) ops.push({ action: "del", route, reason });
      continue;
    }
    ops.push({ action: "add", route, reason: GUARD_REASON });
    ops.push({ action: "del", route, reason });
  }
  for (const route of linkRoutesFirst([...deleted])) ops.push(restoreOp(route, reason));
  return ops;
}

/** True when a result's `routes` has `cr` (same dst and gateways). */
function listsRoute(result: CniResult, cr: CniRoute): boolean {
  return (result.routes ?? []).some((r) =>
    r.dst === cr.dst && (r.gw ?? "") === (cr.gw ?? "") && sameSet(r.gws ?? [], cr.gws ?? [])
  );
}

/** A problem CHECK found. */
export interface CheckProblem {
  route: string;
  problem: string;
}

/**
 * CHECK: every desired route present with its gateway, every delroute absent. Under
 * route-override semantics, an addroute ADD skipped is not a problem: one the kernel would refuse
 * in this table, or one ADD's result (CHECK's prevResult) leaves out.
 */
export function planCheck(input: PlanInput): CheckProblem[] {
  const { config, ifname, snapshot } = input;
  const problems: CheckProblem[] = [];
  const table = indexBy(snapshot.routes, routeKey);
  const desired = desiredRoutes(config, ifname, snapshot, input.host, input.pod);
  // ADD applies delroutes before addroutes: a route both name is wanted, not a leftover.
  const wanted = new Set<Route>();
  // Under route-override semantics an addroute the kernel would refuse here was skipped by ADD.
  const strict = input.strict ?? config.strict;
  const reach = strict ? undefined : new GatewayReach(snapshot.routes);
  const addScope = podInterfaces(config, ifname, "addroutes");
  for (const d of desired) {
    const same = table.get(routeKey(d.route)) ?? [];
    let found = false;
    for (let i = 0; i < same.length; i++) {
      if (!isDesiredAtKey(d, same[i]!)) continue;
      wanted.add(same[i]!);
      found = true;
    }
    if (found) continue;
    const clash = same[0];
    if (reach && d.request && kernelRefusal(d, clash, reach, !!clash && !onPod(clash, addScope))) {
      continue;
    }
    // A refusal ADD did not foresee: its result (CHECK's prevResult) left the route out.
    if (reach && d.request && config.prevResult && !listsRoute(config.prevResult, d.cni)) continue;
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
    if (reach && v1KeepsDelroute(req, config)) return; // ADD kept it, as route-override does
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
