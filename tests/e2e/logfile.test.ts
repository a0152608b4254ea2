/**
 * `logFile` with the real executable: a FIFO planted at it cannot hang ADD or DEL (which hold the
 * attachment's lock), a symlink is never followed, and a pod annotation with thousands of unknown
 * keys writes a bounded log.
 */
import assert from "node:assert/strict";
import { LAB, tableText } from "../../testing/mod.ts";
import { labTest } from "../support/lab_test.ts";
import { MAX_WARNINGS } from "../../src/cni/skel.ts";
import { MAX_LOG_BYTES_PER_RUN } from "../../src/log.ts";

labTest(
  "logfile: a FIFO at logFile: ADD and DEL finish, on stderr after one warning",
  async (e2e) => {
    const { lab, state } = e2e;
    const logFile = `${state.path}/logs/plugin.log`;
    Deno.mkdirSync(`${state.path}/logs`, { mode: 0o700 });
    new Deno.Command("mkfifo", { args: [logFile] }).outputSync();
    const config = e2e.config("fifo", "seamless-static-route", { logFile, logLevel: "info" });
    const inv = { ...e2e.invocation("f1", config), timeoutMs: 30_000 };
    const before = await tableText(lab.pod);
    for (const command of ["ADD", "DEL"]) {
      const r = await e2e.run(command, inv);
      assert.equal(r.code, 0, `${command}: ${r.stdout} ${r.stderr}`);
      const warnings = r.stderr.split("\n").filter((l) => / WARN /.test(l));
      assert.equal(warnings.length, 1, r.stderr);
      assert.match(warnings[0]!, /cannot use logFile .*plugin\.log is not a regular file \(a FIFO/);
      assert.match(r.stderr, /INFO /);
    }
    assert.deepEqual(await tableText(lab.pod), before);
  },
);

labTest("logfile: a symlink at logFile to a root-only file is not written through", async (e2e) => {
  const { lab, state } = e2e;
  const victim = `${state.path}/shadow`;
  Deno.writeTextFileSync(victim, "root:x:0:0\n", { mode: 0o600 });
  Deno.mkdirSync(`${state.path}/logs`, { mode: 0o700 });
  Deno.symlinkSync(victim, `${state.path}/logs/plugin.log`);
  const config = e2e.config("link", "seamless-static-route", {
    logFile: `${state.path}/logs/plugin.log`,
    logLevel: "info",
  });
  const add = await e2e.run("ADD", e2e.invocation("l1", config));
  assert.equal(add.code, 0, add.stdout);
  assert.match(add.stderr, /is a symbolic link\); logging to stderr/);
  assert.ok((await tableText(lab.pod)).includes(`${LAB.nodeIp} via 10.131.0.1 dev eth0`));
  assert.equal(Deno.readTextFileSync(victim), "root:x:0:0\n");
});

labTest(
  "logfile: 22,000 unknown args.cni keys write a dozen warning lines, not 22,000",
  async (e2e) => {
    const { state } = e2e;
    const logFile = `${state.path}/logs/plugin.log`;
    const cni = Object.fromEntries(Array.from({ length: 22_000 }, (_, i) => [`k${i}`, 1]));
    for (const fields of [{}, { logFile }]) {
      const config = e2e.config("flood", "seamless-static-route", { ...fields, args: { cni } });
      const add = await e2e.run("ADD", e2e.invocation("w1", config));
      assert.equal(add.code, 0, add.stdout);
      const logged = "logFile" in fields ? Deno.readTextFileSync(logFile) : add.stderr;
      const lines = logged.split("\n").filter((l) =>
        l.includes("unknown key") || l.includes("more warning")
      );
      assert.equal(lines.length, MAX_WARNINGS + 1, logged.slice(0, 2000));
      assert.match(lines.at(-1)!, /\.\.\. and 21990 more warnings/);
      assert.ok(add.stderr.length < 8192, `${add.stderr.length} bytes on stderr`);
      assert.equal((await e2e.run("DEL", e2e.invocation("w1", config))).code, 0);
    }
  },
);

labTest(
  "logfile: 1000 skipped args.cni addroutes: 10 named, the rest counted, stderr and file bounded",
  async (e2e) => {
    const { state } = e2e;
    const logFile = `${state.path}/log/plugin.log`;
    // 1000 IPv6 /128 addroutes via an unreachable gateway: each is skipped (as v1 skips it).
    const addroutes = Array.from({ length: 1000 }, (_, i) => ({
      dst: `2001:db8:ffff:ffff:ffff:ffff:ffff:${i.toString(16)}/128`,
      gw: "2001:db8:eeee:eeee:eeee:eeee:eeee:eeee",
    }));
    const config = e2e.config("skipflood", "route-override", {
      logFile,
      args: { cni: { addroutes } },
    });
    const add = await e2e.run("ADD", e2e.invocation("k1", config));
    assert.equal(add.code, 0, add.stdout);
    const logged = Deno.readTextFileSync(logFile);
    const err = new TextEncoder().encode(add.stderr).length;
    assert.ok(logged.length + err <= MAX_LOG_BYTES_PER_RUN + 4096, `${err} + ${logged.length}`);
    for (const text of [add.stderr, logged]) {
      const skips = text.split("\n").filter((l) => l.includes("skipped route"));
      assert.equal(skips.length, MAX_WARNINGS + 1, text);
      assert.match(skips.at(-1)!, /\.\.\. and 990 more skipped routes$/);
    }
  },
);

function chownNobody(path: string): void {
  const r = new Deno.Command("chown", { args: ["-h", "65534:65534", path] }).outputSync();
  assert.ok(r.success, new TextDecoder().decode(r.stderr));
}

labTest(
  "logfile: a symlink another user planted in a sticky directory on the way is not followed",
  async (e2e) => {
    const { state } = e2e;
    // A sticky directory of root's that a group can write (fs.protected_symlinks only guards
    // world-writable ones), and a root-only directory elsewhere (think /etc, holding cron.d)
    // that a group member points a link at.
    const sticky = `${state.path}/tmp`;
    Deno.mkdirSync(sticky);
    Deno.chownSync(sticky, 0, 65534);
    Deno.chmodSync(sticky, 0o1775);
    const victim = `${state.path}/etc`;
    Deno.mkdirSync(`${victim}/cron.d`, { recursive: true, mode: 0o755 });
    Deno.symlinkSync(victim, `${sticky}/ssr`);
    chownNobody(`${sticky}/ssr`); // planted by nobody, as the sticky directory lets it
    const config = e2e.config("stickylink", "seamless-static-route", {
      logFile: `${sticky}/ssr/cron.d/plugin.log`,
      logLevel: "info",
    });
    const add = await e2e.run("ADD", e2e.invocation("s1", config));
    assert.equal(add.code, 0, add.stdout);
    assert.throws(() => Deno.lstatSync(`${victim}/cron.d/plugin.log`), Deno.errors.NotFound);
    assert.match(add.stderr, /ssr is a symbolic link owned by uid 65534.*logging to stderr/);
  },
);

labTest(
  "logfile: ADDs refused while parsing the config still rotate logFile past logMaxSizeMB",
  async (e2e) => {
    const dir = `${e2e.state.path}/log`;
    const logFile = `${dir}/plugin.log`;
    Deno.mkdirSync(dir, { mode: 0o700 });
    const bound = Math.round(0.01 * 1024 * 1024);
    Deno.writeTextFileSync(logFile, "x".repeat(bound - 100) + "\n", { mode: 0o600 });
    // A pod whose annotation is invalid: the runtime retries its ADD for as long as it exists,
    // and at the default logLevel nothing else logs (so nothing else rotates).
    const config = e2e.config("rotbad", "seamless-static-route", {
      logFile,
      logMaxSizeMB: 0.01,
      args: { cni: { addroutes: "nope" } },
    });
    for (let i = 0; i < 60; i++) {
      const add = await e2e.run("ADD", e2e.invocation("r1", config));
      assert.equal(add.json?.code, 7, add.stdout);
    }
    const size = Deno.statSync(logFile).size;
    assert.ok(size <= bound, `${logFile} is ${size} bytes, logMaxSizeMB is ${bound} bytes`);
    // The old lines moved to <logFile>.1; the refusals are logged in the new file.
    assert.match(Deno.readTextFileSync(`${logFile}.1`), /^x+\n$/);
    assert.match(Deno.readTextFileSync(logFile), /invalid args\.cni\.addroutes/);
  },
);
