/**
 * The addresses a NAD's IPAM would give a pod, worked out in advance for the lab, as the real IPAM
 * plugins give them:
 *
 * - `static`: the `addresses` as written, each with the `gateway` its entry names (none else);
 * - `host-local` (`subnet` or `ranges`): per range set, the address its first range hands out
 *   first: `rangeStart` if set, else the subnet's first host, skipping the range's gateway. The
 *   gateway is the range's `gateway`, else the subnet's first host (containernetworking/plugins,
 *   allocator `Range.Canonicalize`); a default route's `gw` in `routes` plays no part;
 * - `whereabouts`: it picks at run time; the lab takes the first host of its `range` (or
 *   `range_start`), skipping its `gateway`, which is the address's gateway when given.
 *
 * Other IPAM types (dhcp, ...) pick addresses at run time: the lease is empty and a note says so.
 * Pure: no I/O.
 */
import ipaddr from "ipaddr.js";
import {
  type Cidr,
  cidrText,
  contains,
  type Family,
  type Ip,
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

/**
 * The first address of `net` from `start` (when inside it, else the first host), skipping
 * `gateway`; null when the subnet has no host address.
 */
function firstAddress(net: Cidr, start: Ip | null, gateway: string | undefined): string | null {
  let first = start && contains(net, start) ? start.address : minAddress(net)?.address;
  if (first === undefined) return null;
  if (first === gateway) first = nextAddress(first);
  return first;
}

/** The address host-local hands out first from one range, or a note why there is none. */
function hostLocalIp(range: Json, notes: string[]): LeaseIp | null {
  const subnet = typeof range.subnet === "string" ? parseCidr(range.subnet) : null;
  if (!subnet) {
    notes.push(`host-local range ${JSON.stringify(range)} has no valid subnet`);
    return null;
  }
  const net = networkOf(subnet);
  // Range.Canonicalize: no gateway means the subnet's first host; routes play no part.
  const own = typeof range.gateway === "string" ? parseIp(range.gateway) : null;
  const gateway = own?.address ?? minAddress(net)?.address;
  const start = typeof range.rangeStart === "string" ? parseIp(range.rangeStart) : null;
  const first = firstAddress(net, start, gateway);
  if (first === null) {
    notes.push(`host-local subnet ${cidrText(net)} has no host address`);
    return null;
  }
  const ip: LeaseIp = { address: `${first}/${net.prefix}`, family: net.family };
  if (gateway !== undefined) ip.gateway = gateway;
  return ip;
}

/**
 * whereabouts' `range` (a CIDR), `range_start` and `gateway`: the first host of the range (or
 * `range_start`), skipping the gateway. whereabouts picks at run time; this is the lab's guess.
 */
function whereaboutsLease(ipam: Json, notes: string[]): LeaseIp[] {
  const range = typeof ipam.range === "string" ? parseCidr(ipam.range) : null;
  if (!range) {
    notes.push(
      `whereabouts range ${JSON.stringify(ipam.range ?? null)} is not a CIDR the lab reads`,
    );
    return [];
  }
  const net = networkOf(range);
  const own = typeof ipam.gateway === "string" ? parseIp(ipam.gateway) : null;
  const start = typeof ipam.range_start === "string" ? parseIp(ipam.range_start) : null;
  const first = firstAddress(net, start, own?.address);
  if (first === null) {
    notes.push(`whereabouts range ${cidrText(net)} has no host address`);
    return [];
  }
  notes.push("whereabouts picks its address at run time: the lab takes its range's first");
  const ip: LeaseIp = { address: `${first}/${net.prefix}`, family: net.family };
  if (own && own.family === net.family) ip.gateway = own.address;
  return [ip];
}

/** host-local's range sets: `ranges` (one address per set, from its first range) or `subnet`. */
function hostLocalLease(ipam: Json, notes: string[]): LeaseIp[] {
  const sets: unknown[] = Array.isArray(ipam.ranges) ? ipam.ranges : [[ipam]];
  const ips: LeaseIp[] = [];
  for (const set of sets) {
    const range = Array.isArray(set) ? set[0] : undefined;
    if (!isJson(range)) {
      notes.push(`host-local range set ${JSON.stringify(set)} is not a list of ranges`);
      continue;
    }
    const ip = hostLocalIp(range, notes);
    if (ip) ips.push(ip);
  }
  return ips;
}

/** static IPAM's `addresses`: each `{address: CIDR, gateway?}` as written, no other gateway. */
function staticLease(ipam: Json, notes: string[]): LeaseIp[] {
  const ips: LeaseIp[] = [];
  for (const a of Array.isArray(ipam.addresses) ? ipam.addresses : []) {
    const cidr = isJson(a) && typeof a.address === "string" ? parseCidr(a.address) : null;
    if (!isJson(a) || !cidr) {
      notes.push(`static address ${JSON.stringify(a)} is not {"address": CIDR}`);
      continue;
    }
    const own = typeof a.gateway === "string" ? parseIp(a.gateway) : null;
    const ip: LeaseIp = { address: cidrText(cidr), family: cidr.family };
    if (own) ip.gateway = own.address;
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
    return { ips: hostLocalLease(ipam, notes), routes, notes };
  }
  if (ipam.type === "static") return { ips: staticLease(ipam, notes), routes, notes };
  if (ipam.type === "whereabouts") return { ips: whereaboutsLease(ipam, notes), routes, notes };
  notes.push(
    `ipam type ${JSON.stringify(ipam.type)} picks its addresses at run time: not known in advance`,
  );
  return { ips: [], routes, notes };
}
