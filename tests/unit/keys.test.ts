/** keys.ts: the "did you mean" hint and the unknown-key warnings. */
import assert from "node:assert/strict";
import { editDistance, showKey, suggestKey, unknownKeyWarnings } from "../../src/keys.ts";

Deno.test("keys: edit distance counts a swap of neighbours as one edit", () => {
  assert.equal(editDistance("addroutes", "addroutes"), 0);
  assert.equal(editDistance("addroute", "addroutes"), 1);
  assert.equal(editDistance("addrotues", "addroutes"), 1);
  assert.equal(editDistance("", "gw"), 2);
});

Deno.test("keys: suggestions — synonyms, case, near misses, nothing for far words", () => {
  const route = ["dst", "gw", "gws", "priority"];
  assert.equal(suggestKey("gateway", route), "gw");
  assert.equal(suggestKey("Via", route), "gw");
  assert.equal(suggestKey("metric", route), "priority");
  assert.equal(suggestKey("DST", route), "dst");
  assert.equal(suggestKey("priorty", route), "priority");
  assert.equal(suggestKey("comment", route), undefined);
  // Short keys get one edit at most.
  assert.equal(suggestKey("gx", route), "gw");
  assert.equal(suggestKey("xyz", route), undefined);
});

Deno.test("keys: odd keys are quoted in warnings, so no control character reaches the log", () => {
  assert.equal(showKey("hostRoute.gw"), "hostRoute.gw");
  assert.equal(showKey("a\nb"), '"a\\nb"');
  assert.deepEqual(unknownKeyWarnings({ "x\u001b[31m": 1 }, "", ["dst"]), [
    'unknown key "x\\u001b[31m" is ignored',
  ]);
  assert.deepEqual(unknownKeyWarnings({ "cni.dev/x": 1, ok: 1 }, "", ["ok"]), []);
});
