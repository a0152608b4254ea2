import assert from "node:assert/strict";
import { CniError } from "../../src/cni/errors.ts";
import { decodeStdin } from "../../src/cni/skel.ts";
import { DEFAULT_STATE_DIR, logMaxBytes, MAX_ROUTES, parseConfig } from "../../src/config.ts";

const seamless = { cniVersion: "1.0.0", name: "net", type: "seamless-static-route" };
const override = { cniVersion: "1.0.0", name: "net", type: "route-override" };

function invalid(raw: Record<string, unknown>, ...parts: string[]) {
  assert.throws(() => parseConfig(raw), (e: unknown) => {
    assert.ok(e instanceof CniError, String(e));
    assert.equal(e.code, 7, e.message);
    for (const p of parts) assert.ok(e.message.includes(p), `${e.message} should mention ${p}`);
    return true;
  });
}

Deno.test("config: seamless defaults — host route on, minaddr, 10 s, default state dir", () => {
  const c = parseConfig(seamless);
  assert.equal(c.type, "seamless-static-route");
  assert.deepEqual(c.hostRoute, {
    enabled: true,
    gateway: "minaddr",
    ipv6: false,
    timeoutSeconds: 10,
  });
  assert.equal(c.stateDir, DEFAULT_STATE_DIR);
  assert.equal(c.logLevel, "error");
  assert.deepEqual([c.flushroutes, c.flushgateway, c.skipcheck], [false, false, false]);
  assert.deepEqual([c.addroutes, c.delroutes], [[], []]);
});

Deno.test("config: route-override defaults — host route off", () => {
  assert.equal(parseConfig(override).hostRoute.enabled, false);
});

Deno.test("config: hostRoute false / object forms", () => {
  assert.equal(parseConfig({ ...seamless, hostRoute: false }).hostRoute.enabled, false);
  const h = parseConfig({
    ...seamless,
    hostRoute: {
      hostIP: "192.0.2.10",
      gateway: ["10.131.0.254", "fd00::fe"],
      interface: "net1",
      ipv6: true,
      timeoutSeconds: 2.5,
    },
  }).hostRoute;
  assert.deepEqual(h, {
    enabled: true,
    hostIP: { address: "192.0.2.10", family: 4 },
    gateway: { v4: { address: "10.131.0.254", family: 4 }, v6: { address: "fd00::fe", family: 6 } },
    interface: "net1",
    ipv6: true,
    timeoutSeconds: 2.5,
  });
  assert.equal(
    parseConfig({ ...seamless, hostRoute: { gateway: "prevResult" } }).hostRoute.gateway,
    "prevResult",
  );
});

Deno.test("config: args.cni overrides top-level keys", () => {
  const c = parseConfig({
    ...override,
    flushroutes: false,
    addroutes: [{ dst: "10.1.0.0/16" }],
    args: { cni: { flushroutes: true, addroutes: [{ dst: "10.2.0.0/16", gw: "10.131.0.9" }] } },
  });
  assert.equal(c.flushroutes, true);
  assert.equal(c.addroutes.length, 1);
  assert.equal(c.addroutes[0]?.dst.address, "10.2.0.0");
  assert.equal(c.addroutes[0]?.gw?.address, "10.131.0.9");
});

Deno.test("config: args.cni errors name the args.cni key", () => {
  invalid(
    { ...override, args: { cni: { flushgateway: "yes" } } },
    "args.cni.flushgateway",
    '"yes"',
  );
  invalid(
    { ...seamless, args: { cni: { hostRoute: { hostIP: "nope" } } } },
    "args.cni.hostRoute.hostIP",
    '"nope"',
  );
});

Deno.test("config: route dst is normalized to its network (as Go's ParseCIDR does)", () => {
  const c = parseConfig({ ...override, addroutes: [{ dst: "10.1.2.3/16" }] });
  assert.equal(c.addroutes[0]?.dst.address, "10.1.0.0");
});

Deno.test("config: CNI 1.1 route attributes are read", () => {
  const c = parseConfig({
    ...override,
    addroutes: [{
      dst: "10.1.0.0/16",
      mtu: 1400,
      advmss: 1360,
      priority: 50,
      table: 100,
      scope: 0,
    }],
  });
  const r = c.addroutes[0];
  assert.ok(r);
  assert.deepEqual([r.mtu, r.advmss, r.priority, r.table, r.scope], [1400, 1360, 50, 100, 0]);
});

Deno.test("config: every invalid value names its key and value (code 7)", () => {
  invalid({ ...seamless, name: "bad name" }, "name", '"bad name"');
  invalid({ ...seamless, type: "bridge" }, "type", '"bridge"');
  invalid({ ...override, flushroutes: "true" }, "flushroutes", '"true"');
  invalid({ ...override, addroutes: { dst: "10.0.0.0/8" } }, "addroutes");
  invalid({ ...override, addroutes: [{ dst: "10.0.0.0/33" }] }, "addroutes[0].dst", "10.0.0.0/33");
  invalid({ ...override, addroutes: [{ dst: "10.0.0.0/8\nroute flush all" }] }, "addroutes[0].dst");
  invalid(
    { ...override, addroutes: [{ dst: "10.0.0.0/8", gw: "10.0.0.1; reboot" }] },
    "addroutes[0].gw",
  );
  invalid(
    { ...override, addroutes: [{ dst: "10.0.0.0/8", gw: "fd00::1" }] },
    "addroutes[0].gw",
    "family",
  );
  invalid(
    { ...override, addroutes: [{ dst: "10.0.0.0/8", mtu: 9999999 }] },
    "addroutes[0].mtu",
    "9999999",
  );
  invalid({ ...override, addroutes: [{ dst: "10.0.0.0/8", table: 0 }] }, "addroutes[0].table");
  invalid({ ...override, addroutes: [{ dst: "10.0.0.0/8", scope: 256 }] }, "addroutes[0].scope");
  invalid(
    { ...override, addroutes: [{ dst: "10.0.0.0/8", priority: -1 }] },
    "addroutes[0].priority",
  );
  invalid({ ...override, delroutes: [{ dst: 10 }] }, "delroutes[0].dst", "10");
  invalid({ ...seamless, hostRoute: "yes" }, "hostRoute", '"yes"');
  invalid({ ...seamless, hostRoute: { gateway: "maxaddr" } }, "hostRoute.gateway", '"maxaddr"');
  invalid({ ...seamless, hostRoute: { interface: "eth0 up" } }, "hostRoute.interface");
  invalid({ ...seamless, hostRoute: { timeoutSeconds: -1 } }, "hostRoute.timeoutSeconds", "-1");
  invalid({ ...seamless, stateDir: "relative" }, "stateDir", '"relative"');
  invalid({ ...seamless, logLevel: "trace" }, "logLevel", '"trace"');
  invalid({ ...override, hostRoute: { hostIP: "10.0.0.1" } }, "hostRoute", "seamless-static-route");
  invalid(
    { ...seamless, prevResult: { ips: [{ address: "10.0.0.5" }] } },
    "prevResult.ips[0].address",
  );
});

Deno.test("config: duplicate addroutes are refused before anything runs under strict", () => {
  const dup = { addroutes: [{ dst: "10.0.0.0/8" }, { dst: "10.1.0.0/8" }] };
  invalid({ ...override, strict: true, ...dup }, "addroutes[1].dst", "duplicates addroutes[0]");
  invalid({ ...seamless, ...dup }, "addroutes[1].dst", "duplicates addroutes[0]");
  // Not strict (route-override's default): both are read, the planner skips the later one.
  assert.equal(parseConfig({ ...override, ...dup }).addroutes.length, 2);
  // Same dst in another table or with another priority is a different route.
  const c = parseConfig({
    ...override,
    addroutes: [{ dst: "10.0.0.0/8" }, { dst: "10.0.0.0/8", table: 100 }, {
      dst: "10.0.0.0/8",
      priority: 5,
    }],
  });
  assert.equal(c.addroutes.length, 3);
});

Deno.test("config: debug turns on debug logging; unknown keys are ignored", () => {
  const c = parseConfig({ ...seamless, debug: true, somethingElse: { a: 1 } });
  assert.equal(c.logLevel, "debug");
});

Deno.test("decodeStdin: code 6 for empty, non-JSON and non-object input", () => {
  for (const bad of ["", "   ", "{", "[1,2]", "null", "42", '"x"']) {
    assert.throws(
      () => decodeStdin(bad),
      (e: unknown) => e instanceof CniError && e.code === 6,
      bad,
    );
  }
});

Deno.test("config: unknown top-level, hostRoute and args.cni keys warn once each, with a hint", () => {
  const c = parseConfig({
    ...seamless,
    addroute: [{ dst: "10.0.0.0/8" }],
    hostRoute: { gw: "10.131.0.254", timeout: 3 },
    args: { cni: { addroute: [], ips: ["10.1.0.5/24"], mac: "02:00:00:00:00:01" } },
    logfile: "/tmp/x.log",
    frobnicate: 1,
  });
  assert.deepEqual(c.warnings, [
    'unknown key addroute is ignored (did you mean "addroutes"?)',
    'unknown key logfile is ignored (did you mean "logFile"?)',
    "unknown key frobnicate is ignored",
    'unknown key args.cni.addroute is ignored (did you mean "addroutes"?)',
    'unknown key hostRoute.gw is ignored (did you mean "gateway"?)',
    'unknown key hostRoute.timeout is ignored (did you mean "timeoutSeconds"?)',
  ]);
  // The misspelt keys really are ignored.
  assert.deepEqual(c.addroutes, []);
  assert.equal(c.hostRoute.gateway, "minaddr");
});

Deno.test("config: keys the CNI spec and runtimes add are never warned about", () => {
  const c = parseConfig({
    ...seamless,
    args: { cni: {} },
    prevResult: { cniVersion: "1.0.0", ips: [] },
    runtimeConfig: { portMappings: [] },
    capabilities: { portMappings: true },
    ipam: {},
    dns: {},
    "cni.dev/valid-attachments": [],
    "cni.dev/anything-new": true,
    stateDir: "/tmp/s",
    logLevel: "info",
    logMaxSizeMB: 1,
    debug: false,
  });
  assert.deepEqual(c.warnings, []);
});

Deno.test("config: a route object's keys are closed — gateway/via/nexthop are refused with a hint", () => {
  for (const k of ["gateway", "via", "nexthop"]) {
    invalid(
      { ...override, addroutes: [{ dst: "10.0.0.0/8", [k]: "10.131.0.254" }] },
      `addroutes[0].${k}`,
      '"10.131.0.254"',
      'did you mean "gw"?',
    );
  }
  invalid(
    { ...override, delroutes: [{ dst: "10.0.0.0/8", priorty: 5 }] },
    "delroutes[0].priorty",
    'did you mean "priority"?',
  );
  invalid(
    { ...override, args: { cni: { addroutes: [{ dst: "10.0.0.0/8", comment: "x" }] } } },
    "args.cni.addroutes[0].comment",
    "a route has dst, gw",
  );
  // gws (multipath) is a route key.
  parseConfig({
    ...override,
    addroutes: [{ dst: "10.0.0.0/8", gws: ["10.131.0.1", "10.131.0.2"] }],
  });
});

Deno.test("config: explicit hostIP and gateway are honoured or refused, never replaced", () => {
  invalid(
    { ...seamless, hostRoute: { hostIP: "fd00::10" } },
    "hostRoute.hostIP",
    '"fd00::10"',
    "ipv6",
  );
  assert.deepEqual(
    parseConfig({ ...seamless, hostRoute: { hostIP: "fd00::10", ipv6: true } }).hostRoute.hostIP,
    { address: "fd00::10", family: 6 },
  );
  // A literal of one family for both routes: refused, not minaddr for the other.
  invalid(
    { ...seamless, hostRoute: { gateway: "10.131.0.254", ipv6: true } },
    "hostRoute.gateway",
    "no IPv6 address",
  );
  invalid({ ...seamless, hostRoute: { gateway: "fd00::1" } }, "hostRoute.gateway", "no IPv4");
  invalid(
    { ...seamless, hostRoute: { gateway: ["10.131.0.254", "fd00::1"] } },
    "hostRoute.gateway",
    "hostRoute.ipv6 is false",
  );
  invalid(
    { ...seamless, hostRoute: { gateway: ["10.131.0.254", "10.131.0.253"], ipv6: true } },
    "two IPv4",
  );
  assert.deepEqual(
    parseConfig({ ...seamless, hostRoute: { gateway: "10.131.0.254" } }).hostRoute.gateway,
    { v4: { address: "10.131.0.254", family: 4 } },
  );
});

Deno.test("config: logMaxSizeMB — default 10 MB, 0 never rotates, bad values refused", () => {
  assert.equal(parseConfig(seamless).logMaxBytes, 10 * 1024 * 1024);
  assert.equal(parseConfig({ ...seamless, logMaxSizeMB: 0 }).logMaxBytes, 0);
  assert.equal(parseConfig({ ...seamless, logMaxSizeMB: 0.5 }).logMaxBytes, 512 * 1024);
  invalid({ ...seamless, logMaxSizeMB: -1 }, "logMaxSizeMB", "-1");
  invalid({ ...seamless, logMaxSizeMB: "10" }, "logMaxSizeMB", '"10"');
});

Deno.test("config: at most MAX_ROUTES addroutes and delroutes, wherever they come from", () => {
  const many = (n: number) =>
    Array.from({ length: n }, (_, i) => ({ dst: `10.${i >> 8}.${i & 255}.0/24` }));
  assert.equal(parseConfig({ ...override, addroutes: many(MAX_ROUTES) }).addroutes.length, 1000);
  assert.equal(parseConfig({ ...override, delroutes: many(MAX_ROUTES) }).delroutes.length, 1000);
  invalid({ ...override, addroutes: many(MAX_ROUTES + 1) }, "addroutes", "1001 routes", "1000");
  invalid({ ...override, delroutes: many(MAX_ROUTES + 1) }, "delroutes", "1001 routes", "1000");
  invalid(
    { ...override, args: { cni: { addroutes: many(MAX_ROUTES + 1) } } },
    "args.cni.addroutes",
    "1001 routes",
  );
});

Deno.test("config: args.cni may not raise hostRoute.timeoutSeconds above the network's", () => {
  // The network (node admin) may set up to 300 s; a pod annotation only up to the network's own
  // value, or the default 10 s when the network sets none.
  assert.equal(
    parseConfig({ ...seamless, hostRoute: { timeoutSeconds: 300 } }).hostRoute.timeoutSeconds,
    300,
  );
  invalid(
    { ...seamless, args: { cni: { hostRoute: { timeoutSeconds: 300 } } } },
    "args.cni.hostRoute.timeoutSeconds",
    "300",
    "at most 10",
    "network config",
  );
  const lower = { ...seamless, args: { cni: { hostRoute: { timeoutSeconds: 2 } } } };
  assert.equal(parseConfig(lower).hostRoute.timeoutSeconds, 2);
  const raised = {
    ...seamless,
    hostRoute: { timeoutSeconds: 60 },
    args: { cni: { hostRoute: { timeoutSeconds: 60 } } },
  };
  assert.equal(parseConfig(raised).hostRoute.timeoutSeconds, 60);
  invalid(
    { ...raised, args: { cni: { hostRoute: { timeoutSeconds: 61 } } } },
    "args.cni.hostRoute.timeoutSeconds",
    "at most 60",
  );
  // Below the default too: with 5 in the network a pod may set 5, not 8 (it once could set 10).
  const short = { ...seamless, hostRoute: { timeoutSeconds: 5 } };
  const pod = (t: number) => ({ ...short, args: { cni: { hostRoute: { timeoutSeconds: t } } } });
  assert.equal(parseConfig(pod(5)).hostRoute.timeoutSeconds, 5);
  invalid(pod(8), "args.cni.hostRoute.timeoutSeconds", "8", "at most 5");
  invalid(pod(10), "args.cni.hostRoute.timeoutSeconds", "10", "at most 5");
  const none = { ...seamless, hostRoute: { timeoutSeconds: 0 } };
  invalid(
    { ...none, args: { cni: { hostRoute: { timeoutSeconds: 1 } } } },
    "args.cni.hostRoute.timeoutSeconds",
    "at most 0",
  );
});

Deno.test("config: DEL reads no route key, args or prevResult — an invalid one cannot block it", () => {
  // Found by the model test: a config invalid since ADD made every DEL retry fail with code 7.
  const broken = {
    ...override,
    addroutes: [{ dst: "10.60.0.0/16" }, { dst: "10.60.1.7/16" }], // duplicates
    args: { cni: { hostRoute: { timeoutSeconds: 300 }, delroutes: "x" } },
    prevResult: "not a result",
  };
  invalid(broken); // for ADD and CHECK
  const c = parseConfig(broken, "1.0.0", "DEL");
  assert.deepEqual([c.name, c.addroutes, c.delroutes, c.prevResult], ["net", [], [], undefined]);
  // What DEL does need is still checked.
  assert.throws(() => parseConfig({ ...broken, stateDir: "relative" }, "1.0.0", "DEL"), /stateDir/);
  assert.throws(() => parseConfig({ ...broken, name: "a/b" }, "1.0.0", "DEL"));
});

Deno.test("config: gw 0.0.0.0 or :: is no gateway; as a next hop or host route gateway, code 7", () => {
  const c = parseConfig({
    ...override,
    addroutes: [{ dst: "10.0.0.0/8", gw: "0.0.0.0" }, { dst: "fd00:1::/64", gw: "::" }],
    delroutes: [{ dst: "fd00:2::/64", gw: "0:0:0:0:0:0:0.0.0.0" }],
  });
  for (const r of [...c.addroutes, ...c.delroutes]) {
    assert.equal(r.gw, undefined);
    assert.equal(r.noGateway, true);
  }
  invalid(
    { ...override, addroutes: [{ dst: "10.0.0.0/8", gws: ["10.0.0.1", "0.0.0.0"] }] },
    "addroutes[0].gws[1]",
    '"0.0.0.0"',
    "unspecified",
  );
  invalid(
    {
      ...override,
      delroutes: [{ dst: "10.0.0.0/8", gws: ["10.0.0.1", "10.0.0.2"], gw: "0.0.0.0" }],
    },
    "delroutes[0].gw",
    '"0.0.0.0"',
  );
  invalid({ ...seamless, hostRoute: { gateway: "0.0.0.0" } }, "hostRoute.gateway", '"0.0.0.0"');
});

Deno.test("config: for DEL, a bad key DEL does not need warns and takes its default", () => {
  const bad = {
    ...seamless,
    logLevel: "verbose",
    strict: "yes",
    logMaxSizeMB: -1,
    debug: 1,
    logFile: "rel.log",
    "cni.dev/valid-attachments": "x",
  };
  const c = parseConfig(bad, "1.0.0", "DEL");
  assert.equal(c.logLevel, "error");
  assert.equal(c.strict, true);
  assert.equal(c.logMaxBytes, logMaxBytes(undefined));
  assert.equal(c.logFile, undefined);
  assert.equal(c.validAttachments, undefined);
  assert.equal(c.warnings.filter((w) => /DEL does not need it/.test(w)).length, 5);
  // ADD refuses each of them; GC refuses the GC key.
  for (const key of ["logLevel", "strict", "logMaxSizeMB", "debug", "logFile"]) {
    const one = { ...seamless, [key]: bad[key as keyof typeof bad] };
    assert.throws(() => parseConfig(one, "1.0.0", "ADD"), (e: CniError) => e.code === 7);
  }
  assert.throws(
    () => parseConfig({ ...seamless, "cni.dev/valid-attachments": "x" }, "1.1.0", "GC"),
    (e: CniError) => e.code === 7,
  );
  // What DEL needs is still checked.
  assert.throws(() => parseConfig({ ...bad, stateDir: "rel" }, "1.0.0", "DEL"));
});
