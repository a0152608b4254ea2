/**
 * The CNI protocol around the routes: VERSION, STATUS, GC, the human banner, result versions,
 * and one smoke test straight from mod.ts (source, not bundle).
 */
import assert from "node:assert/strict";
import {
  BinDir,
  LAB,
  Lab,
  prevResultFor,
  runPlugin,
  SOURCE,
  tableText,
} from "../../testing/mod.ts";
import { labTest } from "../support/lab_test.ts";
import { stateExists } from "../support/fixtures.ts";
import { SUPPORTED_VERSIONS } from "../../src/cni/version.ts";

Deno.test("no CNI_COMMAND: the about text on stderr, exit 0; --version; --help", async () => {
  await using bin = await BinDir.create();
  const r = await runPlugin(bin, {});
  assert.deepEqual([r.code, r.stdout], [0, ""]);
  assert.equal(
    r.stderr,
    "CNI seamless-static-route plugin v0.1.0\n" +
      "CNI protocol versions supported: 0.1.0, 0.2.0, 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0\n",
  );
  const v = await runPlugin(bin, { argv: ["--version"] });
  assert.deepEqual([v.code, v.stdout], [0, "seamless-static-route 0.1.0\n"]);
  const h = await runPlugin(bin, { argv: ["--help"] });
  assert.equal(h.code, 0);
  assert.match(h.stdout, /--dry-run/);
  const bad = await runPlugin(bin, { argv: ["--frobnicate"] });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /unknown option --frobnicate/);
});

Deno.test("VERSION answers in the version asked, or the latest", async () => {
  await using bin = await BinDir.create();
  for (const asked of ["0.4.0", "1.1.0"]) {
    const r = await runPlugin(bin, { command: "VERSION", config: { cniVersion: asked } });
    assert.equal(r.code, 0);
    assert.deepEqual(r.json, { cniVersion: asked, supportedVersions: [...SUPPORTED_VERSIONS] });
  }
  const none = await runPlugin(bin, { command: "VERSION", config: "" });
  assert.deepEqual(none.json, { cniVersion: "1.1.0", supportedVersions: [...SUPPORTED_VERSIONS] });
});

Deno.test("STATUS: ready when ip runs; code 1 below 1.1.0; code 50 without ip", async () => {
  await using bin = await BinDir.create();
  const config = { cniVersion: "1.1.0", name: "st", type: "seamless-static-route" };
  const r = await runPlugin(bin, { command: "STATUS", config });
  assert.deepEqual([r.code, r.stdout], [0, ""]);
  const old = await runPlugin(bin, {
    command: "STATUS",
    config: { ...config, cniVersion: "1.0.0" },
  });
  assert.equal(old.json.code, 1);
  // A PATH without iproute2: ip cannot be run.
  const empty = await Deno.makeTempDir();
  try {
    const noIp = await runPlugin(bin, { command: "STATUS", config, env: { PATH: empty } });
    assert.equal(noIp.code, 1);
    assert.equal(noIp.json.code, 50);
  } finally {
    await Deno.remove(empty);
  }
});

labTest("GC removes the state of attachments the runtime no longer lists", async (e2e) => {
  const { lab, bin, state } = e2e;
  const config = e2e.config("gcnet", "route-override", { cniVersion: "1.1.0" });
  for (const id of ["keep1", "gone1"]) {
    const r = await runPlugin(bin, {
      command: "ADD",
      containerId: id,
      netns: lab.podNetns,
      ifname: "eth0",
      nodeNs: lab.node,
      config,
    });
    assert.equal(r.code, 0, r.stdout);
  }
  // Older than GC's grace (a record the runtime's list may predate is kept).
  const old = new Date(Date.now() - 3600_000);
  for (const e of Deno.readDirSync(`${state.path}/gcnet`)) {
    Deno.utimeSync(`${state.path}/gcnet/${e.name}`, old, old);
  }
  const gc = await runPlugin(bin, {
    command: "GC",
    config: {
      ...config,
      prevResult: undefined,
      "cni.dev/valid-attachments": [{ containerID: "keep1", ifname: "eth0" }],
    },
  });
  assert.deepEqual([gc.code, gc.stdout], [0, ""]);
  assert.ok(await stateExists(state.path, "gcnet", "keep1", "eth0"));
  assert.ok(!await stateExists(state.path, "gcnet", "gone1", "eth0"));
});

/** A prevResult for `lab` written in the shape of `version`. */
function prevIn(version: string, lab: Lab): Record<string, unknown> {
  if (version === "0.1.0" || version === "0.2.0") {
    return {
      cniVersion: version,
      ip4: { ip: "10.131.0.5/23", gateway: "10.131.0.1", routes: [{ dst: "0.0.0.0/0" }] },
      dns: {},
    };
  }
  const p = prevResultFor(lab);
  const ips = version.startsWith("0.") ? p.ips.map((ip) => ({ version: "4", ...ip })) : p.ips;
  return { ...p, cniVersion: version, ips };
}

labTest("ADD reads prevResult and prints the result in every supported version", async (e2e, t) => {
  const { lab, bin, state } = e2e;
  const before = await tableText(lab.pod);
  for (const version of SUPPORTED_VERSIONS) {
    await t.step(version, async () => {
      const prevResult = prevIn(version, lab);
      const config = {
        cniVersion: version,
        name: "ver",
        type: "seamless-static-route",
        stateDir: state.path,
        prevResult,
      };
      const inv = e2e.invocation("v1", config);
      const add = await runPlugin(bin, { ...inv, command: "ADD" });
      assert.equal(add.code, 0, add.stdout);
      const hostRoute = { dst: `${LAB.nodeIp}/32`, gw: "10.131.0.1" };
      if (version === "0.1.0" || version === "0.2.0") {
        assert.deepEqual(add.json, {
          cniVersion: version,
          ip4: {
            ip: "10.131.0.5/23",
            gateway: "10.131.0.1",
            routes: [{ dst: "0.0.0.0/0" }, hostRoute],
          },
          dns: {},
        });
      } else {
        assert.deepEqual(add.json, {
          ...prevResult,
          routes: [{ dst: "0.0.0.0/0", gw: "10.131.0.1" }, hostRoute],
        });
      }
      if (version >= "0.4.0") {
        const check = await runPlugin(bin, { ...inv, command: "CHECK" });
        assert.equal(check.code, 0, check.stdout);
      }
      assert.equal((await runPlugin(bin, { ...inv, command: "DEL" })).code, 0);
      assert.deepEqual(await tableText(lab.pod), before);
    });
  }
});

labTest(
  "smoke: mod.ts from source runs ADD and DEL like the bundle",
  { entry: SOURCE },
  async (e2e) => {
    const { lab, bin } = e2e;
    const config = e2e.config("src", "seamless-static-route");
    const inv = e2e.invocation("s1", config);
    const before = await tableText(lab.pod);
    const add = await runPlugin(bin, { ...inv, command: "ADD" });
    assert.equal(add.code, 0, add.stdout + add.stderr);
    assert.deepEqual(add.json.routes.at(-1), { dst: `${LAB.nodeIp}/32`, gw: "10.131.0.1" });
    assert.deepEqual(
      await tableText(lab.pod),
      [...before, `${LAB.nodeIp} via 10.131.0.1 dev eth0`].sort(),
    );
    assert.equal((await runPlugin(bin, { ...inv, command: "DEL" })).code, 0);
    assert.deepEqual(await tableText(lab.pod), before);
  },
);

labTest("--dry-run prints the ip commands and changes nothing", async (e2e) => {
  const { lab, bin, state } = e2e;
  const config = e2e.config("dry", "seamless-static-route", {
    addroutes: [{ dst: "172.16.0.0/12" }],
  });
  const before = await tableText(lab.pod);
  const r = await runPlugin(bin, {
    command: "ADD",
    containerId: "d1",
    netns: lab.podNetns,
    ifname: "eth0",
    nodeNs: lab.node,
    config,
    argv: ["--dry-run"],
  });
  assert.equal(r.code, 0, r.stdout);
  assert.deepEqual(r.stdout.trim().split("\n"), [
    `# seamless-static-route dry run: ADD eth0 in ${lab.podNetns}; nothing is changed`,
    `ip -n ${lab.pod} route add 172.16.0.0/12 via 10.131.0.1 dev eth0  # addroutes[0]`,
    `ip -n ${lab.pod} route add ${LAB.nodeIp}/32 via 10.131.0.1 dev eth0  # hostRoute`,
  ]);
  assert.deepEqual(await tableText(lab.pod), before);
  assert.deepEqual([...Deno.readDirSync(state.path)], []);
  const gone = await runPlugin(bin, {
    command: "ADD",
    containerId: "d1",
    netns: "/var/run/netns/ssr-missing",
    ifname: "eth0",
    nodeNs: lab.node,
    config,
    argv: ["--dry-run"],
  });
  assert.equal(gone.code, 0, gone.stdout);
  assert.match(gone.stdout, /cannot be read: planning against an empty table/);
  assert.match(
    gone.stdout,
    /ip -n ssr-missing route add 192\.168\.100\.10\/32 via 10\.131\.0\.1 dev eth0/,
  );
});
