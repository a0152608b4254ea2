import assert from "node:assert/strict";
import { resultFromJson, resultToJson } from "../../src/cni/result.ts";
import { SUPPORTED_VERSIONS } from "../../src/cni/version.ts";

const current = {
  cniVersion: "1.1.0",
  interfaces: [{ name: "eth0", mac: "0a:58:0a:83:00:05", sandbox: "/var/run/netns/p" }],
  ips: [
    { address: "10.131.0.5/23", gateway: "10.131.0.1", interface: 0 },
    { address: "fd00::5/64", gateway: "fd00::1", interface: 0 },
  ],
  routes: [
    { dst: "0.0.0.0/0", gw: "10.131.0.1" },
    {
      dst: "172.16.0.0/12",
      gw: "10.131.0.1",
      mtu: 1400,
      priority: 10,
      table: 100,
      scope: 0,
      advmss: 1300,
    },
    { dst: "::/0", gw: "fd00::1" },
  ],
  dns: { nameservers: ["10.0.0.10"] },
};

Deno.test("result: 1.1.0 keeps route attributes", () => {
  assert.deepEqual(resultToJson(resultFromJson(current), "1.1.0"), current);
});

Deno.test("result: 1.0.0 drops 1.1 route attributes, ips without version", () => {
  const out = resultToJson(resultFromJson(current), "1.0.0");
  assert.deepEqual(out, {
    ...current,
    cniVersion: "1.0.0",
    routes: [
      { dst: "0.0.0.0/0", gw: "10.131.0.1" },
      { dst: "172.16.0.0/12", gw: "10.131.0.1" },
      { dst: "::/0", gw: "fd00::1" },
    ],
  });
});

for (const v of ["0.3.0", "0.3.1", "0.4.0"]) {
  Deno.test(`result: ${v} has ips[].version`, () => {
    const out = resultToJson(resultFromJson(current), v);
    assert.equal(out.cniVersion, v);
    assert.deepEqual(out.ips, [
      { version: "4", address: "10.131.0.5/23", gateway: "10.131.0.1", interface: 0 },
      { version: "6", address: "fd00::5/64", gateway: "fd00::1", interface: 0 },
    ]);
    assert.deepEqual(out.interfaces, current.interfaces);
    assert.deepEqual((out.routes as unknown[]).length, 3);
  });
}

for (const v of ["0.1.0", "0.2.0"]) {
  Deno.test(`result: ${v} uses ip4/ip6 with per-family routes`, () => {
    const out = resultToJson(resultFromJson(current), v);
    assert.deepEqual(out, {
      cniVersion: v,
      ip4: {
        ip: "10.131.0.5/23",
        gateway: "10.131.0.1",
        routes: [{ dst: "0.0.0.0/0", gw: "10.131.0.1" }, {
          dst: "172.16.0.0/12",
          gw: "10.131.0.1",
        }],
      },
      ip6: { ip: "fd00::5/64", gateway: "fd00::1", routes: [{ dst: "::/0", gw: "fd00::1" }] },
      dns: { nameservers: ["10.0.0.10"] },
    });
  });
}

Deno.test("result: a 0.2.0 prevResult is read and written in every version", () => {
  const old = {
    cniVersion: "0.2.0",
    ip4: { ip: "10.1.0.5/24", gateway: "10.1.0.1", routes: [{ dst: "0.0.0.0/0" }] },
    dns: {},
  };
  const r = resultFromJson(old);
  assert.deepEqual(r.ips, [{ address: "10.1.0.5/24", gateway: "10.1.0.1" }]);
  assert.deepEqual(r.routes, [{ dst: "0.0.0.0/0" }]);
  for (const v of SUPPORTED_VERSIONS) {
    const out = resultToJson(r, v);
    assert.equal(out.cniVersion, v);
  }
  assert.deepEqual(resultToJson(r, "0.2.0"), old);
  assert.deepEqual(resultToJson(r, "0.4.0").ips, [{
    version: "4",
    address: "10.1.0.5/24",
    gateway: "10.1.0.1",
  }]);
});

Deno.test("result: a 0.2.0 prevResult with 150k routes is read whole (no argument-list limit)", () => {
  // More routes than one call's spread arguments may hold (~129k in V8): read without spreading.
  const routes = Array.from({ length: 150_000 }, (_, i) => ({
    dst: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}/32`,
  }));
  const r = resultFromJson({ cniVersion: "0.2.0", ip4: { ip: "10.1.0.5/24", routes } });
  assert.equal(r.routes?.length, 150_000);
  assert.deepEqual(r.routes?.[149_999], routes[149_999]);
});

Deno.test("result: 0.3.x prevResult loses its version field internally", () => {
  const r = resultFromJson({ ips: [{ version: "4", address: "10.1.0.5/24", interface: 0 }] });
  assert.deepEqual(r.ips, [{ address: "10.1.0.5/24", interface: 0 }]);
});

Deno.test("result: a malformed prevResult names the key (code 7)", () => {
  assert.throws(() => resultFromJson({ ips: [{ address: "x" }] }), /prevResult\.ips\[0\]\.address/);
  assert.throws(
    () => resultFromJson({ routes: [{ dst: "10.0.0.0/8", gw: "nope" }] }),
    /prevResult\.routes\[0\]\.gw/,
  );
  assert.throws(() => resultFromJson([]), /prevResult/);
});
