/**
 * GC: remove state files of attachments the runtime no longer knows, as libcni defines it. The
 * runtime lists the attachments to keep; every other state file of the network goes. Without a
 * list (libcni's nil GCArgs, as `cnitool gc` sends) no attachment is valid, so every state file of
 * the network goes. Only state files are removed: GC never touches a pod's routes. GC also sweeps
 * the temp batch files a killed plugin left in `$TMPDIR` (older than STALE_BATCH_SECONDS).
 *
 * The runtime's list is older than GC: an ADD may have recorded an attachment the list does not
 * hold yet. So an attachment whose lock is held (an ADD, DEL or CHECK of it is running) or whose
 * files were written less than GC_GRACE_SECONDS before GC started is kept for a later GC.
 */
import { stopPendingBatch, sweepStaleBatchFiles } from "../ip.ts";
import {
  attachmentBase,
  batchPath,
  listStates,
  lockAttachment,
  LockBusyError,
  removeAttachmentFiles,
} from "../state.ts";
import type { Context, Output } from "./context.ts";

/** How old an attachment's newest file must be before GC may remove it. */
export const GC_GRACE_SECONDS = 60;

/** The newest modification time (ms) of the given files; 0 when there is none. */
function newestWrite(...files: string[]): number {
  let newest = 0;
  for (const file of files) {
    try {
      newest = Math.max(newest, Deno.lstatSync(file).mtime?.getTime() ?? 0);
    } catch { /* not there */ }
  }
  return newest;
}

/** Runs GC over this network's state directory. */
export async function cmdGc(ctx: Context): Promise<Output> {
  const { config, log } = ctx;
  const started = Date.now();
  const keep = new Set(
    (config.validAttachments ?? []).map((a) => attachmentBase(a.containerID, a.ifname)),
  );
  for (const entry of await listStates(config.stateDir, config.name)) {
    if (keep.has(entry.base)) continue;
    try {
      // When an ADD made the lock file (taking the lock makes one where there was none).
      const locked = newestWrite(entry.path.replace(/\.json$/, ".lock"));
      // Not while an ADD, DEL or CHECK of it runs: the runtime's list may predate that ADD.
      using lock = lockAttachment(entry.path, false, 0);
      const written = Math.max(locked, newestWrite(entry.path, batchPath(entry.path)));
      if (written > started - GC_GRACE_SECONDS * 1000) {
        log.info(`GC: keeping ${entry.path}, written after the runtime's list may have been made`);
        continue;
      }
      log.info(`GC: removing stale state ${entry.path}`);
      stopPendingBatch(batchPath(entry.path));
      removeAttachmentFiles(entry.path);
      lock?.remove();
    } catch (e) {
      if (e instanceof LockBusyError) {
        log.info(`GC: keeping ${entry.path}: an ADD, DEL or CHECK of it is running`);
        continue;
      }
      // One attachment that cannot be removed (a directory planted at its name) stops no other.
      log.error(`GC: cannot remove ${entry.path}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  for (const path of sweepStaleBatchFiles()) log.info(`GC: removed stale batch file ${path}`);
  return {};
}
