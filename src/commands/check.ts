/** CHECK: the routes the plugin is responsible for are in place (unless `skipcheck`). */
import { CniError, ErrorCode } from "../cni/errors.ts";
import { netnsExists } from "../netns.ts";
import { planCheck } from "../plan.ts";
import { lockAttachment, statePath } from "../state.ts";
import { type Context, observe, type Output } from "./context.ts";

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
  const { snapshot, host } = await observe(ctx);
  const problems = planCheck({ config, ifname: env.ifname, snapshot, host });
  if (problems.length > 0) {
    const first = problems[0];
    throw new CniError(
      ErrorCode.CheckFailed,
      `route ${first.route}: ${first.problem}`,
      problems.map((p) => `route ${p.route}: ${p.problem}`).join("; "),
    );
  }
  return {};
}
