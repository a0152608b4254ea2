/**
 * The recipes docs/examples.md gives for a Multus pod — eth0 the cluster network (default route
 * and a service route), the NAD attached as net1 — as the kernel ends up with them: the node
 * reached over eth0 (OVN-Kubernetes) though the main plugin's prevResult only describes net1, and
 * net1 made the pod's default route by bringing eth0 into the attachment.
 */
import assert from "node:assert/strict";
import {
  type Invocation,
  ipIn,
  type JsonObject,
  LAB,
  type PluginLab,
  type PluginRun,
  tableText,
} from "../../testing/mod.ts";
import { labTest } from "../support/lab_test.ts";

/** Makes the lab pod a Multus pod: a service route on eth0, net1 192.168.50.2/24 beside it. */
async function multusPod(e2e: PluginLab): Promise<void> {
  const { lab } = e2e;
  await lab.addLink(lab.pod, { ifname: "net1", addresses: ["192.168.50.2/24"], routes: [] });
  await ipIn(lab.pod, "route", "add", "172.30.0.0/16", "via", LAB.podGateway, "dev", "eth0");
}

/** The invocation of the NAD's seamless-static-route entry for net1, as Multus runs it. */
function net1(e2e: PluginLab, fields: JsonObject): Invocation {
  const config = e2e.config("recipe", "seamless-static-route", {
    prevResult: {
      cniVersion: "1.0.0",
      interfaces: [{ name: "net1", sandbox: e2e.lab.podNetns }],
      ips: [{ address: "192.168.50.2/24", gateway: "192.168.50.1", interface: 0 }],
    },
    ...fields,
  });
  return { ...e2e.invocation("recipe0", config), ifname: "net1" };
}

function ok(r: PluginRun, what: string): void {
  assert.equal(r.code, 0, `${what}: ${r.stdout}${r.stderr}`);
}

labTest(
  "recipe: hostRoute.interface eth0 from a NAD on net1 routes the node via eth0's minaddr",
  async (e2e) => {
    await multusPod(e2e);
    const before = await tableText(e2e.lab.pod);
    const inv = net1(e2e, { hostRoute: { interface: "eth0" } });
    const add = await e2e.run("ADD", inv);
    ok(add, "ADD");
    // prevResult has no address on eth0: the pod's address (10.131.0.5/23) is read from eth0.
    const after = await tableText(e2e.lab.pod);
    assert.deepEqual(after.filter((l) => !before.includes(l)), [
      `${LAB.nodeIp} via 10.131.0.1 dev eth0`,
    ]);
    assert.deepEqual(add.json.routes, [{ dst: `${LAB.nodeIp}/32`, gw: "10.131.0.1" }]);
    ok(await e2e.run("CHECK", inv), "CHECK");
    ok(await e2e.run("DEL", inv), "DEL");
    assert.deepEqual(await tableText(e2e.lab.pod), before);
  },
);

labTest(
  "recipe: net1 becomes the default route once eth0 is in the attachment; DEL gives it back",
  async (e2e) => {
    await multusPod(e2e);
    const before = await tableText(e2e.lab.pod);
    const addroutes = [{ dst: "0.0.0.0/0", gw: "192.168.50.1" }];
    // Without eth0 in the attachment the default route is another interface's: code 7.
    const refused = await e2e.run("ADD", net1(e2e, { flushgateway: true, addroutes }));
    assert.equal(refused.json?.code, 7, refused.stdout);
    assert.deepEqual(await tableText(e2e.lab.pod), before);
    ok(await e2e.run("DEL", net1(e2e, {})), "DEL after the refused ADD");

    const inv = net1(e2e, { hostRoute: { interface: "eth0" }, flushgateway: true, addroutes });
    ok(await e2e.run("ADD", inv), "ADD");
    const after = await tableText(e2e.lab.pod);
    assert.deepEqual(after.filter((l) => !before.includes(l)).sort(), [
      `${LAB.nodeIp} via 10.131.0.1 dev eth0`,
      "default via 192.168.50.1 dev net1",
    ]);
    assert.deepEqual(before.filter((l) => !after.includes(l)), ["default via 10.131.0.1 dev eth0"]);
    assert.ok(after.includes("172.30.0.0/16 via 10.131.0.1 dev eth0"), "the service route stays");
    ok(await e2e.run("CHECK", inv), "CHECK");
    ok(await e2e.run("DEL", inv), "DEL");
    assert.deepEqual(await tableText(e2e.lab.pod), before);
  },
);
