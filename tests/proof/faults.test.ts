/**
 * Faults: an `ip` that fails on the Nth batch line (also during the rollback, or before a
 * route-override retry whose `ip` cannot start), a route the kernel refuses, the netns deleted
 * between ADD and DEL, an unwritable state directory, and the plugin SIGKILLed mid-ADD followed
 * by DEL. Each must end in a correct table (rolled back or
 * cleaned), the right exit code and a CNI error JSON that says what happened.
 */
import assert from "node:assert/strict";
import {
  ipIn,
  IS_ROOT,
  LAB,
  PluginLab,
  type PluginRun,
  prevResultFor,
  run,
  tableText,
} from "../../testing/mod.ts";
import { labTest } from "../support/lab_test.ts";
import { stateExists } from "../support/fixtures.ts";
import { batchPath, MAX_STATE_BYTES, statePath } from "../../src/state.ts";
import { FaultyIp } from "../support/faultip.ts";
import { isCniError, sorted, stateFiles, withTimeout } from "../support/proof.ts";

const NETWORK = "ssrfaults";
const ID = "faultpod1";

/**
 * A config whose ADD is one 5-line batch: del default (flushgateway), add default metric 100,
 * add 10.60/16, add 10.61/16, add the host route.
 */
function fiveLineConfig(e2e: PluginLab, stateDir: string = e2e.state.path) {
  return e2e.config(NETWORK, "seamless-static-route", {
    stateDir,
    flushgateway: true,
    addroutes: [
      { dst: "0.0.0.0/0", gw: "10.131.0.1", priority: 100 },
      { dst: "10.60.0.0/16" },
      { dst: "10.61.0.0/16" },
    ],
  });
}

/** A route-override config adding 10.60, 10.61 and 10.62.0.0/16 via the pod's gateway. */
function threeRouteOverride(e2e: PluginLab) {
  return e2e.config(NETWORK, "route-override", {
    addroutes: ["10.60", "10.61", "10.62"].map((p) => ({ dst: `${p}.0.0/16`, gw: "10.131.0.1" })),
  });
}

function add(e2e: PluginLab, config: unknown, env?: Record<string, string>) {
  return e2e.run("ADD", { ...e2e.invocation(ID, config), env });
}

function del(e2e: PluginLab, config: unknown) {
  return e2e.run("DEL", e2e.invocation(ID, config));
}

/** The plugin's own `ip` calls (runPlugin's `ip netns exec` goes through the fake `ip` too). */
async function pluginIpCalls(ip: FaultyIp): Promise<string[]> {
  return (await ip.calls()).filter((c) => !c.startsWith("netns exec "));
}

/** Asserts a failed run: exit 1, stdout exactly one CNI error JSON of `code`, no stack trace. */
function assertCniError(r: PluginRun, code: number, cniVersion = "1.0.0"): void {
  assert.equal(r.code, 1, `exit code; stdout ${r.stdout} stderr ${r.stderr}`);
  assert.ok(isCniError(r.json), `not a CNI error: ${r.stdout}`);
  assert.equal(r.stdout.trim().split("\n").length, 1);
  assert.equal(r.json.code, code, r.json.msg);
  assert.equal(r.json.cniVersion, cniVersion);
  assert.doesNotMatch(r.stdout, /\n\s+at /);
}

labTest(
  "proof: ADD runs one ip process (its read, then its write batch, on ip's stdin)",
  async (e2e) => {
    const { lab } = e2e;
    await using ip = await FaultyIp.create({});
    const cfg = fiveLineConfig(e2e);
    const r = await add(e2e, cfg, { PATH: ip.path });
    assert.equal(r.code, 0, r.stdout);
    const calls = await pluginIpCalls(ip);
    // The read and the write go through one `ip -j -batch -`; no file holds either.
    assert.deepEqual(calls, [`-n ${lab.pod} -j -d -N -batch -`]);
    assert.ok(!await ip.has("batch.2"));
    const lines = (await ip.batch(1) ?? "").split("\n").filter((l) => l !== "");
    const expected = [
      /^route del 0\.0\.0\.0\/0 via 10\.131\.0\.1 dev eth0\b/,
      /^route add 0\.0\.0\.0\/0 via 10\.131\.0\.1 dev eth0\b.* metric 100\b/,
      /^route add 10\.60\.0\.0\/16 via 10\.131\.0\.1 dev eth0\b/,
      /^route add 10\.61\.0\.0\/16 via 10\.131\.0\.1 dev eth0\b/,
      /^route add 192\.168\.100\.10\/32 via 10\.131\.0\.1 dev eth0\b/,
    ];
    assert.equal(lines.length, expected.length, lines.join("\n"));
    lines.forEach((l, i) => assert.match(l, expected[i]!));
    assert.equal((await del(e2e, cfg)).code, 0);
  },
);

labTest(
  "proof: ip fails on batch line 4 → lines 1-3 rolled back, code 100, table unchanged",
  async (e2e) => {
    const { lab, state: tmp } = e2e;
    await using ip = await FaultyIp.create({ failAtLine: 4 });
    const before = await tableText(lab.pod);
    const r = await add(e2e, fiveLineConfig(e2e), { PATH: ip.path });
    assertCniError(r, 100);
    assert.match(r.json.msg, /route add 10\.61\.0\.0\/16 via 10\.131\.0\.1 dev eth0/);
    assert.match(r.json.msg, /injected fault on line 4/);
    assert.deepEqual(await tableText(lab.pod), before);
    assert.deepEqual(await stateFiles(tmp.path, NETWORK), []);
    // Read and failed write (one ip), re-read, rollback write.
    const calls = await pluginIpCalls(ip);
    assert.equal(calls.length, 3, calls.join("\n"));
    assert.equal(calls.filter((c) => c.includes("-j")).length, 2);
  },
);

for (const failAt of [10, 40]) {
  labTest(
    `proof: 70 route-override addroutes, ip refuses line ${failAt} → that one skipped, all else ` +
      "added; DEL restores",
    async (e2e) => {
      // ADD plans the first 28 addroutes, records them and hands them to ip, then plans and
      // records the rest while ip applies them (planInParts): line 10 is in the first part,
      // line 40 in the rest. The refusal is one the planner did not foresee: skipped, and a new
      // ip applies the lines after it.
      const { lab } = e2e;
      await using ip = await FaultyIp.create({ failAtLine: failAt });
      const dsts = Array.from({ length: 70 }, (_, i) => `10.88.${i}.0/24`);
      const cfg = e2e.config(NETWORK, "route-override", {
        addroutes: dsts.map((dst) => ({ dst, gw: "10.131.0.1" })),
      });
      const before = await tableText(lab.pod);
      const r = await add(e2e, cfg, { PATH: ip.path });
      assert.equal(r.code, 0, r.stdout);
      const skipped = dsts[failAt - 1]!;
      assert.match(
        r.stderr,
        new RegExp(`skipped route ${skipped} via .*\\(addroutes\\[${failAt - 1}\\]\\)`),
      );
      const want = dsts.filter((d) => d !== skipped).map((d) => `${d} via 10.131.0.1 dev eth0`);
      assert.deepEqual(await tableText(lab.pod), sorted([...before, ...want]));
      assert.deepEqual(
        (r.json.routes as { dst: string }[]).map((x) => x.dst).filter((d) =>
          d.startsWith("10.88.")
        ),
        dsts.filter((d) => d !== skipped),
      );
      assert.equal((await del(e2e, cfg)).code, 0);
      assert.deepEqual(await tableText(lab.pod), before);
    },
  );
}

labTest("proof: the rollback fails too → code 103 saying the pod needs attention", async (e2e) => {
  const { lab } = e2e;
  // Batch 1 fails on line 3 (after del default + add default metric 100); the rollback batch
  // (del default metric 100, add default) fails on its last line.
  await using ip = await FaultyIp.create({ failAtLine: 3, failBatches: 2 });
  const before = await tableText(lab.pod);
  const r = await add(e2e, fiveLineConfig(e2e), { PATH: ip.path });
  assertCniError(r, 103);
  assert.match(r.json.msg, /restoring the pod's routes failed too/);
  assert.equal(typeof r.json.details, "string");
  // Half-restored, as 103 says: the default route is gone.
  assert.notDeepEqual(await tableText(lab.pod), before);
  assert.ok(!(await tableText(lab.pod)).some((l) => l.startsWith("default")));
  // The record of the whole plan stays (docs/lifecycle.md says so): the DEL the runtime sends
  // for the failed pod tries the revert again and, with a working ip, puts the table back.
  assert.equal((await stateFiles(e2e.state.path, NETWORK)).length, 1);
  assert.equal((await del(e2e, fiveLineConfig(e2e))).code, 0);
  assert.deepEqual(await tableText(lab.pod), before);
  assert.deepEqual(await stateFiles(e2e.state.path, NETWORK), []);
});

labTest(
  "proof: a route the kernel refuses (gateway not on-link) → code 100, table unchanged",
  async (e2e) => {
    const { lab, state: tmp } = e2e;
    const before = await tableText(lab.pod);
    const cfg = {
      cniVersion: "1.0.0",
      name: NETWORK,
      type: "seamless-static-route",
      stateDir: tmp.path,
      addroutes: [{ dst: "10.60.0.0/16" }, { dst: "10.50.0.0/16", gw: "172.31.9.9" }],
      prevResult: prevResultFor(lab),
    };
    const r = await add(e2e, cfg);
    assertCniError(r, 100);
    assert.match(r.json.msg, /route add 10\.50\.0\.0\/16 via 172\.31\.9\.9 dev eth0/);
    assert.match(r.json.msg + (r.json.details ?? ""), /Nexthop has invalid gateway/);
    assert.deepEqual(await tableText(lab.pod), before);
    assert.deepEqual(await stateFiles(tmp.path, NETWORK), []);
  },
);

labTest(
  "proof: netns deleted between ADD and DEL → DEL exits 0 and removes the state",
  async (e2e) => {
    const { lab, state: tmp } = e2e;
    const cfg = { ...fiveLineConfig(e2e), flushgateway: false, addroutes: [] };
    const a = await add(e2e, cfg);
    assert.equal(a.code, 0, a.stdout);
    assert.ok(await stateExists(tmp.path, NETWORK, ID, "eth0"));
    await run(["ip", "netns", "del", lab.pod]);
    const d = await del(e2e, cfg);
    assert.equal(d.code, 0, d.stdout);
    assert.equal(d.stdout, "");
    assert.deepEqual(await stateFiles(tmp.path, NETWORK), []);
    // And again (runtimes retry DEL): still fine.
    const again = await del(e2e, cfg);
    assert.equal(again.code, 0, again.stdout);
    assert.equal(again.stdout, "");
  },
);

labTest("proof: unwritable state directory → code 5, table unchanged", async (e2e) => {
  const { lab, state: tmp } = e2e;
  await Deno.writeTextFile(`${tmp.path}/a-file`, "not a directory\n");
  const stateDir = `${tmp.path}/a-file/state`;
  const before = await tableText(lab.pod);
  const r = await add(e2e, fiveLineConfig(e2e, stateDir));
  assertCniError(r, 5);
  assert.match(r.json.msg, /state file/);
  assert.ok(r.json.msg.includes(`${stateDir}/${NETWORK}/`), r.json.msg);
  assert.deepEqual(await tableText(lab.pod), before);
});

/**
 * Starts the plugin executable `exe` in the node namespace with exactly `env` and `cfg` on stdin
 * (`ip netns exec` and the wrapper exec, so the child's pid is the plugin's deno process).
 */
function startInNode(
  lab: { node: string },
  exe: string,
  env: Record<string, string>,
  cfg: unknown,
) {
  let pid = 0;
  const running = run(["ip", "netns", "exec", lab.node, exe], {
    stdin: JSON.stringify(cfg),
    env,
    clearEnv: true,
    onSpawn: (p) => (pid = p),
  });
  return { running, pid: () => pid };
}

/**
 * Starts ADD with a slow fake `ip`, SIGKILLs it while the write batch runs; then the batch
 * `lands` (DEL after it), is killed too (`ipKilled`), or is still pending when DEL runs.
 */
async function killMidAdd(mode: "lands" | "ipKilled" | "pendingAtDel"): Promise<void> {
  await using e2e = await PluginLab.create();
  const { lab, bin, state: tmp } = e2e;
  await using ip = await FaultyIp.create({ slowSeconds: 2 });
  const cfg = fiveLineConfig(e2e);
  const before = await tableText(lab.pod);
  const exe = bin.plugin();
  const env: Record<string, string> = {
    PATH: ip.path,
    HOME: Deno.env.get("HOME") ?? "/root",
    CNI_COMMAND: "ADD",
    CNI_CONTAINERID: ID,
    CNI_NETNS: lab.podNetns,
    CNI_IFNAME: "eth0",
    CNI_PATH: bin.dir,
    // A temp file of the plugin would go here (a SIGKILLed plugin cannot remove it): none may.
    TMPDIR: tmp.path,
  };
  const { running, pid } = startInNode(lab, exe, env, cfg);
  await ip.waitFor("started.1");
  Deno.kill(pid(), "SIGKILL");
  if (mode === "ipKilled") Deno.kill(await ip.slowPid(1), "SIGKILL");
  const out = await running;
  assert.equal(out.signal, "SIGKILL");
  assert.equal(out.stdout.length, 0);
  if (mode === "ipKilled") {
    await new Promise((r) => setTimeout(r, 2500)); // the orphaned sleep must not apply anything
    assert.equal(await ip.has("done.1"), false);
    assert.deepEqual(await tableText(lab.pod), before);
  } else if (mode === "lands") {
    // The batch outlives the plugin and lands: the routes are there, nobody reported them.
    await withTimeout(ip.waitFor("done.1"), 10_000, "slow ip batch");
    assert.ok((await tableText(lab.pod)).some((l) => l.startsWith(`${LAB.nodeIp} via`)));
  }
  // The plan was recorded before the batch ran.
  assert.ok(await stateExists(tmp.path, NETWORK, ID, "eth0"));
  // What a SIGKILL leaves: the batch file in the attachment's state directory (0600), naming
  // the ip that may still be applying the lines (pid, start time, name) for the next DEL;
  // nothing in TMPDIR.
  const batchFile = `${tmp.path}/${NETWORK}/${ID}@eth0.batch`;
  assert.equal((await Deno.stat(batchFile)).mode! & 0o777, 0o600);
  assert.match(
    await Deno.readTextFile(batchFile),
    new RegExp(`^${await ip.slowPid(1)} \\d+ ip\n$`),
  );
  const leftovers = [];
  for await (const e of Deno.readDir(tmp.path)) {
    if (e.name.startsWith("seamless-static-route-")) leftovers.push(e.name);
  }
  assert.deepEqual(leftovers, []);

  // The runtime cleans up with DEL (normal ip): a batch still pending is stopped first, and the
  // pod's table is exactly as before ADD, also once the stopped batch's time has passed.
  const d = await del(e2e, cfg);
  assert.equal(d.code, 0, d.stdout);
  assert.equal(d.stdout, "");
  assert.deepEqual(await tableText(lab.pod), sorted(before));
  if (mode === "pendingAtDel") {
    await new Promise((r) => setTimeout(r, 2500));
    assert.equal(await ip.has("done.1"), false);
    assert.deepEqual(await tableText(lab.pod), sorted(before));
  }
  assert.deepEqual([...Deno.readDirSync(`${tmp.path}/${NETWORK}`)].map((e) => e.name), []);
}

Deno.test({
  name: "proof: plugin SIGKILLed mid-ADD (its ip batch still lands) then DEL → table as before",
  ignore: !IS_ROOT,
  fn: () => killMidAdd("lands"),
});

Deno.test({
  name: "proof: plugin SIGKILLed mid-ADD, DEL while its ip batch is pending → stopped, as before",
  ignore: !IS_ROOT,
  fn: () => killMidAdd("pendingAtDel"),
});

Deno.test({
  name: "proof: plugin and its ip SIGKILLed mid-ADD (nothing lands) then DEL → table as before",
  ignore: !IS_ROOT,
  fn: () => killMidAdd("ipKilled"),
});

labTest(
  "proof: rollback (strict) undoes only the lines the kernel applied, not another writer's route",
  async (e2e) => {
    const { lab } = e2e;
    await using ip = await FaultyIp.create({ slowSeconds: 1 });
    const cfg = e2e.config(NETWORK, "route-override", {
      strict: true,
      addroutes: [
        { dst: "10.60.0.0/16", gw: "10.131.0.1" },
        { dst: "10.70.0.0/16", gw: "192.0.2.1" }, // not on-link: the kernel refuses line 2
        { dst: "10.61.0.0/16", gw: "10.131.0.1" },
      ],
    });
    const before = await tableText(lab.pod);
    const pending = add(e2e, cfg, { PATH: ip.path });
    await ip.waitFor("started.1");
    // Another writer adds the route of line 3 after the plugin read the table, before line 1 ran.
    const other = "10.61.0.0/16 via 10.131.0.1 dev eth0";
    await ipIn(lab.pod, "route", "add", ...other.split(" "));
    const r = await pending;
    assertCniError(r, 100);
    assert.match(r.json.msg, /route add 10\.70\.0\.0\/16 via 192\.0\.2\.1 dev eth0/);
    assert.deepEqual(await tableText(lab.pod), sorted([...before, other]));
    assert.deepEqual(await stateFiles(e2e.state.path, NETWORK), []);
  },
);

labTest(
  "proof: route-override semantics skip a line another writer took; the rest goes in, DEL undoes it",
  async (e2e) => {
    const { lab } = e2e;
    await using ip = await FaultyIp.create({ slowSeconds: 1 });
    const cfg = threeRouteOverride(e2e);
    const before = await tableText(lab.pod);
    const pending = add(e2e, cfg, { PATH: ip.path });
    await ip.waitFor("started.1");
    // Another writer takes line 2's place after the plugin read the table: the kernel says
    // "File exists", which the plan could not foresee. route-override v1 goes on; so does ADD.
    const other = "10.61.0.0/16 via 10.131.0.9 dev eth0";
    await ipIn(lab.pod, "route", "add", ...other.split(" "));
    const r = await pending;
    assert.equal(r.code, 0, `${r.stdout} ${r.stderr}`);
    const skipped = r.stderr.split("\n").filter((l) => l.includes("skipped route"));
    assert.equal(skipped.length, 1, r.stderr);
    assert.match(
      skipped[0]!,
      /10\.61\.0\.0\/16 via 10\.131\.0\.1 dev eth0 \(addroutes\[1\]\): the kernel refused it: .*File exists/,
    );
    assert.deepEqual(r.json.routes.map((x: { dst: string }) => x.dst), [
      "0.0.0.0/0",
      "10.60.0.0/16",
      "10.62.0.0/16",
    ]);
    const added = ["10.60.0.0/16 via 10.131.0.1 dev eth0", "10.62.0.0/16 via 10.131.0.1 dev eth0"];
    assert.deepEqual(await tableText(lab.pod), sorted([...before, other, ...added]));
    // The record was rewritten without the skipped line: DEL leaves the other writer's route.
    const record = JSON.parse(
      await Deno.readTextFile(statePath(e2e.state.path, NETWORK, ID, lab.podIfname)),
    );
    assert.deepEqual(record.added.map((x: { dst: string }) => x.dst), [
      "10.60.0.0/16",
      "10.62.0.0/16",
    ]);
    assert.equal((await del(e2e, cfg)).code, 0);
    assert.deepEqual(await tableText(lab.pod), sorted([...before, other]));
    assert.deepEqual(await stateFiles(e2e.state.path, NETWORK), []);
  },
);

labTest(
  "proof: route-override skips a refused line, its retry's ip cannot start → line 1 rolled back",
  async (e2e) => {
    const { lab } = e2e;
    // The session's write batch applies line 1 and fails at line 2 (a refusal the plan did not
    // foresee: route-override skips it); before it exits, the fake ip puts a non-empty directory
    // where ADD's guard file was, so the retry's ip (line 3) cannot start: an IoFailure.
    const guard = batchPath(statePath(e2e.state.path, NETWORK, ID, lab.podIfname));
    await using ip = await FaultyIp.create({ failAtLine: 2, plantDirAt: guard });
    const cfg = threeRouteOverride(e2e);
    const before = await tableText(lab.pod);
    const r = await add(e2e, cfg, { PATH: ip.path });
    assert.ok((await Deno.stat(`${guard}/planted`)).isFile, "the fault was not injected");
    assertCniError(r, 5);
    assert.match(r.json.msg, /cannot write the ip batch file/);
    // Line 1 (10.60.0.0/16), which the first ip applied, is gone again; no record stays.
    assert.deepEqual(await tableText(lab.pod), before);
    assert.deepEqual(await stateFiles(e2e.state.path, NETWORK), []);
    assert.match(r.stderr, /ADD failed, restoring the pod's routes: cannot write the ip batch/);
    // Session (read, 3 lines: line 1 applied, line 2 refused); the retry's ip, ended before any
    // line; the rollback's read and write (10.60.0.0/16 deleted). No write batch reached line 3.
    const calls = await pluginIpCalls(ip);
    assert.deepEqual(calls, [
      `-n ${lab.pod} -j -d -N -batch -`,
      `-n ${lab.pod} -batch -`,
      `-n ${lab.pod} -j -d -N -batch -`,
      `-n ${lab.pod} -batch -`,
    ]);
    const lines = (await ip.batch(1) ?? "").split("\n").filter((l) => l !== "");
    assert.deepEqual(lines.map((l) => l.split(" ").slice(0, 3).join(" ")), [
      "route add 10.60.0.0/16",
      "route add 10.61.0.0/16",
      "route add 10.62.0.0/16",
    ]);
    assert.match(
      await ip.batch(2) ?? "",
      /^route del 10\.60\.0\.0\/16 via 10\.131\.0\.1 dev eth0\b.*\n$/,
    );
    assert.equal(await ip.batch(3), null);
    // The planted directory is not the plugin's to remove (a later ADD stops at it); once it is
    // gone, the runtime's DEL finds nothing to undo and no file of the attachment stays.
    await Deno.remove(guard, { recursive: true });
    const d = await del(e2e, cfg);
    assert.equal(d.code, 0, `${d.stdout} ${d.stderr}`);
    assert.deepEqual(await tableText(lab.pod), before);
    assert.deepEqual([...Deno.readDirSync(`${e2e.state.path}/${NETWORK}`)].map((e) => e.name), []);
  },
);

labTest(
  "proof: DEL that cannot restore a route logs it, reverts the rest and exits 0",
  async (e2e) => {
    const { lab } = e2e;
    const cfg = e2e.config(NETWORK, "seamless-static-route", { flushgateway: true });
    const before = await tableText(lab.pod);
    assert.equal((await add(e2e, cfg)).code, 0);
    // Someone else's default route now holds the place of the one ADD deleted.
    const other = "default via 10.131.0.9 dev eth0";
    await ipIn(lab.pod, "route", "add", ...other.split(" "));
    const d = await del(e2e, cfg);
    assert.equal(d.code, 0, `${d.stdout} ${d.stderr}`);
    assert.equal(d.stdout, "");
    assert.match(
      d.stderr,
      /DEL could not add 0\.0\.0\.0\/0 via 10\.131\.0\.1 dev eth0: .*File exists/,
    );
    // The host route ADD added is gone all the same; the other writer's route is untouched.
    const after = await tableText(lab.pod);
    assert.deepEqual(after, sorted([...before.filter((l) => !l.startsWith("default")), other]));
    assert.deepEqual(await stateFiles(e2e.state.path, NETWORK), []);
    // A stale file (not a namespace) at CNI_NETNS: nothing to revert, DEL still ends in 0.
    assert.equal((await add(e2e, { ...cfg, flushgateway: false })).code, 0);
    const stale = `${e2e.state.path}/stale-netns`;
    await Deno.writeTextFile(stale, "");
    const d2 = await e2e.run("DEL", { ...e2e.invocation(ID, cfg), netns: stale });
    assert.equal(d2.code, 0, `${d2.stdout} ${d2.stderr}`);
    assert.deepEqual(await stateFiles(e2e.state.path, NETWORK), []);
  },
);

labTest(
  "proof: two ADDs of one attachment at once are serialized: no rollback eats the other's",
  async (e2e) => {
    const { lab } = e2e;
    // Each write batch waits 1 s before it applies: without a lock both ADDs would plan against
    // the same table, the second batch would fail ("File exists") and its rollback would delete
    // the first ADD's routes and state file.
    await using ip = await FaultyIp.create({ slowSeconds: 1 });
    const cfg = fiveLineConfig(e2e);
    const before = await tableText(lab.pod);
    const [a, b] = await Promise.all([
      add(e2e, cfg, { PATH: ip.path }),
      add(e2e, cfg, { PATH: ip.path }),
    ]);
    assert.deepEqual([a.code, b.code], [0, 0], `${a.stdout} ${b.stdout}`);
    const after = await tableText(lab.pod);
    assert.ok(after.includes(`${LAB.nodeIp} via 10.131.0.1 dev eth0`), after.join("\n"));
    assert.ok(await stateExists(e2e.state.path, NETWORK, ID, "eth0"));
    const d = await del(e2e, cfg);
    assert.equal(d.code, 0, d.stdout);
    assert.deepEqual(await tableText(lab.pod), sorted(before));
    assert.deepEqual(await stateFiles(e2e.state.path, NETWORK), []);
  },
);

labTest(
  "proof: a long list whose whole record would be too large → code 7 before ip gets a line",
  async (e2e) => {
    // flushroutes of 4200 multipath routes of the pod's own (all in the first part of the plan)
    // and 1000 addroutes of 32 next hops: the first part's record fits in MAX_STATE_BYTES, the
    // whole one does not. ADD plans the whole list before it hands ip anything then.
    const { lab } = e2e;
    const gws = Array.from({ length: 32 }, (_, i) => `10.131.0.${i + 10}`);
    const hops = gws.map((g) => `nexthop via ${g} dev eth0`).join(" ");
    let own = "";
    for (let i = 0; i < 4200; i++) own += `route add 10.50.${i >> 8}.${i & 255}/32 ${hops}\n`;
    const file = await Deno.makeTempFile();
    await Deno.writeTextFile(file, own);
    await ipIn(lab.pod, "-batch", file);
    await Deno.remove(file);
    const addroutes = Array.from({ length: 1000 }, (_, i) => ({
      dst: `10.60.${i >> 8}.${i & 255}/32`,
      gws,
    }));
    const cfg = e2e.config(NETWORK, "route-override", { flushroutes: true, addroutes });
    const before = sorted(await tableText(lab.pod));
    await using ip = await FaultyIp.create({});
    const r = await add(e2e, cfg, { PATH: ip.path });
    assertCniError(r, 7);
    assert.match(r.json.msg, new RegExp(`more than the ${MAX_STATE_BYTES} bytes`));
    assert.equal(await ip.batch(1), null, "ip was handed a line of a refused ADD");
    assert.deepEqual(sorted(await tableText(lab.pod)), before);
    assert.deepEqual(await stateFiles(e2e.state.path, NETWORK), []);
  },
);

labTest(
  "proof: SIGKILL at any moment of a long route-override ADD, then DEL → table as before",
  async (e2e) => {
    // 200 addroutes (planned, recorded and applied in two parts), flushgateway, and one IPv6
    // addroute the pod refuses in each part; the plugin is killed after a random delay.
    const { lab, bin } = e2e;
    await run([
      "ip",
      "netns",
      "exec",
      lab.pod,
      "sysctl",
      "-qw",
      "net.ipv6.conf.eth0.disable_ipv6=1",
    ]);
    const addroutes = Array.from(
      { length: 200 },
      (_, i) =>
        i === 7
          ? { dst: "fd00:98::/64" }
          : i === 150
          ? { dst: "fd00:99::/64" }
          : { dst: `10.70.${i}.0/24`, gw: "10.131.0.1" },
    );
    const cfg = e2e.config(NETWORK, "route-override", { flushgateway: true, addroutes });
    const before = sorted(await tableText(lab.pod));
    const exe = bin.plugin("route-override");
    const seen = new Map<string, number>();
    for (let i = 0; i < 30; i++) {
      const env: Record<string, string> = {
        PATH: Deno.env.get("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin",
        HOME: "/root",
        CNI_COMMAND: "ADD",
        CNI_CONTAINERID: `crash${i}`,
        CNI_NETNS: lab.podNetns,
        CNI_IFNAME: "eth0",
        CNI_PATH: bin.dir,
      };
      const delay = 30 + Math.floor(Math.random() * 130);
      const { running, pid } = startInNode(lab, exe, env, cfg);
      await new Promise((r) => setTimeout(r, delay));
      try {
        Deno.kill(pid(), "SIGKILL");
      } catch { /* it ended first */ }
      const out = await running;
      const how = out.signal ?? `exit ${out.code}`;
      seen.set(how, (seen.get(how) ?? 0) + 1);
      const d = await run(["ip", "netns", "exec", lab.node, exe], {
        stdin: JSON.stringify(cfg),
        env: { ...env, CNI_COMMAND: "DEL" },
        clearEnv: true,
      });
      assert.equal(d.code, 0, d.stdout + d.stderr);
      assert.deepEqual(
        sorted(await tableText(lab.pod)),
        before,
        `killed after ${delay} ms (${how})`,
      );
    }
    console.log("how the ADDs ended:", [...seen]);
  },
);
