/**
 * Readers of a namespace's kernel routing tables, for assertions and for showing a table:
 * `ip -j` routes as objects, or the table as sorted text lines.
 */
import { ipIn } from "./run.ts";

/** One route as `ip -j route` prints it. */
export interface JsonRoute {
  dst: string;
  gateway?: string;
  dev?: string;
  table?: string;
  protocol?: string;
  scope?: string;
  metric?: number;
  type?: string;
  prefsrc?: string;
  metrics?: Record<string, number>[];
  [key: string]: unknown;
}

/** Every v4 and v6 route of a namespace outside the local table, as `ip -j` prints them. */
export async function routesOf(ns: string): Promise<JsonRoute[]> {
  const v4 = JSON.parse(await ipIn(ns, "-j", "-4", "route", "show", "table", "all")) as JsonRoute[];
  const v6 = JSON.parse(await ipIn(ns, "-j", "-6", "route", "show", "table", "all")) as JsonRoute[];
  return [...v4, ...v6].filter((r) => r.table !== "local");
}

/**
 * The routing table of a namespace as sorted text lines (`ip route show table all`, v4 then
 * v6, local table and volatile fields left out), for "exactly as it was" comparisons.
 */
export async function tableText(ns: string): Promise<string[]> {
  const lines: string[] = [];
  for (const fam of ["-4", "-6"]) {
    const out = await ipIn(ns, fam, "route", "show", "table", "all");
    for (const line of out.split("\n")) {
      const l = line.trim().replace(/\s+expires \S+/, "");
      if (l && !/\btable local\b/.test(l)) lines.push(l);
    }
  }
  return lines.sort();
}

/** Finds routes by destination (`default`, a CIDR or a plain host address). */
export function findRoutes(routes: JsonRoute[], dst: string): JsonRoute[] {
  return routes.filter((r) => r.dst === dst);
}
