/**
 * A "node" network namespace (uplink0 192.168.100.10/24, default via .1, like `Lab`'s) holding
 * any number of pod namespaces: empty ones for a real main plugin (bridge, ptp, podman) to fill,
 * or ones already joined to the node by a veth pair (for load tests). Dispose to remove all.
 * Nothing here touches the machine's own namespace.
 */
import { ipIn, must, run, uniqueName } from "./netns.ts";

/** A pod namespace made by `Node`. */
export interface Pod {
  /** Namespace name (under /var/run/netns). */
  ns: string;
  /** CNI_NETNS path. */
  netns: string;
  /** Interface in the pod (set when the pod has a veth). */
  ifname: string;
  /** Pod address with prefix and its gateway (set when the pod has a veth). */
  address?: string;
  gateway?: string;
}

/** Node address and default gateway of every `Node`. */
export const NODE_IP = "192.168.100.10";
export const NODE_GATEWAY = "192.168.100.1";

async function sysctls(ns: string): Promise<void> {
  await must(["ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0"]);
  await must(["ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.default.accept_dad=0"]);
  await ipIn(ns, "link", "set", "lo", "up");
}

/** A node namespace and its pods. */
export class Node implements AsyncDisposable {
  readonly ns: string;
  readonly pods: Pod[] = [];
  private vethCount = 0;

  private constructor(ns: string) {
    this.ns = ns;
  }

  /** Path of the node namespace (for `nsenter --net=`). */
  get netns(): string {
    return `/var/run/netns/${this.ns}`;
  }

  /** Creates the node namespace with its uplink and default route. */
  static async create(): Promise<Node> {
    const node = new Node(uniqueName("ssrN"));
    try {
      await must(["ip", "netns", "add", node.ns]);
      await sysctls(node.ns);
      await ipIn(node.ns, "link", "add", "uplink0", "type", "veth", "peer", "name", "upeer0");
      await ipIn(node.ns, "link", "set", "uplink0", "up");
      await ipIn(node.ns, "link", "set", "upeer0", "up");
      await ipIn(node.ns, "addr", "add", `${NODE_IP}/24`, "dev", "uplink0");
      await ipIn(node.ns, "route", "add", "default", "via", NODE_GATEWAY);
    } catch (e) {
      await node[Symbol.asyncDispose]();
      throw e;
    }
    return node;
  }

  /** A new empty pod namespace (only lo up), for a main plugin to configure. */
  async emptyPod(): Promise<Pod> {
    const ns = uniqueName("ssrP");
    await must(["ip", "netns", "add", ns]);
    const pod: Pod = { ns, netns: `/var/run/netns/${ns}`, ifname: "eth0" };
    this.pods.push(pod);
    await sysctls(ns);
    return pod;
  }

  /**
   * `count` pod namespaces, each joined to the node by a veth with `eth0` in the pod holding
   * 10.200.I.5/24 and a default route via 10.200.I.1 (I = 0..count-1, at most 250).
   */
  async vethPods(count: number): Promise<Pod[]> {
    if (count > 250) throw new Error("at most 250 veth pods");
    const made: Pod[] = [];
    const nodeBatch: string[] = [];
    for (let i = 0; i < count; i++) {
      const ns = uniqueName("ssrQ");
      await must(["ip", "netns", "add", ns]);
      const pod: Pod = {
        ns,
        netns: `/var/run/netns/${ns}`,
        ifname: "eth0",
        address: `10.200.${i}.5/24`,
        gateway: `10.200.${i}.1`,
      };
      this.pods.push(pod);
      made.push(pod);
      const host = `hv${this.vethCount++}`;
      nodeBatch.push(`link add ${host} type veth peer name pv${i}`);
      nodeBatch.push(`link set pv${i} netns ${ns}`);
      nodeBatch.push(`link set ${host} up`);
    }
    await must(["ip", "-n", this.ns, "-batch", "-"], nodeBatch.join("\n") + "\n");
    await Promise.all(made.map(async (pod, i) => {
      const lines = [
        "link set lo up",
        `link set pv${i} name eth0`,
        "link set eth0 up",
        `addr add ${pod.address} dev eth0`,
        `route add default via ${pod.gateway} dev eth0`,
      ];
      await must(["ip", "-n", pod.ns, "-batch", "-"], lines.join("\n") + "\n");
    }));
    return made;
  }

  /** Removes every pod namespace and the node namespace. */
  async [Symbol.asyncDispose](): Promise<void> {
    for (const pod of this.pods) await run(["ip", "netns", "del", pod.ns]);
    await run(["ip", "netns", "del", this.ns]);
  }
}
