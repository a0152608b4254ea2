/**
 * scripts/eager.ts, the bundle's last step: which functions it finds at the top level (never one
 * inside a string, template, regular expression, comment or block), that the moved code runs as
 * the original did, and that stack traces through the updated source map name the same lines.
 */
import assert from "node:assert/strict";
import { hoistEager, topLevelDeclarations } from "../../scripts/eager.ts";

function names(code: string): string[] {
  return topLevelDeclarations(code).map((d) => d.name);
}

Deno.test("eager: finds top-level declarations, plain, async and generator, and nothing else", () => {
  const code = [
    "#!/usr/bin/env -S deno run\n",
    'var x=function(){return"function no(){}"};function a(b){return{c:b}}',
    "async function d(){await 1}function*e(){yield 1}",
    "if(x){function notTop(){}}var f=class{g(){function h(){}}};",
    "const s=`function t(){} ${(()=>{function u(){}return`}${1}`})()}`;",
    "/* function c1(){} */// function c2(){}",
    "\nconst r=/function re(){}[/]}/g,q=4/2/1;function last(){return q/2}",
  ].join("");
  assert.deepEqual(names(code), ["a", "d", "e", "last"]);
});

Deno.test("eager: a slash after a value divides, after an operator or keyword starts a regex", () => {
  const code = 'var a=1,b=2,c=a/b/2;function f(s){return/"/.test(s)&&c/1}' +
    "var t=typeof/}/;function g(){return[a]/1}";
  assert.deepEqual(names(code), ["f", "g"]);
  assert.throws(() => topLevelDeclarations("var a=`x"), /unterminated template/);
  assert.throws(() => topLevelDeclarations("var a=`x${"), /unbalanced/);
  assert.throws(() => topLevelDeclarations("function f(){"), /unbalanced/);
});

Deno.test("eager: a slash is told right after a name `of`, a property, a head's `)`, a postfix", () => {
  // esbuild names a variable `of` when a bundle has enough symbols; `.in` and `.return` are
  // property names; a statement (a regex) follows `if (…)`, `for (…)`; `a++/b` divides.
  const code = "var of=4,o={in:2},a=1,b=2;var x=of/2/1;function f(){return of/b}" +
    'var y=o.in/2/1;function g(){}for(const v of/a/.exec("a"))x=v;' +
    'if(a)/;function inner(){}/.test("");function h(){return a++/b/1}' +
    "async\nfunction k(){}var z=o?.return/2;function last(){return z}";
  assert.deepEqual(names(code), ["f", "g", "h", "last"]); // k: left in place, lazy
  const moved = hoistEager(code, topLevelDeclarations(code)).code;
  assert.match(moved, /if\(a\)\/;function inner\(\)\{\}\/\.test/, "the regex is left whole");
  assert.ok(!moved.includes("(async\nfunction"), "`async` before a newline is a name");
});

Deno.test("eager: the moved module computes what the original did", async () => {
  const code = [
    "const early=used(2);",
    "function used(n){return n*k()}",
    "var later=later2();",
    "function k(){return 3}",
    "async function later2(){return used(1)+early}",
    // A function that replaces itself: its name is the module's binding, not a read-only one.
    "function once(){once=()=>2;return 1}",
    "const first=once(),second=once();",
    "export{early,later,first,second};",
  ].join("");
  const decls = topLevelDeclarations(code);
  assert.deepEqual(decls.map((d) => d.name), ["used", "k", "later2", "once"]);
  const moved = hoistEager(code, decls);
  assert.match(moved.code, /^var used=\(function \(n\)\{return n\*k\(\)\}\);var k=\(/);
  const dir = Deno.makeTempDirSync();
  try {
    for (const [name, text] of [["a.js", code], ["b.js", moved.code]]) {
      Deno.writeTextFileSync(`${dir}/${name}`, text!);
    }
    const a = await import(`${dir}/a.js`);
    const b = await import(`${dir}/b.js`);
    assert.equal(a.early, 6);
    assert.deepEqual([a.first, a.second], [1, 2]);
    assert.deepEqual([b.early, await b.later, b.first, b.second], [
      a.early,
      await a.later,
      a.first,
      a.second,
    ]);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("eager: stack traces through the updated source map name the same lines", async () => {
  const dir = Deno.makeTempDirSync();
  const src = `${dir}/thrower.ts`;
  Deno.writeTextFileSync(
    src,
    [
      "const K = [1, 2, 3].map((x) => x * 2);",
      "function helper(x: number): number {",
      "  return x + K.length;",
      "}",
      "export function outer(): number {",
      "  return inner(helper(1)) + 1;",
      "}",
      "const re = /a\\/b[/]c/g;",
      "function inner(x: number): number {",
      '  if (x > 0 && re.source.length > 0) throw new Error(`boom ${"}"} ${x / 2}`);',
      "  return x;",
      "}",
      "async function later(): Promise<number> {",
      "  await Promise.resolve();",
      "  return outer();",
      "}",
      "try {",
      "  outer();",
      "} catch (e) {",
      "  console.log((e as Error).stack);",
      "}",
      "later().catch((e) => console.log((e as Error).stack));",
      // Past the removed names: an arrow nested in a hoisted function, generators, async ones.
      "function nested(xs: number[]): number[] {",
      "  return xs.map((x) => {",
      '    if (x > 4) throw new Error("arrow");',
      "    return x;",
      "  });",
      "}",
      "function* gen(n: number): Generator<number> {",
      "  yield n;",
      '  throw new Error("gen");',
      "}",
      "async function* agen(n: number): AsyncGenerator<number> {",
      "  yield n;",
      '  throw new Error("agen");',
      "}",
      "const show = (e: unknown) => console.log((e as Error).stack);",
      "try { nested(K); } catch (e) { show(e); }",
      "try { [...gen(1)]; } catch (e) { show(e); }",
      "(async () => { for await (const _ of agen(1)); })().catch(show);",
      "// Their names, as a declaration's (V8 names an anonymous function after its var).",
      "console.log([helper, inner, later, nested, gen, agen].map((f) => f.name).join());",
      "",
    ].join("\n"),
  );
  const run = async (args: string[]) => {
    const out = await new Deno.Command(Deno.execPath(), { args, cwd: dir }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    return new TextDecoder().decode(out.stdout);
  };
  try {
    await run([
      "bundle",
      "--quiet",
      "--platform",
      "deno",
      "--minify",
      "--sourcemap=linked",
      "-o",
      `${dir}/out.js`,
      src,
    ]);
    const before = await run(["run", "--no-config", `${dir}/out.js`]);
    assert.match(before, /thrower\.ts:10:\d+\)\n.*thrower\.ts:6:\d+\)/);
    for (const line of [25, 31, 35]) {
      assert.match(before, new RegExp(`thrower\\.ts:${line}:\\d+\\)?\n`));
    }
    assert.match(before, /^\w+,\w+,\w+,\w+,\w+,\w+$/m, "every function has a name");
    const eager = new URL("../../scripts/eager.ts", import.meta.url).pathname;
    await run(["run", "--no-config", "--allow-read", "--allow-write", eager, `${dir}/out.js`]);
    assert.match(Deno.readTextFileSync(`${dir}/out.js`), /^var \w+=\(function/);
    assert.equal(await run(["run", "--no-config", `${dir}/out.js`]), before);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("eager: the plugin's bundle has every top-level function hoisted, its map updated", () => {
  const bundle = new URL("../../dist/seamless-static-route.js", import.meta.url).pathname;
  const code = Deno.readTextFileSync(bundle); // deno task test bundles first
  assert.match(code.split("\n")[1] ?? "", /^var [\w$]+=\((async )?function\*? ?\(/);
  assert.deepEqual(names(code), [], "no declaration left in place");
  const map = JSON.parse(Deno.readTextFileSync(`${bundle}.map`)) as { sources: string[] };
  assert.ok(map.sources.some((s) => s.endsWith("src/commands/add.ts")), "maps to the sources");
});
