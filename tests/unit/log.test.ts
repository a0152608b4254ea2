/** log.ts: the invocation tag, the log file's directory, rotation and the stderr fallback. */
import assert from "node:assert/strict";
import { invocationTag, Logger, MAX_LOG_BYTES_PER_RUN } from "../../src/log.ts";

Deno.test("log: the tag names command, pod and attachment; control characters are masked", () => {
  const env: Record<string, string> = {
    CNI_COMMAND: "DEL",
    CNI_CONTAINERID: "3f2a",
    CNI_IFNAME: "net1",
    CNI_ARGS: "IgnoreUnknown=1;K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web\n0",
  };
  assert.equal(invocationTag((k) => env[k]), "DEL shop/web?0 3f2a/net1");
  assert.equal(invocationTag(() => undefined), "-");
  assert.equal(invocationTag((k) => (k === "CNI_IFNAME" ? "eth0" : undefined)), "- -/eth0");
});

Deno.test("log: a file larger than maxBytes is rotated to <file>.1, once", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ssr-log-" });
  try {
    const file = `${dir}/a/b/plugin.log`;
    const log = new Logger({ level: "info", file, maxBytes: 400, tag: "ADD x/y" });
    for (let i = 0; i < 10; i++) log.info(`line ${i} ${"x".repeat(40)}`);
    const now = await Deno.readTextFile(file);
    const old = await Deno.readTextFile(`${file}.1`);
    assert.ok(now.length <= 400 && old.length <= 400, `${now.length} ${old.length}`);
    assert.match(now, /line 9 /);
    assert.ok(!(await Deno.readTextFile(file)).includes("line 0 "));
    assert.equal((await Deno.stat(`${dir}/a/b`)).mode! & 0o777, 0o700);
    assert.equal((await Deno.stat(file)).mode! & 0o777, 0o600);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("log: a logFile that cannot be created falls back to stderr with a warning", () => {
  const lines: string[] = [];
  const log = new Logger({
    file: "/proc/ssr-no-such-dir/plugin.log",
    tag: "ADD",
    stderr: (l) => lines.push(l),
  });
  log.error("the route was refused");
  assert.equal(log.file, undefined);
  assert.equal(lines.length, 2);
  assert.match(
    lines[0]!,
    /WARN \[ADD\] .*cannot create the directory of logFile .*logging to stderr/,
  );
  assert.match(lines[1]!, /ERROR \[ADD\] .*the route was refused\n$/);
});

/** Runs `body` with a fresh 0700 temp dir, removed after. */
async function withTempDir(body: (dir: string) => void | Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "ssr-log-" });
  try {
    await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** A logger on `file` whose stderr lines are collected in `lines`. */
function logTo(file: string, lines: string[], maxBytes = 0): Logger {
  return new Logger({
    level: "info",
    file,
    maxBytes,
    tag: "ADD x/y",
    stderr: (l) => lines.push(l),
  });
}

Deno.test("log: a symlink at logFile is never followed, to a file or to a new path", () =>
  withTempDir((dir) => {
    const victim = `${dir}/root-only`;
    Deno.writeTextFileSync(victim, "precious\n", { mode: 0o600 });
    Deno.symlinkSync(victim, `${dir}/a.log`);
    Deno.symlinkSync(`${dir}/created-by-root`, `${dir}/b.log`);
    for (const name of ["a.log", "b.log"]) {
      const lines: string[] = [];
      const log = logTo(`${dir}/${name}`, lines);
      log.info("one");
      log.error("two");
      assert.equal(log.file, undefined);
      assert.equal(lines.length, 3, lines.join(""));
      assert.match(
        lines[0]!,
        /WARN .*cannot use logFile .*is a symbolic link\); logging to stderr/,
      );
      assert.match(lines[2]!, /ERROR .* two\n$/);
    }
    assert.equal(Deno.readTextFileSync(victim), "precious\n");
    assert.throws(() => Deno.lstatSync(`${dir}/created-by-root`), Deno.errors.NotFound);
  }));

Deno.test("log: a FIFO, a directory or a hard link at logFile is never opened", () =>
  withTempDir((dir) => {
    new Deno.Command("mkfifo", { args: [`${dir}/fifo.log`] }).outputSync();
    Deno.mkdirSync(`${dir}/dir.log`);
    Deno.writeTextFileSync(`${dir}/other`, "", { mode: 0o600 });
    Deno.linkSync(`${dir}/other`, `${dir}/link.log`);
    const cases: [string, RegExp][] = [
      ["fifo.log", /not a regular file \(a FIFO/], // opening it would block for ever
      ["dir.log", /is a directory/],
      ["link.log", /has 2 hard links/],
    ];
    for (const [name, why] of cases) {
      const lines: string[] = [];
      logTo(`${dir}/${name}`, lines).info("hello");
      assert.equal(lines.length, 2, lines.join(""));
      assert.match(lines[0]!, why);
    }
    assert.equal(Deno.readTextFileSync(`${dir}/other`), "");
  }));

Deno.test("log: a logFile others may write is not used; one only root writes is", () =>
  withTempDir((dir) => {
    for (const mode of [0o666, 0o620, 0o602]) {
      Deno.writeTextFileSync(`${dir}/shared.log`, "");
      Deno.chmodSync(`${dir}/shared.log`, mode);
      const lines: string[] = [];
      logTo(`${dir}/shared.log`, lines).info("hello");
      assert.equal(lines.length, 2, lines.join(""));
      assert.match(lines[0]!, /is writable by group or others \(mode 6\d\d\)/);
      assert.equal(Deno.readTextFileSync(`${dir}/shared.log`), "");
      Deno.removeSync(`${dir}/shared.log`);
    }
    Deno.writeTextFileSync(`${dir}/root.log`, "");
    Deno.chmodSync(`${dir}/root.log`, 0o644);
    const lines: string[] = [];
    logTo(`${dir}/root.log`, lines).info("hello");
    assert.equal(lines.length, 0, lines.join(""));
    assert.match(Deno.readTextFileSync(`${dir}/root.log`), /INFO .* hello\n$/);
  }));

Deno.test("log: a logFile in a directory others can write falls back to stderr, once", () =>
  withTempDir((dir) => {
    for (const mode of [0o777, 0o1777, 0o770]) {
      Deno.mkdirSync(`${dir}/open`, { mode });
      Deno.chmodSync(`${dir}/open`, mode);
      const lines: string[] = [];
      const log = logTo(`${dir}/open/plugin.log`, lines);
      log.info("a");
      log.info("b");
      assert.equal(lines.length, 3);
      assert.match(lines[0]!, /is writable by group or others .*logging to stderr/);
      assert.throws(() => Deno.lstatSync(`${dir}/open/plugin.log`), Deno.errors.NotFound);
      Deno.removeSync(`${dir}/open`);
    }
    // A sticky, world-writable directory above a root-only one is fine (/tmp itself is one).
    Deno.mkdirSync(`${dir}/sticky`, { mode: 0o700 });
    Deno.chmodSync(`${dir}/sticky`, 0o1777);
    const lines: string[] = [];
    logTo(`${dir}/sticky/own/plugin.log`, lines).info("kept");
    assert.deepEqual(lines, []);
    assert.match(Deno.readTextFileSync(`${dir}/sticky/own/plugin.log`), /kept/);
  }));

Deno.test("log: a directory at <logFile>.1 does not silently stop rotation", () =>
  withTempDir((dir) => {
    const file = `${dir}/plugin.log`;
    Deno.mkdirSync(`${file}.1`);
    const lines: string[] = [];
    const log = logTo(file, lines, 300);
    for (let i = 0; i < 10; i++) log.info(`line ${i} ${"x".repeat(40)}`);
    assert.ok(Deno.statSync(file).size <= 300, `${Deno.statSync(file).size}`);
    const warnings = lines.filter((l) => / WARN /.test(l));
    assert.equal(warnings.length, 1, lines.join(""));
    assert.match(warnings[0]!, /cannot rotate: .*plugin\.log\.1 is not a regular file/);
    assert.ok(lines.some((l) => l.includes("line 9 ")));
  }));

Deno.test("log: a symlink at <logFile>.1 is replaced by the rotation, never followed", () =>
  withTempDir((dir) => {
    const file = `${dir}/plugin.log`;
    const victim = `${dir}/root-only`;
    Deno.writeTextFileSync(victim, "precious\n", { mode: 0o600 });
    Deno.symlinkSync(victim, `${file}.1`);
    const lines: string[] = [];
    const log = logTo(file, lines, 300);
    for (let i = 0; i < 10; i++) log.info(`line ${i} ${"x".repeat(40)}`);
    assert.deepEqual(lines, []);
    assert.equal(Deno.readTextFileSync(victim), "precious\n");
    assert.ok(Deno.lstatSync(`${file}.1`).isFile);
  }));

Deno.test("log: one invocation logs at most MAX_LOG_BYTES_PER_RUN, then says so once", () => {
  const lines: string[] = [];
  const log = new Logger({ level: "info", tag: "ADD", stderr: (l) => lines.push(l) });
  for (let i = 0; i < 20_000; i++) log.info(`route ${i} ${"x".repeat(100)}`);
  log.error("the final error");
  const bytes = lines.reduce((n, l) => n + l.length, 0);
  assert.ok(bytes <= MAX_LOG_BYTES_PER_RUN + 1024, `${bytes}`);
  assert.equal(lines.filter((l) => /later lines are dropped/.test(l)).length, 1);
  assert.match(lines.at(-1)!, /ERROR .*the final error/);
});

Deno.test("log: what spend() counts (a warning's stderr copy) shares the per-run bound", () => {
  const lines: string[] = [];
  const log = new Logger({ level: "info", tag: "ADD", stderr: (l) => lines.push(l) });
  const copy = "x".repeat(1000);
  let copies = 0;
  for (let i = 0; i < 200; i++) if (log.spend(copy)) copies++;
  assert.equal(copies, 200);
  // 200 KB spent: the log has ~56 KB left, and copies stop where the bound is.
  for (let i = 0; i < 20_000; i++) log.info(`route ${i} ${"x".repeat(100)}`);
  while (log.spend(copy)) copies++;
  const bytes = lines.reduce((n, l) => n + l.length, 0) + copies * copy.length;
  assert.ok(bytes <= MAX_LOG_BYTES_PER_RUN + 1024, `${bytes}`);
  assert.equal(log.spend("y"), false);
});

Deno.test("log: a symlink on the way is followed only from a directory only root can write", () =>
  withTempDir((dir) => {
    Deno.mkdirSync(`${dir}/target/sub`, { recursive: true, mode: 0o700 });
    // Root's link in a root-only directory (think /var/run -> /run) is fine.
    Deno.mkdirSync(`${dir}/closed`, { mode: 0o755 });
    Deno.symlinkSync(`${dir}/target`, `${dir}/closed/link`);
    const kept: string[] = [];
    logTo(`${dir}/closed/link/sub/plugin.log`, kept).info("kept");
    assert.deepEqual(kept, []);
    assert.match(Deno.readTextFileSync(`${dir}/target/sub/plugin.log`), /kept/);
    // The same link in a sticky directory others can write: anyone may have planted it.
    for (const mode of [0o1777, 0o1775]) {
      Deno.mkdirSync(`${dir}/sticky`, { mode: 0o700 });
      Deno.chmodSync(`${dir}/sticky`, mode);
      Deno.symlinkSync(`${dir}/target`, `${dir}/sticky/link`);
      const lines: string[] = [];
      logTo(`${dir}/sticky/link/sub/new.log`, lines).info("dropped");
      assert.equal(lines.length, 2, lines.join(""));
      assert.match(lines[0]!, /symbolic link in a directory others can write.*logging to stderr/);
      assert.throws(() => Deno.lstatSync(`${dir}/target/sub/new.log`), Deno.errors.NotFound);
      // Nor is a missing directory made through it.
      logTo(`${dir}/sticky/link/made/new.log`, []).info("dropped");
      assert.throws(() => Deno.lstatSync(`${dir}/target/made`), Deno.errors.NotFound);
      Deno.removeSync(`${dir}/sticky`, { recursive: true });
    }
  }));
