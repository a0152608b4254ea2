/** DEL: undo what ADD recorded. Idempotent; succeeds when the netns or the state file is gone. */
import { CniError, ErrorCode } from "../cni/errors.ts";
import { applyOpsBestEffort, netnsIdentity, readPod, stopPendingBatch } from "../ip.ts";
import { planRevert } from "../plan.ts";
import { describeRoute } from "../route.ts";
import {
  batchPath,
  lockAttachment,
  readState,
  removeState,
  StateFileError,
  statePath,
} from "../state.ts";
import { type Context, logOps, type Output } from "./context.ts";

/** Runs DEL. */
export function cmdDel(ctx: Context): Output {
  const { env, config, log } = ctx;
  const path = statePath(config.stateDir, config.name, env.containerId, env.ifname);
  // After this attachment's ADD, CHECK or DEL; an ip batch a killed ADD left running is stopped
  // before the table is read, so nothing lands after the revert.
  using lock = ctx.dryRun ? null : lockAttachment(path, false);
  if (!ctx.dryRun && !lock) {
    log.info(`no state for ${env.containerId}/${env.ifname}: nothing to undo`);
    return {};
  }
  const stopped = ctx.dryRun ? 0 : stopPendingBatch(batchPath(path));
  if (stopped > 0) log.info(`stopped ${stopped} ip process(es) of an earlier, killed ADD`);
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
    lock?.remove();
    return {};
  }
  if (!state) {
    log.info(`no state for ${env.containerId}/${env.ifname}: nothing to undo`);
    lock?.remove();
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
      // Gone while we looked (its routes went with it), or not a namespace at all (a stale file):
      // no route to revert. Failing to start ip at all is worth a retry: that error stands.
      if (!(e instanceof CniError) || e.code !== ErrorCode.NetnsUnreachable) throw e;
      log.error(`${e.message}${e.details ? ` (${e.details})` : ""}: no route is changed`);
    }
    if (now) {
      const ops = planRevert(state.added, state.deleted, now, "DEL");
      logOps(log, ops);
      if (ctx.dryRun) return { lines: ops.map((op) => `${op.action} ${describeRoute(op.route)}`) };
      // Best effort, as the spec asks of DEL: a route that can no longer be restored (its
      // gateway is gone, another route took its place) is logged, and the rest still reverted.
      for (const { op, why } of applyOpsBestEffort(netns, ops)) {
        log.error(`DEL could not ${op.action} ${describeRoute(op.route)}: ${why}`);
      }
    }
  } else {
    log.info(`netns ${netns || "(none)"} is gone: only the state file is removed`);
  }
  removeState(path);
  lock?.remove();
  return {};
}
