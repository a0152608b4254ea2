/** The CNI skeleton with a small plugin of its own: dispatch, loading on demand, error JSON. */
import assert from "node:assert/strict";
import { type BaseConfig, peekConfig, type Plugin, pluginMain } from "../../src/cni/skel.ts";
import { CniError, ErrorCode } from "../../src/cni/errors.ts";
import type { Json } from "../../src/validate.ts";

interface TestConfig extends BaseConfig {
  version: string;
}

const ENV: Record<string, string> = {
  CNI_CONTAINERID: "c1",
  CNI_NETNS: "/var/run/netns/pod",
  CNI_IFNAME: "eth0",
  CNI_PATH: "/opt/cni/bin",
};

/** A plugin whose handlers record which were loaded and which ran. */
function testPlugin() {
  const loaded: string[] = [];
  const parsed: string[] = [];
  const plugin: Plugin<TestConfig> = {
    name: "t",
    version: "9.9.9",
    usage: "usage\n",
    parseConfig: (raw: Json, version: string) => {
      parsed.push(version);
      if (raw.bad !== undefined) {
        throw new CniError(ErrorCode.InvalidConfig, `invalid bad ${JSON.stringify(raw.bad)}`);
      }
      return { name: String(raw.name), type: "t", logLevel: "error", version };
    },
    handlers: {
      ADD: () => {
        loaded.push("ADD");
        return Promise.resolve((ctx) => ({
          json: { added: ctx.env.ifname, v: ctx.config.version },
        }));
      },
      DEL: () => {
        loaded.push("DEL");
        return Promise.resolve(() => ({}));
      },
      CHECK: () => {
        loaded.push("CHECK");
        return Promise.resolve(() => {
          throw new CniError(ErrorCode.CheckFailed, "route 10.0.0.0/8: missing");
        });
      },
      STATUS: () => {
        loaded.push("STATUS");
        return Promise.resolve(() => ({}));
      },
      GC: () => {
        loaded.push("GC");
        return Promise.resolve(() => ({}));
      },
    },
  };
  return { plugin, loaded, parsed };
}

function run(plugin: Plugin<TestConfig>, command: string, stdin: string, args: string[] = []) {
  const env: Record<string, string> = { ...ENV, CNI_COMMAND: command };
  return pluginMain(plugin, args, (k) => env[k], () => Promise.resolve(stdin));
}

Deno.test("skel: only the named handler is loaded; the config is parsed once at its version", async () => {
  const { plugin, loaded, parsed } = testPlugin();
  const out = await run(plugin, "ADD", '{"cniVersion":"0.4.0","name":"n"}');
  assert.deepEqual(out, { stdout: '{"added":"eth0","v":"0.4.0"}\n', stderr: "", code: 0 });
  assert.deepEqual(loaded, ["ADD"]);
  assert.deepEqual(parsed, ["0.4.0"]);
});

Deno.test("skel: a handler's CniError is printed once as the error JSON, exit 1", async () => {
  const { plugin } = testPlugin();
  const out = await run(plugin, "CHECK", '{"cniVersion":"1.0.0","name":"n"}');
  assert.equal(out.code, 1);
  assert.equal(out.stdout.split("\n").length, 2);
  assert.deepEqual(JSON.parse(out.stdout), {
    cniVersion: "1.0.0",
    code: 101,
    msg: "route 10.0.0.0/8: missing",
  });
});

Deno.test("skel: VERSION loads no handler and parses no config", async () => {
  const { plugin, loaded, parsed } = testPlugin();
  const out = await run(plugin, "VERSION", "");
  assert.equal(out.code, 0);
  assert.equal(JSON.parse(out.stdout).cniVersion, "1.1.0");
  assert.deepEqual([loaded, parsed], [[], []]);
});

Deno.test("skel: an unsupported version fails before any handler loads (code 1)", async () => {
  const { plugin, loaded } = testPlugin();
  const out = await run(plugin, "ADD", '{"cniVersion":"9.0.0","name":"n"}');
  assert.equal(JSON.parse(out.stdout).code, 1);
  assert.deepEqual(loaded, []);
});

Deno.test("skel: --version and unknown options", async () => {
  const { plugin } = testPlugin();
  assert.equal((await run(plugin, "ADD", "", ["--version"])).stdout, "t 9.9.9\n");
  const bad = await run(plugin, "ADD", "", ["--bogus"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /unknown option --bogus/);
});

Deno.test("skel: a config error's log line names the network (net=), as every other line does", async () => {
  const { plugin } = testPlugin();
  const dir = Deno.makeTempDirSync();
  try {
    const logFile = `${dir}/plugin.log`;
    const config = (extra: Record<string, unknown>) =>
      JSON.stringify({ cniVersion: "1.0.0", name: "blue-net", logFile, ...extra });
    const out = await run(plugin, "ADD", config({ bad: 1 }));
    assert.equal(JSON.parse(out.stdout).code, 7);
    const lines = Deno.readTextFileSync(logFile).trimEnd().split("\n");
    assert.equal(lines.length, 1);
    assert.match(lines[0]!, / ERROR \[ADD c1\/eth0 net=blue-net\] \+[0-9.]+ms invalid bad 1$/);
    // An unsupported version is refused before the config is parsed: still named.
    await run(plugin, "ADD", config({ cniVersion: "9.0.0" }));
    assert.match(Deno.readTextFileSync(logFile), /\[ADD c1\/eth0 net=blue-net\] .*9\.0\.0/);
    // A name that is no network name is not copied into the log.
    Deno.removeSync(logFile);
    await run(plugin, "ADD", config({ name: "a b]", bad: 2 }));
    assert.match(Deno.readTextFileSync(logFile), / ERROR \[ADD c1\/eth0\] .*invalid bad 2$/m);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("skel: peekConfig reads logMaxSizeMB with logFile, its default when invalid", () => {
  const peek = (extra: Record<string, unknown>) =>
    peekConfig(JSON.stringify({ name: "n", logFile: "/var/log/x.log", ...extra })).logMaxBytes;
  assert.equal(peek({ logMaxSizeMB: 0.5 }), 512 * 1024);
  assert.equal(peek({ logMaxSizeMB: 0 }), 0);
  const dflt = peek({});
  assert.ok(dflt !== undefined && dflt > 0);
  for (const bad of [-1, "5", 1e9, null]) assert.equal(peek({ logMaxSizeMB: bad }), dflt);
  assert.equal(peekConfig(JSON.stringify({ name: "n", logMaxSizeMB: 1 })).logMaxBytes, undefined);
});

Deno.test("skel: prepare starts before stdin is read and ends before the handler runs", async () => {
  const { plugin } = testPlugin();
  const events: string[] = [];
  let release = () => {};
  plugin.prepare = (command) => {
    events.push(`prepare ${command}`);
    return new Promise<void>((resolve) => {
      release = () => {
        events.push("prepared");
        resolve();
      };
    });
  };
  plugin.handlers.ADD = () => {
    events.push("handler");
    return Promise.resolve(() => ({ json: {} }));
  };
  const env: Record<string, string> = { ...ENV, CNI_COMMAND: "ADD" };
  const stdin = () => {
    events.push("stdin");
    setTimeout(() => release(), 20); // prepare ends after stdin was read and the config parsed
    return Promise.resolve('{"cniVersion":"1.0.0","name":"n"}');
  };
  const out = await pluginMain(plugin, [], (k) => env[k], stdin);
  assert.equal(out.code, 0, out.stdout);
  assert.deepEqual(events, ["prepare ADD", "stdin", "prepared", "handler"]);
});

Deno.test("skel: a prepare that rejects or throws fails the command as an internal error (199)", async () => {
  const { plugin, loaded } = testPlugin();
  plugin.prepare = () => Promise.reject(new Error("no library"));
  const out = await run(plugin, "ADD", '{"cniVersion":"1.0.0","name":"n"}');
  assert.equal(out.code, 1);
  assert.deepEqual(JSON.parse(out.stdout), {
    cniVersion: "1.0.0",
    code: 199,
    msg: "internal error: no library",
  });
  assert.deepEqual(loaded, []);
  plugin.prepare = () => {
    throw new Error("thrown at once");
  };
  const thrown = await run(plugin, "ADD", '{"cniVersion":"1.0.0","name":"n"}');
  assert.equal(thrown.code, 1);
  assert.equal(JSON.parse(thrown.stdout).msg, "internal error: thrown at once");
  plugin.prepare = () => Promise.reject(new Error("no library"));
  // VERSION does not wait for it (nor does a rejection it never awaits go unhandled).
  const version = await run(plugin, "VERSION", "{}");
  assert.equal(version.code, 0);
});
