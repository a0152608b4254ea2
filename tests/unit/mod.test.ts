/** The entry point in-process: error JSON shape and codes for input rejected before any `ip` runs. */
import assert from "node:assert/strict";
import { main } from "../../mod.ts";

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

Deno.test("main: flags and the no-command banner", async () => {
  assert.equal((await call("", { CNI_COMMAND: undefined })).stdout.split("\n").length, 2);
  assert.equal((await call("", {}, ["--version"])).stdout, "seamless-static-route 0.1.0\n");
  const bad = await call("", {}, ["-x"]);
  assert.equal(bad.code, 2);
  assert.equal(bad.stdout, "");
});
