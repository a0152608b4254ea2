/**
 * What every command handler gets and returns, how handlers ask `observe` for the facts, and the
 * one way they log planned changes.
 */
import type { Invocation, Output as HandlerOutput } from "../cni/skel.ts";
import type { PluginConfig } from "../config.ts";
import type { HostFacts } from "../desired.ts";
import type { Logger } from "../log.ts";
import type { ObserveInput } from "../observe.ts";
import { describeRoute, type RouteOp } from "../route.ts";
import type { PodSnapshot } from "../snapshot.ts";

/** One invocation: validated environment and config, logger, and the `--dry-run` flag. */
export type Context = Invocation<PluginConfig>;

/** What a handler prints: a JSON object, plain lines (dry run), or nothing. */
export type Output = HandlerOutput;

/** Logs each planned route change at info level (built only when info is logged). */
export function logOps(log: Logger, ops: readonly RouteOp[]): void {
  if (!log.enabled("info")) return;
  for (const op of ops) log.info(`${op.action} ${describeRoute(op.route)} (${op.reason})`);
}

/** What `observe` needs for this invocation, reading the pod with `read`; a dry run never waits. */
export function observeInput(
  ctx: Context,
  read: (host: HostFacts) => PodSnapshot,
): ObserveInput {
  const { config, env, log } = ctx;
  const waitSeconds = ctx.dryRun ? 0 : config.hostRoute.timeoutSeconds;
  return { config, ifname: env.ifname, log, read, waitSeconds };
}

/**
 * How long a handler waits for its attachment's lock: as long as ADD may wait for the pod and
 * the node (`hostRoute.timeoutSeconds`), at least 1 s; then code 11 (DEL: logged, exit 0). DEL
 * reads no `hostRoute` (a config edited since ADD must not fail it), so it waits the default 10 s.
 */
export function lockWaitSeconds(ctx: Context): number {
  return Math.max(1, ctx.config.hostRoute.timeoutSeconds);
}
