/** State-file checks shared by the end-to-end tests. */
import { statePath } from "../../src/state.ts";

/** True when the state file of an attachment exists. */
export async function stateExists(
  stateDir: string,
  network: string,
  containerId: string,
  ifname: string,
): Promise<boolean> {
  try {
    await Deno.stat(statePath(stateDir, network, containerId, ifname));
    return true;
  } catch {
    return false;
  }
}
