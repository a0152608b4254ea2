/**
 * `deno task build`. Whether `deno compile` can work here is decided once, at load, by compiling
 * a one-line script: it needs its runtime (denort) from dl.deno.land or DENORT_BIN. When it can,
 * the real build is made and the binary answers VERSION and --version; when it can't, that test
 * is skipped with the reason, and the build must fail with one clear line instead.
 */
import assert from "node:assert/strict";
import {
  ARCHES,
  explainCompileFailure,
  hostArch,
  parseBuildArgs,
  parseTarget,
  tripleOf,
  UsageError,
} from "../../scripts/build.ts";
import { PLUGIN_NAME, PLUGIN_VERSION } from "../../src/meta.ts";
import { type Run as Result, run as runProcess } from "../../testing/mod.ts";

const ROOT: string = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");
const BUILD = `${ROOT}/scripts/build.ts`;
/** Runs `cmd ARGS` in the repository root. */
function run(
  cmd: string,
  args: string[],
  opts: { env?: Record<string, string> | undefined; stdin?: string; clearEnv?: boolean } = {},
): Promise<Result> {
  return runProcess([cmd, ...args], {
    cwd: ROOT,
    ...(opts.env ? { env: opts.env } : {}),
    ...(opts.stdin === undefined ? {} : { stdin: opts.stdin }),
    clearEnv: opts.clearEnv ?? false,
  });
}

/** Runs scripts/build.ts with args. */
function build(args: string[], env?: Record<string, string>): Promise<Result> {
  return run(Deno.execPath(), ["run", "--allow-all", BUILD, ...args], { env });
}

/** Why `deno compile` cannot work here, or undefined when it can. */
async function compileBlocker(): Promise<string | undefined> {
  const dir = await Deno.makeTempDir({ prefix: "ssr-probe-" });
  try {
    await Deno.writeTextFile(`${dir}/probe.js`, "console.log('ok');\n");
    const r = await run(Deno.execPath(), [
      "compile",
      "--quiet",
      "--no-config",
      "--output",
      `${dir}/probe`,
      `${dir}/probe.js`,
    ]);
    if (r.code === 0) return undefined;
    return explainCompileFailure(r.stderr, hostArch());
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

const BLOCKER = await compileBlocker();
const CAN_COMPILE = BLOCKER === undefined;
if (!CAN_COMPILE) console.warn(`build test of the compiled binary skipped: ${BLOCKER}`);

Deno.test({
  name:
    "build: the compiled binary answers --version, VERSION and a dry-run ADD (needs deno compile's runtime)",
  ignore: !CAN_COMPILE,
  async fn() {
    const arch = hostArch();
    const r = await run(Deno.execPath(), ["task", "--quiet", "build", "--target", "host"]);
    assert.equal(r.code, 0, `deno task build failed:\n${r.stderr}`);
    assert.match(r.stdout, new RegExp(`built dist/${PLUGIN_NAME}-${arch} `));
    for (const bin of [`${ROOT}/dist/${PLUGIN_NAME}-${arch}`, `${ROOT}/dist/${PLUGIN_NAME}`]) {
      assert.ok(((await Deno.stat(bin)).mode! & 0o111) !== 0, `${bin} is executable`);
      // A runtime's environment: nothing of Deno's, no cache, no network.
      const env = { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" };
      const v = await run(bin, ["--version"], { env, clearEnv: true });
      assert.equal(v.code, 0, v.stderr);
      assert.match(
        v.stdout.trim(),
        new RegExp(`^${PLUGIN_NAME} ${PLUGIN_VERSION.replaceAll(".", "\\.")}\\b`),
      );
      const cni = await run(bin, [], {
        env: { ...env, CNI_COMMAND: "VERSION" },
        clearEnv: true,
        stdin: JSON.stringify({ cniVersion: "1.0.0" }),
      });
      assert.equal(cni.code, 0, cni.stderr);
      const json = JSON.parse(cni.stdout) as { cniVersion?: string; supportedVersions?: string[] };
      assert.equal(typeof json.cniVersion, "string");
      assert.ok(json.supportedVersions?.includes("1.0.0"), cni.stdout);
      // An ADD's planning as the binary runs it (its V8 flags; it starts `nsenter --net=/dev/null`
      // to read the pod, which fails, and plans against an empty table): nothing is changed.
      const plan = await run(bin, ["--dry-run"], {
        env: {
          ...env,
          CNI_COMMAND: "ADD",
          CNI_CONTAINERID: "build-test",
          CNI_NETNS: "/dev/null",
          CNI_IFNAME: "eth0",
          CNI_PATH: "/opt/cni/bin",
        },
        clearEnv: true,
        stdin: JSON.stringify({
          cniVersion: "1.0.0",
          name: "buildtest",
          type: "route-override",
          addroutes: [{ dst: "10.70.0.0/16" }],
        }),
      });
      assert.equal(plan.code, 0, plan.stderr);
      assert.match(
        plan.stdout,
        /^nsenter --net=\/dev\/null ip route add 10\.70\.0\.0\/16 dev eth0 scope global {2}# addroutes\[0\]$/m,
      );
    }
  },
});

Deno.test({
  name: "build: without the compile runtime, fails with one line and no stack trace",
  ignore: CAN_COMPILE,
  async fn() {
    // A tiny bundle, so this checks the compile step only.
    const dir = await Deno.makeTempDir({ prefix: "ssr-build-" });
    try {
      await Deno.writeTextFile(`${dir}/bundle.js`, "console.log('x');\n");
      const r = await build([
        "--bundle",
        `${dir}/bundle.js`,
        "--target",
        "host",
        "--output",
        `${dir}/out`,
      ]);
      assert.equal(r.code, 1);
      assert.equal(r.stdout, "");
      const lines = r.stderr.trim().split("\n");
      assert.equal(lines.length, 1, `one line, got:\n${r.stderr}`);
      assert.match(lines[0] ?? "", /^build: cannot compile for \w+: .*runtime.*denort/);
      assert.match(lines[0] ?? "", /DENORT_BIN/, "says how to get past it");
      assert.doesNotMatch(r.stderr, /Stack backtrace|\n\s+at /);
      await assert.rejects(Deno.stat(`${dir}/out`), "no binary left behind");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("build: DENORT_BIN naming a missing file fails with one line", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ssr-build-" });
  try {
    await Deno.writeTextFile(`${dir}/bundle.js`, "console.log('x');\n");
    const r = await build(
      ["--bundle", `${dir}/bundle.js`, "--target", "x86_64", "--output", `${dir}/out`],
      { DENORT_BIN: `${dir}/no-such-denort` },
    );
    assert.equal(r.code, 1);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    assert.match(
      r.stderr,
      /^build: cannot compile for x86_64: DENORT_BIN=.*no-such-denort is not a file/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("build: bad arguments exit 2 with one line; --help exits 0", async () => {
  for (
    const args of [["--target", "mips"], ["--output", "/tmp/x"], ["--frobnicate"], ["--target"]]
  ) {
    const r = await build(args);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    assert.match(r.stderr, /^build: /);
  }
  const help = await build(["--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /--target[\s\S]*dist\/seamless-static-route-x86_64[\s\S]*-aarch64/);
});

Deno.test("build: target names and the output scheme", () => {
  assert.deepEqual(ARCHES, ["x86_64", "aarch64"]);
  assert.deepEqual(parseBuildArgs([]).arches, ["x86_64", "aarch64"], "default: both");
  for (
    const [t, a] of [
      ["x86_64", "x86_64"],
      ["amd64", "x86_64"],
      ["x86_64-unknown-linux-gnu", "x86_64"],
      ["aarch64", "aarch64"],
      ["arm64", "aarch64"],
      ["aarch64-unknown-linux-gnu", "aarch64"],
    ] as const
  ) {
    assert.deepEqual(parseTarget(t), [a], t);
    assert.deepEqual(parseBuildArgs(["--target", t]).arches, [a]);
    assert.deepEqual(parseBuildArgs([`--target=${t}`]).arches, [a]);
  }
  assert.deepEqual(parseTarget("host"), [hostArch()]);
  assert.deepEqual(parseBuildArgs(["--target", "arm64,amd64,arm64"]).arches, ["aarch64", "x86_64"]);
  assert.equal(tripleOf("aarch64"), "aarch64-unknown-linux-gnu");
  const one = parseBuildArgs(["--target", "arm64", "--output", "/out/x"]);
  assert.deepEqual(one, { arches: ["aarch64"], output: "/out/x", bundle: undefined, help: false });
  assert.throws(() => parseBuildArgs(["--output", "/out/x"]), UsageError);
  assert.throws(() => parseTarget("riscv64"), UsageError);
});

Deno.test("build: explains deno compile's download failure in one line", () => {
  const stderr = [
    "\x1b[0m\x1b[32mCompile\x1b[0m x.js to x",
    "Download https://dl.deno.land/release/v2.9.6/denort-x86_64-unknown-linux-gnu.zip",
    "\x1b[1m\x1b[31merror\x1b[0m: Writing deno compile executable to temporary file 'x.tmp'",
    "",
    "Caused by:",
    "    0: Setting up base binary.",
    "    1: error sending request for url (https://dl.deno.land/...): client error (Connect)",
    "    2: dns error",
    "    3: failed to lookup address information: Name or service not known",
    "",
    "Stack backtrace:",
    "   0: <unknown>",
  ].join("\n");
  const msg = explainCompileFailure(stderr, "x86_64");
  assert.ok(!msg.includes("\n"));
  assert.match(msg, /^cannot compile for x86_64: deno compile must download its runtime/);
  assert.match(msg, /\(failed to lookup address information: Name or service not known\)/);
  assert.doesNotMatch(msg, /<unknown>/);
  assert.match(
    explainCompileFailure('error: Relative import path "x" not prefixed', "aarch64"),
    /^deno compile failed for aarch64: Relative import path/,
  );
});
