/**
 * route-override v1 beside this plugin: where a Go build of redhat-nfvpe/cni-route-override is
 * installed on the test machine, compatibility tests run the same config through it to show the
 * table this plugin must match. CI has no such binary: the tests encode what it did.
 */
import {
  type JsonObject,
  type PluginLab,
  type PluginRun,
  run,
  runtimeEnv,
} from "../../testing/mod.ts";

/** Where a route-override v1 binary is looked for. */
export const ROUTE_OVERRIDE_V1 = "/usr/local/bin/route-override-v1";

/** True when that binary is installed on this machine. */
export const HAVE_ROUTE_OVERRIDE_V1: boolean = await Deno.stat(ROUTE_OVERRIDE_V1).then(
  () => true,
  () => false,
);

/** Runs route-override v1's ADD in the lab's pod as a runtime would. */
export async function runRouteOverrideV1(e2e: PluginLab, config: JsonObject): Promise<PluginRun> {
  const env = {
    ...runtimeEnv(),
    CNI_COMMAND: "ADD",
    CNI_CONTAINERID: "v1",
    CNI_NETNS: e2e.lab.podNetns,
    CNI_IFNAME: e2e.lab.podIfname,
    CNI_PATH: "/usr/local/bin",
  };
  const out = await run(["ip", "netns", "exec", e2e.lab.node, ROUTE_OVERRIDE_V1], {
    stdin: JSON.stringify(config),
    env,
    clearEnv: true,
  });
  return { ...out, json: undefined };
}
