/**
 * The per-attachment state file that lets DEL revert ADD: the routes ADD added and the routes
 * it deleted, at `<stateDir>/<network name>/<container id>@<ifname>.json`. Written atomically
 * (temp file + rename) before routes change, so a DEL after a crashed ADD still knows what to undo.
 */
import { CniError, ErrorCode } from "./cni/errors.ts";
import type { Route } from "./route.ts";

/** What one attachment's ADD changed. */
export interface AttachmentState {
  version: 1;
  network: string;
  containerId: string;
  ifname: string;
  netns: string;
  added: Route[];
  deleted: Route[];
}

/** Path of the state file of one attachment (`@` appears in neither id nor ifname). */
export function statePath(
  stateDir: string,
  network: string,
  containerId: string,
  ifname: string,
): string {
  return `${stateDir}/${network}/${containerId}@${ifname}.json`;
}

function ioError(what: string, path: string, e: unknown): CniError {
  const why = e instanceof Error ? e.message : String(e);
  return new CniError(ErrorCode.IoFailure, `cannot ${what} state file ${path}: ${why}`);
}

/** Reads a state file; null when there is none. */
export function readState(path: string): AttachmentState | null {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw ioError("read", path, e);
  }
  try {
    const s = JSON.parse(text) as AttachmentState;
    if (s.version !== 1 || !Array.isArray(s.added) || !Array.isArray(s.deleted)) {
      throw new Error("unknown format");
    }
    return s;
  } catch (e) {
    throw ioError("parse", path, e);
  }
}

/** Writes a state file atomically (0600, in a 0700 directory). */
export function writeState(path: string, state: AttachmentState): void {
  const dir = path.slice(0, path.lastIndexOf("/"));
  const tmp = `${path}.${Deno.pid}.tmp`;
  try {
    Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
    Deno.writeTextFileSync(tmp, JSON.stringify(state) + "\n", { mode: 0o600 });
    Deno.renameSync(tmp, path);
  } catch (e) {
    try {
      Deno.removeSync(tmp);
    } catch { /* never created */ }
    throw ioError("write", path, e);
  }
}

/** Removes a state file; a missing one is fine. */
export function removeState(path: string): void {
  try {
    Deno.removeSync(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw ioError("remove", path, e);
  }
}

/** One state file found in a network's state directory. */
export interface StateEntry {
  containerId: string;
  ifname: string;
  path: string;
}

/** Lists the state files of one network. */
export async function listStates(stateDir: string, network: string): Promise<StateEntry[]> {
  const dir = `${stateDir}/${network}`;
  const out: StateEntry[] = [];
  try {
    for await (const e of Deno.readDir(dir)) {
      const m = /^(.+)@([^@]+)\.json$/.exec(e.name);
      if (e.isFile && m?.[1] && m[2]) {
        out.push({ containerId: m[1], ifname: m[2], path: `${dir}/${e.name}` });
      }
    }
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw new CniError(ErrorCode.IoFailure, `cannot list state directory ${dir}`, String(e));
  }
  return out;
}
