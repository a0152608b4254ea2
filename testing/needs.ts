/**
 * What the namespace tests need from the machine (root, and sometimes a tool), and the reason
 * printed when a test is skipped for lack of it.
 */

/** True when this process may create network namespaces. */
export const IS_ROOT: boolean = Deno.uid() === 0;

/** Reason printed for namespace tests that cannot run. */
export const SKIP_REASON = "namespace tests skipped: they need root (ip netns add, veth pairs)";

/** Something a group of tests needs from the machine: a file or a command on PATH, and its package. */
export interface Need {
  /** An absolute path that must exist, or a command name looked up on PATH. */
  file: string;
  /** The Debian package that provides it (named in the skip reason). */
  pkg: string;
}

function found(file: string): boolean {
  const candidates = file.startsWith("/")
    ? [file]
    : (Deno.env.get("PATH") ?? "").split(":").filter((d) => d).map((d) => `${d}/${file}`);
  return candidates.some((p) => {
    try {
      return Deno.statSync(p).isFile;
    } catch {
      return false;
    }
  });
}

/**
 * Why the tests of `what` cannot run on this machine — not root, or the first missing need —
 * or null when they can. The reason is printed once, so a skipped test always says why.
 */
export function skipReason(what: string, needs: readonly Need[] = []): string | null {
  const missing = needs.find((n) => !found(n.file));
  const reason = !IS_ROOT
    ? `${what} skipped: they need root (ip netns add, veth pairs)`
    : missing
    ? `${what} skipped: ${missing.file} is missing (apt-get install ${missing.pkg})`
    : null;
  if (reason) console.warn(`%c${reason}`, "color: yellow");
  return reason;
}
if (!IS_ROOT) console.warn(`%c${SKIP_REASON}`, "color: yellow");
