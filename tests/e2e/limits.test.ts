/**
 * Class 8 limits with the real executable: more than MAX_ROUTES addroutes or delroutes, or a pod
 * annotation (`args.cni`) raising hostRoute.timeoutSeconds, is refused with code 7 naming the key
 * and the value, and leaves the table alone; MAX_ROUTES routes still go in and come out.
 */
import assert from "node:assert/strict";
import { tableText } from "../../testing/mod.ts";
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
