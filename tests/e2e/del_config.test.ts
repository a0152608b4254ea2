/**
 * DEL with a config that became invalid after ADD (an edited network, a bad pod annotation in
 * `args.cni`) still reverts ADD from the state file and exits 0: otherwise every retry fails the
 * same way and the pod's sandbox is never removed. Found by the model test (tests/proof/model).
 */
import assert from "node:assert/strict";
import { tableText } from "../../testing/mod.ts";
import { stateExists } from "../support/fixtures.ts";
import { labTest } from "../support/lab_test.ts";

labTest(
  "DEL: an args.cni invalid since ADD does not block DEL; ADD is reverted, exit 0",
  async (e2e) => {
    const { lab } = e2e;
    const config = e2e.config("delcfg", "seamless-static-route", {
      addroutes: [{ dst: "10.60.0.0/16" }],
    });
    const inv = e2e.invocation("c1", config);
    const before = await tableText(lab.pod);
    const add = await e2e.run("ADD", inv);
    assert.equal(add.code, 0, add.stdout);
    assert.notDeepEqual(await tableText(lab.pod), before);
    const broken = {
      ...config,
      args: { cni: { addroutes: [{ dst: "10.60.0.0/16" }, { dst: "10.60.1.7/16" }] } },
    };
    // ADD and CHECK refuse it (code 7); DEL does not need it.
    const check = await e2e.run("CHECK", { ...inv, config: broken });
    assert.equal(check.json?.code, 7, check.stdout);
    const del = await e2e.run("DEL", { ...inv, config: broken });
    assert.deepEqual([del.code, del.stdout], [0, ""], del.stderr);
    assert.deepEqual(await tableText(lab.pod), before);
    assert.equal(await stateExists(e2e.state.path, "delcfg", "c1", "eth0"), false);
  },
);

labTest(
  "DEL: logLevel, strict, logMaxSizeMB, debug, logFile or a GC key made invalid after ADD: reverted, exit 0",
  async (e2e) => {
    const { lab } = e2e;
    const config = e2e.config("deledit", "seamless-static-route", {
      addroutes: [{ dst: "10.60.0.0/16" }],
    });
    const inv = e2e.invocation("c1", config);
    const before = await tableText(lab.pod);
    const edits: Record<string, unknown>[] = [
      { logLevel: "verbose" },
      { strict: "yes" },
      { logMaxSizeMB: -1 },
      { debug: 1 },
      { logFile: "relative/plugin.log" },
      { "cni.dev/valid-attachments": "x" },
    ];
    for (const edit of edits) {
      const add = await e2e.run("ADD", inv);
      assert.equal(add.code, 0, add.stdout);
      assert.notDeepEqual(await tableText(lab.pod), before);
      // The network was edited (badly) after ADD: none of these keys is needed to revert the
      // record, so DEL warns about it and reverts ("cannot make every DEL retry fail").
      const del = await e2e.run("DEL", { ...inv, config: { ...config, ...edit } });
      assert.deepEqual([del.code, del.stdout], [0, ""], `${JSON.stringify(edit)}: ${del.stdout}`);
      assert.deepEqual(await tableText(lab.pod), before, JSON.stringify(edit));
      assert.equal(await stateExists(e2e.state.path, "deledit", "c1", "eth0"), false);
      const key = Object.keys(edit)[0]!;
      if (!key.startsWith("cni.dev/")) {
        assert.match(del.stderr, new RegExp(`invalid ${key} .*DEL does not need it`), del.stderr);
      }
    }
  },
);

labTest("DEL: an invalid name or stateDir is still refused (code 7)", async (e2e) => {
  const config = e2e.config("delname", "seamless-static-route", {});
  const inv = e2e.invocation("c1", config);
  for (const edit of [{ name: "bad name" }, { stateDir: "relative" }]) {
    const del = await e2e.run("DEL", { ...inv, config: { ...config, ...edit } });
    assert.equal(del.json?.code, 7, `${JSON.stringify(edit)}: ${del.stdout}`);
  }
});
