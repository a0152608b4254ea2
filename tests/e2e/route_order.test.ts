/**
 * Deleted routes come back in their place. A Multus pod whose net1 IPAM hands out a default
 * route has two IPv4 default routes of one key (dst, table, metric, tos): the main plugin adds
 * net1's in front of eth0's (`ip route prepend`, netlink RouteAddEcmp), and the first one wins
 * lookups. flushgateway deletes net1's; DEL, and the rollback of a failed ADD, must put it back
 * where it was — a plain `ip route add` is refused there ("File exists", eth0's holds the key).
 * Every table is compared as `ip -j -d route show table all` prints it, order included.
 *
 * IPv6 merges gateway routes of one key into one multipath route, so two separate IPv6 routes
 * of one key are a gateway route and one without gateway (or an RA route): the kernel inserts
 * every IPv6 route after those of its metric, prepend or not, so a deleted IPv6 route comes back
 * exactly when it was last, and last when it was first (docs/lifecycle.md says so).
 */
import assert from "node:assert/strict";
import {
  CLUSTER,
  ipIn,
  type JsonObject,
  type Lease,
  MULTUS_IFNAME,
  type PluginLab,
  type PluginRun,
  type PodLink,
  podLinks,
  shapePrevResult,
} from "../../testing/mod.ts";
import { labTest } from "../support/lab_test.ts";
import { statePath } from "../../src/state.ts";

const NETWORK = "order";
const ID = "order0";
const NET1_DEFAULT = ["default", "via", "192.168.50.1", "dev", MULTUS_IFNAME];

/** net1's lease: an address and a default route via its gateway. */
const LEASE: Lease = {
  ips: [{ address: "192.168.50.5/24", family: 4, gateway: "192.168.50.1" }],
  routes: [{ dst: "0.0.0.0/0", gw: "192.168.50.1" }],
  notes: [],
};
const MULTUS = { ifname: MULTUS_IFNAME, multus: true } as const;

/** Both families' routes of every table but local, as `ip -j -d` lists them: in kernel order. */
async function orderedTable(ns: string): Promise<unknown[]> {
  const out: unknown[] = [];
  for (const fam of ["-4", "-6"]) {
    const list = JSON.parse(await ipIn(ns, "-j", "-d", fam, "route", "show", "table", "all"));
    out.push(...(list as JsonObject[]).filter((r) => r.table !== "local"));
  }
  return out;
}

/** The default routes of a family, in kernel order, as `dev` names. */
async function defaultDevs(ns: string, fam: "-4" | "-6"): Promise<string[]> {
  const list = JSON.parse(await ipIn(ns, "-j", fam, "route", "show", "default")) as JsonObject[];
  return list.map((r) => String(r.dev));
}

/** The Multus pod (eth0 the cluster network, net1 the attachment) with `links`. */
async function multusPod(e2e: PluginLab, links: PodLink[]): Promise<string> {
  const pod = await e2e.lab.linkedPod(links, MULTUS_IFNAME);
  return pod.ns;
}

/** The route-override NAD entry for net1 with `fields`, prevResult as the main plugin gives it. */
function net1Invocation(e2e: PluginLab, fields: JsonObject, lease: Lease = LEASE) {
  const config = e2e.config(NETWORK, "route-override", {
    prevResult: shapePrevResult(MULTUS, lease, e2e.lab.podNetns),
    ...fields,
  });
  return e2e.invocation(ID, config);
}

function ok(r: PluginRun, what: string): void {
  assert.equal(r.code, 0, `${what}: ${r.stdout}${r.stderr}`);
}

/** The `place` the record of the attachment holds for each deleted route. */
async function recordedPlaces(e2e: PluginLab): Promise<unknown[]> {
  const path = statePath(e2e.state.path, NETWORK, ID, MULTUS_IFNAME);
  const state = JSON.parse(await Deno.readTextFile(path)) as { deleted: JsonObject[] };
  return state.deleted.map((r) => r.place);
}

labTest("order: net1's default first (prepended); flushgateway, CHECK, DEL puts it back first", {
  pod: false,
}, async (e2e) => {
  const ns = await multusPod(e2e, podLinks(MULTUS, LEASE));
  assert.deepEqual(await defaultDevs(ns, "-4"), ["net1", "eth0"], "the main plugin's order");
  const before = await orderedTable(ns);
  const inv = net1Invocation(e2e, { flushgateway: true });
  ok(await e2e.run("ADD", inv), "ADD");
  assert.deepEqual(await defaultDevs(ns, "-4"), ["eth0"]);
  assert.deepEqual(await recordedPlaces(e2e), ["first"]);
  ok(await e2e.run("CHECK", inv), "CHECK");
  const del = await e2e.run("DEL", inv);
  ok(del, "DEL");
  assert.doesNotMatch(del.stderr, /File exists|could not/, del.stderr);
  assert.deepEqual(await orderedTable(ns), before);
  assert.deepEqual(await defaultDevs(ns, "-4"), ["net1", "eth0"]);
});

labTest("order: net1's default second (appended); flushgateway, CHECK, DEL puts it back second", {
  pod: false,
}, async (e2e) => {
  const ns = await multusPod(e2e, podLinks(MULTUS, LEASE));
  await ipIn(ns, "route", "del", ...NET1_DEFAULT);
  await ipIn(ns, "route", "append", ...NET1_DEFAULT);
  assert.deepEqual(await defaultDevs(ns, "-4"), ["eth0", "net1"]);
  const before = await orderedTable(ns);
  const inv = net1Invocation(e2e, { flushgateway: true });
  ok(await e2e.run("ADD", inv), "ADD");
  assert.deepEqual(await defaultDevs(ns, "-4"), ["eth0"]);
  assert.deepEqual(await recordedPlaces(e2e), ["after"]);
  ok(await e2e.run("CHECK", inv), "CHECK");
  ok(await e2e.run("DEL", inv), "DEL");
  assert.deepEqual(await orderedTable(ns), before);
});

labTest("order: DEL --dry-run names the prepend", { pod: false }, async (e2e) => {
  const ns = await multusPod(e2e, podLinks(MULTUS, LEASE));
  const inv = net1Invocation(e2e, { flushgateway: true });
  ok(await e2e.run("ADD", inv), "ADD");
  const dry = await e2e.run("DEL", { ...inv, argv: ["--dry-run"] });
  ok(dry, "DEL --dry-run");
  assert.match(dry.stdout, /^prepend 0\.0\.0\.0\/0 via 192\.168\.50\.1 dev net1$/m, dry.stdout);
  assert.deepEqual(await defaultDevs(ns, "-4"), ["eth0"], "a dry run changes nothing");
  ok(await e2e.run("DEL", inv), "DEL");
  assert.deepEqual(await defaultDevs(ns, "-4"), ["net1", "eth0"]);
});

for (const net1First of [true, false]) {
  labTest(
    `order: a strict ADD refused after deleting net1's default (${
      net1First ? "first" : "second"
    }) rolls back exactly`,
    { pod: false },
    async (e2e) => {
      const ns = await multusPod(e2e, podLinks(MULTUS, LEASE));
      if (!net1First) {
        await ipIn(ns, "route", "del", ...NET1_DEFAULT);
        await ipIn(ns, "route", "append", ...NET1_DEFAULT);
      }
      const before = await orderedTable(ns);
      // The gateway is on no subnet of net1: the kernel refuses the add, after the delete ran.
      const inv = net1Invocation(e2e, {
        strict: true,
        flushgateway: true,
        addroutes: [{ dst: "10.99.0.0/16", gw: "10.77.0.1" }],
      });
      const add = await e2e.run("ADD", inv);
      assert.equal(add.code, 1, add.stdout + add.stderr);
      assert.equal((add.json as JsonObject | null)?.code, 100, add.stdout);
      assert.deepEqual(await orderedTable(ns), before);
      ok(await e2e.run("DEL", inv), "DEL after the refused ADD");
      assert.deepEqual(await orderedTable(ns), before);
    },
  );
}

/** A dual-stack Multus pod: eth0 with IPv6 default via its gateway, net1's without gateway. */
function v6Links(net1First: boolean): PodLink[] {
  const cluster: PodLink = {
    ifname: CLUSTER.ifname,
    addresses: [CLUSTER.address, "fd00:128::5/64"],
    routes: [{ dst: "0.0.0.0/0", gw: CLUSTER.gateway }, { dst: "::/0", gw: "fd00:128::1" }],
  };
  const net1: PodLink = {
    ifname: MULTUS_IFNAME,
    addresses: ["192.168.50.5/24", "fd00:50::5/64"],
    routes: [{ dst: "::/0" }],
  };
  return net1First ? [net1, cluster] : [cluster, net1];
}

const V6_LEASE: Lease = {
  ips: [{ address: "192.168.50.5/24", family: 4 }, { address: "fd00:50::5/64", family: 6 }],
  routes: [{ dst: "::/0" }],
  notes: [],
};

labTest("order IPv6: net1's default after eth0's; flushgateway, DEL puts it back after", {
  pod: false,
}, async (e2e) => {
  const ns = await multusPod(e2e, v6Links(false));
  assert.deepEqual(await defaultDevs(ns, "-6"), ["eth0", "net1"]);
  const before = await orderedTable(ns);
  const inv = net1Invocation(e2e, { flushgateway: true }, V6_LEASE);
  ok(await e2e.run("ADD", inv), "ADD");
  assert.deepEqual(await defaultDevs(ns, "-6"), ["eth0"]);
  assert.deepEqual(await recordedPlaces(e2e), ["after"]);
  ok(await e2e.run("CHECK", inv), "CHECK");
  ok(await e2e.run("DEL", inv), "DEL");
  assert.deepEqual(await orderedTable(ns), before);
});

labTest("order IPv6: net1's default first comes back, after eth0's (the kernel's limit)", {
  pod: false,
}, async (e2e) => {
  const ns = await multusPod(e2e, v6Links(true));
  // The kernel put eth0's default (added second, with `prepend`) after net1's.
  assert.deepEqual(await defaultDevs(ns, "-6"), ["net1", "eth0"]);
  const before = await orderedTable(ns);
  const inv = net1Invocation(e2e, { flushgateway: true }, V6_LEASE);
  ok(await e2e.run("ADD", inv), "ADD");
  assert.deepEqual(await recordedPlaces(e2e), ["first"]);
  ok(await e2e.run("CHECK", inv), "CHECK");
  const del = await e2e.run("DEL", inv);
  ok(del, "DEL");
  assert.doesNotMatch(del.stderr, /File exists|could not/, del.stderr);
  // Every route is back as it was; IPv6 has no way to put a route before its peers.
  const text = (t: unknown[]) => t.map((r) => JSON.stringify(r)).sort();
  assert.deepEqual(text(await orderedTable(ns)), text(before));
  assert.deepEqual(await defaultDevs(ns, "-6"), ["eth0", "net1"]);
});
