/**
 * The Deno permissions the plugin runs with, shared by `deno compile` (scripts/build.ts) and
 * the lab's plugin runner (testing/plugin.ts: the tests, `deno task dev` and the benchmark), so
 * that every way of running it is the same.
 *
 * Why `--allow-all` and not a narrow list such as `--allow-run=ip,nsenter --allow-read=/proc,...`:
 *
 * 1. Deno 2.9 refuses every read under /proc unless the process has `--allow-all`; no narrower
 *    flag grants it (`--allow-read=/proc` is not enough, and any `--deny-*` flag removes it again;
 *    see denoland/deno#25055 and #27564). Host discovery reads /proc/net/route and
 *    /proc/net/ipv6_route in-process, and `CNI_NETNS=/proc/PID/ns/net` must be stat-able.
 *    The alternative, asking `ip` for the node's default route, costs a third process per ADD.
 * 2. A narrow list would not confine anything real: the plugin must be allowed to run `ip` and
 *    `nsenter` as root, and both run arbitrary commands (`ip netns exec NS CMD`, `nsenter ... CMD`).
 *
 * The plugin itself only reads CNI_* variables (and TMPDIR), /proc/net, netns paths, its state
 * directory and log file, writes its state files, log file and one short-lived `ip -batch` file
 * per `ip` call in $TMPDIR (default /tmp), and only runs `ip` and `nsenter`: see docs/security.md.
 */
/** Permission flags for `deno run` / `deno compile`. */
export const PLUGIN_PERMISSION_FLAGS: readonly string[] = ["--allow-all", "--no-prompt"];

/**
 * V8 flags for `deno run` / `deno compile`, for a process that lives ~80 ms:
 * - a young generation of 8 MB from the start. With V8's default (1 MB, grown after collections)
 *   an ADD of 500 addroutes ran two scavenges of 2–5 ms each, nearly all it allocated being still
 *   alive; with 8 MB a run of the plugin collects nothing. Peak RSS does not grow: only pages the
 *   run writes are resident.
 * - no JIT compiler at all (`--jitless`: V8's bytecode interpreter, regular expressions
 *   interpreted too). A run calls most functions a few hundred times at most and then exits:
 *   compiling them (Sparkplug's baseline code, Maglev's and TurboFan's optimized code) did not pay
 *   for itself in the commands measured. In interleaved runs an ADD of 500 addroutes took ~6% less
 *   without it, CHECK and DEL 3–7% less; 1000 addroutes of 32 next hops each (the most `addroutes`
 *   allows, planned in a dry run) took ~4% more. The plugin uses no WebAssembly, which
 *   `--jitless` turns off.
 */
export const PLUGIN_V8_FLAGS: readonly string[] = [
  "--v8-flags=--min-semi-space-size=8,--jitless",
];

/**
 * The `deno run` arguments (after `deno`) that run the plugin from `entry` exactly as a runtime
 * would (its permissions and V8 flags, as `deno compile` embeds them), without ever touching the
 * network: a bundle (`.js`) needs no config or lockfile; the source (`mod.ts`) resolves its npm
 * imports from `config`'s lockfile and the local cache only (`--frozen --cached-only`), so a
 * missing dependency fails at once instead of after a DNS timeout.
 */
export function pluginRunArgs(entry: string, config: string): string[] {
  const resolve = entry.endsWith(".js")
    ? ["--no-config", "--no-lock"]
    : [`--config=${config}`, "--frozen"];
  return [
    "run",
    "--quiet",
    "--cached-only",
    ...resolve,
    ...PLUGIN_PERMISSION_FLAGS,
    ...PLUGIN_V8_FLAGS,
    entry,
  ];
}
