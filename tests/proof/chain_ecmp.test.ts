/**
 * ECMP under the real chain: bridge + host-local (dual stack), then route-override with `gws`
 * for IPv4 and IPv6. The final result carries `gws`, the pod's table has one multipath route per
 * family (asserted on `ip -j` next hops), CHECK passes, and DEL leaves the bridge's table.
 */
import assert from "node:assert/strict";
import { Chain, CHAIN_NEEDS, type ConfList, isObject } from "../support/chain.ts";
import { BinDir, ipIn, Lab, type Pod, skipReason, tableText, TempDir } from "../../testing/mod.ts";

const NETWORK = "ssrecmp";

async function hops(ns: string, fam: "-4" | "-6", dst: string): Promise<string[]> {
  const all = JSON.parse(await ipIn(ns, "-j", fam, "route", "show", "table", "all")) as {
    dst: string;
    nexthops?: { gateway: string; dev: string; weight: number }[];
  }[];
  const found = all.filter((r) => r.dst === dst);
  assert.equal(found.length, 1, JSON.stringify(all));
  return (found[0]?.nexthops ?? []).map((h) => `${h.gateway} ${h.dev} ${h.weight}`).sort();
}

const SKIP = skipReason("chain tests", CHAIN_NEEDS);
Deno.test({
  name: "proof: ECMP gws chained after bridge + host-local, IPv4 and IPv6: ADD, CHECK, DEL",
  ignore: SKIP !== null,
  async fn() {
    await using node = await Lab.create({ pod: false });
    await using bin = await BinDir.create();
    await using tmp = await TempDir.create("ssr-ecmp-");
    const pod: Pod = await node.emptyPod();
    const gws4 = ["10.79.0.10", "10.79.0.11"];
    const gws6 = ["fd79::10", "fd79::11", "fd79::12"];
    const conf: ConfList = {
      cniVersion: "1.0.0",
      name: NETWORK,
      plugins: [
        {
          type: "bridge",
          bridge: "ssrbr9",
          isGateway: true,
          ipMasq: false,
          ipam: {
            type: "host-local",
            ranges: [[{ subnet: "10.79.0.0/24" }], [{ subnet: "fd79::/64" }]],
            dataDir: `${tmp.path}/ipam`,
          },
        },
        {
          type: "route-override",
          stateDir: `${tmp.path}/state`,
          addroutes: [
            { dst: "10.124.0.0/16", gws: gws4 },
            { dst: "fd7c::/64", gws: gws6 },
          ],
        },
      ],
    };
    const chain = new Chain(conf, bin, {
      containerId: `ecmp-${pod.ns}`,
      netns: pod.netns,
      ifname: "eth0",
      nodeNs: node.node,
    });
    let before: string[] = [];
    let added = false;
    try {
      const final = await chain.add(async (type) => {
        if (type === "route-override") before = await tableText(pod.ns);
      });
      added = true;
      const mainResult = chain.log[0]?.json;
      assert.ok(isObject(mainResult) && isObject(final));
      assert.deepEqual(final, {
        ...mainResult,
        routes: [
          ...((mainResult.routes as unknown[]) ?? []),
          { dst: "10.124.0.0/16", gws: gws4 },
          { dst: "fd7c::/64", gws: gws6 },
        ],
      });
      assert.deepEqual(await hops(pod.ns, "-4", "10.124.0.0/16"), [
        "10.79.0.10 eth0 1",
        "10.79.0.11 eth0 1",
      ]);
      assert.deepEqual(await hops(pod.ns, "-6", "fd7c::/64"), [
        "fd79::10 eth0 1",
        "fd79::11 eth0 1",
        "fd79::12 eth0 1",
      ]);
      const ours = await chain.checkOne(1);
      assert.equal(ours.code, 0, ours.stdout);
      // The whole chain's CHECK too: bridge reads a result whose routes carry gws. (With `gw` also
      // set, bridge's CHECK looks for a single-path route via gw and fails: see docs/configuration.md.)
      const failedCheck = await chain.check();
      assert.equal(
        failedCheck,
        undefined,
        failedCheck && `${failedCheck.type}: ${failedCheck.stdout}`,
      );

      let afterOurs: string[] | undefined;
      const failed = await chain.del(async (exec) => {
        if (exec.type === "route-override") afterOurs = await tableText(pod.ns);
      });
      added = false;
      assert.deepEqual(failed.map((f) => `${f.type}: ${f.stdout}`), []);
      assert.deepEqual(afterOurs, before);
    } finally {
      if (added) await chain.del();
    }
  },
});
