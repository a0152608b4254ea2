/**
 * route-override v1 compatibility of keys and addroutes: keys in another letter case (Go's
 * decoder), duplicate and IPv4-mapped addroutes (v1 exits 0 and skips them), and the scope of a
 * pod's `args.cni.hostRoute`. Where route-override v1 is installed, the same config is run
 * through it to show the table this plugin must match.
 */
import assert from "node:assert/strict";
import { type JsonObject, PluginLab, prevResultFor, tableText } from "../../testing/mod.ts";
import { HAVE_ROUTE_OVERRIDE_V1, runRouteOverrideV1 } from "../support/route_override_v1.ts";
import { labTest } from "../support/lab_test.ts";

labTest(
  "args.cni.hostRoute never replaces a route on another sandbox interface",
  async (e2e) => {
    const { lab } = e2e;
    // A second pod interface, eth1, that prevResult also lists (a main plugin making two).
    await lab.addLink(lab.pod, {
      ifname: "eth1",
      addresses: ["10.140.0.5/24"],
      routes: [{ dst: "10.0.0.9/32", gw: "10.140.0.1" }],
    });
    const before = await tableText(lab.pod);
    const prevResult = prevResultFor(lab) as JsonObject & { interfaces: JsonObject[] };
    prevResult.interfaces.push({ name: "eth1", sandbox: lab.podNetns });
    const inv = e2e.invocation(
      "hr1",
      e2e.config("hr", "seamless-static-route", {
        prevResult,
        args: { cni: { hostRoute: { hostIP: "10.0.0.9", gateway: "10.131.0.1" } } },
      }),
    );
    const add = await e2e.run("ADD", inv);
    const after = await tableText(lab.pod);
    // eth1's route is not the pod author's to replace: refused (code 7), or left alone.
    assert.ok(
      after.includes("10.0.0.9 via 10.140.0.1 dev eth1"),
      `eth1's route replaced through args.cni: ${add.stdout}\n${after.join("\n")}`,
    );
    if (add.code === 0) assert.equal((await e2e.run("DEL", inv)).code, 0);
    assert.deepEqual(await tableText(lab.pod), before);
  },
);

// Two addroutes at one kernel key (the second one v1 meets gets "file exists"; a host-bits dst
// "invalid argument"): route-override v1 exits 0 with the first route the kernel takes.
const DUPLICATES: { name: string; addroutes: JsonObject[]; added: string; skipped: string }[] = [
  {
    name: "the same dst twice",
    addroutes: [{ dst: "10.70.0.0/16", gw: "10.131.0.1" }, {
      dst: "10.70.0.0/16",
      gw: "10.131.0.2",
    }],
    added: "10.70.0.0/16 via 10.131.0.1 dev eth0",
    skipped: "10.70.0.0/16 via 10.131.0.2",
  },
  {
    name: "a host-bits dst, then its network",
    addroutes: [{ dst: "10.70.0.7/16", gw: "10.131.0.1" }, {
      dst: "10.70.0.0/16",
      gw: "10.131.0.2",
    }],
    added: "10.70.0.0/16 via 10.131.0.2 dev eth0",
    skipped: "10.70.0.0/16 via 10.131.0.1",
  },
];

for (const c of DUPLICATES) {
  labTest(`route-override, ${c.name} in addroutes: v1's table and exit 0`, async (e2e) => {
    const before = await tableText(e2e.lab.pod);
    const config = e2e.config("dup", "route-override", { addroutes: c.addroutes });
    const inv = e2e.invocation("dup1", config);
    const add = await e2e.run("ADD", inv);
    assert.equal(add.code, 0, `${add.stdout}\n${add.stderr}`);
    assert.deepEqual(await tableText(e2e.lab.pod), [...before, c.added].sort(), add.stderr);
    assert.match(add.stderr, new RegExp(`skipped route ${c.skipped.replaceAll(".", "\\.")} `));
    assert.equal(add.stderr.match(/skipped route/g)?.length, 1, add.stderr);
    // The result lists the route added, once; CHECK (with ADD's result) finds nothing wrong.
    const listed = (add.json.routes as JsonObject[]).filter((r) => r.dst === "10.70.0.0/16");
    const [via] = c.added.split(" ").slice(2, 3);
    assert.deepEqual(listed, [{ dst: "10.70.0.0/16", gw: via }], add.stdout);
    const check = await e2e.run("CHECK", {
      ...inv,
      config: { ...inv.config as JsonObject, prevResult: add.json },
    });
    assert.equal(check.code, 0, check.stdout);
    assert.equal((await e2e.run("DEL", inv)).code, 0);
    assert.deepEqual(await tableText(e2e.lab.pod), before);
    // strict: true refuses the pair before anything changes.
    const strict = e2e.config("dup", "route-override", { strict: true, addroutes: c.addroutes });
    const refused = await e2e.run("ADD", e2e.invocation("dup2", strict));
    assert.equal(refused.json?.code, 7, refused.stdout);
    assert.match(String(refused.json?.msg), /addroutes\[1\]\.dst .*duplicates addroutes\[0\]/);
    assert.deepEqual(await tableText(e2e.lab.pod), before);
  });
  if (HAVE_ROUTE_OVERRIDE_V1) {
    labTest(`route-override v1, ${c.name} in addroutes: exit 0`, async (e2e) => {
      const before = await tableText(e2e.lab.pod);
      const v1 = await runRouteOverrideV1(
        e2e,
        e2e.config("dup", "route-override", { addroutes: c.addroutes }),
      );
      assert.equal(v1.code, 0, v1.stderr);
      assert.deepEqual(await tableText(e2e.lab.pod), [...before, c.added].sort(), v1.stderr);
    });
  }
}

// route-override v1 decodes its config with Go's encoding/json, which matches keys without
// regard to case: `flushGateway`, `addRoutes`, a route's `Dst`/`GW` (and the same in args.cni)
// are its keys. A NAD (or a pod's cni-args) written so gets v1's table from this plugin too.
const CASED: {
  name: string;
  keys: JsonObject;
  fromPod?: boolean;
  /** v1's table: lines added to and removed from the start table. */
  added: string[];
  removed?: string[];
}[] = [
  {
    name: "flushGateway and addRoutes",
    keys: { flushGateway: true, addRoutes: [{ dst: "0.0.0.0/0", gw: "10.131.0.2" }] },
    added: ["default via 10.131.0.2 dev eth0"],
    removed: ["default via 10.131.0.1 dev eth0"],
  },
  {
    name: "a route's Dst and GW",
    keys: { addroutes: [{ Dst: "10.70.0.0/16", GW: "10.131.0.1" }] },
    added: ["10.70.0.0/16 via 10.131.0.1 dev eth0"],
  },
  {
    name: "args.cni AddRoutes",
    keys: { AddRoutes: [{ dst: "10.71.0.0/16", gw: "10.131.0.1" }] },
    fromPod: true,
    added: ["10.71.0.0/16 via 10.131.0.1 dev eth0"],
  },
  {
    // Go folds the long s (U+017F) to s and the Kelvin sign (U+212A) to k.
    name: "the long s and the Kelvin sign",
    keys: {
      "FLU\u017FHGATEWAY": true,
      "\u017F\u212AIPCHECK": false,
      "addRoute\u017F": [{ dst: "0.0.0.0/0", gw: "10.131.0.2" }],
    },
    added: ["default via 10.131.0.2 dev eth0"],
    removed: ["default via 10.131.0.1 dev eth0"],
  },
  {
    name: "Args.Cni, the last of one key winning",
    keys: {
      Args: {
        Cni: {
          addroutes: [{ dst: "10.72.0.0/16", gw: "10.131.0.1" }],
          ADDROUTES: [{ dst: "10.73.0.0/16", gw: "10.131.0.1" }],
        },
      },
    },
    added: ["10.73.0.0/16 via 10.131.0.1 dev eth0"],
  },
];

for (const c of CASED) {
  const config = (e2e: PluginLab) =>
    e2e.config("cased", "route-override", c.fromPod ? { args: { cni: c.keys } } : c.keys);
  const want = (before: string[]) =>
    [...before.filter((l) => !(c.removed ?? []).includes(l)), ...c.added].sort();
  labTest(`route-override keys in other case (${c.name}): v1's table`, async (e2e) => {
    const before = await tableText(e2e.lab.pod);
    const inv = e2e.invocation("cs1", config(e2e));
    const add = await e2e.run("ADD", inv);
    assert.equal(add.code, 0, add.stdout);
    assert.deepEqual(await tableText(e2e.lab.pod), want(before), add.stderr);
    assert.match(add.stderr, /is read as \S+, as route-override v1 \(Go\) reads keys/);
    assert.equal((await e2e.run("DEL", inv)).code, 0);
    assert.deepEqual(await tableText(e2e.lab.pod), before);
  });
  if (HAVE_ROUTE_OVERRIDE_V1) {
    labTest(
      `route-override v1, keys in other case (${c.name}): this table`,
      async (e2e) => {
        const before = await tableText(e2e.lab.pod);
        const v1 = await runRouteOverrideV1(e2e, config(e2e));
        assert.equal(v1.code, 0, v1.stderr);
        assert.deepEqual(await tableText(e2e.lab.pod), want(before), v1.stderr);
      },
    );
  }
}

// The same keys under seamless-static-route: its own keys are exact; another case is an unknown
// key (a warning naming the right one), not applied.
labTest("seamless-static-route: addRoutes is not addroutes (warned, not applied)", async (e2e) => {
  const before = await tableText(e2e.lab.pod);
  const inv = e2e.invocation(
    "ss1",
    e2e.config("ss", "seamless-static-route", {
      hostRoute: false,
      addRoutes: [{ dst: "10.74.0.0/16", gw: "10.131.0.1" }],
    }),
  );
  const add = await e2e.run("ADD", inv);
  assert.equal(add.code, 0, add.stdout);
  assert.match(add.stderr, /unknown key addRoutes is ignored \(did you mean "addroutes"\?\)/);
  assert.deepEqual(await tableText(e2e.lab.pod), before);
  assert.equal((await e2e.run("DEL", inv)).code, 0);
});

// An IPv4-mapped IPv6 dst (::ffff:a.b.c.d/N) or gw: Go's net package reads it as IPv4, so
// route-override v1's add fails ("gateway, source, and destination ip are not the same IP
// family"), exit 0, table unchanged. Skipped here too; refused (code 7) under strict.
const MAPPED: { name: string; route: JsonObject; key: string }[] = [
  { name: "dst", route: { dst: "::ffff:10.9.0.0/112", gw: "fd00:10::1" }, key: "addroutes[0].dst" },
  { name: "gw", route: { dst: "fd00:99::/64", gw: "::ffff:10.131.0.1" }, key: "addroutes[0].gw" },
];
for (const c of MAPPED) {
  labTest(
    `route-override, an IPv4-mapped ${c.name}: skipped, or refused (code 7) under strict`,
    { podAddress6: "fd00:10::5/64", podGateway6: "fd00:10::1" },
    async (e2e) => {
      const before = await tableText(e2e.lab.pod);
      const config = (strict: boolean) =>
        e2e.config("mapped", "route-override", {
          prevResult: prevResultFor(e2e.lab, { v6: true }),
          strict,
          addroutes: [c.route],
        });
      if (HAVE_ROUTE_OVERRIDE_V1) {
        const v1 = await runRouteOverrideV1(e2e, config(false));
        assert.equal(v1.code, 0, v1.stderr);
        assert.match(v1.stderr, /not the same IP family/);
        assert.deepEqual(await tableText(e2e.lab.pod), before);
      }
      const refused = await e2e.run("ADD", e2e.invocation("mp2", config(true)));
      assert.notEqual(refused.code, 0, refused.stdout);
      assert.equal(refused.json?.code, 7, refused.stdout);
      assert.match(String(refused.json?.msg), new RegExp(c.key.replace(/[[\].]/g, "\\$&")));
      assert.match(String(refused.json?.msg), /IPv4-mapped/);
      assert.deepEqual(await tableText(e2e.lab.pod), before);
      const inv = e2e.invocation("mp3", config(false));
      const add = await e2e.run("ADD", inv);
      assert.equal(add.code, 0, add.stdout);
      assert.match(add.stderr, /skipped route .*IPv4-mapped/);
      assert.deepEqual(add.json?.routes ?? [], prevResultFor(e2e.lab, { v6: true }).routes ?? []);
      assert.deepEqual(await tableText(e2e.lab.pod), before);
      assert.equal((await e2e.run("DEL", inv)).code, 0);
    },
  );
}

// An IPv4-mapped gw of an IPv4 dst: Go reads it as the IPv4 address, and v1 adds the route.
labTest("route-override, an IPv4 dst via an IPv4-mapped gw: v1's IPv4 route", async (e2e) => {
  const before = await tableText(e2e.lab.pod);
  const want = [...before, "10.80.0.0/16 via 10.131.0.1 dev eth0"].sort();
  const config = (strict: boolean) =>
    e2e.config("mapped", "route-override", {
      strict,
      addroutes: [{ dst: "10.80.0.0/16", gw: "::ffff:10.131.0.1" }],
    });
  if (HAVE_ROUTE_OVERRIDE_V1) {
    await using other = await PluginLab.create({});
    const v1 = await runRouteOverrideV1(
      other,
      other.config("mapped", "route-override", {
        addroutes: [{ dst: "10.80.0.0/16", gw: "::ffff:10.131.0.1" }],
      }),
    );
    assert.equal(v1.code, 0, v1.stderr);
    assert.deepEqual(await tableText(other.lab.pod), want);
  }
  const refused = await e2e.run("ADD", e2e.invocation("mg1", config(true)));
  assert.equal(refused.json?.code, 7, refused.stdout);
  assert.match(String(refused.json?.msg), /addroutes\[0\]\.gw .*IPv4-mapped.*10\.131\.0\.1/);
  assert.deepEqual(await tableText(e2e.lab.pod), before);
  const inv = e2e.invocation("mg2", config(false));
  const add = await e2e.run("ADD", inv);
  assert.equal(add.code, 0, add.stdout);
  assert.match(add.stderr, /addroutes\[0\]\.gw ::ffff:10\.131\.0\.1 is read as 10\.131\.0\.1/);
  assert.deepEqual(await tableText(e2e.lab.pod), want);
  assert.deepEqual(add.json?.routes?.at(-1), { dst: "10.80.0.0/16", gw: "10.131.0.1" });
  assert.equal((await e2e.run("DEL", inv)).code, 0);
  assert.deepEqual(await tableText(e2e.lab.pod), before);
});
