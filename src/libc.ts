/**
 * libc through Deno's FFI, loaded once per run: the functions spawn.ts starts and talks to `ip`
 * with, and `nothingAt`, a look at a path that costs no thrown error when nothing is there (a cold
 * run's first thrown op error costs ~0.7 ms). Without glibc, `libc()` is null and callers fall
 * back to Deno's APIs.
 */

/**
 * The libc functions spawn.ts uses, as few as will do: the parent's pipe ends stay blocking (no
 * fcntl: poll says when a read, or a write of at most PIPE_BUF bytes, cannot block), and the
 * posix_spawnattr_t is filled in directly (spawn.ts's `spawnAttr`).
 */
const SYMBOLS = {
  pipe2: { parameters: ["buffer", "i32"], result: "i32" },
  posix_spawn_file_actions_init: { parameters: ["buffer"], result: "i32" },
  posix_spawn_file_actions_adddup2: { parameters: ["buffer", "i32", "i32"], result: "i32" },
  posix_spawn_file_actions_destroy: { parameters: ["buffer"], result: "i32" },
  posix_spawnp: {
    parameters: ["buffer", "buffer", "buffer", "buffer", "buffer", "pointer"],
    result: "i32",
  },
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  close: { parameters: ["i32"], result: "i32" },
  poll: { parameters: ["buffer", "u64", "i32"], result: "i32" },
  waitpid: { parameters: ["i32", "buffer", "i32"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

/** statx (glibc 2.28): used when found, for `nothingAt`. */
const STATX = { parameters: ["i32", "buffer", "i32", "u32", "buffer"], result: "i32" } as const;

/** libc's functions, and what is optional. */
export type Libc = { [K in keyof typeof SYMBOLS]: Deno.UnsafeFnPointer<(typeof SYMBOLS)[K]> } & {
  /** Where libc's `environ` is (its value, the environment's `char **`, is read at each spawn). */
  environ: Deno.PointerValue;
  statx: Deno.UnsafeFnPointer<typeof STATX> | null;
};

/**
 * What `Deno.dlopen` binds: only dlsym, and the rest are looked up with it in the process's global
 * scope, where libc already is (a function pointer from dlsym costs ~0.05 ms). dlsym is in
 * libc.so.6 since glibc 2.34, in libdl.so.2 before. A symbol bound to run on the calling thread
 * costs ~1.5 ms more to bind than one bound `nonblocking` (Deno compiles a fast-call trampoline
 * for it), so `preloadLibc` binds the nonblocking kind: its lookups run on Deno's blocking-task
 * threads while the plugin reads stdin and its config.
 */
const DLSYM = { dlsym: { parameters: ["pointer", "buffer"], result: "pointer" } } as const;
const DLSYM_ASYNC = {
  dlsym: { parameters: ["pointer", "buffer"], result: "pointer", nonblocking: true },
} as const;

/** Where dlsym is looked for (see DLSYM). */
let dlsymLibs: readonly string[] = ["libc.so.6", "libdl.so.2"];
let loaded: Libc | null | undefined;
let preloading: Promise<void> | undefined;

/** Tests only: the library loaded next (a bad name exercises the fallback). */
export function useLibcForTest(name: string): void {
  dlsymLibs = name === "libc.so.6" ? ["libc.so.6", "libdl.so.2"] : [name];
  loaded = undefined;
  preloading = undefined;
}

/** libc's functions, loaded once on first use; null when they cannot be. */
export function libc(): Libc | null {
  if (loaded === undefined) {
    const dlsym = openLibc(DLSYM)?.dlsym;
    loaded = dlsym ? assemble((name) => dlsym(null, cstr(name))) : null;
  }
  return loaded;
}

/**
 * Loads libc's functions ahead of the first `spawnChild`, their lookups off the main thread: a
 * command that will run `ip` starts this first and awaits it before it needs the child. Never
 * rejects: when libc cannot be loaded, `spawnChild` returns null as it would have.
 */
export function preloadLibc(): Promise<void> {
  preloading ??= (async () => {
    const dlsymAsync = loaded === undefined ? openLibc(DLSYM_ASYNC)?.dlsym : undefined;
    if (!dlsymAsync) return;
    // One call off the thread finds dlsym itself; through its pointer, the rest are looked up
    // on this thread without a trampoline.
    const self = await dlsymAsync(null, cstr("dlsym"));
    if (!self) return;
    const dlsym = new Deno.UnsafeFnPointer(
      self as Deno.PointerObject<typeof DLSYM.dlsym>,
      DLSYM.dlsym,
    );
    // A synchronous load that ran meanwhile (a test) wins.
    loaded ??= assemble((name) => dlsym.call(null, cstr(name)));
  })().catch(() => {
    loaded ??= null;
  });
  return preloading;
}

/** `def`'s symbols from the first of `dlsymLibs` that has them; null when none does. */
function openLibc<D extends Deno.ForeignLibraryInterface>(
  def: D,
): Deno.DynamicLibrary<D>["symbols"] | null {
  for (const lib of dlsymLibs) {
    try {
      return Deno.dlopen(lib, def).symbols;
    } catch { /* older glibc: next */ }
  }
  return null;
}

/** libc's functions found by `lookup` (dlsym, RTLD_DEFAULT); null when one is missing. */
function assemble(lookup: (name: string) => Deno.PointerValue): Libc | null {
  const fns: Record<string, unknown> = {};
  for (const [name, def] of Object.entries(SYMBOLS)) {
    const p = lookup(name);
    if (!p) return null;
    fns[name] = new Deno.UnsafeFnPointer(p as Deno.PointerObject<typeof def>, def);
  }
  fns.environ = lookup("environ");
  const statx = lookup("statx");
  fns.statx = statx
    ? new Deno.UnsafeFnPointer(statx as Deno.PointerObject<typeof STATX>, STATX)
    : null;
  return fns as unknown as Libc;
}

/** `s` as a NUL-terminated C string. */
export function cstr(s: string): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(`${s}\0`);
}

/** errno of the libc call that just failed. */
export function errno(c: Libc): number {
  const p = c.__errno_location.call();
  return p ? new Deno.UnsafePointerView(p).getInt32() : 0;
}

const AT_FDCWD = -100;
const AT_SYMLINK_NOFOLLOW = 0x100;
const ENOENT = 2;
/** struct statx is 256 bytes; only the call's result is read. */
const STATX_BYTES = 256;

/**
 * True only when nothing is at `path` (no file, directory or link: statx, not following a
 * link, says ENOENT). False when something is there or libc cannot tell (no libc, a path with a
 * NUL byte, another error): then the caller looks with Deno's APIs as it would have. It never
 * loads libc itself: a load on this thread (~4 ms) costs more than the NotFound it saves
 * (~0.7 ms), so a command that did not preload it (GC, which spawns nothing) looks the old way.
 */
export function nothingAt(path: string): boolean {
  const c = loaded;
  if (!c?.statx || path.includes("\0")) return false;
  const r = c.statx.call(AT_FDCWD, cstr(path), AT_SYMLINK_NOFOLLOW, 0, new Uint8Array(STATX_BYTES));
  return r !== 0 && errno(c) === ENOENT;
}
