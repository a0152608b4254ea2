/** keys.ts: the "did you mean" hint and the unknown-key warnings. */
import assert from "node:assert/strict";
import fc from "fast-check";
import { MAX_WARNINGS } from "../../src/cni/skel.ts";
import { parseConfig } from "../../src/config.ts";
import {
  CNI_KEYS,
  editDistance,
  goFoldKey,
  goKeys,
  MAX_SUGGESTED_KEY_LENGTH,
  MAX_SUGGESTED_KEYS,
  showKey,
  suggestKey,
  unknownKeyWarnings,
} from "../../src/keys.ts";

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

Deno.test("keys: only the first unknown keys get a suggestion, as many as the skeleton shows", () => {
  // Every warning the skeleton prints one by one keeps its hint; the rest are only counted.
  assert.ok(MAX_SUGGESTED_KEYS >= MAX_WARNINGS);
  // addroute0 … addroute9, addroutey, addroutez: each one edit from addroutes.
  const keys = [..."0123456789yz"].map((c) => `addroute${c}`);
  const warnings = unknownKeyWarnings(Object.fromEntries(keys.map((k) => [k, 1])), "", [
    "addroutes",
  ]);
  assert.equal(warnings.length, 12);
  warnings.forEach((w, i) => {
    assert.equal(w.endsWith('(did you mean "addroutes"?)'), i < MAX_SUGGESTED_KEYS, w);
  });
});

Deno.test("keys: 130k unknown keys in args.cni and in hostRoute give warnings, not a crash", () => {
  // More keys than one call's spread arguments may hold (~129k in V8).
  const junk = Object.fromEntries(Array.from({ length: 130_000 }, (_, i) => [`k${i}`, i]));
  const config = parseConfig({
    cniVersion: "1.0.0",
    name: "net",
    type: "seamless-static-route",
    hostRoute: junk,
    args: { cni: junk },
  });
  assert.equal(config.warnings.filter((w) => w.startsWith("unknown key")).length, 260_000);
});

/** The plugin's own top-level keys (the key table of docs/configuration.md). */
const OWN_KEYS = [
  "flushroutes",
  "flushgateway",
  "delroutes",
  "addroutes",
  "skipcheck",
  "hostRoute",
  "stateDir",
  "logFile",
  "logLevel",
  "logMaxSizeMB",
  "debug",
];

Deno.test("keys: property — a config warns exactly once per key that is neither ours nor CNI's", () => {
  const known = new Set([...OWN_KEYS, ...CNI_KEYS]);
  const extraKey = fc.string({ minLength: 1, maxLength: 12 }).filter((k) =>
    !known.has(k) && !k.startsWith("cni.dev/") && k !== "__proto__"
  );
  fc.assert(
    fc.property(fc.uniqueArray(extraKey, { maxLength: 5 }), fc.boolean(), (extra, devKey) => {
      const raw: Record<string, unknown> = {
        cniVersion: "1.0.0",
        name: "n",
        type: "seamless-static-route",
        runtimeConfig: {},
        capabilities: {},
      };
      if (devKey) raw["cni.dev/valid-attachments"] = [];
      for (const k of extra) raw[k] = 1;
      const c = parseConfig(raw);
      assert.equal(c.warnings.length, extra.length, c.warnings.join("\n"));
      // One warning names each extra key (object key order puts integer-like keys first).
      for (const k of extra) {
        const named = c.warnings.filter((w) =>
          w.startsWith(`unknown key ${showKey(k)} is ignored`)
        );
        assert.equal(named.length, 1, `${k}: ${c.warnings.join("\n")}`);
      }
    }),
  );
});

Deno.test("keys: property — one typo of a key of ours suggests a key within one edit", () => {
  fc.assert(
    fc.property(
      fc.constantFrom(...OWN_KEYS),
      fc.nat(),
      fc.constantFrom("delete", "swap", "insert"),
      (key, at, how) => {
        const i = at % key.length;
        const typo = how === "delete"
          ? key.slice(0, i) + key.slice(i + 1)
          : how === "insert"
          ? key.slice(0, i) + "q" + key.slice(i)
          : i + 1 < key.length
          ? key.slice(0, i) + key[i + 1] + key[i] + key.slice(i + 2)
          : key + "s";
        if (OWN_KEYS.includes(typo) || typo === "") return;
        const s = suggestKey(typo, OWN_KEYS);
        assert.ok(s !== undefined, `${typo} (from ${key}) got no hint`);
        assert.ok(editDistance(typo.toLowerCase(), s.toLowerCase()) <= 1, `${typo} → ${s}`);
      },
    ),
  );
});

Deno.test("keys: prototype names as keys are plain unknown keys, never an internal error", () => {
  const raw = JSON.parse(
    '{"cniVersion":"1.0.0","name":"n","type":"route-override","constructor":1,"__proto__":2,' +
      '"args":{"cni":{"toString":3,"hasOwnProperty":4}},' +
      '"addroutes":[{"dst":"10.0.0.0/8","gw":"10.131.0.1"}]}',
  );
  const c = parseConfig(raw);
  assert.deepEqual(c.warnings, [
    "unknown key constructor is ignored",
    "unknown key __proto__ is ignored",
    "unknown key args.cni.toString is ignored",
    "unknown key args.cni.hasOwnProperty is ignored",
  ]);
  assert.throws(
    () =>
      parseConfig(JSON.parse(
        '{"cniVersion":"1.0.0","name":"n","type":"route-override",' +
          '"addroutes":[{"dst":"10.0.0.0/8","constructor":1}]}',
      )),
    /invalid addroutes\[0\]\.constructor 1: is not a route key/,
  );
});

/** The full-matrix distance the three-row one must agree with. */
function matrixDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        v = Math.min(v, d[i - 2]![j - 2]! + 1);
      }
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

Deno.test("keys: the three-row edit distance equals the full-matrix one", () => {
  const word = fc.string({ unit: fc.constantFrom("a", "b", "c", "d"), maxLength: 12 });
  fc.assert(fc.property(word, word, (a, b) => editDistance(a, b) === matrixDistance(a, b)), {
    numRuns: 2000,
  });
});

Deno.test("keys: one 250 KB unknown args.cni key gives one short warning, no suggestion", () => {
  // A pod annotation may hold 256 KB; the suggestion ("did you mean") must not cost the runtime
  // seconds and hundreds of MB per ADD: a key that long is never compared (suggestKey below), and
  // the one warning shows a bounded part of it. Speed itself is `deno task bench`'s to measure.
  const config = {
    cniVersion: "1.0.0",
    name: "n",
    type: "seamless-static-route",
    args: { cni: { ["k".repeat(250_000)]: 1 } },
  };
  const parsed = parseConfig(config, "1.0.0", "ADD");
  assert.equal(parsed.warnings?.length, 1);
  const warning = parsed.warnings?.[0] ?? "";
  assert.ok(warning.length < 400, `the warning is ${warning.length} characters`);
  assert.ok(!warning.includes("did you mean"), warning);
  assert.equal(suggestKey("k".repeat(250_000), ["addroutes", "kk"]), undefined);
});

Deno.test("keys: no suggestion for a key longer than any known key can be misspelt to", () => {
  const long = "addroutes" + "x".repeat(MAX_SUGGESTED_KEY_LENGTH);
  assert.equal(suggestKey(long, ["addroutes"]), undefined);
  assert.equal(suggestKey("addroutesxx", ["addroutes"]), "addroutes");
  assert.equal(suggestKey("addroutesxxx", ["addroutes"]), undefined);
});

Deno.test("keys: Go's folding — ASCII case, the Kelvin sign as k, the long s as s, nothing else", () => {
  assert.equal(goFoldKey("FlushGateway"), "flushgateway");
  assert.equal(goFoldKey("\u017F\u212AIPCHECK"), "skipcheck");
  // Other non-ASCII letters are no ASCII letter to Go, though JS lower-cases İ to i̇.
  assert.notEqual(goFoldKey("C\u0130N"), "cin");
  assert.equal(goFoldKey("\u00C5rgs"), "\u00C5rgs");
});

Deno.test("keys: goKeys renames to the known key, the last of one name wins, notes say so", () => {
  const read = goKeys(
    JSON.parse('{"addroutes": 1, "AddRoutes": 2, "other": 3, "__proto__": 4}'),
    ["addroutes", "flushroutes"],
    "args.cni.",
  );
  assert.deepEqual(Object.keys(read.obj), ["addroutes", "other", "__proto__"]);
  assert.equal(read.obj.addroutes, 2);
  assert.equal(Object.getPrototypeOf(read.obj), Object.prototype);
  assert.deepEqual(read.notes, [
    "key args.cni.addroutes is ignored: args.cni.AddRoutes later in the object sets it again, " +
    "and the last one wins as in route-override v1",
    "key args.cni.AddRoutes is read as args.cni.addroutes, as route-override v1 (Go) reads keys " +
    "in any letter case; write addroutes",
  ]);
});

/** `key` with each letter in a random case, and s/k sometimes as Go's other folds of them. */
const caseVariant = (key: string) =>
  fc.array(fc.nat(2), { minLength: key.length, maxLength: key.length }).map((picks) =>
    [...key].map((c, i) => {
      const p = picks[i] ?? 0;
      if (p === 2 && c === "s") return "\u017F";
      if (p === 2 && c === "k") return "\u212A";
      return p === 0 ? c : c.toUpperCase();
    }).join("")
  );

Deno.test("keys: property — route-override reads v1's keys in any case; seamless only exact", () => {
  const route = { dst: "10.70.0.0/16", gw: "10.0.0.1" };
  fc.assert(
    fc.property(
      caseVariant("addroutes"),
      caseVariant("args"),
      caseVariant("cni"),
      caseVariant("dst"),
      caseVariant("gw"),
      fc.boolean(),
      (add, args, cni, dst, gw, fromPod) => {
        const routes = [{ [dst]: route.dst, [gw]: route.gw }];
        const keys = fromPod ? { [args]: { [cni]: { [add]: routes } } } : { [add]: routes };
        const base = { cniVersion: "1.0.0", name: "n" };
        const c = parseConfig({ ...base, type: "route-override", ...keys });
        assert.deepEqual(c.addroutes.map((r) => [r.dst.address, r.gw?.address]), [
          ["10.70.0.0", "10.0.0.1"],
        ]);
        assert.deepEqual(c.podOverrides, fromPod ? ["addroutes"] : []);
        assert.ok(c.warnings.every((w) => !w.startsWith("unknown key")), c.warnings.join("\n"));
        if (fromPod || add === "addroutes") return;
        const s = parseConfig({
          ...base,
          type: "seamless-static-route",
          hostRoute: false,
          ...keys,
        });
        assert.deepEqual(s.addroutes, []);
        assert.match(s.warnings.join("\n"), /unknown key .* \(did you mean "addroutes"\?\)/);
      },
    ),
  );
});

Deno.test("keys: route-override still refuses route keys v1 does not know, in another case", () => {
  const base = { cniVersion: "1.0.0", name: "n", type: "route-override" };
  assert.throws(
    () => parseConfig({ ...base, addroutes: [{ dst: "10.70.0.0/16", MTU: 1400 }] }),
    /addroutes\[0\]\.MTU.*did you mean "mtu"/,
  );
  assert.throws(
    () =>
      parseConfig({
        ...base,
        type: "seamless-static-route",
        addroutes: [{ Dst: "10.70.0.0/16" }],
      }),
    /addroutes\[0\]\.Dst.*did you mean "dst"/,
  );
});
