/**
 * The state file is input like any other: a tampered record never reaches `ip`, a planted
 * symlink is never followed, DEL reverts only in the namespace ADD changed, and DEL still ends
 * with exit 0 so the pod can terminate.
 */
import assert from "node:assert/strict";
import { ipIn, LAB, must, type PluginLab, succeeds, tableText } from "../../testing/mod.ts";
import { labTest } from "../support/lab_test.ts";
import { stateExists } from "../support/fixtures.ts";
import { statePath } from "../../src/state.ts";

const NETWORK = "seamless";
const ID = "t4mper";

/** The first pod's invocation of a seamless config. */
function setup(e2e: PluginLab) {
  return e2e.invocation(ID, e2e.config(NETWORK, "seamless-static-route"));
}

/**
 * Replaces the pod's namespace by a new one at the same path (a reused name or /proc/PID path):
 * eth0 with the pod's address, and `route` (`DST via GW`) on it.
 */
async function newPodNamespace(e2e: PluginLab, route: string): Promise<void> {
  const { lab } = e2e;
  await must(["ip", "netns", "del", lab.pod]);
  await must(["ip", "netns", "add", lab.pod]);
  // The last try's renew0 goes only when its peer's namespace is freed, which the kernel does
  // asynchronously: under load it may still be there.
  for (
    let i = 0;
    i < 100 && await succeeds(["ip", "-n", lab.node, "link", "show", "renew0"]);
    i++
  ) {
    await succeeds(["ip", "-n", lab.node, "link", "del", "renew0"]);
  }
  await ipIn(lab.node, "link", "add", "renew0", "type", "veth", "peer", "name", "eth0");
  await ipIn(lab.node, "link", "set", "eth0", "netns", lab.pod);
  await ipIn(lab.pod, "link", "set", "eth0", "up");
  await ipIn(lab.pod, "addr", "add", "10.131.0.5/23", "dev", "eth0");
  await ipIn(lab.pod, "route", "add", ...route.split(" "), "dev", "eth0");
}

labTest(
  "state: DEL with a tampered state file runs no injected ip line and exits 0",
  async (e2e) => {
    const { lab, state } = e2e;
    const inv = setup(e2e);
    const add = await e2e.run("ADD", inv);
    assert.equal(add.code, 0, add.stdout);
    const afterAdd = await tableText(lab.pod);
    assert.ok(afterAdd.includes(`${LAB.nodeIp} via 10.131.0.1 dev eth0`));

    const path = statePath(state.path, NETWORK, ID, "eth0");
    const record = JSON.parse(await Deno.readTextFile(path));
    record.added[0].metric = "0\nroute add 203.0.113.0/24 dev eth0";
    await Deno.writeTextFile(path, JSON.stringify(record));

    const del = await e2e.run("DEL", inv);
    assert.equal(del.code, 0, `${del.stdout} ${del.stderr}`);
    assert.equal(del.stdout, "");
    assert.match(del.stderr, /is not valid: added\[0\]: route field metric must be a number/);
    // Nothing attributed to the attachment could be trusted: no route changed, none injected.
    assert.deepEqual(await tableText(lab.pod), afterAdd);
    assert.equal(await stateExists(state.path, NETWORK, ID, "eth0"), false);
  },
);

labTest(
  "state: ADD refuses a symlink planted at the state path and changes nothing",
  async (e2e) => {
    const { lab, state } = e2e;
    const victim = `${state.path}/victim`;
    await Deno.writeTextFile(victim, "precious\n");
    await Deno.mkdir(`${state.path}/${NETWORK}`, { mode: 0o700 });
    await Deno.symlink(victim, statePath(state.path, NETWORK, ID, "eth0"));
    const before = await tableText(lab.pod);

    const add = await e2e.run("ADD", setup(e2e));
    assert.equal(add.code, 1);
    assert.equal(add.json.code, 5);
    assert.match(add.json.msg, /cannot read state file .*: it is not a regular file/);
    assert.deepEqual(await tableText(lab.pod), before);
    assert.equal(await Deno.readTextFile(victim), "precious\n");
  },
);

/**
 * Deletes the pod's namespace and makes a new one at its path whose nsfs identity is the one the
 * record holds: the kernel hands a freed namespace's inode out again at once, but frees it
 * asynchronously, so a few tries may be needed; when none gets it, the record is rewritten to the
 * new namespace's identity, the state the reuse would leave. Returns whether the kernel reused it.
 */
async function reusedNamespace(
  e2e: PluginLab,
  route: string,
  recordPath: string,
): Promise<boolean> {
  const path = `/var/run/netns/${e2e.lab.pod}`;
  const old = await Deno.stat(path);
  for (let i = 0; i < 20; i++) {
    await newPodNamespace(e2e, route);
    if ((await Deno.stat(path)).ino === old.ino) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  const now = await Deno.stat(path);
  const record = JSON.parse(await Deno.readTextFile(recordPath));
  assert.deepEqual(record.netnsId, { dev: old.dev, ino: old.ino });
  record.netnsId = { dev: now.dev, ino: now.ino };
  await Deno.writeTextFile(recordPath, JSON.stringify(record));
  return false;
}

labTest(
  "state: a late DEL without CNI_NETNS leaves a namespace that reuses the inode alone",
  async (e2e) => {
    const { lab, state } = e2e;
    const inv = setup(e2e);
    const add = await e2e.run("ADD", inv);
    assert.equal(add.code, 0, add.stdout);

    // The pod goes; another one's namespace appears at the same path with the same inode (the
    // recorded identity) and the same-looking host route, which the old DEL deleted.
    const path = statePath(state.path, NETWORK, ID, "eth0");
    await reusedNamespace(e2e, `${LAB.nodeIp}/32 via 10.131.0.1`, path);
    const other = await tableText(lab.pod);

    const del = await e2e.run("DEL", { ...inv, netns: "" });
    assert.equal(del.code, 0, `${del.stdout} ${del.stderr}`);
    assert.deepEqual(await tableText(lab.pod), other);
    assert.equal(await stateExists(state.path, NETWORK, ID, "eth0"), false);
  },
);

labTest(
  "state: DEL with a CNI_NETNS that is not the namespace ADD changed changes no route",
  async (e2e) => {
    const { lab, state } = e2e;
    const inv = setup(e2e);
    assert.equal((await e2e.run("ADD", inv)).code, 0);
    const path = statePath(state.path, NETWORK, ID, "eth0");
    const record = JSON.parse(await Deno.readTextFile(path));
    record.netnsId.ino += 1; // as if ADD had changed another namespace
    await Deno.writeTextFile(path, JSON.stringify(record));
    const afterAdd = await tableText(lab.pod);
    const del = await e2e.run("DEL", inv);
    assert.equal(del.code, 0, `${del.stdout} ${del.stderr}`);
    assert.match(del.stderr, /is no longer the namespace ADD changed/);
    assert.deepEqual(await tableText(lab.pod), afterAdd);
    assert.equal(await stateExists(state.path, NETWORK, ID, "eth0"), false);
  },
);

labTest(
  "state: DEL without CNI_NETNS removes the record and changes no route",
  async (e2e) => {
    const { lab, state } = e2e;
    const inv = setup(e2e);
    const add = await e2e.run("ADD", inv);
    assert.equal(add.code, 0, add.stdout);
    const afterAdd = await tableText(lab.pod);

    // containerd's second DEL (RemovePodSandbox) comes without CNI_NETNS: it only forgets.
    const del = await e2e.run("DEL", {
      ...inv,
      netns: "",
      config: { ...inv.config as object, logLevel: "info" },
    });
    assert.equal(del.code, 0, `${del.stdout} ${del.stderr}`);
    assert.match(del.stderr, /no CNI_NETNS: no route is changed/);
    assert.deepEqual(await tableText(lab.pod), afterAdd);
    assert.equal(await stateExists(state.path, NETWORK, ID, "eth0"), false);
    // The runtime's DEL with CNI_NETNS that may follow finds nothing to undo and ends 0.
    assert.equal((await e2e.run("DEL", inv)).code, 0);
  },
);

labTest("state: ADD in a new namespace replaces a record left by the old one", async (e2e) => {
  const { lab, state } = e2e;
  const inv = setup(e2e);
  const cfg = e2e.config(NETWORK, "route-override", { flushgateway: true });
  assert.equal((await e2e.run("ADD", { ...inv, config: cfg })).code, 0);
  // The old namespace went without a DEL (crash, reboot); a new one, with its own default route,
  // gets the same container id and interface.
  await newPodNamespace(e2e, "default via 10.131.0.254");
  const fresh = await tableText(lab.pod);
  const add = await e2e.run("ADD", { ...inv, config: cfg });
  assert.equal(add.code, 0, add.stdout);
  const del = await e2e.run("DEL", { ...inv, config: cfg });
  assert.equal(del.code, 0, del.stdout);
  // Back to the new namespace's own table, not the old namespace's default route.
  assert.deepEqual(await tableText(lab.pod), fresh);
  assert.equal(await stateExists(state.path, NETWORK, ID, "eth0"), false);
});

labTest("state: DEL with an unsafe state directory changes no route and exits 0", async (e2e) => {
  const { lab, state } = e2e;
  const inv = setup(e2e);
  assert.equal((await e2e.run("ADD", inv)).code, 0);
  const afterAdd = await tableText(lab.pod);
  await Deno.chmod(`${state.path}/${NETWORK}`, 0o775);
  for (let i = 0; i < 2; i++) {
    const del = await e2e.run("DEL", inv);
    assert.equal(del.code, 0, `${del.stdout} ${del.stderr}`);
    assert.match(del.stderr, /writable by group or others .*: DEL changes no route/);
  }
  assert.deepEqual(await tableText(lab.pod), afterAdd);
});

labTest("state: DEL without CNI_NETNS never reverts in the plugin's own namespace", async (e2e) => {
  const { lab, state } = e2e;
  const inv = setup(e2e);
  assert.equal((await e2e.run("ADD", inv)).code, 0);
  // A record naming the namespace the plugin runs in (the node's), with its true identity.
  const path = statePath(state.path, NETWORK, ID, "eth0");
  const record = JSON.parse(await Deno.readTextFile(path));
  const nodeNs = `/var/run/netns/${lab.node}`;
  const st = await Deno.stat(nodeNs);
  record.netns = nodeNs;
  record.netnsId = { dev: st.dev, ino: st.ino };
  await Deno.writeTextFile(path, JSON.stringify(record));
  const nodeBefore = await tableText(lab.node);
  const del = await e2e.run("DEL", { ...inv, netns: "" });
  assert.equal(del.code, 0, `${del.stdout} ${del.stderr}`);
  assert.deepEqual(await tableText(lab.node), nodeBefore);
  assert.equal(await stateExists(state.path, NETWORK, ID, "eth0"), false);
});

labTest("state: CHECK of an attachment without a record leaves no lock file", async (e2e) => {
  const { state } = e2e;
  const inv = setup(e2e);
  assert.equal((await e2e.run("ADD", inv)).code, 0);
  assert.equal((await e2e.run("DEL", inv)).code, 0);
  for (const id of [ID, "neveradded"]) {
    await e2e.run("CHECK", { ...inv, containerId: id });
  }
  assert.deepEqual([...Deno.readDirSync(`${state.path}/${NETWORK}`)].map((e) => e.name), []);
});

function chownNobody(path: string): void {
  const r = new Deno.Command("chown", { args: ["-h", "65534:65534", path] }).outputSync();
  assert.ok(r.success, new TextDecoder().decode(r.stderr));
}

labTest(
  "state: a stateDir below a directory another user owns is refused, as logFile's is",
  async (e2e) => {
    const { lab, state } = e2e;
    Deno.chmodSync(state.path, 0o755);
    const theirs = `${state.path}/shared`;
    Deno.mkdirSync(theirs);
    chownNobody(theirs); // nobody may rename root's state directory away or swap another in
    const config = e2e.config("anc", "seamless-static-route", { stateDir: `${theirs}/state` });
    const before = await tableText(lab.pod);
    const add = await e2e.run("ADD", e2e.invocation("c1", config));
    assert.equal(add.json?.code, 5, add.stdout);
    assert.match(add.json.msg, /shared is owned by uid 65534/);
    assert.deepEqual(await tableText(lab.pod), before);
  },
);
