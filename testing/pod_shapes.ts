/**
 * The pod shapes admins run, built from a NAD's lease (testing/ipam.ts): the interfaces of the
 * lab pod and the prevResult the main plugin would hand the chain.
 *
 * - single-homed: the attachment is the pod's only interface (eth0), holding the lease's
 *   addresses and a default route via each family's gateway, as a cluster network gives it.
 * - Multus secondary: eth0 is the cluster network (10.128.2.5/23, default via 10.128.2.1 and the
 *   service network 172.30.0.0/16 via it); the attachment is a second interface (net1) holding the
 *   lease's addresses and only the IPAM's routes, and prevResult is what the main plugin
 *   (macvlan, ipvlan, bridge) returns for it under Multus: that interface alone. An IPAM route to
 *   a destination eth0 holds already (most often `0.0.0.0/0`) is added in front of eth0's, as
 *   the main plugin adds it (testing/lab.ts `linkedPod`), and the result lists it as the IPAM
 *   gave it: the pod has two default routes, net1's first, until route-override fixes that.
 *
 * Dual-stack comes from the lease: both families when the IPAM gives both. Pure: no I/O.
 */
import type { Lease, LeaseRoute } from "./ipam.ts";
import { LAB, type PodLink } from "./lab.ts";

/** The cluster network of a Multus pod's eth0. */
export const CLUSTER = {
  ifname: "eth0",
  address: "10.128.2.5/23",
  gateway: "10.128.2.1",
  /** The service network, routed via the cluster gateway. */
  serviceNetwork: "172.30.0.0/16",
} as const;

/** The interface Multus gives the first attachment. */
export const MULTUS_IFNAME = "net1";

/** The lab's own lease, used when a config's IPAM is unknown: LAB.podAddress via LAB.podGateway. */
export const DEFAULT_LEASE: Lease = {
  ips: [{ address: LAB.podAddress, family: 4, gateway: LAB.podGateway }],
  routes: [],
  notes: [],
};

/** A pod shape: the attachment's interface, and whether the pod is a Multus pod. */
export interface PodShape {
  /** CNI_IFNAME of the attachment. */
  ifname: string;
  /** True: eth0 is the cluster network and the attachment is a second interface. */
  multus: boolean;
}

/** The routes the main plugin installs for a lease: each IPAM route, via its gw or the gateway. */
function ipamRoutes(lease: Lease): LeaseRoute[] {
  return lease.routes.map((r) => {
    const v6 = r.dst.includes(":");
    const gw = r.gw ?? lease.ips.find((ip) => (ip.family === 6) === v6)?.gateway;
    return gw === undefined ? { dst: r.dst } : { dst: r.dst, gw };
  });
}

/**
 * The default routes a single-homed pod gets besides the IPAM's: one per family with a gateway,
 * unless the IPAM's routes hold that family's default already.
 */
function defaultRoutes(lease: Lease): LeaseRoute[] {
  const out: LeaseRoute[] = [];
  for (const ip of lease.ips) {
    const dst = ip.family === 4 ? "0.0.0.0/0" : "::/0";
    if (ip.gateway === undefined || out.some((r) => r.dst === dst)) continue;
    if (lease.routes.some((r) => r.dst === dst)) continue;
    out.push({ dst, gw: ip.gateway });
  }
  return out;
}

/** The interfaces of the lab pod of `shape` with `lease` on the attachment. */
export function podLinks(shape: PodShape, lease: Lease): PodLink[] {
  const attachment: PodLink = {
    ifname: shape.ifname,
    addresses: lease.ips.map((ip) => ip.address),
    routes: shape.multus ? ipamRoutes(lease) : [...defaultRoutes(lease), ...ipamRoutes(lease)],
  };
  if (!shape.multus) return [attachment];
  const cluster: PodLink = {
    ifname: CLUSTER.ifname,
    addresses: [CLUSTER.address],
    routes: [
      { dst: "0.0.0.0/0", gw: CLUSTER.gateway },
      { dst: CLUSTER.serviceNetwork, gw: CLUSTER.gateway },
    ],
  };
  return [cluster, attachment];
}

/** A 1.0.0 prevResult as the main plugin prints it for the attachment of `shape`. */
export function shapePrevResult(shape: PodShape, lease: Lease, podNetns: string): {
  cniVersion: string;
  interfaces: { name: string; mac: string; sandbox: string }[];
  ips: { address: string; gateway?: string; interface: number }[];
  routes: LeaseRoute[];
  dns: Record<string, never>;
} {
  return {
    cniVersion: "1.0.0",
    interfaces: [{ name: shape.ifname, mac: "0a:58:0a:83:00:05", sandbox: podNetns }],
    ips: lease.ips.map((ip) =>
      ip.gateway === undefined
        ? { address: ip.address, interface: 0 }
        : { address: ip.address, gateway: ip.gateway, interface: 0 }
    ),
    routes: shape.multus ? [...lease.routes] : [...defaultRoutes(lease), ...lease.routes],
    dns: {},
  };
}
