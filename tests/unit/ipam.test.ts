/**
 * The lease the lab pod of `deno task dev` gets is the one the real IPAM plugins give: host-local
 * (containernetworking/plugins, allocator/range.go `Range.Canonicalize`) defaults a range's
 * gateway to the subnet's first host and skips it when allocating; the gw of a default route in
 * `ipam.routes` plays no part. static IPAM reports a gateway only where an address names one.
 * whereabouts picks at run time: the lab takes the first host of its `range`.
 */
import assert from "node:assert/strict";
import { leaseOf } from "../../testing/mod.ts";

Deno.test("ipam: host-local ignores ipam.routes' default gw for gateway and first address", () => {
  const lease = leaseOf({
    type: "host-local",
    subnet: "192.168.50.0/24",
    routes: [{ dst: "0.0.0.0/0", gw: "192.168.50.254" }],
  });
  assert.deepEqual(lease.ips, [{ address: "192.168.50.2/24", family: 4, gateway: "192.168.50.1" }]);
  assert.deepEqual(lease.routes, [{ dst: "0.0.0.0/0", gw: "192.168.50.254" }], "routes kept");
  // Dual-stack: the same rule per family.
  assert.deepEqual(
    leaseOf({
      type: "host-local",
      ranges: [[{ subnet: "fd00:50::/64" }]],
      routes: [{ dst: "::/0", gw: "fd00:50::fe" }],
    }).ips,
    [{ address: "fd00:50::2/64", family: 6, gateway: "fd00:50::1" }],
  );
  // A range's own gateway is kept, and the first host is then free to hand out.
  assert.deepEqual(
    leaseOf({ type: "host-local", subnet: "192.168.50.0/24", gateway: "192.168.50.254" }).ips,
    [{ address: "192.168.50.1/24", family: 4, gateway: "192.168.50.254" }],
  );
});

Deno.test("ipam: static IPAM reports no gateway an address does not name", () => {
  assert.deepEqual(
    leaseOf({
      type: "static",
      addresses: [{ address: "10.10.0.7/24" }, { address: "fd00:a::7/64", gateway: "fd00:a::1" }],
      routes: [{ dst: "0.0.0.0/0", gw: "10.10.0.254" }],
    }).ips,
    [
      { address: "10.10.0.7/24", family: 4 },
      { address: "fd00:a::7/64", family: 6, gateway: "fd00:a::1" },
    ],
  );
});

Deno.test("ipam: whereabouts gives the first host of its range, range_start and gateway", () => {
  const plain = leaseOf({ type: "whereabouts", range: "192.168.2.0/24" });
  assert.deepEqual(plain.ips, [{ address: "192.168.2.1/24", family: 4 }]);
  assert.match(plain.notes.join(), /whereabouts picks its address at run time/);
  assert.deepEqual(
    leaseOf({ type: "whereabouts", range: "192.168.2.0/24", gateway: "192.168.2.1" }).ips,
    [{ address: "192.168.2.2/24", family: 4, gateway: "192.168.2.1" }],
  );
  assert.deepEqual(
    leaseOf({
      type: "whereabouts",
      range: "192.168.2.225/28",
      range_start: "192.168.2.227",
      gateway: "192.168.2.238",
      routes: [{ dst: "10.9.0.0/16" }],
    }),
    {
      ips: [{ address: "192.168.2.227/28", family: 4, gateway: "192.168.2.238" }],
      routes: [{ dst: "10.9.0.0/16" }],
      notes: ["whereabouts picks its address at run time: the lab takes its range's first"],
    },
  );
  // A range it cannot read (the `A-B/prefix` form, none): no address, and a note why.
  const odd = leaseOf({ type: "whereabouts", range: "192.168.2.225-192.168.2.230/28" });
  assert.deepEqual(odd.ips, []);
  assert.match(odd.notes.join(), /is not a CIDR the lab reads/);
  assert.deepEqual(leaseOf({ type: "whereabouts" }).ips, []);
});
