/**
 * ADD: plan against the pod's table, record the plan, apply it, roll back on failure; the read
 * and the apply go through one `ip` process.
 */
import { CniError, ErrorCode } from "../cni/errors.ts";
import { boundedWarnings } from "../cni/skel.ts";
import { resultToJson } from "../cni/result.ts";
import {
  applyOps,
  commandLines,
  netnsIdentity,
  PartlyAppliedError,
  PodSession,
  readPod,
  RouteChangeError,
  stopPendingBatch,
} from "../ip.ts";
import {
  type Plan,
  planAdd,
  planInParts,
  type PlanInput,
  planRevert,
  skipMessage,
  skipRefused,
} from "../plan.ts";
import { describeRoute, type Route, type RouteOp, sameRoute } from "../route.ts";
import {
  addedRouteBound,
  type AttachmentLock,
  type AttachmentState,
  batchPath,
  hasState,
  lockAttachment,
  MAX_STATE_BYTES,
  type NetnsId,
  readState,
  removeState,
  statePath,
  writeState,
} from "../state.ts";
import { observe } from "../observe.ts";
import { type PluginConfig, stateLocation } from "../config.ts";
import type { CniEnv } from "../cni/env.ts";
import type { Json } from "../validate.ts";
import { emptySnapshot } from "../snapshot.ts";
import { type Context, lockWaitSeconds, logOps, observeInput, type Output } from "./context.ts";

function union(a: readonly Route[], b: readonly Route[]): Route[] {
  if (a.length === 0) return [...b];
  const seen = new Set(a.map((r) => JSON.stringify(r)));
  return [...a, ...b.filter((r) => !seen.has(JSON.stringify(r)))];
}

/**
 * The record of two ADDs of one attachment, the earlier (`before`) then `plan`: a route the
 * second deletes that the first added is not "to restore" (it was never the pod's own); the rest
 * accumulates.
 */
export function composeRecords(
  before: { added: readonly Route[]; deleted: readonly Route[] },
  plan: { added: readonly Route[]; deleted: readonly Route[] },
): { added: Route[]; deleted: Route[] } {
  const ours = (r: Route) => before.added.some((a) => sameRoute(a, r));
  return {
    // Kept even when the second ADD deletes them: if it is killed before its batch lands they are
    // still in the table, and DEL only deletes routes that are present.
    added: union(before.added, plan.added),
    deleted: union(before.deleted, plan.deleted.filter((r) => !ours(r))),
  };
}

/**
 * An ADD begun before its config is validated (`prefetchAdd`): the attachment locked, an `ip`
 * batch a killed ADD left running stopped, and the pod's read under way. Disposed unused (the
 * config was refused), it ends the read and leaves no file of a new attachment behind.
 */
export class AddPrefetch implements Disposable {
  /** The attachment's state file. */
  readonly path: string;
  /** The pod's netns, as it was when the lock was taken. */
  readonly netnsId: NetnsId;
  /** The attachment's lock. */
  readonly lock: AttachmentLock;
  /** The session whose `ip` is reading the pod. */
  readonly session: PodSession;
  /** How many `ip` processes of a killed ADD were stopped. */
  readonly stopped: number;

  constructor(
    path: string,
    netnsId: NetnsId,
    lock: AttachmentLock,
    session: PodSession,
    stopped: number,
  ) {
    this.path = path;
    this.netnsId = netnsId;
    this.lock = lock;
    this.session = session;
    this.stopped = stopped;
  }

  /** Ends the read and releases the lock (removed when the attachment has no record). */
  [Symbol.dispose](): void {
    try {
      this.session[Symbol.dispose]();
    } finally {
      unlock(this.lock, this.path);
    }
  }
}

/** Releases an attachment's lock, removing it first when the attachment has no record. */
function unlock(lock: AttachmentLock, path: string): void {
  using held = lock;
  if (!hasState(path)) held.remove();
}

/**
 * Begins an ADD from its config as decoded, before the config is validated: locks the
 * attachment (only when the lock is free at once), stops what a killed ADD left running and
 * starts reading the pod, so `ip` starts and reads while the routes are validated. Undefined
 * when it cannot begin (an invalid name or stateDir, no netns, a busy lock): `cmdAdd` does it
 * all then, once the config is valid, and reports what stood in the way.
 */
export function prefetchAdd(raw: Json, env: CniEnv): AddPrefetch | undefined {
  const at = stateLocation(raw);
  let netnsId: NetnsId | null;
  try {
    netnsId = at && netnsIdentity(env.netns);
  } catch {
    return undefined;
  }
  if (!at || !netnsId) return undefined;
  const path = statePath(at.stateDir, at.name, env.containerId, env.ifname);
  let lock: AttachmentLock | null;
  try {
    // Only where the network's directory is already (a refused config creates none).
    lock = lockAttachment(path, false, 0);
  } catch {
    return undefined;
  }
  if (!lock) return undefined;
  try {
    const stopped = stopPendingBatch(batchPath(path));
    const session = new PodSession(env.netns);
    try {
      session.startRead();
    } catch (e) {
      session[Symbol.dispose]();
      throw e;
    }
    return new AddPrefetch(path, netnsId, lock, session, stopped);
  } catch {
    unlock(lock, path);
    return undefined;
  }
}

/** Runs ADD and returns the result to print. */
export async function cmdAdd(ctx: Context): Promise<Output> {
  const { env, config } = ctx;
  const path = statePath(config.stateDir, config.name, env.containerId, env.ifname);
  const pre = ctx.prefetched instanceof AddPrefetch && ctx.prefetched.path === path
    ? ctx.prefetched
    : undefined;
  if (!pre) ctx.prefetched?.[Symbol.dispose]();
  const netnsId = pre ? pre.netnsId : netnsIdentity(env.netns);
  if (ctx.dryRun) return dryRun(ctx, netnsId !== null);
  if (!netnsId) {
    throw new CniError(ErrorCode.NetnsUnreachable, `CNI_NETNS ${env.netns} does not exist`);
  }
  // One ADD, DEL or CHECK of an attachment at a time; an ip batch a killed ADD left running is
  // stopped first, so the table read below is the one the batch is applied to.
  using lock = pre ? pre.lock : lockAttachment(path, true, lockWaitSeconds(ctx));
  try {
    return await addLocked(ctx, path, netnsId, pre);
  } catch (e) {
    // A refused first ADD leaves no file of the attachment behind: no record, so no lock either.
    if (!hasState(path)) lock?.remove();
    throw e;
  }
}

/** ADD under the attachment's lock, with what `prefetchAdd` began when it could. */
async function addLocked(
  ctx: Context,
  path: string,
  netnsId: NetnsId,
  pre: AddPrefetch | undefined,
): Promise<Output> {
  const { env, config, log } = ctx;
  const stopped = pre ? pre.stopped : stopPendingBatch(batchPath(path));
  if (stopped > 0) log.info(`stopped ${stopped} ip process(es) of an earlier, killed ADD`);
  // One ip process reads the pod and, once the plan is recorded, applies it.
  using session = pre ? pre.session : new PodSession(env.netns);
  const obs = await observe(observeInput(ctx, () => session.read()));
  const input: PlanInput = { config, ifname: env.ifname, ...obs };
  // A long plan begins with its first part (planInParts): recorded and handed to ip, which
  // applies it while the rest is planned and recorded.
  let parts = planInParts(input);
  let plan = parts ? parts.first : planAdd(input);

  // Record the plan first: a DEL after a crash mid-ADD then still knows what to undo.
  const recorded = readState(path, {
    network: config.name,
    containerId: env.containerId,
    ifname: env.ifname,
  });
  // A record of this attachment from another namespace (the old one went without a DEL: a crash,
  // a reboot) says nothing about this table: it is replaced, not composed with.
  const stale = recorded?.netnsId &&
    (recorded.netnsId.dev !== netnsId.dev || recorded.netnsId.ino !== netnsId.ino);
  if (stale) log.info(`state of ${env.containerId}/${env.ifname} from another netns: replaced`);
  const before = stale ? null : recorded;
  const record = (p: Plan): number =>
    writeState(path, {
      version: 1,
      network: config.name,
      containerId: env.containerId,
      ifname: env.ifname,
      netns: env.netns,
      netnsId,
      ...composeRecords(before ?? { added: [], deleted: [] }, p),
    });
  const firstBytes = record(plan);
  // A record too large is refused before the table changes: when the whole one might not fit,
  // the rest is planned and recorded before anything is applied.
  if (parts && firstBytes + restBound(config, parts.from) > MAX_STATE_BYTES) {
    plan = parts.rest();
    parts = null;
    try {
      record(plan);
    } catch (e) {
      fail(ctx, [], e, before, path); // nothing applied: the record is put back as it was
    }
  }
  logOps(log, plan.ops);
  const t0 = performance.now();
  let foreseen = plan.skipped.length;
  // The rest of a long plan, once its first part is with ip; `plan` is whole after it.
  const rest = (whole: Plan): readonly RouteOp[] => {
    record(whole);
    const more = whole.ops.slice(plan.ops.length);
    logOps(log, more);
    plan = whole;
    foreseen = whole.skipped.length;
    return more;
  };
  // Ops before `done` are in the table. Under route-override semantics, an addroute the kernel
  // refuses although the planner did not foresee it is skipped, and the rest of the batch goes on.
  let done = 0;
  let retried = false;
  // The output is made while ip applies the routes; it is for that plan only.
  let made: { plan: Plan; output: Output } | undefined;
  const makeOutput = () => {
    made = { plan, output: addOutput(plan, config.cniVersion) };
  };
  for (;;) {
    try {
      // The first try in the session; after a refused line (ip stopped there) a new ip.
      if (!retried) {
        const split = parts;
        session.apply(plan.ops, batchPath(path), {
          ...(split ? { more: () => rest(split.rest()) } : {}),
          meanwhile: makeOutput,
        });
      } else applyOps(env.netns, plan.ops.slice(done), batchPath(path));
      break;
    } catch (e) {
      // A failure of ours while ip applied (the rest could not be recorded): ip applied what it
      // was given up to a line it refused; exactly that is undone.
      if (e instanceof PartlyAppliedError) {
        fail(ctx, plan.ops.slice(0, done + e.applied), e.cause, before, path);
      }
      // ip stops at the refused line: only the lines before it changed the table.
      const refused = e instanceof RouteChangeError && e.failedIndex >= 0
        ? done + e.failedIndex
        : -1;
      const next = refused >= 0 ? skipRefused(plan, refused, kernelSaid(e)) : null;
      if (next) {
        plan = next;
        done = refused;
        retried = true;
        continue;
      }
      fail(ctx, mayHaveApplied(plan, done, refused, e), e, before, path);
    }
  }
  if (plan.skipped.length > foreseen) record(plan);
  log.debug(`applied ${plan.ops.length} ops in ${(performance.now() - t0).toFixed(1)}ms`);
  return made?.plan === plan ? made.output : addOutput(plan, config.cniVersion);
}

/** The most bytes the records of the addroutes from `from` on may add to a record. */
function restBound(config: PluginConfig, from: number): number {
  let bytes = 0;
  for (let i = from; i < config.addroutes.length; i++) {
    bytes += addedRouteBound(config.addroutes[i]!.gws?.length ?? 0);
  }
  return bytes;
}

/** What ADD prints for `plan`: its result and the routes it skipped. */
function addOutput(plan: Plan, cniVersion: string): Output {
  return {
    jsonText: JSON.stringify(resultToJson(plan.result, cniVersion)),
    // 1000 unreachable addroutes in an annotation say 10 skips and count the rest, not 1000.
    warnings: boundedWarnings(plan.skipped.map(skipMessage), "skipped route"),
  };
}

/** What the kernel said about a refused route, for a skip's reason. */
function kernelSaid(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return `the kernel refused it: ${msg.replace(/^the kernel refused "[^"]*": /, "")}`;
}

/**
 * The ops a failed apply may have changed: those before `refused`; every op when `refused` is -1
 * and ip was started; the ops before `done` when a retry's ip could not start.
 */
function mayHaveApplied(
  plan: Plan,
  done: number,
  refused: number,
  e: unknown,
): readonly RouteOp[] {
  // A failure to start ip changed nothing but what an earlier ip applied (the ops before `done`,
  // when a retry after a skipped route could not start); anything else may have applied part of
  // the batch. Any other failure (one ip.ts did not bound): every planned change is a candidate.
  if (refused >= 0) return plan.ops.slice(0, refused);
  const started = !(e instanceof CniError && e.code === ErrorCode.IoFailure);
  return started ? plan.ops : plan.ops.slice(0, done);
}

/**
 * A failed apply: undo what the batch may have changed (`applied`; a route another writer added
 * meanwhile is not ours to delete), put the record back as it was, and throw `e`.
 */
function fail(
  ctx: Context,
  applied: readonly RouteOp[],
  e: unknown,
  before: AttachmentState | null,
  path: string,
): never {
  if (applied.length > 0) {
    rollback(
      ctx,
      applied.filter((op) => op.action === "add").map((op) => op.route),
      applied.filter((op) => op.action === "del").map((op) => op.route),
      e,
    );
  }
  if (before) {
    writeState(path, before);
  } else {
    removeState(path);
  }
  throw e;
}

/** Restores the pod's table to the snapshot after a failed apply; code 103 if that fails too. */
function rollback(
  ctx: Context,
  added: Route[],
  deleted: Route[],
  cause: unknown,
): void {
  const why = cause instanceof Error ? cause.message : String(cause);
  ctx.log.error(`ADD failed, restoring the pod's routes: ${why}`);
  try {
    const now = readPod(ctx.env.netns);
    const ops = planRevert(added, deleted, now, "rollback");
    applyOps(ctx.env.netns, ops);
    ctx.log.info(`rolled back ${ops.length} route changes`);
  } catch (e) {
    const again = e instanceof Error ? e.message : String(e);
    throw new CniError(
      ErrorCode.RollbackFailed,
      `${why}; restoring the pod's routes failed too: ${again}`,
      "the pod's routing table may be partly changed: delete and recreate the pod",
    );
  }
}

/** `--dry-run`: the plan as the `ip` commands it would run; nothing is changed. */
async function dryRun(ctx: Context, exists: boolean): Promise<Output> {
  const { env, config } = ctx;
  const lines = [`# ${config.type} dry run: ADD ${env.ifname} in ${env.netns}; nothing is changed`];
  let readable = exists;
  let obs;
  if (exists) {
    try {
      obs = await observe(observeInput(ctx, () => readPod(env.netns)));
    } catch (e) {
      if (!(e instanceof CniError) || e.code !== ErrorCode.NetnsUnreachable) throw e;
      readable = false;
    }
  }
  if (!readable || !obs) {
    lines.push(`# pod netns ${env.netns} cannot be read: planning against an empty table`);
    obs = await observe(observeInput(ctx, emptySnapshot));
  }
  const input = { config, ifname: env.ifname, ...obs };
  // What route-override v1 would skip, listed whatever the policy: the audit before a migration.
  const compat = planAdd({ ...input, strict: false });
  for (const s of compat.skipped) {
    const what = `${describeRoute(s.route)} (${s.source}): ${s.reason}`;
    lines.push(
      config.strict
        ? `# route-override v1 skips ${what}; strict: true does not (see the plan below)`
        : `# skip ${what}; route-override v1 skips it`,
    );
  }
  const plan = config.strict ? planAdd(input) : compat;
  const cmds = commandLines(env.netns, plan.ops);
  if (cmds.length === 0) lines.push("# no route changes needed");
  plan.ops.forEach((op, i) => lines.push(`${cmds[i]}  # ${op.reason}`));
  return { lines };
}
