/**
 * The drop-in promise, in real namespaces: for single-homed, Multus-secondary and dual-stack pods
 * and every route-override key (in the NAD and in `args.cni`), a `type: route-override` ADD gives
 * route-override v1's table and exit status, names each route v1 skips once on stderr and in the
 * log (and leaves it out of the result and the record), CHECK after it passes and DEL restores the
 * starting table exactly. With `strict: true` each case with a skip is refused, table untouched.
 *
 * The expected tables are what route-override v1 (github.com/redhat-nfvpe/cni-route-override,
 * built from source) did on these pods. Where that binary is installed
 * (/usr/local/bin/route-override-v1), each case also runs it in a fresh pod of the same shape and
 * checks that its table is the one this file encodes.
 */
import assert from "node:assert/strict";
import {
  ipIn,
  type JsonObject,
  must,
  type PluginLab,
  prevResultFor,
  tableText,
} from "../../testing/mod.ts";
import { HAVE_ROUTE_OVERRIDE_V1, runRouteOverrideV1 } from "../support/route_override_v1.ts";
import { labTest, type LabTestOptions } from "../support/lab_test.ts";
import { statePath } from "../../src/state.ts";

type Shape = "single" | "multus" | "dual";

/** One NAD on one pod shape, and what route-override v1 did with it. */
interface CompatCase {
  shape: Shape;
  /** The route-override keys, given in the NAD and, in a second run, in `args.cni`. */
  keys: JsonObject;
  /** Lines of `ip route show table all` v1's ADD added to / removed from the start table. */
  added?: string[];
  removed?: string[];
  /** Routes added to the start table (`ip route add` arguments) before ADD. */
  start?: string[][];
  /** Sysctls set in the pod before ADD. */
  sysctls?: string[];
  /** Routes prevResult lists besides the shape's own. */
  prevRoutes?: JsonObject[];
  /**
   * What v1 left as it was: addroutes it failed to add (it said "failed to add route" and exited
   * 0) and routes a delroutes entry named that it did not delete; source, dst, gw.
   */
  skipped?: [string, string, string?][];
  /** With strict: true: the CNI error code, or "applies" when strict does not refuse it. */
  strict?: number | "applies";
  /** The case's name in test names, instead of its keys (a long list). */
  name?: string;
}

const DEFAULT4 = "default via 10.131.0.1 dev eth0";
const DEFAULT6 = "default via fd00:10::1 dev eth0 metric 1024 pref medium";

/**
 * 70 addroutes, two of them IPv6 on a pod without IPv6 (one among the first 28, which ADD plans,
 * records and hands to ip before it plans the rest; one in the rest: see planInParts).
 */
const LONG = Array.from(
  { length: 70 },
  (_, i) =>
    i === 5
      ? { dst: "fd00:98::/64" }
      : i === 60
      ? { dst: "fd00:99::/64" }
      : { dst: `10.90.${i}.0/24`, gw: "10.131.0.1" },
);
const LONG_ADDED = LONG.filter((r) => "gw" in r).map((r) => `${r.dst} via 10.131.0.1 dev eth0`);

/**
 * 70 addroutes on a Multus pod's net1: one at eth0's service route (outside the attachment) in
 * the first part, one via eth0's gateway (not reachable from net1) in the rest.
 */
const LONG_MULTUS = Array.from(
  { length: 70 },
  (_, i) =>
    i === 3
      ? { dst: "172.30.0.0/16", gw: "192.168.10.1" }
      : i === 50
      ? { dst: "10.0.0.0/8", gw: "10.128.2.1" }
      : { dst: `10.91.${i}.0/24`, gw: "192.168.10.1" },
);

const CASES: CompatCase[] = [
  {
    // The same on a Multus pod: eth0 keeps its routes; both skips are foreseen by the planner.
    shape: "multus",
    name: "70 addroutes on net1, one skipped in each part",
    keys: { flushgateway: true, addroutes: LONG_MULTUS },
    added: LONG_MULTUS.filter((_, i) => i !== 3 && i !== 50).map((r) =>
      `${r.dst} via 192.168.10.1 dev net1`
    ),
    skipped: [
      ["addroutes[3]", "172.30.0.0/16", "192.168.10.1"],
      ["addroutes[50]", "10.0.0.0/8", "10.128.2.1"],
    ],
    strict: 7,
  },
  {
    // A refusal the planner cannot foresee in each part of a long list: each line is skipped
    // after the kernel said no, and the rest still goes in.
    shape: "single",
    name: "70 addroutes, one refused in each part",
    sysctls: ["net.ipv6.conf.eth0.disable_ipv6=1"],
    keys: { addroutes: LONG },
    added: LONG_ADDED,
    skipped: [["addroutes[5]", "fd00:98::/64"], ["addroutes[60]", "fd00:99::/64"]],
    strict: 100,
  },
  { shape: "single", keys: { flushroutes: true }, removed: [DEFAULT4] },
  { shape: "single", keys: { flushgateway: true }, removed: [DEFAULT4] },
  {
    // v1's delroutes never match a default route (netlink gives it no Dst): it stays.
    shape: "single",
    keys: { delroutes: [{ dst: "0.0.0.0/0" }] },
    skipped: [["delroutes[0]", "0.0.0.0/0", "10.131.0.1"]],
    strict: "applies", // strict deletes it
  },
  {
    // v1 deletes a delroute's dst only when prevResult's routes list it.
    shape: "single",
    start: [["10.70.0.0/16", "via", "10.131.0.1"], ["10.71.0.0/16", "via", "10.131.0.1"]],
    prevRoutes: [{ dst: "10.70.0.0/16", gw: "10.131.0.1" }],
    keys: { delroutes: [{ dst: "10.70.0.0/16" }, { dst: "10.71.0.0/16" }] },
    removed: ["10.70.0.0/16 via 10.131.0.1 dev eth0"],
    skipped: [["delroutes[1]", "10.71.0.0/16", "10.131.0.1"]],
    strict: "applies",
  },
  {
    shape: "single",
    keys: { skipcheck: true, addroutes: [{ dst: "10.70.0.0/16", gw: "10.131.0.1" }] },
    added: ["10.70.0.0/16 via 10.131.0.1 dev eth0"],
  },
  {
    shape: "single",
    keys: { flushgateway: true, addroutes: [{ dst: "0.0.0.0/0", gw: "10.131.0.2" }] },
    removed: [DEFAULT4],
    added: ["default via 10.131.0.2 dev eth0"],
  },
  {
    // An existing route at the key, on the attachment: v1 keeps it ("file exists").
    shape: "single",
    keys: { addroutes: [{ dst: "0.0.0.0/0", gw: "10.131.0.2" }] },
    skipped: [["addroutes[0]", "0.0.0.0/0", "10.131.0.2"]],
    strict: "applies", // strict replaces a route of the attachment, as it always did
  },
  {
    // A scope-global route without gw does not make its range a gateway's link (IPv4);
    // host bits set: "invalid argument".
    shape: "single",
    keys: {
      addroutes: [
        { dst: "10.50.0.0/16" },
        { dst: "10.60.0.0/16", gw: "10.50.0.1" },
        { dst: "192.168.4.7/24", gw: "10.131.0.1" },
      ],
    },
    added: ["10.50.0.0/16 dev eth0"],
    skipped: [["addroutes[1]", "10.60.0.0/16", "10.50.0.1"], [
      "addroutes[2]",
      "192.168.4.0/24",
      "10.131.0.1",
    ]],
    strict: 100,
  },
  {
    // The README's "secondary network as default route" NAD in an ordinary Multus pod.
    shape: "multus",
    keys: { flushgateway: true, addroutes: [{ dst: "0.0.0.0/0", gw: "192.168.10.1" }] },
    skipped: [["addroutes[0]", "0.0.0.0/0", "192.168.10.1"]],
    strict: 7,
  },
  {
    shape: "multus",
    keys: {
      addroutes: [
        { dst: "10.0.0.0/8", gw: "10.128.2.1" }, // eth0's gateway
        { dst: "10.1.0.0/16", gw: "169.254.1.1" }, // not on any link
        { dst: "fd00:99::/64", gw: "fd00:10::1" }, // IPv6 in an IPv4-only attachment
        { dst: "172.30.0.0/16", gw: "192.168.10.1" }, // eth0's service route
        { dst: "10.2.0.0/16", gw: "192.168.10.1" },
      ],
    },
    added: ["10.2.0.0/16 via 192.168.10.1 dev net1"],
    skipped: [
      ["addroutes[0]", "10.0.0.0/8", "10.128.2.1"],
      ["addroutes[1]", "10.1.0.0/16", "169.254.1.1"],
      ["addroutes[2]", "fd00:99::/64", "fd00:10::1"],
      ["addroutes[3]", "172.30.0.0/16", "192.168.10.1"],
    ],
    strict: 7,
  },
  {
    // eth0 is not the attachment's: neither flushes nor deletes reach it.
    shape: "multus",
    keys: { flushroutes: true, flushgateway: true, delroutes: [{ dst: "172.30.0.0/16" }] },
  },
  {
    shape: "multus",
    keys: { skipcheck: true, addroutes: [{ dst: "fd00:98::/64" }] },
    added: ["fd00:98::/64 dev net1 metric 1024 pref medium"],
  },
  {
    // A refusal the planner cannot foresee (IPv6 off on the interface): that line is skipped after
    // the kernel said no, and the rest of the batch still goes in.
    shape: "single",
    sysctls: ["net.ipv6.conf.eth0.disable_ipv6=1"],
    keys: {
      addroutes: [
        { dst: "10.70.0.0/16", gw: "10.131.0.1" },
        { dst: "fd00:98::/64" },
        { dst: "10.71.0.0/16", gw: "10.131.0.1" },
      ],
    },
    added: ["10.70.0.0/16 via 10.131.0.1 dev eth0", "10.71.0.0/16 via 10.131.0.1 dev eth0"],
    skipped: [["addroutes[1]", "fd00:98::/64"]],
    strict: 100,
  },
  { shape: "dual", keys: { flushgateway: true }, removed: [DEFAULT4, DEFAULT6] },
  {
    // gw 0.0.0.0 is the on-link route; gw "::" the kernel refuses from v1 (strict adds it on-link).
    shape: "dual",
    keys: {
      addroutes: [{ dst: "fd00:95::/64", gw: "::" }, { dst: "10.72.0.0/16", gw: "0.0.0.0" }],
    },
    added: ["10.72.0.0/16 dev eth0"],
    skipped: [["addroutes[0]", "fd00:95::/64"]],
    strict: "applies",
  },
  {
    shape: "dual",
    keys: { delroutes: [{ dst: "::/0" }] },
    skipped: [["delroutes[0]", "::/0", "fd00:10::1"]],
    strict: "applies",
  },
  {
    shape: "dual",
    keys: {
      addroutes: [
        { dst: "::/0", gw: "fd00:10::2" },
        { dst: "fd00:99::/64", gw: "fd00:10::2" },
        { dst: "fd00:98::/64", gw: "fe80::1" },
        { dst: "fd00:97::/64", gw: "fd00:20::1" },
        { dst: "fd00:96::7/64" }, // host bits: the kernel clears them for IPv6
      ],
    },
    added: [
      "fd00:99::/64 via fd00:10::2 dev eth0 metric 1024 pref medium",
      "fd00:98::/64 via fe80::1 dev eth0 metric 1024 pref medium",
      "fd00:96::/64 dev eth0 metric 1024 pref medium",
    ],
    skipped: [
      ["addroutes[0]", "::/0", "fd00:10::2"],
      ["addroutes[3]", "fd00:97::/64", "fd00:20::1"],
    ],
    strict: 100,
  },
];

const MULTUS_PREV = (netns: string) => ({
  cniVersion: "1.0.0",
  interfaces: [{ name: "net1", sandbox: netns }],
  ips: [{ address: "192.168.10.5/24", gateway: "192.168.10.1", interface: 0 }],
  routes: [],
});

const LABS: Record<Shape, LabTestOptions> = {
  single: {},
  // net1 is the attachment; eth0 (the cluster network) is added by `shapePod`.
  multus: { podIfname: "net1", podAddress: "192.168.10.5/24", podGateway: null },
  dual: { podAddress6: "fd00:10::5/64", podGateway6: "fd00:10::1" },
};

/** A case's start routes; a Multus lab pod's eth0: the cluster default route, a service route. */
async function shapePod(e2e: PluginLab, c: CompatCase): Promise<void> {
  const { lab } = e2e;
  for (const s of c.sysctls ?? []) await must(["ip", "netns", "exec", lab.pod, "sysctl", "-qw", s]);
  for (const r of c.start ?? []) await ipIn(lab.pod, "route", "add", ...r);
  if (c.shape !== "multus") return;
  await lab.addLink(lab.pod, {
    ifname: "eth0",
    addresses: ["10.128.2.5/23"],
    routes: [{ dst: "0.0.0.0/0", gw: "10.128.2.1" }, { dst: "172.30.0.0/16", gw: "10.128.2.1" }],
  });
}

/** The NAD of a case: keys at the top level or (`fromPod`) in args.cni, and `extra`. */
function nad(e2e: PluginLab, c: CompatCase, fromPod: boolean, extra: JsonObject = {}): JsonObject {
  const prevResult: JsonObject = c.shape === "multus"
    ? MULTUS_PREV(e2e.lab.podNetns)
    : prevResultFor(e2e.lab, { v6: c.shape === "dual" });
  prevResult.routes = [...(prevResult.routes as JsonObject[]), ...(c.prevRoutes ?? [])];
  return e2e.config("compat", "route-override", {
    prevResult,
    logFile: `${e2e.state.path}/log/plugin.log`,
    ...(fromPod ? { args: { cni: c.keys } } : c.keys),
    ...extra,
  });
}

/** The start table with a case's lines removed and added, sorted as tableText sorts. */
function expected(before: string[], c: CompatCase): string[] {
  const removed = new Set(c.removed ?? []);
  for (const line of removed) assert.ok(before.includes(line), `start table lacks ${line}`);
  return [...before.filter((l) => !removed.has(l)), ...(c.added ?? [])].sort();
}

function describe(c: CompatCase, fromPod: boolean): string {
  return `${c.shape} ${fromPod ? "args.cni " : ""}${c.name ?? JSON.stringify(c.keys)}`;
}

async function logText(e2e: PluginLab): Promise<string> {
  return await Deno.readTextFile(`${e2e.state.path}/log/plugin.log`).catch(() => "");
}

for (const c of CASES) {
  for (const fromPod of [false, true]) {
    const name = describe(c, fromPod);
    const opts = LABS[c.shape];
    labTest(
      `compat: ${name}: v1's table and exit 0, skips named; DEL restores`,
      opts,
      async (e2e) => {
        await shapePod(e2e, c);
        const before = await tableText(e2e.lab.pod);
        const want = expected(before, c);
        const inv = e2e.invocation("ro1", nad(e2e, c, fromPod));
        const add = await e2e.run("ADD", inv);
        assert.equal(add.code, 0, `${add.stdout}\n${add.stderr}`);
        assert.deepEqual(await tableText(e2e.lab.pod), want, add.stderr);

        // Each skipped route: named once on stderr and once in the log, with its source.
        const skipped = c.skipped ?? [];
        const prefix = fromPod ? "args.cni." : "";
        const named = (text: string) => text.split("\n").filter((l) => l.includes("skipped route"));
        assert.equal(named(add.stderr).length, skipped.length, add.stderr);
        const log = await logText(e2e);
        assert.equal(named(log).length, skipped.length, log);
        const record = JSON.parse(
          await Deno.readTextFile(statePath(e2e.state.path, "compat", "ro1", e2e.lab.podIfname)),
        );
        for (const [source, dst, gw] of skipped) {
          const line = `skipped route ${dst}${gw ? ` via ${gw}` : ""} dev ${e2e.lab.podIfname} ` +
            `(${prefix}${source}):`;
          assert.equal(named(add.stderr).filter((l) => l.includes(line)).length, 1, add.stderr);
          assert.equal(named(log).filter((l) => l.includes(line)).length, 1, log);
          assert.match(add.stderr, /route-override v1 skips it too/);
          const same = (r: { dst: string; gw?: string; gateway?: string }) =>
            r.dst === dst && (r.gw ?? r.gateway) === gw;
          if (source.startsWith("delroutes")) {
            // Kept in the table (see `want`): not in the record as a route to restore.
            assert.ok(!record.deleted.some(same), `${dst} recorded: ${JSON.stringify(record)}`);
            continue;
          }
          // An addroute: absent from the result and from the record.
          assert.ok(!add.json.routes.some(same), `${dst} in the result: ${add.stdout}`);
          assert.ok(!record.added.some(same), `${dst} in the record: ${JSON.stringify(record)}`);
        }

        const check = await e2e.run("CHECK", {
          ...inv,
          config: { ...inv.config as JsonObject, prevResult: add.json },
        });
        assert.equal(check.code, 0, check.stdout);
        const del = await e2e.run("DEL", inv);
        assert.equal(del.code, 0, del.stdout);
        assert.deepEqual(await tableText(e2e.lab.pod), before);

        // strict: true refuses what v1 skipped, with a clear error, the table untouched.
        if (skipped.length > 0) {
          const strictInv = e2e.invocation("ro2", nad(e2e, c, fromPod, { strict: true }));
          const refused = await e2e.run("ADD", strictInv);
          if (c.strict === "applies") {
            assert.equal(refused.code, 0, refused.stdout);
            assert.equal(named(refused.stderr).length, 0, refused.stderr);
          } else {
            assert.equal(refused.json?.code, c.strict, refused.stdout);
            assert.match(
              refused.json.msg,
              c.strict === 7 ? /a route outside this attachment/ : /the kernel refused "route add/,
            );
            assert.deepEqual(await tableText(e2e.lab.pod), before);
          }
          assert.equal((await e2e.run("DEL", strictInv)).code, 0);
          assert.deepEqual(await tableText(e2e.lab.pod), before);
        }
      },
    );
  }
  if (HAVE_ROUTE_OVERRIDE_V1) {
    labTest(
      `compat: ${describe(c, false)}: route-override v1 gives this table`,
      LABS[c.shape],
      async (e2e) => {
        await shapePod(e2e, c);
        const before = await tableText(e2e.lab.pod);
        const v1 = await runRouteOverrideV1(e2e, nad(e2e, c, false));
        assert.equal(v1.code, 0, `${v1.stdout}\n${v1.stderr}`);
        assert.deepEqual(await tableText(e2e.lab.pod), expected(before, c), v1.stderr);
        const failed = v1.stderr.split("failed to add route").length - 1;
        const adds = (c.skipped ?? []).filter(([source]) => source.startsWith("addroutes"));
        assert.equal(failed, adds.length, v1.stderr);
      },
    );
  }
}

labTest(
  "compat: --dry-run lists what route-override v1 would skip and why",
  LABS.multus,
  async (e2e) => {
    const c: CompatCase = {
      shape: "multus",
      keys: {
        flushgateway: true,
        addroutes: [
          { dst: "0.0.0.0/0", gw: "192.168.10.1" },
          { dst: "10.0.0.0/8", gw: "10.128.2.1" },
          { dst: "10.2.0.0/16", gw: "192.168.10.1" },
        ],
      },
    };
    await shapePod(e2e, c);
    const before = await tableText(e2e.lab.pod);
    const dry = await e2e.run("ADD", {
      ...e2e.invocation("dry", nad(e2e, c, false)),
      argv: ["--dry-run"],
    });
    assert.equal(dry.code, 0, dry.stdout);
    const lines = dry.stdout.trim().split("\n");
    assert.match(lines[0]!, /^# route-override dry run: ADD net1/);
    assert.deepEqual(lines.slice(1).map((l) => l.split(":")[0]), [
      "# skip 0.0.0.0/0 via 192.168.10.1 dev net1 (addroutes[0])",
      "# skip 10.0.0.0/8 via 10.128.2.1 dev net1 (addroutes[1])",
      `ip -n ${e2e.lab.pod} route add 10.2.0.0/16 via 192.168.10.1 dev net1  # addroutes[2]`,
    ]);
    assert.match(
      lines[1]!,
      /0\.0\.0\.0\/0 via 10\.128\.2\.1 dev eth0, a route outside this attachment/,
    );
    assert.match(lines[2]!, /gateway 10\.128\.2\.1 is not reachable from net1/);
    assert.ok(lines.slice(1, 3).every((l) => l.endsWith("route-override v1 skips it")));
    // Under strict, the same audit, and the plan that fails.
    const strict = await e2e.run("ADD", {
      ...e2e.invocation("dry", nad(e2e, c, false, { strict: true })),
      argv: ["--dry-run"],
    });
    assert.equal(strict.json?.code, 7, strict.stdout);
    // Without the clash, strict's dry run shows v1's skip and the line ADD would run (and fail on).
    const unreachable: CompatCase = {
      shape: c.shape,
      keys: { addroutes: [{ dst: "10.0.0.0/8", gw: "10.128.2.1" }] },
    };
    const strictDry = await e2e.run("ADD", {
      ...e2e.invocation("dry", nad(e2e, unreachable, false, { strict: true })),
      argv: ["--dry-run"],
    });
    assert.equal(strictDry.code, 0, strictDry.stdout);
    assert.deepEqual(strictDry.stdout.trim().split("\n").slice(1).map((l) => l.split(":")[0]), [
      "# route-override v1 skips 10.0.0.0/8 via 10.128.2.1 dev net1 (addroutes[0])",
      `ip -n ${e2e.lab.pod} route add 10.0.0.0/8 via 10.128.2.1 dev net1  # addroutes[0]`,
    ]);
    assert.match(strictDry.stdout, /; strict: true does not \(see the plan below\)\n/);
    assert.deepEqual(await tableText(e2e.lab.pod), before);
  },
);
