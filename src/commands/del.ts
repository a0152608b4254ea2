/** DEL: undo what ADD recorded. Idempotent; succeeds when the netns or the state file is gone. */
import { CniError } from "../cni/errors.ts";
import { applyOps, netnsExists, netnsIdentity, readPod } from "../netns.ts";
import { planRevert } from "../plan.ts";
import { describeRoute } from "../route.ts";
import { readState, removeState, StateFileError, statePath } from "../state.ts";
import { type Context, logOps, type Output } from "./context.ts";

/** Runs DEL. */
export function cmdDel(ctx: Context): Output {
  const { env, config, log } = ctx;
  const path = statePath(config.stateDir, config.name, env.containerId, env.ifname);
  let state;
  try {
    state = readState(path, {
      network: config.name,
      containerId: env.containerId,
      ifname: env.ifname,
    });
  } catch (e) {
    if (!(e instanceof StateFileError)) throw e;
    // DEL must be able to succeed: without a trustworthy record no route can be attributed to
    // this attachment, so none is touched; the record goes, and the pod can terminate.
    log.error(`${e.message}: no route is changed; the state file is removed`);
    removeState(path);
    return {};
  }
  if (!state) {
    log.info(`no state for ${env.containerId}/${env.ifname}: nothing to undo`);
    return {};
  }
  // containerd's second DEL (RemovePodSandbox) comes without CNI_NETNS: the recorded path is used
  // only while it is still the namespace ADD changed (a /proc/PID path outlives its PID).
  const netns = env.netns || state.netns;
  const id = netns ? netnsIdentity(netns) : null;
  const recorded = state.netnsId;
  if (id && recorded && (id.dev !== recorded.dev || id.ino !== recorded.ino)) {
    log.error(
      `netns ${netns} is no longer the namespace ADD changed (inode ${recorded.ino}, now ` +
        `${id.ino}): no route is changed; the state file is removed`,
    );
  } else if (id && !recorded && !env.netns) {
    log.info("no CNI_NETNS and no recorded namespace identity: no route is changed");
  } else if (id) {
    let now;
    try {
      now = readPod(netns);
    } catch (e) {
      // The namespace went away while we looked: its routes went with it.
      if (!(e instanceof CniError) || netnsExists(netns)) throw e;
    }
    if (now) {
      const ops = planRevert(state.added, state.deleted, now, "DEL");
      logOps(log, ops);
      if (ctx.dryRun) return { lines: ops.map((op) => `${op.action} ${describeRoute(op.route)}`) };
      applyOps(netns, ops);
    }
  } else {
    log.info(`netns ${netns || "(none)"} is gone: only the state file is removed`);
  }
  removeState(path);
  return {};
}
