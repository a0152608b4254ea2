/**
 * `deno task dev`: runs the plugin from source against the lab's throwaway namespaces, the way a
 * CNI runtime would, and shows what it did: the migration audit of a NAD before it goes live.
 *
 * ```
 * sudo deno task dev                    # ADD, CHECK, DEL with the default seamless config
 * sudo deno task dev path/to/10-net.conflist  # your config: .conf, .conflist or a NAD .yaml
 * sudo deno task dev --multus nad.yaml  # as Multus attaches it: net1 beside the cluster's eth0
 * sudo deno task dev --dry-run [CONFIG] # only print the `ip` commands ADD would run
 * ```
 *
 * As root it makes the lab (testing/lab.ts: a node namespace and a pod namespace joined by veth
 * pairs) with the pod's addresses taken from the config's IPAM (testing/ipam.ts) in the pod shape
 * asked for (testing/pod_shapes.ts: single-homed, or a Multus pod when the interface is not eth0
 * or `--multus` is given), runs mod.ts from a CNI bin dir inside the node namespace with the CNI
 * variables and the config on stdin (testing/plugin.ts), prints the pod's routes before and after
 * each step, and removes everything it made, also on failure, Ctrl-C or SIGTERM. The config's
 * `stateDir` and `logFile` are moved into the lab directory. `--dry-run` as root plans against
 * the lab pod's real table, so flushes and deletions show; without root it plans against a pod
 * netns that does not exist (an empty table) and touches nothing. The machine's own routes are
 * never changed. What config it sends: scripts/dev_config.ts.
 */
import { PLUGIN_NAME, PLUGIN_VERSION } from "../src/meta.ts";
import type { Lease } from "../testing/ipam.ts";
import { LAB, Lab, type PodLink, TempDir } from "../testing/lab.ts";
import {
  BinDir,
  isObject,
  type JsonObject,
  OUR_TYPES,
  type PluginRun,
  runPlugin,
  SOURCE,
} from "../testing/plugin.ts";
import { CLUSTER, MULTUS_IFNAME, podLinks, type PodShape } from "../testing/pod_shapes.ts";
import { tableText } from "../testing/tables.ts";
import {
  defaultConfig,
  labLease,
  loadConfig,
  message,
  type Redirect,
  runtimeConfig,
} from "./dev_config.ts";

/** The command line of `deno task dev`. */
export interface DevOptions {
  /** Only print the plan (`--dry-run`). */
  dryRun: boolean;
  /** A network config file (.conf, .conflist or NAD .yaml); undefined = the default config. */
  configPath?: string;
  /** `--help`, `-h`, or `help` as the only argument. */
  help: boolean;
  /** `--version`, `-V`. */
  version: boolean;
  /** `--multus`: the pod is a Multus pod (cluster eth0, the attachment on net1). */
  multus: boolean;
  /** `--ifname NAME`: CNI_IFNAME of the attachment (not eth0 makes a Multus pod). */
  ifname?: string;
}

const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;

/** Parses the command line; throws with a one-line message when it is wrong. */
export function parseDevArgs(argv: readonly string[]): DevOptions {
  const opts: DevOptions = { dryRun: false, help: false, version: false, multus: false };
  if (argv.length === 1 && argv[0] === "help") return { ...opts, help: true };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? "";
    if (arg === "--dry-run" || arg === "-n") opts.dryRun = true;
    else if (arg === "--help" || arg === "-h") opts.help = true;
    else if (arg === "--version" || arg === "-V") opts.version = true;
    else if (arg === "--multus") opts.multus = true;
    else if (arg === "--ifname" || arg.startsWith("--ifname=")) {
      const value = arg === "--ifname" ? argv[++i] : arg.slice("--ifname=".length);
      if (value === undefined || !IFNAME.test(value) || value === "." || value === "..") {
        throw new Error(
          `--ifname needs an interface name (letters, digits, _ . -, at most 15), got ${
            JSON.stringify(value ?? null)
          }`,
        );
      }
      opts.ifname = value;
    } else if (arg.startsWith("-")) throw new Error(`unknown option '${arg}' (see --help)`);
    else if (opts.configPath === undefined) opts.configPath = arg;
    else throw new Error(`only one config file, got '${opts.configPath}' and '${arg}'`);
  }
  if (opts.multus && opts.ifname === CLUSTER.ifname) {
    throw new Error(
      `--multus puts the attachment beside the cluster's ${CLUSTER.ifname}: give another --ifname (default ${MULTUS_IFNAME})`,
    );
  }
  return opts;
}

/** The pod shape of the options: Multus when asked or when the interface is not eth0. */
export function shapeOf(opts: DevOptions): PodShape {
  const ifname = opts.ifname ?? (opts.multus ? MULTUS_IFNAME : LAB.podIfname);
  return { ifname, multus: opts.multus || ifname !== LAB.podIfname };
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

function showRun(label: string, r: PluginRun): void {
  const ok = r.code === 0;
  const code = ok ? green(String(r.code)) : red(String(r.code));
  console.log(`  ${bold(label)} exit ${code} ${dim(`(${Math.round(r.ms)} ms)`)}`);
  if (r.stdout.trim()) {
    console.log(`  ${ok ? "result" : "error"} (stdout):`);
    console.log(indent(r.json === undefined ? r.stdout.trimEnd() : pretty(r.json), "    "));
  } else {
    console.log(`  ${dim("stdout: (empty)")}`);
  }
  showStderr(r);
}

function showStderr(r: PluginRun): void {
  if (!r.stderr.trim()) return;
  console.log("  stderr:");
  console.log(indent(r.stderr.trimEnd(), "    "));
}

/** Prints a dry run's plan: comments dim, commands bold. */
function showPlan(r: PluginRun): void {
  for (const line of r.stdout.split("\n")) {
    if (!line.trim()) continue;
    console.log(line.startsWith("#") ? dim(`  ${line}`) : `  ${bold(line)}`);
  }
  showStderr(r);
}

/** The pod's routes as `ip route show` lines, without link-local, multicast and local ones. */
async function podRoutes(pod: string): Promise<string[]> {
  return (await tableText(pod)).filter((l) => !/^(fe80::|multicast|local )/.test(l));
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
// The lab of one dev run

/** What one dev run sends and to which pod: its config, shape and lease. */
interface DevInput {
  raw: unknown;
  shape: PodShape;
  lease: Lease;
  /** Where the lease came from, one line. */
  leaseSource: string;
  /** The config came from a file (not the default config). */
  fromFile: boolean;
}

/** One link as a line: `net1 192.168.50.2/24; 10.0.0.0/8 via 192.168.50.1`. */
function linkText(link: PodLink): string {
  const routes = link.routes.map((r) =>
    r.gw === undefined ? `${r.dst} dev ${link.ifname}` : `${r.dst} via ${r.gw}`
  );
  return [`${link.ifname} ${link.addresses.join(" ") || "(no address)"}`, ...routes].join("; ");
}

/** The lab directory: `state/` (the stateDir) and `logs/` (where a logFile goes). */
async function makeLabDir(): Promise<TempDir> {
  const dir = await TempDir.create("ssr-dev-lab-");
  await Deno.mkdir(`${dir.path}/state`);
  await Deno.mkdir(`${dir.path}/logs`);
  return dir;
}

/** What one dev run made: the lab, the bin dir, the lab dir; `remove()` undoes all of it. */
class DevLab {
  readonly lab: Lab;
  readonly links: PodLink[];
  bin: BinDir | undefined;
  dir: TempDir | undefined;
  private readonly input: DevInput;
  private removing: Promise<string[]> | undefined;

  constructor(input: DevInput) {
    this.input = input;
    this.links = podLinks(input.shape, input.lease);
    const v6 = input.lease.ips.some((ip) => ip.family === 6);
    this.lab = new Lab({
      prefix: "ssrdev-",
      pod: false,
      ...(v6 ? { nodeAddress6: LAB.nodeAddress6, nodeGateway6: LAB.nodeGateway6 } : {}),
    });
  }

  /** Makes everything; Ctrl-C or SIGTERM meanwhile or later removes it and exits. */
  async create(): Promise<void> {
    Deno.addSignalListener("SIGINT", this.onInt);
    Deno.addSignalListener("SIGTERM", this.onTerm);
    this.dir = await makeLabDir();
    this.bin = await BinDir.create(SOURCE);
    await this.lab.setup();
    await this.lab.linkedPod(this.links, this.input.shape.ifname);
  }

  private onSignal = (name: string, code: number) => () => {
    console.error(yellow(`\n${name}: cleaning up before exit...`));
    this.remove().then((gone) => {
      for (const g of gone) console.error(`  removed ${g}`);
      Deno.exit(code);
    });
  };
  private onInt = this.onSignal("SIGINT", 130);
  private onTerm = this.onSignal("SIGTERM", 143);

  /** Removes everything made, once; returns what it removed. */
  remove(): Promise<string[]> {
    this.removing ??= (async () => {
      const gone = await this.lab.remove();
      await this.bin?.[Symbol.asyncDispose]();
      if (this.dir) {
        await this.dir[Symbol.asyncDispose]();
        gone.push(this.dir.path);
      }
      Deno.removeSignalListener("SIGINT", this.onInt);
      Deno.removeSignalListener("SIGTERM", this.onTerm);
      return gone;
    })();
    return this.removing;
  }

  /** Shows the lab. */
  describe(): void {
    const v6 = this.input.lease.ips.some((ip) => ip.family === 6);
    console.log(`  node namespace: ${this.lab.node}`);
    console.log(dim(`    uplink0 ${LAB.nodeAddress}, default via ${LAB.nodeGateway}`));
    if (v6) console.log(dim(`    uplink0 ${LAB.nodeAddress6}, default via ${LAB.nodeGateway6}`));
    console.log(`  pod namespace: ${this.lab.pod}`);
    describePod(this.input, this.links);
    console.log(`  lab dir: ${this.dir?.path} ${dim("(stateDir and logFile go here)")}`);
  }
}

/** Shows the pod shape and each of its interfaces. */
function describePod(input: DevInput, links: readonly PodLink[]): void {
  const { shape } = input;
  console.log(
    dim(
      shape.multus
        ? `    a Multus pod: ${CLUSTER.ifname} is the cluster network, ${shape.ifname} the attachment`
        : `    single-homed: ${shape.ifname} is the pod's only interface, veth to the node`,
    ),
  );
  for (const link of links) {
    const role = link.ifname === shape.ifname
      ? `CNI_IFNAME; addresses from ${input.leaseSource}`
      : "cluster network";
    console.log(dim(`    ${linkText(link)}  (${role})`));
  }
  if (!shape.multus && input.fromFile) {
    console.log(
      dim(
        `    (Multus attaches a NAD as ${MULTUS_IFNAME} beside the cluster's ${CLUSTER.ifname}: add --multus to run it that way)`,
      ),
    );
  }
}

/** Runs `body` with a new dev lab, printing the cleanup; returns body's failures. */
async function withDevLab(
  input: DevInput,
  body: (dev: DevLab) => Promise<string[]>,
): Promise<string[]> {
  const dev = new DevLab(input);
  let failures: string[] = [];
  try {
    heading("Setting up throwaway namespaces");
    await dev.create();
    dev.describe();
    failures = await body(dev);
  } catch (e) {
    console.error(red(`\nerror: ${message(e)}`));
    failures = [...failures, "setup or inspection failed"];
  } finally {
    heading("Cleaning up");
    for (const g of await dev.remove()) console.log(`  removed ${g}`);
  }
  return failures;
}

function showConfig(title: string, config: JsonObject, redirects: Redirect[], env: string): void {
  heading(title);
  console.log(indent(pretty(config)));
  for (const r of redirects) {
    console.log(
      dim(
        r.from === undefined
          ? `  ${r.key}: ${r.to} (in the lab dir)`
          : `  ${r.key}: ${r.from} redirected to ${r.to} (the lab never writes to the machine's paths)`,
      ),
    );
  }
  console.log(dim(`  ${env}`));
}

/** Prints the redirected log file, if the config has one and the plugin wrote to it. */
async function showLogFile(redirects: Redirect[]): Promise<void> {
  const log = redirects.find((r) => r.key === "logFile");
  if (log === undefined) return;
  heading(`Log file (logFile ${log.from}, redirected)`);
  const text = await Deno.readTextFile(log.to).catch(() => "");
  console.log(text.trim() ? indent(text.trimEnd(), "    ") : dim("    (empty)"));
}

// ---------------------------------------------------------------------------------------------
// The modes

/** As root: the plan of ADD against the lab pod's real table. Returns the failures. */
async function dryRunInLab(input: DevInput): Promise<string[]> {
  return await withDevLab(input, async (dev) => {
    const { lab } = dev;
    const { ifname } = input.shape;
    const { config, redirects } = runtimeConfig(input.raw, {
      podNetns: lab.podNetns,
      shape: input.shape,
      lease: input.lease,
      labDir: dev.dir?.path ?? "",
    });
    showConfig(
      "Network config on stdin (CNI_COMMAND=ADD)",
      config,
      redirects,
      `CNI_NETNS=${lab.podNetns} CNI_IFNAME=${ifname} (the lab pod: its real table is planned against)`,
    );
    heading("Pod routes the plan starts from");
    showRoutes(await podRoutes(lab.pod));
    heading("Plan: the ip commands ADD would run");
    const r = await runPlugin(dev.bin!, {
      command: "ADD",
      containerId: `dev-dry-${lab.node}`,
      netns: lab.podNetns,
      ifname,
      nodeNs: lab.node,
      config,
      argv: ["--dry-run"],
      timeoutMs: 120_000,
    });
    showPlan(r);
    await showLogFile(redirects);
    return r.code === 0 ? [] : [`the plugin exited with ${r.code}`];
  });
}

/** Without root: the plan of ADD against a pod netns that does not exist (an empty table). */
async function dryRunEmpty(input: DevInput): Promise<string[]> {
  await using dir = await makeLabDir();
  await using bin = await BinDir.create(SOURCE);
  const id = crypto.randomUUID().slice(0, 8);
  const netns = `/var/run/netns/ssrdev-absent-${id}`;
  const { config, redirects } = runtimeConfig(input.raw, {
    podNetns: netns,
    shape: input.shape,
    lease: input.lease,
    labDir: dir.path,
  });
  heading("The pod the plugin is told about");
  describePod(input, podLinks(input.shape, input.lease));
  showConfig(
    "Network config on stdin (CNI_COMMAND=ADD)",
    config,
    redirects,
    `CNI_NETNS=${netns} CNI_IFNAME=${input.shape.ifname} (does not exist, so the pod table is planned as empty)`,
  );
  heading("Plan: the ip commands ADD would run");
  const r = await runPlugin(bin, {
    command: "ADD",
    containerId: `dev-dry-${id}`,
    netns,
    ifname: input.shape.ifname,
    config,
    argv: ["--dry-run"],
    timeoutMs: 120_000,
  });
  showPlan(r);
  await showLogFile(redirects);
  return r.code === 0 ? [] : [`the plugin exited with ${r.code}`];
}

/** Prints the plan of ADD (`--dry-run`); changes no pod's routes. Returns the exit status. */
async function dryRun(input: DevInput): Promise<number> {
  const root = Deno.uid() === 0;
  console.log(bold(`${PLUGIN_NAME} dev: dry run`));
  console.log(
    dim(
      root
        ? "The plugin plans against the lab pod's real table and only prints its plan."
        : "Nothing is created or changed: the plugin only prints its plan.",
    ),
  );
  const failures = root ? await dryRunInLab(input) : await dryRunEmpty(input);
  if (failures.length) {
    console.log(red(`\nFailed: ${failures.join(", ")}.`));
    return 1;
  }
  console.log(
    `\nThis was a dry run. ${
      root ? "Run without --dry-run" : "Run as root (sudo)"
    } to apply it for real in throwaway namespaces.`,
  );
  return 0;
}

/** ADD, CHECK, DEL in the lab. Returns the failures. */
async function addCheckDel(dev: DevLab, input: DevInput): Promise<string[]> {
  const { lab } = dev;
  const { ifname } = input.shape;
  const failures: string[] = [];
  const { config, redirects } = runtimeConfig(input.raw, {
    podNetns: lab.podNetns,
    shape: input.shape,
    lease: input.lease,
    labDir: dev.dir?.path ?? "",
  });
  const bin = dev.bin!;
  const containerId = `dev-${lab.node}`;
  const base = { containerId, netns: lab.podNetns, ifname, nodeNs: lab.node, timeoutMs: 120_000 };
  showConfig(
    "Network config on stdin",
    config,
    redirects,
    `CNI_CONTAINERID=${containerId} CNI_NETNS=${lab.podNetns} CNI_IFNAME=${ifname}\n` +
      `  run as: ip netns exec ${lab.node} ${bin.plugin()} (deno run <plugin permissions> mod.ts)`,
  );

  heading("Pod routes before ADD");
  const before = await podRoutes(lab.pod);
  showRoutes(before);

  heading("ADD");
  const add = await runPlugin(bin, { ...base, command: "ADD", config });
  showRun("ADD", add);
  if (add.code !== 0) failures.push("ADD");

  heading("Pod routes after ADD");
  showRoutes(await podRoutes(lab.pod), before);

  // Like a runtime: CHECK and DEL get the ADD result as prevResult.
  const later: JsonObject = { ...config };
  if (isObject(add.json) && add.json.cniVersion !== undefined && add.code === 0) {
    later.prevResult = add.json;
  }

  heading("CHECK");
  if (add.code === 0) {
    const check = await runPlugin(bin, { ...base, command: "CHECK", config: later });
    showRun("CHECK", check);
    if (check.code !== 0) failures.push("CHECK");
  } else {
    console.log(yellow("  skipped: ADD failed, and a runtime only CHECKs a successful ADD"));
  }

  heading("DEL");
  if (add.code !== 0) console.log(dim("  (a runtime DELs after a failed ADD, to clean up)"));
  const del = await runPlugin(bin, { ...base, command: "DEL", config: later });
  showRun("DEL", del);
  if (del.code !== 0) failures.push("DEL");

  heading("Pod routes after DEL");
  const afterDel = await podRoutes(lab.pod);
  showRoutes(afterDel, before);
  const restored = afterDel.length === before.length && afterDel.every((r) => before.includes(r));
  if (restored) console.log(green("  the pod's routes are back to what they were before ADD"));
  else {
    console.log(red("  the pod's routes differ from before ADD"));
    failures.push("routes not restored by DEL");
  }
  await showLogFile(redirects);
  return failures;
}

/** ADD, CHECK, DEL in throwaway namespaces. Returns the exit status. */
async function liveRun(input: DevInput): Promise<number> {
  console.log(bold(`${PLUGIN_NAME} dev: ADD, CHECK and DEL from source (${SOURCE})`));
  const failures = await withDevLab(input, (dev) => addCheckDel(dev, input));
  if (failures.length) {
    console.log(red(`\nFailed: ${failures.join(", ")}.`));
    return 1;
  }
  console.log(green("\nDone: ADD, CHECK and DEL succeeded and nothing is left behind."));
  return 0;
}

/** Usage text for `--help`. */
export const USAGE = `usage: deno task dev [--dry-run] [--multus] [--ifname NAME] [CONFIG]
       deno task dev --help | help | --version

Runs the plugin from source (mod.ts) the way a CNI runtime does, against throwaway
namespaces: ADD, then CHECK and DEL, showing the pod's routes before and after each step.
Use it to audit a NAD before it goes live.

  CONFIG         a network config (.conf) or config list (.conflist) as JSON, or a
                 NetworkAttachmentDefinition as YAML (its spec.config); default:
                 ${JSON.stringify(defaultConfig())}
                 Of a list, the entry of type ${OUR_TYPES.join(" or ")} is sent.
  --multus       make the pod a Multus pod: ${CLUSTER.ifname} ${CLUSTER.address} is the cluster network
                 (default via ${CLUSTER.gateway}, ${CLUSTER.serviceNetwork} via it) and the attachment
                 is ${MULTUS_IFNAME}, as Multus attaches a NAD
  --ifname NAME  CNI_IFNAME of the attachment (default ${LAB.podIfname}, or ${MULTUS_IFNAME} with --multus);
                 anything but ${LAB.podIfname} makes a Multus pod
  --dry-run, -n  only print the ip commands ADD would run: as root against the lab pod's
                 real table, without root against an empty one
  --version, -V  print the plugin's version
  --help, -h     print this

The pod's addresses are the ones the main plugin's IPAM would give: static addresses
(with the gateway each names), host-local's first address (rangeStart if set, the gateway
skipped; the gateway is the range's, else the subnet's first host), both families when it
has both; whereabouts: the first host of its range (range_start if set, its gateway
skipped). Other IPAM types (dhcp) fall back to ${LAB.podAddress} via ${LAB.podGateway}.
Single-homed, the interface also has a default route via the gateway; in a Multus pod it
has only the IPAM's routes, added as the main plugin adds them: an IPAM default route
goes in front of the cluster's on ${CLUSTER.ifname}. The prevResult is what the main plugin
returns for that interface (unless the config has its own). The config's stateDir and logFile are moved
into the lab directory: a run never writes where the config points.

Root is needed to make the lab (ip netns add). Without root, --dry-run (and a run without
it) plans against an empty pod table and changes nothing. Everything created is removed
when done, on failure, and on Ctrl-C.`;

/** The input of a run: the config, the pod shape, and the lease for it. */
async function devInput(opts: DevOptions): Promise<DevInput> {
  const raw = await loadConfig(opts.configPath);
  const { lease, source } = labLease(raw);
  return {
    raw,
    shape: shapeOf(opts),
    lease,
    leaseSource: source,
    fromFile: opts.configPath !== undefined,
  };
}

/** Entry point. */
export async function main(argv: readonly string[]): Promise<number> {
  let opts: DevOptions;
  try {
    opts = parseDevArgs(argv);
  } catch (e) {
    console.error(`dev: ${message(e)}`);
    return 2;
  }
  if (opts.help) {
    console.log(USAGE);
    return 0;
  }
  if (opts.version) {
    console.log(
      `${PLUGIN_NAME} ${PLUGIN_VERSION} (deno task dev runs it from ${SOURCE}; deno ${Deno.version.deno})`,
    );
    return 0;
  }
  try {
    await Deno.stat(SOURCE);
  } catch {
    console.error(`dev: ${SOURCE} not found: the plugin's source is not there yet`);
    return 1;
  }
  try {
    const input = await devInput(opts);
    if (Deno.uid() !== 0) {
      console.log(
        `${PLUGIN_NAME} dev: the lab (throwaway namespaces for ADD, CHECK and DEL) needs root; ` +
          `without it, what works is a dry run against an empty pod table, --help and --version.` +
          (opts.dryRun ? "" : " Doing the dry run (sudo for the lab)."),
      );
      return await dryRun(input);
    }
    if (opts.dryRun) return await dryRun(input);
    return await liveRun(input);
  } catch (e) {
    console.error(`dev: ${message(e)}`);
    return 1;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
