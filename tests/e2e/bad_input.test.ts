/**
 * Bad input, as a runtime would send it: every case ends in one CNI error JSON with the right
 * code and a message naming the culprit, a non-zero exit, no stack trace, and the pod's routing
 * table exactly as it was.
 */
import assert from "node:assert/strict";
import { type Invocation, runPlugin, tableText } from "../../testing/mod.ts";
import { labTest } from "../support/lab_test.ts";

interface BadCase {
  name: string;
  /** Config changes (merged into a valid seamless config), or raw stdin text. */
  config?: Record<string, unknown> | string;
  /** Invocation changes; an undefined value leaves that variable out of the environment. */
  inv?: { [K in keyof Invocation]?: Invocation[K] | undefined };
  code: number;
  /** Every string must appear in msg. */
  msg: string[];
}

const CASES: BadCase[] = [
  {
    name: "malformed JSON",
    config: '{"cniVersion": "1.0.0", "name": ',
    code: 6,
    msg: ["not valid JSON"],
  },
  { name: "empty stdin", config: "", code: 6, msg: ["no network configuration"] },
  { name: "JSON array", config: "[]", code: 6, msg: ["JSON object"] },
  {
    name: "unknown cniVersion",
    config: { cniVersion: "9.9.9" },
    code: 1,
    msg: ['"9.9.9"', "1.1.0"],
  },
  { name: "cniVersion not a string", config: { cniVersion: 1 }, code: 7, msg: ["cniVersion", "1"] },
  { name: "missing name", config: { name: undefined }, code: 7, msg: ["name"] },
  { name: "unknown type", config: { type: "bridge" }, code: 7, msg: ["type", '"bridge"'] },
  {
    name: "flag as string",
    config: { flushroutes: "true" },
    code: 7,
    msg: ["flushroutes", '"true"'],
  },
  {
    name: "prefix too long",
    config: { addroutes: [{ dst: "10.0.0.0/33" }] },
    code: 7,
    msg: ["addroutes[0].dst", "10.0.0.0/33"],
  },
  {
    name: "newline injection in dst",
    config: { addroutes: [{ dst: "10.0.0.0/8\nroute flush table main" }] },
    code: 7,
    msg: ["addroutes[0].dst"],
  },
  {
    name: "semicolon injection in gw",
    config: { addroutes: [{ dst: "10.0.0.0/8", gw: "10.131.0.1; ip link del eth0" }] },
    code: 7,
    msg: ["addroutes[0].gw"],
  },
  {
    name: "space injection in gw",
    config: { addroutes: [{ dst: "10.0.0.0/8", gw: "10.131.0.1 dev lo" }] },
    code: 7,
    msg: ["addroutes[0].gw", "10.131.0.1 dev lo"],
  },
  {
    name: "dst not a CIDR",
    config: { delroutes: [{ dst: "default" }] },
    code: 7,
    msg: ["delroutes[0].dst", '"default"'],
  },
  {
    name: "mtu as string",
    config: { addroutes: [{ dst: "10.0.0.0/8", mtu: "1400" }] },
    code: 7,
    msg: ["addroutes[0].mtu", '"1400"'],
  },
  {
    name: "gw of the other family",
    config: { addroutes: [{ dst: "10.0.0.0/8", gw: "fd00::1" }] },
    code: 7,
    msg: ["addroutes[0].gw", "family"],
  },
  {
    name: "interface injection",
    config: { hostRoute: { interface: "eth0\nroute flush all" } },
    code: 7,
    msg: ["hostRoute.interface"],
  },
  {
    name: "unknown gateway mode",
    config: { hostRoute: { gateway: "maxaddr" } },
    code: 7,
    msg: ["hostRoute.gateway", '"maxaddr"'],
  },
  {
    name: "bad hostIP",
    config: { hostRoute: { hostIP: "999.1.1.1" } },
    code: 7,
    msg: ["hostRoute.hostIP", '"999.1.1.1"'],
  },
  {
    name: "args.cni.addroutes not a list",
    config: { args: { cni: { addroutes: "10.0.0.0/8" } } },
    code: 7,
    msg: ["args.cni.addroutes", '"10.0.0.0/8"'],
  },
  {
    name: "duplicate addroutes",
    config: { addroutes: [{ dst: "172.16.0.0/12" }, { dst: "172.16.0.0/12" }] },
    code: 7,
    msg: ["addroutes[1].dst", "duplicates"],
  },
  {
    name: "prevResult address without prefix",
    config: { prevResult: { cniVersion: "1.0.0", ips: [{ address: "10.131.0.5" }] } },
    code: 7,
    msg: ["prevResult.ips[0].address", '"10.131.0.5"'],
  },
  {
    name: "/32 pod address with minaddr",
    config: { prevResult: { cniVersion: "1.0.0", ips: [{ address: "10.131.0.5/32" }] } },
    code: 7,
    msg: ["hostRoute.gateway", "/32", "10.131.0.5/32"],
  },
  {
    name: "relative stateDir",
    config: { stateDir: "state" },
    code: 7,
    msg: ["stateDir", '"state"'],
  },
  {
    name: "CHECK in a 0.3.1 config",
    config: { cniVersion: "0.3.1" },
    inv: { command: "CHECK" },
    code: 1,
    msg: ["0.3.1", "CHECK"],
  },
  {
    name: "missing CNI_CONTAINERID",
    inv: { containerId: undefined },
    code: 4,
    msg: ["CNI_CONTAINERID"],
  },
  { name: "missing CNI_NETNS", inv: { netns: undefined }, code: 4, msg: ["CNI_NETNS"] },
  { name: "missing CNI_IFNAME", inv: { ifname: undefined }, code: 4, msg: ["CNI_IFNAME"] },
  {
    name: "CNI_IFNAME injection",
    inv: { ifname: "eth0;reboot" },
    code: 4,
    msg: ["CNI_IFNAME", "eth0;reboot"],
  },
  {
    name: "unknown CNI_COMMAND",
    inv: { command: "BOGUS" },
    code: 4,
    msg: ["CNI_COMMAND", "BOGUS"],
  },
  {
    name: "relative CNI_NETNS",
    inv: { netns: "netns/pod" },
    code: 4,
    msg: ["CNI_NETNS", "netns/pod"],
  },
  {
    name: "CNI_NETNS that does not exist",
    inv: { netns: "/var/run/netns/ssr-no-such-netns" },
    code: 102,
    msg: ["/var/run/netns/ssr-no-such-netns", "does not exist"],
  },
  {
    name: "route with gateway instead of gw",
    config: { addroutes: [{ dst: "10.0.0.0/8", gateway: "10.131.0.254" }] },
    code: 7,
    msg: ["addroutes[0].gateway", '"10.131.0.254"', 'did you mean "gw"?'],
  },
  {
    name: "route with an unknown key",
    config: { delroutes: [{ dst: "10.0.0.0/8", metric: 5 }] },
    code: 7,
    msg: ["delroutes[0].metric", 'did you mean "priority"?'],
  },
  {
    name: "hostRoute.interface the pod does not have",
    config: { hostRoute: { interface: "net1" } },
    code: 7,
    msg: ["the pod has no interface net1 (it has: eth0)", "hostRoute.interface"],
  },
  {
    name: "standalone: CNI_IFNAME the pod does not have, no prevResult",
    config: { prevResult: undefined },
    inv: { ifname: "net1" },
    code: 7,
    msg: ["the pod has no interface net1 (it has: eth0)", "no prevResult"],
  },
  {
    name: "route-override standalone: addroutes on a CNI_IFNAME the pod does not have",
    config: { type: "route-override", prevResult: undefined },
    inv: { ifname: "net1" },
    code: 7,
    msg: ["the pod has no interface net1 (it has: eth0)", "no prevResult"],
  },
  {
    name: "IPv6 hostIP without ipv6: true",
    config: { hostRoute: { hostIP: "fd00:100::10" } },
    code: 7,
    msg: ["hostRoute.hostIP", '"fd00:100::10"', "ipv6"],
  },
  {
    name: "one IPv4 gateway literal for both host routes",
    config: { hostRoute: { gateway: "10.131.0.254", ipv6: true } },
    code: 7,
    msg: ["hostRoute.gateway", '"10.131.0.254"', "no IPv6 address"],
  },
  {
    name: "negative logMaxSizeMB",
    config: { logMaxSizeMB: -1 },
    code: 7,
    msg: ["logMaxSizeMB", "-1"],
  },
  {
    name: "CNI_CONTAINERID path traversal",
    inv: { containerId: "../../etc/passwd" },
    code: 4,
    msg: ["CNI_CONTAINERID"],
  },
];

labTest(
  `bad input: ${CASES.length} cases, each a CNI error with the table unchanged`,
  async (e2e, t) => {
    const { lab, bin, state } = e2e;
    const valid = e2e.config("bad", "seamless-static-route", {
      addroutes: [{ dst: "172.16.0.0/12" }],
    });
    const before = await tableText(lab.pod);
    for (const c of CASES) {
      await t.step(c.name, async () => {
        const config = typeof c.config === "string" ? c.config : Object.fromEntries(
          Object.entries({ ...valid, ...(c.config ?? {}) }).filter(([, v]) => v !== undefined),
        );
        const r = await runPlugin(bin, {
          command: "ADD",
          containerId: "bad1",
          netns: lab.podNetns,
          ifname: "eth0",
          nodeNs: lab.node,
          config,
          // runPlugin leaves a variable out when its value is undefined (testing/plugin.ts).
          ...(c.inv as Partial<Invocation>),
        });
        assert.notEqual(r.code, 0, "non-zero exit");
        assert.equal(r.stdout.trim().split("\n").length, 1, `one line of JSON: ${r.stdout}`);
        assert.ok(r.json, `stdout is JSON: ${r.stdout}`);
        assert.deepEqual(Object.keys(r.json).filter((k) => k !== "details"), [
          "cniVersion",
          "code",
          "msg",
        ]);
        assert.equal(r.json.code, c.code, r.json.msg);
        for (const part of c.msg) {
          assert.ok(r.json.msg.includes(part), `msg ${JSON.stringify(r.json.msg)} names ${part}`);
        }
        assert.doesNotMatch(r.stdout, /\n\s+at /, "no stack trace");
        assert.deepEqual(await tableText(lab.pod), before, "table unchanged");
      });
    }
    // No file anywhere below the state directory: a refused first ADD leaves no record, lock or
    // batch behind (an empty network directory may remain).
    const files: string[] = [];
    const walk = (dir: string) => {
      for (const e of Deno.readDirSync(dir)) {
        if (e.isDirectory) walk(`${dir}/${e.name}`);
        else files.push(`${dir}/${e.name}`);
      }
    };
    walk(state.path);
    assert.deepEqual(files, [], "no state written");
  },
);

labTest("bad input: a refused ADD creates no state directory", async (e2e) => {
  // ADD may lock its attachment before the config is validated, but only in a network directory
  // that is there already: a refused config leaves none behind.
  const { lab, state } = e2e;
  const stateDir = `${state.path}/not/yet`;
  const cfg = e2e.config("ssrpre", "route-override", {
    stateDir,
    addroutes: [{ dst: "10.70.0.0/16", gw: "not an address" }],
  });
  const before = await tableText(lab.pod);
  const r = await e2e.run("ADD", e2e.invocation("refused", cfg));
  assert.equal(r.json?.code, 7, r.stdout);
  assert.deepEqual(await tableText(lab.pod), before);
  assert.throws(() => Deno.statSync(stateDir), Deno.errors.NotFound);
});
