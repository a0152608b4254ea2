/**
 * The per-attachment state file that lets DEL revert ADD: the routes ADD added and the routes
 * it deleted, at `<stateDir>/<network name>/<container id>@<ifname>.json`.
 *
 * Written before routes change, so a DEL after a crashed ADD still knows what to undo; written
 * safely: a new temp file opened exclusively (never through a planted file or symlink), renamed
 * over the old one (not fsynced: see `writeState`). Read back as untrusted input: the
 * directories must be real directories owned by this user and writable by nobody else, the file a
 * regular file of bounded size, and every route must pass the checks of the `ip` boundary.
 */
import { nothingAt } from "./libc.ts";
import { CniError, ErrorCode } from "./cni/errors.ts";
import { type Route, routeFromRecord } from "./route.ts";
import { sha256Hex } from "./sha256.ts";
import { checkTrustedDir, UntrustedDirError } from "./trusted_dir.ts";

/** The identity of a network namespace: the device and inode of its nsfs file. */
export interface NetnsId {
  dev: number;
  ino: number;
}

/** What one attachment's ADD changed. */
export interface AttachmentState {
  version: 1;
  network: string;
  containerId: string;
  ifname: string;
  netns: string;
  /** The namespace ADD changed, so DEL never reverts inside another one at the same path. */
  netnsId?: NetnsId;
  added: Route[];
  deleted: Route[];
}

/** The attachment a state file belongs to. */
export interface AttachmentId {
  network: string;
  containerId: string;
  ifname: string;
}

/** A state file that exists but cannot be trusted or read: DEL logs it and goes on. */
export class StateFileError extends CniError {
  constructor(msg: string) {
    super(ErrorCode.IoFailure, msg);
  }
}

/**
 * The largest state record: `writeState` refuses to write a larger one (code 7, before ADD
 * changes the table) and `readState` refuses to read one, so DEL can revert every record ADD
 * wrote. Only a flush of a huge pod table (~60k routes) comes near it.
 */
export const MAX_STATE_BYTES = 8 * 1024 * 1024;

/** The longest file name (one path component) Linux filesystems allow, in bytes. */
const NAME_MAX = 255;

/** The longest suffix of an attachment's files: a temp record, `.json.<uuid>.tmp`. */
const LONGEST_SUFFIX = ".json.".length + 36 + ".tmp".length;

/**
 * A file name for `name` at most `room` bytes long: `name` itself when it fits (so records
 * of an upgraded node are found under the names they have), else a readable prefix, `~` (which
 * no network name, container id or interface name holds, so it collides with no name that fits)
 * and 32 hex digits of the name's SHA-256.
 */
export function fileNameFor(name: string, room: number): string {
  if (new TextEncoder().encode(name).length <= room) return name;
  return `${name.slice(0, room - 33)}~${sha256Hex(name).slice(0, 32)}`;
}

/** The directory of one network's state files. */
export function networkDir(stateDir: string, network: string): string {
  return `${stateDir}/${fileNameFor(network, NAME_MAX)}`;
}

/**
 * The name an attachment's files start with, `<containerID>@<ifname>` (`@` appears in neither),
 * mapped by `fileNameFor` when it is too long for a file name with its longest suffix.
 */
export function attachmentBase(containerId: string, ifname: string): string {
  return fileNameFor(`${containerId}@${ifname}`, NAME_MAX - LONGEST_SUFFIX);
}

/** Path of the state file of one attachment. */
export function statePath(
  stateDir: string,
  network: string,
  containerId: string,
  ifname: string,
): string {
  return `${networkDir(stateDir, network)}/${attachmentBase(containerId, ifname)}.json`;
}

function why(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function dirOf(path: string): string {
  return path.slice(0, path.lastIndexOf("/"));
}

/**
 * Checks that `dir` is a real directory (not a symlink) owned by this user and not writable by
 * group or others: otherwise another user could plant or swap the files root reads and writes.
 */
function checkSafeDir(dir: string, looked?: Deno.FileInfo): void {
  const st = looked ?? Deno.lstatSync(dir);
  const problem = st.isSymlink
    ? "is a symbolic link"
    : !st.isDirectory
    ? "is not a directory"
    : st.uid !== null && st.uid !== Deno.uid()
    ? `is owned by uid ${st.uid}, not ${Deno.uid()}`
    : st.mode !== null && (st.mode & 0o022) !== 0
    ? `is writable by group or others (mode ${(st.mode & 0o777).toString(8)})`
    : null;
  if (problem) {
    throw new StateFileError(
      `state directory ${dir} ${problem}; make it a directory owned by root with mode 0700`,
    );
  }
}

/**
 * Checks (with `create`, makes one at a time) every directory from `/` down to `dir`: none another
 * user could swap or rename away (trusted_dir.ts), and the state directory and `dir` owned by this
 * user and writable by nobody else.
 */
function checkStateDirs(dir: string, create: boolean, file: string): void {
  let seen: ReadonlyMap<string, Deno.FileInfo>;
  try {
    seen = checkTrustedDir(dir, { create });
  } catch (e) {
    if (!(e instanceof UntrustedDirError)) throw e;
    throw new StateFileError(
      `cannot use state file ${file}: ${e.message}; make every directory above it a directory ` +
        "of root's that only root can write",
    );
  }
  // The walk has just looked at both (with lstat, as checkSafeDir does): its answers serve.
  checkSafeDir(dirOf(dir), seen.get(dirOf(dir)));
  checkSafeDir(dir, seen.get(dir));
}

function parseState(text: string, expect: AttachmentId): AttachmentState {
  const s: unknown = JSON.parse(text);
  if (typeof s !== "object" || s === null || Array.isArray(s)) throw new Error("not an object");
  const o = s as Record<string, unknown>;
  if (o.version !== 1) throw new Error(`unknown version ${JSON.stringify(o.version)}`);
  for (const k of ["network", "containerId", "ifname"] as const) {
    if (o[k] !== expect[k]) {
      throw new Error(`${k} ${JSON.stringify(o[k])} is not this attachment's (${expect[k]})`);
    }
  }
  if (typeof o.netns !== "string") throw new Error("netns must be a string");
  let netnsId: NetnsId | undefined;
  if (o.netnsId !== undefined) {
    const id = o.netnsId as Record<string, unknown> | null;
    const whole = (v: unknown) => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
    if (typeof id !== "object" || id === null || !whole(id.dev) || !whole(id.ino)) {
      throw new Error("netnsId must be {dev, ino} of whole numbers");
    }
    netnsId = { dev: id.dev as number, ino: id.ino as number };
  }
  const routes = (key: string): Route[] => {
    const list = o[key];
    if (!Array.isArray(list)) throw new Error(`${key} must be a list`);
    return list.map((r, i) => {
      try {
        return routeFromRecord(r);
      } catch (e) {
        throw new Error(`${key}[${i}]: ${why(e)}`);
      }
    });
  };
  return {
    version: 1,
    network: expect.network,
    containerId: expect.containerId,
    ifname: expect.ifname,
    netns: o.netns,
    ...(netnsId ? { netnsId } : {}),
    added: routes("added"),
    deleted: routes("deleted"),
  };
}

/**
 * Reads and validates a state file; null when there is none. Throws StateFileError (code 5)
 * when it exists but is unsafe, unreadable or not a valid record of this attachment.
 */
export function readState(path: string, expect: AttachmentId): AttachmentState | null {
  if (nothingAt(path)) return null; // as NotFound below would, without throwing it
  let text: string;
  try {
    // lstat only to never open a FIFO or follow a link; what is read is checked on the handle.
    const named = Deno.lstatSync(path);
    checkStateDirs(dirOf(path), false, path);
    if (!named.isFile) throw new Error("it is not a regular file");
    const file = Deno.openSync(path, { read: true });
    try {
      const st = file.statSync();
      if (!st.isFile || st.ino !== named.ino) throw new Error("it was replaced while opened");
      if (st.uid !== null && st.uid !== Deno.uid()) throw new Error(`it is owned by uid ${st.uid}`);
      if (st.size > MAX_STATE_BYTES) throw new Error(`it is larger than ${MAX_STATE_BYTES} bytes`);
      text = readBounded(file, MAX_STATE_BYTES);
    } finally {
      file.close();
    }
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    if (e instanceof StateFileError) throw e;
    throw new StateFileError(`cannot read state file ${path}: ${why(e)}`);
  }
  try {
    return parseState(text, expect);
  } catch (e) {
    throw new StateFileError(`state file ${path} is not valid: ${why(e)}`);
  }
}

/** All of `file` as text, refusing one that grew past `max` bytes since it was looked at. */
function readBounded(file: Deno.FsFile, max: number): string {
  const buf = new Uint8Array(max + 1);
  let size = 0;
  for (let n = file.readSync(buf); n !== null && n > 0; n = file.readSync(buf.subarray(size))) {
    size += n;
    if (size > max) throw new Error(`it is larger than ${max} bytes`);
  }
  return new TextDecoder().decode(buf.subarray(0, size));
}

/**
 * A temp record's id, shaped as a random UUID (`TEMP_SUFFIX`). Math.random, not crypto: the file
 * is created exclusively in a root-only directory under the attachment's lock, so its name only
 * needs to differ from a crashed write's; and a cold run's first use of `crypto` costs ~0.7 ms.
 */
function tempId(): string {
  const hex = (digits: number) =>
    Math.floor(Math.random() * 16 ** digits).toString(16).padStart(digits, "0");
  return `${hex(8)}-${hex(4)}-4${hex(3)}-${hex(4)}-${hex(12)}`;
}

/**
 * Writes a state file atomically: a new exclusive temp file (0600) in a checked 0700 directory,
 * renamed over `path`. Not fsynced: the record describes a network namespace, which no kernel
 * crash or power loss survives, so a record lost with the page cache describes nothing left to
 * revert (and a torn one is refused on read, as any invalid record is).
 */
export function writeState(path: string, state: AttachmentState): number {
  const dir = dirOf(path);
  const record = new TextEncoder().encode(JSON.stringify(state) + "\n");
  if (record.length > MAX_STATE_BYTES) {
    throw new CniError(
      ErrorCode.InvalidConfig,
      `ADD would record ${state.deleted.length} deleted and ${state.added.length} added routes ` +
        `(${record.length} bytes), more than the ${MAX_STATE_BYTES} bytes DEL reads back`,
      "no route was changed: flush or delete fewer of the pod's routes (e.g. flushgateway or " +
        "delroutes instead of flushroutes)",
    );
  }
  const tmp = `${path}.${tempId()}.tmp`;
  let created = false;
  try {
    checkStateDirs(dir, true, path);
    const file = Deno.openSync(tmp, { write: true, createNew: true, mode: 0o600 });
    created = true;
    try {
      let bytes = record;
      while (bytes.length > 0) bytes = bytes.subarray(file.writeSync(bytes));
    } finally {
      file.close();
    }
    Deno.renameSync(tmp, path);
    created = false;
    return record.length;
  } catch (e) {
    if (created) {
      try {
        Deno.removeSync(tmp);
      } catch { /* already gone */ }
    }
    if (e instanceof StateFileError) throw e;
    throw new CniError(ErrorCode.IoFailure, `cannot write state file ${path}: ${why(e)}`);
  }
}

/**
 * The most bytes one added route with `hops` next hops (0 or 1: a single path) takes in a record:
 * its JSON with every attribute an addroute can give it at its longest, escapes included.
 */
export function addedRouteBound(hops: number): number {
  return 600 + 200 * hops;
}

/** ADD's `ip` batch file of an attachment, beside its state file (see `stopPendingBatch`). */
export function batchPath(statePath: string): string {
  return statePath.replace(/\.json$/, ".batch");
}

/** An exclusive lock on one attachment, held until disposed. */
export interface AttachmentLock extends Disposable {
  /** Removes the lock file (DEL, when the attachment is gone); the lock is released on dispose. */
  remove(): void;
}

/** An attachment's lock stayed held by another ADD, DEL, CHECK or GC for the whole wait. */
export class LockBusyError extends CniError {
  constructor(path: string, waitSeconds: number) {
    super(
      ErrorCode.TryAgainLater,
      `attachment lock ${path} is still held by another ADD, DEL or CHECK of it after ` +
        `${waitSeconds} s`,
      "try again later",
    );
  }
}

/** A synchronous sleep (the plugin's handlers are synchronous where they wait for a lock). */
function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Takes the attachment's exclusive lock (`flock` on `<base>.lock` beside its state file),
 * waiting for a concurrent ADD, DEL, CHECK or GC of the same attachment to finish, but at most
 * `waitSeconds` (0: one try): then LockBusyError (code 11). A killed holder releases it with its
 * death. `create: false` (DEL, CHECK, GC) returns null instead of creating the state directory
 * when it does not exist. The lock file may be removed by its holder: a waiter then finds its file
 * unlinked and locks the new one. Anything but a regular file or symlink at the lock's name (a
 * directory, which cannot be removed unread) is code 5 naming it.
 */
export function lockAttachment(
  statePath: string,
  create = true,
  waitSeconds = 10,
): AttachmentLock | null {
  const dir = dirOf(statePath);
  const path = statePath.replace(/\.json$/, ".lock");
  const deadline = Date.now() + waitSeconds * 1000;
  try {
    if (!create && !Deno.statSync(dir).isDirectory) return null;
    checkStateDirs(dir, create, statePath);
    while (true) {
      // Only a regular file is a lock: a symlink or FIFO planted at that name is removed, never
      // followed or opened (opening a FIFO would hang); a directory is refused.
      // Nothing there (a new attachment): created exclusively, so what is planted meanwhile is
      // never followed, and no NotFound is thrown to learn it.
      let file = nothingAt(path) ? createNew(path) : null;
      if (!file) {
        try {
          const st = Deno.lstatSync(path);
          if (st.isDirectory) {
            throw new StateFileError(
              `cannot lock ${path}: a directory is in the way of the lock file; remove it`,
            );
          }
          if (!st.isFile) Deno.removeSync(path);
        } catch (e) {
          if (!(e instanceof Deno.errors.NotFound)) throw e;
        }
        file = Deno.openSync(path, { create: true, write: true, mode: 0o600 });
      }
      let locked = false;
      try {
        while (!(locked = file.tryLockSync(true)) && Date.now() < deadline) sleepMs(20);
      } finally {
        if (!locked) file.close();
      }
      if (!locked) throw new LockBusyError(path, waitSeconds);
      let current = false;
      try {
        current = Deno.statSync(path).ino === file.statSync().ino;
      } catch { /* unlinked by the holder before us */ }
      if (!current) {
        file.close();
        continue;
      }
      return {
        remove: () => removeState(path),
        [Symbol.dispose]: () => file.close(),
      };
    }
  } catch (e) {
    if (!create && e instanceof Deno.errors.NotFound) return null;
    if (e instanceof StateFileError || e instanceof CniError) throw e;
    throw new CniError(ErrorCode.IoFailure, `cannot lock state file ${statePath}: ${why(e)}`);
  }
}

/** A new file at `path` (O_EXCL: a link there is not followed); null when something is there. */
function createNew(path: string): Deno.FsFile | null {
  try {
    return Deno.openSync(path, { createNew: true, write: true, mode: 0o600 });
  } catch (e) {
    if (e instanceof Deno.errors.AlreadyExists) return null;
    throw e;
  }
}

/**
 * The names in the directory of the attachment whose state file is `statePath` that start with
 * its base name (entries of any kind), or null when the directory cannot be listed. DEL lists
 * once under the attachment's lock (it creates no file there) and looks only at the files the
 * listing holds: no NotFound error per missing file (a cold run's first thrown op error costs
 * ~0.5 ms), and no second listing for the temp files `removeAttachmentFiles` removes. A listing
 * costs with the directory's size, so ADD, which needs none, does not take one.
 */
export function attachmentNames(statePath: string): ReadonlySet<string> | null {
  const dir = dirOf(statePath);
  const base = statePath.slice(dir.length + 1, statePath.lastIndexOf("."));
  const names = new Set<string>();
  try {
    for (const e of Deno.readDirSync(dir)) if (e.name.startsWith(base)) names.add(e.name);
  } catch {
    return null;
  }
  return names;
}

/** False only when `names` (see `attachmentNames`) shows that nothing is at `path`. */
export function mayExist(names: ReadonlySet<string> | null, path: string): boolean {
  return names === null || names.has(path.slice(path.lastIndexOf("/") + 1));
}

/**
 * Removes an attachment's files but its lock: the state record, its batch file, and temp files a
 * crash inside `writeState` left (`<record>.<uuid>.tmp`). Missing ones are fine. `names`, a
 * listing taken under the lock since which nothing created a file of the attachment, tells which
 * are there; without one the directory is listed.
 */
export function removeAttachmentFiles(
  path: string,
  names: ReadonlySet<string> | null = null,
): void {
  if (mayExist(names, path)) removeState(path);
  if (mayExist(names, batchPath(path))) removeState(batchPath(path));
  const dir = dirOf(path);
  const base = path.slice(dir.length + 1);
  if (names) {
    for (const name of names) if (isTempOf(name, base)) removeState(`${dir}/${name}`);
    return;
  }
  try {
    for (const e of Deno.readDirSync(dir)) {
      if (isTempOf(e.name, base)) removeState(`${dir}/${e.name}`);
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
}

/** A temp record's name as `writeState` makes it: `<record>.<uuid>.tmp`. */
const TEMP_SUFFIX = /^\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.tmp$/;

/**
 * True when `name` is a temp file of the record named `base` exactly: `c@x.json.<uuid>.tmp` is
 * c/x's, but `c@x.json.y.json.<uuid>.tmp` belongs to (c, `x.json.y`), not to (c, `x`).
 */
function isTempOf(name: string, base: string): boolean {
  return name.startsWith(base) && TEMP_SUFFIX.test(name.slice(base.length));
}

/** True when a file (of any kind) is at `path`. */
export function hasState(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Removes a state file; a missing one is fine. */
export function removeState(path: string): void {
  try {
    Deno.removeSync(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) {
      throw new CniError(ErrorCode.IoFailure, `cannot remove state file ${path}: ${why(e)}`);
    }
  }
}

/** One attachment found in a network's state directory. */
export interface StateEntry {
  /** The name its files start with (`attachmentBase` of its container id and interface). */
  base: string;
  /** Its state file's path (which may be gone while its lock or batch file remains). */
  path: string;
}

/**
 * Lists the attachments of one network that have any file in its state directory: a state
 * record, a lock, a batch file (a first ADD killed before it recorded anything leaves one), or a
 * temp file of an interrupted write. Entries of any kind count (a directory planted at a name).
 */
export async function listStates(stateDir: string, network: string): Promise<StateEntry[]> {
  const dir = networkDir(stateDir, network);
  const out = new Map<string, StateEntry>();
  try {
    for await (const e of Deno.readDir(dir)) {
      const m = /^(.+)\.(?:json|lock|batch|json\.[0-9a-f-]+\.tmp)$/.exec(e.name);
      if (!m?.[1] || !(m[1].includes("@") || m[1].includes("~"))) continue;
      out.set(m[1], { base: m[1], path: `${dir}/${m[1]}.json` });
    }
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw new CniError(ErrorCode.IoFailure, `cannot list state directory ${dir}`, String(e));
  }
  return [...out.values()];
}
