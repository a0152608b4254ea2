/**
 * A CNI chain driver that follows the spec's section 3 ("Execution of network configurations"):
 * ADD runs the plugins of a conflist in order, each one getting the previous plugin's result as
 * `prevResult`; CHECK runs them in order with the final ADD result as `prevResult`; DEL runs them
 * in reverse order with the final ADD result as `prevResult`.
 *
 * Debian's reference plugins (bridge, ptp, host-local, ...) run from /usr/lib/cni with
 * CNI_PATH=/usr/lib/cni so they find their IPAM plugin; this plugin's types run from a `BinDir`.
 * Every plugin runs in the node namespace (`ip netns exec NODE`), as a runtime on that node would.
 */
import {
  type BinDir,
  isObject,
  type JsonObject,
  jsonOf,
  OUR_TYPES,
  runtimeEnv,
} from "../../testing/plugin.ts";
import type { Need } from "../../testing/needs.ts";
import { run } from "../../testing/run.ts";

/** Where Debian's containernetworking-plugins puts the reference plugins. */
export const REFERENCE_CNI_DIR = "/usr/lib/cni";

/** What chain tests need besides root: the reference plugins they chain after. */
export const CHAIN_NEEDS: readonly Need[] = [
  { file: `${REFERENCE_CNI_DIR}/bridge`, pkg: "containernetworking-plugins" },
];

export { isObject, type JsonObject };

/** One plugin execution of a chain. */
export interface PluginExec {
  command: string;
  type: string;
  code: number;
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON, undefined when it is empty or not JSON. */
  json: unknown;
}

/** A plugin that exited non-zero; the chain stops there. */
export class ChainError extends Error {
  readonly exec: PluginExec;
  constructor(exec: PluginExec) {
    super(
      `${exec.type} ${exec.command} failed (exit ${exec.code}): ${exec.stdout.trim()} ${exec.stderr.trim()}`,
    );
    this.name = "ChainError";
    this.exec = exec;
  }
}

/** A network configuration list (conflist). */
export interface ConfList {
  cniVersion: string;
  name: string;
  plugins: JsonObject[];
}

/** What the runtime knows about one attachment. */
export interface Attachment {
  containerId: string;
  /** CNI_NETNS: a path such as /var/run/netns/NAME. */
  netns: string;
  ifname: string;
  /** Namespace the plugins run in (`ip netns exec`). */
  nodeNs: string;
  cniArgs?: string;
}

/** Options of a chain. */
export interface ChainOptions {
  /** Extra environment for this plugin's executable only (e.g. PATH for fault injection). */
  ourEnv?: Record<string, string>;
}

/** Runs one plugin executable with a runtime-like clean environment. */
export async function execPlugin(
  path: string,
  type: string,
  command: string,
  env: Record<string, string>,
  config: JsonObject,
  nodeNs?: string,
): Promise<PluginExec> {
  const argv = nodeNs ? ["ip", "netns", "exec", nodeNs, path] : [path];
  const fullEnv = { ...runtimeEnv(), CNI_COMMAND: command, ...env };
  const out = await run(argv, { stdin: JSON.stringify(config), env: fullEnv, clearEnv: true });
  return { command, type, ...out, json: jsonOf(out.stdout) };
}

/** Drives one attachment of a conflist through ADD, CHECK and DEL. */
export class Chain {
  readonly conf: ConfList;
  readonly bin: BinDir;
  readonly att: Attachment;
  readonly opts: ChainOptions;
  /** Every plugin execution so far, in order. */
  readonly log: PluginExec[] = [];
  /** The final result of the last successful ADD (what a runtime caches). */
  result: JsonObject | undefined;

  constructor(conf: ConfList, bin: BinDir, att: Attachment, opts: ChainOptions = {}) {
    this.conf = conf;
    this.bin = bin;
    this.att = att;
    this.opts = opts;
  }

  /** The per-plugin config: the plugin object plus the list's name and cniVersion. */
  pluginConfig(plugin: JsonObject, prevResult: JsonObject | undefined): JsonObject {
    const cfg: JsonObject = { ...plugin, name: this.conf.name, cniVersion: this.conf.cniVersion };
    if (prevResult !== undefined) cfg.prevResult = prevResult;
    return cfg;
  }

  private async exec(plugin: JsonObject, command: string, prev: JsonObject | undefined) {
    const type = String(plugin.type);
    const ours = OUR_TYPES.includes(type);
    const env: Record<string, string> = {
      CNI_CONTAINERID: this.att.containerId,
      CNI_NETNS: this.att.netns,
      CNI_IFNAME: this.att.ifname,
      CNI_PATH: ours ? `${this.bin.dir}:${REFERENCE_CNI_DIR}` : REFERENCE_CNI_DIR,
      ...(ours ? this.opts.ourEnv ?? {} : {}),
    };
    if (this.att.cniArgs !== undefined) env.CNI_ARGS = this.att.cniArgs;
    const path = ours ? this.bin.plugin(type) : `${REFERENCE_CNI_DIR}/${type}`;
    const r = await execPlugin(
      path,
      type,
      command,
      env,
      this.pluginConfig(plugin, prev),
      this.att.nodeNs,
    );
    this.log.push(r);
    return r;
  }

  /**
   * ADD: every plugin in order; each result feeds the next one. Throws ChainError on failure.
   * `before(type)` runs before each plugin (e.g. to snapshot the pod's table).
   */
  async add(before?: (type: string) => Promise<void>): Promise<JsonObject> {
    let prev: JsonObject | undefined = undefined;
    for (const plugin of this.conf.plugins) {
      if (before) await before(String(plugin.type));
      const r = await this.exec(plugin, "ADD", prev);
      if (r.code !== 0) throw new ChainError(r);
      if (!isObject(r.json)) throw new ChainError({ ...r, code: -1 });
      prev = r.json;
    }
    if (prev === undefined) throw new Error("empty conflist");
    this.result = prev;
    return prev;
  }

  /** CHECK: every plugin in order with the cached ADD result. Returns the failing run, if any. */
  async check(): Promise<PluginExec | undefined> {
    for (const plugin of this.conf.plugins) {
      const r = await this.exec(plugin, "CHECK", this.result);
      if (r.code !== 0) return r;
    }
    return undefined;
  }

  /** CHECK of one plugin of the list (by index) with the cached ADD result. */
  checkOne(index: number): Promise<PluginExec> {
    const plugin = this.conf.plugins[index];
    if (plugin === undefined) throw new Error(`the list has no plugin ${index}`);
    return this.exec(plugin, "CHECK", this.result);
  }

  /**
   * DEL: every plugin in reverse order with the cached ADD result. Returns the failing runs.
   * `after(exec)` runs after each plugin (e.g. to look at the table between two plugins).
   */
  async del(after?: (exec: PluginExec) => Promise<void>): Promise<PluginExec[]> {
    const failed: PluginExec[] = [];
    for (const plugin of [...this.conf.plugins].reverse()) {
      const r = await this.exec(plugin, "DEL", this.result);
      if (r.code !== 0) failed.push(r);
      if (after) await after(r);
    }
    this.result = undefined;
    return failed;
  }
}
