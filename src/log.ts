/**
 * Logging to stderr or to `logFile`, never to stdout (stdout carries only the result or the error
 * JSON). Every line names the invocation: command, pod (`namespace/name` from CNI_ARGS when the
 * runtime sends it), container and interface. A `logFile` whose directory is missing gets it
 * (mode 0700); one that cannot be written falls back to stderr with a warning; a file larger than
 * its bound is rotated to `<logFile>.1`. Logging never fails the plugin.
 */
/** Log verbosity. */
export type LogLevel = "error" | "info" | "debug";

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

/** A leveled logger tagged with the invocation it works for. */
export class Logger {
  level: LogLevel;
  /** The log file in use; undefined once it failed (then lines go to stderr). */
  file: string | undefined;
  tag: string;
  private readonly maxBytes: number;
  private readonly stderr: LineSink;
  private readonly start = performance.now();

  constructor(options: LoggerOptions = {}) {
    this.level = options.level ?? "error";
    this.tag = options.tag ?? "";
    this.maxBytes = options.maxBytes ?? 0;
    this.stderr = options.stderr ?? stderrSink;
    this.file = options.file;
    if (this.file) {
      try {
        Deno.mkdirSync(dirname(this.file), { recursive: true, mode: 0o700 });
      } catch (e) {
        this.fallBack(`cannot create the directory of logFile ${this.file}`, e);
      }
    }
  }

  /** True when messages of `level` are written (to skip building ones that would be dropped). */
  enabled(level: LogLevel): boolean {
    return RANK[level] <= RANK[this.level];
  }

  private line(level: string, msg: string): string {
    const ms = (performance.now() - this.start).toFixed(1);
    return `${new Date().toISOString()} ${level.toUpperCase()} [${this.tag}] +${ms}ms ${msg}\n`;
  }

  /** Stops using the file and says why on stderr. */
  private fallBack(what: string, e: unknown): void {
    const why = e instanceof Error ? e.message : String(e);
    this.file = undefined;
    this.stderr(this.line("warn", `${what} (${why}); logging to stderr`));
  }

  /** Moves the file to `<file>.1` when `adding` more bytes would pass the bound. */
  private rotate(adding: number): void {
    if (!this.file || this.maxBytes <= 0) return;
    let size: number;
    try {
      size = Deno.statSync(this.file).size;
    } catch {
      return; // no file yet
    }
    if (size + adding <= this.maxBytes) return;
    try {
      Deno.renameSync(this.file, `${this.file}.1`);
    } catch {
      // Another invocation rotated it first, or it cannot be moved: keep appending.
    }
  }

  private write(level: LogLevel | "warn", msg: string): void {
    if (RANK[level] > RANK[this.level]) return;
    const line = this.line(level, msg);
    if (this.file) {
      try {
        const bytes = new TextEncoder().encode(line);
        this.rotate(bytes.length);
        Deno.writeFileSync(this.file, bytes, { append: true, create: true, mode: 0o600 });
        return;
      } catch (e) {
        this.fallBack(`cannot write logFile ${this.file}`, e);
      }
    }
    this.stderr(line);
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
