/** Fixtures shared by the tests: state-file checks, kernel routes as the pod read gives them. */
import type { Route } from "../../src/route.ts";
import { statePath } from "../../src/state.ts";

/**
 * A route to `dst` as the pod read reports it (main table, the family's default metric, unicast,
 * boot, global scope, on eth0), with `extra` fields set over it (an `undefined` one removes it).
 */
export function kernelRoute(
  dst: string,
  extra: { [K in keyof Route]?: Route[K] | undefined } = {},
): Route {
  const family = dst.includes(":") ? 6 : 4;
  const r: Record<string, unknown> = {
    family,
    dst,
    table: "main",
    metric: family === 4 ? 0 : 1024,
    type: "unicast",
    protocol: "boot",
    scope: "global",
    dev: "eth0",
    ...extra,
  };
  for (const k of Object.keys(r)) if (r[k] === undefined) delete r[k];
  return r as unknown as Route;
}

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
