/**
 * PURE: keys a config object does not know, and the "did you mean" hint for them. An unknown
 * top-level key is a warning (CNI plugins accept keys meant for others); an unknown key inside a
 * route object is an error, because there a misspelt key changes where traffic goes.
 */

/** Keys the CNI spec, libcni, Multus and other plugins put in a plugin's config: never warned. */
export const CNI_KEYS: readonly string[] = [
  "cniVersion",
  "name",
  "type",
  "args",
  "prevResult",
  "runtimeConfig",
  "capabilities",
  "ipam",
  "dns",
  "disableCheck",
  "disableGC",
];

/** Keys of `args.cni` that CNI conventions give other plugins of a chain (static IPAM, tuning...). */
export const CNI_ARGS_CONVENTION_KEYS: readonly string[] = [
  "ips",
  "mac",
  "labels",
  "infinibandGUID",
  "pciBusID",
  "deviceID",
];

/**
 * Words people write for one of our keys, by the keys they may mean (the first known wins). A Map,
 * so a key such as `constructor` or `__proto__` finds nothing on the prototype.
 */
const SYNONYMS: ReadonlyMap<string, readonly string[]> = new Map(Object.entries({
  gateway: ["gw"],
  via: ["gw", "gateway"],
  nexthop: ["gw"],
  nexthops: ["gws"],
  gateways: ["gws"],
  gw: ["gateway"],
  metric: ["priority"],
  dest: ["dst"],
  destination: ["dst"],
  timeout: ["timeoutSeconds"],
  hostip: ["hostIP"],
  ip: ["hostIP"],
  iface: ["interface"],
  dev: ["interface"],
  strictmode: ["strict"],
  strictness: ["strict"],
}));

/**
 * The edit distance between two words (insert, delete, substitute, swap of neighbours), in three
 * rows of `b.length + 1` numbers: the swap looks two rows back, nothing needs the whole matrix.
 */
export function editDistance(a: string, b: string): number {
  let before: number[] = [];
  let previous: number[] = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current: number[] = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        v = Math.min(v, before[j - 2]! + 1);
      }
      current[j] = v;
    }
    before = previous;
    previous = current;
  }
  return previous[b.length]!;
}

/** Keys longer than this get no "did you mean": no known key is that long, nor 2 edits from it. */
export const MAX_SUGGESTED_KEY_LENGTH = 64;

/**
 * The known key `key` was probably meant to be, or undefined: a synonym (`gateway` → `gw`), the
 * same word in another case, or the closest key within 1 edit (2 for keys of 6 letters or more).
 */
export function suggestKey(key: string, known: readonly string[]): string | undefined {
  const lower = key.toLowerCase();
  const synonym = (SYNONYMS.get(lower) ?? []).find((k) => known.includes(k));
  if (synonym) return synonym;
  const sameCase = known.find((k) => k.toLowerCase() === lower);
  if (sameCase) return sameCase;
  if (key.length > MAX_SUGGESTED_KEY_LENGTH) return undefined;
  const limit = key.length >= 6 ? 2 : 1;
  let best: { key: string; d: number } | undefined;
  for (const k of known) {
    // The length difference alone is that many edits: such a key cannot be within the limit.
    if (Math.abs(k.length - lower.length) > limit) continue;
    const d = editDistance(lower, k.toLowerCase());
    if (!best || d < best.d) best = { key: k, d };
  }
  return best && best.d <= limit ? best.key : undefined;
}

/** A key as a message shows it: as is when it is a plain word, else JSON-quoted and cut short. */
export function showKey(key: string): string {
  if (/^[A-Za-z0-9_.\-\/\[\]]{1,80}$/.test(key)) return key;
  const text = JSON.stringify(key);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** ` (did you mean "x"?)` for an unknown key, or "" when nothing is close. */
export function didYouMean(key: string, known: readonly string[]): string {
  const s = suggestKey(key, known);
  return s ? ` (did you mean "${s}"?)` : "";
}

/**
 * The unknown keys of one object that get a "did you mean": the skeleton says at most 10
 * warnings one by one and counts the rest (`MAX_WARNINGS`), so a suggestion past the first few is
 * never read, and each costs edit distances to every known key (a pod annotation of 16k unknown
 * keys took 2 s of them).
 */
export const MAX_SUGGESTED_KEYS = 10;

/**
 * One warning per key of `obj` that is neither in `known` nor one the CNI world adds (`ignored`,
 * any `cni.dev/…` key), e.g. `unknown key addroute in the config is ignored (did you mean
 * "addroutes"?)`. `where` prefixes the key: "" for the top level, "hostRoute." inside it. Only the
 * first MAX_SUGGESTED_KEYS unknown keys get a suggestion.
 */
export function unknownKeyWarnings(
  obj: Record<string, unknown>,
  where: string,
  known: readonly string[],
  ignored: readonly string[] = [],
): string[] {
  const out: string[] = [];
  for (const key of Object.keys(obj)) {
    if (known.includes(key) || ignored.includes(key) || key.startsWith("cni.dev/")) continue;
    const hint = out.length < MAX_SUGGESTED_KEYS ? didYouMean(key, known) : "";
    out.push(`unknown key ${showKey(where + key)} is ignored${hint}`);
  }
  return out;
}

/**
 * A key folded as Go's encoding/json compares keys with a struct's field names (simple Unicode
 * case folding): ASCII letters in lower case, the Kelvin sign U+212A as `k`, the long s U+017F as
 * `s`. Only these map onto the ASCII keys route-override v1 knows; any other letter stays as is.
 */
export function goFoldKey(key: string): string {
  return key.replace(
    /[A-Z\u212A\u017F]/g,
    (c) => c === "\u212A" ? "k" : c === "\u017F" ? "s" : c.toLowerCase(),
  );
}

/** An object with its keys as Go's encoding/json reads them, and what that changed. */
export interface GoKeys {
  obj: Record<string, unknown>;
  /** One line per key read under another name, or dropped for a later one of the same name. */
  notes: string[];
}

/**
 * `obj` as route-override v1's Go decoder reads it: each key that folds (`goFoldKey`) to one of
 * `known` is renamed to it, and of several that name one key the last in the object wins, as in
 * encoding/json. Other keys stay as they are (for the unknown-key warnings). `where` prefixes
 * the keys in the notes.
 */
export function goKeys(
  obj: Record<string, unknown>,
  known: readonly string[],
  where: string,
): GoKeys {
  const byFold = new Map(known.map((k) => [goFoldKey(k), k]));
  // A Map, then fromEntries: a key such as `__proto__` stays an own key, as JSON.parse made it.
  const out = new Map<string, unknown>();
  const from = new Map<string, string>();
  const notes: string[] = [];
  for (const [key, value] of Object.entries(obj)) {
    const name = known.includes(key) ? key : byFold.get(goFoldKey(key));
    if (name === undefined) {
      out.set(key, value);
      continue;
    }
    const earlier = from.get(name);
    if (earlier !== undefined) {
      notes.push(
        `key ${showKey(where + earlier)} is ignored: ${showKey(where + key)} later in the ` +
          "object sets it again, and the last one wins as in route-override v1",
      );
    }
    if (key !== name) {
      notes.push(
        `key ${showKey(where + key)} is read as ${where}${name}, as route-override v1 (Go) ` +
          `reads keys in any letter case; write ${name}`,
      );
    }
    out.set(name, value);
    from.set(name, key);
  }
  return { obj: Object.fromEntries(out), notes };
}
