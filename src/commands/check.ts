/** CHECK: the routes the plugin is responsible for are in place (unless `skipcheck`). */
import { CniError, ErrorCode } from "../cni/errors.ts";
import { netnsExists, readPod } from "../ip.ts";
import { observe } from "../observe.ts";
import { planCheck } from "../plan.ts";
import { hasState, lockAttachment, statePath } from "../state.ts";
import { type Context, lockWaitSeconds, observeInput, type Output } from "./context.ts";

/** How `observe` says a pod interface is missing (`cannotApply` in desired.ts). */
const MISSING = /^the pod has no interface /;

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
  using lock = lockAttachment(path, false, lockWaitSeconds(ctx));
  try {
    return await checkLocked(ctx);
  } catch (e) {
    // A pod interface the config needs that is gone is a pod no longer as ADD left it: code 101,
    // as for a wrong route (the config was valid at ADD; code 7 would blame it).
    if (e instanceof CniError && e.code === ErrorCode.InvalidConfig && MISSING.test(e.message)) {
      throw new CniError(ErrorCode.CheckFailed, e.message, e.details);
    }
    throw e;
  } finally {
    if (!hasState(path)) lock?.remove();
  }
}

/** CHECK under the attachment's lock. */
async function checkLocked(ctx: Context): Promise<Output> {
  const { env, config } = ctx;
  const obs = await observe(observeInput(ctx, () => readPod(env.netns)));
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
