/** The state file as untrusted input: safe writes, strict reads (no root needed). */
import assert from "node:assert/strict";
import { composeRecords } from "../../src/commands/add.ts";
import {
  addedRouteBound,
  attachmentNames,
  type AttachmentState,
  batchPath,
  hasState,
  listStates,
  lockAttachment,
  MAX_STATE_BYTES,
  mayExist,
  readState,
  removeAttachmentFiles,
  StateFileError,
  statePath,
  writeState,
} from "../../src/state.ts";
import { type Route, routeOpArgs } from "../../src/route.ts";
import { sha256Hex } from "../../src/sha256.ts";
import { parseConfig } from "../../src/config.ts";
import { desiredRoutes } from "../../src/desired.ts";
import { emptySnapshot } from "../../src/snapshot.ts";
import { CniError } from "../../src/cni/errors.ts";

const ID = { network: "net", containerId: "c1", ifname: "eth0" };

function sample(): AttachmentState {
  return {
    version: 1,
    ...ID,
    netns: "/var/run/netns/p",
    added: [{
      family: 4,
      dst: "192.0.2.1/32",
      gateway: "10.0.0.1",
      dev: "eth0",
      table: "main",
      metric: 0,
    }],
    deleted: [{
      family: 4,
      dst: "0.0.0.0/0",
      table: "main",
      metric: 0,
      nexthops: [{ gateway: "10.0.0.1", dev: "eth0", weight: 1 }, {
        gateway: "10.0.0.2",
        dev: "eth0",
        weight: 2,
      }],
    }],
  };
}

async function withDir(fn: (dir: string) => void | Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "ssr-state-unit-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("state: a written state reads back equal, 0600 in a 0700 directory", () =>
  withDir((dir) => {
    const path = statePath(dir, ID.network, ID.containerId, ID.ifname);
    writeState(path, sample());
    assert.deepEqual(readState(path, ID), sample());
    assert.equal(Deno.statSync(path).mode! & 0o777, 0o600);
    assert.equal(Deno.statSync(`${dir}/net`).mode! & 0o777, 0o700);
    assert.deepEqual([...Deno.readDirSync(`${dir}/net`)].map((e) => e.name), ["c1@eth0.json"]);
    assert.equal(
      readState(statePath(dir, "net", "other", "eth0"), { ...ID, containerId: "other" }),
      null,
    );
  }));

Deno.test("state: numeric fields that would smuggle ip commands are refused on read", () =>
  withDir((dir) => {
    const path = statePath(dir, ID.network, ID.containerId, ID.ifname);
    writeState(path, sample());
    const evil: unknown[] = [
      { metric: "0\nnetns exec x /bin/sh" },
      { metric: 1.5 },
      { metric: -1 },
      { mtu: "1400 table 5" },
      { advmss: 2 ** 33 },
      { dev: "eth0\nroute flush all" },
      { gateway: "10.0.0.1 dev lo" },
      { table: "main\nlink set lo down" },
      { family: 5 },
      { surprise: 1 },
      { nexthops: [{ gateway: "10.0.0.1", dev: "eth0", weight: "1\nroute flush all" }] },
      { nexthops: [{ gateway: "10.0.0.1", dev: "eth0", weight: 0 }] },
      { nexthops: [{ gateway: "10.0.0.1", dev: "eth0", extra: "x" }] },
    ];
    for (const patch of evil) {
      const s = sample();
      Object.assign(s.added[0]!, patch);
      Deno.writeTextFileSync(path, JSON.stringify(s), { mode: 0o600 });
      assert.throws(() => readState(path, ID), StateFileError, JSON.stringify(patch));
    }
  }));

Deno.test("state: a record of another attachment, an empty or oversized file are refused", () =>
  withDir((dir) => {
    const path = statePath(dir, ID.network, ID.containerId, ID.ifname);
    writeState(path, sample());
    assert.throws(() => readState(path, { ...ID, ifname: "net1" }), /ifname "eth0" is not/);
    Deno.writeTextFileSync(path, "", { mode: 0o600 });
    assert.throws(() => readState(path, ID), StateFileError);
    Deno.truncateSync(path, MAX_STATE_BYTES + 1);
    assert.throws(() => readState(path, ID), /larger than/);
  }));

Deno.test("state: a symlink at the state path or an unsafe directory is never followed", () =>
  withDir((dir) => {
    const victim = `${dir}/victim`;
    Deno.writeTextFileSync(victim, "precious\n");
    Deno.mkdirSync(`${dir}/net`, { mode: 0o700 });
    const path = statePath(dir, ID.network, ID.containerId, ID.ifname);
    Deno.symlinkSync(victim, path);
    assert.throws(() => readState(path, ID), /not a regular file/);
    // Writing replaces the link itself (rename), never the file it points to.
    writeState(path, sample());
    assert.equal(Deno.readTextFileSync(victim), "precious\n");
    assert.ok(Deno.lstatSync(path).isFile);
    // A directory others may write to cannot hold trusted state.
    Deno.chmodSync(`${dir}/net`, 0o777);
    assert.throws(() => readState(path, ID), /writable by group or others/);
    assert.throws(() => writeState(path, sample()), /writable by group or others/);
    Deno.chmodSync(`${dir}/net`, 0o700);
    Deno.removeSync(`${dir}/net`, { recursive: true });
    Deno.symlinkSync(dir, `${dir}/net`);
    assert.throws(() => writeState(path, sample()), /is a symbolic link/);
  }));

Deno.test("routeOpArgs: numbers are whole and in range, whatever their source", () => {
  const base = { family: 4, dst: "10.0.0.0/8", table: "main", metric: 0, dev: "eth0" };
  // Routes as a tampered file could hold them: the types say number, the JSON says otherwise.
  const op = (action: "add" | "del", patch: Record<string, unknown>) => () =>
    routeOpArgs({ action, route: { ...base, ...patch } as unknown as Route, reason: "t" });
  assert.throws(op("del", { metric: "0\nroute flush all" }), /invalid metric/);
  assert.throws(op("del", { metric: 2 ** 32 }), /invalid metric/);
  assert.throws(op("add", { mtu: "9000 table 7" }), /invalid mtu/);
  assert.deepEqual(op("del", { metric: 4294967295 })().slice(-2), ["metric", "4294967295"]);
});

Deno.test("state: a symlink or FIFO planted at the lock path is never followed or opened", () =>
  withDir((dir) => {
    const path = statePath(dir, ID.network, ID.containerId, ID.ifname);
    Deno.mkdirSync(`${dir}/net`, { mode: 0o700 });
    const outside = `${dir}/outside`;
    Deno.symlinkSync(outside, `${dir}/net/c1@eth0.lock`);
    const lock = lockAttachment(path);
    assert.ok(lock);
    assert.throws(() => Deno.lstatSync(outside), Deno.errors.NotFound);
    assert.ok(Deno.lstatSync(`${dir}/net/c1@eth0.lock`).isFile);
    lock.remove();
    lock[Symbol.dispose]();
    // A FIFO would block open() forever: it is replaced instead (the test would hang otherwise).
    new Deno.Command("mkfifo", { args: [`${dir}/net/c1@eth0.lock`] }).outputSync();
    using again = lockAttachment(path, false);
    assert.ok(again);
    assert.ok(Deno.lstatSync(`${dir}/net/c1@eth0.lock`).isFile);
  }));

Deno.test("state: removing an attachment's files takes its record, batch and crash temp files", () =>
  withDir((dir) => {
    const path = statePath(dir, ID.network, ID.containerId, ID.ifname);
    writeState(path, sample());
    for (const f of [`${path}.6f1c2a9e-1b2c-4d5e-8f90-123456789abc.tmp`, batchPath(path)]) {
      Deno.writeTextFileSync(f, "", { mode: 0o600 });
    }
    Deno.writeTextFileSync(`${dir}/net/c2@eth0.json`, "{}", { mode: 0o600 });
    removeAttachmentFiles(path);
    assert.deepEqual([...Deno.readDirSync(`${dir}/net`)].map((e) => e.name), ["c2@eth0.json"]);
  }));

Deno.test("composeRecords: a repeated ADD keeps the first ADD's routes and restores only the pod's", () => {
  const r = (dst: string): Route => ({
    family: 4,
    dst,
    gateway: "10.0.0.1",
    dev: "eth0",
    table: "main",
    metric: 0,
  });
  const first = { added: [r("192.0.2.0/24")], deleted: [r("0.0.0.0/0")] };
  // The second ADD deletes the first's route (delroutes) and adds another: if it is killed
  // before its batch lands, the first's route is still there and DEL must still remove it.
  const second = { added: [r("198.51.100.0/24")], deleted: [r("192.0.2.0/24")] };
  assert.deepEqual(composeRecords(first, second), {
    added: [r("192.0.2.0/24"), r("198.51.100.0/24")],
    deleted: [r("0.0.0.0/0")],
  });
});

Deno.test("state: names too long for a file name map to distinct, bounded, stable names", () => {
  const long = `c${"0123456789".repeat(30)}`;
  const a = statePath("/s", "net", long, "eth0");
  const b = statePath("/s", "net", `${long.slice(0, -1)}x`, "eth0");
  assert.notEqual(a, b);
  assert.equal(a, statePath("/s", "net", long, "eth0"));
  for (const p of [a, b]) {
    const name = p.slice("/s/net/".length);
    // Room for the longest suffix the record's temp file adds (`.json` → `.json.<uuid>.tmp`).
    assert.ok(name.length - ".json".length + 46 <= 255, name);
    assert.match(name, /^c0123456789.*~[0-9a-f]{32}\.json$/);
  }
  // Names that fit keep today's form, so an upgraded node finds its records.
  assert.equal(statePath("/s", "net", "c1", "eth0"), "/s/net/c1@eth0.json");
  const longNet = `n${"x".repeat(300)}`;
  const dir = statePath("/s", longNet, "c1", "eth0").split("/")[2]!;
  assert.ok(dir.length <= 255 && dir.includes("~"), dir);
});

Deno.test("sha256Hex: agrees with Web Crypto", async () => {
  for (const text of ["", "abc", "x".repeat(55), "y".repeat(56), "z".repeat(1000), "héllo"]) {
    const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
    const hex = [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
    assert.equal(sha256Hex(text), hex, text);
  }
});

Deno.test("state: writeState refuses a record larger than MAX_STATE_BYTES with code 7", () =>
  withDir((dir) => {
    const path = statePath(dir, ID.network, ID.containerId, ID.ifname);
    const route = sample().added[0]!;
    const many = Array.from({
      length: Math.ceil(MAX_STATE_BYTES / JSON.stringify(route).length) + 1,
    }, () => route);
    assert.throws(
      () => writeState(path, { ...sample(), deleted: many }),
      (e: unknown) => e instanceof CniError && e.code === 7 && /DEL reads back/.test(e.message),
    );
    assert.equal(hasState(path), false);
  }));

Deno.test("removing c@x's files leaves the temp record of c@x.json.y (a VLAN-like ifname)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    Deno.mkdirSync(`${dir}/net`, { mode: 0o700 });
    const mine = statePath(dir, "net", "c", "x");
    const other = statePath(dir, "net", "c", "x.json.y");
    Deno.writeTextFileSync(mine, "{}");
    Deno.writeTextFileSync(other, "{}");
    // c@x's own crash leftover goes; what writeState of c/x.json.y has open stays.
    const mineTmp = `${mine}.${crypto.randomUUID()}.tmp`;
    const otherTmp = `${other}.${crypto.randomUUID()}.tmp`;
    Deno.writeTextFileSync(mineTmp, "{}");
    Deno.writeTextFileSync(otherTmp, "{}");
    assert.deepEqual((await listStates(dir, "net")).map((e) => e.base).sort(), [
      "c@x",
      "c@x.json.y",
    ]);
    removeAttachmentFiles(mine); // DEL or GC of c/x
    const left = [...Deno.readDirSync(`${dir}/net`)].map((e) => e.name).sort();
    const name = (p: string): string => p.slice(`${dir}/net/`.length);
    assert.deepEqual(left, [name(other), name(otherTmp)].sort());
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("DEL's one listing of c@x names only c@x's files for it, whatever shares the prefix", async () => {
  const dir = await Deno.makeTempDir();
  try {
    Deno.mkdirSync(`${dir}/net`, { mode: 0o700 });
    const long = "c".repeat(230);
    const mine = statePath(dir, "net", "c", "x");
    const others = [
      statePath(dir, "net", "c", "x.json.y"),
      statePath(dir, "net", "c", "xy"),
      statePath(dir, "net", "c", "x.batch"),
      statePath(dir, "net", long, "x"),
    ];
    for (const p of others) {
      Deno.writeTextFileSync(p, "{}");
      Deno.writeTextFileSync(batchPath(p), "");
      Deno.writeTextFileSync(`${p}.${crypto.randomUUID()}.tmp`, "{}");
    }
    const before = [...Deno.readDirSync(`${dir}/net`)].map((e) => e.name).sort();
    // Nothing of c/x yet: the listing says so, for the record and the batch file alike.
    let names = attachmentNames(mine);
    assert.ok(names);
    assert.ok(!mayExist(names, mine) && !mayExist(names, batchPath(mine)));
    removeAttachmentFiles(mine, names);
    assert.deepEqual([...Deno.readDirSync(`${dir}/net`)].map((e) => e.name).sort(), before);
    // Its record, batch and temp file: listed, then removed, and nothing else.
    Deno.writeTextFileSync(mine, "{}");
    Deno.mkdirSync(batchPath(mine)); // a directory planted at the batch name counts too
    Deno.writeTextFileSync(`${mine}.${crypto.randomUUID()}.tmp`, "{}");
    names = attachmentNames(mine);
    assert.ok(names && mayExist(names, mine) && mayExist(names, batchPath(mine)));
    removeAttachmentFiles(mine, names);
    assert.deepEqual([...Deno.readDirSync(`${dir}/net`)].map((e) => e.name).sort(), before);
    // An unlistable directory gives no listing: every file may be there.
    assert.equal(attachmentNames(statePath(dir, "gone", "c", "x")), null);
    assert.ok(mayExist(null, mine));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("state: a directory above stateDir that another user owns or can write is refused", () =>
  withDir((dir) => {
    Deno.chmodSync(dir, 0o755);
    Deno.mkdirSync(`${dir}/shared`, { mode: 0o755 });
    Deno.chownSync(`${dir}/shared`, 65534, 65534); // nobody could rename stateDir away
    const path = statePath(`${dir}/shared/state`, ID.network, ID.containerId, ID.ifname);
    assert.throws(() => writeState(path, sample()), /shared is owned by uid 65534/);
    assert.throws(() => lockAttachment(path), /shared is owned by uid 65534/);
    assert.throws(() => Deno.lstatSync(`${dir}/shared/state`), Deno.errors.NotFound);
    // Root's again but group-writable: same; a state record there is not read either.
    Deno.chownSync(`${dir}/shared`, 0, 0);
    writeState(path, sample());
    Deno.chmodSync(`${dir}/shared`, 0o775);
    assert.throws(() => readState(path, ID), /shared is writable by group or others/);
    assert.throws(() => writeState(path, sample()), /shared is writable by group or others/);
    // Root's link in a root-only directory above stateDir (think /var/run -> /run) is fine.
    Deno.chmodSync(`${dir}/shared`, 0o755);
    Deno.symlinkSync(`${dir}/shared`, `${dir}/link`);
    const viaLink = statePath(`${dir}/link/state`, ID.network, ID.containerId, ID.ifname);
    assert.equal(readState(viaLink, ID)?.containerId, ID.containerId);
    using _lock = lockAttachment(viaLink);
  }));

Deno.test("state: addedRouteBound holds the longest route an addroute can give a record", () => {
  const v6 = (i: number) => `ffff:ffff:ffff:ffff:ffff:ffff:ffff:${(0xff00 + i).toString(16)}`;
  const longest = {
    dst: "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128",
    mtu: 65535,
    advmss: 65535,
    priority: 4294967295,
    table: 4294967294,
    scope: 253,
  };
  for (const hops of [0, 1, 2, 32]) {
    const route = hops < 2
      ? { ...longest, ...(hops ? { gw: v6(0) } : {}) }
      : { ...longest, gws: Array.from({ length: hops }, (_, i) => v6(i)) };
    const config = parseConfig({
      cniVersion: "1.0.0",
      name: "n",
      type: "route-override",
      addroutes: [route],
    });
    // The longest interface name: 15 characters.
    const d = desiredRoutes(config, "a".repeat(15), emptySnapshot(), {}, {})[0]!;
    assert.equal(d.route.nexthops?.length ?? (d.route.gateway ? 1 : 0), hops);
    const bytes = new TextEncoder().encode(JSON.stringify(d.route) + ",").length;
    assert.ok(bytes <= addedRouteBound(hops), `${bytes} bytes for ${hops} hops`);
  }
});
