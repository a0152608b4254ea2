/**
 * The FFI process runner (src/spawn.ts) and what ip.ts builds on it: pipes that cannot deadlock,
 * the child's signals and PATH, EPIPE, the identity file a killed ADD leaves and whom
 * `stopPendingBatch` may stop, and the `Deno.Command` fallback when libc cannot be loaded.
 */
import assert from "node:assert/strict";
import { nothingAt, preloadLibc, useLibcForTest } from "../../src/libc.ts";
import { spawnChild, SpawnError } from "../../src/spawn.ts";
import {
  applyOps,
  PartlyAppliedError,
  PodSession,
  readPod,
  readPodRoutesTo,
  stopPendingBatch,
} from "../../src/ip.ts";
import { tableText } from "../../testing/mod.ts";
import { labTest } from "../support/lab_test.ts";

function child(argv: [string, ...string[]]) {
  const c = spawnChild(argv);
  if (!c) throw new Error("libc not loaded");
  return c;
}

Deno.test("spawn: 4 MB in, 4 MB out and 1 MB of stderr at once, no deadlock; exit status", () => {
  using c = child(["sh", "-c", "cat; head -c 1000000 /dev/zero >&2; exit 3"]);
  assert.ok(c.write(new Uint8Array(4_000_000).fill(65)));
  const out = c.wait();
  assert.equal(out.code, 3);
  assert.equal(out.stdout.length, 4_000_000);
  assert.equal(out.stderr.length, 1_000_000);
});

Deno.test("spawn: a child killed by a signal exits 128 + its number", () => {
  using c = child(["sh", "-c", "kill -9 $$"]);
  assert.equal(c.wait().code, 137);
});

Deno.test("spawn: SIGPIPE is default again in the child, and no signal is blocked", () => {
  using c = child(["sh", "-c", "grep -E '^Sig(Ign|Blk)' /proc/self/status"]);
  const text = c.wait().stdout;
  const mask = (name: string) => BigInt(`0x${new RegExp(`${name}:\\s*(\\w+)`).exec(text)![1]}`);
  assert.equal(mask("SigIgn") & (1n << 12n), 0n, text); // SIGPIPE is signal 13
  assert.equal(mask("SigBlk"), 0n, text);
});

Deno.test("spawn: the program is found on the parent's PATH, which the child inherits", () => {
  const dir = Deno.makeTempDirSync();
  const path = Deno.env.get("PATH") ?? "";
  try {
    Deno.writeTextFileSync(`${dir}/ssr-fake-prog`, '#!/bin/sh\necho "fake $PATH"\n', {
      mode: 0o755,
    });
    Deno.env.set("PATH", `${dir}:${path}`);
    using c = child(["ssr-fake-prog"]);
    assert.equal(c.wait().stdout, `fake ${dir}:${path}\n`);
  } finally {
    Deno.env.set("PATH", path);
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("spawn: the child gets the environment as Deno.env holds it when it starts", () => {
  Deno.env.set("SSR_SPAWN_TEST", "one");
  try {
    using a = child(["sh", "-c", 'echo "${SSR_SPAWN_TEST-unset}"']);
    assert.equal(a.wait().stdout, "one\n");
    Deno.env.delete("SSR_SPAWN_TEST");
    using b = child(["sh", "-c", 'echo "${SSR_SPAWN_TEST-unset}"']);
    assert.equal(b.wait().stdout, "unset\n");
  } finally {
    Deno.env.delete("SSR_SPAWN_TEST");
  }
});

Deno.test("libc: nothingAt never loads libc on the main thread (GC does not preload it)", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    useLibcForTest("libc.so.6"); // nothing loaded
    assert.equal(nothingAt(`${dir}/missing`), false, "looked the old way");
    assert.equal(nothingAt(`${dir}/missing`), false, "and loaded nothing meanwhile");
    await preloadLibc();
    assert.equal(nothingAt(`${dir}/missing`), true);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("libc: nothingAt is true only when nothing at all is at the path", async () => {
  await preloadLibc();
  const dir = Deno.makeTempDirSync();
  try {
    Deno.writeTextFileSync(`${dir}/file`, "");
    Deno.mkdirSync(`${dir}/dir`);
    Deno.symlinkSync(`${dir}/missing`, `${dir}/dangling`);
    new Deno.Command("mkfifo", { args: [`${dir}/fifo`] }).outputSync();
    assert.equal(nothingAt(`${dir}/missing`), true);
    assert.equal(nothingAt(`${dir}/missing/below`), true);
    for (const name of ["file", "dir", "dangling", "fifo"]) {
      assert.equal(nothingAt(`${dir}/${name}`), false, name);
    }
    // What it cannot tell is "something may be there": the caller looks with Deno's APIs.
    assert.equal(nothingAt(`${dir}/file/below`), false); // ENOTDIR
    assert.equal(nothingAt(`${dir}/missing\0/x`), false);
    useLibcForTest("libssr-no-such-libc.so.6");
    try {
      await preloadLibc(); // never rejects
      assert.equal(nothingAt(`${dir}/missing`), false);
      assert.equal(spawnChild(["true"]), null);
    } finally {
      useLibcForTest("libc.so.6");
    }
    await preloadLibc();
    assert.equal(nothingAt(`${dir}/missing`), true);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("spawn: no such program → SpawnError ENOENT; a child that ignores stdin → EPIPE", () => {
  assert.throws(() => spawnChild(["ssr-no-such-program"]), (e) => {
    return e instanceof SpawnError && e.errno === 2;
  });
  using c = child(["true"]);
  assert.equal(c.write(new Uint8Array(1_000_000)), false);
  assert.equal(c.wait().code, 0);
});

Deno.test("spawn: lines are answered as they come (readLines), then the rest at wait", () => {
  using c = child(["sh", "-c", 'while read -r l; do echo "got $l"; done']);
  c.write(new TextEncoder().encode("a\nb\n"));
  assert.ok(c.readLines(2));
  assert.equal(c.takeStdout(), "got a\ngot b\n");
  c.write(new TextEncoder().encode("c\n"));
  assert.equal(c.wait().stdout, "got c\n");
});

Deno.test("spawn: no fd of the runner is left open", () => {
  const fds = () => [...Deno.readDirSync("/proc/self/fd")].length;
  child(["true"]).wait(); // libc loaded
  const before = fds();
  for (let i = 0; i < 20; i++) {
    using c = child(["sh", "-c", "cat >/dev/null; echo x; echo y >&2"]);
    c.write(new Uint8Array(10));
  }
  assert.throws(() => spawnChild(["ssr-no-such-program"]));
  assert.equal(fds(), before);
});

Deno.test("spawn: a writer killed mid-batch leaves its child only whole lines", async () => {
  // SIGKILL of the plugin while ip's stdin pipe is full: ip reads what the pipe holds, then EOF,
  // and runs an unterminated last line as it is ("... metric 100" cut to "... metric 10").
  const dir = Deno.makeTempDirSync();
  try {
    const spawnUrl = new URL("../../src/spawn.ts", import.meta.url).href;
    Deno.writeTextFileSync(
      `${dir}/writer.ts`,
      `import { spawnChild } from ${JSON.stringify(spawnUrl)};
const c = spawnChild(["sh", "-c", "sleep 2; cat > ${dir}/out; touch ${dir}/done"])!;
console.log("spawned");
c.write(new TextEncoder().encode(("x".repeat(99) + "\\n").repeat(5000)));
`,
    );
    const writer = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--cached-only", `${dir}/writer.ts`],
      stdout: "piped",
    }).spawn();
    const reader = writer.stdout.getReader();
    assert.match(new TextDecoder().decode((await reader.read()).value), /spawned/);
    await new Promise((r) => setTimeout(r, 500)); // the pipe is full: the writer waits in poll
    writer.kill("SIGKILL");
    reader.releaseLock();
    await writer.stdout.cancel();
    await writer.status;
    for (let i = 0; i < 500 && !existsSync(`${dir}/done`); i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    const out = Deno.readTextFileSync(`${dir}/out`);
    assert.ok(out.length > 0 && out.length < 500_000, `${out.length} bytes`);
    assert.ok(
      out.endsWith("\n"),
      `a cut line: ${out.length} bytes, ends ${JSON.stringify(out.slice(-20))}`,
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

function existsSync(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Starts an `ip` that sleeps (a shell script named ip in `dir`); its child and start time. */
function sleepingIp(dir: string) {
  Deno.writeTextFileSync(`${dir}/ip`, "#!/bin/sh\nwhile :; do sleep 1; done\n", { mode: 0o755 });
  const c = child([`${dir}/ip`]);
  const stat = Deno.readTextFileSync(`/proc/${c.pid}/stat`);
  return { c, start: Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]) };
}

Deno.test("stopPendingBatch: SIGKILLs the ip a batch file names, only with its start time", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const file = `${dir}/c1@eth0.batch`;
    const { c, start } = sleepingIp(dir);
    // A reused pid (same pid, another start time) is not touched; the file goes all the same.
    Deno.writeTextFileSync(file, `${c.pid} ${start + 1} ip\n`);
    assert.equal(stopPendingBatch(file), 0);
    assert.throws(() => Deno.statSync(file));
    assert.match(Deno.readTextFileSync(`/proc/${c.pid}/stat`), /^\d+ \(ip\) [^Z]/);
    Deno.writeTextFileSync(file, `${c.pid} ${start} ip\n`);
    assert.equal(stopPendingBatch(file), 1);
    assert.equal(c.wait().code, 137);
    assert.throws(() => Deno.statSync(file));
    // Nothing at the name: nothing to stop.
    assert.equal(stopPendingBatch(file), 0);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

labTest(
  "ip: without libc, ADD's session, reads and applies fall back to Deno.Command",
  async (e2e) => {
    const { lab } = e2e;
    const before = await tableText(lab.pod);
    useLibcForTest("libssr-no-such-libc.so.6");
    try {
      assert.equal(spawnChild(["true"]), null);
      const dst = "10.77.0.0/16";
      const op = {
        action: "add" as const,
        route: {
          family: 4 as const,
          dst,
          gateway: "10.131.0.1",
          dev: "eth0",
          table: "main",
          metric: 0,
        },
        reason: "test",
      };
      {
        using session = new PodSession(lab.podNetns);
        const read = session.read();
        assert.deepEqual(read.routes, readPod(lab.podNetns).routes);
        session.apply([op], `${e2e.state.path}/fallback.batch`);
      }
      assert.ok((await tableText(lab.pod)).some((l) => l.startsWith("10.77.0.0/16 via")));
      assert.equal(readPodRoutesTo(lab.podNetns, [dst]).routes.length, 1);
      applyOps(lab.podNetns, [{ ...op, action: "del" }]);
      assert.deepEqual(await tableText(lab.pod), before);
      assert.deepEqual([...Deno.readDirSync(e2e.state.path)], []);
    } finally {
      useLibcForTest("libc.so.6");
    }
  },
);

labTest("ip: ADD's session reads, re-reads, then applies in one ip", async (e2e) => {
  const { lab } = e2e;
  const before = await tableText(lab.pod);
  const op = {
    action: "add" as const,
    route: {
      family: 4 as const,
      dst: "10.78.0.0/16",
      gateway: "10.131.0.1",
      dev: "eth0",
      table: "main",
      metric: 0,
    },
    reason: "test",
  };
  const guard = `${e2e.state.path}/s.batch`;
  {
    using session = new PodSession(lab.podNetns);
    const first = session.read();
    assert.deepEqual(session.read(), first);
    // A refused line is named by its index among the ops, not the session's lines.
    assert.throws(() => session.apply([op, op], guard), (e) => {
      return e instanceof Error && "failedIndex" in e && e.failedIndex === 1;
    });
  }
  assert.throws(() => Deno.statSync(guard));
  applyOps(lab.podNetns, [{ ...op, action: "del" }]);
  assert.deepEqual(await tableText(lab.pod), before);
});

/** `count` adds via the pod's gateway to `dst(i)`, as a plan lists them (`addroutes[i]`). */
function addOps(count: number, dst: (i: number) => string) {
  return Array.from({ length: count }, (_, i) => ({
    action: "add" as const,
    route: {
      family: 4 as const,
      dst: dst(i),
      gateway: "10.131.0.1",
      dev: "eth0",
      table: "main",
      metric: 0,
    },
    reason: `addroutes[${i}]`,
  }));
}

/** The destinations under 10.SECOND.0.0/16 in the pod's main table. */
async function landed(pod: string, second: number): Promise<string[]> {
  return (await tableText(pod))
    .map((l) => l.split(" ")[0]!)
    .filter((dst) => dst.startsWith(`10.${second}.`));
}

labTest(
  "ip: a plan goes to ip in chunks; a refused line past the first is named by its op index",
  async (e2e) => {
    const { lab } = e2e;
    const before = await tableText(lab.pod);
    const ops = addOps(100, (i) => `10.81.${i}.0/24`);
    ops[70] = { ...ops[3]!, reason: "duplicate" }; // "File exists": ip stops there
    const guard = `${e2e.state.path}/chunks.batch`;
    {
      using session = new PodSession(lab.podNetns);
      session.read();
      assert.throws(() => session.apply(ops, guard), (e) => {
        return e instanceof Error && "failedIndex" in e && e.failedIndex === 70 &&
          e.message.includes('"route add 10.81.3.0/24 via 10.131.0.1 dev eth0"');
      });
    }
    assert.ok(nothingAt(guard), "the guard file is removed");
    // Every line before the refused one landed, none after it.
    const want = ops.slice(0, 70).map((op) => op.route.dst).sort();
    assert.deepEqual((await landed(lab.pod, 81)).sort(), want);
    await undo(e2e, ops.slice(0, 70), before);
  },
);

labTest(
  "ip: a line that cannot be built mid-plan is thrown once ip applied the lines before it",
  async (e2e) => {
    const { lab } = e2e;
    const before = await tableText(lab.pod);
    const ops = addOps(100, (i) => `10.82.${i}.0/24`);
    ops[50] = { ...ops[50]!, route: { ...ops[50]!.route, dev: "eth0 table 7" } };
    const guard = `${e2e.state.path}/bad.batch`;
    {
      using session = new PodSession(lab.podNetns);
      session.read();
      assert.throws(() => session.apply(ops, guard), /invalid device for ip: "eth0 table 7"/);
    }
    assert.ok(nothingAt(guard), "the guard file is removed");
    // What landed is whole lines from the start of the plan, never the bad one nor one after it
    // (the caller, ADD, undoes every op of the plan then).
    const got = (await landed(lab.pod, 82)).sort();
    assert.ok(got.length < 50, `${got.length} routes landed`);
    assert.deepEqual(got, ops.slice(0, got.length).map((op) => op.route.dst).sort());
    await undo(e2e, ops.slice(0, got.length), before);
  },
);

/** `count` adds of /32s from 10.84.0.0 on, the first numbered `from`. */
function hostOps(count: number, from: number) {
  return addOps(count + from, (i) => `10.84.${i >> 8}.${i & 255}/32`).slice(from);
}

/** Deletes what `ops` added (each once) and checks the table is `before` again. */
async function undo(
  e2e: { lab: { pod: string; podNetns: string } },
  ops: ReturnType<typeof hostOps>,
  before: string[],
) {
  applyOps(e2e.lab.podNetns, ops.map((op) => ({ ...op, action: "del" as const })));
  assert.deepEqual(await tableText(e2e.lab.pod), before);
}

labTest("ip: without libc, a session applies the first ops and then more()'s", async (e2e) => {
  const { lab } = e2e;
  const before = await tableText(lab.pod);
  const first = hostOps(30, 0), rest = hostOps(40, 30);
  rest[5] = { ...first[2]!, reason: "dup" }; // refused: index 35 of the whole plan
  useLibcForTest("libssr-no-such-libc.so.6");
  try {
    using session = new PodSession(lab.podNetns);
    session.startRead();
    session.read();
    assert.throws(
      () => session.apply(first, `${e2e.state.path}/fb.batch`, { more: () => rest }),
      (e) => e instanceof Error && "failedIndex" in e && e.failedIndex === 35,
    );
  } finally {
    useLibcForTest("libc.so.6");
  }
  const found = await landed(lab.pod, 84);
  assert.equal(found.length, 35);
  await undo(e2e, [...first, ...rest.slice(0, 5)], before);
  assert.deepEqual([...Deno.readDirSync(e2e.state.path)], []);
});

labTest(
  "ip: a line refused in the first ops: more() runs once, nothing after the line lands",
  async (e2e) => {
    const { lab } = e2e;
    const before = await tableText(lab.pod);
    const first = hostOps(300, 0), rest = hostOps(100, 300);
    first[3] = { ...first[1]!, reason: "dup" }; // refused: ip exits at index 3
    let mores = 0;
    {
      using session = new PodSession(lab.podNetns);
      session.read();
      assert.throws(
        () =>
          session.apply(first, `${e2e.state.path}/g.batch`, {
            more: () => (mores++, rest),
          }),
        (e) => e instanceof Error && "failedIndex" in e && e.failedIndex === 3,
      );
    }
    // more() ran once (the caller's plan is whole then); ip stopped at the refused line, so none
    // of the lines after it landed, whether or not they were written before it stopped.
    assert.equal(mores, 1);
    const found = await landed(lab.pod, 84);
    assert.equal(found.length, 3);
    await undo(e2e, first.slice(0, 3), before);
    assert.deepEqual([...Deno.readDirSync(e2e.state.path)], []);
  },
);

for (const refusedAt of [-1, 3]) {
  labTest(
    `ip: more() fails while ip applies → PartlyAppliedError says what ip applied (${
      refusedAt < 0 ? "all" : `up to line ${refusedAt}`
    })`,
    async (e2e) => {
      const { lab } = e2e;
      const before = await tableText(lab.pod);
      const first = hostOps(40, 0);
      if (refusedAt >= 0) first[refusedAt] = { ...first[0]!, reason: "dup" };
      const guard = `${e2e.state.path}/p.batch`;
      const why = new Error("the rest could not be recorded");
      {
        using session = new PodSession(lab.podNetns);
        session.read();
        assert.throws(
          () =>
            session.apply(first, guard, {
              more: () => {
                throw why;
              },
            }),
          (e) =>
            e instanceof PartlyAppliedError && e.cause === why &&
            e.applied === (refusedAt < 0 ? 40 : refusedAt),
        );
      }
      assert.ok(nothingAt(guard), "the guard file is removed");
      const applied = refusedAt < 0 ? first : first.slice(0, refusedAt);
      const found = await landed(lab.pod, 84);
      assert.equal(found.length, applied.length);
      await undo(e2e, applied, before);
    },
  );
}

/** The pids of this process's children named `ip`. */
function ipChildren(): number[] {
  const pids: number[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${e.name}/stat`);
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(fields[1]) === Deno.pid && stat.includes("(ip)")) pids.push(Number(e.name));
    } catch { /* gone */ }
  }
  return pids;
}

labTest(
  "ip: killed while it applies the first ops → the error bounds what ip was given (not more()'s)",
  async (e2e) => {
    // ip dies (the OOM killer, an admin) naming no line: more() still runs (ADD's plan is whole
    // then), but ip was given only the first ops, and only those may ADD undo (by presence: an
    // identical route another writer added meanwhile must stay).
    const { lab } = e2e;
    const before = await tableText(lab.pod);
    const first = hostOps(40, 0), rest = hostOps(40, 40);
    let err: unknown;
    {
      using session = new PodSession(lab.podNetns);
      session.read();
      try {
        session.apply(first, `${e2e.state.path}/k.batch`, {
          more: () => {
            // Killed and gone (a zombie holds no pipe): its stdin takes no more lines.
            for (const pid of ipChildren()) {
              Deno.kill(pid, "SIGKILL");
              while (!/\) Z /.test(Deno.readTextFileSync(`/proc/${pid}/stat`))) {
                Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
              }
            }
            return rest;
          },
        });
      } catch (e) {
        err = e;
      }
    }
    assert.ok(err instanceof Error, "ip was killed: the apply fails");
    const given = err instanceof PartlyAppliedError ? err.applied : undefined;
    assert.ok(
      given !== undefined && given <= first.length,
      `the error must say ip was given at most ${first.length} ops, not ${given} ` +
        `(${err.constructor.name}: ${err.message})`,
    );
    const found = await landed(lab.pod, 84);
    assert.ok(found.length <= first.length, "none of more()'s ops landed");
    await undo(e2e, first.slice(0, found.length), before);
  },
);

labTest(
  "ip: without libc, a line that cannot be built → PartlyAppliedError (0 applied), as with libc",
  async (e2e) => {
    // The fallback builds every line before ip runs: ip applied none, and ADD undoes none.
    const { lab } = e2e;
    const before = await tableText(lab.pod);
    const first = hostOps(30, 0);
    first[5] = { ...first[5]!, route: { ...first[5]!.route, gateway: "not-an-ip" } };
    useLibcForTest("libssr-no-such-libc.so.6");
    try {
      using session = new PodSession(lab.podNetns);
      session.read();
      assert.throws(
        () => session.apply(first, `${e2e.state.path}/nl.batch`),
        (e) => e instanceof PartlyAppliedError && e.applied === 0,
      );
    } finally {
      useLibcForTest("libc.so.6");
    }
    assert.deepEqual(await tableText(lab.pod), before);
  },
);
