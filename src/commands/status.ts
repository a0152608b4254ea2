/** STATUS: ready when `ip` can be run. */
import { CniError, ErrorCode } from "../cni/errors.ts";
import { ipRunnable } from "../ip.ts";
import type { Context, Output } from "./context.ts";

/** Runs STATUS; code 50 when `ip` cannot be run. */
export async function cmdStatus(_ctx: Context): Promise<Output> {
  const problem = await ipRunnable();
  if (problem !== null) {
    throw new CniError(
      ErrorCode.PluginNotAvailable,
      "the ip command (iproute2) cannot be run",
      problem,
    );
  }
  return {};
}
