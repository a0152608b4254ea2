/**
 * DEL with a config that became invalid after ADD (an edited network, a bad pod annotation in
 * `args.cni`) still reverts ADD from the state file and exits 0: otherwise every retry fails the
 * same way and the pod's sandbox is never removed. Found by the model test (tests/proof/model).
 */
import assert from "node:assert/strict";
import {
  BinDir,
  IS_ROOT,
  Lab,
  prevResultFor,
  runPlugin,
  tableText,
  TempDir,
} from "../../testing/mod.ts";
import { stateExists } from "../support/fixtures.ts";

Deno.test({
  name: "DEL: an args.cni invalid since ADD does not block DEL; ADD is reverted, exit 0",
  ignore: !IS_ROOT,
  fn: async () => {
    await using lab = await Lab.create();
    await using bin = await BinDir.create();
    await using tmp = await TempDir.create();
    const config = {
      cniVersion: "1.0.0",
      name: "delcfg",
      type: "seamless-static-route",
      stateDir: tmp.path,
      addroutes: [{ dst: "10.60.0.0/16" }],
      prevResult: prevResultFor(lab),
    };
    const inv = { containerId: "c1", netns: lab.podNetns, ifname: "eth0", nodeNs: lab.node };
    const before = await tableText(lab.pod);
    const add = await runPlugin(bin, { ...inv, command: "ADD", config });
    assert.equal(add.code, 0, add.stdout);
    assert.notDeepEqual(await tableText(lab.pod), before);
    const broken = {
      ...config,
      args: { cni: { addroutes: [{ dst: "10.60.0.0/16" }, { dst: "10.60.1.7/16" }] } },
    };
    // ADD and CHECK refuse it (code 7); DEL does not need it.
    const check = await runPlugin(bin, { ...inv, command: "CHECK", config: broken });
    assert.equal(check.json?.code, 7, check.stdout);
    const del = await runPlugin(bin, { ...inv, command: "DEL", config: broken });
    assert.deepEqual([del.code, del.stdout], [0, ""], del.stderr);
    assert.deepEqual(await tableText(lab.pod), before);
    assert.equal(await stateExists(tmp.path, "delcfg", "c1", "eth0"), false);
  },
});
