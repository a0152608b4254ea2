/**
 * Logging to stderr or to `logFile`, never to stdout (stdout carries only the result or the error
 * JSON). A log that cannot be written is dropped: logging never fails the plugin.
 */
/** Log verbosity. */
export type LogLevel = "error" | "info" | "debug";

const RANK: Record<LogLevel, number> = { error: 0, info: 1, debug: 2 };

/** A leveled logger tagged with the attachment it works for. */
export class Logger {
  level: LogLevel;
  file: string | undefined;
  tag: string;
  private readonly start = performance.now();

  constructor(level: LogLevel = "error", file?: string, tag = "") {
    this.level = level;
    this.file = file;
    this.tag = tag;
  }

  /** True when messages of `level` are written (to skip building ones that would be dropped). */
  enabled(level: LogLevel): boolean {
    return RANK[level] <= RANK[this.level];
  }

  private write(level: LogLevel, msg: string): void {
    if (!this.enabled(level)) return;
    const ms = (performance.now() - this.start).toFixed(1);
    const line = `${
      new Date().toISOString()
    } ${level.toUpperCase()} [${this.tag}] +${ms}ms ${msg}\n`;
    try {
      if (this.file) Deno.writeTextFileSync(this.file, line, { append: true, create: true });
      else Deno.stderr.writeSync(new TextEncoder().encode(line));
    } catch {
      // Dropped on purpose: a full disk or a bad logFile must not fail pod networking.
    }
  }

  /** Logs an error. */
  error(msg: string): void {
    this.write("error", msg);
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
