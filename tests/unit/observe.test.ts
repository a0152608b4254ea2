/** observe(): polls the pod through its `read` function until one deadline, then code 11. */
import assert from "node:assert/strict";
import { parseCidr } from "../../src/address.ts";
import { CniError } from "../../src/cni/errors.ts";
import { parseConfig } from "../../src/config.ts";
import { Logger } from "../../src/log.ts";
import { observe } from "../../src/observe.ts";
import type { PodSnapshot } from "../../src/snapshot.ts";

// hostIP is fixed, so observe() reads no node state: only the pod's `read` is exercised.
const config = parseConfig({
  cniVersion: "1.0.0",
  name: "n",
  type: "seamless-static-route",
  hostRoute: { hostIP: "192.168.100.10", timeoutSeconds: 5 },
});
const log = new Logger({ level: "error" });

function pod(addresses: string[]): PodSnapshot {
  const cidrs = addresses.map((a) => parseCidr(a)).filter((c) => c !== null);
  return { routes: [], addresses: new Map([["eth0", cidrs]]) };
}

Deno.test("observe: re-reads the pod until its IPv4 address appears and returns it", async () => {
  let reads = 0;
  const read = () => ++reads < 3 ? pod([]) : pod(["10.131.0.5/23"]);
  const obs = await observe({ config, ifname: "eth0", log, read, waitSeconds: 5 });
  assert.equal(reads, 3);
  assert.equal(obs.pod.v4?.cidr.address, "10.131.0.5");
  assert.equal(obs.pod.v4?.cidr.prefix, 23);
  assert.equal(obs.host.v4?.address, "192.168.100.10");
  assert.equal(obs.snapshot.addresses.get("eth0")?.length, 1);
});

Deno.test("observe: code 11 naming the interface once waitSeconds have passed", async () => {
  const t0 = Date.now();
  await assert.rejects(
    observe({ config, ifname: "eth0", log, read: () => pod([]), waitSeconds: 0.3 }),
    (e) =>
      e instanceof CniError && e.code === 11 &&
      /no IPv4 address on pod interface eth0 after 0\.3s/.test(e.message),
  );
  const elapsed = Date.now() - t0;
  assert.ok(elapsed >= 300 && elapsed < 2000, `waited ${elapsed} ms`);
});

Deno.test("observe: hostRoute off reads the pod once and waits for nothing", async () => {
  const off = parseConfig({ cniVersion: "1.0.0", name: "n", type: "route-override" });
  let reads = 0;
  const obs = await observe({
    config: off,
    ifname: "eth0",
    log,
    read: () => (reads++, pod([])),
    waitSeconds: 5,
  });
  assert.equal(reads, 1);
  assert.deepEqual(obs.host, {});
});

/** A config like `config` with more keys. */
function configWith(extra: Record<string, unknown>) {
  return parseConfig({
    cniVersion: "1.0.0",
    name: "n",
    type: "seamless-static-route",
    hostRoute: { hostIP: "192.168.100.10", timeoutSeconds: 5 },
    ...extra,
  });
}

async function failsAtOnce(c: ReturnType<typeof parseConfig>, ifname: string, msg: RegExp) {
  const t0 = Date.now();
  await assert.rejects(
    observe({ config: c, ifname, log, read: () => pod([]), waitSeconds: 5 }),
    (e) => e instanceof CniError && e.code === 7 && msg.test(e.message),
  );
  assert.ok(Date.now() - t0 < 1000, "failed at once, not after the timeout");
}

Deno.test("observe: hostRoute.interface the pod lacks is code 7 at once, naming what it has", async () => {
  await failsAtOnce(
    configWith({ hostRoute: { hostIP: "192.168.100.10", interface: "net1" } }),
    "eth0",
    /the pod has no interface net1 \(it has: eth0\); hostRoute\.interface must name/,
  );
});

Deno.test("observe: standalone (no prevResult, CNI_IFNAME absent) is code 7 at once", async () => {
  await failsAtOnce(
    configWith({}),
    "net1",
    /no interface net1 .*there is no prevResult: run this plugin chained/,
  );
});

Deno.test("observe: an IPv6-only prevResult is code 7 at once; a v4 one still waits", async () => {
  const v6only = {
    cniVersion: "1.0.0",
    interfaces: [{ name: "eth0", sandbox: "/var/run/netns/p" }],
    ips: [{ address: "fd00::5/64", interface: 0 }],
  };
  await failsAtOnce(
    configWith({ prevResult: v6only }),
    "eth0",
    /no IPv4 address on eth0 \(prevResult gives only fd00::5\/64\).*hostRoute: false/,
  );
  // prevResult with an IPv4 address the kernel does not show yet: it can still appear (code 11).
  const v4 = { ...v6only, ips: [{ address: "10.131.0.5/23", interface: 0 }] };
  const c = configWith({ prevResult: v4 });
  // observe() takes the pod address from prevResult, so it does not wait: no permanent error.
  const obs = await observe({
    config: c,
    ifname: "eth0",
    log,
    read: () => pod([]),
    waitSeconds: 1,
  });
  assert.equal(obs.pod.v4?.cidr.address, "10.131.0.5");
  // Without prevResult, a pod with only IPv6 so far waits (an IPv4 address may still come).
  await assert.rejects(
    observe({
      config: configWith({}),
      ifname: "eth0",
      log,
      read: () => pod(["fd00::5/64"]),
      waitSeconds: 0.2,
    }),
    (e) => e instanceof CniError && e.code === 11,
  );
});

Deno.test("observe: route-override addroutes on a CNI_IFNAME the pod lacks is code 7 at once", async () => {
  const ro = parseConfig({
    cniVersion: "1.0.0",
    name: "n",
    type: "route-override",
    addroutes: [{ dst: "10.0.0.0/8" }],
  });
  await failsAtOnce(ro, "net1", /no interface net1 \(it has: eth0\); there is no prevResult/);
  // Without addroutes nothing needs the interface (flush and delete find nothing to do).
  const flushOnly = parseConfig({ cniVersion: "1.0.0", name: "n", type: "route-override" });
  await observe({ config: flushOnly, ifname: "net1", log, read: () => pod([]), waitSeconds: 0 });
});
