/**
 * The real side of the model-based test (tests/proof/model.test.ts): a fresh pod namespace with
 * several interfaces per case, its starting routes applied in one `ip -batch`, the whole table as
 * `ip -d -j route show table all` prints it, and the plugin started so that a test can SIGKILL it.
 */
import { type BinDir, jsonOf, must, type PluginRun, run, runtimeEnv } from "../../testing/mod.ts";

let counter = 0;

/** A namespace name unique to this process and call (at most 15 characters). */
function uniqueName(prefix: string): string {
  counter += 1;
  const rand = Math.floor(Math.random() * 0xffff).toString(16);
  return `${prefix}${(Deno.pid % 10000).toString(36)}${counter.toString(36)}${rand}`.slice(0, 15);
}

/** One interface of the model pod: a veth whose peer (`p<name>`) stays in the pod, up. */
export interface ModelIface {
  name: string;
  v4: string;
  v6?: string;
}

/** The model pod's interfaces; eth0 has the Lab pod's addresses (shared generators fit it). */
export const MODEL_IFACES: readonly ModelIface[] = [
  { name: "eth0", v4: "10.131.0.5/23", v6: "fd00:10::5/64" },
  { name: "net1", v4: "10.132.0.5/24", v6: "fd00:11::5/64" },
  { name: "net2", v4: "10.133.0.5/24" },
];

/** One route as `ip -d -j route show` prints it. */
export type KernelRoute = Record<string, unknown>;

/** A throwaway pod namespace built for one case. Dispose to remove it. */
export class ModelPod implements AsyncDisposable {
  readonly name: string;
  private constructor(name: string) {
    this.name = name;
  }

  /** Path of the namespace as a runtime passes it in CNI_NETNS. */
  get netns(): string {
    return `/var/run/netns/${this.name}`;
  }

  /** Creates the namespace and its interfaces (no DAD, so IPv6 addresses are usable at once). */
  static async create(): Promise<ModelPod> {
    const pod = new ModelPod(uniqueName("ssrm"));
    await pod.setUp();
    return pod;
  }

  /**
   * Deletes the namespace and makes a new one with the same name and interfaces (a reused
   * name; the kernel often hands the new one the old one's inode too). Returns whether it did.
   */
  async renew(): Promise<boolean> {
    const old = (await Deno.stat(this.netns)).ino;
    await must(["ip", "netns", "del", this.name]);
    await this.setUp();
    return (await Deno.stat(this.netns)).ino === old;
  }

  /** Creates the namespace and its interfaces (no DAD, so IPv6 addresses are usable at once). */
  private async setUp(): Promise<void> {
    await must(["ip", "netns", "add", this.name]);
    try {
      await must([
        "ip",
        "netns",
        "exec",
        this.name,
        "sh",
        "-c",
        "echo 0 > /proc/sys/net/ipv6/conf/all/accept_dad; " +
        "echo 0 > /proc/sys/net/ipv6/conf/default/accept_dad",
      ]);
      const lines = ["link set lo up"];
      for (const i of MODEL_IFACES) {
        lines.push(`link add ${i.name} type veth peer name p${i.name}`);
        lines.push(`addr add ${i.v4} dev ${i.name}`);
        if (i.v6) lines.push(`addr add ${i.v6} dev ${i.name} nodad`);
        lines.push(`link set ${i.name} up`, `link set p${i.name} up`);
      }
      await this.batch(lines, false);
    } catch (e) {
      await this[Symbol.asyncDispose]();
      throw e;
    }
  }

  /**
   * Runs `ip -batch` lines in the pod; with `force`, every line is tried and the refused ones are
   * returned (their messages), else the first refusal throws.
   */
  async batch(lines: readonly string[], force: boolean): Promise<string> {
    if (lines.length === 0) return "";
    const r = await run(
      ["ip", "-n", this.name, ...(force ? ["-force"] : []), "-batch", "-"],
      { stdin: lines.join("\n") + "\n" },
    );
    if (r.code !== 0 && !force) throw new Error(`ip -batch failed: ${r.stderr}`);
    return r.stderr.trim();
  }

  /** Every route of every table, v4 and v6, as `ip -d -j route show table all` prints them. */
  async routes(): Promise<KernelRoute[]> {
    const out: KernelRoute[] = [];
    for (const fam of ["-4", "-6"]) {
      const text = await must([
        "ip",
        "-n",
        this.name,
        "-d",
        "-j",
        fam,
        "route",
        "show",
        "table",
        "all",
      ]);
      out.push(...(JSON.parse(text) as KernelRoute[]));
    }
    return out;
  }

  /**
   * The table as sorted JSON lines, once every interface has its IPv6 link-local route (the
   * kernel adds them a moment after the link comes up) and two reads 30 ms apart agree.
   */
  async settledTable(): Promise<string[]> {
    const devs = MODEL_IFACES.flatMap((i) => [i.name, `p${i.name}`]);
    const ready = (routes: KernelRoute[]) =>
      devs.every((d) => routes.some((r) => r.dst === "fe80::/64" && r.dev === d));
    let last: string[] = [];
    for (let i = 0; i < 100; i++) {
      const routes = await this.routes();
      const now = tableLines(routes);
      if (ready(routes) && JSON.stringify(now) === JSON.stringify(last)) return now;
      last = now;
      await new Promise((r) => setTimeout(r, 30));
    }
    throw new Error(`the pod's table did not settle:\n${last.join("\n")}`);
  }

  /** The table now, as sorted JSON lines. */
  async table(): Promise<string[]> {
    return tableLines(await this.routes());
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await run(["ip", "netns", "del", this.name]);
  }
}

/** Routes as sorted JSON lines, for "exactly as it was" comparisons with readable diffs. */
export function tableLines(routes: readonly KernelRoute[]): string[] {
  return routes.map((r) => JSON.stringify(r)).sort();
}

/** The devices a route goes through (its own and its next hops'). */
export function routeDevs(line: string): string[] {
  const r = JSON.parse(line) as KernelRoute;
  const devs = typeof r.dev === "string" ? [r.dev] : [];
  for (const h of Array.isArray(r.nexthops) ? r.nexthops : []) {
    if (h && typeof h === "object" && typeof h.dev === "string") devs.push(h.dev);
  }
  return devs;
}

/** A plugin started but not awaited: its pid (to SIGKILL it) and its outcome. */
export interface StartedPlugin {
  pid: number;
  done: Promise<PluginRun & { signal: Deno.Signal | null }>;
}

/**
 * Starts the plugin from `bin` in the node namespace `nodeNs` as a runtime would (clean env).
 * `ip netns exec` and the wrapper exec, so `pid` is the plugin's own process.
 */
export function startPlugin(
  bin: BinDir,
  nodeNs: string,
  type: string,
  env: Record<string, string>,
  config: unknown,
): StartedPlugin {
  const child = new Deno.Command("ip", {
    args: ["netns", "exec", nodeNs, bin.plugin(type)],
    env: { ...runtimeEnv(), CNI_PATH: bin.dir, ...env },
    clearEnv: true,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const started = performance.now();
  const done = (async () => {
    const w = child.stdin.getWriter();
    // A plugin SIGKILLed before it read stdin closes the pipe: that is not the test's failure.
    await w.write(new TextEncoder().encode(JSON.stringify(config))).catch(() => {});
    await w.close().catch(() => {});
    const out = await child.output();
    const dec = new TextDecoder();
    const stdout = dec.decode(out.stdout);
    return {
      code: out.code,
      signal: out.signal,
      stdout,
      stderr: dec.decode(out.stderr),
      ms: performance.now() - started,
      json: jsonOf(stdout),
    };
  })();
  return { pid: child.pid, done };
}

/**
 * Table names only `ip` run under `ip netns exec NS` sees: `ip netns exec` bind-mounts
 * `/etc/netns/NS/iproute2` over `/etc/iproute2`, so a copy with extra `rt_tables` lines names tables
 * for the plugin (run in NS) and nobody else. Dispose to remove the copy.
 */
export async function privateTableNames(
  ns: string,
  names: Readonly<Record<number, string>>,
): Promise<AsyncDisposable> {
  const dir = `/etc/netns/${ns}`;
  await Deno.mkdir(dir, { recursive: true });
  await must(["cp", "-a", "/etc/iproute2", `${dir}/iproute2`]);
  const lines = Object.entries(names).map(([n, name]) => `${n}\t${name}\n`).join("");
  await Deno.writeTextFile(`${dir}/iproute2/rt_tables`, lines, { append: true });
  return {
    async [Symbol.asyncDispose]() {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      await Deno.remove("/etc/netns").catch(() => {}); // only when empty: others' entries stay
    },
  };
}

/** A route of a CNI result, as the model reads one. */
export interface ResultRoute {
  dst: string;
  gw?: string;
  gws?: string[];
  priority?: number;
  table?: number;
}

const TABLE_NUMBERS: Record<string, number> = { main: 254, default: 253, local: 255 };

/** A destination as `address/prefix` with host bits kept as printed (`default` → /0). */
function dstOf(text: string, family: 4 | 6): string {
  if (text === "default") return family === 4 ? "0.0.0.0/0" : "::/0";
  return text.includes("/") ? text : `${text}/${family === 4 ? 32 : 128}`;
}

/** The kernel identity of a result route: family, table, destination and metric. */
function resultKey(r: ResultRoute, canon: (cidr: string) => string): string {
  const v6 = r.dst.includes(":");
  const p = r.priority ?? (v6 ? 1024 : 0);
  return `${v6 ? 6 : 4}|${r.table ?? 254}|${canon(r.dst)}|${v6 && p === 0 ? 1024 : p}`;
}

/**
 * What is wrong with a result against the table (issue 17, class 7: the result lists only what
 * is in the table): two routes with one kernel identity, or a route the plugin put in the result
 * (any not passed through from prevResult as it was) that the table does not hold with its
 * gateway (or next-hop set). `canon` turns a CIDR into its network's canonical text. A result
 * before 1.1.0 (`withAttributes` false) has no `table` or `priority`: a route is then looked for
 * in every table at any metric, and two routes to one destination may be two kernel routes.
 */
export function resultProblems(
  routes: readonly ResultRoute[],
  prevRoutes: readonly ResultRoute[],
  kernel: readonly KernelRoute[],
  canon: (cidr: string) => string,
  withAttributes = true,
): string[] {
  const problems: string[] = [];
  const seen = new Map<string, ResultRoute>();
  const kernelKeys = kernel.map((k) => {
    const family = String(k.dst).includes(":") || k.dst === "default" && "pref" in k ? 6 : 4;
    const metric = typeof k.metric === "number" ? k.metric : 0;
    const table = TABLE_NUMBERS[String(k.table ?? "main")] ?? Number(k.table);
    const dst = canon(dstOf(String(k.dst), family));
    return { k, key: withAttributes ? `${family}|${table}|${dst}|${metric}` : `${family}|${dst}` };
  });
  for (const r of routes) {
    const full = resultKey(r, canon);
    const key = withAttributes ? full : full.split("|").filter((_, i) => i === 0 || i === 2)
      .join("|");
    const twin = seen.get(key);
    if (twin && withAttributes) {
      problems.push(`${JSON.stringify(r)} and ${JSON.stringify(twin)}: one kernel route`);
    }
    seen.set(key, r);
    if (prevRoutes.some((p) => JSON.stringify(p) === JSON.stringify(r))) continue;
    const held = kernelKeys.filter((x) => x.key === key).some(({ k }) => {
      const hops = Array.isArray(k.nexthops) ? k.nexthops as KernelRoute[] : [];
      if (r.gws) {
        const want = [...new Set([...r.gws, ...(r.gw ? [r.gw] : [])])].sort();
        return JSON.stringify(hops.map((h) => String(h.gateway)).sort()) === JSON.stringify(want);
      }
      return r.gw === undefined || (hops.length === 0 && k.gateway === r.gw);
    });
    if (!held) problems.push(`${JSON.stringify(r)} is not in the table`);
  }
  return problems;
}
