/**
 * `deno task dev`: as root, the full ADD / CHECK / DEL run in throwaway namespaces must show the
 * host route after ADD, not after DEL, and leave no namespace or state dir behind; `--dry-run`
 * must print an `ip ... route add <node>/32 via 10.131.0.1 dev eth0` plan, as root against the
 * lab pod's real table (so deletions show) and without root against an empty one, and change
 * nothing. A NetworkAttachmentDefinition YAML is accepted as a config. The machine's own routes
 * are compared before and after each run (read only).
 */
import assert from "node:assert/strict";
import { parseDevArgs, pretty, shapeOf } from "../../scripts/dev.ts";
import {
  configFromNad,
  labLease,
  mainIpam,
  parseConfigFile,
  runtimeConfig,
} from "../../scripts/dev_config.ts";
import {
  CLUSTER,
  DEFAULT_LEASE,
  IS_ROOT,
  leaseOf,
  podLinks,
  ROOT,
  type Run as Result,
  run as runProcess,
  shapePrevResult,
  SKIP_REASON,
} from "../../testing/mod.ts";
import { docsText } from "../support/docs.ts";

function run(cmd: string, args: string[]): Promise<Result> {
  return runProcess([cmd, ...args], { cwd: ROOT, env: { NO_COLOR: "1" } });
}

/** Runs `deno task dev ARGS`. */
function dev(...args: string[]): Promise<Result> {
  return run(Deno.execPath(), ["task", "--quiet", "dev", ...args]);
}

/** The text under each `== Heading ==` of dev's output. */
function sections(out: string): Map<string, string> {
  const map = new Map<string, string>();
  const parts = out.split(/^== (.+) ==$/m);
  for (let i = 1; i < parts.length; i += 2) map.set(parts[i] ?? "", parts[i + 1] ?? "");
  return map;
}

/** The machine's own routing tables and namespaces, to show a run left them alone. */
async function machineState(): Promise<string> {
  const parts: string[] = [];
  for (
    const args of [["-4", "route", "show", "table", "all"], ["-6", "route", "show", "table", "all"]]
  ) {
    parts.push((await run("ip", args)).stdout.replace(/\s+expires \S+/g, ""));
  }
  return parts.join("\n");
}

async function netnsNames(): Promise<string[]> {
  const out = (await run("ip", ["netns", "list"])).stdout;
  return out.split("\n").map((l) => l.split(/\s/)[0] ?? "").filter((n) => n !== "");
}

/**
 * The lab dirs a run's output names (`/tmp/ssr-dev-lab-*`) that still exist: none should, once it
 * is done. (Only the run's own: other runs on the machine may have theirs meanwhile.)
 */
async function labDirsLeft(out: string): Promise<string[]> {
  const named = new Set([...out.matchAll(/\/tmp\/ssr-dev-lab-\w+/g)].map((m) => m[0]));
  const left: string[] = [];
  for (const d of named) if (await Deno.stat(d).then(() => true, () => false)) left.push(d);
  return left;
}

const HOST_ROUTE = /^\s*\+ 192\.168\.100\.10(\/32)? via 10\.131\.0\.1 dev eth0\b/m;

/**
 * Asserts a live run's output: the host route (`hostRoute`, null for none) after ADD and gone
 * after DEL, every step exit 0, everything removed.
 */
async function assertLiveRun(
  r: Result,
  machineBefore: string,
  hostRoute: RegExp | null = HOST_ROUTE,
): Promise<void> {
  assert.equal(r.code, 0, `deno task dev failed:\n${r.stdout}\n${r.stderr}`);
  const s = sections(r.stdout);
  for (const h of ["Pod routes before ADD", "ADD", "Pod routes after ADD", "CHECK", "DEL"]) {
    assert.ok(s.has(h), `section '${h}' in:\n${r.stdout}`);
  }
  if (hostRoute) {
    assert.match(s.get("Pod routes after ADD")!, hostRoute, "the host route appears after ADD");
    assert.doesNotMatch(s.get("Pod routes before ADD")!, /192\.168\.100\.10/);
    assert.doesNotMatch(s.get("Pod routes after DEL")!, /192\.168\.100\.10/, "gone after DEL");
  }
  assert.match(s.get("Pod routes after DEL")!, /back to what they were/);
  assert.match(s.get("ADD")!, /ADD exit 0/);
  assert.match(s.get("CHECK")!, /CHECK exit 0/);
  assert.match(s.get("DEL")!, /DEL exit 0/);

  const made = [...r.stdout.matchAll(/^\s*(?:node|pod) namespace: (\S+)$/gm)].map((m) =>
    m[1] ?? ""
  );
  assert.equal(made.length, 2, "names its two namespaces");
  const left = await netnsNames();
  for (const ns of made) {
    assert.ok(!left.includes(ns), `namespace ${ns} removed`);
    assert.match(s.get("Cleaning up")!, new RegExp(`removed netns ${ns}`));
  }
  assert.match(r.stdout, /lab dir: \/tmp\/ssr-dev-lab-\w+/, "names its lab dir");
  assert.deepEqual(await labDirsLeft(r.stdout), [], "the lab dir is removed");
  assert.equal(await machineState(), machineBefore, "the machine's own routes are untouched");
}

/** Runs `deno task dev ARGS` as root and asserts a complete live run (`assertLiveRun`). */
async function liveRun(...args: string[]): Promise<Result> {
  return await liveRunWith(HOST_ROUTE, ...args);
}

/** `liveRun` expecting `hostRoute` after ADD (null: a config that makes no host route). */
async function liveRunWith(hostRoute: RegExp | null, ...args: string[]): Promise<Result> {
  const machineBefore = await machineState();
  const r = await dev(...args);
  await assertLiveRun(r, machineBefore, hostRoute);
  return r;
}

Deno.test({
  name: "dev: as root, ADD/CHECK/DEL in throwaway namespaces, all removed after",
  ignore: !IS_ROOT,
  async fn() {
    await liveRun();
  },
});

Deno.test({
  name: "dev: as root, with a .conflist given on the command line",
  ignore: !IS_ROOT,
  async fn() {
    const conflist = JSON.stringify({
      cniVersion: "1.0.0",
      name: "mynet",
      plugins: [{ type: "bridge", bridge: "cni0" }, { type: "seamless-static-route" }],
    });
    await withFile("10-mynet.conflist", conflist, async (path) => {
      const r = await liveRun(path);
      const conf = sections(r.stdout).get("Network config on stdin")!;
      assert.match(conf, /"name": "mynet"/, "the list's name is passed on");
      assert.doesNotMatch(conf, /bridge/, "only this plugin's entry is sent");
    });
  },
});

/** Whether the machine has an IPv4 default route for the plugin to discover in a dry run. */
const HAS_DEFAULT_ROUTE: boolean = (await run("ip", ["-4", "route", "show", "default"]))
  .stdout.trim() !== "";
if (!IS_ROOT && !HAS_DEFAULT_ROUTE) {
  console.warn("dev --dry-run test skipped: this machine has no IPv4 default route to discover");
}

/** The dev namespaces a run's output names that still exist (only its own: others may run). */
async function namespacesLeft(out: string): Promise<string[]> {
  const named = new Set([...out.matchAll(/\bssrdev-[A-Za-z0-9]+/g)].map((m) => m[0]));
  const left = await netnsNames();
  return [...named].filter((n) => left.includes(n));
}

/**
 * Runs `deno task dev --dry-run ARGS` and asserts what every dry run shows: a plan of full `ip`
 * commands with `#` comments, holding the host route, and nothing left changed or behind.
 * Returns the plan's commands and the output's sections.
 */
async function dryRun(
  ...args: string[]
): Promise<{ commands: string[]; plan: string; s: Map<string, string> }> {
  const machineBefore = await machineState();
  const r = await dev("--dry-run", ...args);
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  const s = sections(r.stdout);
  const plan = s.get("Plan: the ip commands ADD would run");
  assert.ok(plan, `a plan section in:\n${r.stdout}`);
  // The plan is the indented block; a note for the reader may follow it unindented.
  const lines = plan.split("\n").filter((l) => l.startsWith("  ")).map((l) => l.trim());
  assert.ok(lines.some((l) => l.startsWith("#")), "comment lines start with #");
  const commands = lines.filter((l) => !l.startsWith("#"));
  assert.ok(commands.length >= 1, "at least one command");
  for (const c of commands) assert.match(c, /^(ip|nsenter)\s/, `a full command: ${c}`);
  assert.ok(
    commands.some((c) =>
      /^ip\b.*\broute add (\d{1,3}\.){3}\d{1,3}\/32 via 10\.131\.0\.1 dev eth0\b/.test(c)
    ),
    `a host route command in:\n${plan}`,
  );
  assert.deepEqual(await namespacesLeft(r.stdout), [], "no namespace left behind");
  assert.match(r.stdout, /\/tmp\/ssr-dev-lab-\w+\/state/, "names its state dir");
  assert.deepEqual(await labDirsLeft(r.stdout), [], "the lab dir is removed");
  assert.equal(await machineState(), machineBefore, "the machine's own routes are untouched");
  return { commands, plan, s };
}

Deno.test({
  name: "dev --dry-run without root: plans against an empty table and touches nothing",
  ignore: IS_ROOT || !HAS_DEFAULT_ROUTE,
  async fn() {
    const { plan } = await dryRun();
    assert.match(plan, /#.*(cannot|can't|empty)/i, "says the pod table was planned as empty");
  },
});

Deno.test({
  name: "dev --dry-run as root: plans against the lab pod's real table, then removes the lab",
  ignore: !IS_ROOT,
  async fn() {
    const { plan, s } = await dryRun();
    const start = s.get("Pod routes the plan starts from");
    assert.ok(start, "shows the table the plan starts from");
    assert.match(start, /default via 10\.131\.0\.1 dev eth0/, "the lab pod's real routes");
    assert.match(plan, /# seamless-static-route dry run: ADD eth0 in \/var\/run\/netns\/ssrdev-/);
    assert.doesNotMatch(plan, /cannot be read|empty table/, "not planned against an empty table");
  },
});

/** The docs' NetworkAttachmentDefinition examples (README.md, docs/*.md), as written there. */
async function readmeNads(): Promise<string[]> {
  const docs = await docsText();
  return [...docs.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1] ?? "")
    .filter((y) => /^kind: NetworkAttachmentDefinition$/m.test(y));
}

/** Writes `text` to `name` in a temp dir, runs `fn` with its path, removes the dir. */
async function withFile<T>(
  name: string,
  text: string,
  fn: (path: string) => Promise<T>,
): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "ssr-dev-conf-" });
  try {
    await Deno.writeTextFile(`${dir}/${name}`, text);
    return await fn(`${dir}/${name}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test({
  name: "dev --dry-run as root with a NAD YAML: flushes and deletions of the real table show",
  ignore: !IS_ROOT,
  async fn() {
    const nad = `apiVersion: k8s.cni.cncf.io/v1
kind: NetworkAttachmentDefinition
metadata:
  name: flushing
spec:
  config: |
    {
      "cniVersion": "1.0.0",
      "name": "flushing",
      "plugins": [
        { "type": "bridge", "bridge": "cni0" },
        { "type": "seamless-static-route", "flushgateway": true }
      ]
    }
`;
    await withFile("nad.yaml", nad, async (path) => {
      const { commands, s } = await dryRun(path);
      assert.ok(
        commands.some((c) =>
          /^ip\b.*\broute del (default|0\.0\.0\.0\/0) via 10\.131\.0\.1 dev eth0\b/.test(c)
        ),
        `the pod's default route is deleted (flushgateway) in:\n${commands.join("\n")}`,
      );
      const conf = s.get("Network config on stdin (CNI_COMMAND=ADD)") ?? "";
      assert.match(conf, /"name": "flushing"/, "the NAD's list name is passed on");
      assert.doesNotMatch(conf, /bridge/, "only this plugin's entry is sent");
    });
  },
});

Deno.test({
  name: "dev: as root, with the docs' NetworkAttachmentDefinition saved as-is",
  ignore: !IS_ROOT,
  async fn() {
    const nads = await readmeNads();
    const seamless = nads.find((y) => /"type": "seamless-static-route"/.test(y));
    assert.ok(seamless, "the docs have a seamless NAD example");
    await withFile("nad.yaml", seamless, async (path) => {
      const r = await liveRun(path);
      const conf = sections(r.stdout).get("Network config on stdin")!;
      assert.match(conf, /"name": "macvlan-seamless"/, "the NAD's list name is passed on");
      assert.doesNotMatch(conf, /macvlan"/, "only this plugin's entry is sent");
    });
  },
});

/** A NAD YAML whose config is a list of `plugins`. */
function nadYaml(name: string, plugins: unknown[], cniVersion = "1.0.0"): string {
  const config = JSON.stringify({ cniVersion, name, plugins }, null, 2).replaceAll("\n", "\n    ");
  return `apiVersion: k8s.cni.cncf.io/v1
kind: NetworkAttachmentDefinition
metadata:
  name: ${name}
spec:
  config: |
    ${config}
`;
}

/** The secondary-default-route NAD of the docs (examples.md): a gateway only the NAD's own subnet reaches. */
const OVERRIDE_NAD = nadYaml("macvlan-override", [
  {
    type: "macvlan",
    master: "eth1",
    ipam: { type: "host-local", subnet: "192.168.50.0/24", gateway: "192.168.50.1" },
  },
  {
    type: "route-override",
    flushgateway: true,
    delroutes: [{ dst: "192.168.0.0/16" }],
    addroutes: [{ dst: "0.0.0.0/0", gw: "192.168.50.1" }],
  },
], "0.4.0");

Deno.test({
  name: "dev: as root, the lab pod takes the NAD's host-local address and gateway",
  ignore: !IS_ROOT,
  async fn() {
    // Before: the pod was always 10.131.0.5/23, so this NAD failed with code 100.
    await withFile("nad.yaml", OVERRIDE_NAD, async (path) => {
      const r = await liveRunWith(null, path);
      const s = sections(r.stdout);
      const before = s.get("Pod routes before ADD")!;
      assert.match(
        before,
        /^\s*192\.168\.50\.0\/24 dev eth0 proto kernel scope link src 192\.168\.50\.2$/m,
      );
      assert.match(before, /^\s*default via 192\.168\.50\.1 dev eth0$/m);
      assert.match(s.get("Setting up throwaway namespaces")!, /single-homed: eth0/);
      assert.match(s.get("Setting up throwaway namespaces")!, /add --multus to run it that way/);
      const conf = s.get("Network config on stdin")!;
      assert.match(conf, /"address":"192\.168\.50\.2\/24","gateway":"192\.168\.50\.1"/);
      // flushgateway took the default route, addroutes put one back via the same gateway.
      assert.match(s.get("Pod routes after ADD")!, /^\s*default via 192\.168\.50\.1 dev eth0$/m);
    });
  },
});

Deno.test({
  name: "dev: as root, --multus makes a Multus pod: cluster eth0, the attachment on net1",
  ignore: !IS_ROOT,
  async fn() {
    const nad = nadYaml("macvlan-seamless", [
      { type: "macvlan", master: "eth1", ipam: { type: "host-local", subnet: "10.131.0.0/23" } },
      { type: "seamless-static-route" },
    ]);
    await withFile("nad.yaml", nad, async (path) => {
      for (
        const [args, ifname] of [[["--multus"], "net1"], [["--ifname", "net2"], "net2"]] as const
      ) {
        const hostRoute = new RegExp(
          `^\\s*\\+ 192\\.168\\.100\\.10(\\/32)? via 10\\.131\\.0\\.1 dev ${ifname}\\b`,
          "m",
        );
        const r = await liveRunWith(hostRoute, ...args, path);
        const s = sections(r.stdout);
        const before = s.get("Pod routes before ADD")!;
        for (
          const line of [
            "10.128.2.0/23 dev eth0 proto kernel scope link src 10.128.2.5",
            "default via 10.128.2.1 dev eth0",
            "172.30.0.0/16 via 10.128.2.1 dev eth0",
            `10.131.0.0/23 dev ${ifname} proto kernel scope link src 10.131.0.2`,
          ]
        ) assert.ok(before.split("\n").some((l) => l.trim() === line), `${line} in:\n${before}`);
        assert.doesNotMatch(
          before,
          new RegExp(`default via \\S+ dev ${ifname}`),
          "no default on it",
        );
        assert.match(
          s.get("Setting up throwaway namespaces")!,
          /a Multus pod: eth0 is the cluster/,
        );
        const conf = s.get("Network config on stdin")!;
        assert.match(conf, new RegExp(`CNI_IFNAME=${ifname}\\b`));
        assert.match(conf, new RegExp(`"name": "${ifname}"`), "prevResult names the attachment");
        assert.doesNotMatch(conf, /"name": "eth0"/, "and not the cluster's eth0");
        assert.match(conf, /"routes": \[\]/, "the main plugin's result has no routes here");
        // ADD changed only the attachment's routes.
        const after = s.get("Pod routes after ADD")!;
        assert.ok(after.includes("default via 10.128.2.1 dev eth0"));
        assert.ok(after.includes("172.30.0.0/16 via 10.128.2.1 dev eth0"));
      }
    });
  },
});

Deno.test({
  name: "dev: as root, a dual-stack host-local NAD gives the pod both families",
  ignore: !IS_ROOT,
  async fn() {
    const nad = nadYaml("dual", [
      {
        type: "bridge",
        ipam: {
          type: "host-local",
          ranges: [[{ subnet: "10.131.0.0/23" }], [{ subnet: "fd00:10::/64" }]],
        },
      },
      { type: "seamless-static-route", hostRoute: { ipv6: true } },
    ]);
    await withFile("nad.yaml", nad, async (path) => {
      for (const args of [[path], ["--multus", path]]) {
        const ifname = args.length === 2 ? "net1" : "eth0";
        const hostRoute = new RegExp(
          `^\\s*\\+ 192\\.168\\.100\\.10 via 10\\.131\\.0\\.1 dev ${ifname}\\b`,
          "m",
        );
        const r = await liveRunWith(hostRoute, ...args);
        const s = sections(r.stdout);
        assert.match(
          s.get("Pod routes before ADD")!,
          new RegExp(`fd00:10::/64 dev ${ifname} proto kernel`),
        );
        assert.match(
          s.get("Pod routes after ADD")!,
          new RegExp(`^\\s*\\+ fd00:100::10 via fd00:10::1 dev ${ifname}\\b`, "m"),
          "the IPv6 host route to the node's IPv6 address",
        );
        assert.match(s.get("Setting up throwaway namespaces")!, /uplink0 fd00:100::10\/64/);
      }
    });
  },
});

Deno.test({
  name: "dev: as root, a static IPAM's address, with the gateway its address names",
  ignore: !IS_ROOT,
  async fn() {
    const nad = nadYaml("static", [
      {
        type: "macvlan",
        ipam: {
          type: "static",
          addresses: [{ address: "10.10.0.7/24", gateway: "10.10.0.254" }],
          routes: [{ dst: "0.0.0.0/0", gw: "10.10.0.254" }],
        },
      },
      // The host route via prevResult's gateway: the one static IPAM reports for the address.
      { type: "seamless-static-route", hostRoute: { gateway: "prevResult" } },
    ]);
    await withFile("nad.yaml", nad, async (path) => {
      const r = await liveRunWith(/^\s*\+ 192\.168\.100\.10 via 10\.10\.0\.254 dev eth0\b/m, path);
      const before = sections(r.stdout).get("Pod routes before ADD")!;
      assert.match(before, /10\.10\.0\.0\/24 dev eth0 proto kernel scope link src 10\.10\.0\.7/);
      assert.match(before, /default via 10\.10\.0\.254 dev eth0/);
    });
  },
});

Deno.test({
  name: "dev --dry-run as root: the plan of a NAD is made against its own addresses",
  ignore: !IS_ROOT,
  async fn() {
    // Before, the lab pod was 10.131.0.5/23 whatever the NAD said: this plan was "clean" but
    // ADD failed with code 100.
    await withFile("nad.yaml", OVERRIDE_NAD, async (path) => {
      const r = await dev("--dry-run", path);
      assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
      const s = sections(r.stdout);
      assert.match(
        s.get("Pod routes the plan starts from")!,
        /default via 192\.168\.50\.1 dev eth0/,
      );
      const plan = s.get("Plan: the ip commands ADD would run")!;
      assert.match(
        plan,
        /^\s*ip -n \S+ route del 0\.0\.0\.0\/0 via 192\.168\.50\.1 dev eth0\b.*# flushgateway/m,
      );
      assert.match(
        plan,
        /^\s*ip -n \S+ route add 0\.0\.0\.0\/0 via 192\.168\.50\.1 dev eth0\b.*# addroutes\[0\]/m,
      );
    });
  },
});

Deno.test({
  name: "dev --dry-run --multus as root: the plan names the routes route-override would skip",
  ignore: !IS_ROOT,
  async fn() {
    // In a Multus pod, the NAD's default route via net1 collides with the cluster's default on
    // eth0: route-override v1 fails that route ("file exists"), exits 0 and goes on. The audit
    // shows it before a migration (the planner's compat policy, src/commands/add.ts, prints it).
    await withFile("nad.yaml", OVERRIDE_NAD, async (path) => {
      const r = await dev("--dry-run", "--multus", path);
      assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
      const s = sections(r.stdout);
      const start = s.get("Pod routes the plan starts from")!;
      assert.match(start, /default via 10\.128\.2\.1 dev eth0/, "the cluster's default route");
      assert.match(
        start,
        /192\.168\.50\.0\/24 dev net1 proto kernel scope link src 192\.168\.50\.2/,
      );
      const plan = s.get("Plan: the ip commands ADD would run")!;
      assert.match(plan, /^\s*# .*\bskip\b.*0\.0\.0\.0\/0.*route-override v1 skips it/m, plan);
      assert.doesNotMatch(plan, /^\s*ip .*dev eth0/m, "nothing on the cluster's eth0");
    });
  },
});

/**
 * The most common route-override NAD: the IPAM hands out a default route on the attachment. In a
 * Multus pod eth0 holds the cluster's default already; the main plugin (ipam.ConfigureIface in
 * containernetworking/plugins since v1.0.0: netlink RouteAddEcmp, i.e. `ip route prepend`) adds
 * net1's in front of it, so the pod starts with two default routes, net1's first, and the result
 * lists the IPAM's routes as it gave them. The lab pod is built the same way.
 */
function ipamDefaultNad(override: Record<string, unknown>): string {
  return nadYaml("ipam-default", [
    {
      type: "macvlan",
      master: "eth0",
      ipam: {
        type: "host-local",
        subnet: "192.168.50.0/24",
        routes: [{ dst: "0.0.0.0/0" }, { dst: "10.2.0.0/16" }],
      },
    },
    {
      type: "route-override",
      ...override,
      addroutes: [{ dst: "10.3.0.0/16", gw: "192.168.50.1" }],
    },
  ], "0.4.0");
}

/** Asserts the lab pod's table and prevResult of ipamDefaultNad in a Multus pod. */
function assertIpamDefaultPod(start: string, conf: string): void {
  const lines = start.split("\n").map((l) => l.trim());
  assert.ok(lines.includes("default via 192.168.50.1 dev net1"), `net1's default in:\n${start}`);
  assert.ok(lines.includes("default via 10.128.2.1 dev eth0"), `and eth0's in:\n${start}`);
  assert.ok(lines.includes("10.2.0.0/16 via 192.168.50.1 dev net1"), start);
  assert.ok(lines.includes("172.30.0.0/16 via 10.128.2.1 dev eth0"), start);
  // prevResult: what macvlan returns, the IPAM's result: its routes as given, the gateway .1.
  assert.match(conf, /"routes": \[\{"dst":"0\.0\.0\.0\/0"\},\{"dst":"10\.2\.0\.0\/16"\}\]/);
  assert.match(conf, /"address":"192\.168\.50\.2\/24","gateway":"192\.168\.50\.1"/);
}

Deno.test({
  name: "dev --dry-run --multus as root: an IPAM default route builds the Multus lab pod",
  ignore: !IS_ROOT,
  async fn() {
    // Before: the lab ran `ip route add 0.0.0.0/0 via 192.168.50.1 dev net1`, got "File exists"
    // and stopped with "setup or inspection failed".
    const nad = ipamDefaultNad({ flushgateway: true });
    await withFile("nad.yaml", nad, async (path) => {
      const r = await dev("--dry-run", "--multus", path);
      assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
      const s = sections(r.stdout);
      assertIpamDefaultPod(
        s.get("Pod routes the plan starts from")!,
        s.get("Network config on stdin (CNI_COMMAND=ADD)")!,
      );
      const plan = s.get("Plan: the ip commands ADD would run")!;
      assert.match(plan, /route add 10\.3\.0\.0\/16 via 192\.168\.50\.1 dev net1/, plan);
      assert.match(
        plan,
        /route del 0\.0\.0\.0\/0 via 192\.168\.50\.1 dev net1\b.*flushgateway/,
        plan,
      );
    });
  },
});

Deno.test({
  name: "dev --multus as root: an IPAM default route runs ADD, CHECK and DEL green",
  ignore: !IS_ROOT,
  async fn() {
    // Without flushgateway: DEL cannot yet put a flushed net1 default back beside eth0's (the
    // plugin's restore adds it, and the kernel answers "File exists"; see src/).
    await withFile("nad.yaml", ipamDefaultNad({}), async (path) => {
      const r = await liveRunWith(null, "--multus", path);
      const s = sections(r.stdout);
      assertIpamDefaultPod(s.get("Pod routes before ADD")!, s.get("Network config on stdin")!);
      const after = s.get("Pod routes after ADD")!;
      assert.match(after, /^\s*\+ 10\.3\.0\.0\/16 via 192\.168\.50\.1 dev net1\b/m, after);
      assert.match(after, /^\s*default via 10\.128\.2\.1 dev eth0$/m, "eth0's default kept");
      assert.match(after, /^\s*default via 192\.168\.50\.1 dev net1$/m, "and net1's");
    });
  },
});

Deno.test({
  name: "dev: as root, a config's logFile and stateDir are moved into the lab dir",
  ignore: !IS_ROOT,
  async fn() {
    const id = crypto.randomUUID().slice(0, 8);
    const hostLog = `/tmp/ssr-dev-hostlog-${id}/plugin.log`;
    const hostState = `/tmp/ssr-dev-hoststate-${id}`;
    const conf = JSON.stringify({
      cniVersion: "1.0.0",
      name: "logged",
      type: "seamless-static-route",
      logFile: hostLog,
      logLevel: "info",
      stateDir: hostState,
    });
    await withFile("logged.conf", conf, async (path) => {
      const r = await liveRun(path);
      for (const p of [hostLog, `/tmp/ssr-dev-hostlog-${id}`, hostState]) {
        assert.equal(await Deno.stat(p).then(() => "exists", () => "absent"), "absent", p);
      }
      const s = sections(r.stdout);
      const config = s.get("Network config on stdin")!;
      assert.match(
        config,
        new RegExp(`logFile: ${hostLog} redirected to /tmp/ssr-dev-lab-\\w+/logs/plugin\\.log`),
      );
      assert.match(
        config,
        new RegExp(`stateDir: ${hostState} redirected to /tmp/ssr-dev-lab-\\w+/state`),
      );
      const log = s.get(`Log file (logFile ${hostLog}, redirected)`);
      assert.ok(log, `a log section in:\n${r.stdout}`);
      assert.match(log, /INFO \[ADD dev-ssrdev-\w+\/eth0 net=logged\]/, "the plugin logged there");
    });
  },
});

/** `setpriv` drops to nobody, to see what a user without root sees. */
const SETPRIV: string | null = ["/usr/bin/setpriv", "/bin/setpriv"].find((p) => {
  try {
    return Deno.statSync(p).isFile;
  } catch {
    return false;
  }
}) ?? null;

Deno.test({
  name: "dev: without root, the first line says the lab needs root and what works without it",
  ignore: !IS_ROOT || SETPRIV === null,
  async fn() {
    const home = await Deno.makeTempDir({ prefix: "ssr-dev-nobody-" });
    try {
      await Deno.chmod(home, 0o777);
      // A fixed node address: the plan does not depend on this machine's default route.
      const conf = JSON.stringify({
        cniVersion: "1.0.0",
        name: "s",
        type: "seamless-static-route",
        hostRoute: { hostIP: "192.0.2.2" },
      });
      await Deno.writeTextFile(`${home}/s.conf`, conf);
      await Deno.chmod(`${home}/s.conf`, 0o644);
      const asNobody = (...args: string[]) =>
        runProcess([
          SETPRIV!,
          "--reuid=65534",
          "--regid=65534",
          "--clear-groups",
          Deno.execPath(),
          "task",
          "--quiet",
          "dev",
          ...args,
        ], { cwd: ROOT, env: { NO_COLOR: "1", HOME: home, DENO_DIR: home } });
      for (const args of [["--dry-run", `${home}/s.conf`], [`${home}/s.conf`]]) {
        const r = await asNobody(...args);
        const out = `${args}: ${r.stdout}\n${r.stderr}`;
        assert.equal(r.code, 0, out);
        const first = r.stdout.split("\n")[0] ?? "";
        assert.doesNotMatch(`${r.stderr}${first}`, /namespace tests skipped/, out);
        assert.match(
          first,
          /^seamless-static-route dev: the lab .* needs root; without it, what works is a dry run against an empty pod table/,
          out,
        );
        assert.match(r.stdout, /route add 192\.0\.2\.2\/32 via 10\.131\.0\.1 dev eth0/, out);
      }
      const help = await asNobody("--help");
      assert.equal(help.code, 0, help.stderr);
      assert.match(help.stdout, /^usage: deno task dev/);
      assert.equal(help.stderr, "");
    } finally {
      await Deno.remove(home, { recursive: true });
    }
  },
});

Deno.test("dev: every docs NAD example is read; a YAML that is no NAD fails in one line", async () => {
  const nads = await readmeNads();
  assert.ok(nads.length >= 2, `NAD examples in the docs (${nads.length})`);
  for (const y of nads) {
    const conf = configFromNad(y, "docs.yaml");
    const types = (conf.plugins as { type: string }[]).map((p) => p.type);
    assert.ok(
      types.includes("seamless-static-route") || types.includes("route-override"),
      `an entry of our types in ${JSON.stringify(types)}`,
    );
  }
  const cases: [string, string, RegExp][] = [
    [
      "cm.yaml",
      "apiVersion: v1\nkind: ConfigMap\ndata: {}\n",
      /is not a NetworkAttachmentDefinition \(kind: ConfigMap\)/,
    ],
    [
      "bridge.yaml",
      'kind: NetworkAttachmentDefinition\nspec:\n  config: \'{"cniVersion":"1.0.0","name":"b","type":"bridge"}\'\n',
      /has no plugin of type seamless-static-route or route-override \(it has: bridge\)/,
    ],
    [
      "bad.yaml",
      "kind: NetworkAttachmentDefinition\nspec:\n  config: '{oops'\n",
      /spec\.config is not JSON/,
    ],
    [
      "nocfg.yaml",
      "kind: NetworkAttachmentDefinition\nspec: {}\n",
      /spec\.config must be the CNI config as a JSON string/,
    ],
    ["broken.yaml", "kind: [unclosed\n", /neither JSON nor YAML/],
  ];
  for (const [name, text, re] of cases) {
    assert.throws(() => parseConfigFile(text, name), re, name);
    await withFile(name, text, async (path) => {
      const r = await dev(path);
      assert.equal(r.code, 1, `${name}: ${r.stdout}${r.stderr}`);
      assert.equal(r.stderr.trim().split("\n").length, 1, `one line: ${r.stderr}`);
      assert.match(r.stderr, /^dev: /);
      assert.match(r.stderr, re);
    });
  }
  assert.deepEqual(parseConfigFile('{"a":1}', "x.conflist"), { a: 1 });
  assert.throws(() => parseConfigFile("{oops", "x.conf"), /config x\.conf is not JSON/);
});

Deno.test("dev: --help, help and --version exit 0 with useful output; a bad option exits 2", async () => {
  for (const args of [["--help"], ["-h"], ["help"]]) {
    const help = await dev(...args);
    assert.equal(help.code, 0, `${args}: ${help.stderr}`);
    assert.match(
      help.stdout,
      /^usage: deno task dev \[--dry-run\] \[--multus\] \[--ifname NAME\] \[CONFIG\]/,
    );
    assert.match(help.stdout, /--multus .*Multus pod/);
    assert.match(help.stdout, /Root is needed to make the lab/);
    assert.equal(help.stderr, "", "nothing on stderr");
  }
  const version = await dev("--version");
  assert.equal(version.code, 0, version.stderr);
  assert.match(
    version.stdout,
    /^seamless-static-route 0\.1\.0 \(deno task dev runs it from \S+\/mod\.ts; deno 2\./,
  );
  const bad = await dev("--frobnicate");
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^dev: unknown option '--frobnicate'/);
  const clash = await dev("--multus", "--ifname", "eth0");
  assert.equal(clash.code, 2);
  assert.match(clash.stderr, /^dev: --multus puts the attachment beside the cluster's eth0/);
  const noName = await dev("--ifname");
  assert.equal(noName.code, 2);
  assert.match(noName.stderr, /^dev: --ifname needs an interface name/);
});

Deno.test("dev: options and the pod shape they make", () => {
  const none = { dryRun: false, help: false, version: false, multus: false };
  assert.deepEqual(parseDevArgs(["--dry-run", "a.conf"]), {
    ...none,
    dryRun: true,
    configPath: "a.conf",
  });
  assert.deepEqual(parseDevArgs(["help"]), { ...none, help: true });
  assert.deepEqual(parseDevArgs(["--ifname=net2"]), { ...none, ifname: "net2" });
  assert.throws(() => parseDevArgs(["a", "b"]), /only one config file/);
  assert.throws(() => parseDevArgs(["--ifname", "a/b"]), /--ifname needs an interface name/);
  assert.deepEqual(shapeOf(parseDevArgs([])), { ifname: "eth0", multus: false });
  assert.deepEqual(shapeOf(parseDevArgs(["--multus"])), { ifname: "net1", multus: true });
  assert.deepEqual(shapeOf(parseDevArgs(["--ifname", "net2"])), { ifname: "net2", multus: true });
  assert.deepEqual(shapeOf(parseDevArgs(["--ifname", "eth0"])), { ifname: "eth0", multus: false });
});

Deno.test("dev: the lease a NAD's IPAM gives the lab pod", () => {
  // host-local: the first address after the gateway (the subnet's first host by default).
  assert.deepEqual(leaseOf({ type: "host-local", subnet: "10.131.0.0/23" }), {
    ips: [{ address: "10.131.0.2/23", family: 4, gateway: "10.131.0.1" }],
    routes: [],
    notes: [],
  });
  // rangeStart wins; an explicit gateway is kept; host bits of the subnet do not matter.
  assert.deepEqual(
    leaseOf({
      type: "host-local",
      subnet: "192.168.60.7/24",
      rangeStart: "192.168.60.10",
      gateway: "192.168.60.254",
    }).ips,
    [{ address: "192.168.60.10/24", family: 4, gateway: "192.168.60.254" }],
  );
  // rangeStart on the gateway: the next address.
  assert.deepEqual(
    leaseOf({ type: "host-local", subnet: "10.0.0.0/24", rangeStart: "10.0.0.1" }).ips,
    [{ address: "10.0.0.2/24", family: 4, gateway: "10.0.0.1" }],
  );
  // ranges: one address per range set, both families (dual-stack); routes kept.
  assert.deepEqual(
    leaseOf({
      type: "host-local",
      ranges: [[{ subnet: "10.131.0.0/23" }], [{ subnet: "fd00:10::/64", gateway: "fd00:10::fe" }]],
      routes: [{ dst: "10.40.0.0/16" }, { dst: "::/0", gw: "fd00:10::1" }],
    }),
    {
      ips: [
        { address: "10.131.0.2/23", family: 4, gateway: "10.131.0.1" },
        { address: "fd00:10::1/64", family: 6, gateway: "fd00:10::fe" },
      ],
      routes: [{ dst: "10.40.0.0/16" }, { dst: "::/0", gw: "fd00:10::1" }],
      notes: [],
    },
  );
  // host-local's gateway is the range's, else the subnet's first host: never a route's gw.
  assert.deepEqual(
    leaseOf({
      type: "host-local",
      subnet: "192.168.50.0/24",
      routes: [{ dst: "0.0.0.0/0", gw: "192.168.50.254" }],
    }).ips,
    [{ address: "192.168.50.2/24", family: 4, gateway: "192.168.50.1" }],
  );
  // static: the addresses as written; the gateway only where the address names one.
  assert.deepEqual(
    leaseOf({
      type: "static",
      addresses: [
        { address: "10.10.0.7/24" },
        { address: "fd00:a::7/64", gateway: "fd00:a::1" },
      ],
      routes: [{ dst: "0.0.0.0/0", gw: "10.10.0.254" }],
    }).ips,
    [
      { address: "10.10.0.7/24", family: 4 },
      { address: "fd00:a::7/64", family: 6, gateway: "fd00:a::1" },
    ],
  );
  assert.deepEqual(leaseOf({ type: "static", addresses: [{ address: "10.10.0.7/24" }] }).ips, [
    { address: "10.10.0.7/24", family: 4 },
  ]);
  // Types that choose at run time: no addresses, and a note why.
  const dhcp = leaseOf({ type: "dhcp" });
  assert.deepEqual(dhcp.ips, []);
  assert.match(dhcp.notes.join(), /ipam type "dhcp" picks its addresses at run time/);
  assert.match(leaseOf({ type: "host-local", subnet: "nope" }).notes.join(), /no valid subnet/);
});

Deno.test("dev: the IPAM of the main plugin decides the lab pod's lease", () => {
  const list = (ipam: unknown) => ({
    cniVersion: "1.0.0",
    name: "l",
    plugins: [
      { type: "macvlan", ipam },
      { type: "route-override" },
      { type: "tuning", ipam: { type: "static" } },
    ],
  });
  const ipam = { type: "host-local", subnet: "192.168.50.0/24" };
  assert.deepEqual(mainIpam(list(ipam)), ipam, "the entry before ours with an ipam");
  assert.equal(mainIpam({ type: "seamless-static-route" }), undefined);
  assert.deepEqual(labLease(list(ipam)).lease.ips, [
    { address: "192.168.50.2/24", family: 4, gateway: "192.168.50.1" },
  ]);
  assert.equal(labLease(list(ipam)).source, "the main plugin's ipam (host-local)");
  const fallback = labLease(list({ type: "dhcp" }));
  assert.deepEqual(fallback.lease, DEFAULT_LEASE, "an IPAM whose address is not known: the lab's");
  assert.match(fallback.source, /^the lab's default \(ipam type "dhcp" picks/);
  // whereabouts: the first host of its range, via its gateway; the source says it is a guess.
  const wb = labLease(list({ type: "whereabouts", range: "10.0.0.0/24", gateway: "10.0.0.1" }));
  assert.deepEqual(wb.lease.ips, [{ address: "10.0.0.2/24", family: 4, gateway: "10.0.0.1" }]);
  assert.match(
    wb.source,
    /^the main plugin's ipam \(whereabouts; whereabouts picks .* at run time/,
  );
  assert.match(labLease({ type: "seamless-static-route" }).source, /no main plugin with ipam/);
});

Deno.test("dev: the pod shapes and the prevResult the main plugin hands over", () => {
  const lease = leaseOf({
    type: "host-local",
    ranges: [[{ subnet: "192.168.50.0/24" }], [{ subnet: "fd00:50::/64" }]],
    routes: [{ dst: "10.40.0.0/16" }],
  });
  const netns = "/var/run/netns/p";
  // Single-homed: eth0 holds the lease, a default route per family, and the IPAM's routes.
  const single = { ifname: "eth0", multus: false };
  assert.deepEqual(podLinks(single, lease), [{
    ifname: "eth0",
    addresses: ["192.168.50.2/24", "fd00:50::2/64"],
    routes: [
      { dst: "0.0.0.0/0", gw: "192.168.50.1" },
      { dst: "::/0", gw: "fd00:50::1" },
      { dst: "10.40.0.0/16", gw: "192.168.50.1" },
    ],
  }]);
  assert.deepEqual(shapePrevResult(single, lease, netns), {
    cniVersion: "1.0.0",
    interfaces: [{ name: "eth0", mac: "0a:58:0a:83:00:05", sandbox: netns }],
    ips: [
      { address: "192.168.50.2/24", gateway: "192.168.50.1", interface: 0 },
      { address: "fd00:50::2/64", gateway: "fd00:50::1", interface: 0 },
    ],
    routes: [
      { dst: "0.0.0.0/0", gw: "192.168.50.1" },
      { dst: "::/0", gw: "fd00:50::1" },
      { dst: "10.40.0.0/16" },
    ],
    dns: {},
  });
  // Multus: eth0 is the cluster's (default + service route); net1 holds the lease, IPAM routes only.
  const multus = { ifname: "net1", multus: true };
  assert.deepEqual(podLinks(multus, lease), [
    {
      ifname: "eth0",
      addresses: [CLUSTER.address],
      routes: [
        { dst: "0.0.0.0/0", gw: "10.128.2.1" },
        { dst: "172.30.0.0/16", gw: "10.128.2.1" },
      ],
    },
    {
      ifname: "net1",
      addresses: ["192.168.50.2/24", "fd00:50::2/64"],
      routes: [{ dst: "10.40.0.0/16", gw: "192.168.50.1" }],
    },
  ]);
  const prev = shapePrevResult(multus, lease, netns);
  assert.deepEqual(prev.interfaces, [{ name: "net1", mac: "0a:58:0a:83:00:05", sandbox: netns }]);
  assert.deepEqual(prev.routes, [{ dst: "10.40.0.0/16" }], "the IPAM's routes, no default");
});

Deno.test("dev: the runtime config it sends; stateDir and logFile go to the lab dir", () => {
  const ref = {
    podNetns: "/var/run/netns/p",
    shape: { ifname: "eth0", multus: false },
    lease: DEFAULT_LEASE,
    labDir: "/tmp/lab",
  };
  const plain = runtimeConfig(
    { cniVersion: "1.0.0", name: "n", type: "seamless-static-route" },
    ref,
  );
  assert.deepEqual(
    plain.config.prevResult,
    shapePrevResult(ref.shape, DEFAULT_LEASE, ref.podNetns),
  );
  assert.equal(plain.config.stateDir, "/tmp/lab/state");
  assert.deepEqual(plain.redirects, [{ key: "stateDir", to: "/tmp/lab/state" }]);
  const own = runtimeConfig({
    type: "route-override",
    stateDir: "/var/lib/mine",
    logFile: "/var/log/ro.log",
    prevResult: { cniVersion: "0.4.0" },
  }, ref);
  assert.equal(own.config.stateDir, "/tmp/lab/state", "a config's own stateDir is redirected");
  assert.equal(own.config.logFile, "/tmp/lab/logs/ro.log", "and its logFile");
  assert.deepEqual(own.redirects, [
    { key: "stateDir", from: "/var/lib/mine", to: "/tmp/lab/state" },
    { key: "logFile", from: "/var/log/ro.log", to: "/tmp/lab/logs/ro.log" },
  ]);
  assert.deepEqual(own.config.prevResult, { cniVersion: "0.4.0" }, "its own prevResult is kept");
  const relative = runtimeConfig({ type: "route-override", logFile: "ro.log" }, ref);
  assert.equal(relative.config.logFile, "ro.log", "a bad value is the plugin's to refuse");
  const list = runtimeConfig({
    cniVersion: "0.4.0",
    name: "l",
    plugins: [{ type: "bridge" }, { type: "route-override", x: 1 }],
  }, ref).config;
  assert.equal(list.cniVersion, "0.4.0");
  assert.equal(list.name, "l");
  assert.equal(list.type, "route-override");
  assert.equal(list.x, 1);
  assert.throws(() => runtimeConfig({ plugins: [{ type: "bridge" }] }, ref), /no plugin/);
  assert.throws(() => runtimeConfig([], ref), /JSON object/);
  assert.equal(pretty({ a: [1, 2] }), '{"a":[1,2]}');
  assert.equal(pretty({ a: "x".repeat(100) }), `{\n  "a": "${"x".repeat(100)}"\n}`);
});

Deno.test("dev: testing/ never imports from scripts/ (dependencies point one way)", async () => {
  for await (const e of Deno.readDir(`${ROOT}/testing`)) {
    if (!e.name.endsWith(".ts")) continue;
    const text = await Deno.readTextFile(`${ROOT}/testing/${e.name}`);
    assert.doesNotMatch(text, /from\s+["']\.\.\/scripts\//, `testing/${e.name} imports scripts/`);
  }
});

if (!IS_ROOT) console.warn(`dev live-run tests: ${SKIP_REASON}`);
