/**
 * 64 pods at once: one node namespace, 64 pod namespaces each joined by a veth, 64 concurrent
 * ADDs, then 64 concurrent DELs. Every call must succeed, every pod must get exactly its host
 * route and addroute, and afterwards no route and no state file may be left.
 */
import assert from "node:assert/strict";
import {
  BinDir,
  IS_ROOT,
  LAB,
  Lab,
  type PluginRun,
  type Pod,
  runPlugin,
  tableText,
  TempDir,
} from "../../testing/mod.ts";
import { sorted, stateFiles, withTimeout } from "../support/proof.ts";

const PODS = 64;
const NETWORK = "ssrload";

function configFor(pod: Pod, stateDir: string) {
  return {
    cniVersion: "1.0.0",
    name: NETWORK,
    type: "seamless-static-route",
    stateDir,
    addroutes: [{ dst: "10.250.0.0/16" }],
    prevResult: {
      cniVersion: "1.0.0",
      interfaces: [{ name: "eth0", sandbox: pod.netns }],
      ips: [{ address: pod.address, gateway: pod.gateway, interface: 0 }],
      routes: [{ dst: "0.0.0.0/0", gw: pod.gateway }],
    },
  };
}

Deno.test({
  name: `proof: ${PODS} concurrent ADDs then ${PODS} concurrent DELs, nothing left over`,
  ignore: !IS_ROOT,
  fn: async () => {
    await using lab = await Lab.create({ pod: false });
    await using bin = await BinDir.create();
    await using tmp = await TempDir.create("ssr-load-");
    const stateDir = `${tmp.path}/state`;
    const pods = await lab.vethPods(PODS);
    const before = await Promise.all(pods.map((p) => tableText(p.ns)));

    const call = (pod: Pod, command: string): Promise<PluginRun> =>
      runPlugin(bin, {
        command,
        containerId: `load-${pod.ns}`,
        netns: pod.netns,
        ifname: "eth0",
        nodeNs: lab.node,
        config: configFor(pod, stateDir),
      });
    const failures = (runs: PluginRun[]) =>
      runs.map((r, i) => ({ i, r })).filter(({ r }) => r.code !== 0)
        .map(({ i, r }) => `pod ${i}: exit ${r.code} ${r.stdout.trim()} ${r.stderr.trim()}`);

    const t0 = performance.now();
    const adds = await withTimeout(Promise.all(pods.map((p) => call(p, "ADD"))), 120_000, "ADDs");
    const addMs = performance.now() - t0;
    assert.deepEqual(failures(adds), []);
    for (const [i, pod] of pods.entries()) {
      assert.deepEqual(adds[i]?.json.routes, [
        { dst: "0.0.0.0/0", gw: pod.gateway },
        { dst: "10.250.0.0/16", gw: pod.gateway },
        { dst: `${LAB.nodeIp}/32`, gw: pod.gateway },
      ]);
      assert.deepEqual(
        await tableText(pod.ns),
        sorted([
          ...before[i] ?? [],
          `10.250.0.0/16 via ${pod.gateway} dev eth0`,
          `${LAB.nodeIp} via ${pod.gateway} dev eth0`,
        ]),
        `pod ${i}`,
      );
    }
    assert.equal((await stateFiles(stateDir, NETWORK)).length, PODS);

    const t1 = performance.now();
    const dels = await withTimeout(Promise.all(pods.map((p) => call(p, "DEL"))), 120_000, "DELs");
    const delMs = performance.now() - t1;
    assert.deepEqual(failures(dels), []);
    for (const [i, pod] of pods.entries()) {
      assert.equal(dels[i]?.stdout, "", `pod ${i} DEL printed something`);
      assert.deepEqual(await tableText(pod.ns), before[i], `pod ${i}`);
    }
    assert.deepEqual(await stateFiles(stateDir, NETWORK), []);
    console.log(
      `${PODS} concurrent ADDs in ${addMs.toFixed(0)} ms, ${PODS} DELs in ${delMs.toFixed(0)} ms`,
    );
  },
});
