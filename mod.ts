#!/usr/bin/env -S deno run --allow-all --no-prompt --v8-flags=--min-semi-space-size=8,--jitless
/**
 * seamless-static-route: a CNI meta-plugin that adds a host route to the node's primary address
 * in the pod and applies route-override's flush/delete/add rules.
 *
 * Entry point: wiring only. The CNI protocol (environment, stdin, versions, error JSON, output)
 * is `src/cni/skel.ts`; the handlers are loaded on demand, so a DEL never parses the ADD planner.
 */
import { type Outcome, type Plugin, pluginMain, runPlugin } from "./src/cni/skel.ts";
import { parseConfig, type PluginConfig } from "./src/config.ts";
import { PLUGIN_NAME, PLUGIN_VERSION } from "./src/meta.ts";
import { preloadLibc } from "./src/libc.ts";

export type { Outcome };

const USAGE = `${PLUGIN_NAME} ${PLUGIN_VERSION}: CNI meta-plugin (host route + route override)

Run by a CNI runtime with CNI_COMMAND=ADD|DEL|CHECK|VERSION|STATUS|GC, CNI_CONTAINERID,
CNI_NETNS, CNI_IFNAME, CNI_PATH in the environment and the network config on stdin.

Options (by hand):
  --version   print the version
  --help      print this help
  --dry-run   with CNI_COMMAND=ADD (or DEL): print the ip commands it would run; change nothing
`;

/** The plugin as the CNI skeleton runs it. */
const PLUGIN: Plugin<PluginConfig> = {
  name: PLUGIN_NAME,
  version: PLUGIN_VERSION,
  usage: USAGE,
  parseConfig,
  handlers: {
    ADD: async () => (await import("./src/commands/add.ts")).cmdAdd,
    DEL: async () => (await import("./src/commands/del.ts")).cmdDel,
    CHECK: async () => (await import("./src/commands/check.ts")).cmdCheck,
    STATUS: async () => (await import("./src/commands/status.ts")).cmdStatus,
    GC: async () => (await import("./src/commands/gc.ts")).cmdGc,
  },
  // The commands that run ip load libc (for spawning it) while stdin is read.
  prepare: (command) =>
    command === "ADD" || command === "DEL" || command === "CHECK"
      ? preloadLibc()
      : Promise.resolve(),
  // ADD locks the attachment and starts reading the pod while its routes are validated; CHECK
  // starts the ip of its read.
  prefetch: async (raw, env, dryRun) =>
    dryRun
      ? undefined
      : env.command === "ADD"
      ? (await import("./src/commands/add.ts")).prefetchAdd(raw, env)
      : env.command === "CHECK"
      ? (await import("./src/commands/check.ts")).prefetchCheck(env)
      : undefined,
};

/**
 * Runs one invocation. `getEnv` reads a variable, `readStdin` reads all of stdin; both are
 * parameters so tests can run the plugin in-process.
 */
export function main(
  args: readonly string[],
  getEnv: (name: string) => string | undefined,
  readStdin: () => Promise<string>,
): Promise<Outcome> {
  return pluginMain(PLUGIN, args, getEnv, readStdin);
}

if (import.meta.main) await runPlugin(PLUGIN);
