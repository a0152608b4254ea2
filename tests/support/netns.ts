/**
 * Throwaway network namespaces for end-to-end tests.
 *
 * Everything a test changes lives in namespaces created here with unique names; `Lab` removes
 * them on dispose, also when the test failed. Nothing here touches the machine's own namespace.
 */

/** True when the tests may create network namespaces. */
export const IS_ROOT: boolean = Deno.uid() === 0;

/** Reason printed for namespace tests that cannot run. */
export const SKIP_REASON = "namespace tests skipped: they need root (ip netns add, veth pairs)";

if (!IS_ROOT) console.warn(`%c${SKIP_REASON}`, "color: yellow");

/** Something a group of tests needs from the machine: a file or a command on PATH, and its package. */
export interface Need {
  /** An absolute path that must exist, or a command name looked up on PATH. */
  file: string;
  /** The Debian package that provides it (named in the skip reason). */
  pkg: string;
}

function found(file: string): boolean {
  const candidates = file.startsWith("/")
    ? [file]
    : (Deno.env.get("PATH") ?? "").split(":").filter((d) => d).map((d) => `${d}/${file}`);
  return candidates.some((p) => {
    try {
      return Deno.statSync(p).isFile;
    } catch {
      return false;
    }
  });
}

/**
 * Why the tests of `what` cannot run on this machine — not root, or the first missing need —
 * or null when they can. The reason is printed once, so a skipped test always says why.
 */
export function skipReason(what: string, needs: readonly Need[] = []): string | null {
  const missing = needs.find((n) => !found(n.file));
  const reason = !IS_ROOT
    ? `${what} skipped: they need root (ip netns add, veth pairs)`
    : missing
    ? `${what} skipped: ${missing.file} is missing (apt-get install ${missing.pkg})`
    : null;
  if (reason) console.warn(`%c${reason}`, "color: yellow");
  return reason;
}

let counter = 0;

/** A name unique to this process and call, short enough for a netns or interface name. */
export function uniqueName(prefix: string): string {
  counter += 1;
  const rand = Math.floor(Math.random() * 0xffff).toString(16);
  return `${prefix}${(Deno.pid % 10000).toString(36)}${counter.toString(36)}${rand}`.slice(0, 15);
}

/** Output of a finished process. */
export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs argv (no shell) and returns its code and output, feeding it `stdin` (none when undefined); with `env`, the child gets only that
 * environment (as a CNI runtime runs a plugin).
 */
export async function run(
  argv: string[],
  stdin?: string,
  env?: Record<string, string>,
): Promise<Run> {
  const child = new Deno.Command(argv[0], {
    args: argv.slice(1),
    ...(env ? { env, clearEnv: true } : {}),
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(stdin));
    await writer.close();
  }
  const out = await child.output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Runs argv and throws with its stderr when it fails. */
export async function must(argv: string[], stdin?: string): Promise<string> {
  const r = await run(argv, stdin);
  if (r.code !== 0) throw new Error(`${argv.join(" ")} failed (${r.code}): ${r.stderr.trim()}`);
  return r.stdout;
}

/** Runs `ip -n ns ARGS...`. */
export function ipIn(ns: string, ...args: string[]): Promise<string> {
  return must(["ip", "-n", ns, ...args]);
}

/** One route as `ip -j route` prints it. */
export interface JsonRoute {
  dst: string;
  gateway?: string;
  dev?: string;
  table?: string;
  protocol?: string;
  scope?: string;
  metric?: number;
  type?: string;
  prefsrc?: string;
  metrics?: Record<string, number>[];
  [key: string]: unknown;
}

/** Every v4 and v6 route of a namespace outside the local table, as `ip -j` prints them. */
export async function routesOf(ns: string): Promise<JsonRoute[]> {
  const v4 = JSON.parse(await ipIn(ns, "-j", "-4", "route", "show", "table", "all")) as JsonRoute[];
  const v6 = JSON.parse(await ipIn(ns, "-j", "-6", "route", "show", "table", "all")) as JsonRoute[];
  return [...v4, ...v6].filter((r) => r.table !== "local");
}

/**
 * The routing table of a namespace as sorted text lines (`ip route show table all`, v4 then
 * v6, local table and volatile fields left out), for "exactly as it was" comparisons.
 */
export async function tableText(ns: string): Promise<string[]> {
  const lines: string[] = [];
  for (const fam of ["-4", "-6"]) {
    const out = await ipIn(ns, fam, "route", "show", "table", "all");
    for (const line of out.split("\n")) {
      const l = line.trim().replace(/\s+expires \S+/, "");
      if (l && !/\btable local\b/.test(l)) lines.push(l);
    }
  }
  return lines.sort();
}

/** Finds routes by destination (`default`, a CIDR or a plain host address). */
export function findRoutes(routes: JsonRoute[], dst: string): JsonRoute[] {
  return routes.filter((r) => r.dst === dst);
}

/** Options of a lab: addresses of the node and the pod. */
export interface LabOptions {
  /** Node address with prefix (default 192.168.100.10/24) and default gateway (.1). */
  nodeAddress?: string;
  nodeGateway?: string;
  /** Node IPv6 address and gateway, off unless given. */
  nodeAddress6?: string;
  nodeGateway6?: string;
  /** Pod address (default 10.131.0.5/23) and its default gateway (default 10.131.0.1); null = none. */
  podAddress?: string | null;
  podGateway?: string | null;
  /** Pod IPv6 address and default gateway, off unless given. */
  podAddress6?: string;
  podGateway6?: string;
  /** Name of the pod's interface (default eth0). */
  podIfname?: string;
}

/**
 * A node namespace with its own address and default route, and a pod namespace joined to it by
 * a veth pair, as a main CNI plugin would leave them. Dispose to remove both.
 */
export class Lab implements AsyncDisposable {
  readonly node: string;
  readonly pod: string;
  readonly podIfname: string;
  readonly hostVeth: string;

  private constructor(node: string, pod: string, podIfname: string, hostVeth: string) {
    this.node = node;
    this.pod = pod;
    this.podIfname = podIfname;
    this.hostVeth = hostVeth;
  }

  /** Path of the pod namespace as a runtime passes it in CNI_NETNS. */
  get podNetns(): string {
    return `/var/run/netns/${this.pod}`;
  }

  /** Creates the namespaces; removes what it made if any step fails. */
  static async create(opts: LabOptions = {}): Promise<Lab> {
    const node = uniqueName("ssrn");
    const pod = uniqueName("ssrp");
    const lab = new Lab(node, pod, opts.podIfname ?? "eth0", uniqueName("veh"));
    try {
      await lab.setup(opts);
    } catch (e) {
      await lab[Symbol.asyncDispose]();
      throw e;
    }
    return lab;
  }

  private async setup(opts: LabOptions): Promise<void> {
    const { node, pod } = this;
    await must(["ip", "netns", "add", node]);
    await must(["ip", "netns", "add", pod]);
    for (const ns of [node, pod]) {
      await must(["ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0"]);
      await must([
        "ip",
        "netns",
        "exec",
        ns,
        "sysctl",
        "-qw",
        "net.ipv6.conf.default.accept_dad=0",
      ]);
      await ipIn(ns, "link", "set", "lo", "up");
    }
    // The node's uplink: a veth pair inside the node namespace carrying the default route.
    await ipIn(node, "link", "add", "uplink0", "type", "veth", "peer", "name", "upeer0");
    await ipIn(node, "link", "set", "uplink0", "up");
    await ipIn(node, "link", "set", "upeer0", "up");
    await ipIn(node, "addr", "add", opts.nodeAddress ?? "192.168.100.10/24", "dev", "uplink0");
    await ipIn(node, "route", "add", "default", "via", opts.nodeGateway ?? "192.168.100.1");
    if (opts.nodeAddress6) {
      await ipIn(node, "addr", "add", opts.nodeAddress6, "dev", "uplink0", "nodad");
      await ipIn(node, "-6", "route", "add", "default", "via", opts.nodeGateway6 ?? "fd00:100::1");
    }
    // The pod's interface: a veth from the node namespace into the pod namespace.
    await ipIn(node, "link", "add", this.hostVeth, "type", "veth", "peer", "name", this.podIfname);
    await ipIn(node, "link", "set", this.podIfname, "netns", pod);
    await ipIn(node, "link", "set", this.hostVeth, "up");
    await ipIn(pod, "link", "set", this.podIfname, "up");
    const podAddress = opts.podAddress === undefined ? "10.131.0.5/23" : opts.podAddress;
    if (podAddress) {
      await ipIn(pod, "addr", "add", podAddress, "dev", this.podIfname);
      const gw = opts.podGateway === undefined ? "10.131.0.1" : opts.podGateway;
      if (gw) await ipIn(pod, "route", "add", "default", "via", gw, "dev", this.podIfname);
    }
    if (opts.podAddress6) {
      await ipIn(pod, "addr", "add", opts.podAddress6, "dev", this.podIfname, "nodad");
      if (opts.podGateway6) {
        await ipIn(pod, "-6", "route", "add", "default", "via", opts.podGateway6);
      }
    }
  }

  /** Removes both namespaces (the veth pairs go with them). */
  async [Symbol.asyncDispose](): Promise<void> {
    for (const ns of [this.pod, this.node]) {
      await run(["ip", "netns", "del", ns]);
    }
  }
}
