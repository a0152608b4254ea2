/** log.ts: the invocation tag, the log file's directory, rotation and the stderr fallback. */
import assert from "node:assert/strict";
import { invocationTag, Logger } from "../../src/log.ts";

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
