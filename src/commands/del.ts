/**
 * DEL: undo what ADD recorded. Idempotent and best effort, as the spec asks: it ends in exit 0
 * whenever routes cannot be attributed to the attachment or restored (logging why), and only a
 * failure to run `ip` at all — worth a retry — fails it. It never reads the pod's table: one
 * `ip -force -batch` of exact deletes and adds, so its time and memory follow the record.
 */
import { CniError, ErrorCode } from "../cni/errors.ts";
import {
  applyOpsBestEffort,
  netnsIdentity,
  readPodRoutesTo,
  type RefusedOp,
  stopPendingBatch,
} from "../ip.ts";
import { GUARD_REASON, revertOps } from "../plan.ts";
import { describeRoute, isMultipath } from "../route.ts";
import { emptySnapshot, type PodSnapshot } from "../snapshot.ts";
import {
  attachmentNames,
  type AttachmentState,
  batchPath,
  lockAttachment,
  mayExist,
  type NetnsId,
  readState,
  removeAttachmentFiles,
  StateFileError,
  statePath,
} from "../state.ts";
import { type Context, lockWaitSeconds, logOps, type Output } from "./context.ts";

/** Runs DEL. */
export function cmdDel(ctx: Context): Output {
  const { env, config, log } = ctx;
  const path = statePath(config.stateDir, config.name, env.containerId, env.ifname);
  // After this attachment's ADD, CHECK or DEL; an ip batch a killed ADD left running is stopped
  // before the table is read, so nothing lands after the revert.
  let lock;
  try {
    lock = ctx.dryRun ? null : lockAttachment(path, false, lockWaitSeconds(ctx));
  } catch (e) {
    // An unsafe state directory holds nothing trustworthy and is not ours to clean, a directory
    // planted at the lock's name cannot be locked, and a lock held past the wait is another run
    // of this attachment: no route can be attributed safely, so none changes, the record stays
    // (for a later DEL or GC), and the pod can still terminate.
    if (!(e instanceof CniError)) throw e;
    log.error(`${e.message}: DEL changes no route`);
    return {};
  }
  using _lock = lock;
  if (!ctx.dryRun && !lock) {
    log.info(`no state for ${env.containerId}/${env.ifname}: nothing to undo`);
    return {};
  }
  // The attachment's files, listed once under the lock (a dry run takes no lock: it lists none).
  const names = ctx.dryRun ? null : attachmentNames(path);
  const done = (): Output => {
    if (ctx.dryRun) return {};
    try {
      removeAttachmentFiles(path, names);
      lock?.remove();
    } catch (e) {
      // Something planted at a file's name (a non-empty directory) stays; DEL's work is done.
      if (!(e instanceof CniError)) throw e;
      log.error(e.logText());
    }
    return {};
  };
  try {
    const stopped = ctx.dryRun || !mayExist(names, batchPath(path))
      ? 0
      : stopPendingBatch(batchPath(path));
    if (stopped > 0) log.info(`stopped ${stopped} ip process(es) of an earlier, killed ADD`);
  } catch (e) {
    // Not a batch file (a directory in its place): no ip can be applying it. An ip that outlived
    // SIGKILL (code 11) still fails DEL: reverting under it would race.
    if (!(e instanceof CniError) || e.code !== ErrorCode.IoFailure) throw e;
    log.error(e.logText());
  }
  let state: AttachmentState | null;
  try {
    state = !mayExist(names, path) ? null : readState(path, {
      network: config.name,
      containerId: env.containerId,
      ifname: env.ifname,
    });
  } catch (e) {
    if (!(e instanceof StateFileError)) throw e;
    // Without a trustworthy record no route can be attributed to this attachment, so none is
    // touched; the record goes, and the pod can terminate.
    log.error(`${e.message}: no route is changed; the state file is removed`);
    return done();
  }
  if (!state) {
    log.info(`no state for ${env.containerId}/${env.ifname}: nothing to undo`);
    return done();
  }
  const netns = whereToRevert(ctx, state);
  if (!netns) return done();
  // No read of the whole table: the kernel matches each line against it (see revertOps), and
  // only an added multipath route has the routes to its destination read (`exact`), so DEL's
  // cost follows the record, whatever the pod put in its own table.
  const multipath = state.added.filter(isMultipath).map((r) => r.dst);
  let known: PodSnapshot = emptySnapshot();
  if (multipath.length > 0) {
    try {
      known = readPodRoutesTo(netns, multipath);
    } catch (e) {
      // Gone while we looked (its routes went with it), or not a namespace at all (a stale
      // file): no route to revert.
      if (e instanceof CniError && e.code === ErrorCode.NetnsUnreachable) {
        log.error(`${e.logText()}: no route is changed`);
        return done();
      }
      // Anything else (the pod put more routes to that destination than ip's answer can hold):
      // the multipath routes stay, the rest is reverted, and DEL still ends.
      const why = e instanceof Error ? e.message : String(e);
      log.error(`cannot read the routes to ${multipath.join(", ")}: ${why}; they are left`);
    }
  }
  const ops = revertOps(state.added, state.deleted, known, "DEL");
  const changes = ops.filter((op) => op.reason !== GUARD_REASON);
  logOps(log, changes);
  if (ctx.dryRun) {
    return { lines: changes.map((op) => `${op.action} ${describeRoute(op.route)}`) };
  }
  // A route that can no longer be restored (its gateway is gone, another route took its place)
  // is logged, and the rest still reverted.
  for (const refused of applyOpsBestEffort(netns, ops)) logRefused(ctx, refused);
  return done();
}

/**
 * Logs a line DEL's batch could not apply. Expected outcomes of a revert without a table read
 * are quiet or info: a guard that finds its route in place ("File exists"), a route to delete
 * that is gone already ("No such process"), a route to restore on a device that is gone. A route
 * to restore whose place is held ("File exists": it is back already, or another route took its
 * key) is a warning; anything else an error.
 */
function logRefused(ctx: Context, { op, why }: RefusedOp): void {
  const { log } = ctx;
  if (!op) {
    log.error(`DEL could not finish its route changes: ${why}`);
    return;
  }
  const what = `${op.action} ${describeRoute(op.route)}`;
  if (op.reason === GUARD_REASON) {
    if (!/File exists/.test(why)) log.debug(`DEL guard: could not ${what}: ${why}`);
  } else if (op.action === "del" && /No such process|Cannot find device/.test(why)) {
    log.info(`DEL: ${describeRoute(op.route)} is gone already (${why})`);
  } else if (op.action !== "del" && /Cannot find device/.test(why)) {
    log.info(`DEL: not restoring ${describeRoute(op.route)}: its device is gone (${why})`);
  } else if (op.action !== "del" && /File exists/.test(why)) {
    log.warn(
      `DEL could not ${what}: ${why} (it is back already, or another route holds its place)`,
    );
  } else {
    log.error(`DEL could not ${what}: ${why}`);
  }
}

function sameNetns(a: NetnsId, b: NetnsId): boolean {
  return a.dev === b.dev && a.ino === b.ino;
}

/**
 * The namespace DEL may revert in, or null (logged) when there is none it can trust: only the
 * CNI_NETNS the runtime passes now, and only while it is the namespace ADD changed. A DEL without
 * CNI_NETNS (containerd's second DEL at RemovePodSandbox, a late DEL of a gone pod) changes no
 * route: the recorded path and its device/inode identity can name another pod's namespace by
 * then (a /proc/PID path outlives its PID, a name can be reused, and the kernel hands a freed
 * namespace's inode to the next one at once).
 */
function whereToRevert(ctx: Context, state: AttachmentState): string | null {
  const { env, log } = ctx;
  if (!env.netns) {
    log.info(
      `no CNI_NETNS: no route is changed (the recorded ${state.netns} may be another ` +
        "namespace by now); the state file is removed",
    );
    return null;
  }
  const id = netnsIdentity(env.netns);
  const recorded = state.netnsId;
  if (!id) {
    log.info(`netns ${env.netns} is gone: only the state file is removed`);
    return null;
  }
  if (recorded && !sameNetns(id, recorded)) {
    log.error(
      `netns ${env.netns} is no longer the namespace ADD changed (inode ${recorded.ino}, now ` +
        `${id.ino}): no route is changed; the state file is removed`,
    );
    return null;
  }
  return env.netns;
}
