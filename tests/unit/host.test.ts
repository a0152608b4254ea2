import assert from "node:assert/strict";
import { defaultRouteInterface4, defaultRouteInterface6, primaryAddress } from "../../src/host.ts";

const ROUTE = `Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth1\t00000000\t0101A8C0\t0003\t0\t0\t200\t00000000\t0\t0\t0
eth0\t00000000\t010012AC\t0003\t0\t0\t100\t00000000\t0\t0\t0
eth0\t000012AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0
`;

Deno.test("defaultRouteInterface4 picks the default route with the lowest metric", () => {
  assert.equal(defaultRouteInterface4(ROUTE), "eth0");
  assert.equal(defaultRouteInterface4(ROUTE.split("\n").slice(0, 2).join("\n")), "eth1");
  assert.equal(defaultRouteInterface4(ROUTE.split("\n")[0] ?? ""), null);
});

Deno.test("defaultRouteInterface6 skips lo and reject routes", () => {
  const text = [
    "00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo",
    "fd000000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     ens3",
    "00000000000000000000000000000000 00 00000000000000000000000000000000 00 fd000000000000000000000000000001 00000400 00000001 00000000 00000003     ens3",
  ].join("\n");
  assert.equal(defaultRouteInterface6(text), "ens3");
  assert.equal(defaultRouteInterface6(text.split("\n").slice(0, 2).join("\n")), null);
});

Deno.test("primaryAddress: first IPv4; first non-link-local IPv6", () => {
  const addrs = [
    { name: "eth0", family: "IPv6" as const, address: "fe80::1" },
    { name: "eth0", family: "IPv4" as const, address: "192.168.100.10" },
    { name: "eth0", family: "IPv4" as const, address: "192.168.100.11" },
    { name: "eth0", family: "IPv6" as const, address: "fd00:100::10" },
    { name: "eth1", family: "IPv4" as const, address: "10.9.9.9" },
  ];
  assert.deepEqual(primaryAddress(addrs, "eth0", 4), { address: "192.168.100.10", family: 4 });
  assert.deepEqual(primaryAddress(addrs, "eth0", 6), { address: "fd00:100::10", family: 6 });
  assert.equal(primaryAddress(addrs, "eth2", 4), null);
});
