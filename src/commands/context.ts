/** What every command handler gets, and the shared "look at the pod and the node" step. */
import type { CniEnv } from "../cni/env.ts";
import { CniError, ErrorCode } from "../cni/errors.ts";
import type { PluginConfig } from "../config.ts";
import { hostPrimaryAddress } from "../host.ts";
import type { Logger } from "../log.ts";
import { readPod } from "../ip.ts";
import type { PodSnapshot } from "../snapshot.ts";
import { type HostFacts, podAddress } from "../plan.ts";
import { describeRoute, type RouteOp } from "../route.ts";

/** One invocation: validated environment and config, logger, and the `--dry-run` flag. */
export interface Context {
  env: CniEnv;
  config: PluginConfig;
  log: Logger;
  dryRun: boolean;
}

/** What a handler prints: a JSON object, plain lines (dry run), or nothing. */
export interface Output {
  json?: Record<string, unknown>;
  lines?: string[];
}

/** The pod as read from its netns, and the node addresses the host route needs. */
export interface Observation {
  snapshot: PodSnapshot;
  host: HostFacts;
}

/** Logs each planned route change at info level (built only when info is logged). */
export function logOps(log: Logger, ops: readonly RouteOp[]): void {
  if (!log.enabled("info")) return;
  for (const op of ops) log.info(`${op.action} ${describeRoute(op.route)} (${op.reason})`);
}

/**
 * Reads the pod (one `ip` call) and, when the host route is on, the node's primary addresses.
 * Waits up to `hostRoute.timeoutSeconds` for the pod's IPv4 address and the node's default route
 * (code 11 after that); `read` is replaced by a fixed snapshot in dry runs.
 */
export async function observe(
  ctx: Context,
  read: () => PodSnapshot = () => readPod(ctx.env.netns),
): Promise<Observation> {
  const { config, env, log } = ctx;
  const t0 = performance.now();
  let snapshot = read();
  log.debug(
    `read pod: ${snapshot.routes.length} routes in ${(performance.now() - t0).toFixed(1)}ms`,
  );
  const host: HostFacts = {};
  const hr = config.hostRoute;
  if (!hr.enabled) return { snapshot, host };
  const iface = hr.interface ?? env.ifname;
  const timeout = ctx.dryRun ? 0 : hr.timeoutSeconds;
  const deadline = Date.now() + timeout * 1000;
  while (!podAddress(config, snapshot, iface, 4)) {
    if (Date.now() >= deadline) {
      throw new CniError(
        ErrorCode.TryAgainLater,
        `no IPv4 address on pod interface ${iface} after ${timeout}s ` +
          "(the host route needs it; chain after the plugin that assigns it, or set hostRoute: false)",
      );
    }
    await new Promise((r) => setTimeout(r, 200));
    snapshot = read();
  }
  const t1 = performance.now();
  host.v4 = hr.hostIP?.family === 4 ? hr.hostIP : (await hostPrimaryAddress(4, timeout))?.address;
  if (hr.ipv6) {
    host.v6 = hr.hostIP?.family === 6
      ? hr.hostIP
      : (await hostPrimaryAddress(6, 0, false))?.address;
  }
  log.debug(
    `host: v4=${host.v4?.address ?? "-"} v6=${host.v6?.address ?? "-"} ` +
      `in ${(performance.now() - t1).toFixed(1)}ms`,
  );
  return { snapshot, host };
}
