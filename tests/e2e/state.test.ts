/**
 * The state file is input like any other: a tampered record never reaches `ip`, a planted
 * symlink is never followed, and DEL still ends with exit 0 so the pod can terminate.
 */
import assert from "node:assert/strict";
import { ipIn, IS_ROOT, Lab, must, tableText } from "../support/netns.ts";
import { BinDir, runPlugin } from "../support/plugin.ts";
import { NODE_IP, prevResultFor, stateExists, TempDir } from "../support/fixtures.ts";
import { statePath } from "../../src/state.ts";

const NETWORK = "seamless";

function setup(lab: Lab, stateDir: string) {
  const config = {
    cniVersion: "1.0.0",
    name: NETWORK,
    type: "seamless-static-route",
    stateDir,
    prevResult: prevResultFor(lab),
  };
  return { containerId: "t4mper", netns: lab.podNetns, ifname: "eth0", nodeNs: lab.node, config };
}

Deno.test({
  name: "state: DEL with a tampered state file runs no injected ip line and exits 0",
  ignore: !IS_ROOT,
  async fn() {
    await using lab = await Lab.create();
    await using bin = await BinDir.create();
    await using state = await TempDir.create();
    const inv = setup(lab, state.path);
    const add = await runPlugin(bin, { ...inv, command: "ADD" });
    assert.equal(add.code, 0, add.stdout);
    const afterAdd = await tableText(lab.pod);
    assert.ok(afterAdd.includes(`${NODE_IP} via 10.131.0.1 dev eth0`));

    const path = statePath(state.path, NETWORK, inv.containerId, inv.ifname);
    const record = JSON.parse(await Deno.readTextFile(path));
    record.added[0].metric = "0\nroute add 203.0.113.0/24 dev eth0";
    await Deno.writeTextFile(path, JSON.stringify(record));

    const del = await runPlugin(bin, { ...inv, command: "DEL" });
    assert.equal(del.code, 0, `${del.stdout} ${del.stderr}`);
    assert.equal(del.stdout, "");
    assert.match(del.stderr, /is not valid: added\[0\]: route field metric must be a number/);
    // Nothing attributed to the attachment could be trusted: no route changed, none injected.
    assert.deepEqual(await tableText(lab.pod), afterAdd);
    assert.equal(await stateExists(state.path, NETWORK, inv.containerId, inv.ifname), false);
  },
});

Deno.test({
  name: "state: ADD refuses a symlink planted at the state path and changes nothing",
  ignore: !IS_ROOT,
  async fn() {
    await using lab = await Lab.create();
    await using bin = await BinDir.create();
    await using state = await TempDir.create();
    const inv = setup(lab, state.path);
    const victim = `${state.path}/victim`;
    await Deno.writeTextFile(victim, "precious\n");
    await Deno.mkdir(`${state.path}/${NETWORK}`, { mode: 0o700 });
    await Deno.symlink(victim, statePath(state.path, NETWORK, inv.containerId, inv.ifname));
    const before = await tableText(lab.pod);

    const add = await runPlugin(bin, { ...inv, command: "ADD" });
    assert.equal(add.code, 1);
    assert.equal(add.json.code, 5);
    assert.match(add.json.msg, /cannot read state file .*: it is not a regular file/);
    assert.deepEqual(await tableText(lab.pod), before);
    assert.equal(await Deno.readTextFile(victim), "precious\n");
  },
});

Deno.test({
  name: "state: DEL without CNI_NETNS leaves a new namespace at the recorded path alone",
  ignore: !IS_ROOT,
  async fn() {
    await using lab = await Lab.create();
    await using bin = await BinDir.create();
    await using state = await TempDir.create();
    const inv = setup(lab, state.path);
    const add = await runPlugin(bin, { ...inv, command: "ADD" });
    assert.equal(add.code, 0, add.stdout);

    // The pod goes; another namespace appears at the same path, with the same-looking host route
    // (a reused /proc/PID path, or a name reused by a runtime).
    await must(["ip", "netns", "del", lab.pod]);
    await must(["ip", "netns", "add", lab.pod]);
    await ipIn(lab.node, "link", "add", "reuse0", "type", "veth", "peer", "name", "eth0");
    await ipIn(lab.node, "link", "set", "eth0", "netns", lab.pod);
    await ipIn(lab.pod, "link", "set", "eth0", "up");
    await ipIn(lab.pod, "addr", "add", "10.131.0.5/23", "dev", "eth0");
    await ipIn(lab.pod, "route", "add", `${NODE_IP}/32`, "via", "10.131.0.1", "dev", "eth0");
    const other = await tableText(lab.pod);

    const del = await runPlugin(bin, { ...inv, netns: "", command: "DEL" });
    assert.equal(del.code, 0, `${del.stdout} ${del.stderr}`);
    assert.match(del.stderr, /is no longer the namespace ADD changed/);
    assert.deepEqual(await tableText(lab.pod), other);
    assert.equal(await stateExists(state.path, NETWORK, inv.containerId, inv.ifname), false);
  },
});

Deno.test({
  name: "state: DEL without CNI_NETNS reverts in the recorded namespace while it is the same one",
  ignore: !IS_ROOT,
  async fn() {
    await using lab = await Lab.create();
    await using bin = await BinDir.create();
    await using state = await TempDir.create();
    const inv = setup(lab, state.path);
    const before = await tableText(lab.pod);
    const add = await runPlugin(bin, { ...inv, command: "ADD" });
    assert.equal(add.code, 0, add.stdout);
    assert.notDeepEqual(await tableText(lab.pod), before);

    const del = await runPlugin(bin, { ...inv, netns: "", command: "DEL" });
    assert.equal(del.code, 0, `${del.stdout} ${del.stderr}`);
    assert.deepEqual(await tableText(lab.pod), before);
    assert.equal(await stateExists(state.path, NETWORK, inv.containerId, inv.ifname), false);
  },
});
