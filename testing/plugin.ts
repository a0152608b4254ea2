/**
 * Runs the plugin exactly as a CNI runtime does: an executable in a CNI bin dir, CNI_* variables
 * in a clean environment, the network config on stdin, the result or error JSON on stdout.
 *
 * The executable is a small wrapper that runs the bundle (`dist/seamless-static-route.js`, made by
 * `deno task bundle`) or the source (`mod.ts`) with `deno run` and the same permissions
 * `deno compile` bakes in (src/permissions.ts `pluginRunArgs`).
 */
import { pluginRunArgs } from "../src/permissions.ts";
import { LAB } from "./lab.ts";
import { run } from "./run.ts";

/** Repository root. */
export const ROOT: string = new URL("../", import.meta.url).pathname.replace(/\/$/, "");
/** The bundle the end-to-end tests and the benchmark execute. */
export const BUNDLE = `${ROOT}/dist/seamless-static-route.js`;
/** The source entry point (run by `deno task dev` and one smoke test). */
export const SOURCE = `${ROOT}/mod.ts`;
/** The plugin types this repository's executable serves. */
export const OUR_TYPES: readonly string[] = ["seamless-static-route", "route-override"];

/** Makes sure the bundle exists (`deno task test` builds it first; a bare `deno test` may not). */
async function ensureBundle(): Promise<void> {
  try {
    await Deno.stat(BUNDLE);
  } catch {
    const r = await run([Deno.execPath(), "task", "--quiet", "bundle"], { cwd: ROOT });
    if (r.code !== 0) throw new Error(`deno task bundle failed: ${r.stderr}`);
  }
}

/** The `deno run` argv (with `deno` first) that runs `entry` exactly as the plugin's wrapper does. */
export function pluginArgv(entry: string): string[] {
  return [Deno.execPath(), ...pluginRunArgs(entry, `${ROOT}/deno.json`)];
}

/** Writes an executable wrapper `dir/name` that runs `entry` with the plugin's permissions. */
async function writeWrapper(dir: string, name: string, entry: string): Promise<string> {
  const path = `${dir}/${name}`;
  const quoted = pluginArgv(entry).map((a) => `'${a.replaceAll("'", `'\\''`)}'`).join(" ");
  await Deno.writeTextFile(path, `#!/bin/sh\nexec ${quoted} "$@"\n`, { mode: 0o755 });
  return path;
}

/** A CNI bin dir holding the plugin under both of its type names. Dispose to remove it. */
export class BinDir implements AsyncDisposable {
  /** The directory (CNI_PATH). */
  readonly dir: string;
  /** What the wrappers run: the bundle or the source. */
  readonly entry: string;
  private constructor(dir: string, entry: string) {
    this.dir = dir;
    this.entry = entry;
  }

  /** Creates a bin dir whose plugins run `entry` (default: the bundle). */
  static async create(entry: string = BUNDLE): Promise<BinDir> {
    if (entry === BUNDLE) await ensureBundle();
    const dir = await Deno.makeTempDir({ prefix: "ssr-bin-" });
    for (const type of OUR_TYPES) await writeWrapper(dir, type, entry);
    return new BinDir(dir, entry);
  }

  /** Path of the executable for a plugin type. */
  plugin(type = "seamless-static-route"): string {
    return `${this.dir}/${type}`;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}

/** One invocation of the plugin. */
export interface Invocation {
  /** CNI_COMMAND; each CNI_* variable is omitted when undefined. */
  command?: string | undefined;
  containerId?: string | undefined;
  netns?: string | undefined;
  ifname?: string | undefined;
  cniArgs?: string | undefined;
  /** Network config written to stdin: an object is JSON-encoded, a string is sent as is. */
  config?: unknown;
  /** Namespace to run the plugin in (the "node"); default: the caller's. */
  nodeNs?: string | undefined;
  /** Extra or replacement environment variables (undefined values remove one). */
  env?: Record<string, string | undefined> | undefined;
  /** Command-line arguments for the plugin. */
  argv?: string[] | undefined;
  /** Plugin type to run (default from config.type, else seamless-static-route). */
  type?: string | undefined;
  /** Kill the plugin after this many milliseconds (default: never). */
  timeoutMs?: number | undefined;
}

/** What the plugin did: exit code, raw output and stdout parsed as JSON when it is JSON. */
export interface PluginRun {
  code: number;
  stdout: string;
  stderr: string;
  /** Milliseconds from spawn to exit. */
  ms: number;
  // deno-lint-ignore no-explicit-any
  json: any;
}

/** The clean environment a CNI runtime gives a plugin: PATH and HOME (and DENO_DIR, if set). */
export function runtimeEnv(): Record<string, string> {
  const env: Record<string, string> = {
    PATH: Deno.env.get("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin",
    HOME: Deno.env.get("HOME") ?? "/root",
  };
  const denoDir = Deno.env.get("DENO_DIR");
  if (denoDir) env.DENO_DIR = denoDir;
  return env;
}

/** The CNI_* variables and the rest of the clean environment for one invocation. */
function invocationEnv(bin: BinDir, inv: Invocation): Record<string, string> {
  const env = runtimeEnv();
  if (inv.command !== undefined) env.CNI_COMMAND = inv.command;
  if (inv.containerId !== undefined) env.CNI_CONTAINERID = inv.containerId;
  if (inv.netns !== undefined) env.CNI_NETNS = inv.netns;
  if (inv.ifname !== undefined) env.CNI_IFNAME = inv.ifname;
  if (inv.cniArgs !== undefined) env.CNI_ARGS = inv.cniArgs;
  if (inv.command !== undefined) env.CNI_PATH = bin.dir;
  for (const [k, v] of Object.entries(inv.env ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

/** The type an invocation runs: its own, else the config's, else seamless-static-route. */
function typeOf(inv: Invocation): string {
  const cfg = inv.config;
  const type = inv.type ??
    (isObject(cfg) && "type" in cfg ? String(cfg.type) : "seamless-static-route");
  return type === "route-override" ? "route-override" : "seamless-static-route";
}

/** Runs the plugin from `bin` with a runtime-like clean environment. */
export async function runPlugin(bin: BinDir, inv: Invocation): Promise<PluginRun> {
  const exe = bin.plugin(typeOf(inv));
  const argv = inv.nodeNs ? ["ip", "netns", "exec", inv.nodeNs, exe] : [exe];
  const cfg = inv.config;
  const body = cfg === undefined ? "" : typeof cfg === "string" ? cfg : JSON.stringify(cfg);
  const out = await run([...argv, ...(inv.argv ?? [])], {
    stdin: body,
    env: invocationEnv(bin, inv),
    clearEnv: true,
    ...(inv.timeoutMs === undefined ? {} : { timeoutMs: inv.timeoutMs }),
  });
  return { ...out, json: jsonOf(out.stdout) };
}

/** The JSON object a plugin printed, or undefined when stdout is empty or not JSON. */
export function jsonOf(stdout: string): unknown {
  try {
    return stdout.trim() ? JSON.parse(stdout) : undefined;
  } catch {
    return undefined;
  }
}

/** A JSON object. */
export type JsonObject = Record<string, unknown>;

/** True for a plain JSON object (not null, not an array). */
export function isObject(v: unknown): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The pod of a lab as a prevResult names it. */
export interface PodRef {
  podNetns: string;
  podIfname: string;
}

/** A 1.0.0 prevResult describing a lab's first pod as bridge + host-local would print it. */
export function prevResultFor(pod: PodRef, extra: { v6?: boolean } = {}) {
  const ips: { address: string; gateway: string; interface: number }[] = [
    { address: LAB.podAddress, gateway: LAB.podGateway, interface: 0 },
  ];
  const routes: { dst: string; gw?: string }[] = [{ dst: "0.0.0.0/0", gw: LAB.podGateway }];
  if (extra.v6) {
    ips.push({ address: LAB.podAddress6, gateway: LAB.podGateway6, interface: 0 });
    routes.push({ dst: "::/0", gw: LAB.podGateway6 });
  }
  return {
    cniVersion: "1.0.0",
    interfaces: [{ name: pod.podIfname, mac: "0a:58:0a:83:00:05", sandbox: pod.podNetns }],
    ips,
    routes,
    dns: {},
  };
}
