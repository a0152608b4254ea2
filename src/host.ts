/**
 * Node-side discovery, in the namespace the plugin runs in: the interface of the default route
 * (lowest metric) and its primary address. In-process reads only (/proc/net, getifaddrs).
 */
import { type Family, hostCidr, type Ip, isLinkLocal, parseIp } from "./address.ts";
import { CniError, ErrorCode } from "./cni/errors.ts";

/** The node's primary address of one family and the interface it was found on. */
export interface HostAddress {
  address: Ip;
  interface: string;
}

const RTF_UP = 0x1;
const RTF_REJECT = 0x200;

/** The interface of the IPv4 default route with the lowest metric, from /proc/net/route text. */
export function defaultRouteInterface4(procNetRoute: string): string | null {
  let best: { iface: string; metric: number } | null = null;
  for (const line of procNetRoute.split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8) continue;
    const [iface = "", dest, , flags = "", , , metric = "", mask] = f;
    if (dest !== "00000000" || mask !== "00000000") continue;
    const fl = parseInt(flags, 16);
    if (!(fl & RTF_UP) || fl & RTF_REJECT) continue;
    const m = parseInt(metric, 10);
    if (!best || m < best.metric) best = { iface, metric: m };
  }
  return best?.iface ?? null;
}

/** The interface of the IPv6 default route with the lowest metric, from /proc/net/ipv6_route. */
export function defaultRouteInterface6(procNetIpv6Route: string): string | null {
  let best: { iface: string; metric: number } | null = null;
  for (const line of procNetIpv6Route.split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10) continue;
    const [dst = "", dstLen, , , , metric = "", , , flags = "", iface = ""] = f;
    if (!/^0{32}$/.test(dst) || dstLen !== "00" || iface === "lo") continue;
    const fl = parseInt(flags, 16);
    if (!(fl & RTF_UP) || fl & RTF_REJECT) continue;
    const m = parseInt(metric, 16);
    if (!best || m < best.metric) best = { iface, metric: m };
  }
  return best?.iface ?? null;
}

/** Minimal view of `Deno.networkInterfaces()` entries. */
export interface InterfaceAddress {
  name: string;
  family: "IPv4" | "IPv6";
  address: string;
}

/**
 * The primary address of an interface: its first IPv4 address, or its first IPv6 address that
 * is not link-local.
 */
export function primaryAddress(
  addrs: readonly InterfaceAddress[],
  iface: string,
  family: Family,
): Ip | null {
  for (const a of addrs) {
    if (a.name !== iface || a.family !== (family === 4 ? "IPv4" : "IPv6")) continue;
    const ip = parseIp(a.address.split("%")[0] ?? "");
    if (!ip) continue;
    if (family === 6 && isLinkLocal(hostCidr(ip))) continue;
    return ip;
  }
  return null;
}

function readOnce(family: Family): HostAddress | null {
  const path = family === 4 ? "/proc/net/route" : "/proc/net/ipv6_route";
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw new CniError(ErrorCode.IoFailure, `cannot read ${path}`, String(e));
  }
  const iface = family === 4 ? defaultRouteInterface4(text) : defaultRouteInterface6(text);
  if (!iface) return null;
  const address = primaryAddress(Deno.networkInterfaces(), iface, family);
  return address ? { address, interface: iface } : null;
}

/**
 * The node's primary address of `family`: the address of the interface that carries the default
 * route. Polls until `deadline` (a `Date.now()` time) for it to appear; null when it does not.
 */
export async function hostPrimaryAddress(
  family: Family,
  deadline: number,
): Promise<HostAddress | null> {
  while (true) {
    const found = readOnce(family);
    if (found) return found;
    if (Date.now() >= deadline) return null;
    await new Promise((r) => setTimeout(r, 100));
  }
}
