/**
 * PURE: the pod's routing state as one `ip -j -batch` call reports it, and how that output is
 * read into Routes and addresses. `ip.ts` runs READ_BATCH; everything else only reads the result.
 */
import { type Cidr, cidrText, type Family, networkOf, parseCidr } from "./address.ts";
import { type Route, routeFromJson } from "./route.ts";

/** The pod's routing state as read in one `ip` call. */
export interface PodSnapshot {
  /** Every v4 and v6 route outside the local table. */
  routes: Route[];
  /** Addresses (global scope) per interface name. */
  addresses: Map<string, Cidr[]>;
}

/** An empty pod table (a dry run against a netns that cannot be read). */
export function emptySnapshot(): PodSnapshot {
  return { routes: [], addresses: new Map() };
}

/**
 * The flags of the read: JSON, details (type, protocol, scope, attributes) and numbers (`-N`),
 * so a table named in /etc/iproute2/rt_tables is compared as its number, not its name.
 */
export const READ_FLAGS = ["-j", "-d", "-N"] as const;

/** The batch that reads a pod: v4 routes, v6 routes, addresses. */
export const READ_BATCH = "route show table all root 0.0.0.0/0\n" +
  "route show table all root ::/0\naddr show\n";

/** Parses the output of READ_BATCH (three JSON arrays, one per line). */
export function parseSnapshot(stdout: string): PodSnapshot {
  const arrays = jsonLines(stdout);
  const [v4, v6, links] = arrays;
  if (arrays.length !== 3 || !Array.isArray(v4) || !Array.isArray(v6) || !Array.isArray(links)) {
    throw new Error(`unexpected ip -j output (${arrays.length} parts)`);
  }
  const routes: Route[] = [];
  for (const [list, fam] of [[v4, 4], [v6, 6]] as [unknown[], Family][]) {
    addRoutes(routes, list, fam);
  }
  return { routes, addresses: parseAddresses(links) };
}

function jsonLines(stdout: string): unknown[] {
  return stdout.split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l));
}

function addRoutes(routes: Route[], list: unknown[], family: Family): void {
  for (const raw of list as Record<string, unknown>[]) {
    // Table 255 (local): the kernel's local/broadcast routes; the plugin never changes it.
    if (raw?.table === "255" || raw?.table === "local") continue;
    const r = routeFromJson(raw, family);
    if (r) routes.push(r);
  }
}

/** At most this many destinations of one family are read one by one (`exact`) in a bounded read. */
export const MAX_EXACT_READS = 8;

/**
 * The `route show` filters of a bounded read: `exact DST` for each distinct destination, or, for
 * a family with more than MAX_EXACT_READS of them (each `show` line is one walk of the table in
 * `ip`), one `root PREFIX` of the longest prefix that holds them all.
 */
export function readFilters(dsts: readonly string[]): string[] {
  const byFamily = new Map<Family, Cidr[]>();
  const seen = new Set<string>();
  for (const d of dsts) {
    const parsed = parseCidr(d);
    if (!parsed) throw new Error(`not a destination: ${JSON.stringify(d)}`);
    const c = networkOf(parsed);
    const text = cidrText(c);
    if (seen.has(text)) continue;
    seen.add(text);
    byFamily.set(c.family, [...byFamily.get(c.family) ?? [], c]);
  }
  const filters: string[] = [];
  for (const list of byFamily.values()) {
    if (list.length <= MAX_EXACT_READS) {
      for (const c of list) filters.push(`exact ${cidrText(c)}`);
    } else {
      filters.push(`root ${cidrText(list.reduce(commonPrefix))}`);
    }
  }
  return filters;
}

/** The longest prefix that holds both networks (a binary search on the prefix length). */
function commonPrefix(a: Cidr, b: Cidr): Cidr {
  const at = (c: Cidr, prefix: number): string => networkOf({ ...c, prefix }).address;
  let lo = 0;
  let hi = Math.min(a.prefix, b.prefix);
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (at(a, mid) === at(b, mid)) lo = mid;
    else hi = mid - 1;
  }
  return networkOf({ ...a, prefix: lo });
}

/**
 * The batch of a bounded read (CHECK): the addresses, then the routes (every table) that
 * `readFilters(dsts)` selects, so what is read — and what the plugin holds in memory — is what
 * the config names, not what the pod put in its table. Each filter is re-rendered from a parsed
 * CIDR: no other text reaches the batch.
 */
export function exactReadBatch(dsts: readonly string[]): string {
  const lines = ["addr show"];
  for (const f of readFilters(dsts)) lines.push(`route show table all ${f}`);
  return lines.join("\n") + "\n";
}

/** Parses the output of `exactReadBatch(dsts)`: the addresses and the routes read. */
export function parseExactSnapshot(stdout: string, dsts: readonly string[]): PodSnapshot {
  const arrays = jsonLines(stdout);
  const filters = readFilters(dsts);
  const [links, ...lists] = arrays;
  if (
    arrays.length !== filters.length + 1 || !Array.isArray(links) ||
    !lists.every((l) => Array.isArray(l))
  ) {
    throw new Error(
      `unexpected ip -j output (${arrays.length} parts, ${filters.length + 1} asked)`,
    );
  }
  const routes: Route[] = [];
  filters.forEach((f, i) => {
    addRoutes(routes, lists[i] as unknown[], f.includes(":") ? 6 : 4);
  });
  return { routes, addresses: parseAddresses(links) };
}

/** A batch line whose answer (the `lo` link, never empty) closes each lookup's answer. */
const LOOKUP_END = "link show dev lo";

/**
 * The batch of CHECK's fast read: the addresses, for each destination in `lookups` the route the
 * kernel's own lookup finds for its network address (`route get fibmatch`: one trie lookup, as
 * cheap on a pod of a million routes as on an empty one), then the `readFilters` reads of
 * `dsts`. Run with `-force`: a lookup that finds nothing fails, and the read goes on.
 */
export function fastReadBatch(lookups: readonly string[], dsts: readonly string[]): string {
  const lines = ["addr show"];
  for (const d of lookups) lines.push(`route get fibmatch ${lookupAddress(d)}`, LOOKUP_END);
  for (const f of dsts.length > 0 ? readFilters(dsts) : []) lines.push(`route show table all ${f}`);
  return lines.join("\n") + "\n";
}

function lookupAddress(dst: string): string {
  const c = parseCidr(dst);
  if (!c) throw new Error(`not a destination: ${JSON.stringify(dst)}`);
  return networkOf(c).address;
}

/**
 * Parses the output of `fastReadBatch(lookups, dsts)`. The routes the lookups found are real
 * routes of the pod, but a route a lookup did not return may still exist (behind a lower metric,
 * or a more specific route): a CHECK that finds a problem in a fast read reads again with
 * `exactReadBatch` before it reports one.
 */
export function parseFastRead(
  stdout: string,
  lookups: readonly string[],
  dsts: readonly string[],
): PodSnapshot {
  const arrays = jsonLines(stdout);
  const [links, ...rest] = arrays;
  if (!Array.isArray(links)) throw new Error("unexpected ip -j output (no addresses)");
  const routes: Route[] = [];
  let at = 0;
  for (const d of lookups) {
    const found = rest[at];
    if (Array.isArray(found) && isRouteList(found)) {
      addRoutes(routes, found, (parseCidr(d) as Cidr).family);
      at++;
    }
    const end = rest[at++];
    if (!Array.isArray(end) || isRouteList(end) || end.length === 0) {
      throw new Error("unexpected ip -j output (a lookup without its end)");
    }
  }
  const filters = dsts.length > 0 ? readFilters(dsts) : [];
  const lists = rest.slice(at);
  if (lists.length !== filters.length || !lists.every((l) => Array.isArray(l))) {
    throw new Error(`unexpected ip -j output (${lists.length} reads, ${filters.length} asked)`);
  }
  filters.forEach((f, i) => addRoutes(routes, lists[i] as unknown[], f.includes(":") ? 6 : 4));
  return { routes, addresses: parseAddresses(links) };
}

function isRouteList(list: unknown[]): boolean {
  const first = list[0] as Record<string, unknown> | undefined;
  return first !== undefined && typeof first === "object" && first !== null && "dst" in first;
}

function parseAddresses(links: unknown[]): Map<string, Cidr[]> {
  const addresses = new Map<string, Cidr[]>();
  for (const link of links as { ifname?: unknown; addr_info?: Record<string, unknown>[] }[]) {
    const list: Cidr[] = [];
    for (const a of link.addr_info ?? []) {
      if (a.scope !== "global" && a.scope !== "0" && a.scope !== 0) continue;
      const c = parseCidr(`${a.local}/${a.prefixlen}`);
      if (c) list.push(c);
    }
    addresses.set(String(link.ifname), list);
  }
  return addresses;
}
