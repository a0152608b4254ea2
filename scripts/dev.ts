/**
 * `deno task dev`: runs the plugin from source against throwaway namespaces, the way a CNI
 * runtime would, and shows what it did.
 *
 * ```
 * sudo deno task dev                    # ADD, CHECK, DEL with the default seamless config
 * sudo deno task dev path/to/conf.json  # same with your config (a .conf or a .conflist)
 * deno task dev --dry-run [conf.json]   # only print the `ip` commands ADD would run
 * ```
 *
 * As root it creates a node namespace (uplink 192.168.100.10/24, default via .1) and a pod
 * namespace (eth0 10.131.0.5/23, default via 10.131.0.1) joined by a veth pair, runs
 * `deno run <plugin permissions> mod.ts` inside the node namespace with the CNI variables and
 * the config on stdin, prints the pod's routes before and after each step, and removes
 * everything it created, also on failure, Ctrl-C or SIGTERM. Without root, or with
 * `--dry-run`, it runs the plugin with `--dry-run` against a pod netns that does not exist and
 * touches nothing. The machine's own routes are never changed.
 */
import { pluginRunArgs } from "./permissions.ts";
import { PLUGIN_NAME } from "../src/meta.ts";

/** Repository root. */
export const ROOT: string = new URL("../", import.meta.url).pathname.replace(/\/$/, "");
/** The plugin's source entry point, run by `deno run`. */
export const SOURCE = `${ROOT}/mod.ts`;

/** Addresses of the throwaway setup. */
export const LAB = {
  nodeAddress: "192.168.100.10/24",
  nodeGateway: "192.168.100.1",
  podAddress: "10.131.0.5/23",
  podGateway: "10.131.0.1",
  podIfname: "eth0",
} as const;

/** A JSON object. */
export type JsonObject = { [key: string]: unknown };

/** The command line of `deno task dev`. */
export interface DevOptions {
  /** Only print the plan (`--dry-run`). */
  dryRun: boolean;
  /** A network config file (.conf or .conflist); undefined = the default seamless config. */
  configPath?: string;
  help: boolean;
}

/** Parses the command line; throws with a one-line message when it is wrong. */
export function parseDevArgs(argv: readonly string[]): DevOptions {
  const opts: DevOptions = { dryRun: false, help: false };
  for (const arg of argv) {
    if (arg === "--dry-run" || arg === "-n") opts.dryRun = true;
    else if (arg === "--help" || arg === "-h") opts.help = true;
    else if (arg.startsWith("-")) throw new Error(`unknown option '${arg}' (see --help)`);
    else if (opts.configPath === undefined) opts.configPath = arg;
    else throw new Error(`only one config file, got '${opts.configPath}' and '${arg}'`);
  }
  return opts;
}

/** The prevResult a main plugin (e.g. bridge, ovn-k) would hand over for the dev pod. */
export function defaultPrevResult(podNetns: string): JsonObject {
  return {
    cniVersion: "1.0.0",
    interfaces: [{ name: LAB.podIfname, sandbox: podNetns }],
    ips: [{ address: LAB.podAddress, gateway: LAB.podGateway, interface: 0 }],
    routes: [{ dst: "0.0.0.0/0", gw: LAB.podGateway }],
  };
}

/** The default network config for the seamless type. */
export function defaultConfig(): JsonObject {
  return { cniVersion: "1.0.0", name: "seamless", type: PLUGIN_NAME };
}

function isObject(v: unknown): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * The config the runtime would send this plugin: a .conflist's entry of our type (with the
 * list's name and cniVersion), or a single config as is; given a prevResult for the dev pod
 * unless it has one, and a throwaway stateDir unless it sets one.
 */
export function runtimeConfig(raw: unknown, podNetns: string, stateDir: string): JsonObject {
  if (!isObject(raw)) throw new Error("the config must be a JSON object");
  let conf: JsonObject = raw;
  if (Array.isArray(raw.plugins)) {
    const entry = raw.plugins.find((p: unknown) =>
      isObject(p) && (p.type === PLUGIN_NAME || p.type === "route-override")
    );
    if (!isObject(entry)) {
      throw new Error(`the conflist has no plugin of type ${PLUGIN_NAME} or route-override`);
    }
    conf = { cniVersion: raw.cniVersion, name: raw.name, ...entry };
  }
  const out: JsonObject = { ...conf };
  if (out.prevResult === undefined) out.prevResult = defaultPrevResult(podNetns);
  if (out.stateDir === undefined) out.stateDir = stateDir;
  return out;
}

// ---------------------------------------------------------------------------------------------
// Output

const color: boolean = Deno.stdout.isTerminal() && Deno.env.get("NO_COLOR") === undefined;
const paint = (code: string) => (s: string): string => color ? `\x1b[${code}m${s}\x1b[0m` : s;
const bold = paint("1");
const dim = paint("2");
const green = paint("32");
const red = paint("31");
const yellow = paint("33");
const cyan = paint("36");

function heading(text: string): void {
  console.log(`\n${bold(cyan(`== ${text} ==`))}`);
}

function indent(text: string, pad = "  "): string {
  return text.split("\n").map((l) => `${pad}${l}`).join("\n");
}

/** JSON with short objects and arrays kept on one line, for reading at a glance. */
export function pretty(value: unknown, pad = "", width = 96): string {
  const flat = JSON.stringify(value) ?? "null";
  if (pad.length + flat.length <= width || typeof value !== "object" || value === null) {
    return flat;
  }
  const inner = `${pad}  `;
  if (Array.isArray(value)) {
    const items = value.map((v) => `${inner}${pretty(v, inner, width)}`);
    return `[\n${items.join(",\n")}\n${pad}]`;
  }
  const entries = Object.entries(value).map(([k, v]) =>
    `${inner}${JSON.stringify(k)}: ${pretty(v, inner, width - k.length - 4)}`
  );
  return `{\n${entries.join(",\n")}\n${pad}}`;
}

// ---------------------------------------------------------------------------------------------
// Processes

/** A finished process. */
export interface Finished {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

async function run(
  argv: string[],
  opts: { stdin?: string; env?: Record<string, string> } = {},
): Promise<Finished> {
  const started = performance.now();
  const child = new Deno.Command(argv[0], {
    args: argv.slice(1),
    stdin: opts.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    env: opts.env,
    clearEnv: opts.env !== undefined,
    signal: AbortSignal.timeout(120_000),
  }).spawn();
  if (opts.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(opts.stdin));
    await w.close();
  }
  const out = await child.output();
  const dec = new TextDecoder();
  return {
    code: out.code,
    stdout: dec.decode(out.stdout),
    stderr: dec.decode(out.stderr),
    ms: Math.round(performance.now() - started),
  };
}

async function must(argv: string[]): Promise<string> {
  const r = await run(argv);
  if (r.code !== 0) throw new Error(`${argv.join(" ")} failed: ${r.stderr.trim()}`);
  return r.stdout;
}

/** The CNI invocation of one command. */
interface Invocation {
  command: "ADD" | "CHECK" | "DEL";
  containerId: string;
  netns: string;
  config: JsonObject;
  /** Run inside this namespace (the node); undefined = here. */
  nodeNs?: string;
  argv?: string[];
}

/** Environment variables of Deno itself that `deno task dev` passes to `deno run`. */
export const DENO_PASSTHROUGH: readonly string[] = [
  "DENO_DIR",
  "DENO_CERT",
  "DENO_TLS_CA_STORE",
  "NO_COLOR",
  "SSL_CERT_FILE",
  "SSL_CERT_DIR",
  "NODE_EXTRA_CA_CERTS",
  "HTTP_PROXY",
  "HTTPS_PROXY",
  "NO_PROXY",
  "http_proxy",
  "https_proxy",
  "no_proxy",
  "NPM_CONFIG_REGISTRY",
];

/** Runs mod.ts with the plugin's permissions and a runtime-like clean environment. */
function runPlugin(inv: Invocation): Promise<Finished> {
  const env: Record<string, string> = {
    PATH: Deno.env.get("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin",
    HOME: Deno.env.get("HOME") ?? "/root",
    CNI_COMMAND: inv.command,
    CNI_CONTAINERID: inv.containerId,
    CNI_NETNS: inv.netns,
    CNI_IFNAME: LAB.podIfname,
    CNI_PATH: "/opt/cni/bin",
  };
  // Deno's own settings, so `deno run` finds its cache (it never fetches: --cached-only); the
  // plugin itself reads only the CNI_* variables and TMPDIR.
  for (const k of DENO_PASSTHROUGH) {
    const v = Deno.env.get(k);
    if (v !== undefined) env[k] = v;
  }
  const deno = [
    Deno.execPath(),
    ...pluginRunArgs(SOURCE, `${ROOT}/deno.json`),
    ...(inv.argv ?? []),
  ];
  const argv = inv.nodeNs ? ["ip", "netns", "exec", inv.nodeNs, ...deno] : deno;
  return run(argv, { stdin: JSON.stringify(inv.config), env });
}

function showRun(label: string, r: Finished): unknown {
  const ok = r.code === 0;
  console.log(
    `  ${bold(label)} exit ${ok ? green(String(r.code)) : red(String(r.code))} ${
      dim(`(${r.ms} ms)`)
    }`,
  );
  let json: unknown = undefined;
  try {
    json = r.stdout.trim() ? JSON.parse(r.stdout) : undefined;
  } catch {
    json = undefined;
  }
  if (r.stdout.trim()) {
    console.log(`  ${ok ? "result" : "error"} (stdout):`);
    console.log(indent(json === undefined ? r.stdout.trimEnd() : pretty(json), "    "));
  } else {
    console.log(`  ${dim("stdout: (empty)")}`);
  }
  if (r.stderr.trim()) {
    console.log("  stderr:");
    console.log(indent(r.stderr.trimEnd(), "    "));
  }
  return json;
}

// ---------------------------------------------------------------------------------------------
// Throwaway namespaces

/** The namespaces and files one dev run made; `remove()` undoes all of it. */
export class Sandbox {
  readonly id: string;
  readonly node: string;
  readonly pod: string;
  readonly hostVeth: string;
  readonly stateDir: string;
  private made: string[] = [];
  private removing: Promise<string[]> | undefined;
  private closed = false;
  private inflight: Promise<unknown> = Promise.resolve();

  constructor(stateDir: string) {
    const rand = crypto.getRandomValues(new Uint16Array(1))[0].toString(16).padStart(4, "0");
    this.id = `${(Deno.pid % 46656).toString(36)}${rand}`;
    this.node = `ssrdev-node-${this.id}`;
    this.pod = `ssrdev-pod-${this.id}`;
    this.hostVeth = `ssrdv${this.id}`.slice(0, 15);
    this.stateDir = stateDir;
  }

  /** Path of the pod namespace as a runtime passes it in CNI_NETNS. */
  get podNetns(): string {
    return `/var/run/netns/${this.pod}`;
  }

  /** Creates the node and pod namespaces; whatever was made is recorded for `remove()`. */
  async create(): Promise<void> {
    const { node, pod } = this;
    const ip = (ns: string, ...args: string[]) => this.step(["ip", "-n", ns, ...args]);
    for (const ns of [node, pod]) {
      // Recorded first: a signal during `ip netns add` must still find it to remove.
      this.made.push(ns);
      await this.step(["ip", "netns", "add", ns]);
    }
    for (const ns of [node, pod]) {
      await ip(ns, "link", "set", "lo", "up");
      await this.step([
        "ip",
        "netns",
        "exec",
        ns,
        "sysctl",
        "-qw",
        "net.ipv6.conf.all.accept_dad=0",
      ]);
    }
    // The node's uplink: a veth pair inside the node namespace that carries its default route.
    await ip(node, "link", "add", "uplink0", "type", "veth", "peer", "name", "upeer0");
    await ip(node, "link", "set", "uplink0", "up");
    await ip(node, "link", "set", "upeer0", "up");
    await ip(node, "addr", "add", LAB.nodeAddress, "dev", "uplink0");
    await ip(node, "route", "add", "default", "via", LAB.nodeGateway);
    // The pod's interface, as the main CNI plugin would have left it.
    await ip(node, "link", "add", this.hostVeth, "type", "veth", "peer", "name", LAB.podIfname);
    await ip(node, "link", "set", LAB.podIfname, "netns", pod);
    await ip(node, "link", "set", this.hostVeth, "up");
    await ip(pod, "link", "set", LAB.podIfname, "up");
    await ip(pod, "addr", "add", LAB.podAddress, "dev", LAB.podIfname);
    await ip(pod, "route", "add", "default", "via", LAB.podGateway, "dev", LAB.podIfname);
  }

  /** Runs one setup command, unless removal has begun; remembered so removal can wait for it. */
  private step(argv: string[]): Promise<string> {
    if (this.closed) return Promise.reject(new Error("interrupted"));
    const p = must(argv);
    this.inflight = p.catch(() => undefined);
    return p;
  }

  /** Removes everything made, once; returns what it removed. Safe to call concurrently. */
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
        else console.error(red(`  could not remove netns ${ns}: ${r.stderr.trim()}`));
      }
      try {
        await Deno.remove(this.stateDir, { recursive: true });
        gone.push(this.stateDir);
      } catch {
        // Nothing was written there.
      }
      return gone;
    })();
    return this.removing;
  }
}

/** The pod's routes as `ip route show` lines (v4 all tables but local; v6 unless link-local). */
async function podRoutes(pod: string): Promise<string[]> {
  const lines: string[] = [];
  const v4 = await must(["ip", "-n", pod, "-4", "route", "show", "table", "all"]);
  const v6 = await must(["ip", "-n", pod, "-6", "route", "show", "table", "all"]);
  for (const line of [...v4.split("\n"), ...v6.split("\n")]) {
    const l = line.trim();
    if (!l || /\btable local\b/.test(l) || /^(fe80::|multicast|local )/.test(l)) continue;
    lines.push(l);
  }
  return lines;
}

/** Prints routes, marking lines not in `before` with `+` and those gone with `-`. */
function showRoutes(routes: string[], before?: string[]): void {
  for (const r of routes) {
    const added = before !== undefined && !before.includes(r);
    console.log(added ? green(`  + ${r}`) : `    ${r}`);
  }
  for (const r of before ?? []) {
    if (!routes.includes(r)) console.log(red(`  - ${r}`));
  }
  if (routes.length === 0) console.log(dim("    (no routes)"));
}

// ---------------------------------------------------------------------------------------------
// The two modes

async function loadConfig(path: string | undefined): Promise<unknown> {
  if (path === undefined) return defaultConfig();
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    throw new Error(`cannot read config ${path}: ${e instanceof Error ? e.message : String(e)}`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`config ${path} is not JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** Prints the plan of ADD (`--dry-run`); touches nothing. Returns the exit status. */
async function dryRun(opts: DevOptions, why: string): Promise<number> {
  const stateDir = await Deno.makeTempDir({ prefix: "ssr-dev-state-" });
  try {
    const id = crypto.randomUUID().slice(0, 8);
    const netns = `/var/run/netns/ssrdev-absent-${id}`;
    const config = runtimeConfig(await loadConfig(opts.configPath), netns, stateDir);
    console.log(bold(`${PLUGIN_NAME} dev: dry run`) + dim(` (${why})`));
    console.log(dim("Nothing is created or changed: the plugin only prints its plan."));
    heading("Network config on stdin (CNI_COMMAND=ADD)");
    console.log(indent(pretty(config)));
    console.log(dim(`  CNI_NETNS=${netns} (does not exist, so the pod table is planned as empty)`));
    heading("Plan: the ip commands ADD would run");
    const r = await runPlugin({
      command: "ADD",
      containerId: `dev-dry-${id}`,
      netns,
      config,
      argv: ["--dry-run"],
    });
    for (const line of r.stdout.split("\n")) {
      if (!line.trim()) continue;
      console.log(line.startsWith("#") ? dim(`  ${line}`) : `  ${bold(line)}`);
    }
    if (r.stderr.trim()) {
      console.log("  stderr:");
      console.log(indent(r.stderr.trimEnd(), "    "));
    }
    if (r.code !== 0) {
      console.log(red(`\nThe plugin exited with ${r.code}.`));
      return 1;
    }
    console.log(
      `\nThis was a dry run. ${
        Deno.uid() === 0 ? "Run without --dry-run" : "Run as root (sudo)"
      } to apply it for real in throwaway namespaces.`,
    );
    return 0;
  } finally {
    await Deno.remove(stateDir, { recursive: true }).catch(() => {});
  }
}

/** ADD, CHECK, DEL in throwaway namespaces. Returns the exit status. */
async function liveRun(opts: DevOptions): Promise<number> {
  const raw = await loadConfig(opts.configPath);
  const stateDir = await Deno.makeTempDir({ prefix: "ssr-dev-state-" });
  const box = new Sandbox(stateDir);
  const onSignal = (name: string, code: number) => () => {
    console.error(yellow(`\n${name}: cleaning up before exit...`));
    box.remove().then((gone) => {
      for (const g of gone) console.error(`  removed ${g}`);
      Deno.exit(code);
    });
  };
  const onInt = onSignal("SIGINT", 130);
  const onTerm = onSignal("SIGTERM", 143);
  Deno.addSignalListener("SIGINT", onInt);
  Deno.addSignalListener("SIGTERM", onTerm);
  let failures: string[] = [];
  try {
    console.log(bold(`${PLUGIN_NAME} dev: ADD, CHECK and DEL from source (${SOURCE})`));
    heading("Setting up throwaway namespaces");
    await box.create();
    console.log(`  node namespace: ${box.node}`);
    console.log(dim(`    uplink0 ${LAB.nodeAddress}, default via ${LAB.nodeGateway}`));
    console.log(`  pod namespace: ${box.pod}`);
    console.log(
      dim(
        `    ${LAB.podIfname} ${LAB.podAddress}, default via ${LAB.podGateway}, veth to the node`,
      ),
    );
    console.log(`  state dir: ${stateDir}`);
    const config = runtimeConfig(raw, box.podNetns, stateDir);
    const containerId = `dev-${box.id}`;
    const base = { containerId, netns: box.podNetns, nodeNs: box.node };

    heading("Network config on stdin");
    console.log(indent(pretty(config)));
    console.log(
      dim(`  CNI_CONTAINERID=${containerId} CNI_NETNS=${box.podNetns} CNI_IFNAME=${LAB.podIfname}`),
    );
    console.log(dim(`  run as: ip netns exec ${box.node} deno run <plugin permissions> mod.ts`));

    heading("Pod routes before ADD");
    const before = await podRoutes(box.pod);
    showRoutes(before);

    heading("ADD");
    const add = await runPlugin({ ...base, command: "ADD", config });
    const result = showRun("ADD", add);
    if (add.code !== 0) failures.push("ADD");

    heading("Pod routes after ADD");
    const afterAdd = await podRoutes(box.pod);
    showRoutes(afterAdd, before);

    // Like a runtime: CHECK and DEL get the ADD result as prevResult.
    const later: JsonObject = { ...config };
    if (isObject(result) && result.cniVersion !== undefined && add.code === 0) {
      later.prevResult = result;
    }

    heading("CHECK");
    if (add.code === 0) {
      const check = await runPlugin({ ...base, command: "CHECK", config: later });
      showRun("CHECK", check);
      if (check.code !== 0) failures.push("CHECK");
    } else {
      console.log(yellow("  skipped: ADD failed, and a runtime only CHECKs a successful ADD"));
    }

    heading("DEL");
    if (add.code !== 0) console.log(dim("  (a runtime DELs after a failed ADD, to clean up)"));
    const del = await runPlugin({ ...base, command: "DEL", config: later });
    showRun("DEL", del);
    if (del.code !== 0) failures.push("DEL");

    heading("Pod routes after DEL");
    const afterDel = await podRoutes(box.pod);
    showRoutes(afterDel, before);
    const restored = afterDel.length === before.length && afterDel.every((r) => before.includes(r));
    if (restored) console.log(green("  the pod's routes are back to what they were before ADD"));
    else {
      console.log(red("  the pod's routes differ from before ADD"));
      failures.push("routes not restored by DEL");
    }
  } catch (e) {
    console.error(red(`\nerror: ${e instanceof Error ? e.message : String(e)}`));
    failures = [...failures, "setup or inspection failed"];
  } finally {
    heading("Cleaning up");
    for (const g of await box.remove()) console.log(`  removed ${g}`);
    Deno.removeSignalListener("SIGINT", onInt);
    Deno.removeSignalListener("SIGTERM", onTerm);
  }
  if (failures.length) {
    console.log(red(`\nFailed: ${failures.join(", ")}.`));
    return 1;
  }
  console.log(green("\nDone: ADD, CHECK and DEL succeeded and nothing is left behind."));
  return 0;
}

/** Usage text for `--help`. */
export const USAGE = `usage: deno task dev [--dry-run] [CONFIG]

Runs the plugin from source (mod.ts) the way a CNI runtime does, against throwaway
namespaces: ADD, then CHECK and DEL, showing the pod's routes before and after each step.

  CONFIG     a network config (.conf) or config list (.conflist) as JSON; default:
             ${JSON.stringify(defaultConfig())}
             A prevResult for the dev pod (${LAB.podIfname} ${LAB.podAddress}, gateway ${LAB.podGateway})
             is added unless the config has one, and a temporary stateDir unless it sets one.
  --dry-run  only print the ip commands ADD would run (also what happens without root)

Needs root for the real run (ip netns add); removes everything it created when done,
on failure, and on Ctrl-C.`;

/** Entry point. */
export async function main(argv: readonly string[]): Promise<number> {
  let opts: DevOptions;
  try {
    opts = parseDevArgs(argv);
  } catch (e) {
    console.error(`dev: ${e instanceof Error ? e.message : String(e)}`);
    return 2;
  }
  if (opts.help) {
    console.log(USAGE);
    return 0;
  }
  try {
    await Deno.stat(SOURCE);
  } catch {
    console.error(`dev: ${SOURCE} not found: the plugin's source is not there yet`);
    return 1;
  }
  try {
    if (opts.dryRun) return await dryRun(opts, "--dry-run");
    if (Deno.uid() !== 0) {
      return await dryRun(
        opts,
        "not root, so no namespaces can be made; run with sudo for ADD/CHECK/DEL",
      );
    }
    return await liveRun(opts);
  } catch (e) {
    console.error(`dev: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
