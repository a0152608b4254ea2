/** CHECK: the routes the plugin is responsible for are in place (unless `skipcheck`). */
import { CniError, ErrorCode } from "../cni/errors.ts";
import { cidrText, hostCidr } from "../address.ts";
import type { PluginConfig } from "../config.ts";
import type { CniEnv } from "../cni/env.ts";
import type { HostFacts } from "../desired.ts";
import { netnsExists, readPodFast, readPodRoutesTo, StartedRead } from "../ip.ts";
import { observe } from "../observe.ts";
import { planCheck } from "../plan.ts";
import { tableName } from "../route.ts";
import { hasState, lockAttachment, statePath } from "../state.ts";
import { type Context, lockWaitSeconds, observeInput, type Output } from "./context.ts";

/** How `observe` says a pod interface is missing (`cannotApply` in desired.ts). */
const MISSING = /^the pod has no interface /;

/**
 * Starts the `ip` of CHECK's read on the pod while the config is validated; undefined when it
 * cannot be started (the read then starts its own and reports why).
 */
export function prefetchCheck(env: CniEnv): StartedRead | undefined {
  try {
    return new StartedRead(env.netns);
  } catch {
    return undefined;
  }
}

/** Runs CHECK; code 101 naming the first wrong route, all of them in details. */
export async function cmdCheck(ctx: Context): Promise<Output> {
  const { env, config, log } = ctx;
  using started = ctx.prefetched instanceof StartedRead ? ctx.prefetched : undefined;
  if (config.skipcheck) {
    log.info("skipcheck: CHECK skipped");
    return {};
  }
  if (!netnsExists(env.netns)) {
    throw new CniError(ErrorCode.NetnsUnreachable, `CNI_NETNS ${env.netns} does not exist`);
  }
  // Not while an ADD or DEL of the same attachment is changing the table. A CHECK of an
  // attachment with no record (after DEL, or never added) leaves no lock file behind.
  const path = statePath(config.stateDir, config.name, env.containerId, env.ifname);
  using lock = lockAttachment(path, false, lockWaitSeconds(ctx));
  try {
    return await checkLocked(ctx, started);
  } catch (e) {
    // A pod interface the config needs that is gone is a pod no longer as ADD left it: code 101,
    // as for a wrong route (the config was valid at ADD; code 7 would blame it).
    if (e instanceof CniError && e.code === ErrorCode.InvalidConfig && MISSING.test(e.message)) {
      // At CHECK the interface was there (ADD succeeded): say it went, not that it was never made.
      const what = e.message.split("; ")[0];
      throw new CniError(
        ErrorCode.CheckFailed,
        `${what}: the pod is no longer as ADD left it`,
        e.details,
      );
    }
    throw e;
  } finally {
    if (!hasState(path)) lock?.remove();
  }
}

/**
 * The destinations CHECK looks at: every addroute's and delroute's, and the host route's. Only
 * routes to these are read, so CHECK's time and memory follow the config, not the pod's table.
 */
export function checkDsts(config: PluginConfig, host: HostFacts): string[] {
  const dsts = [...config.addroutes, ...config.delroutes].map((r) => cidrText(r.dst));
  for (const ip of [host.v4, host.v6]) if (ip) dsts.push(cidrText(hostCidr(ip)));
  return dsts;
}

/**
 * How CHECK's fast read looks at those destinations: the routes it wants in the main table
 * (the host route, addroutes other than a default route) by the kernel's lookup, the rest
 * (delroutes, which must be absent, and addroutes in other tables) by reading them.
 */
export function checkReads(
  config: PluginConfig,
  host: HostFacts,
): { lookups: string[]; dsts: string[] } {
  const lookups: string[] = [];
  const dsts = config.delroutes.map((r) => cidrText(r.dst));
  for (const r of config.addroutes) {
    const main = tableName(r.table) === "main" && r.dst.prefix > 0;
    (main ? lookups : dsts).push(cidrText(r.dst));
  }
  for (const ip of [host.v4, host.v6]) if (ip) lookups.push(cidrText(hostCidr(ip)));
  return { lookups, dsts };
}

/**
 * CHECK under the attachment's lock. A fast read first (kernel lookups: its cost does not grow
 * with the pod's table); only when that finds a problem is every destination read (`exact`), so a
 * route a lookup did not return (behind a lower metric, under a more specific route) is never
 * reported missing.
 */
async function checkLocked(ctx: Context, started?: StartedRead): Promise<Output> {
  const { env, config } = ctx;
  const input = observeInput(ctx, (host) => {
    const { lookups, dsts } = checkReads(config, host);
    return readPodFast(env.netns, lookups, dsts, started);
  });
  const obs = await observe({ ...input, hostFirst: true });
  let problems = planCheck({ config, ifname: env.ifname, ...obs });
  if (problems.length > 0) {
    const snapshot = readPodRoutesTo(env.netns, checkDsts(config, obs.host));
    problems = planCheck({ config, ifname: env.ifname, ...obs, snapshot });
  }
  const first = problems[0];
  if (first) {
    throw new CniError(
      ErrorCode.CheckFailed,
      `route ${first.route}: ${first.problem}`,
      problems.map((p) => `route ${p.route}: ${p.problem}`).join("; "),
    );
  }
  return {};
}
