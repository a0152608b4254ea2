/**
 * The network the containerd tests attach pods to: bridge + host-local, then this plugin with the
 * host route, one addroute and one ECMP (`gws`) addroute, and the routing table that network gives
 * a pod.
 */
import { LAB } from "../../../testing/mod.ts";

const NODE_IP = LAB.nodeIp;

/** The pod subnet, its gateway (the bridge) and the first address host-local hands out. */
export const SUBNET = "10.89.48.0/24";
export const GATEWAY = "10.89.48.1";
export const FIRST_POD_IP = "10.89.48.2";
/** The addroute's destination. */
export const ADDROUTE_DST = "10.123.0.0/16";
/** The ECMP addroute: one multipath route via the bridge and a second router on the subnet. */
export const ECMP_DST = "10.124.0.0/16";
export const ECMP_GWS = [GATEWAY, "10.89.48.254"];

/** The conflist's plugins, with host-local and this plugin keeping their files in `dir`. */
export function podNetwork(ipamDir: string, stateDir: string): Record<string, unknown>[] {
  return [
    {
      type: "bridge",
      bridge: "ssrcd0",
      isGateway: true,
      ipMasq: false,
      ipam: {
        type: "host-local",
        ranges: [[{ subnet: SUBNET }]],
        routes: [{ dst: "0.0.0.0/0" }],
        dataDir: ipamDir,
      },
    },
    {
      type: "seamless-static-route",
      stateDir,
      addroutes: [{ dst: ADDROUTE_DST, gw: GATEWAY }, { dst: ECMP_DST, gws: ECMP_GWS }],
    },
  ];
}

/** The pod's IPv4 table (`ip -4 route`, spaces collapsed, sorted) with `podIp`. */
export function expectedPodTable(podIp: string): string[] {
  return [
    `${ADDROUTE_DST} via ${GATEWAY} dev eth0`,
    ECMP_DST,
    ...ECMP_GWS.map((gw) => `nexthop via ${gw} dev eth0 weight 1`),
    `${SUBNET} dev eth0 proto kernel scope link src ${podIp}`,
    `${NODE_IP} via ${GATEWAY} dev eth0`,
    `default via ${GATEWAY} dev eth0`,
  ].sort();
}

/** The routes the final CNI result lists (what libcni caches), sorted by destination. */
export function expectedResultRoutes(): { dst: string; gw?: string; gws?: string[] }[] {
  return [
    { dst: "0.0.0.0/0" },
    { dst: ADDROUTE_DST, gw: GATEWAY },
    { dst: ECMP_DST, gws: ECMP_GWS },
    { dst: `${NODE_IP}/32`, gw: GATEWAY },
  ];
}

/**
 * A result as containerd 1.6's libcni keeps it (its cache, the prevResult of its DELs): its route
 * type predates the `gws` field (containernetworking/cni #1190), so `gws` is dropped. The kernel
 * route stays multipath; only the runtime's copy of the result loses the next-hop list.
 */
export function asLibcniKeepsIt(result: unknown): unknown {
  const copy = structuredClone(result) as { routes?: Record<string, unknown>[] };
  for (const r of copy.routes ?? []) delete r.gws;
  return copy;
}

/** Table lines as `ip route` prints them, trimmed, spaces collapsed, sorted. */
export function tableLines(text: string): string[] {
  return text.split("\n").map((l) => l.trim().replace(/\s+/g, " ")).filter((l) => l !== "")
    .sort();
}
