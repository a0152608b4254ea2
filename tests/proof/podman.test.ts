/**
 * Podman 4 with its CNI backend as the runtime: a conflist of bridge + host-local followed by
 * this plugin (host route + one addroute), a busybox container, `ip route` inside it, and the
 * plugin's state file gone once the container is removed. Fully sandboxed (tests/support/podman.ts):
 * temp containers.conf, network config dir, plugin dir and storage; podman runs in a node netns.
 */
import assert from "node:assert/strict";
import { BinDir, LAB, Lab, skipReason } from "../../testing/mod.ts";
import { Podman, PODMAN_NEEDS } from "../support/podman.ts";
import { stateFiles } from "../support/proof.ts";
import { statePath } from "../../src/state.ts";

const SKIP = skipReason("podman tests", PODMAN_NEEDS);

const NETWORK = "ssrpodman";

async function cniNetns(): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir("/run/netns")) {
    if (e.name.startsWith("cni-")) names.push(e.name);
  }
  return names.sort();
}
const GW = "10.89.47.1";

Deno.test({
  name: "proof: podman (CNI backend) runs bridge + host-local + seamless-static-route",
  ignore: SKIP !== null,
  fn: async () => {
    await using lab = await Lab.create({ pod: false });
    await using bin = await BinDir.create();
    await using pm = await Podman.create(lab, bin, NETWORK, (dir) => [
      {
        type: "bridge",
        bridge: "ssrpm0",
        isGateway: true,
        ipMasq: false,
        ipam: {
          type: "host-local",
          ranges: [[{ subnet: "10.89.47.0/24" }]],
          routes: [{ dst: "0.0.0.0/0" }],
          dataDir: `${dir}/ipam`,
        },
      },
      {
        type: "seamless-static-route",
        stateDir: `${dir}/state`,
        addroutes: [{ dst: "10.123.0.0/16", gw: GW }],
      },
    ]);
    const stateDir = `${pm.dir}/state`;
    const cniNetnsBefore = await cniNetns();
    const name = `ssr${Deno.pid}`;
    const id = await pm.start(name);
    assert.match(id, /^[0-9a-f]{64}$/);

    // Inside the container: the bridge plugin's routes plus ours.
    const routes = await pm.podman("exec", name, "/bin/ip", "route");
    assert.equal(routes.code, 0, routes.stderr);
    const lines = routes.stdout.split("\n").map((l) => l.trim().replace(/\s+/g, " "))
      .filter((l) => l !== "").sort();
    assert.deepEqual(lines, [
      "10.123.0.0/16 via 10.89.47.1 dev eth0",
      "10.89.47.0/24 dev eth0 scope link src 10.89.47.2",
      `${LAB.nodeIp} via 10.89.47.1 dev eth0`,
      "default via 10.89.47.1 dev eth0",
    ]);

    // The attachment's state file exists while the container runs (podman passes its full id).
    assert.deepEqual(await stateFiles(stateDir, NETWORK), [
      statePath(stateDir, NETWORK, id, "eth0").slice(`${stateDir}/${NETWORK}/`.length),
    ]);

    // Removing the container runs the chain's DEL: the state file goes.
    const rm = await pm.podman("rm", "-f", "-t", "0", name);
    assert.equal(rm.code, 0, rm.stderr);
    assert.deepEqual(await stateFiles(stateDir, NETWORK), []);
    const ps = await pm.podman("ps", "-aq");
    assert.equal(ps.stdout.trim(), "");
    // Podman removed the pod netns it made (/run/netns/cni-*).
    assert.deepEqual(await cniNetns(), cniNetnsBefore);
  },
});
