/**
 * Issue 17 class 1 / issue 18: a pod with NET_ADMIN fills its own table after ADD (here 200k
 * `proto bgp` routes, plus routes that share the destination of the plugin's own). CHECK and DEL
 * must still end, exit as they should and be exact, and what they hold in memory must not follow
 * the pod's table: they run with a V8 heap of 48 MB, which a read of the whole table (≈60 MB of
 * JSON text, then the parsed routes) cannot fit in — the plugin before this fix died there.
 */
import assert from "node:assert/strict";
import { ipIn, LAB, must, tableText } from "../../testing/mod.ts";
import { labTest } from "../support/lab_test.ts";

/** How many foreign routes the pod adds after ADD. */
const FOREIGN = 200_000;
/** A V8 heap too small for a read of the whole table, ample for the plugin's own work. */
const SMALL_HEAP = { DENO_V8_FLAGS: "--max-old-space-size=48" };

/** `ip -batch` lines for FOREIGN /32 routes in 10.200.0.0/14, via the pod's gateway, proto bgp. */
function foreignBatch(action: "add" | "del"): string {
  const lines: string[] = [];
  for (let i = 0; i < FOREIGN; i++) {
    const dst = `10.${200 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}/32`;
    lines.push(`route ${action} ${dst} via ${LAB.podGateway} dev eth0 proto bgp`);
  }
  return lines.join("\n") + "\n";
}

labTest(
  "big table: 200k routes the pod added after ADD → CHECK and DEL exact, bounded, exit 0",
  async (e2e) => {
    const { lab } = e2e;
    const config = e2e.config("bigtable", "seamless-static-route", {
      flushgateway: true,
      addroutes: [{ dst: "10.60.0.0/16" }, { dst: "10.61.0.0/16", priority: 100 }],
    });
    const inv = { ...e2e.invocation("big1", config), env: SMALL_HEAP };
    const before = await tableText(lab.pod);
    const add = await e2e.run("ADD", e2e.invocation("big1", config));
    assert.equal(add.code, 0, `${add.stdout} ${add.stderr}`);
    const added = await tableText(lab.pod);

    // The pod's own routes: the bulk, and some that share a destination with the plugin's
    // (another metric, another table, the default route's place at another metric), one that
    // the kernel's lookup finds first (a lower metric), one more specific than the plugin's.
    const gw = LAB.podGateway;
    const near = [
      `10.60.0.0/16 via ${gw} dev eth0 proto bgp metric 50`,
      `10.60.0.0/24 via ${gw} dev eth0 proto bgp`,
      `10.61.0.0/16 via ${gw} dev eth0 proto bgp metric 10`,
      `10.60.0.0/16 via ${gw} dev eth0 table 100 proto bgp`,
      `${LAB.nodeIp} via ${gw} dev eth0 proto bgp metric 7`,
      `default via ${gw} dev eth0 proto bgp metric 300`,
    ];
    for (const r of near) await ipIn(lab.pod, "route", "add", ...r.split(" "));
    await must(["ip", "-n", lab.pod, "-batch", "-"], foreignBatch("add"));

    const check = await e2e.run("CHECK", inv);
    assert.equal(check.code, 0, `CHECK: ${check.stdout} ${check.stderr}`);
    // Still exact: one of the plugin's routes gone is found among the 200k, by name.
    await ipIn(lab.pod, "route", "del", "10.60.0.0/16", "via", gw, "dev", "eth0", "metric", "0");
    const missing = await e2e.run("CHECK", inv);
    assert.equal(missing.code, 1, `CHECK: ${missing.stdout} ${missing.stderr}`);
    assert.equal(missing.json?.code, 101, missing.stdout);
    assert.match(String(missing.json?.msg), /10\.60\.0\.0\/16 via 10\.131\.0\.1 dev eth0: missing/);
    await ipIn(lab.pod, "route", "add", "10.60.0.0/16", "via", gw, "dev", "eth0");

    const del = await e2e.run("DEL", inv);
    assert.equal(del.code, 0, `DEL: ${del.stdout} ${del.stderr}`);
    assert.equal(del.stdout, "");
    // Every foreign route is still there (ip -batch stops at the first it cannot delete)...
    await must(["ip", "-n", lab.pod, "-batch", "-"], foreignBatch("del"));
    // ...and the rest is the table before ADD plus the pod's own routes: DEL removed exactly
    // what ADD added and restored the default route it flushed.
    assert.deepEqual(await tableText(lab.pod), [...before, ...near].sort());
    assert.notDeepEqual(added, before);
    const again = await e2e.run("DEL", inv);
    assert.equal(again.code, 0, `second DEL: ${again.stdout} ${again.stderr}`);
  },
);

labTest(
  "DEL without a table read: its own route gone, a look-alike at another metric stays",
  async (e2e) => {
    const { lab } = e2e;
    const config = e2e.config("lookalike", "route-override", {
      addroutes: [{ dst: "10.60.0.0/16", gw: LAB.podGateway }],
    });
    const inv = e2e.invocation("look1", config);
    const add = await e2e.run("ADD", inv);
    assert.equal(add.code, 0, `${add.stdout} ${add.stderr}`);
    // The pod replaces the plugin's route by one that differs only in metric (an IPv4 delete
    // with metric 0 would match it) and adds one in another table.
    const gw = LAB.podGateway;
    await ipIn(lab.pod, "route", "del", "10.60.0.0/16", "via", gw, "dev", "eth0", "metric", "0");
    const pods = [
      `10.60.0.0/16 via ${gw} dev eth0 proto bgp metric 50`,
      `10.60.0.0/16 via ${gw} dev eth0 table 100 proto bgp`,
    ];
    for (const r of pods) await ipIn(lab.pod, "route", "add", ...r.split(" "));
    const withPods = await tableText(lab.pod);
    const del = await e2e.run("DEL", inv);
    assert.equal(del.code, 0, `DEL: ${del.stdout} ${del.stderr}`);
    assert.deepEqual(await tableText(lab.pod), withPods);
  },
);
