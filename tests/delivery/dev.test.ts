/**
 * `deno task dev`: as root, the full ADD / CHECK / DEL run in throwaway namespaces must show the
 * host route after ADD, not after DEL, and leave no namespace or state dir behind; `--dry-run`
 * must print an `ip ... route add <node>/32 via 10.131.0.1 dev eth0` plan and touch nothing.
 * The machine's own routes are compared before and after each run (read only).
 */
import assert from "node:assert/strict";
import { IS_ROOT, SKIP_REASON } from "../support/netns.ts";
import { defaultPrevResult, parseDevArgs, pretty, runtimeConfig } from "../../scripts/dev.ts";

const ROOT: string = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");
const dec = new TextDecoder();

/** Output of a finished process. */
interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(cmd: string, args: string[]): Promise<Result> {
  const out = await new Deno.Command(cmd, {
    args,
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Runs `deno task dev ARGS`. */
function dev(...args: string[]): Promise<Result> {
  return run(Deno.execPath(), ["task", "--quiet", "dev", ...args]);
}

/** The text under each `== Heading ==` of dev's output. */
function sections(out: string): Map<string, string> {
  const map = new Map<string, string>();
  const parts = out.split(/^== (.+) ==$/m);
  for (let i = 1; i < parts.length; i += 2) map.set(parts[i], parts[i + 1]);
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
  return out.split("\n").map((l) => l.split(/\s/)[0]).filter((n) => n !== "");
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

  const made = [...r.stdout.matchAll(/^\s*(?:node|pod) namespace: (\S+)$/gm)].map((m) => m[1]);
  assert.equal(made.length, 2, "names its two namespaces");
  const left = await netnsNames();
  for (const ns of made) {
    assert.ok(!left.includes(ns), `namespace ${ns} removed`);
    assert.match(s.get("Cleaning up")!, new RegExp(`removed netns ${ns}`));
  }
  assert.deepEqual(await tempStateDirs(), dirsBefore, "temporary state dir removed");
  assert.equal(await machineState(), machineBefore, "the machine's own routes are untouched");
}

Deno.test({
  name: "dev: as root, ADD/CHECK/DEL in throwaway namespaces, all removed after",
  ignore: !IS_ROOT,
  async fn() {
    const machineBefore = await machineState();
    const dirsBefore = await tempStateDirs();
    const r = await dev();
    await assertLiveRun(r, machineBefore, dirsBefore);
  },
});

Deno.test({
  name: "dev: as root, with a .conflist given on the command line",
  ignore: !IS_ROOT,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "ssr-dev-conf-" });
    try {
      const path = `${dir}/10-mynet.conflist`;
      await Deno.writeTextFile(
        path,
        JSON.stringify({
          cniVersion: "1.0.0",
          name: "mynet",
          plugins: [{ type: "bridge", bridge: "cni0" }, { type: "seamless-static-route" }],
        }),
      );
      const machineBefore = await machineState();
      const dirsBefore = await tempStateDirs();
      const r = await dev(path);
      await assertLiveRun(r, machineBefore, dirsBefore);
      const conf = sections(r.stdout).get("Network config on stdin")!;
      assert.match(conf, /"name": "mynet"/, "the list's name is passed on");
      assert.doesNotMatch(conf, /bridge/, "only this plugin's entry is sent");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/** Whether the machine has an IPv4 default route for the plugin to discover in a dry run. */
const HAS_DEFAULT_ROUTE: boolean = (await run("ip", ["-4", "route", "show", "default"]))
  .stdout.trim() !== "";
if (!HAS_DEFAULT_ROUTE) {
  console.warn("dev --dry-run test skipped: this machine has no IPv4 default route to discover");
}

Deno.test({
  name: "dev --dry-run: prints the ip commands of ADD and touches nothing",
  ignore: !HAS_DEFAULT_ROUTE,
  async fn() {
    const machineBefore = await machineState();
    const devNs = async () => (await netnsNames()).filter((n) => n.startsWith("ssrdev-"));
    const nsBefore = await devNs();
    const dirsBefore = await tempStateDirs();
    const r = await dev("--dry-run");
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    const plan = sections(r.stdout).get("Plan: the ip commands ADD would run");
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
    assert.match(plan, /#.*(cannot|can't|empty)/i, "says the pod table was planned as empty");
    assert.deepEqual(await devNs(), nsBefore, "no namespace made");
    assert.deepEqual(await tempStateDirs(), dirsBefore, "temporary state dir removed");
    assert.equal(await machineState(), machineBefore, "the machine's own routes are untouched");
  },
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
