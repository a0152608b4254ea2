/**
 * docs/configuration.md's key table is the keys the code knows, no more and no fewer, and its
 * `args.cni` column says what the parser really accepts from a pod: so the table cannot drift.
 */
import assert from "node:assert/strict";
import {
  DEFAULT_LOG_MAX_SIZE_MB,
  DEFAULT_STATE_DIR,
  DEFAULT_TIMEOUT_SECONDS,
  GC_KEYS,
  HOST_ROUTE_KEYS,
  MAX_ROUTES,
  MAX_TIMEOUT_SECONDS,
  OVERRIDABLE,
  parseConfig,
  ROUTE_KEYS,
  TOP_LEVEL_KEYS,
} from "../../src/config.ts";
import { CniError } from "../../src/cni/errors.ts";
import { CNI_KEYS } from "../../src/keys.ts";
import { MAX_NEXTHOPS } from "../../src/route.ts";

/** One row of the key table: the cells by column name. */
type Row = Record<string, string>;

const PAGE = await Deno.readTextFile(new URL("../../docs/configuration.md", import.meta.url));

/** The rows of the first table under `## Keys`, keyed by the header's column names. */
function keyTable(markdown: string): Map<string, Row> {
  const section = markdown.split(/^## Keys$/m)[1]?.split(/^## /m)[0] ?? "";
  const lines = section.split("\n").filter((l) => l.startsWith("|"));
  const cells = (l: string) => l.slice(1, -1).split("|").map((c) => c.trim());
  const header = cells(lines[0] ?? "|");
  const rows = new Map<string, Row>();
  for (const line of lines.slice(2)) {
    const row = Object.fromEntries(cells(line).map((c, i) => [header[i] ?? `${i}`, c]));
    const key = /^`([^`]+)`$/.exec(row.key ?? "")?.[1];
    assert.ok(key, `a key cell is one backquoted key: ${line.slice(0, 60)}`);
    assert.ok(!rows.has(key), `${key} is listed once`);
    rows.set(key, row);
  }
  return rows;
}

const TABLE = keyTable(PAGE);

/** Every key the code knows, as the table names them. */
const CODE_KEYS: string[] = [
  ...CNI_KEYS,
  ...OVERRIDABLE,
  ...TOP_LEVEL_KEYS,
  ...GC_KEYS,
  ...HOST_ROUTE_KEYS.map((k) => `hostRoute.${k}`),
  ...ROUTE_KEYS.map((k) => `route.${k}`),
];

const BASE = { cniVersion: "1.1.0", name: "n", type: "seamless-static-route" } as const;

/** The warnings of a config that must parse. */
function warningsOf(config: Record<string, unknown>): string[] {
  return parseConfig(config).warnings;
}

Deno.test("docs keys: the table lists exactly the keys the code knows", () => {
  const documented = [...TABLE.keys()].sort();
  const known = [...new Set(CODE_KEYS)].sort();
  assert.deepEqual(
    documented.filter((k) => !known.includes(k)),
    [],
    "in docs/configuration.md but unknown to the code",
  );
  assert.deepEqual(
    known.filter((k) => !documented.includes(k)),
    [],
    "known to the code (src/config.ts, src/keys.ts) but missing from docs/configuration.md",
  );
});

Deno.test("docs keys: every documented key is accepted where the table puts it, without a warning", () => {
  for (const key of TABLE.keys()) {
    if (key.startsWith("hostRoute.")) {
      const config = { ...BASE, hostRoute: { [key.slice("hostRoute.".length)]: null } };
      assert.deepEqual(warningsOf(config), [], key);
    } else if (key.startsWith("route.")) {
      const route = { dst: "10.0.0.0/8", [key.slice("route.".length)]: null };
      if (key === "route.dst") route.dst = "10.1.0.0/16";
      assert.equal(parseConfig({ ...BASE, addroutes: [route] }).addroutes.length, 1, key);
    } else if (!["cniVersion", "name", "type"].includes(key)) {
      assert.deepEqual(warningsOf({ ...BASE, [key]: null }), [], key);
    }
  }
  // A route's key set is closed: a key outside the table is refused, not warned about.
  assert.throws(
    () => parseConfig({ ...BASE, addroutes: [{ dst: "10.0.0.0/8", gateway: "10.0.0.1" }] }),
    (e: unknown) => e instanceof CniError && e.code === 7,
  );
});

Deno.test("docs keys: the args.cni column is what a pod's args.cni may set", () => {
  for (const [key, row] of TABLE) {
    const column = row["`args.cni`"] ?? "";
    if (key.includes(".") || key === "args") continue; // nested keys: inside their parent's row
    const config = { ...BASE, args: { cni: { [key]: null } } };
    const podMaySet = !warningsOf(config).some((w) => w.includes(`args.cni.${key}`));
    assert.equal(column.startsWith("yes"), podMaySet, `${key}: column says "${column}"`);
    if (podMaySet) {
      // Say how the pod's value meets the NAD's: it replaces it, or may only tighten it.
      assert.match(column, /replaces|only/, `${key}: say how args.cni's value combines`);
      if (column.includes("replaces")) assert.deepEqual(parseConfig(config).podOverrides, [key]);
    }
  }
  // What "replaces" means: the pod's list is the list, the NAD's entries are gone.
  const both = parseConfig({
    ...BASE,
    addroutes: [{ dst: "10.1.0.0/16" }],
    hostRoute: { hostIP: "192.0.2.1", ipv6: false },
    args: { cni: { addroutes: [{ dst: "10.2.0.0/16" }], hostRoute: { timeoutSeconds: 1 } } },
  });
  assert.deepEqual(both.addroutes.map((r) => r.dst.address), ["10.2.0.0"]);
  assert.equal(both.hostRoute.hostIP, undefined, "args.cni.hostRoute replaces the whole object");
});

Deno.test("docs keys: defaults and ranges in the table are the code's", () => {
  const cell = (key: string, column: string) => TABLE.get(key)?.[column] ?? "";
  assert.equal(cell("stateDir", "default"), `\`${DEFAULT_STATE_DIR}\``);
  assert.equal(cell("logMaxSizeMB", "default"), `\`${DEFAULT_LOG_MAX_SIZE_MB}\``);
  assert.equal(cell("hostRoute.timeoutSeconds", "default"), `\`${DEFAULT_TIMEOUT_SECONDS}\``);
  assert.match(
    cell("hostRoute.timeoutSeconds", "values"),
    new RegExp(`^0–${MAX_TIMEOUT_SECONDS}\\b`),
  );
  assert.match(cell("addroutes", "values"), new RegExp(`^at most ${MAX_ROUTES}\\b`));
  assert.match(cell("delroutes", "values"), new RegExp(`^at most ${MAX_ROUTES}$`));
  assert.match(cell("route.gws", "values"), new RegExp(`^2–${MAX_NEXTHOPS} `));
  // The pod's ceiling for timeoutSeconds is the network's own value, as the column says.
  assert.match(cell("hostRoute.timeoutSeconds", "`args.cni`"), /at most the network's own value/);
  const network = { ...BASE, hostRoute: { timeoutSeconds: 5 } };
  const pod = (t: number) => ({ ...network, args: { cni: { hostRoute: { timeoutSeconds: t } } } });
  assert.equal(parseConfig(pod(5)).hostRoute.timeoutSeconds, 5);
  assert.throws(() => parseConfig(pod(8)), /at most 5/);
});
