import assert from "node:assert/strict";
import {
  restoreOp,
  routeFromJson,
  routeFromRecord,
  routeKey,
  routeOpArgs,
} from "../../src/route.ts";
import { commandLines, ipArgv } from "../../src/ip.ts";
import {
  exactReadBatch,
  fastReadBatch,
  MAX_EXACT_READS,
  parseExactSnapshot,
  parseFastRead,
  parseSnapshot,
  READ_BATCH,
  readFilters,
} from "../../src/snapshot.ts";

Deno.test("routeFromJson fills ip's omitted defaults", () => {
  assert.deepEqual(
    routeFromJson({ dst: "default", gateway: "10.0.0.1", dev: "eth0", flags: [] }, 4),
    {
      family: 4,
      dst: "0.0.0.0/0",
      gateway: "10.0.0.1",
      dev: "eth0",
      table: "main",
      metric: 0,
      type: "unicast",
      protocol: "boot",
      scope: "global",
    },
  );
  const r = routeFromJson({
    dst: "192.168.5.0/24",
    gateway: "10.131.0.1",
    dev: "vA",
    table: "100",
    metric: 50,
    flags: ["onlink"],
    metrics: [{ mtu: 1400, advmss: 1300 }],
  }, 4);
  assert.deepEqual([r?.table, r?.metric, r?.mtu, r?.advmss, r?.onlink], [
    "100",
    50,
    1400,
    1300,
    true,
  ]);
  assert.equal(routeFromJson({ dst: "fd00::1", dev: "eth0", metric: 1024 }, 6)?.dst, "fd00::1/128");
});

Deno.test("routeOpArgs refuses values that could smuggle a command into ip -batch", () => {
  const base = { family: 4 as const, dst: "10.0.0.0/8", table: "main", metric: 0 };
  for (const evil of ["eth0\nroute flush all", "eth0 table 1", "a#b", 'a"b']) {
    assert.throws(
      () => routeOpArgs({ action: "add", route: { ...base, dev: evil }, reason: "t" }),
      /invalid device for ip/,
    );
  }
  assert.throws(
    () => routeOpArgs({ action: "add", route: { ...base, table: "1\n" }, reason: "t" }),
    /unsafe table/,
  );
});

Deno.test("routeOpArgs validates every address, wherever the route came from", () => {
  const base = { family: 4 as const, dst: "10.0.0.0/8", table: "main", metric: 0, dev: "eth0" };
  const add = (route: Record<string, unknown>) => () =>
    routeOpArgs({ action: "add", route: { ...base, ...route }, reason: "t" });
  // e.g. a tampered state file or unexpected kernel text: refused before ip sees it.
  assert.throws(add({ dst: "999.0.0.0/8" }), /invalid destination for ip: "999.0.0.0\/8"/);
  assert.throws(add({ dst: "10.0.0.0/8\nroute flush all" }), /invalid destination/);
  assert.throws(add({ dst: "fd00::/64" }), /invalid destination/); // family 4 route
  assert.throws(add({ gateway: "10.0.0.1;reboot" }), /invalid gateway for ip/);
  assert.throws(add({ prefsrc: "10.0.0.300" }), /invalid source for ip/);
  assert.throws(
    add({ nexthops: [{ gateway: "10.0.0.1", dev: "-f" }] }),
    /invalid device for ip: "-f"/,
  );
  assert.deepEqual(add({ gateway: "10.0.0.1", prefsrc: "10.0.0.5" })(), [
    "route",
    "add",
    "10.0.0.0/8",
    "via",
    "10.0.0.1",
    "dev",
    "eth0",
    "src",
    "10.0.0.5",
  ]);
});

Deno.test("ipArgv: named netns use ip -n, other paths nsenter", () => {
  assert.deepEqual(ipArgv("/var/run/netns/pod1"), ["ip", "-n", "pod1"]);
  assert.deepEqual(ipArgv("/run/netns/pod1"), ["ip", "-n", "pod1"]);
  assert.deepEqual(ipArgv("/proc/42/ns/net"), ["nsenter", "--net=/proc/42/ns/net", "ip"]);
  assert.deepEqual(
    commandLines("/proc/42/ns/net", [{
      action: "add",
      route: { family: 4, dst: "10.0.0.0/8", dev: "eth0", table: "main", metric: 0 },
      reason: "x",
    }]),
    [
      "nsenter --net=/proc/42/ns/net ip route add 10.0.0.0/8 dev eth0",
    ],
  );
});

Deno.test("parseSnapshot reads the three arrays of the read batch", () => {
  assert.equal(READ_BATCH.trim().split("\n").length, 3);
  const out = [
    JSON.stringify([{ dst: "default", gateway: "10.0.0.1", dev: "eth0" }, {
      type: "local",
      dst: "10.0.0.5",
      dev: "eth0",
      table: "local",
    }]),
    JSON.stringify([{ dst: "fe80::/64", dev: "eth0", protocol: "kernel", metric: 256 }]),
    JSON.stringify([{
      ifname: "lo",
      addr_info: [{ family: "inet", local: "127.0.0.1", prefixlen: 8, scope: "host" }],
    }, {
      ifname: "eth0",
      addr_info: [{ family: "inet", local: "10.0.0.5", prefixlen: 24, scope: "global" }, {
        family: "inet6",
        local: "fe80::1",
        prefixlen: 64,
        scope: "link",
      }],
    }]),
  ].join("\n") + "\n";
  const s = parseSnapshot(out);
  assert.deepEqual(s.routes.map((r) => r.dst), ["0.0.0.0/0", "fe80::/64"]);
  assert.deepEqual(s.addresses.get("eth0"), [{ address: "10.0.0.5", family: 4, prefix: 24 }]);
  assert.deepEqual(s.addresses.get("lo"), []);
  assert.throws(() => parseSnapshot("[]\n"));
});

Deno.test("exactReadBatch asks for the addresses and each distinct destination, canonical", () => {
  const dsts = ["10.0.0.0/8", "192.168.100.10/32", "10.0.0.0/8", "FD00:0::1/128", "0.0.0.0/0"];
  assert.equal(
    exactReadBatch(dsts),
    "addr show\nroute show table all exact 10.0.0.0/8\n" +
      "route show table all exact 192.168.100.10/32\nroute show table all exact 0.0.0.0/0\n" +
      "route show table all exact fd00::1/128\n",
  );
  // Nothing but a parsed CIDR reaches the batch.
  assert.throws(() => exactReadBatch(["10.0.0.0/8\nroute flush table main"]));
  const out = [
    JSON.stringify([{
      ifname: "eth0",
      addr_info: [{ local: "10.0.0.5", prefixlen: 24, scope: 0 }],
    }]),
    JSON.stringify([{ dst: "10.0.0.0/8", gateway: "10.0.0.1", dev: "eth0" }]),
    JSON.stringify([]),
    JSON.stringify([{ dst: "default", gateway: "10.0.0.1", dev: "eth0" }]),
    JSON.stringify([{ dst: "fd00::1", dev: "eth0", metric: 1024 }]),
  ].join("\n") + "\n";
  const s = parseExactSnapshot(out, dsts);
  assert.deepEqual(s.routes.map((r) => `${r.family} ${r.dst}`), [
    "4 10.0.0.0/8",
    "4 0.0.0.0/0",
    "6 fd00::1/128",
  ]);
  assert.deepEqual(s.addresses.get("eth0"), [{ address: "10.0.0.5", family: 4, prefix: 24 }]);
  // A missing answer is an error, never a shorter table.
  assert.throws(() => parseExactSnapshot(out.split("\n").slice(0, 3).join("\n"), dsts));
});

Deno.test("readFilters: many destinations of a family are read as one root that holds them", () => {
  const many = Array.from({ length: 500 }, (_, i) => `10.${100 + (i >> 8)}.${i & 255}.0/24`);
  assert.deepEqual(readFilters([...many, "192.168.100.10/32", "fd00::/64"]), [
    "root 0.0.0.0/0",
    "exact fd00::/64",
  ]);
  assert.deepEqual(readFilters(many), ["root 10.100.0.0/15"]);
  const v6 = Array.from({ length: MAX_EXACT_READS + 1 }, (_, i) => `fd00:${i}::/64`);
  assert.deepEqual(readFilters(v6), ["root fd00::/28"]);
  assert.deepEqual(readFilters(v6.slice(0, MAX_EXACT_READS)).length, MAX_EXACT_READS);
  assert.deepEqual(readFilters(["10.1.2.3/8", "10.0.0.0/8"]), ["exact 10.0.0.0/8"]);
});

Deno.test("fastReadBatch: a kernel lookup per wanted route, each closed by lo; reads after", () => {
  const lookups = ["192.168.100.10/32", "10.60.0.0/16"];
  assert.equal(
    fastReadBatch(lookups, ["10.0.0.0/8"]),
    "addr show\nroute get fibmatch 192.168.100.10\nlink show dev lo\n" +
      "route get fibmatch 10.60.0.0\nlink show dev lo\nroute show table all exact 10.0.0.0/8\n",
  );
  const lo = JSON.stringify([{ ifindex: 1, ifname: "lo" }]);
  const links = JSON.stringify([{ ifname: "eth0", addr_info: [] }, { ifname: "lo" }]);
  const host = JSON.stringify([{ dst: "192.168.100.10", gateway: "10.0.0.1", dev: "eth0" }]);
  const ten = JSON.stringify([{ dst: "10.0.0.0/8", gateway: "10.0.0.1", dev: "eth0" }]);
  // The second lookup found nothing (ip printed no answer, only the closing lo).
  const out = [links, host, lo, lo, ten].join("\n") + "\n";
  const s = parseFastRead(out, lookups, ["10.0.0.0/8"]);
  assert.deepEqual(s.routes.map((r) => r.dst), ["192.168.100.10/32", "10.0.0.0/8"]);
  assert.deepEqual([...s.addresses.keys()], ["eth0", "lo"]);
  // A missing close or read is an error, never a shorter table.
  assert.throws(() => parseFastRead([links, host, ten].join("\n"), lookups, ["10.0.0.0/8"]));
  assert.throws(() => parseFastRead([links, host, lo, lo].join("\n"), lookups, ["10.0.0.0/8"]));
});

Deno.test("routeFromJson/routeOpArgs: tos, TCP metrics and features ecn are read and written", () => {
  const r = routeFromJson({
    type: "1",
    dst: "10.5.0.0/16",
    tos: "0x10",
    gateway: "10.9.0.1",
    dev: "eth0",
    table: "254",
    protocol: "3",
    scope: "0",
    metric: 5,
    flags: [],
    metrics: [{
      fastopen_no_cookie: 1,
      ssthresh: 5,
      cwnd: 7,
      reordering: 4,
      ecn: null,
      rto_min: 300,
    }],
  }, 4);
  assert.ok(r && r.unrestorable === undefined, JSON.stringify(r));
  // tos is identity: in the delete line too, and in the route's key.
  assert.deepEqual(routeOpArgs({ action: "del", route: r, reason: "t" }), [
    "route",
    "del",
    "10.5.0.0/16",
    "tos",
    "0x10",
    "via",
    "10.9.0.1",
    "dev",
    "eth0",
    "metric",
    "5",
  ]);
  assert.deepEqual(
    routeOpArgs({ action: "add", route: r, reason: "t" }).slice(11).join(" "),
    "ssthresh 5 cwnd 7 reordering 4 fastopen_no_cookie 1 rto_min 300ms features ecn",
  );
  const { tos: _tos, ...tos0 } = r;
  assert.notEqual(routeKey(r), routeKey(tos0));
  assert.deepEqual(routeFromRecord(JSON.parse(JSON.stringify(r))), r);
  assert.throws(() => routeOpArgs({ action: "add", route: { ...r, family: 6 }, reason: "t" }));
});

Deno.test("routeFromRecord: place is optional, first or after, and picks the restore action", () => {
  const base = {
    family: 4,
    dst: "0.0.0.0/0",
    gateway: "192.168.50.1",
    dev: "net1",
    table: "main",
    metric: 0,
    mtu: 1400,
  };
  // An older record without place restores with a plain add.
  assert.equal(restoreOp(routeFromRecord(base), "DEL").action, "add");
  for (const [place, action] of [["first", "prepend"], ["after", "append"]] as const) {
    const r = routeFromRecord({ ...base, place });
    assert.equal(r.place, place);
    const op = restoreOp(r, "DEL");
    // The route's attributes go with prepend and append as with add; the metric only when set.
    assert.deepEqual(
      routeOpArgs(op).join(" "),
      `route ${action} 0.0.0.0/0 via 192.168.50.1 dev net1 mtu 1400`,
    );
  }
  for (const place of ["last", "", 1, true, "first\nroute add 1.2.3.4/32 dev eth0"]) {
    assert.throws(() => routeFromRecord({ ...base, place }), /place/, String(place));
  }
  // Only the four actions reach ip.
  const bad = { action: "replace", route: routeFromRecord(base), reason: "t" };
  assert.throws(() => routeOpArgs(bad as unknown as Parameters<typeof routeOpArgs>[0]), /action/);
});
