/**
 * ECMP (`gws`) and exact revert against real namespaces: multipath add/CHECK/DEL for IPv4 and
 * IPv6, delroutes by next-hop set, flushgateway over a multipath default, rollback, tables named
 * in rt_tables, IPv6 priority 0, the local table, the attachment's scope, and attributes.
 * Assertions are on `ip -j route` next hops and on the exact CNI JSON.
 */
import assert from "node:assert/strict";
import {
  type Invocation,
  ipIn,
  type JsonObject,
  type PluginLab,
  type PluginRun,
  prevResultFor,
  tableText,
} from "../../testing/mod.ts";
import { labTest, type LabTestOptions } from "../support/lab_test.ts";

/** The dual-stack pod of the IPv6 tests. */
const V6_LAB: LabTestOptions = { podAddress6: "fd00:10::5/64", podGateway6: "fd00:10::1" };

function ok(r: PluginRun, what: string): void {
  assert.equal(r.code, 0, `${what} failed: ${r.stdout} ${r.stderr}`);
}

/** One route of `ip -j -d route show table all`, by destination (and table when given). */
async function routesTo(
  ns: string,
  fam: "-4" | "-6",
  dst: string,
): Promise<Record<string, unknown>[]> {
  const all = JSON.parse(
    await ipIn(ns, "-j", "-d", fam, "route", "show", "table", "all"),
  ) as Record<
    string,
    unknown
  >[];
  return all.filter((r) => r.dst === dst);
}

/** The sorted `gateway dev weight` of each next hop of the one route to `dst`. */
async function hopsOf(ns: string, fam: "-4" | "-6", dst: string): Promise<string[][]> {
  const routes = await routesTo(ns, fam, dst);
  assert.equal(routes.length, 1, `one route to ${dst}: ${JSON.stringify(routes)}`);
  const hops = (routes[0]?.nexthops ?? []) as { gateway: string; dev: string; weight: number }[];
  return hops.map((h) => [h.gateway, h.dev, String(h.weight)]).sort();
}

/** `ip -n NS OPTS… route add ROUTE… nexthop via GW dev eth0 [weight W]…`, one nexthop a hop. */
function addMultipath(
  ns: string,
  route: string[],
  hops: [gw: string, weight?: string][],
  opts: string[] = [],
): Promise<string> {
  const nexthops = hops.flatMap(([gw, weight]) => [
    ...["nexthop", "via", gw, "dev", "eth0"],
    ...(weight === undefined ? [] : ["weight", weight]),
  ]);
  return ipIn(ns, ...opts, "route", "add", ...route, ...nexthops);
}

/**
 * The ecmp tests' config: route-override, CNI 1.1.0, strict (these tests pin replacing a route and
 * refusing a bad next hop; route-override v1's skips are tests/e2e/compat.test.ts's), the pod's
 * prevResult, then `extra`.
 */
function ecmpConfig(e2e: PluginLab, v6: boolean, extra: JsonObject = {}): JsonObject {
  return e2e.config("ecmp", "route-override", {
    cniVersion: "1.1.0",
    strict: true,
    prevResult: prevResultFor(e2e.lab, { v6 }),
    ...extra,
  });
}

/** The invocation of pod `ecmp0` (command still to set) with config keys `extra`. */
type EcmpInvocation = (extra?: JsonObject) => Invocation;

/** A lab test (with a dual-stack pod when `v6`) given the lab and its `ecmp0` invocations. */
function ecmpTest(
  name: string,
  v6: boolean,
  body: (e2e: PluginLab, inv: EcmpInvocation) => Promise<void>,
): void {
  labTest(name, v6 ? V6_LAB : {}, (e2e) => {
    return body(e2e, (extra = {}) => e2e.invocation("ecmp0", ecmpConfig(e2e, v6, extra)));
  });
}

for (const fam of [4, 6] as const) {
  const f = fam === 4 ? "-4" : "-6";
  const dst = fam === 4 ? "10.50.0.0/16" : "fd50::/64";
  const r1 = fam === 4 ? "10.131.0.2" : "fd00:10::2";
  const r2 = fam === 4 ? "10.131.0.3" : "fd00:10::3";
  const r3 = fam === 4 ? "10.131.0.4" : "fd00:10::4";

  ecmpTest(
    `ecmp IPv${fam}: gws ADD → CHECK → DEL, one multipath route, gw appended`,
    fam === 6,
    async (e2e, inv) => {
      const { lab } = e2e;
      const before = await tableText(lab.pod);
      const extra = { addroutes: [{ dst, gws: [r1, r2], gw: r3, table: 100, priority: 7 }] };
      const add = await e2e.run("ADD", inv(extra));
      ok(add, "ADD");
      assert.deepEqual(add.json.routes.at(-1), {
        dst,
        gw: r3,
        gws: [r1, r2],
        table: 100,
        priority: 7,
      });
      const routes = await routesTo(lab.pod, f, dst);
      assert.equal(routes.length, 1);
      assert.equal(routes[0]?.table, "100");
      assert.equal(routes[0]?.metric ?? 0, 7);
      assert.deepEqual(await hopsOf(lab.pod, f, dst), [
        [r1, "eth0", "1"],
        [r2, "eth0", "1"],
        [r3, "eth0", "1"],
      ]);
      ok(await e2e.run("CHECK", inv(extra)), "CHECK");

      // One next hop gone: CHECK names both next-hop sets.
      await ipIn(lab.pod, "route", "del", dst, "table", "100", "metric", "7");
      await addMultipath(lab.pod, [dst, "table", "100", "metric", "7"], [[r1], [r2]]);
      const check = await e2e.run("CHECK", inv(extra));
      assert.notEqual(check.code, 0);
      assert.match(
        check.json.msg + check.json.details,
        new RegExp(`has next hops \\[${r1}, ${r2}\\]`),
      );
      assert.match(
        check.json.msg + check.json.details,
        new RegExp(`want next hops \\[${r1}, ${r2}, ${r3}\\]`),
      );

      ok(await e2e.run("DEL", inv(extra)), "DEL");
      // DEL removes what it added only when it is still the route it added: the changed one
      // stays; remove it, and the table is as before.
      await ipIn(lab.pod, "route", "del", dst, "table", "100", "metric", "7");
      assert.deepEqual(await tableText(lab.pod), before);
    },
  );

  ecmpTest(
    `ecmp IPv${fam}: ADD → DEL leaves the table exactly as before`,
    fam === 6,
    async (e2e, inv) => {
      const { lab } = e2e;
      const before = await tableText(lab.pod);
      const extra = { addroutes: [{ dst, gws: [r1, r2] }] };
      ok(await e2e.run("ADD", inv(extra)), "ADD");
      assert.deepEqual(await hopsOf(lab.pod, f, dst), [[r1, "eth0", "1"], [r2, "eth0", "1"]]);
      ok(await e2e.run("DEL", inv(extra)), "DEL");
      assert.deepEqual(await tableText(lab.pod), before);
    },
  );

  ecmpTest(
    `ecmp IPv${fam}: a single route to the same dst is replaced, and DEL puts it back`,
    fam === 6,
    async (e2e, inv) => {
      const { lab } = e2e;
      await ipIn(lab.pod, "route", "add", dst, "via", r3, "dev", "eth0");
      const before = await tableText(lab.pod);
      const extra = { addroutes: [{ dst, gws: [r1, r2] }] };
      ok(await e2e.run("ADD", inv(extra)), "ADD");
      // One route, exactly the configured hops (IPv6 does not merge r3 in).
      assert.deepEqual(await hopsOf(lab.pod, f, dst), [[r1, "eth0", "1"], [r2, "eth0", "1"]]);
      ok(await e2e.run("CHECK", inv(extra)), "CHECK");
      ok(await e2e.run("DEL", inv(extra)), "DEL");
      assert.deepEqual(await tableText(lab.pod), before);
    },
  );

  ecmpTest(
    `ecmp IPv${fam}: delroutes by next-hop set (any order); DEL restores weights and mtu`,
    fam === 6,
    async (e2e, inv) => {
      const { lab } = e2e;
      await addMultipath(lab.pod, [dst, "mtu", "1400"], [[r1, "3"], [r2, "1"]]);
      const before = await tableText(lab.pod);
      const wrongSet = { delroutes: [{ dst, gws: [r2, r3] }] };
      ok(await e2e.run("ADD", inv(wrongSet)), "ADD (other set)");
      assert.deepEqual(await hopsOf(lab.pod, f, dst), [[r1, "eth0", "3"], [r2, "eth0", "1"]]);
      ok(await e2e.run("DEL", inv(wrongSet)), "DEL (other set)");

      const extra = { delroutes: [{ dst, gws: [r2, r1] }] };
      const add = await e2e.run("ADD", inv(extra));
      ok(add, "ADD");
      assert.deepEqual(await routesTo(lab.pod, f, dst), []);
      ok(await e2e.run("CHECK", inv(extra)), "CHECK");
      ok(await e2e.run("DEL", inv(extra)), "DEL");
      assert.deepEqual(await hopsOf(lab.pod, f, dst), [[r1, "eth0", "3"], [r2, "eth0", "1"]]);
      assert.deepEqual(await tableText(lab.pod), before);

      // A delroute without gw/gws deletes the multipath route too.
      const any = { delroutes: [{ dst }] };
      ok(await e2e.run("ADD", inv(any)), "ADD any");
      assert.deepEqual(await routesTo(lab.pod, f, dst), []);
      ok(await e2e.run("DEL", inv(any)), "DEL any");
      assert.deepEqual(await tableText(lab.pod), before);
    },
  );

  ecmpTest(
    `ecmp IPv${fam}: flushgateway over a multipath default, replaced by a gws default`,
    fam === 6,
    async (e2e, inv) => {
      const { lab } = e2e;
      const def = "default";
      await ipIn(lab.pod, f, "route", "del", "default");
      await addMultipath(lab.pod, ["default"], [[r1], [r2]], [f]);
      const before = await tableText(lab.pod);
      const extra = {
        flushgateway: true,
        addroutes: [{ dst: fam === 4 ? "0.0.0.0/0" : "::/0", gws: [r3, r2] }],
      };
      const add = await e2e.run("ADD", inv(extra));
      ok(add, "ADD");
      assert.deepEqual(await hopsOf(lab.pod, f, def), [[r2, "eth0", "1"], [r3, "eth0", "1"]]);
      ok(await e2e.run("CHECK", inv(extra)), "CHECK");
      ok(await e2e.run("DEL", inv(extra)), "DEL");
      assert.deepEqual(await tableText(lab.pod), before);
    },
  );

  ecmpTest(
    `ecmp IPv${fam}: a refused next hop rolls the whole ADD back`,
    fam === 6,
    async (e2e, inv) => {
      const { lab } = e2e;
      await ipIn(lab.pod, f, "route", "del", "default");
      await addMultipath(lab.pod, ["default"], [[r1], [r2]], [f]);
      const before = await tableText(lab.pod);
      const offLink = fam === 4 ? "192.0.2.1" : "2001:db8::1";
      const extra = {
        flushgateway: true,
        addroutes: [{ dst, gws: [r1, r2] }, {
          dst: fam === 4 ? "10.60.0.0/16" : "fd60::/64",
          gws: [r1, offLink],
        }],
      };
      const add = await e2e.run("ADD", inv(extra));
      assert.notEqual(add.code, 0, add.stdout);
      assert.equal(add.json.code, 100, add.stdout);
      // The refused line is the multipath route with the off-link next hop, after the flush
      // and the first multipath route were applied: the rollback undid both.
      assert.ok(String(add.json.msg).includes(`nexthop via ${offLink} dev eth0`), add.stdout);
      assert.deepEqual(await tableText(lab.pod), before);
    },
  );
}

ecmpTest(
  "ecmp: invalid gws is refused with code 7 naming key and value; --dry-run prints it",
  false,
  async (e2e, inv) => {
    const { lab } = e2e;
    const before = await tableText(lab.pod);
    const cases: [unknown, string][] = [
      [["10.131.0.2"], "addroutes[0].gws"],
      [["10.131.0.2", "fd00::1"], "addroutes[0].gws[1]"],
      [["10.131.0.2", "10.131.0.2"], "addroutes[0].gws[1]"],
      ["10.131.0.2", "addroutes[0].gws"],
      [Array.from({ length: 33 }, (_, i) => `10.131.1.${i + 1}`), "addroutes[0].gws"],
    ];
    for (const [gws, key] of cases) {
      const r = await e2e.run("ADD", inv({ addroutes: [{ dst: "10.50.0.0/16", gws }] }));
      assert.equal(r.json?.code, 7, r.stdout);
      assert.ok(String(r.json.msg).includes(key), r.stdout);
    }
    const dup = await e2e.run(
      "ADD",
      inv({
        addroutes: [{ dst: "10.50.0.0/16", gw: "10.131.0.2" }, {
          dst: "10.50.0.0/16",
          gw: "10.131.0.3",
        }],
      }),
    );
    assert.equal(dup.json?.code, 7);
    assert.match(dup.stdout, /gws/);
    assert.deepEqual(await tableText(lab.pod), before);

    // args.cni may set gws; --dry-run prints the multipath line.
    const viaArgs = inv({
      args: { cni: { addroutes: [{ dst: "10.50.0.0/16", gws: ["10.131.0.2", "10.131.0.3"] }] } },
    });
    const dry = await e2e.run("ADD", { ...viaArgs, argv: ["--dry-run"] });
    ok(dry, "dry run");
    assert.match(
      dry.stdout,
      /route add 10\.50\.0\.0\/16 nexthop via 10\.131\.0\.2 dev eth0 weight 1 nexthop via 10\.131\.0\.3 dev eth0 weight 1/,
    );
    assert.deepEqual(await tableText(lab.pod), before);
    const add = await e2e.run("ADD", viaArgs);
    ok(add, "ADD via args.cni");
    assert.deepEqual(add.json.routes.at(-1), {
      dst: "10.50.0.0/16",
      gws: ["10.131.0.2", "10.131.0.3"],
    });
    ok(await e2e.run("DEL", viaArgs), "DEL");
    assert.deepEqual(await tableText(lab.pod), before);
  },
);

labTest("ecmp: gws in every result version", async (e2e) => {
  for (const v of ["0.2.0", "0.4.0", "1.0.0", "1.1.0"]) {
    const base = e2e.invocation(
      "ecmp0",
      ecmpConfig(e2e, false, {
        cniVersion: v,
        prevResult: v === "0.2.0"
          ? { cniVersion: "0.2.0", ip4: { ip: "10.131.0.5/23", gateway: "10.131.0.1" } }
          : { ...prevResultFor(e2e.lab), cniVersion: v },
        addroutes: [{ dst: "10.50.0.0/16", gws: ["10.131.0.2", "10.131.0.3"] }],
      }),
    );
    const dry = await e2e.run("ADD", { ...base, argv: ["--dry-run"] });
    ok(dry, `dry run ${v}`);
    const add = await e2e.run("ADD", base);
    ok(add, `ADD ${v}`);
    const routes = v === "0.2.0" ? add.json.ip4.routes : add.json.routes;
    assert.deepEqual(
      routes.at(-1),
      { dst: "10.50.0.0/16", gws: ["10.131.0.2", "10.131.0.3"] },
      v,
    );
    ok(await e2e.run("DEL", base), `DEL ${v}`);
  }
});

ecmpTest(
  "class 2: a table named in rt_tables, IPv6 priority 0 and table 255 are handled by value",
  true,
  async (e2e, inv) => {
    const { lab } = e2e;
    const conf = `/etc/iproute2/rt_tables.d/ssr-test-${Deno.pid}.conf`;
    await Deno.mkdir("/etc/iproute2/rt_tables.d", { recursive: true });
    await Deno.writeTextFile(conf, "219 ssrblue\n");
    try {
      const before = await tableText(lab.pod);
      const extra = {
        addroutes: [
          { dst: "10.50.0.0/16", gws: ["10.131.0.2", "10.131.0.3"], table: 219 },
          { dst: "10.51.0.0/16", gw: "10.131.0.2", table: 219 },
          { dst: "fd51::/64", gw: "fd00:10::2", priority: 0 },
        ],
      };
      ok(await e2e.run("ADD", inv(extra)), "ADD");
      const named = await routesTo(lab.pod, "-4", "10.51.0.0/16");
      assert.equal(named[0]?.table, "ssrblue");
      ok(await e2e.run("CHECK", inv(extra)), "CHECK");
      // A second ADD finds them present (no "File exists").
      ok(await e2e.run("ADD", { ...inv(extra), containerId: "ecmp1" }), "ADD again");
      ok(await e2e.run("DEL", { ...inv(extra), containerId: "ecmp1" }), "DEL again");
      ok(await e2e.run("DEL", inv(extra)), "DEL");
      assert.deepEqual(await tableText(lab.pod), before);

      // delroutes in a named table and rollback find them too.
      await ipIn(lab.pod, "route", "add", "10.52.0.0/16", "via", "10.131.0.2", "table", "219");
      const before2 = await tableText(lab.pod);
      const bad = {
        delroutes: [{ dst: "10.52.0.0/16", table: 219 }],
        addroutes: [{ dst: "10.53.0.0/16", gw: "192.0.2.1" }],
      };
      const fail = await e2e.run("ADD", inv(bad));
      assert.equal(fail.json?.code, 100, fail.stdout);
      assert.deepEqual(await tableText(lab.pod), before2);

      const local = await e2e.run(
        "ADD",
        inv({
          addroutes: [{ dst: "10.54.0.0/16", gw: "10.131.0.2", table: 255 }],
        }),
      );
      assert.equal(local.json?.code, 7);
      assert.match(local.json.msg, /table/);
    } finally {
      await Deno.remove(conf);
    }
  },
);

labTest(
  "class 6: args.cni stays on CNI_IFNAME; a clash outside is skipped, or code 7 under strict",
  async (e2e) => {
    const { lab } = e2e;
    // A second attachment net1 (10.140.0.5/24); eth0 has the pod's default route.
    await lab.addLink(lab.pod, { ifname: "net1", addresses: ["10.140.0.5/24"], routes: [] });
    await ipIn(lab.pod, "route", "add", "10.70.0.0/16", "via", "10.131.0.2", "dev", "eth0");
    const before = await tableText(lab.pod);
    const net1 = (extra: JsonObject, type = "route-override"): Invocation => ({
      ...e2e.invocation(
        "ecmp0",
        e2e.config("ecmp", type, {
          cniVersion: "1.1.0",
          prevResult: {
            cniVersion: "1.1.0",
            interfaces: [{ name: "net1", sandbox: lab.podNetns }],
            ips: [{ address: "10.140.0.5/24", gateway: "10.140.0.1", interface: 0 }],
          },
          ...extra,
        }),
      ),
      ifname: "net1",
    });
    // flushroutes / flushgateway / delroutes through args.cni: eth0's routes stay.
    const flush = net1({
      args: {
        cni: { flushroutes: true, flushgateway: true, delroutes: [{ dst: "10.70.0.0/16" }] },
      },
    });
    ok(await e2e.run("ADD", flush), "ADD flush");
    assert.deepEqual(await tableText(lab.pod), before);
    ok(await e2e.run("DEL", flush), "DEL flush");

    // hostRoute.interface through args.cni: only CNI_IFNAME.
    const hr = net1(
      { args: { cni: { hostRoute: { enabled: false, interface: "eth0" } } } },
      "seamless-static-route",
    );
    const hrRun = await e2e.run("ADD", hr);
    assert.equal(hrRun.json?.code, 7, hrRun.stdout);
    assert.match(hrRun.json.msg, /args\.cni\.hostRoute\.interface/);

    // An addroute that would replace eth0's default: skipped as route-override v1 does (exit 0,
    // eth0's default kept, the route named on stderr); under strict, code 7 naming both routes.
    const pod = { args: { cni: { addroutes: [{ dst: "0.0.0.0/0", gw: "10.140.0.1" }] } } };
    const skip = await e2e.run("ADD", net1(pod));
    ok(skip, "ADD skipping the clash");
    assert.deepEqual(skip.json.routes, []);
    assert.match(
      skip.stderr,
      /skipped route 0\.0\.0\.0\/0 via 10\.140\.0\.1 dev net1 \(args\.cni\.addroutes\[0\]\)/,
    );
    assert.deepEqual(await tableText(lab.pod), before);
    ok(await e2e.run("DEL", net1(pod)), "DEL after the skip");
    assert.deepEqual(await tableText(lab.pod), before);
    const clash = await e2e.run("ADD", net1({ ...pod, strict: true }));
    assert.equal(clash.json?.code, 7, clash.stdout);
    const text = `${clash.json.msg} ${clash.json.details}`;
    assert.match(text, /0\.0\.0\.0\/0 via 10\.131\.0\.1 dev eth0/);
    assert.match(text, /0\.0\.0\.0\/0 via 10\.140\.0\.1 dev net1/);
    assert.deepEqual(await tableText(lab.pod), before);
  },
);

ecmpTest(
  "class 7: a deleted route comes back with its attributes, or is refused up front",
  true,
  async (e2e, inv) => {
    const { lab } = e2e;
    await ipIn(
      lab.pod,
      "route",
      "add",
      "10.8.0.0/16",
      "via",
      "10.131.0.2",
      "dev",
      "eth0",
      ...["initcwnd", "10", "initrwnd", "20", "rtt", "100ms", "rttvar", "50ms", "hoplimit", "5"],
      ...["window", "1000", "quickack", "1", "congctl", "cubic", "realm", "3", "mtu", "1400"],
      ...["advmss", "1300"],
    );
    await ipIn(lab.pod, "-6", "route", "add", "fd08::/64", "via", "fd00:10::2", "pref", "high");
    await ipIn(lab.pod, "route", "add", "10.9.0.0/16", "via", "inet6", "fe80::1", "dev", "eth0");
    await ipIn(
      lab.pod,
      "route",
      "add",
      "10.10.0.0/16",
      "via",
      "10.131.0.2",
      "onlink",
      "dev",
      "eth0",
    );
    const detail = async () => [
      ...(await routesTo(lab.pod, "-4", "10.8.0.0/16")),
      ...(await routesTo(lab.pod, "-6", "fd08::/64")),
      ...(await routesTo(lab.pod, "-4", "10.9.0.0/16")),
      ...(await routesTo(lab.pod, "-4", "10.10.0.0/16")),
    ];
    const want = await detail();
    assert.equal(want.length, 4);
    const before = await tableText(lab.pod);
    const extra = {
      delroutes: [{ dst: "10.8.0.0/16" }, { dst: "fd08::/64" }, { dst: "10.9.0.0/16" }, {
        dst: "10.10.0.0/16",
      }],
    };
    ok(await e2e.run("ADD", inv(extra)), "ADD");
    assert.deepEqual(await detail(), []);
    ok(await e2e.run("DEL", inv(extra)), "DEL");
    assert.deepEqual(await detail(), want);
    assert.deepEqual(await tableText(lab.pod), before);

    // An IPv6 route with a lifetime (as router advertisements give) is deleted and restored
    // (without its remaining lifetime, as docs/configuration.md says).
    await ipIn(lab.pod, "-6", "route", "add", "fd09::/64", "via", "fd00:10::2", "expires", "300");
    const before3 = await tableText(lab.pod);
    const ra = { delroutes: [{ dst: "fd09::/64" }] };
    ok(await e2e.run("ADD", inv(ra)), "ADD ra");
    assert.deepEqual(await routesTo(lab.pod, "-6", "fd09::/64"), []);
    ok(await e2e.run("DEL", inv(ra)), "DEL ra");
    assert.deepEqual(await tableText(lab.pod), before3);

    // What it cannot restore (a route through a nexthop object, which may be gone by DEL), it
    // refuses to delete.
    await ipIn(lab.pod, "nexthop", "add", "id", "11", "via", "10.131.0.2", "dev", "eth0");
    await ipIn(lab.pod, "route", "add", "10.11.0.0/16", "nhid", "11");
    const before2 = await tableText(lab.pod);
    const refuse = await e2e.run("ADD", inv({ delroutes: [{ dst: "10.11.0.0/16" }] }));
    assert.equal(refuse.json?.code, 7, refuse.stdout);
    assert.match(refuse.json.msg + refuse.json.details, /nhid/);
    assert.deepEqual(await tableText(lab.pod), before2);
  },
);
