/**
 * Property-based fuzzing of the network configuration (fast-check): every generated input yields
 * either a valid result or a CNI error (cniVersion, code, msg[, details]) — never a crash, an
 * "internal error" (code 199) or a stack trace on stdout.
 *
 * Most runs go through the plugin's pure modules in-process, in the order `src/cni/skel.ts` and
 * ADD call them (decode → version → parse → plan → result → batch lines) against a real pod
 * table snapshot.
 * A smaller sample runs the real executable (ADD, then DEL when ADD succeeded) in a throwaway
 * pod; there the table must be unchanged after a failed ADD and after ADD + DEL.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { CniError } from "../../src/cni/errors.ts";
import { resultToJson } from "../../src/cni/result.ts";
import { configVersion, requireSupported, SUPPORTED_VERSIONS } from "../../src/cni/version.ts";
import { parseConfig } from "../../src/config.ts";
import { decodeStdin } from "../../src/cni/skel.ts";
import { batchLines } from "../../src/ip.ts";
import { parseSnapshot } from "../../src/snapshot.ts";
import { planAdd } from "../../src/plan.ts";
import { BinDir, IS_ROOT, Lab, runPlugin, tableText, TempDir } from "../../testing/mod.ts";
import { isCniError, stateFiles, withTimeout } from "../support/proof.ts";
import { goodRouteArb } from "../support/arbitraries.ts";

const SEED = Number(Deno.env.get("FUZZ_SEED") ?? 20261122);

// ---------------------------------------------------------------------------------------------
// Generators

const IPS = [
  "10.131.0.1",
  "10.131.1.200",
  "10.131.0.5",
  "172.31.9.9",
  "192.168.100.10",
  "0.0.0.0",
  "fd00:10::1",
  "fe80::1",
  "::",
  "256.1.1.1",
  "10.131.0.1%eth0",
  "1.2.3",
  "",
  "x; reboot",
];
const CIDRS = [
  "10.60.0.0/16",
  "10.60.1.7/16",
  "10.61.0.0/24",
  "0.0.0.0/0",
  "192.168.100.10/32",
  "10.131.0.0/23",
  "10.131.0.0/24",
  "fd00:20::/64",
  "fd00:10::/64",
  "::/0",
  "10.0.0.0/33",
  "10.0.0.0",
  "10.70.0.0/024",
  " 10.1.0.0/16",
  "10.1.0.0/16\nroute flush all",
  "abc",
];

const junk: fc.Arbitrary<unknown> = fc.oneof(
  fc.constant(null),
  fc.integer({ min: -5, max: 70000 }),
  fc.double({ noNaN: false }),
  fc.string({ maxLength: 8 }),
  fc.boolean(),
  fc.array(fc.integer(), { maxLength: 2 }),
  fc.dictionary(fc.string({ maxLength: 3 }), fc.integer(), { maxKeys: 2 }),
);

/** Mostly `gen`, sometimes junk, sometimes absent. */
function maybe<T>(gen: fc.Arbitrary<T>): fc.Arbitrary<T | unknown | undefined> {
  return fc.option(fc.oneof({ weight: 5, arbitrary: gen }, { weight: 1, arbitrary: junk }), {
    nil: undefined,
    freq: 2,
  });
}

const routeArb = fc.record(
  {
    dst: fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...CIDRS) }, {
      weight: 1,
      arbitrary: junk,
    }),
    gw: maybe(fc.constantFrom(...IPS)),
    mtu: maybe(fc.constantFrom(67, 68, 1400, 9000, 65536)),
    advmss: maybe(fc.constantFrom(0, 1, 1360, 65536)),
    priority: maybe(fc.constantFrom(0, 5, 100, 1024, 4294967295, 4294967296, -1, 1.5)),
    table: maybe(fc.constantFrom(1, 100, 254, 255, 0, 4294967296, -5, 2.5)),
    scope: maybe(fc.constantFrom(0, 200, 253, 254, 255, 256)),
  },
  { requiredKeys: [] },
);

const hostRouteArb = fc.oneof(
  fc.boolean(),
  fc.record(
    {
      enabled: maybe(fc.boolean()),
      hostIP: maybe(fc.constantFrom(...IPS)),
      gateway: maybe(fc.constantFrom("minaddr", "prevResult", ...IPS)),
      interface: maybe(fc.constantFrom("eth0", "eth1", "-x", "a b", "waytoolonginterface0")),
      ipv6: maybe(fc.boolean()),
      // Bounded: a real run must never wait long for an interface that will not appear.
      timeoutSeconds: maybe(fc.constantFrom(0, 0.1, -1, 301, "1")),
    },
    { requiredKeys: [] },
  ),
);

/** A prevResult: a real pod's, one of another version, or a broken one. */
function prevResultArb(netns: string) {
  const good = {
    cniVersion: "1.0.0",
    interfaces: [{ name: "eth0", sandbox: netns }],
    ips: [{ address: "10.131.0.5/23", gateway: "10.131.0.1", interface: 0 }],
    routes: [{ dst: "0.0.0.0/0", gw: "10.131.0.1" }],
    dns: {},
  };
  return fc.oneof(
    { weight: 6, arbitrary: fc.constant(good) },
    fc.constant({ ip4: { ip: "10.131.0.5/23", gateway: "10.131.0.1" }, dns: {} }),
    fc.constant({ ...good, ips: [{ address: "10.131.0.5/31", interface: 0 }] }),
    fc.constant({ ...good, ips: [{ address: "fd00:10::5/64", gateway: "fd00:10::1" }] }),
    fc.array(fc.record({ address: junk, gateway: junk }), { maxLength: 2 })
      .map((ips) => ({ ...good, ips })),
    fc.array(routeArb, { maxLength: 3 }).map((routes) => ({ ...good, routes })),
    junk.map((interfaces) => ({ ...good, interfaces })),
    junk,
  );
}

function configArb(netns: string, stateDir: string) {
  const fields = {
    cniVersion: maybe(fc.constantFrom(...SUPPORTED_VERSIONS, "1.2.0", "0.0.1", "", "1.0")),
    name: fc.oneof(
      { weight: 8, arbitrary: fc.constantFrom("fuzznet", "fuzz-net.2_x") },
      { weight: 1, arbitrary: fc.constantFrom("", "../x", "bad name", "a/b") },
      { weight: 1, arbitrary: junk },
    ),
    type: fc.oneof(
      { weight: 8, arbitrary: fc.constantFrom("seamless-static-route", "route-override") },
      { weight: 1, arbitrary: fc.constantFrom("bridge", "") },
      { weight: 1, arbitrary: junk },
    ),
    flushroutes: maybe(fc.boolean()),
    flushgateway: maybe(fc.boolean()),
    skipcheck: maybe(fc.boolean()),
    addroutes: maybe(fc.array(routeArb, { maxLength: 4 })),
    delroutes: maybe(fc.array(routeArb, { maxLength: 3 })),
    hostRoute: maybe(hostRouteArb),
    args: maybe(
      fc.record({
        cni: maybe(
          fc.record({
            addroutes: maybe(fc.array(routeArb, { maxLength: 2 })),
            flushgateway: maybe(fc.boolean()),
          }, { requiredKeys: [] }),
        ),
      }, {
        requiredKeys: [],
      }),
    ),
    logLevel: maybe(fc.constantFrom("error", "info", "trace")),
    prevResult: fc.option(prevResultArb(netns), { nil: undefined, freq: 6 }),
  };
  // stateDir is always a temp dir here: nothing may ever write to the machine's real state dir.
  return fc.record(fields, { requiredKeys: ["name", "type"] }).map((c) => ({ ...c, stateDir }));
}

/** Configs from acceptable values only: most should be accepted. */
function goodConfigArb(netns: string, stateDir: string) {
  return fc.record({
    cniVersion: fc.constantFrom(...SUPPORTED_VERSIONS),
    name: fc.constantFrom("fuzznet", "fuzz-net.2_x"),
    type: fc.constantFrom("seamless-static-route", "route-override"),
    flushroutes: fc.option(fc.boolean(), { nil: undefined, freq: 4 }),
    flushgateway: fc.option(fc.boolean(), { nil: undefined }),
    addroutes: fc.uniqueArray(goodRouteArb, {
      maxLength: 4,
      selector: (r) => `${r.dst}|${("table" in r ? r.table : undefined) ?? 254}|${r.priority ?? 0}`,
    }),
    delroutes: fc.option(fc.array(goodRouteArb, { maxLength: 2 }), { nil: undefined, freq: 3 }),
    prevResult: prevResultArb(netns).filter((p) => typeof p === "object" && p !== null),
  }, { requiredKeys: ["cniVersion", "name", "type", "addroutes"] })
    .map((c) => ({ ...c, hostRoute: c.type === "route-override" ? undefined : true, stateDir }));
}

/** Whole stdin texts: accepted configs, wild configs, and texts that are not configs at all. */
function stdinArb(netns: string, stateDir: string): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 8, arbitrary: goodConfigArb(netns, stateDir).map((c) => JSON.stringify(c)) },
    { weight: 8, arbitrary: configArb(netns, stateDir).map((c) => JSON.stringify(c)) },
    fc.constantFrom("", " ", "not json", "[]", "null", "42", "{", '"x"', '{"cniVersion":"9.9.9"}'),
    fc.string({ maxLength: 20 }),
  );
}

// ---------------------------------------------------------------------------------------------
// In-process: the pure pipeline of an ADD

/** `ip -j -batch` output of a real Lab pod (10.131.0.5/23 and fd00:10::5/64 on eth0). */
const SNAPSHOT_TEXT = [
  JSON.stringify([
    { dst: "default", gateway: "10.131.0.1", dev: "eth0", flags: [] },
    {
      dst: "10.131.0.0/23",
      dev: "eth0",
      protocol: "kernel",
      scope: "link",
      prefsrc: "10.131.0.5",
      flags: [],
    },
    {
      type: "local",
      dst: "10.131.0.5",
      dev: "eth0",
      table: "local",
      protocol: "kernel",
      scope: "host",
      prefsrc: "10.131.0.5",
      flags: [],
    },
  ]),
  JSON.stringify([
    {
      dst: "fd00:10::/64",
      dev: "eth0",
      protocol: "kernel",
      metric: 256,
      flags: [],
      pref: "medium",
    },
    { dst: "fe80::/64", dev: "eth0", protocol: "kernel", metric: 256, flags: [], pref: "medium" },
    { dst: "default", gateway: "fd00:10::1", dev: "eth0", metric: 1024, flags: [], pref: "medium" },
  ]),
  JSON.stringify([
    {
      ifindex: 1,
      ifname: "lo",
      addr_info: [{ family: "inet", local: "127.0.0.1", prefixlen: 8, scope: "host" }],
    },
    {
      ifindex: 4,
      ifname: "eth0",
      addr_info: [
        { family: "inet", local: "10.131.0.5", prefixlen: 23, scope: "global" },
        { family: "inet6", local: "fd00:10::5", prefixlen: 64, scope: "global" },
        { family: "inet6", local: "fe80::1", prefixlen: 64, scope: "link" },
      ],
    },
  ]),
].join("\n");

type Outcome = { ok: true; json: Record<string, unknown>; lines: string[] } | {
  ok: false;
  error: CniError;
};

/** What an ADD would print for `text`, computed in-process (no ip, no files). */
function addInProcess(text: string): Outcome {
  try {
    const raw = decodeStdin(text);
    const version = configVersion(raw);
    requireSupported(version);
    const config = parseConfig(raw, version);
    const plan = planAdd({
      config,
      ifname: "eth0",
      snapshot: parseSnapshot(SNAPSHOT_TEXT),
      host: {
        v4: { address: "192.168.100.10", family: 4 },
        v6: { address: "fd00:100::10", family: 6 },
      },
    });
    const json = resultToJson(plan.result, config.cniVersion);
    return { ok: true, json, lines: batchLines(plan.ops) };
  } catch (e) {
    if (e instanceof CniError) return { ok: false, error: e };
    throw e; // a crash: the property fails with the input that caused it
  }
}

Deno.test("proof: fuzzed configs (in-process, 200 runs) → a valid result or a CNI error", () => {
  let results = 0;
  let errors = 0;
  const codes: Record<number, number> = {};
  fc.assert(
    fc.property(stdinArb("/var/run/netns/fuzzpod", "/tmp/ssr-fuzz-never-written"), (text) => {
      const out = addInProcess(text);
      if (out.ok) {
        results++;
        const version = configVersion(decodeStdin(text));
        assert.equal(out.json.cniVersion, version);
        assert.ok(Array.isArray(out.json.routes) || version < "0.3.0");
        // The result survives a JSON round trip unchanged (no undefined, NaN, cycles).
        assert.deepEqual(JSON.parse(JSON.stringify(out.json)), out.json);
        // Every batch line is one `ip route add|del` command: no newline, no shell junk.
        for (const l of out.lines) assert.match(l, /^route (add|del) [A-Za-z0-9_.:\/@+\- ]+$/);
      } else {
        errors++;
        codes[out.error.code] = (codes[out.error.code] ?? 0) + 1;
        assert.notEqual(out.error.code, 199, out.error.message);
        const j = out.error.toJSON("1.0.0");
        assert.ok(isCniError(j), JSON.stringify(j));
        assert.doesNotMatch(j.msg, /\n\s+at /);
      }
    }),
    { numRuns: 200, seed: SEED, interruptAfterTimeLimit: 30_000 },
  );
  console.log(`seed ${SEED}: ${results} results, errors by code ${JSON.stringify(codes)}`);
  // The generators must exercise both outcomes, or the property proves little.
  assert.ok(results >= 20, `only ${results} valid configs`);
  assert.ok(errors >= 20, `only ${errors} rejected configs`);
});

// ---------------------------------------------------------------------------------------------
// The real executable: a smaller sample, in a real pod

Deno.test({
  name: "proof: fuzzed configs (real executable, 30 runs) → result or CNI error, table intact",
  ignore: !IS_ROOT,
  fn: async () => {
    await using lab = await Lab.create({ podAddress6: "fd00:10::5/64", podGateway6: "fd00:10::1" });
    await using bin = await BinDir.create();
    await using tmp = await TempDir.create("ssr-fuzz-");
    const baseline = await tableText(lab.pod);
    let n = 0;
    let ok = 0;
    const codes: Record<number, number> = {};
    const fixed = ["", "not json", "[]", "{", "null", '{"cniVersion":"9.9.9"}'];
    const check = async (text: string) => {
      const id = `fuzz${++n}`;
      const call = (command: string) =>
        withTimeout(
          runPlugin(bin, {
            command,
            containerId: id,
            netns: lab.podNetns,
            ifname: "eth0",
            nodeNs: lab.node,
            config: text,
          }),
          30_000,
          `${command} of ${text}`,
        );
      const r = await call("ADD");
      const where = `input ${text}\nstdout ${r.stdout}\nstderr ${r.stderr}`;
      assert.doesNotMatch(r.stdout, /\n\s+at /, where);
      assert.equal(r.stdout.trim().split("\n").length, 1, where);
      if (r.code === 0) {
        ok++;
        assert.ok(r.json && typeof r.json === "object" && !("code" in r.json), where);
        assert.equal(r.json.cniVersion, configVersion(decodeStdin(text)), where);
        const d = await call("DEL");
        assert.equal(d.code, 0, `DEL failed: ${d.stdout}\n${where}`);
        assert.deepEqual(
          await tableText(lab.pod),
          baseline,
          `ADD + DEL changed the table\n${where}`,
        );
      } else {
        assert.equal(r.code, 1, where);
        assert.ok(isCniError(r.json), where);
        codes[r.json.code] = (codes[r.json.code] ?? 0) + 1;
        assert.notEqual(r.json.code, 199, where);
        assert.deepEqual(
          await tableText(lab.pod),
          baseline,
          `failed ADD changed the table\n${where}`,
        );
      }
      for (const net of ["fuzznet", "fuzz-net.2_x"]) {
        assert.deepEqual(await stateFiles(tmp.path, net), [], `state left over\n${where}`);
      }
    };
    for (const text of fixed) await check(text);
    await fc.assert(
      fc.asyncProperty(stdinArb(lab.podNetns, tmp.path), check),
      { numRuns: 30, seed: SEED, endOnFailure: true, interruptAfterTimeLimit: 90_000 },
    );
    console.log(
      `seed ${SEED}: ${ok} of ${n} ADDs succeeded, errors by code ${JSON.stringify(codes)}`,
    );
    assert.ok(ok >= 3, `only ${ok} successful ADDs in the real sample`);
  },
});
