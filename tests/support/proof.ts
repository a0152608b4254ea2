/** Small helpers shared by the proof tests (tests/proof). */

/**
 * Names of the state records (`*.json`) in `<stateDir>/<network>` (empty when the directory does
 * not exist); an attachment's `.lock` beside its record lives and goes with it.
 */
export async function stateFiles(stateDir: string, network: string): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const e of Deno.readDir(`${stateDir}/${network}`)) {
      if (e.name.endsWith(".json")) names.push(e.name);
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return names.sort();
}

/** Sorted copy of a list of table lines. */
export function sorted(lines: string[]): string[] {
  return [...lines].sort();
}

/** Rejects when `p` takes longer than `ms` (keeps a hung plugin from hanging the suite). */
export async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A CNI error object as the spec defines it. */
export interface CniErrorJson {
  cniVersion: string;
  code: number;
  msg: string;
  details?: string;
}

/** True when `v` is exactly a CNI error object (cniVersion, code, msg, optional details). */
export function isCniError(v: unknown): v is CniErrorJson {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return false;
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o).filter((k) => k !== "details");
  return keys.length === 3 && typeof o.cniVersion === "string" && typeof o.code === "number" &&
    Number.isInteger(o.code) && typeof o.msg === "string" && o.msg.length > 0 &&
    (o.details === undefined || typeof o.details === "string");
}
