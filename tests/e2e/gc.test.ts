/**
 * GC as libcni and CRI-O send it: `cni.dev/valid-attachments` as a list, as `null` (Go's empty
 * list: CRI-O at start-up with no pods), missing (libcni's nil GCArgs, `cnitool gc`: nothing is
 * valid), and under the older key `cni.dev/attachments`. Each asserts exactly which state files
 * remain, in this network and in another one GC must not touch.
 */
import assert from "node:assert/strict";
import { BinDir, runPlugin, TempDir } from "../../testing/mod.ts";
import { stateFiles } from "../support/proof.ts";
import { statePath, writeState } from "../../src/state.ts";
import { STALE_BATCH_SECONDS } from "../../src/ip.ts";

const NETWORK = "gcnet";
const OTHER = "othernet";

/** The attachments seeded in both networks before each GC. */
const SEEDED: readonly [string, string][] = [["keep1", "eth0"], ["keep1", "net1"], [
  "gone1",
  "eth0",
]];

/**
 * Writes a state file (as ADD writes it) for every seeded attachment of `network`, an hour old
 * (GC keeps what was written within GC_GRACE_SECONDS: the runtime's list may predate it).
 */
function seed(stateDir: string, network: string): void {
  const old = new Date(Date.now() - 3600_000);
  for (const [containerId, ifname] of SEEDED) {
    const path = statePath(stateDir, network, containerId, ifname);
    writeState(path, {
      version: 1,
      network,
      containerId,
      ifname,
      netns: `/var/run/netns/${containerId}`,
      added: [],
      deleted: [],
    });
    Deno.utimeSync(path, old, old);
  }
}

const ALL = ["gone1@eth0.json", "keep1@eth0.json", "keep1@net1.json"];

/** Seeds both networks, runs GC for NETWORK with `extra` keys; returns what remains of NETWORK. */
async function gcWith(extra: Record<string, unknown>): Promise<string[]> {
  await using bin = await BinDir.create();
  await using state = await TempDir.create();
  seed(state.path, NETWORK);
  seed(state.path, OTHER);
  const config = {
    cniVersion: "1.1.0",
    name: NETWORK,
    type: "seamless-static-route",
    stateDir: state.path,
    ...extra,
  };
  const r = await runPlugin(bin, { command: "GC", config });
  assert.deepEqual([r.code, r.stdout], [0, ""], r.stderr);
  assert.deepEqual(await stateFiles(state.path, OTHER), ALL, "GC touched another network");
  return await stateFiles(state.path, NETWORK);
}

Deno.test("GC: a non-empty cni.dev/valid-attachments keeps exactly those attachments", async () => {
  const kept = await gcWith({
    "cni.dev/valid-attachments": [
      { containerID: "keep1", ifname: "eth0" },
      { containerID: "keep1", ifname: "net1" },
      { containerID: "notseeded", ifname: "eth0" },
    ],
  });
  assert.deepEqual(kept, ["keep1@eth0.json", "keep1@net1.json"]);
});

Deno.test("GC: cni.dev/valid-attachments null (Go's empty list, CRI-O) removes every state", async () => {
  assert.deepEqual(await gcWith({ "cni.dev/valid-attachments": null }), []);
});

Deno.test("GC: an empty cni.dev/valid-attachments list removes every state", async () => {
  assert.deepEqual(await gcWith({ "cni.dev/valid-attachments": [] }), []);
});

Deno.test("GC: no list at all (libcni's nil GCArgs, cnitool gc) removes every state", async () => {
  assert.deepEqual(await gcWith({}), []);
});

Deno.test("GC: the older key cni.dev/attachments is read when the spec's key is absent", async () => {
  const old = await gcWith({ "cni.dev/attachments": [{ containerID: "gone1", ifname: "eth0" }] });
  assert.deepEqual(old, ["gone1@eth0.json"]);
  assert.deepEqual(await gcWith({ "cni.dev/attachments": null }), []);
});

Deno.test("GC: libcni sends both keys; cni.dev/valid-attachments wins", async () => {
  const kept = await gcWith({
    "cni.dev/valid-attachments": [{ containerID: "keep1", ifname: "net1" }],
    "cni.dev/attachments": [{ containerID: "gone1", ifname: "eth0" }],
  });
  assert.deepEqual(kept, ["keep1@net1.json"]);
});

Deno.test("GC: a malformed list is code 7 naming the key, and no state file goes", async () => {
  await using bin = await BinDir.create();
  await using state = await TempDir.create();
  seed(state.path, NETWORK);
  const base = { cniVersion: "1.1.0", name: NETWORK, type: "route-override", stateDir: state.path };
  const cases: [Record<string, unknown>, string][] = [
    [{ "cni.dev/valid-attachments": "keep1" }, 'invalid cni.dev/valid-attachments "keep1"'],
    [{ "cni.dev/attachments": [{ containerID: 1 }] }, "invalid cni.dev/attachments[0]"],
  ];
  for (const [extra, msg] of cases) {
    const r = await runPlugin(bin, { command: "GC", config: { ...base, ...extra } });
    assert.equal(r.code, 1);
    assert.equal(r.json.code, 7);
    assert.ok(r.json.msg.startsWith(msg), r.json.msg);
    assert.deepEqual(await stateFiles(state.path, NETWORK), ALL);
  }
});

Deno.test("GC: a network without a state directory is fine", async () => {
  await using bin = await BinDir.create();
  await using state = await TempDir.create();
  const config = {
    cniVersion: "1.1.0",
    name: "empty",
    type: "seamless-static-route",
    stateDir: state.path,
    "cni.dev/valid-attachments": null,
  };
  const r = await runPlugin(bin, { command: "GC", config });
  assert.deepEqual([r.code, r.stdout], [0, ""], r.stderr);
});

Deno.test("GC: a stale attachment's lock and leftover batch file go with it; kept ones stay", async () => {
  await using bin = await BinDir.create();
  await using state = await TempDir.create();
  seed(state.path, NETWORK);
  const dir = `${state.path}/${NETWORK}`;
  // A killed first ADD whose record went (or was never written) leaves its lock and batch files.
  // The batch file names an ip by pid and start time: here this very test's pid with another
  // start time, a reused pid that GC must not signal.
  for (const name of ["killed1@eth0.lock", "killed1@eth0.batch", "keep1@eth0.lock"]) {
    const text = name.endsWith(".batch") ? `${Deno.pid} 1 ip\n` : "";
    Deno.writeTextFileSync(`${dir}/${name}`, text, { mode: 0o600 });
    const old = new Date(Date.now() - 3600_000);
    Deno.utimeSync(`${dir}/${name}`, old, old);
  }
  const config = {
    cniVersion: "1.1.0",
    name: NETWORK,
    type: "seamless-static-route",
    stateDir: state.path,
    "cni.dev/valid-attachments": [{ containerID: "keep1", ifname: "eth0" }],
  };
  const r = await runPlugin(bin, { command: "GC", config });
  assert.deepEqual([r.code, r.stdout], [0, ""], r.stderr);
  assert.deepEqual(
    [...Deno.readDirSync(dir)].map((e) => e.name).sort(),
    ["keep1@eth0.json", "keep1@eth0.lock"],
  );
});

Deno.test("GC: sweeps $TMPDIR batch files older than STALE_BATCH_SECONDS, only those", async () => {
  await using bin = await BinDir.create();
  await using state = await TempDir.create();
  await using tmp = await TempDir.create("ssr-gc-tmpdir-");
  const old = new Date(Date.now() - (STALE_BATCH_SECONDS + 60) * 1000);
  const file = (name: string, stale: boolean) => {
    Deno.writeTextFileSync(`${tmp.path}/${name}`, "route add 10.0.0.0/8 dev eth0\n");
    if (stale) Deno.utimeSync(`${tmp.path}/${name}`, old, old);
  };
  file("seamless-static-route-killed.batch", true); // left by a SIGKILLed plugin: goes
  file("seamless-static-route-running.batch", false); // an ip reading it right now: stays
  file("other-tool-1.batch", true); // not the plugin's: stays
  file("seamless-static-route-x.txt", true); // not a batch file: stays
  Deno.symlinkSync(`${tmp.path}/other-tool-1.batch`, `${tmp.path}/seamless-static-route-l.batch`);
  const config = {
    cniVersion: "1.1.0",
    name: NETWORK,
    type: "seamless-static-route",
    stateDir: state.path,
    "cni.dev/valid-attachments": [],
  };
  const r = await runPlugin(bin, { command: "GC", config, env: { TMPDIR: tmp.path } });
  assert.deepEqual([r.code, r.stdout], [0, ""], r.stderr);
  assert.deepEqual([...Deno.readDirSync(tmp.path)].map((e) => e.name).sort(), [
    "other-tool-1.batch",
    "seamless-static-route-l.batch",
    "seamless-static-route-running.batch",
    "seamless-static-route-x.txt",
  ]);
});
