/**
 * The one process runner of the tests, the benchmark and the scripts: argv (never a shell), the
 * input on stdin, the output and exit code back, and how long it took.
 */

/** How to run a process. */
export interface RunOptions {
  /** Written to stdin, which is closed after; undefined = no stdin at all. */
  stdin?: string;
  /** Environment variables added to ours, or (with `clearEnv`) the whole environment. */
  env?: Record<string, string>;
  /** Start from an empty environment (as a CNI runtime runs a plugin). */
  clearEnv?: boolean;
  /** Working directory (default: ours). */
  cwd?: string;
  /** Kill the process after this many milliseconds (default: never). */
  timeoutMs?: number;
  /** Called with the child's pid as soon as it runs (to watch /proc/PID, or to signal it). */
  onSpawn?: (pid: number) => void;
}

/** A finished process. */
export interface Run {
  /** Exit code. */
  code: number;
  /** The signal that ended it, or null when it exited. */
  signal: Deno.Signal | null;
  /** Standard output as text. */
  stdout: string;
  /** Standard error as text. */
  stderr: string;
  /** Milliseconds from spawn to exit. */
  ms: number;
}

/** Runs argv and returns its exit code and output; a non-zero exit is not an error here. */
export async function run(argv: readonly string[], opts: RunOptions = {}): Promise<Run> {
  const [cmd, ...args] = argv;
  if (cmd === undefined) throw new Error("run: empty argv");
  const started = performance.now();
  const child = new Deno.Command(cmd, {
    args,
    stdin: opts.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    clearEnv: opts.clearEnv ?? false,
    ...(opts.env ? { env: opts.env } : {}),
    ...(opts.cwd ? { cwd: opts.cwd } : {}),
    ...(opts.timeoutMs ? { signal: AbortSignal.timeout(opts.timeoutMs) } : {}),
  }).spawn();
  opts.onSpawn?.(child.pid);
  if (opts.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(opts.stdin));
    await writer.close();
  }
  const out = await child.output();
  const dec = new TextDecoder();
  return {
    code: out.code,
    signal: out.signal,
    stdout: dec.decode(out.stdout),
    stderr: dec.decode(out.stderr),
    ms: performance.now() - started,
  };
}

/** Runs argv and returns its stdout; throws with its stderr when it exits non-zero. */
export async function must(argv: readonly string[], stdin?: string): Promise<string> {
  const r = await run(argv, stdin === undefined ? {} : { stdin });
  if (r.code !== 0) throw new Error(`${argv.join(" ")} failed (${r.code}): ${r.stderr.trim()}`);
  return r.stdout;
}

/** Runs `ip -n NS ARGS...` and returns its stdout; throws when it fails. */
export function ipIn(ns: string, ...args: string[]): Promise<string> {
  return must(["ip", "-n", ns, ...args]);
}

/** True when `cmd ARGS` runs and exits 0 (a probe for an optional tool). */
export async function succeeds(argv: readonly string[]): Promise<boolean> {
  try {
    return (await run(argv)).code === 0;
  } catch {
    return false;
  }
}
