/** What every command handler gets and returns, and the one way handlers log planned changes. */
import type { Invocation, Output as HandlerOutput } from "../cni/skel.ts";
import type { PluginConfig } from "../config.ts";
import type { Logger } from "../log.ts";
import { describeRoute, type RouteOp } from "../route.ts";

/** One invocation: validated environment and config, logger, and the `--dry-run` flag. */
export type Context = Invocation<PluginConfig>;

/** What a handler prints: a JSON object, plain lines (dry run), or nothing. */
export type Output = HandlerOutput;

/** Logs each planned route change at info level (built only when info is logged). */
export function logOps(log: Logger, ops: readonly RouteOp[]): void {
  if (!log.enabled("info")) return;
  for (const op of ops) log.info(`${op.action} ${describeRoute(op.route)} (${op.reason})`);
}
