/**
 * The addresses a NAD's IPAM would give a pod, worked out in advance for the lab: `static`
 * addresses as written, and for `host-local` (`subnet` or `ranges`) the address it hands out
 * first: `rangeStart` if set, else the subnet's first host, skipping the gateway. The gateway is
 * the IPAM's own (`gateway`), else a default route's `gw` in its `routes`, else host-local's
 * default (the subnet's first host). Other IPAM types (dhcp, whereabouts, ...) pick addresses at
 * run time: the lease is empty and a note says so. Pure: no I/O.
 */
import ipaddr from "ipaddr.js";
import {
  cidrText,
  contains,
  type Family,
  minAddress,
  networkOf,
  parseCidr,
  parseIp,
} from "../src/address.ts";

/** One address of a lease: a CIDR (address with the subnet's prefix) and its gateway. */
export interface LeaseIp {
  /** `address/prefix`, e.g. 10.131.0.2/23. */
  address: string;
  family: Family;
  /** The gateway IPAM reports for it (ips[].gateway), when it has one. */
  gateway?: string;
}

/** A route the IPAM hands the main plugin (installed on the interface, listed in the result). */
export interface LeaseRoute {
  dst: string;
  gw?: string;
}

/** What an IPAM config would give one interface. */
export interface Lease {
  ips: LeaseIp[];
  routes: LeaseRoute[];
  /** Why the lease is empty or partial (unknown IPAM type, no usable range), for the reader. */
  notes: string[];
}

type Json = Record<string, unknown>;

function isJson(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The address after `ip` (wrapping is the caller's concern: ranges never end on all-ones). */
function nextAddress(ip: string): string {
  const bytes = ipaddr.parse(ip).toByteArray();
  for (let i = bytes.length - 1; i >= 0; i--) {
    bytes[i] = ((bytes[i] ?? 0) + 1) & 0xff;
    if (bytes[i] !== 0) break;
  }
  return ipaddr.fromByteArray(bytes).toString();
}

/** The IPAM's routes that are well formed (`dst` a CIDR, `gw` an address when given). */
function leaseRoutes(raw: unknown, notes: string[]): LeaseRoute[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) {
    notes.push("ipam.routes is not a list: left out");
    return [];
  }
  const out: LeaseRoute[] = [];
  for (const r of raw) {
    const dst = isJson(r) && typeof r.dst === "string" ? parseCidr(r.dst) : null;
    const gw = isJson(r) && typeof r.gw === "string" ? parseIp(r.gw) : null;
    if (!dst || (isJson(r) && r.gw !== undefined && !gw)) {
      notes.push(`ipam.routes entry ${JSON.stringify(r)} is not a route: left out`);
      continue;
    }
    out.push(
      gw ? { dst: cidrText(networkOf(dst)), gw: gw.address } : { dst: cidrText(networkOf(dst)) },
    );
  }
  return out;
}

/** The gateway of `family` a default route in the IPAM's routes names, if any. */
function routeGateway(routes: readonly LeaseRoute[], family: Family): string | undefined {
  const zero = family === 4 ? "0.0.0.0/0" : "::/0";
  return routes.find((r) => r.dst === zero && r.gw !== undefined)?.gw;
}

/** The address host-local hands out first from one range, or a note why there is none. */
function hostLocalIp(range: Json, routes: readonly LeaseRoute[], notes: string[]): LeaseIp | null {
  const subnet = typeof range.subnet === "string" ? parseCidr(range.subnet) : null;
  if (!subnet) {
    notes.push(`host-local range ${JSON.stringify(range)} has no valid subnet`);
    return null;
  }
  const net = networkOf(subnet);
  const own = typeof range.gateway === "string" ? parseIp(range.gateway) : null;
  const gateway = own?.address ?? routeGateway(routes, net.family) ?? minAddress(net)?.address;
  const start = typeof range.rangeStart === "string" ? parseIp(range.rangeStart) : null;
  let first = start && contains(net, start) ? start.address : minAddress(net)?.address;
  if (first === undefined) {
    notes.push(`host-local subnet ${cidrText(net)} has no host address`);
    return null;
  }
  if (first === gateway) first = nextAddress(first);
  const ip: LeaseIp = { address: `${first}/${net.prefix}`, family: net.family };
  if (gateway !== undefined) ip.gateway = gateway;
  return ip;
}

/** host-local's range sets: `ranges` (one address per set, from its first range) or `subnet`. */
function hostLocalLease(ipam: Json, routes: LeaseRoute[], notes: string[]): LeaseIp[] {
  const sets: unknown[] = Array.isArray(ipam.ranges) ? ipam.ranges : [[ipam]];
  const ips: LeaseIp[] = [];
  for (const set of sets) {
    const range = Array.isArray(set) ? set[0] : undefined;
    if (!isJson(range)) {
      notes.push(`host-local range set ${JSON.stringify(set)} is not a list of ranges`);
      continue;
    }
    const ip = hostLocalIp(range, routes, notes);
    if (ip) ips.push(ip);
  }
  return ips;
}

/** static IPAM's `addresses`: each `{address: CIDR, gateway?}` as written. */
function staticLease(ipam: Json, routes: LeaseRoute[], notes: string[]): LeaseIp[] {
  const ips: LeaseIp[] = [];
  for (const a of Array.isArray(ipam.addresses) ? ipam.addresses : []) {
    const cidr = isJson(a) && typeof a.address === "string" ? parseCidr(a.address) : null;
    if (!isJson(a) || !cidr) {
      notes.push(`static address ${JSON.stringify(a)} is not {"address": CIDR}`);
      continue;
    }
    const own = typeof a.gateway === "string" ? parseIp(a.gateway) : null;
    const gateway = own?.address ?? routeGateway(routes, cidr.family);
    const ip: LeaseIp = { address: cidrText(cidr), family: cidr.family };
    if (gateway !== undefined) ip.gateway = gateway;
    ips.push(ip);
  }
  if (ips.length === 0) notes.push("static IPAM without addresses");
  return ips;
}

/** The lease an IPAM config would give one interface (see the module doc). */
export function leaseOf(ipam: unknown): Lease {
  const notes: string[] = [];
  if (!isJson(ipam)) return { ips: [], routes: [], notes: ["the main plugin has no ipam"] };
  const routes = leaseRoutes(ipam.routes, notes);
  if (ipam.type === "host-local") {
    return { ips: hostLocalLease(ipam, routes, notes), routes, notes };
  }
  if (ipam.type === "static") return { ips: staticLease(ipam, routes, notes), routes, notes };
  notes.push(
    `ipam type ${JSON.stringify(ipam.type)} picks its addresses at run time: not known in advance`,
  );
  return { ips: [], routes, notes };
}
