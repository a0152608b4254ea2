/**
 * PURE: the pod's routing state as one `ip -j -batch` call reports it, and how that output is
 * read into Routes and addresses. `ip.ts` runs READ_BATCH; everything else only reads the result.
 */
import { type Cidr, type Family, parseCidr } from "./address.ts";
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
  const arrays = stdout.split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l));
  const [v4, v6, links] = arrays;
  if (arrays.length !== 3 || !Array.isArray(v4) || !Array.isArray(v6) || !Array.isArray(links)) {
    throw new Error(`unexpected ip -j output (${arrays.length} parts)`);
  }
  const routes: Route[] = [];
  for (const [list, fam] of [[v4, 4], [v6, 6]] as [unknown[], Family][]) {
    for (const raw of list as Record<string, unknown>[]) {
      // Table 255 (local): the kernel's local/broadcast routes; the plugin never changes it.
      if (raw?.table === "255" || raw?.table === "local") continue;
      const r = routeFromJson(raw, fam);
      if (r) routes.push(r);
    }
  }
  const addresses = new Map<string, Cidr[]>();
  for (const link of links) {
    const list: Cidr[] = [];
    for (const a of link.addr_info ?? []) {
      if (a.scope !== "global" && a.scope !== "0" && a.scope !== 0) continue;
      const c = parseCidr(`${a.local}/${a.prefixlen}`);
      if (c) list.push(c);
    }
    addresses.set(String(link.ifname), list);
  }
  return { routes, addresses };
}
