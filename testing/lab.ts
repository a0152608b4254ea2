/**
 * The lab: throwaway network namespaces standing in for a Kubernetes node and its pods, used by
 * the end-to-end tests, the benchmark and `deno task dev`.
 *
 * A lab is a node namespace (uplink0 with the node's address and default route) and any number
 * of pod namespaces: joined to the node by a veth pair, as a main CNI plugin would leave them,
 * or empty, for a real main plugin to fill. Everything lives in namespaces made here with unique
 * names; disposing the lab (`await using lab = await Lab.create()`) removes them, also after a
 * failure or in the middle of its setup.
 * Nothing here touches the machine's own namespace.
 */
import { must, run } from "./run.ts";

/** The addresses of every lab: the node's uplink and the first pod's interface. */
export const LAB = {
  /** The node's primary address (the host route's destination) and its prefix. */
  nodeIp: "192.168.100.10",
  nodeAddress: "192.168.100.10/24",
  nodeGateway: "192.168.100.1",
  /** IPv6 node address and gateway, set when a lab asks for IPv6. */
  nodeAddress6: "fd00:100::10/64",
  nodeGateway6: "fd00:100::1",
  /** The pod's interface, address and default gateway (the lowest host of its /23). */
  podIfname: "eth0",
  podAddress: "10.131.0.5/23",
  podGateway: "10.131.0.1",
  /** IPv6 pod address and gateway, set when a lab asks for IPv6. */
  podAddress6: "fd00:10::5/64",
  podGateway6: "fd00:10::1",
} as const;

/** A pod namespace of a lab. */
export interface Pod {
  /** Namespace name (under /var/run/netns). */
  ns: string;
  /** Path of the namespace as a runtime passes it in CNI_NETNS. */
  netns: string;
  /** The pod's interface. */
  ifname: string;
  /** Pod address with prefix and its default gateway (set when the pod has a veth). */
  address?: string;
  gateway?: string;
}

/** The first pod of a lab: a veth to the node with these addresses. */
export interface PodOptions {
  /** Pod address (default LAB.podAddress); null = none. */
  podAddress?: string | null;
  /** Its default gateway (default LAB.podGateway); null = no default route. */
  podGateway?: string | null;
  /** Pod IPv6 address (off unless given) and its default gateway (none unless given). */
  podAddress6?: string;
  podGateway6?: string;
  /** Name of the pod's interface (default eth0). */
  podIfname?: string;
}

/** One interface of a pod: a veth to the node with these addresses and routes. */
export interface PodLink {
  /** Its name in the pod. */
  ifname: string;
  /** `address/prefix` of either family, added in order. */
  addresses: readonly string[];
  /** Routes on it, added in order: via `gw` when given, else on-link. */
  routes: readonly { dst: string; gw?: string }[];
}

/** What a lab is made of. */
export interface LabOptions extends PodOptions {
  /** Node address with prefix and default gateway (default LAB's). */
  nodeAddress?: string;
  nodeGateway?: string;
  /** Node IPv6 address and gateway, off unless given. */
  nodeAddress6?: string;
  nodeGateway6?: string;
  /** Make the first pod (default true); false = only the node, for `emptyPod`/`vethPods`. */
  pod?: boolean;
  /** Start of every namespace name (default "ssr"). */
  prefix?: string;
}

let counter = 0;

/** A name unique to this process and call, short enough for a netns or interface name. */
function uniqueName(prefix: string): string {
  counter += 1;
  const rand = Math.floor(Math.random() * 0xffff).toString(16);
  return `${prefix}${(Deno.pid % 10000).toString(36)}${counter.toString(36)}${rand}`.slice(0, 15);
}

const SYSCTLS = ["net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0"];

/** A node namespace and its pods. Dispose (or `remove()`) to remove them all. */
export class Lab implements AsyncDisposable {
  /** The node namespace's name. */
  readonly node: string;
  /** The pods, in the order they were made. */
  readonly pods: Pod[] = [];
  private readonly opts: LabOptions;
  private readonly made: string[] = [];
  private vethCount = 0;
  private closed = false;
  private inflight: Promise<unknown> = Promise.resolve();
  private removing: Promise<string[]> | undefined;

  /** A lab not made yet: `setup()` makes it (`Lab.create` does both). */
  constructor(opts: LabOptions = {}) {
    this.opts = opts;
    this.node = uniqueName(`${opts.prefix ?? "ssr"}n`);
  }

  /** Makes a lab; removes what it made when a step fails. */
  static async create(opts: LabOptions = {}): Promise<Lab> {
    const lab = new Lab(opts);
    try {
      await lab.setup();
    } catch (e) {
      await lab.remove();
      throw e;
    }
    return lab;
  }

  /** Path of the node namespace (for `nsenter --net=`). */
  get nodeNetns(): string {
    return `/var/run/netns/${this.node}`;
  }

  /** The first pod (throws when the lab was made without one). */
  get firstPod(): Pod {
    const pod = this.pods[0];
    if (pod === undefined) throw new Error("this lab has no pod");
    return pod;
  }

  /** The first pod's namespace name. */
  get pod(): string {
    return this.firstPod.ns;
  }

  /** The first pod's namespace path, as a runtime passes it in CNI_NETNS. */
  get podNetns(): string {
    return this.firstPod.netns;
  }

  /** The first pod's interface. */
  get podIfname(): string {
    return this.firstPod.ifname;
  }

  /** Makes the node namespace and, unless `pod: false`, the first pod. */
  async setup(): Promise<void> {
    const o = this.opts;
    const node = this.node;
    await this.addNamespace(node);
    await this.ip(node, "link", "add", "uplink0", "type", "veth", "peer", "name", "upeer0");
    await this.ip(node, "link", "set", "uplink0", "up");
    await this.ip(node, "link", "set", "upeer0", "up");
    await this.ip(node, "addr", "add", o.nodeAddress ?? LAB.nodeAddress, "dev", "uplink0");
    await this.ip(node, "route", "add", "default", "via", o.nodeGateway ?? LAB.nodeGateway);
    if (o.nodeAddress6) {
      await this.ip(node, "addr", "add", o.nodeAddress6, "dev", "uplink0", "nodad");
      await this.ip(
        node,
        "-6",
        "route",
        "add",
        "default",
        "via",
        o.nodeGateway6 ?? LAB.nodeGateway6,
      );
    }
    if (o.pod !== false) await this.vethPod(o);
  }

  /** A pod namespace joined to the node by a veth pair, with the given addresses. */
  async vethPod(o: PodOptions = {}): Promise<Pod> {
    const ns = uniqueName(`${this.opts.prefix ?? "ssr"}p`);
    const ifname = o.podIfname ?? LAB.podIfname;
    const hostVeth = uniqueName("veh");
    await this.addNamespace(ns);
    const pod: Pod = { ns, netns: `/var/run/netns/${ns}`, ifname };
    this.pods.push(pod);
    await this.ip(this.node, "link", "add", hostVeth, "type", "veth", "peer", "name", ifname);
    await this.ip(this.node, "link", "set", ifname, "netns", ns);
    await this.ip(this.node, "link", "set", hostVeth, "up");
    await this.ip(ns, "link", "set", ifname, "up");
    const address = o.podAddress === undefined ? LAB.podAddress : o.podAddress;
    if (address) {
      pod.address = address;
      await this.ip(ns, "addr", "add", address, "dev", ifname);
      const gw = o.podGateway === undefined ? LAB.podGateway : o.podGateway;
      if (gw) {
        pod.gateway = gw;
        await this.ip(ns, "route", "add", "default", "via", gw, "dev", ifname);
      }
    }
    if (o.podAddress6) {
      await this.ip(ns, "addr", "add", o.podAddress6, "dev", ifname, "nodad");
      if (o.podGateway6) await this.ip(ns, "-6", "route", "add", "default", "via", o.podGateway6);
    }
    return pod;
  }

  /**
   * A pod namespace with one veth to the node per link, each holding its addresses and routes
   * (the first IPv4 address and default gateway are the pod's `address` and `gateway`);
   * `ifname` is the interface its CNI invocations name (default: the first link's). Routes are
   * added the way a main plugin's `ipam.ConfigureIface` adds them (containernetworking/plugins
   * since v1.0.0: netlink `RouteAddEcmp`, create without exclusive, which is `ip route prepend`):
   * a destination another interface holds already gets a second route in front of the first,
   * and only an exact duplicate fails ("File exists").
   */
  async linkedPod(links: readonly PodLink[], ifname?: string): Promise<Pod> {
    const first = links[0];
    if (first === undefined) throw new Error("a pod needs at least one link");
    const ns = uniqueName(`${this.opts.prefix ?? "ssr"}p`);
    await this.addNamespace(ns);
    const pod: Pod = { ns, netns: `/var/run/netns/${ns}`, ifname: ifname ?? first.ifname };
    this.pods.push(pod);
    for (const link of links) {
      await this.addLink(ns, link);
      const v4 = link.addresses.find((a) => !a.includes(":"));
      if (pod.address === undefined && v4 !== undefined) pod.address = v4;
      const gw = link.routes.find((r) => r.dst === "0.0.0.0/0" && r.gw)?.gw;
      if (pod.gateway === undefined && gw !== undefined) pod.gateway = gw;
    }
    return pod;
  }

  /**
   * Adds `link` to the pod namespace `ns`: a veth to the node, up, with its addresses and its
   * routes, added as a main plugin's `ipam.ConfigureIface` adds them (`ip route prepend`, see
   * `linkedPod`). A second interface for a pod made otherwise (a Multus eth0 or net1).
   */
  async addLink(ns: string, link: PodLink): Promise<void> {
    const hostVeth = uniqueName("veh");
    await this.ip(this.node, "link", "add", hostVeth, "type", "veth", "peer", "name", link.ifname);
    await this.ip(this.node, "link", "set", link.ifname, "netns", ns);
    await this.ip(this.node, "link", "set", hostVeth, "up");
    await this.ip(ns, "link", "set", link.ifname, "up");
    for (const a of link.addresses) {
      await this.ip(
        ns,
        "addr",
        "add",
        a,
        "dev",
        link.ifname,
        ...(a.includes(":") ? ["nodad"] : []),
      );
    }
    for (const r of link.routes) {
      const via = r.gw === undefined ? [] : ["via", r.gw];
      await this.ip(ns, "route", "prepend", r.dst, ...via, "dev", link.ifname);
    }
  }

  /** A new empty pod namespace (only lo up), for a main plugin to configure. */
  async emptyPod(): Promise<Pod> {
    const ns = uniqueName(`${this.opts.prefix ?? "ssr"}P`);
    await this.addNamespace(ns);
    const pod: Pod = { ns, netns: `/var/run/netns/${ns}`, ifname: "eth0" };
    this.pods.push(pod);
    return pod;
  }

  /**
   * `count` pod namespaces, each joined to the node by a veth with `eth0` in the pod holding
   * 10.200.I.5/24 and a default route via 10.200.I.1 (I = 0..count-1, at most 250), made with
   * one `ip -batch` per namespace.
   */
  async vethPods(count: number): Promise<Pod[]> {
    if (count > 250) throw new Error("at most 250 veth pods");
    const made: Pod[] = [];
    const nodeBatch: string[] = [];
    for (let i = 0; i < count; i++) {
      const ns = uniqueName(`${this.opts.prefix ?? "ssr"}Q`);
      this.made.push(ns);
      await this.step(["ip", "netns", "add", ns]);
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
    await this.step(["ip", "-n", this.node, "-batch", "-"], nodeBatch.join("\n") + "\n");
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

  /** Creates a namespace with lo up and DAD off; recorded first, so removal always finds it. */
  private async addNamespace(ns: string): Promise<void> {
    this.made.push(ns);
    await this.step(["ip", "netns", "add", ns]);
    for (const s of SYSCTLS) await this.step(["ip", "netns", "exec", ns, "sysctl", "-qw", s]);
    await this.ip(ns, "link", "set", "lo", "up");
  }

  private ip(ns: string, ...args: string[]): Promise<string> {
    return this.step(["ip", "-n", ns, ...args]);
  }

  /** Runs one setup command unless removal has begun; remembered so removal can wait for it. */
  private step(argv: string[], stdin?: string): Promise<string> {
    if (this.closed) return Promise.reject(new Error("interrupted: the lab is being removed"));
    const p = must(argv, stdin);
    this.inflight = p.catch(() => undefined);
    return p;
  }

  /**
   * Removes every namespace made (the veth pairs go with them), once, after the setup step in
   * flight; returns what it removed. Safe to call concurrently (e.g. from a signal handler).
   */
  remove(): Promise<string[]> {
    this.removing ??= (async () => {
      this.closed = true;
      await this.inflight;
      const gone: string[] = [];
      for (const ns of [...this.made].reverse()) {
        const exists = await Deno.stat(`/var/run/netns/${ns}`).then(() => true, () => false);
        if (!exists) continue;
        const r = await run(["ip", "netns", "del", ns]);
        if (r.code === 0) gone.push(`netns ${ns}`);
        else console.error(`could not remove netns ${ns}: ${r.stderr.trim()}`);
      }
      return gone;
    })();
    return this.removing;
  }

  /** Removes the lab. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.remove();
  }
}

/** A temporary directory, removed on dispose. */
export class TempDir implements AsyncDisposable {
  /** Its path. */
  readonly path: string;
  private constructor(path: string) {
    this.path = path;
  }
  /** Creates the directory. */
  static async create(prefix = "ssr-state-"): Promise<TempDir> {
    return new TempDir(await Deno.makeTempDir({ prefix }));
  }
  async [Symbol.asyncDispose](): Promise<void> {
    await Deno.remove(this.path, { recursive: true }).catch(() => {});
  }
}
