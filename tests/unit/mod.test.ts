/** The entry point in-process: error JSON shape and codes for input rejected before any `ip` runs. */
import assert from "node:assert/strict";
import { main } from "../../mod.ts";
import { PLUGIN_PERMISSION_FLAGS, PLUGIN_V8_FLAGS } from "../../src/permissions.ts";

const ENV: Record<string, string> = {
  CNI_COMMAND: "ADD",
  CNI_CONTAINERID: "c1",
  CNI_NETNS: "/var/run/netns/pod",
  CNI_IFNAME: "eth0",
  CNI_PATH: "/opt/cni/bin",
};

async function call(
  stdin: string,
  env: Record<string, string | undefined> = {},
  args: string[] = [],
) {
  const all = { ...ENV, ...env };
  const out = await main(args, (k) => all[k], () => Promise.resolve(stdin));
  return { ...out, json: out.stdout.startsWith("{") ? JSON.parse(out.stdout) : undefined };
}

const valid = { cniVersion: "1.0.0", name: "n", type: "seamless-static-route" };

Deno.test("main: error JSON has cniVersion, code, msg (and details) and exit 1", async () => {
  const r = await call("{not json");
  assert.equal(r.code, 1);
  assert.deepEqual(Object.keys(r.json), ["cniVersion", "code", "msg", "details"]);
  assert.equal(r.json.code, 6);
  assert.equal(r.json.cniVersion, "1.1.0");
  assert.equal(r.stdout.endsWith("}\n"), true);
});

Deno.test("main: the error is printed in the config's version when it is supported", async () => {
  const r = await call(JSON.stringify({ ...valid, cniVersion: "0.4.0", flushroutes: 1 }));
  assert.deepEqual(r.json, {
    cniVersion: "0.4.0",
    code: 7,
    msg: "invalid flushroutes 1: must be true or false",
  });
});

Deno.test("main: codes for version, env and config problems", async () => {
  assert.equal((await call(JSON.stringify({ ...valid, cniVersion: "2.0.0" }))).json.code, 1);
  assert.equal((await call(JSON.stringify(valid), { CNI_IFNAME: undefined })).json.code, 4);
  assert.equal((await call(JSON.stringify(valid), { CNI_COMMAND: "GC" })).json.code, 1);
  assert.equal(
    (await call(
      JSON.stringify({ ...valid, cniVersion: "1.1.0", "cni.dev/valid-attachments": "all" }),
      { CNI_COMMAND: "GC" },
    )).json.code,
    7,
  );
  assert.equal((await call(JSON.stringify({ ...valid, type: 3 }))).json.code, 7);
  assert.equal(
    (await call(JSON.stringify(valid), { CNI_NETNS: "/var/run/netns/ssr-not-there" })).json.code,
    102,
  );
});

Deno.test("main: flags and the no-command about text (stderr, exit 0, as the reference skel)", async () => {
  const about = await call("", { CNI_COMMAND: undefined });
  assert.deepEqual([about.code, about.stdout], [0, ""]);
  assert.equal(
    about.stderr,
    "CNI seamless-static-route plugin v0.1.0\n" +
      "CNI protocol versions supported: 0.1.0, 0.2.0, 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0\n",
  );
  assert.equal((await call("", {}, ["--version"])).stdout, "seamless-static-route 0.1.0\n");
  const bad = await call("", {}, ["-x"]);
  assert.equal(bad.code, 2);
  assert.equal(bad.stdout, "");
});

Deno.test("main: a missing-environment error names every missing variable", async () => {
  const r = await call(JSON.stringify(valid), {
    CNI_CONTAINERID: undefined,
    CNI_NETNS: "",
    CNI_PATH: undefined,
  });
  assert.deepEqual(r.json, {
    cniVersion: "1.0.0",
    code: 4,
    msg: "required environment variables CNI_CONTAINERID, CNI_NETNS, CNI_PATH missing for ADD",
  });
});

Deno.test("main: errors before the config is parsed carry its cniVersion when readable", async () => {
  const v040 = JSON.stringify({ ...valid, cniVersion: "0.4.0" });
  assert.equal((await call(v040, { CNI_IFNAME: undefined })).json.cniVersion, "0.4.0");
  assert.equal((await call(v040, { CNI_ARGS: "novalue" })).json.cniVersion, "0.4.0");
  // Unreadable or unsupported: the latest version.
  assert.equal((await call("{", { CNI_IFNAME: undefined })).json.cniVersion, "1.1.0");
  const v9 = JSON.stringify({ ...valid, cniVersion: "9.9.9" });
  assert.equal((await call(v9, { CNI_IFNAME: undefined })).json.cniVersion, "1.1.0");
});

Deno.test("main: unknown keys warn on stderr and in logFile, tagged with the pod", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ssr-mod-" });
  try {
    const logFile = `${dir}/log/plugin.log`;
    const r = await call(
      JSON.stringify({ ...valid, logFile, addroute: [], hostRoute: false }),
      {
        CNI_NETNS: "/var/run/netns/ssr-not-there",
        CNI_ARGS: "IgnoreUnknown=1;K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web-0",
      },
    );
    assert.equal(r.json.code, 102);
    assert.equal(
      r.stderr,
      'seamless-static-route: warning: unknown key addroute is ignored (did you mean "addroutes"?)\n',
    );
    const lines = (await Deno.readTextFile(logFile)).trimEnd().split("\n");
    assert.equal(lines.length, 2, lines.join("\n"));
    assert.match(
      lines[0]!,
      /^\S+ WARN \[ADD shop\/web-0 c1\/eth0 net=n\] \+\S+ms unknown key addroute is ignored/,
    );
    assert.match(lines[1]!, /ERROR \[ADD shop\/web-0 c1\/eth0 net=n\] .*ssr-not-there/);
    // The missing directory was created, private.
    assert.equal((await Deno.stat(`${dir}/log`)).mode! & 0o777, 0o700);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("main: a config error goes to the config's logFile, tagged with the pod", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ssr-mod-" });
  try {
    const logFile = `${dir}/plugin.log`;
    const r = await call(JSON.stringify({ ...valid, logFile, flushroutes: "yes" }), {
      CNI_ARGS: "K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web-0",
    });
    assert.equal(r.json.code, 7);
    const text = await Deno.readTextFile(logFile);
    assert.match(text, /ERROR \[ADD shop\/web-0 c1\/eth0 net=n\] .*invalid flushroutes "yes"/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("main: mod.ts's #! line runs it with the flags a runtime's argv and deno compile get", () => {
  // ./mod.ts (and the bundle, which keeps this line) must not drift from src/permissions.ts.
  const first = Deno.readTextFileSync(new URL("../../mod.ts", import.meta.url)).split("\n")[0];
  const flags = [...PLUGIN_PERMISSION_FLAGS, ...PLUGIN_V8_FLAGS].join(" ");
  assert.equal(first, `#!/usr/bin/env -S deno run ${flags}`);
});
