/**
 * PURE validation helpers shared by the config, the CNI environment and the route model: what a
 * JSON object is, which interface names and paths are safe to hand to `ip`.
 */

/** A decoded JSON object. */
export type Json = Record<string, unknown>;

/** True for a plain JSON object (not null, not an array). */
export function isObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

const IFNAME = /^[a-zA-Z0-9_][a-zA-Z0-9_.\-]{0,14}$/;

/**
 * True for an interface name that is safe to hand to `ip`: 1–15 characters of letters, digits,
 * `_`, `.` and `-`, not starting with `-` or `.` (so never an option, a path or two words).
 */
export function isValidIfname(name: string): boolean {
  return IFNAME.test(name) && name !== "." && name !== "..";
}

/** True when `text` holds a control character (newline, NUL, ESC, DEL...). */
export function hasControlChars(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

/** True for a netns path the plugin accepts: absolute, printable, no `..` segments. */
export function isValidNetnsPath(path: string): boolean {
  return path.startsWith("/") && !hasControlChars(path) && !path.split("/").includes("..");
}
