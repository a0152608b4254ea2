/**
 * ip.ts's process runner: starts a child with pipes on its stdin, stdout and stderr through libc
 * (FFI: posix_spawnp, poll, read, write, waitpid), so a run of the plugin never loads
 * the web streams `Deno.Command` needs (~10 ms of a ~60 ms run). Only ip.ts imports it. When libc
 * cannot be loaded (no such library or symbol), `spawnChild` returns null and ip.ts falls back to
 * `Deno.Command`.
 */

import { cstr, errno, type Libc, libc } from "./libc.ts";

const O_CLOEXEC = 0o2000000;
/** The most a write to a pipe that poll found writable takes without blocking. */
const PIPE_BUF = 4096;
const POLLIN = 0x1;
const POLLOUT = 0x4;
const EINTR = 4;
const EAGAIN = 11;
const EPIPE = 32;
const POSIX_SPAWN_SETSIGDEF = 0x04;
const POSIX_SPAWN_SETSIGMASK = 0x08;
/** Larger than glibc's posix_spawn_file_actions_t (80 bytes). */
const OPAQUE_BYTES = 1024;
const CHUNK = 64 * 1024;
/** The most stdout a child may write between two `takeStdout` (V8's longest string is 512 MiB). */
const MAX_STDOUT = 1024 * 1024 * 1024;

/** A failed libc call, with its errno. */
export class SpawnError extends Error {
  /** errno of the failed call. */
  readonly errno: number;
  constructor(what: string, errno: number) {
    super(`${what} failed (errno ${errno})`);
    this.errno = errno;
  }
}

/**
 * A glibc posix_spawnattr_t (its layout is in the public <spawn.h>, fixed by the ABI: short
 * __flags; pid_t __pgrp; sigset_t __sd, __ss; ...; 336 bytes), as posix_spawnattr_init,
 * setsigdefault, setsigmask and setflags would leave it: signals 1-31 but KILL and STOP back to
 * their default action (Deno ignores SIGPIPE, and posix_spawn keeps ignored signals ignored),
 * no signal blocked.
 */
function spawnAttr(): Uint8Array<ArrayBuffer> {
  const attr = new Uint8Array(OPAQUE_BYTES);
  const view = new DataView(attr.buffer);
  view.setInt16(0, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK, true);
  // __sd at offset 8 (after the short and the int): bit n-1 is signal n. __ss (136) stays empty.
  view.setUint32(8, 0x7fffffff & ~(1 << 8) & ~(1 << 18), true);
  return attr;
}

/**
 * `strs` as C strings packed in one new ArrayBuffer, and a NULL-terminated array of pointers to
 * them. The block must stay referenced until the call that reads the pointers returns. It is an
 * ArrayBuffer of its own, so its bytes live outside V8's heap: a small typed array's bytes may be
 * on the heap, where a garbage collection between taking a pointer and the call would move them.
 */
function cStrings(strs: readonly string[]): {
  block: Uint8Array<ArrayBuffer>;
  ptrs: BigUint64Array<ArrayBuffer>;
} {
  const enc = new TextEncoder();
  const parts = strs.map((s) => enc.encode(s));
  let total = 0;
  for (const b of parts) total += b.length + 1;
  const block = new Uint8Array(new ArrayBuffer(total));
  const base = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(block)));
  const ptrs = new BigUint64Array(new ArrayBuffer(8 * (parts.length + 1)));
  let at = 0;
  parts.forEach((b, i) => {
    block.set(b, at); // the NUL after it is the buffer's zero
    ptrs[i] = base + BigInt(at);
    at += b.length + 1;
  });
  return { block, ptrs };
}

/** What a finished child left. */
export interface Finished {
  /** Exit status, or 128 + the signal that ended it. */
  code: number;
  /** What it wrote to stdout (UTF-8, decoded) since the last `takeStdout`. */
  stdout: string;
  /** What it wrote to stderr. */
  stderr: string;
}

/**
 * A running child whose stdin, stdout and stderr are pipes. Every wait pumps all of them with
 * poll, so neither output pipe can fill while the child waits for input (or the reverse).
 */
export class Child implements Disposable {
  /** The child's pid. */
  readonly pid: number;
  #c: Libc;
  #fds: [number, number, number]; // stdin (write end), stdout, stderr (read ends); -1 once closed
  // stdout is read straight into one resizable buffer (only what it holds is resident) and decoded
  // once: a big answer (100+ MB) is held as bytes and then as text, as outputSync would, with no
  // chunk copies nor joined pieces on top. stderr (small) is decoded as it comes.
  #out = new ArrayBuffer(0, { maxByteLength: MAX_STDOUT });
  #outLen = 0;
  #err: string[] = [];
  #errDec = new TextDecoder();
  #newlines = 0;
  #buf = new Uint8Array(CHUNK);
  #reaped: Finished | null = null;

  /** @internal Use `spawnChild`. */
  constructor(c: Libc, pid: number, fds: [number, number, number]) {
    this.#c = c;
    this.pid = pid;
    this.#fds = fds;
  }

  /** Newlines read from stdout since the last `takeStdout`. */
  get stdoutLines(): number {
    return this.#newlines;
  }

  /**
   * Writes all of `data` to the child's stdin. Returns false when the child closed its stdin
   * first (EPIPE: it exited), with the rest unwritten. Each write ends at a newline when one is
   * in reach: a pipe write of at most PIPE_BUF bytes lands whole or not at all, so if the plugin
   * is killed meanwhile the child reads only whole lines, then EOF (`ip -batch` would run a cut
   * last line as it is: "metric 100" cut to "metric 10"). Only a line longer than PIPE_BUF is
   * written in pieces.
   */
  write(data: Uint8Array): boolean {
    return this.writePartly(data) === data.length;
  }

  /** `write`, returning how many bytes of `data` were written (all, or those before EPIPE). */
  writePartly(data: Uint8Array): number {
    let off = 0;
    while (off < data.length) {
      if (this.#fds[0] < 0) return off;
      const ready = this.#pump(true);
      if (!ready) continue;
      let size = Math.min(data.length - off, PIPE_BUF);
      if (off + size < data.length) {
        const nl = data.lastIndexOf(10, off + size - 1);
        if (nl >= off) size = nl + 1 - off;
      }
      const n = Number(this.#c.write.call(this.#fds[0], data.subarray(off), BigInt(size)));
      if (n >= 0) off += n;
      else {
        const e = errno(this.#c);
        if (e === EINTR || e === EAGAIN) continue;
        this.closeStdin();
        if (e === EPIPE) return off;
        throw new SpawnError("write", e);
      }
    }
    return off;
  }

  /** Reads until stdout has `lines` newlines since the last `takeStdout`; false at its EOF. */
  readLines(lines: number): boolean {
    while (this.#newlines < lines) {
      if (this.#fds[1] < 0) return false;
      this.#pump(false);
    }
    return true;
  }

  /** The stdout read so far (and forgets it). */
  takeStdout(): string {
    const all = new TextDecoder().decode(new Uint8Array(this.#out, 0, this.#outLen));
    this.#out.resize(0);
    this.#outLen = 0;
    this.#newlines = 0;
    return all;
  }

  /** Closes the child's stdin (it sees EOF). */
  closeStdin(): void {
    this.#close(0);
  }

  /** Closes stdin, reads stdout and stderr to their end, and reaps the child. */
  wait(): Finished {
    if (this.#reaped) return this.#reaped;
    this.closeStdin();
    while (this.#fds[1] >= 0 || this.#fds[2] >= 0) this.#pump(false);
    const status = new Int32Array(1);
    for (;;) {
      const r = this.#c.waitpid.call(this.pid, status, 0);
      if (r === this.pid) break;
      const e = errno(this.#c);
      if (r < 0 && e === EINTR) continue;
      throw new SpawnError("waitpid", e);
    }
    const s = status[0]!;
    const sig = s & 0x7f;
    this.#reaped = {
      code: sig === 0 ? (s >> 8) & 0xff : 128 + sig,
      stdout: this.takeStdout(),
      stderr: this.#err.join("") + this.#errDec.decode(),
    };
    this.#err = [];
    return this.#reaped;
  }

  /** Closes what is still open and reaps the child (which ends once its stdin is closed). */
  [Symbol.dispose](): void {
    if (this.#reaped) return;
    try {
      this.wait();
    } catch {
      for (const i of [0, 1, 2] as const) this.#close(i);
    }
  }

  /**
   * One poll over the open pipes (stdin only when `writing`); reads what stdout and stderr have.
   * Returns true when stdin can take a write.
   */
  #pump(writing: boolean): boolean {
    const order: (0 | 1 | 2)[] = [];
    for (const i of [0, 1, 2] as const) {
      if (this.#fds[i] >= 0 && (i > 0 || writing)) order.push(i);
    }
    if (order.length === 0) return false;
    const pfd = new DataView(new ArrayBuffer(8 * order.length));
    order.forEach((i, k) => {
      pfd.setInt32(8 * k, this.#fds[i], true);
      pfd.setInt16(8 * k + 4, i === 0 ? POLLOUT : POLLIN, true);
    });
    const r = this.#c.poll.call(new Uint8Array(pfd.buffer), BigInt(order.length), -1);
    if (r < 0) {
      const e = errno(this.#c);
      if (e === EINTR || e === EAGAIN) return false;
      throw new SpawnError("poll", e);
    }
    let writable = false;
    order.forEach((i, k) => {
      const revents = pfd.getInt16(8 * k + 6, true);
      if (revents === 0) return;
      if (i === 0) {
        // POLLOUT, or POLLERR when the child closed its end: the write reports EPIPE.
        writable = true;
        return;
      }
      this.#drain(i);
    });
    return writable;
  }

  /** One read from stdout (1) or stderr (2); closes it at EOF or on an error. */
  #drain(i: 1 | 2): void {
    let into = this.#buf;
    if (i === 1) {
      if (this.#out.byteLength - this.#outLen < CHUNK) {
        const want = Math.max(2 * this.#out.byteLength, this.#outLen + CHUNK);
        if (this.#outLen + CHUNK > MAX_STDOUT) throw new SpawnError("read (stdout too large)", 0);
        this.#out.resize(Math.min(want, MAX_STDOUT));
      }
      into = new Uint8Array(this.#out, this.#outLen, CHUNK);
    }
    const n = Number(this.#c.read.call(this.#fds[i], into, BigInt(CHUNK)));
    if (n > 0) {
      const chunk = into.subarray(0, n);
      if (i === 1) {
        this.#outLen += n;
        for (let at = chunk.indexOf(10); at >= 0; at = chunk.indexOf(10, at + 1)) this.#newlines++;
      } else this.#err.push(this.#errDec.decode(chunk, { stream: true }));
      return;
    }
    if (n < 0) {
      const e = errno(this.#c);
      if (e === EINTR || e === EAGAIN) return;
    }
    this.#close(i);
  }

  #close(i: 0 | 1 | 2): void {
    if (this.#fds[i] < 0) return;
    this.#c.close.call(this.#fds[i]);
    this.#fds[i] = -1;
  }
}

/**
 * Starts `argv` (looked up in PATH, as execvp does) with the parent's environment and pipes on
 * its stdin, stdout and stderr; signals the parent ignores (SIGPIPE) are default again in the
 * child, and none is blocked. Returns null when libc cannot be loaded; throws SpawnError when
 * the child cannot be started (no such program: errno ENOENT).
 */
export function spawnChild(argv: readonly [string, ...string[]]): Child | null {
  const c = libc();
  if (!c) return null;
  const opened: number[] = [];
  const pipe = (): [number, number] => {
    const fds = new Int32Array(2);
    if (c.pipe2.call(fds, O_CLOEXEC) !== 0) throw new SpawnError("pipe2", errno(c));
    opened.push(fds[0]!, fds[1]!);
    return [fds[0]!, fds[1]!];
  };
  const actions = new Uint8Array(OPAQUE_BYTES);
  let actionsReady = false;
  try {
    const [inR, inW] = pipe();
    const [outR, outW] = pipe();
    const [errR, errW] = pipe();
    let r = c.posix_spawn_file_actions_init.call(actions);
    if (r !== 0) throw new SpawnError("posix_spawn_file_actions_init", r);
    actionsReady = true;
    for (const [fd, to] of [[inR, 0], [outW, 1], [errW, 2]] as const) {
      r = c.posix_spawn_file_actions_adddup2.call(actions, fd, to);
      if (r !== 0) throw new SpawnError("posix_spawn_file_actions_adddup2", r);
    }
    const file = cstr(argv[0]);
    const attr = spawnAttr();
    const pid = new Int32Array(1);
    // Both are read by the call, so alive until it runs; their strings are off V8's heap (see
    // cStrings), so a collection while the second is built moves none of the first's.
    const args = cStrings(argv);
    // The process's own environment as libc holds it (Deno.env.set and delete change it there);
    // built from Deno.env only when libc's `environ` was not found.
    const environ = c.environ ? new Deno.UnsafePointerView(c.environ).getPointer() : null;
    const env = environ
      ? null
      : cStrings(Object.entries(Deno.env.toObject()).map(([k, v]) => `${k}=${v}`));
    r = c.posix_spawnp.call(
      pid,
      file,
      actions,
      attr,
      args.ptrs,
      environ ?? Deno.UnsafePointer.of(env!.ptrs),
    );
    if (r !== 0) throw new SpawnError(`posix_spawnp ${argv[0]}`, r);
    for (const fd of [inR, outW, errW]) c.close.call(fd);
    opened.length = 0;
    return new Child(c, pid[0]!, [inW, outR, errR]);
  } finally {
    for (const fd of opened) c.close.call(fd);
    if (actionsReady) c.posix_spawn_file_actions_destroy.call(actions);
  }
}
