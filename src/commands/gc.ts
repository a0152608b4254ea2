/** GC: remove state files of attachments the runtime no longer knows. */
import { invalidConfig } from "../cni/errors.ts";
import { listStates, removeState } from "../state.ts";
import type { Context, Output } from "./context.ts";

/** Runs GC over this network's state directory. */
export async function cmdGc(ctx: Context): Promise<Output> {
  const { config, log } = ctx;
  const valid = config.validAttachments;
  if (!valid) {
    throw invalidConfig("cni.dev/valid-attachments", undefined, "is required for GC");
  }
  const keep = new Set(valid.map((a) => `${a.containerID}@${a.ifname}`));
  for (const entry of await listStates(config.stateDir, config.name)) {
    if (keep.has(`${entry.containerId}@${entry.ifname}`)) continue;
    log.info(`GC: removing stale state ${entry.path}`);
    removeState(entry.path);
  }
  return {};
}
