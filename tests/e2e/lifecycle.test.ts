/**
 * The plugin as a runtime runs it (bundle executable, clean env, config on stdin), against real
 * namespaces: ADD → CHECK → DEL → DEL for both types, IPv4 and IPv6, args.cni, /proc paths,
 * and a route the kernel refuses.
 */
import assert from "node:assert/strict";
import {
  findRoutes,
  ipIn,
  IS_ROOT,
  LAB,
  PluginLab,
  prevResultFor,
  routesOf,
  run,
  runPlugin,
  tableText,
} from "../../testing/mod.ts";
import { labTest } from "../support/lab_test.ts";
import { stateExists } from "../support/fixtures.ts";

const ignore = !IS_ROOT;

function ok(r: { code: number; stdout: string; stderr: string }, what: string): void {
  assert.equal(r.code, 0, `${what} failed: ${r.stdout} ${r.stderr}`);
}

labTest("seamless: ADD → CHECK → DEL → DEL adds and removes the host route", async (e2e) => {
  const { lab, bin, state } = e2e;
  const prevResult = prevResultFor(lab);
  const config = e2e.config("seamless", "seamless-static-route", {
    prevResult,
  });
  const inv = e2e.invocation("c0ffee", config);
  const before = await tableText(lab.pod);

  const add = await runPlugin(bin, { ...inv, command: "ADD" });
  ok(add, "ADD");
  assert.deepEqual(add.json, {
    cniVersion: "1.0.0",
    interfaces: prevResult.interfaces,
    ips: prevResult.ips,
    routes: [{ dst: "0.0.0.0/0", gw: "10.131.0.1" }, {
      dst: `${LAB.nodeIp}/32`,
      gw: "10.131.0.1",
    }],
    dns: {},
  });
  const hostRoutes = findRoutes(await routesOf(lab.pod), LAB.nodeIp);
  assert.deepEqual(hostRoutes.map((r) => [r.gateway, r.dev, r.table ?? "main"]), [[
    "10.131.0.1",
    "eth0",
    "main",
  ]]);
  assert.ok(await stateExists(state.path, "seamless", "c0ffee", "eth0"));
  assert.deepEqual(
    await tableText(lab.pod),
    [...before, `${LAB.nodeIp} via 10.131.0.1 dev eth0`].sort(),
  );

  const check = await runPlugin(bin, { ...inv, command: "CHECK" });
  ok(check, "CHECK");
  assert.equal(check.stdout, "");

  const del = await runPlugin(bin, { ...inv, command: "DEL" });
  ok(del, "DEL");
  assert.equal(del.stdout, "");
  assert.deepEqual(await tableText(lab.pod), before);
  assert.ok(!await stateExists(state.path, "seamless", "c0ffee", "eth0"));

  ok(await runPlugin(bin, { ...inv, command: "DEL" }), "second DEL");
  assert.deepEqual(await tableText(lab.pod), before);
});

labTest(
  "route-override: flush, delete and add, then DEL restores the table exactly",
  async (e2e) => {
    const { lab, bin, state } = e2e;
    await ipIn(lab.pod, "route", "add", "10.0.0.0/8", "via", "10.131.0.1", "proto", "static");
    await ipIn(lab.pod, "route", "add", "198.18.0.0/15", "via", "10.131.0.1", "metric", "30");
    const prevResult = prevResultFor(lab);
    prevResult.routes.push({ dst: "10.0.0.0/8", gw: "10.131.0.1" });
    const config = {
      cniVersion: "1.1.0",
      name: "override",
      type: "route-override",
      stateDir: state.path,
      flushgateway: true,
      delroutes: [{ dst: "10.0.0.0/8" }],
      addroutes: [
        { dst: "192.168.0.0/16", gw: "10.131.0.254" },
        { dst: "172.16.0.0/12", mtu: 1400, priority: 20 },
        { dst: "203.0.113.0/24", table: 100 },
      ],
      prevResult,
    };
    const inv = {
      containerId: "ro1",
      netns: lab.podNetns,
      ifname: "eth0",
      nodeNs: lab.node,
      config,
      type: "route-override",
    };
    const before = await tableText(lab.pod);

    const add = await runPlugin(bin, { ...inv, command: "ADD" });
    ok(add, "ADD");
    assert.deepEqual(add.json, {
      cniVersion: "1.1.0",
      interfaces: prevResult.interfaces,
      ips: [{ address: "10.131.0.5/23", interface: 0 }],
      routes: [
        { dst: "192.168.0.0/16", gw: "10.131.0.254" },
        // Without gw: on-link on the pod interface, as route-override adds them.
        { dst: "172.16.0.0/12", mtu: 1400, priority: 20 },
        { dst: "203.0.113.0/24", table: 100 },
      ],
      dns: {},
    });
    assert.deepEqual(await tableText(lab.pod), [
      "10.131.0.0/23 dev eth0 proto kernel scope link src 10.131.0.5",
      "172.16.0.0/12 dev eth0 metric 20 mtu 1400",
      "192.168.0.0/16 via 10.131.0.254 dev eth0",
      "198.18.0.0/15 via 10.131.0.1 dev eth0 metric 30",
      "203.0.113.0/24 dev eth0 table 100",
      "fe80::/64 dev eth0 proto kernel metric 256 pref medium",
    ]);
    ok(await runPlugin(bin, { ...inv, command: "CHECK" }), "CHECK");
    ok(await runPlugin(bin, { ...inv, command: "DEL" }), "DEL");
    assert.deepEqual(await tableText(lab.pod), before);
  },
);

labTest(
  "route-override: flushroutes keeps kernel, link-scope, on-link and link-local routes",
  async (e2e) => {
    const { lab, bin } = e2e;
    await ipIn(lab.pod, "route", "add", "10.0.0.0/8", "via", "10.131.0.1");
    await ipIn(lab.pod, "route", "add", "10.200.0.0/16", "dev", "eth0", "scope", "link");
    await ipIn(lab.pod, "route", "add", "169.254.169.254/32", "via", "10.131.0.1");
    await ipIn(lab.pod, "-6", "route", "add", "fd00:300::/64", "dev", "eth0");
    await ipIn(lab.pod, "-6", "route", "add", "fd00:400::/64", "via", "fe80::1", "dev", "eth0");
    const config = e2e.config("flush", "route-override", {
      flushroutes: true,
    });
    const inv = e2e.invocation("fl1", config);
    const before = await tableText(lab.pod);
    const add = await runPlugin(bin, { ...inv, command: "ADD" });
    ok(add, "ADD");
    assert.deepEqual(add.json.routes, []);
    assert.deepEqual(await tableText(lab.pod), [
      "10.131.0.0/23 dev eth0 proto kernel scope link src 10.131.0.5",
      "10.200.0.0/16 dev eth0 scope link",
      "169.254.169.254 via 10.131.0.1 dev eth0",
      "fd00:300::/64 dev eth0 metric 1024 pref medium",
      "fe80::/64 dev eth0 proto kernel metric 256 pref medium",
    ]);
    ok(await runPlugin(bin, { ...inv, command: "DEL" }), "DEL");
    assert.deepEqual(await tableText(lab.pod), before);
  },
);

Deno.test({
  name: "seamless IPv6: /128 host route via prefix::1 and a v6 addroute, then DEL",
  ignore,
  async fn() {
    await using e2e = await PluginLab.create({
      nodeAddress6: "fd00:100::10/64",
      nodeGateway6: "fd00:100::1",
      podAddress6: "fd00:10::5/64",
      podGateway6: "fd00:10::1",
    });
    const { lab, bin } = e2e;
    const prevResult = prevResultFor(lab, { v6: true });
    const config = e2e.config("v6", "seamless-static-route", {
      hostRoute: { ipv6: true },
      addroutes: [{ dst: "fd00:200::/64" }],
      prevResult,
    });
    const inv = e2e.invocation("v6pod", config);
    const before = await tableText(lab.pod);
    const add = await runPlugin(bin, { ...inv, command: "ADD" });
    ok(add, "ADD");
    assert.deepEqual(add.json.routes, [
      { dst: "0.0.0.0/0", gw: "10.131.0.1" },
      { dst: "::/0", gw: "fd00:10::1" },
      { dst: "fd00:200::/64", gw: "fd00:10::1" },
      { dst: `${LAB.nodeIp}/32`, gw: "10.131.0.1" },
      { dst: "fd00:100::10/128", gw: "fd00:10::1" },
    ]);
    const routes = await routesOf(lab.pod);
    assert.deepEqual(findRoutes(routes, "fd00:100::10").map((r) => [r.gateway, r.dev]), [[
      "fd00:10::1",
      "eth0",
    ]]);
    assert.deepEqual(findRoutes(routes, "fd00:200::/64").map((r) => [r.gateway, r.dev]), [[
      "fd00:10::1",
      "eth0",
    ]]);
    assert.deepEqual(findRoutes(routes, LAB.nodeIp).map((r) => r.gateway), ["10.131.0.1"]);
    ok(await runPlugin(bin, { ...inv, command: "CHECK" }), "CHECK");
    ok(await runPlugin(bin, { ...inv, command: "DEL" }), "DEL");
    assert.deepEqual(await tableText(lab.pod), before);
  },
});

labTest("args.cni overrides the NetworkAttachmentDefinition's keys per pod", async (e2e) => {
  const { lab, bin } = e2e;
  const config = e2e.config("perpod", "route-override", {
    addroutes: [{ dst: "172.16.0.0/12" }],
    args: {
      cni: { addroutes: [{ dst: "192.0.2.0/24", gw: "10.131.0.200" }], flushgateway: true },
    },
  });
  const inv = e2e.invocation("ac1", config);
  const add = await runPlugin(bin, { ...inv, command: "ADD" });
  ok(add, "ADD");
  assert.deepEqual(add.json.routes, [{ dst: "192.0.2.0/24", gw: "10.131.0.200" }]);
  const routes = await routesOf(lab.pod);
  assert.deepEqual(findRoutes(routes, "172.16.0.0/12"), []);
  assert.deepEqual(findRoutes(routes, "default"), []);
  assert.deepEqual(findRoutes(routes, "192.0.2.0/24").map((r) => r.gateway), ["10.131.0.200"]);
  ok(await runPlugin(bin, { ...inv, command: "DEL" }), "DEL");
  assert.deepEqual(findRoutes(await routesOf(lab.pod), "default").map((r) => r.gateway), [
    "10.131.0.1",
  ]);
});

labTest("CNI_NETNS as /proc/PID/ns/net goes through nsenter", async (e2e) => {
  const { lab, bin } = e2e;
  let holderPid = 0;
  const holder = run(["ip", "netns", "exec", lab.pod, "sleep", "60"], {
    onSpawn: (pid) => (holderPid = pid),
  });
  try {
    // Wait until the holder process is inside the pod namespace.
    let netns = "";
    for (let i = 0; i < 50 && !netns; i++) {
      const pids = (await run(["ip", "netns", "pids", lab.pod])).stdout.trim().split(/\s+/)
        .filter(Boolean);
      if (pids.length) netns = `/proc/${pids[0]}/ns/net`;
      else await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(netns, "a process in the pod namespace");
    const config = e2e.config("procns", "seamless-static-route");
    const inv = { containerId: "pn1", netns, ifname: "eth0", nodeNs: lab.node, config };
    const before = await tableText(lab.pod);
    ok(await runPlugin(bin, { ...inv, command: "ADD" }), "ADD");
    assert.deepEqual(findRoutes(await routesOf(lab.pod), LAB.nodeIp).map((r) => r.gateway), [
      "10.131.0.1",
    ]);
    ok(await runPlugin(bin, { ...inv, command: "CHECK" }), "CHECK");
    ok(await runPlugin(bin, { ...inv, command: "DEL" }), "DEL");
    assert.deepEqual(await tableText(lab.pod), before);
  } finally {
    Deno.kill(holderPid, "SIGKILL");
    await holder;
  }
});

labTest("a route the kernel refuses rolls the whole ADD back (code 100)", async (e2e) => {
  const { lab, bin, state } = e2e;
  await ipIn(lab.pod, "route", "add", "10.0.0.0/8", "via", "10.131.0.1");
  const config = e2e.config("refused", "seamless-static-route", {
    flushgateway: true,
    delroutes: [{ dst: "10.0.0.0/8" }],
    addroutes: [{ dst: "172.16.0.0/12" }, { dst: "10.99.0.0/16", gw: "172.31.0.1" }],
  });
  const inv = e2e.invocation("rf1", config);
  const before = await tableText(lab.pod);
  const add = await runPlugin(bin, { ...inv, command: "ADD" });
  assert.equal(add.code, 1);
  assert.equal(add.json.code, 100);
  assert.equal(add.json.cniVersion, "1.0.0");
  assert.match(
    add.json.msg,
    /^the kernel refused "route add 10\.99\.0\.0\/16 via 172\.31\.0\.1 dev eth0": /,
  );
  assert.match(add.json.details, /Command failed batch:4/);
  assert.deepEqual(await tableText(lab.pod), before);
  assert.ok(!await stateExists(state.path, "refused", "rf1", "eth0"));
});

labTest(
  "CHECK fails with code 101 naming a removed host route; skipcheck skips it",
  async (e2e) => {
    const { lab, bin } = e2e;
    const config = e2e.config("chk", "seamless-static-route");
    const inv = e2e.invocation("ck1", config);
    ok(await runPlugin(bin, { ...inv, command: "ADD" }), "ADD");
    await ipIn(lab.pod, "route", "del", `${LAB.nodeIp}/32`);
    const check = await runPlugin(bin, { ...inv, command: "CHECK" });
    assert.equal(check.code, 1);
    assert.deepEqual(check.json, {
      cniVersion: "1.0.0",
      code: 101,
      msg: `route ${LAB.nodeIp}/32 via 10.131.0.1 dev eth0: missing (hostRoute)`,
      details: `route ${LAB.nodeIp}/32 via 10.131.0.1 dev eth0: missing (hostRoute)`,
    });
    ok(
      await runPlugin(bin, { ...inv, command: "CHECK", config: { ...config, skipcheck: true } }),
      "skipcheck",
    );
    ok(await runPlugin(bin, { ...inv, command: "DEL" }), "DEL");
  },
);

labTest(
  "no prevResult: the pod address is read from the interface; DEL after the netns is gone",
  async (e2e) => {
    const { lab, bin, state } = e2e;
    const config = e2e.config("noprev", "seamless-static-route", {}, false);
    const inv = e2e.invocation("np1", config);
    const add = await runPlugin(bin, { ...inv, command: "ADD" });
    ok(add, "ADD");
    assert.deepEqual(add.json, {
      cniVersion: "1.0.0",
      routes: [{ dst: `${LAB.nodeIp}/32`, gw: "10.131.0.1" }],
    });
    await run(["ip", "netns", "del", lab.pod]);
    ok(await runPlugin(bin, { ...inv, command: "DEL" }), "DEL without netns");
    assert.ok(!await stateExists(state.path, "noprev", "np1", "eth0"));
  },
);

labTest(
  "no pod address within timeoutSeconds: code 11 and nothing changed",
  { podAddress: null },
  async (e2e) => {
    const { lab, bin } = e2e;
    const config = e2e.config("wait", "seamless-static-route", {
      hostRoute: { timeoutSeconds: 0.4 },
    }, false);
    const before = await tableText(lab.pod);
    const t0 = performance.now();
    const add = await runPlugin(bin, {
      containerId: "w1",
      netns: lab.podNetns,
      ifname: "eth0",
      nodeNs: lab.node,
      config,
      command: "ADD",
    });
    assert.ok(performance.now() - t0 >= 400, "it waited");
    assert.equal(add.code, 1);
    assert.equal(add.json.code, 11);
    assert.match(add.json.msg, /no IPv4 address on pod interface eth0 after 0\.4s/);
    assert.deepEqual(await tableText(lab.pod), before);
  },
);
