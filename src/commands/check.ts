/** CHECK: the routes the plugin is responsible for are in place (unless `skipcheck`). */
import { CniError, ErrorCode } from "../cni/errors.ts";
import { cidrText, hostCidr } from "../address.ts";
import type { PluginConfig } from "../config.ts";
import type { HostFacts } from "../desired.ts";
import { netnsExists, readPodRoutesTo } from "../ip.ts";
import { observe } from "../observe.ts";
import { planCheck } from "../plan.ts";
import { hasState, lockAttachment, statePath } from "../state.ts";
import { type Context, observeInput, type Output } from "./context.ts";

/** Runs CHECK; code 101 naming the first wrong route, all of them in details. */
export async function cmdCheck(ctx: Context): Promise<Output> {
  const { env, config, log } = ctx;
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
  using lock = lockAttachment(path, false);
  try {
    return await checkLocked(ctx);
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

/** CHECK under the attachment's lock. */
async function checkLocked(ctx: Context): Promise<Output> {
  const { env, config } = ctx;
  const input = observeInput(ctx, (host) => readPodRoutesTo(env.netns, checkDsts(config, host)));
  const obs = await observe({ ...input, hostFirst: true });
  const problems = planCheck({ config, ifname: env.ifname, ...obs });
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
