/**
 * Looking at the pod and the node: the pod's table (one `ip` read through `ip.ts`), the pod
 * addresses and the node's primary addresses the host route needs, all under ONE deadline
 * (`hostRoute.timeoutSeconds`). It finds facts; it decides no route.
 */
import { CniError, ErrorCode } from "./cni/errors.ts";
import type { PluginConfig } from "./config.ts";
import {
  cannotApply,
  type HostFacts,
  hostRouteInterface,
  type PodFacts,
  podFacts,
} from "./desired.ts";
import { hostPrimaryAddress } from "./host.ts";
import type { Logger } from "./log.ts";
import type { PodSnapshot } from "./snapshot.ts";

/** The pod as read from its netns, its host-route addresses and the node's addresses. */
export interface Observation {
  snapshot: PodSnapshot;
  host: HostFacts;
  pod: PodFacts;
}

/** What `observe` looks at, and how long it may wait. */
export interface ObserveInput {
  config: PluginConfig;
  /** CNI_IFNAME. */
  ifname: string;
  log: Logger;
  /**
   * Reads the pod's table (`readPod` on its netns, or a fixed snapshot in dry runs). With
   * `hostFirst`, it is called after the node's addresses are known and gets them, so a bounded
   * read (CHECK's) can name the host route's destination.
   */
  read: (host: HostFacts) => PodSnapshot;
  /** Discover the node's addresses before reading the pod (CHECK: its read depends on them). */
  hostFirst?: boolean;
  /** How long the pod's IPv4 address and the node's default route may take to appear, in all. */
  waitSeconds: number;
}

/**
 * Reads the pod and, when the host route is on, the node's primary addresses. Waits until one
 * deadline, `waitSeconds` from now, for the pod's IPv4 address and then the node's IPv4 default
 * route (code 11 after that); IPv6 is looked at once and is optional. What waiting cannot fix (no
 * such pod interface, an IPv6-only prevResult) fails at once with code 7, for CHECK too. With
 * `hostFirst` the node is looked at first, then the pod (same deadline).
 */
export async function observe(input: ObserveInput): Promise<Observation> {
  const { config, ifname, log, waitSeconds } = input;
  const deadline = Date.now() + waitSeconds * 1000;
  const hr = config.hostRoute;
  let host: HostFacts = {};
  if (input.hostFirst && hr.enabled) host = await discoverHost(config, log, deadline, waitSeconds);
  const read = () => input.read(host);
  const t0 = performance.now();
  let snapshot = read();
  log.debug(
    `read pod: ${snapshot.routes.length} routes in ${(performance.now() - t0).toFixed(1)}ms`,
  );
  let pod = podFacts(config, ifname, snapshot);
  const impossible = cannotApply(config, ifname, snapshot);
  if (impossible) throw new CniError(ErrorCode.InvalidConfig, impossible);
  if (!hr.enabled) return { snapshot, host, pod };
  while (!pod.v4) {
    if (Date.now() >= deadline) {
      throw new CniError(
        ErrorCode.TryAgainLater,
        `no IPv4 address on pod interface ${hostRouteInterface(config, ifname)} after ` +
          `${waitSeconds}s (the host route needs it; chain after the plugin that assigns it, ` +
          "or set hostRoute: false)",
      );
    }
    await new Promise((r) => setTimeout(r, 200));
    snapshot = read();
    pod = podFacts(config, ifname, snapshot);
  }
  if (!input.hostFirst) host = await discoverHost(config, log, deadline, waitSeconds);
  return { snapshot, host, pod };
}

/** The node's primary addresses the host route needs, waiting for IPv4 until `deadline`. */
async function discoverHost(
  config: PluginConfig,
  log: Logger,
  deadline: number,
  waitSeconds: number,
): Promise<HostFacts> {
  const hr = config.hostRoute;
  const t1 = performance.now();
  const host: HostFacts = {};
  if (hr.hostIP?.family === 4) host.v4 = hr.hostIP;
  else {
    const found = await hostPrimaryAddress(4, deadline);
    if (!found) {
      throw new CniError(
        ErrorCode.TryAgainLater,
        `no IPv4 default route with an address on this node after ${waitSeconds}s ` +
          "(host route needs the node's primary address; set hostRoute.hostIP to skip discovery)",
      );
    }
    host.v4 = found.address;
  }
  if (hr.ipv6) {
    if (hr.hostIP?.family === 6) host.v6 = hr.hostIP;
    else {
      const found = await hostPrimaryAddress(6, 0);
      if (found) host.v6 = found.address;
    }
  }
  log.debug(
    `host: v4=${host.v4.address} v6=${host.v6?.address ?? "-"} ` +
      `in ${(performance.now() - t1).toFixed(1)}ms`,
  );
  return host;
}
