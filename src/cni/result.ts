/**
 * CNI results across spec versions: read a prevResult of any supported version into one current
 * (1.1.0) shape, and write that shape back in the version the config asks for.
 */
import { parseCidr, parseIp } from "../address.ts";
import { compareVersions } from "./version.ts";
import { invalidConfig } from "./errors.ts";
import { isObject, type Json } from "../validate.ts";

/** A route of a CNI result (1.1.0 adds mtu, advmss, priority, table and scope). */
export interface CniRoute {
  dst: string;
  gw?: string;
  /** Next hops of a multipath route (the CNI proposal #1188); written in every result version. */
  gws?: string[];
  mtu?: number;
  advmss?: number;
  priority?: number;
  table?: number;
  scope?: number;
}

/** An interface of a CNI result; passed through untouched. */
export interface CniInterface {
  name: string;
  mac?: string;
  sandbox?: string;
  [key: string]: unknown;
}

/** An IP configuration of a CNI result (current form: no `version`). */
export interface CniIpConfig {
  address: string;
  gateway?: string;
  interface?: number;
  [key: string]: unknown;
}

/** A CNI result in the current (1.1.0) shape. */
export interface CniResult {
  interfaces?: CniInterface[];
  ips?: CniIpConfig[];
  routes?: CniRoute[];
  dns?: unknown;
}

function readRoutes(raw: unknown, key: string): CniRoute[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) throw invalidConfig(key, raw, "must be a list of routes");
  return raw.map((r, i) => {
    if (!isObject(r) || typeof r.dst !== "string" || !parseCidr(r.dst)) {
      throw invalidConfig(`${key}[${i}].dst`, isObject(r) ? r.dst : r, "must be a CIDR");
    }
    if (r.gw !== undefined && (typeof r.gw !== "string" || !parseIp(r.gw))) {
      throw invalidConfig(`${key}[${i}].gw`, r.gw, "must be an IP address");
    }
    const out: CniRoute = { dst: r.dst };
    if (r.gw !== undefined) out.gw = r.gw as string;
    if (r.gws !== undefined) {
      if (!Array.isArray(r.gws) || !r.gws.every((g) => typeof g === "string" && parseIp(g))) {
        throw invalidConfig(`${key}[${i}].gws`, r.gws, "must be a list of IP addresses");
      }
      out.gws = [...r.gws] as string[];
    }
    for (const k of ["mtu", "advmss", "priority", "table", "scope"] as const) {
      if (typeof r[k] === "number") out[k] = r[k] as number;
    }
    return out;
  });
}

function readIp(raw: unknown, key: string): CniIpConfig {
  if (!isObject(raw) || typeof raw.address !== "string" || !parseCidr(raw.address)) {
    throw invalidConfig(`${key}.address`, isObject(raw) ? raw.address : raw, "must be a CIDR");
  }
  if (raw.gateway !== undefined && (typeof raw.gateway !== "string" || !parseIp(raw.gateway))) {
    throw invalidConfig(`${key}.gateway`, raw.gateway, "must be an IP address");
  }
  const { version: _version, ...rest } = raw;
  if (rest.interface !== undefined && !Number.isInteger(rest.interface)) {
    throw invalidConfig(`${key}.interface`, rest.interface, "must be an interface index");
  }
  return rest as CniIpConfig;
}

/** Reads a prevResult of any supported version (0.1.0/0.2.0 `ip4`/`ip6`, or `ips`). */
export function resultFromJson(raw: unknown): CniResult {
  if (!isObject(raw)) throw invalidConfig("prevResult", raw, "must be an object");
  const out: CniResult = {};
  if ("ip4" in raw || "ip6" in raw) {
    // 0.1.0 / 0.2.0: one IP config per family, each with its own routes.
    out.ips = [];
    out.routes = [];
    for (const fam of ["ip4", "ip6"] as const) {
      const v = raw[fam];
      if (v === undefined || v === null) continue;
      if (!isObject(v)) throw invalidConfig(`prevResult.${fam}`, v, "must be an object");
      const ip = readIp({ address: v.ip, gateway: v.gateway }, `prevResult.${fam}`);
      if (ip.gateway === undefined) delete ip.gateway;
      out.ips.push(ip);
      for (const r of readRoutes(v.routes, `prevResult.${fam}.routes`)) out.routes.push(r);
    }
  } else {
    if (raw.interfaces !== undefined) {
      if (!Array.isArray(raw.interfaces) || !raw.interfaces.every((i) => isObject(i))) {
        throw invalidConfig("prevResult.interfaces", raw.interfaces, "must be a list of objects");
      }
      out.interfaces = raw.interfaces as CniInterface[];
    }
    if (raw.ips !== undefined) {
      if (!Array.isArray(raw.ips)) throw invalidConfig("prevResult.ips", raw.ips, "must be a list");
      out.ips = raw.ips.map((ip, i) => readIp(ip, `prevResult.ips[${i}]`));
    }
    if (raw.routes !== undefined) out.routes = readRoutes(raw.routes, "prevResult.routes");
  }
  if (raw.dns !== undefined) out.dns = raw.dns;
  return out;
}

function routeForVersion(r: CniRoute, attributes: boolean): CniRoute {
  if (attributes) return { ...r };
  const out: CniRoute = { dst: r.dst };
  if (r.gw !== undefined) out.gw = r.gw;
  if (r.gws !== undefined) out.gws = [...r.gws];
  return out;
}

function familyOf(cidr: string): 4 | 6 {
  return parseCidr(cidr)?.family ?? 4;
}

/** Writes a result in the shape of `version`; fields a version lacks are left out. */
export function resultToJson(result: CniResult, version: string): Json {
  const attributes = compareVersions(version, "1.1.0") >= 0;
  const routes = (result.routes ?? []).map((r) => routeForVersion(r, attributes));
  const out: Json = { cniVersion: version };
  if (compareVersions(version, "0.3.0") < 0) {
    for (const fam of [4, 6] as const) {
      const ip = (result.ips ?? []).find((i) => familyOf(i.address) === fam);
      const famRoutes = routes.filter((r) => familyOf(r.dst) === fam);
      if (!ip && famRoutes.length === 0) continue;
      const block: Json = {};
      if (ip) block.ip = ip.address;
      if (ip?.gateway) block.gateway = ip.gateway;
      if (famRoutes.length > 0) block.routes = famRoutes;
      out[fam === 4 ? "ip4" : "ip6"] = block;
    }
    if (result.dns !== undefined) out.dns = result.dns;
    return out;
  }
  const withVersion = compareVersions(version, "1.0.0") < 0;
  if (result.interfaces !== undefined) out.interfaces = result.interfaces;
  if (result.ips !== undefined) {
    out.ips = result.ips.map((ip) =>
      withVersion ? { version: String(familyOf(ip.address)), ...ip } : { ...ip }
    );
  }
  out.routes = routes;
  if (result.dns !== undefined) out.dns = result.dns;
  return out;
}
