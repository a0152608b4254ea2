/**
 * What a cluster admin sees when a NAD is slightly wrong: warnings for unknown keys, errors that
 * fail at once when waiting cannot help, logs that land somewhere and name the pod, and
 * route-override's table for an existing route-override NAD.
 */
import assert from "node:assert/strict";
import {
  type JsonObject,
  LAB,
  type PluginLab,
  type PluginRun,
  routesOf,
  tableText,
} from "../../testing/mod.ts";
import { labTest } from "../support/lab_test.ts";

const POD_ARGS = "IgnoreUnknown=1;K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web-0";

/** ADD of pod shop/web-0 (container `id`) with the seamless-static-route network "adm" + `fields`. */
function addPod(e2e: PluginLab, id: string, fields: JsonObject): Promise<PluginRun> {
  const config = e2e.config("adm", "seamless-static-route", fields);
  return e2e.run("ADD", { ...e2e.invocation(id, config), cniArgs: POD_ARGS });
}

labTest(
  "admin: an unknown key warns once on stderr with a hint, and ADD still succeeds",
  async (e2e) => {
    const { lab } = e2e;
    const r = await addPod(e2e, "adm1", { addroute: [{ dst: "172.16.0.0/12" }] });
    assert.equal(r.code, 0, r.stdout);
    const lines = r.stderr.trimEnd().split("\n");
    assert.equal(lines.length, 1, r.stderr);
    assert.match(
      lines[0]!,
      /^\S+ WARN \[ADD shop\/web-0 adm1\/eth0 net=adm\] \+\S+ms unknown key addroute is ignored \(did you mean "addroutes"\?\)$/,
    );
    const table = await tableText(lab.pod);
    assert.ok(table.includes(`${LAB.nodeIp} via 10.131.0.1 dev eth0`), table.join("\n"));
    assert.ok(!table.some((l) => l.startsWith("172.16.0.0/12")), "the misspelt key did nothing");
  },
);

labTest(
  "admin: a failed ADD logs to a logFile in a missing directory, naming the pod",
  async (e2e) => {
    const { state } = e2e;
    const logFile = `${state.path}/logs/deep/ssr.log`;
    const t0 = Date.now();
    const r = await addPod(e2e, "adm2", { logFile, hostRoute: { interface: "net1" } });
    // Code 7 at once, not code 11 after the 10 s default timeout.
    assert.deepEqual(r.json, {
      cniVersion: "1.0.0",
      code: 7,
      msg: "the pod has no interface net1 (it has: eth0); hostRoute.interface must name one of " +
        "them, or be left out to use CNI_IFNAME (Multus names interfaces by attachment order: " +
        "net1, net2...)",
    });
    assert.ok(Date.now() - t0 < 5000, `took ${Date.now() - t0} ms`);
    assert.equal(r.stderr, "");
    const log = await Deno.readTextFile(logFile);
    assert.match(log, /ERROR \[ADD shop\/web-0 adm2\/eth0 net=adm\] .*no interface net1/);
    assert.equal((await Deno.stat(`${state.path}/logs/deep`)).mode! & 0o777, 0o700);
  },
);

labTest("admin: an IPv6-only pod with the IPv4 host route is code 7 at once", {
  podAddress: null,
  podAddress6: "fd00:10::5/64",
}, async (e2e) => {
  const { lab } = e2e;
  const before = await tableText(lab.pod);
  const t0 = Date.now();
  const config = e2e.config("adm", "seamless-static-route", {
    prevResult: {
      cniVersion: "1.0.0",
      interfaces: [{ name: "eth0", sandbox: lab.podNetns }],
      ips: [{ address: "fd00:10::5/64", interface: 0 }],
    },
  });
  const r = await e2e.run("ADD", e2e.invocation("adm3", config));
  assert.equal(r.json?.code, 7, r.stdout);
  assert.match(r.json.msg, /no IPv4 address on eth0 \(prevResult gives only fd00:10::5\/64\)/);
  assert.ok(Date.now() - t0 < 5000, `took ${Date.now() - t0} ms`);
  assert.deepEqual(await tableText(lab.pod), before);
});

labTest(
  "admin: route-override drop-in — an addroute without gw is on-link, as route-override",
  async (e2e) => {
    const { lab } = e2e;
    // One lab for both types: DEL restores the table exactly, so each starts from the same one.
    for (const type of ["route-override", "seamless-static-route"]) {
      const before = await tableText(lab.pod);
      const config = e2e.config("adm", type, {
        hostRoute: false,
        addroutes: [{ dst: "172.16.0.0/12" }, { dst: "10.20.0.0/16", gw: "10.131.0.254" }],
      });
      const inv = e2e.invocation(`adm4${type[0]}`, config);
      const add = await e2e.run("ADD", inv);
      assert.equal(add.code, 0, add.stdout);
      const table = await tableText(lab.pod);
      const routes = await routesOf(lab.pod);
      const onLink = routes.find((r) => r.dst === "172.16.0.0/12");
      if (type === "route-override") {
        // What route-override's netlink.RouteAdd{LinkIndex, Scope: UNIVERSE, Dst} makes.
        assert.ok(table.includes("172.16.0.0/12 dev eth0"), table.join("\n"));
        assert.equal(onLink?.gateway, undefined);
        assert.deepEqual(add.json.routes.find((r: { dst: string }) => r.dst === "172.16.0.0/12"), {
          dst: "172.16.0.0/12",
        });
      } else {
        assert.ok(table.includes("172.16.0.0/12 via 10.131.0.1 dev eth0"), table.join("\n"));
      }
      assert.ok(table.includes("10.20.0.0/16 via 10.131.0.254 dev eth0"), table.join("\n"));
      const check = await e2e.run("CHECK", { ...inv, config: { ...config, prevResult: add.json } });
      assert.equal(check.code, 0, check.stdout);
      const del = await e2e.run("DEL", inv);
      assert.equal(del.code, 0, del.stdout);
      assert.deepEqual(await tableText(lab.pod), before);
    }
  },
);

labTest(
  "admin: a logFile that cannot be created falls back to stderr with a warning",
  async (e2e) => {
    const { state } = e2e;
    // A regular file where the log's directory should be: mkdir fails.
    await Deno.writeTextFile(`${state.path}/not-a-dir`, "");
    const r = await addPod(e2e, "adm5", {
      logFile: `${state.path}/not-a-dir/ssr.log`,
      hostRoute: { interface: "net1" },
    });
    assert.equal(r.json?.code, 7, r.stdout);
    const lines = r.stderr.trimEnd().split("\n");
    assert.equal(lines.length, 2, r.stderr);
    assert.match(
      lines[0]!,
      /WARN \[ADD shop\/web-0 adm5\/eth0 net=adm\] .*cannot create the directory of logFile .*logging to stderr/,
    );
    assert.match(lines[1]!, /ERROR \[ADD shop\/web-0 adm5\/eth0 net=adm\] .*no interface net1/);
  },
);
