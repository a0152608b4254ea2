/**
 * `deno task bundle`'s last step: makes V8 compile the bundle's top-level functions when it
 * compiles the module, so their bytecode is in Deno's code cache. Deno caches the code V8 has
 * compiled when the module is compiled; a function declaration is compiled lazily, at its first
 * call, in every run (~16 µs a function here, ~1.5 ms of an ADD). A parenthesized function
 * expression is compiled eagerly. So each top-level `function f(){…}` of the minified bundle
 * becomes `var f=(function (){…});` (no name of its own: see `hoistEager`), moved to the top of
 * the module, where it is assigned before any other statement runs, as the hoisted declaration
 * was. The linked source map is updated to the moved code, so stack traces still name the
 * TypeScript lines.
 *
 * The scanner knows just enough JavaScript for esbuild's minified output: strings, templates,
 * comments, regular expressions (told from a division by the token before), brackets.
 *
 * Usage: deno run --allow-read --allow-write scripts/eager.ts dist/seamless-static-route.js
 */

/** A top-level function declaration of the bundle: `code.slice(start, end)`, named `name`. */
export interface Declaration {
  start: number;
  end: number;
  name: string;
  /** Where the name is, in `code`: the expression that replaces the declaration has none. */
  nameStart: number;
}

/** Keywords after which a `/` starts a regular expression, not a division. */
const REGEX_AFTER = new Set([
  "return",
  "typeof",
  "instanceof",
  "in",
  "of",
  "new",
  "delete",
  "void",
  "throw",
  "case",
  "do",
  "else",
  "yield",
  "await",
]);

const WORD = /[\w$]/;

/** Keywords whose `(…)` a statement follows: a `/` after their `)` starts a regular expression. */
const HEAD_PARENS = new Set(["if", "for", "while", "with"]);

/** The code could not be scanned (a construct the scanner does not know). */
export class EagerScanError extends Error {}

/** The top-level function declarations of `code`, in order. */
export function topLevelDeclarations(code: string): Declaration[] {
  const n = code.length;
  const stack: string[] = []; // "{", "(", "[", or "`" for a template's `${`
  const owners: string[] = []; // beside each of stack's: the word before a "(", else ""
  const found: Declaration[] = [];
  // The last significant token: "" at a statement's start (or the file's), a punctuator, or
  // "value" (something a division may follow), "word" (a keyword a regex may follow), or
  // "head)" (the `)` of an `if`, `for`, `while` or `with`, which a statement follows).
  let last = "";
  let candidate: { start: number; name: string; nameStart: number } | null = null;
  let asyncAt = -1;
  const fail = (what: string, at: number): never => {
    throw new EagerScanError(`${what} at offset ${at}`);
  };
  const skipString = (i: number, quote: string): number => {
    for (let j = i + 1; j < n; j++) {
      if (code[j] === "\\") j++;
      else if (code[j] === quote) return j + 1;
      else if (code[j] === "\n") break;
    }
    return fail("unterminated string", i);
  };
  // From inside a template: the offset after its end (done) or after a `${` (not done).
  const skipTemplate = (i: number): [number, boolean] => {
    for (let j = i; j < n; j++) {
      if (code[j] === "\\") j++;
      else if (code[j] === "`") return [j + 1, true];
      else if (code[j] === "$" && code[j + 1] === "{") return [j + 2, false];
    }
    return fail("unterminated template", i);
  };
  // Scans a template from inside it: to its end, or into a `${` (pushed: its `}` comes back here).
  const templateFrom = (at: number): number => {
    const [to, done] = skipTemplate(at);
    if (!done) {
      stack.push("`");
      owners.push("");
    }
    last = "value";
    return to;
  };
  // The word just before `at` (whitespace between), or "" (none, or a property name).
  const wordBefore = (at: number): string => {
    let j = at;
    while (j > 0 && /\s/.test(code[j - 1]!)) j--;
    let k = j;
    while (k > 0 && WORD.test(code[k - 1]!)) k--;
    return code[k - 1] === "." ? "" : code.slice(k, j); // not a property's name
  };
  const skipRegex = (i: number): number => {
    let inClass = false;
    for (let j = i + 1; j < n; j++) {
      const c = code[j];
      if (c === "\\") j++;
      else if (c === "\n") break;
      else if (inClass) inClass = c !== "]";
      else if (c === "[") inClass = true;
      else if (c === "/") {
        let k = j + 1;
        while (k < n && WORD.test(code[k]!)) k++;
        return k;
      }
    }
    return fail("unterminated regular expression", i);
  };

  let i = code.startsWith("#!") ? code.indexOf("\n") + 1 : 0;
  if (i === 0 && code.startsWith("#!")) fail("a #! line and nothing else", 0);
  while (i < n) {
    const c = code[i]!;
    if (c === " " || c === "\t" || c === "\r" || c === "\n") {
      i++;
    } else if (c === "/" && code[i + 1] === "/") {
      const end = code.indexOf("\n", i);
      i = end < 0 ? n : end;
    } else if (c === "/" && code[i + 1] === "*") {
      const end = code.indexOf("*/", i + 2);
      if (end < 0) fail("unterminated comment", i);
      i = end + 2;
    } else if (c === '"' || c === "'") {
      i = skipString(i, c);
      last = "value";
    } else if (c === "`") {
      i = templateFrom(i + 1);
    } else if (c === "/") {
      if (last === "value" || last === ")" || last === "]") {
        i++; // a division
        last = "/";
      } else {
        i = skipRegex(i);
        last = "value";
      }
    } else if (WORD.test(c) || (c === "." && /\d/.test(code[i + 1] ?? ""))) {
      let j = i + 1;
      while (j < n && (WORD.test(code[j]!) || (code[j] === "." && /\d/.test(c)))) j++;
      const word = code.slice(i, j);
      const statementStart = stack.length === 0 && (last === "" || last === ";" || last === "}");
      if (word === "async" && statementStart && /^[ \t]+function\b/.test(code.slice(j, j + 20))) {
        asyncAt = i;
      } else if (word === "function" && (statementStart || (asyncAt >= 0 && last === "async"))) {
        const m = /^\s*\*?\s*([A-Za-z_$][\w$]*)\s*\(/d.exec(code.slice(j, j + 200));
        if (!m) fail("function declaration without a name", i);
        candidate = {
          start: asyncAt >= 0 ? asyncAt : i,
          name: m![1]!,
          nameStart: j + m!.indices![1]![0],
        };
      }
      if (word !== "async") asyncAt = -1;
      // A keyword after a member access's `.` is a property name; `of` is a keyword only after
      // the binding of a `for (… of`, elsewhere a name (esbuild may name a variable `of`).
      const keyword = last !== "." && REGEX_AFTER.has(word) && (word !== "of" ||
        (owners.at(-1) === "for" && (last === "value" || last === "]" || last === "}")));
      last = word === "async" && asyncAt >= 0 ? "async" : keyword ? "word" : "value";
      i = j;
    } else if (c === "{" || c === "(" || c === "[") {
      stack.push(c);
      owners.push(c === "(" ? wordBefore(i) : "");
      last = c;
      i++;
    } else if (c === "}" || c === ")" || c === "]") {
      const open = stack.pop();
      const owner = owners.pop();
      if (open === "`" && c === "}") {
        i = templateFrom(i + 1); // the `}` that ends a `${`
        continue;
      }
      if (open !== { "}": "{", ")": "(", "]": "[" }[c]) fail(`unbalanced ${c}`, i);
      i++;
      last = c === ")" && HEAD_PARENS.has(owner ?? "") ? "head)" : c;
      if (c === "}" && stack.length === 0 && candidate) {
        found.push({ ...candidate, end: i });
        candidate = null;
      }
    } else if ((c === "+" || c === "-") && code[i + 1] === c && /^(value|\)|\])$/.test(last)) {
      i += 2; // a postfix ++ or --: a division may follow, as after its operand
    } else {
      // "." is a member access (a keyword after it is a name), "..." a spread.
      last = c === "." && (code[i + 1] === "." || code[i - 1] === ".") ? "..." : c;
      i++;
    }
  }
  if (stack.length > 0) fail("unbalanced brackets at the end", n);
  return found;
}

/** Where a code offset went: `to(offset)` gives its offset in the new code. */
export interface Moved {
  code: string;
  to(offset: number): number;
}

/**
 * `code` with each declaration moved to the top (after a `#!` line) as `var name=(function…);`,
 * in their order. The function expression has no name of its own: in its body, as in the
 * declaration's, the name is the module's binding, which an assignment may change (a named
 * function expression's own name is read-only).
 */
export function hoistEager(code: string, decls: readonly Declaration[]): Moved {
  const head = code.startsWith("#!") ? code.indexOf("\n") + 1 : 0;
  const hoisted: string[] = [];
  const hoistedAt: number[] = []; // new offset of each declaration's first character
  let at = head;
  for (const d of decls) {
    const prefix = `var ${d.name}=(`;
    hoistedAt.push(at + prefix.length);
    const nameEnd = d.nameStart + d.name.length;
    const text = `${prefix}${code.slice(d.start, d.nameStart)}${code.slice(nameEnd, d.end)});`;
    hoisted.push(text);
    at += text.length;
  }
  const kept: string[] = [];
  let from = head;
  for (const d of decls) {
    kept.push(code.slice(from, d.start));
    from = d.end;
  }
  kept.push(code.slice(from));
  const out = code.slice(0, head) + hoisted.join("") + kept.join("");
  const hoistedEnd = at;
  return {
    code: out,
    to(offset: number): number {
      if (offset < head) return offset;
      let removed = 0;
      for (let k = 0; k < decls.length; k++) {
        const d = decls[k]!;
        if (offset < d.start) break;
        if (offset < d.end) {
          // Inside the declaration: after its name, the name's length less.
          const inName = Math.max(0, Math.min(offset, d.nameStart + d.name.length) - d.nameStart);
          return hoistedAt[k]! + (offset - d.start) - inName;
        }
        removed += d.end - d.start;
      }
      return hoistedEnd + (offset - head - removed);
    },
  };
}

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

function decodeVlq(text: string): number[] {
  const out: number[] = [];
  let value = 0, shift = 0;
  for (const ch of text) {
    const digit = B64.indexOf(ch);
    if (digit < 0) throw new EagerScanError(`bad source map character ${ch}`);
    value += (digit & 31) << shift;
    if (digit & 32) shift += 5;
    else {
      out.push(value & 1 ? -(value >>> 1) : value >>> 1);
      value = 0;
      shift = 0;
    }
  }
  return out;
}

function encodeVlq(n: number): string {
  let v = n < 0 ? (-n << 1) | 1 : n << 1;
  let s = "";
  do {
    let digit = v & 31;
    v >>>= 5;
    if (v > 0) digit |= 32;
    s += B64[digit];
  } while (v > 0);
  return s;
}

function lineStarts(code: string): number[] {
  const starts = [0];
  for (let i = code.indexOf("\n"); i >= 0; i = code.indexOf("\n", i + 1)) starts.push(i + 1);
  return starts;
}

/** The source map `mappings` of `oldCode`, for the code `moved` made of it. */
export function remapMappings(mappings: string, oldCode: string, moved: Moved): string {
  const oldStarts = lineStarts(oldCode);
  const newStarts = lineStarts(moved.code);
  // Each segment as absolute values: [newOffset, source, line, column, name?].
  const segments: number[][] = [];
  let source = 0, line = 0, column = 0, name = 0;
  mappings.split(";").forEach((group, genLine) => {
    let genColumn = 0;
    for (const seg of group.split(",")) {
      if (seg === "") continue;
      const f = decodeVlq(seg);
      genColumn += f[0]!;
      const abs = [moved.to(oldStarts[genLine]! + genColumn)];
      if (f.length >= 4) {
        source += f[1]!;
        line += f[2]!;
        column += f[3]!;
        abs.push(source, line, column);
        if (f.length >= 5) abs.push(name += f[4]!);
      }
      segments.push(abs);
    }
  });
  segments.sort((a, b) => a[0]! - b[0]!);
  const groups: string[][] = newStarts.map(() => []);
  let lineAt = 0, prevCol = 0;
  source =
    line =
    column =
    name =
      0;
  for (const s of segments) {
    while (lineAt + 1 < newStarts.length && newStarts[lineAt + 1]! <= s[0]!) {
      lineAt++;
      prevCol = 0;
    }
    const col = s[0]! - newStarts[lineAt]!;
    let text = encodeVlq(col - prevCol);
    prevCol = col;
    if (s.length >= 4) {
      text += encodeVlq(s[1]! - source) + encodeVlq(s[2]! - line) + encodeVlq(s[3]! - column);
      source = s[1]!;
      line = s[2]!;
      column = s[3]!;
      if (s.length >= 5) {
        text += encodeVlq(s[4]! - name);
        name = s[4]!;
      }
    }
    groups[lineAt]!.push(text);
  }
  return groups.map((g) => g.join(",")).join(";");
}

if (import.meta.main) {
  const [bundle] = Deno.args;
  if (!bundle) {
    console.error("usage: eager.ts BUNDLE.js (its BUNDLE.js.map, when there, is updated too)");
    Deno.exit(2);
  }
  const code = Deno.readTextFileSync(bundle);
  const moved = hoistEager(code, topLevelDeclarations(code));
  let map: { mappings?: string } | null = null;
  try {
    map = JSON.parse(Deno.readTextFileSync(`${bundle}.map`));
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  if (map && typeof map.mappings === "string") {
    map.mappings = remapMappings(map.mappings, code, moved);
    Deno.writeTextFileSync(`${bundle}.map`, JSON.stringify(map));
  }
  Deno.writeTextFileSync(bundle, moved.code);
}
