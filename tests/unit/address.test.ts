import assert from "node:assert/strict";
import {
  contains,
  isLinkLocal,
  kernelDst,
  minAddress,
  networkOf,
  parseCidr,
  parseIp,
} from "../../src/address.ts";

function min(cidr: string): string | undefined {
  const c = parseCidr(cidr);
  assert.ok(c, `parse ${cidr}`);
  return minAddress(c)?.address;
}

Deno.test("minAddress: network + 1 for ordinary subnets", () => {
  assert.equal(min("10.131.0.5/23"), "10.131.0.1");
  assert.equal(min("10.131.1.200/23"), "10.131.0.1");
  assert.equal(min("10.0.0.5/30"), "10.0.0.5");
  assert.equal(min("192.168.7.9/24"), "192.168.7.1");
  assert.equal(min("10.0.0.255/8"), "10.0.0.1");
});

Deno.test("minAddress: /0 gives 0.0.0.1 and ::1", () => {
  assert.equal(min("1.2.3.4/0"), "0.0.0.1");
  assert.equal(min("2001:db8::5/0"), "::1");
});

Deno.test("minAddress: /31 and /127 give the lower address (point-to-point)", () => {
  assert.equal(min("10.0.0.5/31"), "10.0.0.4");
  assert.equal(min("10.0.0.4/31"), "10.0.0.4");
  assert.equal(min("fd00::5/127"), "fd00::4");
});

Deno.test("minAddress: /32 and /128 have none", () => {
  assert.equal(min("10.0.0.5/32"), undefined);
  assert.equal(min("fd00::5/128"), undefined);
});

Deno.test("minAddress: IPv6 prefix::1, carrying across bytes", () => {
  assert.equal(min("fd00:10::5/64"), "fd00:10::1");
  assert.equal(min("2001:db8:0:ff00::77/56"), "2001:db8:0:ff00::1");
  assert.equal(min("fd00::abcd/112"), "fd00::1");
});

Deno.test("networkOf clears host bits", () => {
  assert.equal(networkOf(parseCidr("10.131.1.7/23")!).address, "10.131.0.0");
  assert.equal(networkOf(parseCidr("fd00:1:2:3:4::1/48")!).address, "fd00:1:2::");
});

Deno.test("parseIp is strict: no short forms, zones, octal or junk", () => {
  assert.deepEqual(parseIp("10.1.2.3"), { address: "10.1.2.3", family: 4 });
  assert.deepEqual(parseIp("FD00:0::1"), { address: "fd00::1", family: 6 });
  for (
    const bad of [
      "10.1",
      "010.1.1.1",
      "0x0a.1.1.1",
      "fe80::1%eth0",
      "10.1.2.3 ",
      "10.1.2.3\nroute flush",
      "",
      "::g",
      "1.2.3.4;ls",
      "256.1.1.1",
    ]
  ) {
    assert.equal(parseIp(bad), null, JSON.stringify(bad));
  }
});

Deno.test("parseCidr is strict", () => {
  assert.deepEqual(parseCidr("10.0.0.0/8"), { address: "10.0.0.0", family: 4, prefix: 8 });
  for (
    const bad of [
      "10.0.0.0/33",
      "10.0.0.0",
      "10.0.0.0/",
      "10.0.0.0/8/8",
      "fd00::/129",
      "x/8",
      "10.0.0.0/08a",
      "10.0.0.0/-1",
    ]
  ) {
    assert.equal(parseCidr(bad), null, bad);
  }
});

Deno.test("kernelDst reads ip -j destinations", () => {
  assert.deepEqual(kernelDst("default", 4), { address: "0.0.0.0", family: 4, prefix: 0 });
  assert.deepEqual(kernelDst("default", 6), { address: "::", family: 6, prefix: 0 });
  assert.deepEqual(kernelDst("10.0.0.1", 4), { address: "10.0.0.1", family: 4, prefix: 32 });
  assert.deepEqual(kernelDst("fd00::1", 6), { address: "fd00::1", family: 6, prefix: 128 });
  assert.deepEqual(kernelDst("10.0.0.0/24", 4), { address: "10.0.0.0", family: 4, prefix: 24 });
  // IPv4-embedded IPv6 text as inet_ntop prints it becomes ipaddr.js's canonical form.
  assert.equal(kernelDst("::ffff:10.0.0.1", 6)?.address, parseIp("::ffff:10.0.0.1")?.address);
  for (const bad of ["10.0.0.0/", "10.0.0.0/33", "10.0.0.0/a", "fd00::/64", "", "eth0"]) {
    assert.equal(kernelDst(bad, 4), null, bad);
  }
  assert.equal(kernelDst("fd00::/129", 6), null);
  assert.equal(kernelDst("10.0.0.0/8", 6), null);
});

Deno.test("contains and isLinkLocal", () => {
  assert.ok(contains(parseCidr("10.131.0.0/23")!, parseIp("10.131.1.9")!));
  assert.ok(!contains(parseCidr("10.131.0.0/23")!, parseIp("10.131.2.1")!));
  assert.ok(!contains(parseCidr("10.131.0.0/23")!, parseIp("fd00::1")!));
  assert.ok(isLinkLocal(parseCidr("169.254.0.0/16")!));
  assert.ok(isLinkLocal(parseCidr("fe80::/64")!));
  assert.ok(!isLinkLocal(parseCidr("10.0.0.0/8")!));
  assert.ok(!isLinkLocal(parseCidr("0.0.0.0/0")!));
});

Deno.test("parseIp: an embedded dotted quad is the last 32 bits, whatever the range", () => {
  // ipaddr.js alone read ::a.b.c.d (IPv4-compatible, as the kernel prints ::/96) as ::ffff:a.b.c.d.
  const cases: [string, string][] = [
    ["::1.2.3.4", "::102:304"],
    ["::0:1.2.3.4", "::102:304"],
    ["::0.1.0.0", "::1:0"],
    ["::ffff:1.2.3.4", "::ffff:102:304"],
    ["::ffff:0:1.2.3.4", "::ffff:0:102:304"],
    ["64:ff9b::1.2.3.4", "64:ff9b::102:304"],
    ["1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:102:304"],
  ];
  for (const [text, canonical] of cases) {
    assert.equal(parseIp(text)?.address, canonical, text);
    assert.equal(parseIp(canonical)?.address, canonical, canonical);
    assert.equal(kernelDst(`${text}/128`, 6)?.address, canonical, `kernel ${text}`);
  }
  for (
    const bad of ["::1.2.3.256", "::01.2.3.4", "::1.2.3", "1.2.3.4::", "1:2:3:4:5:6:7:1.2.3.4"]
  ) {
    assert.equal(parseIp(bad), null, bad);
  }
});
