/**
 * The plugin chained after Debian's real reference plugins (bridge + host-local, ptp +
 * host-local), driven as the CNI spec's section 3 describes (tests/support/chain.ts), with
 * assertions on the pod's real routing table and the exact result JSON.
 */
import assert from "node:assert/strict";
import { Chain, CHAIN_NEEDS, type ConfList, isObject, type JsonObject } from "../support/chain.ts";
import {
  BinDir,
  findRoutes,
  LAB,
  Lab,
  type Pod,
  routesOf,
  run,
  skipReason,
  tableText,
  TempDir,
} from "../../testing/mod.ts";
import { sorted, stateFiles } from "../support/proof.ts";

const NETWORK = "ssrproof";

interface Case {
  name: string;
  main: (dir: string) => JsonObject;
  /** The gateway the main plugin gives the pod = minaddr of the pod's subnet. */
  gateway: string;
  /** Also prove that CHECK notices a missing host route. */
  breakRoute: boolean;
}

const CASES: Case[] = [
  {
    name: "bridge + host-local",
    main: (dir) => ({
      type: "bridge",
      bridge: "ssrbr0",
      isGateway: true,
      ipMasq: false,
      ipam: {
        type: "host-local",
        ranges: [[{ subnet: "10.77.0.0/24" }]],
        routes: [{ dst: "0.0.0.0/0" }],
        dataDir: `${dir}/ipam`,
      },
    }),
    gateway: "10.77.0.1",
    breakRoute: false,
  },
  {
    name: "ptp + host-local",
    main: (dir) => ({
      type: "ptp",
      ipMasq: false,
      ipam: {
        type: "host-local",
        ranges: [[{ subnet: "10.78.0.0/24" }]],
        routes: [{ dst: "0.0.0.0/0" }],
        dataDir: `${dir}/ipam`,
      },
    }),
    gateway: "10.78.0.1",
    breakRoute: true,
  },
];

async function proveChain(c: Case): Promise<void> {
  await using lab = await Lab.create({ pod: false });
  await using bin = await BinDir.create();
  await using tmp = await TempDir.create("ssr-chain-");
  const stateDir = `${tmp.path}/state`;
  const pod: Pod = await lab.emptyPod();
  const conf: ConfList = {
    cniVersion: "1.0.0",
    name: NETWORK,
    plugins: [
      c.main(tmp.path),
      { type: "seamless-static-route", stateDir, addroutes: [{ dst: "10.123.0.0/16" }] },
    ],
  };
  const chain = new Chain(conf, bin, {
    containerId: `chain-${pod.ns}`,
    netns: pod.netns,
    ifname: "eth0",
    nodeNs: lab.node,
  });
  let tableBeforeUs: string[] = [];
  let added = false;
  try {
    const final = await chain.add(async (type) => {
      if (type === "seamless-static-route") tableBeforeUs = await tableText(pod.ns);
    });
    added = true;
    // The main plugin's result, verbatim, is what we got as prevResult.
    const mainResult = chain.log[0]?.json;
    assert.ok(isObject(mainResult));
    assert.ok(Array.isArray(mainResult.routes));
    assert.deepEqual(final, {
      ...mainResult,
      routes: [
        ...mainResult.routes,
        { dst: "10.123.0.0/16", gw: c.gateway },
        { dst: `${LAB.nodeIp}/32`, gw: c.gateway },
      ],
    });
    assert.ok(tableBeforeUs.some((l) => l.startsWith(`default via ${c.gateway} dev eth0`)));

    // The pod's real table: exactly the main plugin's table plus our two routes.
    assert.deepEqual(
      await tableText(pod.ns),
      sorted([
        ...tableBeforeUs,
        `10.123.0.0/16 via ${c.gateway} dev eth0`,
        `${LAB.nodeIp} via ${c.gateway} dev eth0`,
      ]),
    );
    const hostRoutes = findRoutes(await routesOf(pod.ns), LAB.nodeIp);
    assert.equal(hostRoutes.length, 1);
    assert.equal(hostRoutes[0]?.gateway, c.gateway);
    assert.equal(hostRoutes[0]?.dev, "eth0");
    assert.equal((await stateFiles(stateDir, NETWORK)).length, 1);

    // CHECK passes for every plugin of the chain.
    const failed = await chain.check();
    assert.equal(failed, undefined, failed && `${failed.type} CHECK: ${failed.stdout}`);

    if (c.breakRoute) {
      // Someone removes the host route: the chain's CHECK fails (ptp checks the result's routes
      // too), and ours says which route is missing.
      await run(["ip", "-n", pod.ns, "route", "del", `${LAB.nodeIp}/32`]);
      assert.ok(await chain.check(), "CHECK passed without the host route");
      const bad = await chain.checkOne(1);
      assert.equal(bad.type, "seamless-static-route");
      assert.equal(bad.code, 1);
      assert.ok(isObject(bad.json));
      assert.equal(bad.json.code, 101);
      assert.equal(bad.json.cniVersion, "1.0.0");
      assert.match(String(bad.json.msg), new RegExp(LAB.nodeIp.replaceAll(".", "\\.")));
    }

    // DEL in reverse order: after our DEL the table is the main plugin's again.
    let afterOurDel: string[] | undefined;
    const delFailed = await chain.del(async (exec) => {
      if (exec.type === "seamless-static-route") afterOurDel = await tableText(pod.ns);
    });
    added = false;
    assert.deepEqual(delFailed.map((f) => `${f.type}: ${f.stdout}`), []);
    assert.deepEqual(afterOurDel, tableBeforeUs);
    assert.deepEqual(findRoutes(await routesOf(pod.ns), LAB.nodeIp), []);
    assert.deepEqual(await stateFiles(stateDir, NETWORK), []);
    // The main plugin removed eth0 with its routes.
    assert.deepEqual(await tableText(pod.ns), []);
  } finally {
    if (added) await chain.del();
  }
}

const SKIP = skipReason("chain tests", CHAIN_NEEDS);
for (const c of CASES) {
  Deno.test({
    name: `proof: chained after ${c.name}: host route + addroute on ADD, CHECK, gone on DEL`,
    ignore: SKIP !== null,
    fn: () => proveChain(c),
  });
}
