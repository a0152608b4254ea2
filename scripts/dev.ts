/**
 * `deno task dev`: runs the plugin from source against the lab's throwaway namespaces, the way a
 * CNI runtime would, and shows what it did.
 *
 * ```
 * sudo deno task dev                    # ADD, CHECK, DEL with the default seamless config
 * sudo deno task dev path/to/10-net.conflist  # your config: .conf, .conflist or a NAD .yaml
 * sudo deno task dev --dry-run [CONFIG] # only print the `ip` commands ADD would run
 * ```
 *
 * As root it makes the lab (testing/lab.ts: a node namespace and a pod namespace joined by a
 * veth pair), runs mod.ts from a CNI bin dir inside the node namespace with the CNI variables
 * and the config on stdin (testing/plugin.ts), prints the pod's routes before and after each
 * step, and removes everything it made, also on failure, Ctrl-C or SIGTERM. `--dry-run` as root
 * plans against the lab pod's real table, so flushes and deletions show; without root it plans
 * against a pod netns that does not exist (an empty table) and touches nothing. The machine's
 * own routes are never changed. What config it sends: scripts/dev_config.ts.
 */
import { PLUGIN_NAME } from "../src/meta.ts";
import {
  BinDir,
  isObject,
  type JsonObject,
  LAB,
  Lab,
  OUR_TYPES,
  type PluginRun,
  runPlugin,
  SOURCE,
  tableText,
  TempDir,
} from "../testing/mod.ts";
import { defaultConfig, loadConfig, message, runtimeConfig } from "./dev_config.ts";

/** The command line of `deno task dev`. */
export interface DevOptions {
  /** Only print the plan (`--dry-run`). */
  dryRun: boolean;
  /** A network config file (.conf, .conflist or NAD .yaml); undefined = the default config. */
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

/** What one dev run made: the lab, the bin dir, the state dir; `remove()` undoes all of it. */
class DevLab {
  readonly lab = new Lab({ prefix: "ssrdev-" });
  bin: BinDir | undefined;
  state: TempDir | undefined;
  private removing: Promise<string[]> | undefined;

  /** Makes everything; Ctrl-C or SIGTERM meanwhile or later removes it and exits. */
  async create(): Promise<void> {
    Deno.addSignalListener("SIGINT", this.onInt);
    Deno.addSignalListener("SIGTERM", this.onTerm);
    this.state = await TempDir.create("ssr-dev-state-");
    this.bin = await BinDir.create(SOURCE);
    await this.lab.setup();
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
      if (this.state) {
        await this.state[Symbol.asyncDispose]();
        gone.push(this.state.path);
      }
      Deno.removeSignalListener("SIGINT", this.onInt);
      Deno.removeSignalListener("SIGTERM", this.onTerm);
      return gone;
    })();
    return this.removing;
  }

  /** Shows the lab. */
  describe(): void {
    console.log(`  node namespace: ${this.lab.node}`);
    console.log(dim(`    uplink0 ${LAB.nodeAddress}, default via ${LAB.nodeGateway}`));
    console.log(`  pod namespace: ${this.lab.pod}`);
    console.log(
      dim(
        `    ${LAB.podIfname} ${LAB.podAddress}, default via ${LAB.podGateway}, veth to the node`,
      ),
    );
    console.log(`  state dir: ${this.state?.path}`);
  }
}

/** Runs `body` with a new dev lab, printing the cleanup; returns body's failures. */
async function withDevLab(body: (dev: DevLab) => Promise<string[]>): Promise<string[]> {
  const dev = new DevLab();
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

function showConfig(title: string, config: JsonObject, env: string): void {
  heading(title);
  console.log(indent(pretty(config)));
  console.log(dim(`  ${env}`));
}

// ---------------------------------------------------------------------------------------------
// The modes

/** As root: the plan of ADD against the lab pod's real table. Returns the failures. */
async function dryRunInLab(raw: unknown): Promise<string[]> {
  return await withDevLab(async (dev) => {
    const { lab } = dev;
    const config = runtimeConfig(raw, lab.podNetns, dev.state?.path ?? "");
    showConfig(
      "Network config on stdin (CNI_COMMAND=ADD)",
      config,
      `CNI_NETNS=${lab.podNetns} CNI_IFNAME=${LAB.podIfname} (the lab pod: its real table is planned against)`,
    );
    heading("Pod routes the plan starts from");
    showRoutes(await podRoutes(lab.pod));
    heading("Plan: the ip commands ADD would run");
    const r = await runPlugin(dev.bin!, {
      command: "ADD",
      containerId: `dev-dry-${lab.node}`,
      netns: lab.podNetns,
      ifname: LAB.podIfname,
      nodeNs: lab.node,
      config,
      argv: ["--dry-run"],
      timeoutMs: 120_000,
    });
    showPlan(r);
    return r.code === 0 ? [] : [`the plugin exited with ${r.code}`];
  });
}

/** Without root: the plan of ADD against a pod netns that does not exist (an empty table). */
async function dryRunEmpty(raw: unknown): Promise<string[]> {
  await using state = await TempDir.create("ssr-dev-state-");
  await using bin = await BinDir.create(SOURCE);
  const id = crypto.randomUUID().slice(0, 8);
  const netns = `/var/run/netns/ssrdev-absent-${id}`;
  const config = runtimeConfig(raw, netns, state.path);
  showConfig(
    "Network config on stdin (CNI_COMMAND=ADD)",
    config,
    `CNI_NETNS=${netns} (does not exist, so the pod table is planned as empty)`,
  );
  heading("Plan: the ip commands ADD would run");
  const r = await runPlugin(bin, {
    command: "ADD",
    containerId: `dev-dry-${id}`,
    netns,
    ifname: LAB.podIfname,
    config,
    argv: ["--dry-run"],
    timeoutMs: 120_000,
  });
  showPlan(r);
  return r.code === 0 ? [] : [`the plugin exited with ${r.code}`];
}

/** Prints the plan of ADD (`--dry-run`); changes no pod's routes. Returns the exit status. */
async function dryRun(opts: DevOptions, why: string): Promise<number> {
  const raw = await loadConfig(opts.configPath);
  const root = Deno.uid() === 0;
  console.log(bold(`${PLUGIN_NAME} dev: dry run`) + dim(` (${why})`));
  console.log(
    dim(
      root
        ? "The plugin plans against the lab pod's real table and only prints its plan."
        : "Nothing is created or changed: the plugin only prints its plan.",
    ),
  );
  const failures = root ? await dryRunInLab(raw) : await dryRunEmpty(raw);
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
async function addCheckDel(dev: DevLab, raw: unknown): Promise<string[]> {
  const { lab } = dev;
  const failures: string[] = [];
  const config = runtimeConfig(raw, lab.podNetns, dev.state?.path ?? "");
  const bin = dev.bin!;
  const containerId = `dev-${lab.node}`;
  const base = {
    containerId,
    netns: lab.podNetns,
    ifname: LAB.podIfname,
    nodeNs: lab.node,
    timeoutMs: 120_000,
  };
  showConfig(
    "Network config on stdin",
    config,
    `CNI_CONTAINERID=${containerId} CNI_NETNS=${lab.podNetns} CNI_IFNAME=${LAB.podIfname}\n` +
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
  return failures;
}

/** ADD, CHECK, DEL in throwaway namespaces. Returns the exit status. */
async function liveRun(opts: DevOptions): Promise<number> {
  const raw = await loadConfig(opts.configPath);
  console.log(bold(`${PLUGIN_NAME} dev: ADD, CHECK and DEL from source (${SOURCE})`));
  const failures = await withDevLab((dev) => addCheckDel(dev, raw));
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

  CONFIG     a network config (.conf) or config list (.conflist) as JSON, or a
             NetworkAttachmentDefinition as YAML (its spec.config); default:
             ${JSON.stringify(defaultConfig())}
             Of a list, the entry of type ${OUR_TYPES.join(" or ")} is sent.
             A prevResult for the dev pod (${LAB.podIfname} ${LAB.podAddress}, gateway ${LAB.podGateway})
             is added unless the config has one, and a temporary stateDir unless it sets one.
  --dry-run  only print the ip commands ADD would run: as root against the dev pod's
             real table, without root (also without --dry-run) against an empty one

Needs root for namespaces (ip netns add); removes everything it created when done,
on failure, and on Ctrl-C.`;

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
    console.error(`dev: ${message(e)}`);
    return 1;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
