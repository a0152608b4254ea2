/**
 * The attachment's files and lock as the filesystem and concurrency treat them: names longer than
 * a file name may be, objects planted at the files' names, a lock held by someone else, a GC that
 * races an ADD, and CHECK of a pod whose interface went. DEL ends with exit 0 in each.
 */
import assert from "node:assert/strict";
import { ipIn, LAB, type PluginLab, tableText } from "../../testing/mod.ts";
import { labTest } from "../support/lab_test.ts";
import { stateExists } from "../support/fixtures.ts";
import { statePath } from "../../src/state.ts";

const NETWORK = "files";

/** The first pod's invocation of a seamless config named `network`, `fields` added. */
function podInv(
  e2e: PluginLab,
  id: string,
  fields: Record<string, unknown> = {},
  network = NETWORK,
) {
  return e2e.invocation(id, e2e.config(network, "seamless-static-route", fields));
}

/** The lock file of this network's attachment `id`@eth0 under `stateDir`. */
function lockFileOf(stateDir: string, id: string): string {
  return statePath(stateDir, NETWORK, id, "eth0").replace(/\.json$/, ".lock");
}

/** Every file name under `dir`, recursively, relative to it. */
function namesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(dir)) {
    out.push(e.name);
    if (e.isDirectory) out.push(...namesUnder(`${dir}/${e.name}`).map((n) => `${e.name}/${n}`));
  }
  return out.sort();
}

/** Sets the times of every file of an attachment to an hour ago (older than GC's grace). */
function age(path: string): void {
  const old = new Date(Date.now() - 3600_000);
  const dir = path.slice(0, path.lastIndexOf("/"));
  const base = path.slice(dir.length + 1, -".json".length);
  for (const e of Deno.readDirSync(dir)) {
    if (e.name.startsWith(base)) Deno.utimeSync(`${dir}/${e.name}`, old, old);
  }
}

labTest(
  "files: a container id and a network name too long for a file name still ADD, GC and DEL",
  async (e2e) => {
    const { lab, state } = e2e;
    const id = `c${"0123456789abcdef".repeat(20)}`; // 321 characters
    const network = `n${"network-".repeat(40)}`; // 321 characters
    const inv = podInv(e2e, id, {}, network);
    const before = await tableText(lab.pod);
    const add = await e2e.run("ADD", inv);
    assert.equal(add.code, 0, add.stdout);
    assert.ok((await tableText(lab.pod)).includes(`${LAB.nodeIp} via 10.131.0.1 dev eth0`));
    assert.equal((await e2e.run("CHECK", inv)).code, 0);
    const names = namesUnder(state.path);
    for (const part of names.flatMap((n) => n.split("/"))) assert.ok(part.length <= 255, part);
    assert.ok(await stateExists(state.path, network, id, "eth0"), names.join(" "));
    // A second attachment of the same long id differs only past the readable prefix.
    const other = `${id.slice(0, -1)}X`;
    assert.notEqual(
      statePath(state.path, network, id, "eth0"),
      statePath(state.path, network, other, "eth0"),
    );

    // GC matches the runtime's list against the mapped names.
    age(statePath(state.path, network, id, "eth0"));
    const gcConfig = (valid: unknown[]) => ({
      cniVersion: "1.1.0",
      name: network,
      type: "seamless-static-route",
      stateDir: state.path,
      "cni.dev/valid-attachments": valid,
    });
    const gc = await e2e.run("GC", {
      ...inv,
      config: gcConfig([{ containerID: id, ifname: "eth0" }]),
    });
    assert.equal(gc.code, 0, gc.stdout);
    assert.ok(await stateExists(state.path, network, id, "eth0"), "GC removed a valid attachment");

    const del = await e2e.run("DEL", inv);
    assert.equal(del.code, 0, `${del.stdout} ${del.stderr}`);
    assert.deepEqual(await tableText(lab.pod), before);
    assert.equal(await stateExists(state.path, network, id, "eth0"), false);

    // And a stale one goes.
    assert.equal((await e2e.run("ADD", inv)).code, 0);
    age(statePath(state.path, network, id, "eth0"));
    assert.equal((await e2e.run("GC", { ...inv, config: gcConfig([]) })).code, 0);
    assert.equal(await stateExists(state.path, network, id, "eth0"), false);
  },
);

for (const suffix of [".lock", ".json", ".batch"]) {
  labTest(
    `files: a directory planted at the ${suffix} file: ADD refuses, DEL ends 0`,
    async (e2e) => {
      const { lab, state } = e2e;
      const inv = podInv(e2e, "planted");
      const before = await tableText(lab.pod);
      const planted = statePath(state.path, NETWORK, "planted", "eth0").replace(/\.json$/, suffix);
      await Deno.mkdir(`${planted}/inside`, { recursive: true, mode: 0o700 });

      const add = await e2e.run("ADD", inv);
      assert.equal(add.code, 1, add.stdout);
      assert.equal(add.json.code, 5, add.stdout);
      assert.ok(String(add.json.msg).includes(planted), add.json.msg);
      assert.deepEqual(await tableText(lab.pod), before);
      for (let i = 0; i < 2; i++) {
        const del = await e2e.run("DEL", inv);
        assert.equal(del.code, 0, `${del.stdout} ${del.stderr}`);
        assert.equal(del.stdout, "");
        assert.match(del.stderr, /ERROR/);
      }
      assert.deepEqual(await tableText(lab.pod), before);
    },
  );
}

labTest(
  "files: a held attachment lock bounds ADD and CHECK (code 11) and DEL (exit 0)",
  async (e2e) => {
    const { lab, state } = e2e;
    const inv = podInv(e2e, "held", { hostRoute: { timeoutSeconds: 1 } });
    const before = await tableText(lab.pod);
    assert.equal((await e2e.run("ADD", inv)).code, 0);
    const afterAdd = await tableText(lab.pod);
    const lockPath = lockFileOf(state.path, "held");
    {
      using holder = Deno.openSync(lockPath, { write: true });
      holder.lockSync(true);
      for (const command of ["ADD", "CHECK"]) {
        const r = await e2e.run(command, inv);
        assert.equal(r.code, 1, r.stdout);
        assert.equal(r.json.code, 11, r.stdout);
        assert.match(
          String(r.json.msg),
          /is still held by another ADD, DEL or CHECK of it after 1 s/,
        );
      }
      const del = await e2e.run("DEL", inv);
      assert.equal(del.code, 0, `${del.stdout} ${del.stderr}`);
      assert.match(del.stderr, /still held .*: DEL changes no route/);
      assert.deepEqual(await tableText(lab.pod), afterAdd);
      assert.ok(await stateExists(state.path, NETWORK, "held", "eth0"), "DEL dropped the record");
    }
    // Released: the DEL the runtime sends again reverts.
    assert.equal((await e2e.run("DEL", inv)).code, 0);
    assert.deepEqual(await tableText(lab.pod), before);
  },
);

labTest(
  "files: an ADD that finds its attachment's lock held waits for it, then plans as usual",
  async (e2e) => {
    const { lab, state } = e2e;
    const inv = podInv(e2e, "waits", { addroutes: [{ dst: "10.83.0.0/16" }] });
    const before = await tableText(lab.pod);
    assert.equal((await e2e.run("ADD", inv)).code, 0);
    const afterAdd = await tableText(lab.pod);
    const lockPath = lockFileOf(state.path, "waits");
    const holder = Deno.openSync(lockPath, { write: true });
    holder.lockSync(true);
    // The ADD cannot begin before its config is checked (the lock is busy): it takes the lock
    // once it is released, within its wait, and reads the table then.
    const again = e2e.run("ADD", inv);
    await new Promise((r) => setTimeout(r, 500));
    holder.close();
    const r = await again;
    assert.equal(r.code, 0, `${r.stdout} ${r.stderr}`);
    assert.deepEqual(await tableText(lab.pod), afterAdd);
    assert.equal((await e2e.run("DEL", inv)).code, 0);
    assert.deepEqual(await tableText(lab.pod), before);
  },
);

labTest(
  "files: GC keeps an attachment being added or just added; collects it once old",
  async (e2e) => {
    const { state } = e2e;
    const inv = podInv(e2e, "fresh");
    assert.equal((await e2e.run("ADD", inv)).code, 0);
    const path = statePath(state.path, NETWORK, "fresh", "eth0");
    // The runtime's list was made before this ADD: it does not hold the attachment.
    const gc = {
      cniVersion: "1.1.0",
      name: NETWORK,
      type: "seamless-static-route",
      stateDir: state.path,
      "cni.dev/valid-attachments": [],
    };
    assert.equal((await e2e.run("GC", { ...inv, config: gc })).code, 0);
    assert.ok(await stateExists(state.path, NETWORK, "fresh", "eth0"), "GC removed a fresh record");
    age(path);
    {
      // An ADD of it holds the lock while GC looks.
      using holder = Deno.openSync(path.replace(/\.json$/, ".lock"), { write: true });
      holder.lockSync(true);
      assert.equal((await e2e.run("GC", { ...inv, config: gc })).code, 0);
      assert.ok(
        await stateExists(state.path, NETWORK, "fresh", "eth0"),
        "GC removed a locked record",
      );
    }
    assert.equal((await e2e.run("GC", { ...inv, config: gc })).code, 0);
    assert.equal(await stateExists(state.path, NETWORK, "fresh", "eth0"), false);
  },
);

labTest("files: CHECK of a pod whose interface went is code 101, not 7", async (e2e) => {
  const { lab } = e2e;
  const inv = podInv(e2e, "gone");
  assert.equal((await e2e.run("ADD", inv)).code, 0);
  await ipIn(lab.pod, "link", "set", "eth0", "down");
  await ipIn(lab.pod, "link", "set", "eth0", "name", "eth9");
  const check = await e2e.run("CHECK", inv);
  assert.equal(check.code, 1, check.stdout);
  assert.equal(check.json.code, 101, check.stdout);
  assert.equal(
    check.json.msg,
    "the pod has no interface eth0 (it has: eth9): the pod is no longer as ADD left it",
  );
  assert.equal((await e2e.run("DEL", inv)).code, 0);
});
