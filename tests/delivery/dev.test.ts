/**
 * `deno task dev`: as root, the full ADD / CHECK / DEL run in throwaway namespaces must show the
 * host route after ADD, not after DEL, and leave no namespace or state dir behind; `--dry-run`
 * must print an `ip ... route add <node>/32 via 10.131.0.1 dev eth0` plan, as root against the
 * lab pod's real table (so deletions show) and without root against an empty one, and change
 * nothing. A NetworkAttachmentDefinition YAML is accepted as a config. The machine's own routes
 * are compared before and after each run (read only).
 */
import assert from "node:assert/strict";
import { parseDevArgs, pretty } from "../../scripts/dev.ts";
import {
  configFromNad,
  defaultPrevResult,
  parseConfigFile,
  runtimeConfig,
} from "../../scripts/dev_config.ts";
import {
  IS_ROOT,
  ROOT,
  type Run as Result,
  run as runProcess,
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

async function tempStateDirs(): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir("/tmp")) {
    if (e.name.startsWith("ssr-dev-state-")) names.push(e.name);
  }
  return names.sort();
}

const HOST_ROUTE = /^\s*\+ 192\.168\.100\.10(\/32)? via 10\.131\.0\.1 dev eth0\b/m;

/** Asserts a live run's output: route after ADD, gone after DEL, everything removed. */
async function assertLiveRun(
  r: Result,
  machineBefore: string,
  dirsBefore: string[],
): Promise<void> {
  assert.equal(r.code, 0, `deno task dev failed:\n${r.stdout}\n${r.stderr}`);
  const s = sections(r.stdout);
  for (const h of ["Pod routes before ADD", "ADD", "Pod routes after ADD", "CHECK", "DEL"]) {
    assert.ok(s.has(h), `section '${h}' in:\n${r.stdout}`);
  }
  assert.match(s.get("Pod routes after ADD")!, HOST_ROUTE, "the host route appears after ADD");
  assert.doesNotMatch(s.get("Pod routes before ADD")!, /192\.168\.100\.10/);
  assert.doesNotMatch(s.get("Pod routes after DEL")!, /192\.168\.100\.10/, "and is gone after DEL");
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
  assert.deepEqual(await tempStateDirs(), dirsBefore, "temporary state dir removed");
  assert.equal(await machineState(), machineBefore, "the machine's own routes are untouched");
}

/** Runs `deno task dev ARGS` as root and asserts a complete live run (`assertLiveRun`). */
async function liveRun(...args: string[]): Promise<Result> {
  const machineBefore = await machineState();
  const dirsBefore = await tempStateDirs();
  const r = await dev(...args);
  await assertLiveRun(r, machineBefore, dirsBefore);
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

const devNamespaces = async () => (await netnsNames()).filter((n) => n.startsWith("ssrdev-"));

/**
 * Runs `deno task dev --dry-run ARGS` and asserts what every dry run shows: a plan of full `ip`
 * commands with `#` comments, holding the host route, and nothing left changed or behind.
 * Returns the plan's commands and the output's sections.
 */
async function dryRun(
  ...args: string[]
): Promise<{ commands: string[]; plan: string; s: Map<string, string> }> {
  const machineBefore = await machineState();
  const nsBefore = await devNamespaces();
  const dirsBefore = await tempStateDirs();
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
  assert.deepEqual(await devNamespaces(), nsBefore, "no namespace left behind");
  assert.deepEqual(await tempStateDirs(), dirsBefore, "temporary state dir removed");
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

Deno.test("dev: --help, and a bad option exits 2", async () => {
  const help = await dev("--help");
  assert.equal(help.code, 0);
  assert.match(help.stdout, /usage: deno task dev \[--dry-run\] \[CONFIG\]/);
  const bad = await dev("--frobnicate");
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^dev: unknown option '--frobnicate'/);
});

Deno.test("dev: the runtime config it sends", () => {
  assert.deepEqual(parseDevArgs(["--dry-run", "a.conf"]), {
    dryRun: true,
    configPath: "a.conf",
    help: false,
  });
  assert.throws(() => parseDevArgs(["a", "b"]), /only one config file/);
  const netns = "/var/run/netns/p";
  const plain = runtimeConfig(
    { cniVersion: "1.0.0", name: "n", type: "seamless-static-route" },
    netns,
    "/tmp/s",
  );
  assert.deepEqual(plain.prevResult, defaultPrevResult(netns));
  assert.equal(plain.stateDir, "/tmp/s");
  const own = runtimeConfig(
    { type: "route-override", stateDir: "/tmp/mine", prevResult: { cniVersion: "0.4.0" } },
    netns,
    "/tmp/s",
  );
  assert.equal(own.stateDir, "/tmp/mine", "a config's own stateDir is kept");
  assert.deepEqual(own.prevResult, { cniVersion: "0.4.0" }, "and its own prevResult");
  const list = runtimeConfig(
    {
      cniVersion: "0.4.0",
      name: "l",
      plugins: [{ type: "bridge" }, { type: "route-override", x: 1 }],
    },
    netns,
    "/tmp/s",
  );
  assert.equal(list.cniVersion, "0.4.0");
  assert.equal(list.name, "l");
  assert.equal(list.type, "route-override");
  assert.equal(list.x, 1);
  assert.throws(
    () => runtimeConfig({ plugins: [{ type: "bridge" }] }, netns, "/tmp/s"),
    /no plugin/,
  );
  assert.throws(() => runtimeConfig([], netns, "/tmp/s"), /JSON object/);
  assert.equal(pretty({ a: [1, 2] }), '{"a":[1,2]}');
  assert.equal(pretty({ a: "x".repeat(100) }), `{\n  "a": "${"x".repeat(100)}"\n}`);
});

if (!IS_ROOT) console.warn(`dev live-run tests: ${SKIP_REASON}`);
