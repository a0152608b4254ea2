/** CHECK: the routes the plugin is responsible for are in place (unless `skipcheck`). */
import { CniError, ErrorCode } from "../cni/errors.ts";
import { netnsExists, readPod } from "../ip.ts";
import { observe } from "../observe.ts";
import { planCheck } from "../plan.ts";
import { lockAttachment, statePath } from "../state.ts";
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
  // Not while an ADD or DEL of the same attachment is changing the table.
  using _lock = lockAttachment(
    statePath(config.stateDir, config.name, env.containerId, env.ifname),
    false,
  );
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
