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
