/**
 * Logging to stderr or to `logFile`, never to stdout (stdout carries only the result or the error
 * JSON). Every line names the invocation: command, pod (`namespace/name` from CNI_ARGS when the
 * runtime sends it), container and interface. Logging never fails the plugin, never blocks it and
 * never writes through a path someone else controls:
 *
 * - `logFile` is used only as a regular file owned by root (this user), with one link, in a real
 *   directory that only root can write, below directories that only root can write (or sticky
 *   ones, like /tmp), with no symlink on the way but root's in root-only directories (see
 *   trusted_dir.ts); a missing directory is created (0700), one at a time. A symlink, FIFO,
 *   socket, device or directory at the name, or a directory others can write, is never opened or
 *   followed: the lines go to stderr, after ONE warning line saying why.
 * - A file larger than its bound is moved to `<logFile>.1`; something at `<logFile>.1` that is not
 *   a file (a directory) makes it fall back to stderr the same way, never silently unrotated.
 * - One invocation writes at most MAX_LOG_BYTES_PER_RUN (errors a little more), then one line
 *   saying that the rest is dropped: a pod's annotation cannot flood the node's log.
 */
import type { LogLevel } from "./log_level.ts";
import { checkTrustedDir, isOurs } from "./trusted_dir.ts";

export type { LogLevel };

/** The most one invocation logs (stderr or file) before dropping lines; errors get ERROR_ROOM more. */
export const MAX_LOG_BYTES_PER_RUN = 256 * 1024;

/** Room past MAX_LOG_BYTES_PER_RUN kept for errors (DEL's failures, the final error). */
const ERROR_ROOM = 64 * 1024;

const RANK: Record<LogLevel | "warn", number> = { error: 0, warn: 0, info: 1, debug: 2 };

/** Where lines go when there is no log file (stderr; a parameter so tests can capture it). */
export type LineSink = (line: string) => void;

/** Writes to the process's stderr, dropping what cannot be written. */
export function stderrSink(line: string): void {
  try {
    Deno.stderr.writeSync(new TextEncoder().encode(line));
  } catch {
    // Dropped on purpose: nowhere left to say it.
  }
}

/** What a Logger is built from. */
export interface LoggerOptions {
  level?: LogLevel;
  /** Absolute path of the log file; stderr when absent. */
  file?: string | undefined;
  /** Rotate the file to `<file>.1` before it grows past this many bytes; 0 never. */
  maxBytes?: number;
  /** Names the invocation in every line, e.g. `ADD default/web-0 3f2a…/net1`. */
  tag?: string;
  /** Where lines go without a file, and where file trouble is reported. */
  stderr?: LineSink;
}

/**
 * The tag of an invocation from its raw CNI environment, read before anything is validated so
 * that even an environment or config error names its pod: `ADD default/web-0 c1/net1`.
 */
export function invocationTag(getEnv: (name: string) => string | undefined): string {
  const clean = (v: string | undefined) => (v ?? "").replace(/[^\x21-\x7e]/g, "?").slice(0, 128);
  const args = new Map<string, string>();
  for (const pair of (getEnv("CNI_ARGS") ?? "").split(";")) {
    const eq = pair.indexOf("=");
    if (eq > 0) args.set(pair.slice(0, eq), pair.slice(eq + 1));
  }
  const parts = [clean(getEnv("CNI_COMMAND")) || "-"];
  const ns = clean(args.get("K8S_POD_NAMESPACE"));
  const pod = clean(args.get("K8S_POD_NAME"));
  if (ns || pod) parts.push(`${ns || "-"}/${pod || "-"}`);
  const container = clean(getEnv("CNI_CONTAINERID"));
  const ifname = clean(getEnv("CNI_IFNAME"));
  if (container || ifname) parts.push(`${container || "-"}/${ifname || "-"}`);
  return parts.join(" ");
}

function dirname(path: string): string {
  const i = path.lastIndexOf("/");
  return i <= 0 ? "/" : path.slice(0, i);
}

/** Why a logFile cannot be used (thrown by the checks below, said once in the warning). */
class UnsafeLogPath extends Error {}

/**
 * Opens `file` for appending when it is safe (see the module doc), creating it (0600) when it
 * is missing; throws UnsafeLogPath or a Deno error otherwise. Never opens anything but a regular
 * file: the name is looked at with lstat first, which nobody else can change in a checked
 * directory, and the opened file is checked again.
 */
function openLogFile(file: string): Deno.FsFile {
  checkTrustedDir(dirname(file));
  let existing: Deno.FileInfo | null = null;
  try {
    existing = Deno.lstatSync(file);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  if (existing && !existing.isFile) {
    const what = existing.isSymlink
      ? "a symbolic link"
      : existing.isDirectory
      ? "a directory"
      : "not a regular file (a FIFO, socket or device)";
    throw new UnsafeLogPath(`${file} is ${what}`);
  }
  const handle = existing
    ? Deno.openSync(file, { append: true })
    : Deno.openSync(file, { append: true, createNew: true, mode: 0o600 });
  try {
    const st = handle.statSync();
    const problem = !st.isFile
      ? "is not a regular file"
      : !isOurs(st.uid)
      ? `is owned by uid ${st.uid}`
      : (st.nlink ?? 1) !== 1
      ? `has ${st.nlink} hard links`
      : ((st.mode ?? 0) & 0o022) !== 0
      ? `is writable by group or others (mode ${((st.mode ?? 0) & 0o7777).toString(8)}): ` +
        "anyone could write lines that look like the plugin's"
      : existing && existing.ino !== st.ino
      ? "was replaced while it was opened"
      : null;
    if (problem) throw new UnsafeLogPath(`${file} ${problem}`);
    return handle;
  } catch (e) {
    handle.close();
    throw e;
  }
}

/** A leveled logger tagged with the invocation it works for. */
export class Logger {
  level: LogLevel;
  /** The log file in use; undefined once it failed (then lines go to stderr). */
  file: string | undefined;
  tag: string;
  private handle: Deno.FsFile | undefined;
  private readonly maxBytes: number;
  private readonly stderr: LineSink;
  private readonly start = performance.now();
  /** Bytes this invocation has logged, and whether the drop notice was written. */
  private written = 0;
  private capped = false;

  constructor(options: LoggerOptions = {}) {
    this.level = options.level ?? "error";
    this.tag = options.tag ?? "";
    this.maxBytes = options.maxBytes ?? 0;
    this.stderr = options.stderr ?? stderrSink;
    this.file = options.file;
    if (this.file) {
      try {
        // One at a time below directories that passed, so none is made where a link points.
        checkTrustedDir(dirname(this.file), { create: true, laxLast: true });
      } catch (e) {
        this.fallBack(`cannot create the directory of logFile ${this.file}`, e);
        return;
      }
      this.open();
    }
  }

  /** Closes the log file (the logger writes to stderr from then on, without a warning). */
  close(): void {
    try {
      this.handle?.close();
    } catch { /* closed already */ }
    this.handle = undefined;
    this.file = undefined;
  }

  /** True when messages of `level` are written (to skip building ones that would be dropped). */
  enabled(level: LogLevel): boolean {
    return RANK[level] <= RANK[this.level];
  }

  private line(level: string, msg: string): string {
    const ms = (performance.now() - this.start).toFixed(1);
    return `${new Date().toISOString()} ${level.toUpperCase()} [${this.tag}] +${ms}ms ${msg}\n`;
  }

  /** Opens the file (again, after a rotation), or falls back to stderr saying why. */
  private open(): void {
    if (!this.file) return;
    try {
      this.handle = openLogFile(this.file);
    } catch (e) {
      this.fallBack(`cannot use logFile ${this.file}`, e);
    }
  }

  /** Stops using the file and says why on stderr, once. */
  private fallBack(what: string, e: unknown): void {
    const why = e instanceof Error ? e.message : String(e);
    this.file = undefined;
    try {
      this.handle?.close();
    } catch { /* closed already */ }
    this.handle = undefined;
    this.stderr(this.line("warn", `${what} (${why}); logging to stderr`));
  }

  /**
   * Moves the file to `<file>.1` when `adding` more bytes would pass the bound, and opens a new
   * one. Another invocation may have rotated it first: then the new file is opened, not moved.
   */
  private rotate(adding: number): void {
    if (!this.file || !this.handle || this.maxBytes <= 0) return;
    if (this.handle.statSync().size + adding <= this.maxBytes) return;
    const old = `${this.file}.1`;
    let there: Deno.FileInfo | null = null;
    try {
      there = Deno.lstatSync(old);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    // rename() replaces a file or a symlink (the link itself, never what it points to).
    if (there && !there.isFile && !there.isSymlink) {
      throw new UnsafeLogPath(`cannot rotate: ${old} is not a regular file`);
    }
    let ours = false;
    try {
      ours = Deno.lstatSync(this.file).ino === this.handle.statSync().ino;
    } catch { /* gone: rotated by another invocation */ }
    if (ours) Deno.renameSync(this.file, old);
    this.handle.close();
    this.handle = undefined;
    this.handle = openLogFile(this.file);
  }

  private write(level: LogLevel | "warn", msg: string): void {
    if (RANK[level] > RANK[this.level]) return;
    let line = this.line(level, msg);
    const limit = MAX_LOG_BYTES_PER_RUN + (level === "error" ? ERROR_ROOM : 0);
    if (this.written + line.length > limit) {
      if (this.capped) return;
      this.capped = true;
      line = this.line(
        "warn",
        `this invocation logged ${this.written} bytes, its limit: later lines are dropped`,
      );
    }
    this.written += line.length;
    if (this.file && this.handle) {
      try {
        const bytes = new TextEncoder().encode(line);
        this.rotate(bytes.length);
        let rest = bytes;
        while (rest.length > 0) rest = rest.subarray(this.handle.writeSync(rest));
        return;
      } catch (e) {
        this.fallBack(`cannot write logFile ${this.file}`, e);
      }
    }
    this.stderr(line);
  }

  /**
   * Counts `text` written elsewhere for this invocation (a warning's copy on stderr) against the
   * per-run budget; false, and nothing counted, when it does not fit.
   */
  spend(text: string): boolean {
    if (this.written + text.length > MAX_LOG_BYTES_PER_RUN) return false;
    this.written += text.length;
    return true;
  }

  /** Logs an error. */
  error(msg: string): void {
    this.write("error", msg);
  }
  /** Logs a warning (always written, as errors are). */
  warn(msg: string): void {
    this.write("warn", msg);
  }
  /** Logs what the plugin did. */
  info(msg: string): void {
    this.write("info", msg);
  }
  /** Logs details and timings. */
  debug(msg: string): void {
    this.write("debug", msg);
  }
}
