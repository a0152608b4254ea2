/**
 * Runs the plugin exactly as a CNI runtime does: an executable in a CNI bin dir, CNI_* variables
 * in a clean environment, the network config on stdin, the result or error JSON on stdout.
 *
 * The executable is a small wrapper that runs the bundle (`dist/seamless-static-route.js`, made by
 * `deno task bundle`) with `deno run` and the same permissions `deno compile` bakes in.
 */
import { pluginRunArgs } from "../../scripts/permissions.ts";
import { run } from "./netns.ts";

/** Repository root. */
export const ROOT: string = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");
/** The bundle the end-to-end tests execute. */
export const BUNDLE = `${ROOT}/dist/seamless-static-route.js`;
/** The source entry point, for the one smoke test that runs it directly. */
export const SOURCE = `${ROOT}/mod.ts`;

/** Makes sure the bundle exists (`deno task test` builds it first; a bare `deno test` may not). */
export async function ensureBundle(): Promise<void> {
  try {
    await Deno.stat(BUNDLE);
  } catch {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["task", "--quiet", "bundle"],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!out.success) {
      throw new Error(`deno task bundle failed: ${new TextDecoder().decode(out.stderr)}`);
    }
  }
}

/** Writes an executable wrapper `dir/name` that runs `entry` with the plugin's permissions. */
export async function writeWrapper(dir: string, name: string, entry: string): Promise<string> {
  const path = `${dir}/${name}`;
  const quoted = [Deno.execPath(), ...pluginRunArgs(entry, `${ROOT}/deno.json`)]
    .map((a) => `'${a.replaceAll("'", `'\\''`)}'`).join(" ");
  await Deno.writeTextFile(path, `#!/bin/sh\nexec ${quoted} "$@"\n`, { mode: 0o755 });
  return path;
}

/** A CNI bin dir holding the plugin under both of its type names. Dispose to remove it. */
export class BinDir implements AsyncDisposable {
  readonly dir: string;
  private constructor(dir: string) {
    this.dir = dir;
  }

  /** Creates a bin dir whose plugins run `entry` (default: the bundle). */
  static async create(entry: string = BUNDLE): Promise<BinDir> {
    if (entry === BUNDLE) await ensureBundle();
    const dir = await Deno.makeTempDir({ prefix: "ssr-bin-" });
    await writeWrapper(dir, "seamless-static-route", entry);
    await writeWrapper(dir, "route-override", entry);
    return new BinDir(dir);
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
  /** CNI_COMMAND; omitted when undefined. */
  command?: string;
  containerId?: string;
  netns?: string;
  ifname?: string;
  cniArgs?: string;
  /** Network config written to stdin: an object is JSON-encoded, a string is sent as is. */
  config?: unknown;
  /** Namespace to run the plugin in (the "node"); default: the caller's. */
  nodeNs?: string;
  /** Extra or replacement environment variables (undefined values remove one). */
  env?: Record<string, string | undefined>;
  /** Command-line arguments for the plugin. */
  argv?: string[];
  /** Plugin type to run (default from config.type, else seamless-static-route). */
  type?: string;
}

/** What the plugin did: exit code, raw output and stdout parsed as JSON when it is JSON. */
export interface PluginRun {
  code: number;
  stdout: string;
  stderr: string;
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

/** Runs the plugin from `bin` with a runtime-like clean environment. */
export async function runPlugin(bin: BinDir, inv: Invocation): Promise<PluginRun> {
  const cfg = inv.config;
  const type = inv.type ??
    (cfg && typeof cfg === "object" && "type" in cfg
      ? String((cfg as { type: unknown }).type)
      : "seamless-static-route");
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
  const exe = bin.plugin(type === "route-override" ? "route-override" : "seamless-static-route");
  const argv = inv.nodeNs ? ["ip", "netns", "exec", inv.nodeNs, exe] : [exe];
  const body = cfg === undefined ? "" : typeof cfg === "string" ? cfg : JSON.stringify(cfg);
  const out = await run([...argv, ...(inv.argv ?? [])], body, env);
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
