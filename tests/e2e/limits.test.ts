/**
 * Class 8 limits with the real executable: more than MAX_ROUTES addroutes or delroutes, or a pod
 * annotation (`args.cni`) raising hostRoute.timeoutSeconds, is refused with code 7 naming the key
 * and the value, and leaves the table alone; MAX_ROUTES routes still go in and come out. A flush
 * whose record would pass MAX_STATE_BYTES (what DEL reads back) is refused the same way.
 */
import assert from "node:assert/strict";
import { must, tableText } from "../../testing/mod.ts";
import { stateExists } from "../support/fixtures.ts";
import { MAX_STATE_BYTES } from "../../src/state.ts";
import { labTest } from "../support/lab_test.ts";
import { MAX_ROUTES } from "../../src/config.ts";

function routes(n: number, second: number): { dst: string }[] {
  return Array.from({ length: n }, (_, i) => ({ dst: `10.${second + (i >> 8)}.${i & 255}.0/24` }));
}

labTest(
  "limits: 1001 routes or a pod-raised timeout → code 7, table intact; 1000 routes work",
  async (e2e) => {
    const { lab } = e2e;
    const base = e2e.config("limits", "seamless-static-route");
    const inv = e2e.invocation("c1", base);
    const before = await tableText(lab.pod);
    const refused = async (config: unknown, ...parts: string[]) => {
      const r = await e2e.run("ADD", { ...inv, config });
      assert.equal(r.code, 1, r.stdout);
      assert.equal(r.json?.code, 7, r.stdout);
      for (const p of parts) assert.ok(String(r.json.msg).includes(p), `${r.json.msg} lacks ${p}`);
      assert.deepEqual(await tableText(lab.pod), before);
    };
    await refused({ ...base, addroutes: routes(MAX_ROUTES + 1, 64) }, "addroutes", "1001 routes");
    await refused(
      { ...base, args: { cni: { delroutes: routes(MAX_ROUTES + 1, 64) } } },
      "args.cni.delroutes",
      "1001 routes",
    );
    await refused(
      { ...base, args: { cni: { hostRoute: { timeoutSeconds: 300 } } } },
      "args.cni.hostRoute.timeoutSeconds",
      "300",
    );
    const full = { ...base, addroutes: routes(MAX_ROUTES, 64), delroutes: routes(MAX_ROUTES, 128) };
    const add = await e2e.run("ADD", { ...inv, config: full });
    assert.equal(add.code, 0, add.stdout);
    assert.equal((await tableText(lab.pod)).length, before.length + MAX_ROUTES + 1);
    const check = await e2e.run("CHECK", { ...inv, config: full });
    assert.equal(check.code, 0, check.stdout);
    const del = await e2e.run("DEL", { ...inv, config: full });
    assert.equal(del.code, 0, del.stdout);
    assert.deepEqual(await tableText(lab.pod), before);
  },
);

labTest(
  "limits: a flush whose record DEL could not read back → code 7 before the table changes",
  async (e2e) => {
    const { lab, state } = e2e;
    // Routes the pod had before ADD, enough that their record passes MAX_STATE_BYTES.
    const count = 65_000;
    const lines = Array.from(
      { length: count },
      (_, i) =>
        `route add 10.${200 + (i >> 16)}.${(i >> 8) & 255}.${
          i & 255
        }/32 via 10.131.0.1 dev eth0 metric 7 mtu 1400 advmss 1360 proto static`,
    );
    await must(["ip", "-n", lab.pod, "-batch", "-"], lines.join("\n") + "\n");
    const before = await tableText(lab.pod);
    const config = e2e.config("limits", "route-override", { flushroutes: true });
    const inv = e2e.invocation("c1", config);
    const add = await e2e.run("ADD", inv);
    assert.equal(add.code, 1, add.stdout);
    assert.equal(add.json?.code, 7, add.stdout);
    assert.match(String(add.json.msg), new RegExp(`more than the ${MAX_STATE_BYTES} bytes DEL`));
    assert.deepEqual(await tableText(lab.pod), before);
    assert.equal(await stateExists(state.path, "limits", "c1", "eth0"), false);
    const del = await e2e.run("DEL", inv);
    assert.equal(del.code, 0, del.stdout);
    assert.deepEqual(await tableText(lab.pod), before);
  },
);
