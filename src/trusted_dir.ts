/**
 * The check shared by the log file and the state directory: every directory from `/` down to the
 * one root writes in must be one that no other user can swap, rename away or plant a link in.
 *
 * - Each directory on the way is owned by root (or this user) and not writable by group or
 *   others, unless sticky (like /tmp: others cannot move root's entries there).
 * - The last directory is never writable by group or others, sticky or not (unless a caller
 *   asks for the laxer rule: its own next check is strict).
 * - A symbolic link on the way is followed only when root (or this user) owns it and its own
 *   directory is writable by root only (a sticky directory does not count: anyone may plant a
 *   link in one); its target is then checked the same way. A link as the last part is refused.
 * - Missing directories are created (0700) one at a time, each looked at with lstat after
 *   `mkdir`, so none is made where a link planted meanwhile points.
 */

/** Why a directory is not one root may trust (says which one and why). */
export class UntrustedDirError extends Error {}

/** How `checkTrustedDir` treats the last directory. */
export interface TrustedDirOptions {
  /** Create the missing directories, 0700, one at a time. */
  create?: boolean;
  /** Let the last directory be sticky and writable by others (the caller checks it itself). */
  laxLast?: boolean;
}

/** Symbolic links followed on the way to one directory before giving up. */
const MAX_LINKS = 8;

/** True when `uid` is root's or this process's (the plugin runs as root). */
export function isOurs(uid: number | null): boolean {
  return uid === null || uid === 0 || uid === Deno.uid();
}

/** `st` of `path`, creating a missing directory first when asked to. */
function lookAt(path: string, create: boolean): Deno.FileInfo {
  try {
    return Deno.lstatSync(path);
  } catch (e) {
    if (!create || !(e instanceof Deno.errors.NotFound)) throw e;
  }
  try {
    Deno.mkdirSync(path, { mode: 0o700 });
  } catch (e) {
    // Another invocation made it meanwhile: what is there now is checked like anything else.
    if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
  }
  return Deno.lstatSync(path);
}

/**
 * Throws UntrustedDirError unless every directory from `/` to `dir` (absolute) passes the rules
 * of the module doc; creates missing ones with `create`. Other errors (e.g. NotFound without
 * `create`) are thrown as they are. Returns what lstat said of each path it looked at, so that a
 * caller's own checks of these directories need not ask again.
 */
export function checkTrustedDir(
  dir: string,
  options: TrustedDirOptions = {},
): ReadonlyMap<string, Deno.FileInfo> {
  const seen = new Map<string, Deno.FileInfo>();
  walk(dir, options.create ?? false, options.laxLast ?? false, 0, seen);
  return seen;
}

function walk(
  dir: string,
  create: boolean,
  laxLast: boolean,
  links: number,
  seen: Map<string, Deno.FileInfo>,
): void {
  if (links > MAX_LINKS) {
    throw new UntrustedDirError(`too many symbolic links on the way to ${dir}`);
  }
  const parts = dir.split("/").filter((p) => p !== "");
  let path = "/";
  // Whether the directory `path` is in may be written by a user other than root (sticky or not).
  let openParent = false;
  for (let i = 0; i <= parts.length; i++) {
    if (i > 0) path = `${path === "/" ? "" : path}/${parts[i - 1]}`;
    const last = i === parts.length;
    const st = lookAt(path, create && i > 0);
    seen.set(path, st);
    if (st.isSymlink) {
      if (last) throw new UntrustedDirError(`${path} is a symbolic link`);
      if (!isOurs(st.uid)) {
        throw new UntrustedDirError(`${path} is a symbolic link owned by uid ${st.uid}`);
      }
      if (openParent) {
        throw new UntrustedDirError(
          `${path} is a symbolic link in a directory others can write (sticky or not)`,
        );
      }
      walk(Deno.realPathSync(path), false, false, links + 1, seen);
      openParent = false; // the target passed as a last directory: root-only
      continue;
    }
    if (!st.isDirectory) throw new UntrustedDirError(`${path} is not a directory`);
    if (!isOurs(st.uid)) throw new UntrustedDirError(`${path} is owned by uid ${st.uid}`);
    const mode = st.mode ?? 0;
    const open = (mode & 0o022) !== 0;
    if (open && ((last && !laxLast) || (mode & 0o1000) === 0)) {
      throw new UntrustedDirError(
        `${path} is writable by group or others (mode ${(mode & 0o7777).toString(8)})`,
      );
    }
    openParent = open;
  }
}
