/**
 * GC: remove state files of attachments the runtime no longer knows, as libcni defines it. The
 * runtime lists the attachments to keep; every other state file of the network goes. Without a
 * list (libcni's nil GCArgs, as `cnitool gc` sends) no attachment is valid, so every state file of
 * the network goes. Only state files are removed: GC never touches a pod's routes. GC also sweeps
 * the temp batch files a killed plugin left in `$TMPDIR` (older than STALE_BATCH_SECONDS).
 */
import { stopPendingBatch, sweepStaleBatchFiles } from "../ip.ts";
import { batchPath, listStates, lockAttachment, removeAttachmentFiles } from "../state.ts";
import type { Context, Output } from "./context.ts";

/** Runs GC over this network's state directory. */
export async function cmdGc(ctx: Context): Promise<Output> {
  const { config, log } = ctx;
  const keep = new Set((config.validAttachments ?? []).map((a) => `${a.containerID}@${a.ifname}`));
  for (const entry of await listStates(config.stateDir, config.name)) {
    if (keep.has(`${entry.containerId}@${entry.ifname}`)) continue;
    log.info(`GC: removing stale state ${entry.path}`);
    // After an ADD or DEL of it still running; its files go: record, pending batch, lock.
    using lock = lockAttachment(entry.path, false);
    stopPendingBatch(batchPath(entry.path));
    removeAttachmentFiles(entry.path);
    lock?.remove();
  }
  for (const path of sweepStaleBatchFiles()) log.info(`GC: removed stale batch file ${path}`);
  return {};
}
