/**
 * With its runner (spawn.ts), the only module that starts processes: the `ip` argv for a pod's
 * netns, ADD's one `ip -j -batch -` that reads the pod's routes and addresses and then applies the
 * plan (`PodSession`), CHECK's read, DEL's `ip -force -batch -`, and the STATUS probe. A netns
 * path becomes `ip -n NAME` for /var/run/netns and /run/netns names, and `nsenter --net=PATH ip`
 * for any other path (e.g. /proc/PID/ns/net). It decides no route.
 */
import { CniError, ErrorCode } from "./cni/errors.ts";
import { type RouteOp, routeOpArgs } from "./route.ts";
import {
  exactReadBatch,
  fastReadBatch,
  parseExactSnapshot,
  parseFastRead,
  parseSnapshot,
  type PodSnapshot,
  READ_BATCH,
  READ_FLAGS,
} from "./snapshot.ts";
import { nothingAt } from "./libc.ts";
import { type Child, type Finished, spawnChild, SpawnError } from "./spawn.ts";
import type { NetnsId } from "./state.ts";

/** A failed `ip -batch`: which operation the kernel refused and what `ip` said. */
export class RouteChangeError extends CniError {
  /** Index in the op list of the refused operation (-1 when unknown). */
  readonly failedIndex: number;
  constructor(msg: string, details: string, failedIndex: number) {
    super(ErrorCode.RouteRefused, msg, details);
    this.failedIndex = failedIndex;
  }
}

const NETNS_NAME = /^\/(?:var\/)?run\/netns\/([^/]+)$/;

/** The argv prefix that runs `ip` inside the netns at `netnsPath`. */
export function ipArgv(netnsPath: string): [string, ...string[]] {
  const m = NETNS_NAME.exec(netnsPath);
  return m?.[1] ? ["ip", "-n", m[1]] : ["nsenter", `--net=${netnsPath}`, "ip"];
}

/** True when the netns path exists. */
export function netnsExists(netnsPath: string): boolean {
  return netnsIdentity(netnsPath) !== null;
}

/** The identity (nsfs device and inode) of the namespace at a netns path; null when it is gone. */
export function netnsIdentity(netnsPath: string): NetnsId | null {
  try {
    const st = Deno.statSync(netnsPath);
    return { dev: st.dev, ino: st.ino ?? 0 };
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw new CniError(ErrorCode.NetnsUnreachable, `cannot stat CNI_NETNS ${netnsPath}`, String(e));
  }
}

/** Name prefix and suffix of the temp batch files in `$TMPDIR`. */
const TEMP_BATCH_PREFIX = "seamless-static-route-";
const TEMP_BATCH_SUFFIX = ".batch";

/**
 * A temp batch file older than this is stale: no run of the plugin lives that long (its longest
 * wait is 300 s), so the plugin that made it was killed before it could remove it.
 */
export const STALE_BATCH_SECONDS = 15 * 60;

/**
 * Removes this user's stale temp batch files (`$TMPDIR/seamless-static-route-*.batch`, regular
 * files older than STALE_BATCH_SECONDS) that a killed plugin left behind; returns their paths.
 */
export function sweepStaleBatchFiles(now: number = Date.now()): string[] {
  const dir = (Deno.env.get("TMPDIR") || "/tmp").replace(/\/+$/, "") || "/";
  const removed: string[] = [];
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(dir)];
  } catch {
    return removed; // no temp dir: nothing was left there
  }
  for (const e of entries) {
    if (!e.isFile || !e.name.startsWith(TEMP_BATCH_PREFIX) || !e.name.endsWith(TEMP_BATCH_SUFFIX)) {
      continue;
    }
    const path = `${dir}/${e.name}`;
    try {
      const st = Deno.lstatSync(path);
      const age = now - (st.mtime?.getTime() ?? now);
      if (!st.isFile || st.uid !== Deno.uid() || age < STALE_BATCH_SECONDS * 1000) continue;
      Deno.removeSync(path);
      removed.push(path);
    } catch { /* gone meanwhile */ }
  }
  return removed;
}

interface Output {
  code: number;
  stdout: string;
  stderr: string;
}

/** "Command failed -:N" (ip's stdin, N counting every line of the session) as "batch:N-skip". */
function opNumbers(stderr: string, skip: number): string {
  return stderr.replace(/^Command failed -:(\d+)$/gm, (_, n) => `Command failed batch:${n - skip}`);
}

/** Starts `argv` (an IoFailure when it cannot be); null when libc is not usable (the fallback). */
function start(argv: readonly [string, ...string[]]): Child | null {
  try {
    return spawnChild(argv);
  } catch (e) {
    throw new CniError(ErrorCode.IoFailure, `cannot run ${argv[0]}`, String(e));
  }
}

/**
 * Runs `argv` (ending in `-batch`) with `batch` on its stdin (`-batch -`), through the FFI
 * runner, or writes it to `started` (that `argv`, started earlier); without libc, `runIpFile`
 * does it.
 */
function runIp(
  argv: readonly [string, ...string[]],
  batch: string,
  started?: Child | null,
): Output {
  const child = started ?? start([...argv, "-"]);
  if (!child) return runIpFile(argv, batch);
  using _child = child;
  try {
    child.write(new TextEncoder().encode(batch));
    return finished(child.wait(), 0);
  } catch (e) {
    throw new CniError(ErrorCode.IoFailure, `cannot run ${argv[0]}`, String(e));
  }
}

/** A child's status and output; `skip` session lines came before its batch (renumbered past). */
function finished(out: Finished, skip: number): Output {
  return { code: out.code, stdout: out.stdout, stderr: opNumbers(out.stderr.trim(), skip) };
}

/** Lines in the first chunk of a plan's batch: `ip` applies them while the rest are built. */
const FIRST_CHUNK = 16;
/** Lines in each later chunk. */
const CHUNK_LINES = 64;

/**
 * Writes the lines of `ops` to a started `ip -batch -`, closes its stdin and waits for it. Each
 * line is built (and validated) as it is needed, in chunks, so `ip` applies the first lines while
 * the plugin builds the next; `lines` gets the lines `ip` was given. `skip` session lines came
 * before. `then` runs while `ip` applies (see `WhileApplying`). A line that cannot be built, or a
 * hook that throws, ends `ip` after the lines it has and is thrown as a PartlyAppliedError saying
 * how many it applied. With `guard` (ADD's batch file) the running `ip`'s identity is recorded
 * there until it exited: if the plugin dies meanwhile, the file names the `ip` still applying
 * lines for `stopPendingBatch`; and a failure of the child itself is a PartlyAppliedError too
 * (any line it was given may have landed).
 */
function applyLines(
  child: Child,
  ops: readonly RouteOp[],
  lines: string[],
  skip: number,
  guard?: string,
  then: WhileApplying = {},
  what = "ip",
): Output {
  if (guard) guardChild(child, guard);
  try {
    let open = writeLines(child, ops, lines);
    // Called whatever ip did with the first ops: the caller's plan is whole after it.
    const more = then.more?.() ?? [];
    if (open && more.length > 0) open = writeLines(child, more, lines);
    if (open) then.meanwhile?.();
    return finished(child.wait(), skip);
  } catch (e) {
    let out: Output | null = null;
    try {
      out = finished(child.wait(), skip); // ip applies the lines it has, then sees their end
    } catch { /* the error below is what the caller needs */ }
    if (e instanceof SpawnError || !out) {
      if (!guard) throw new CniError(ErrorCode.IoFailure, `cannot run ${what}`, String(e));
      // It may have applied any of the lines it was given.
      const failed = new RouteChangeError("ip failed while it applied the batch", String(e), -1);
      throw new PartlyAppliedError(lines.length, failed);
    }
    // A line that could not be built, or a hook that failed: ip applied the lines it was given
    // up to the one it refused, if any.
    const refused = out.code === 0 ? -1 : refusedIndex(out.stderr);
    throw new PartlyAppliedError(refused >= 0 ? refused : lines.length, e);
  } finally {
    if (guard) removeGuard(guard);
  }
}

/**
 * A failure while `ip` applied a batch that was not `ip`'s (a line that could not be built, a
 * `WhileApplying` hook that threw), once `ip` ended: how many of the ops it was given it may
 * have applied (those before the line it refused, else all it was given), and the failure.
 */
export class PartlyAppliedError extends Error {
  /** Ops from the start of the batch that `ip` may have applied. */
  readonly applied: number;
  constructor(applied: number, cause: unknown) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
    this.applied = applied;
  }
}

/** The index (from 0) of the batch line `ip` names as failed, or -1. */
function refusedIndex(stderr: string): number {
  const m = /Command failed batch:(\d+)$/m.exec(stderr);
  return m ? Number(m[1]) - 1 : -1;
}

/** What ADD does while `ip` applies its lines. */
export interface WhileApplying {
  /**
   * The plan's next ops, made while `ip` applies the first (ADD plans the rest of a long plan):
   * called once the first ops are written, whatever `ip` did with them.
   */
  more?: () => readonly RouteOp[];
  /** Runs once every line is written (ADD makes its output). */
  meanwhile?: () => void;
}

/**
 * Builds the lines of `ops` (appended to `lines`) and writes them to `child` in chunks; false
 * once the child exited (it stopped at a refused line: its status says which).
 */
function writeLines(child: Child, ops: readonly RouteOp[], lines: string[]): boolean {
  const enc = new TextEncoder();
  for (let at = 0, size = FIRST_CHUNK; at < ops.length; at += size, size = CHUNK_LINES) {
    // A chunk is built whole before any of it is written: `lines` holds what ip was given.
    const chunk: string[] = [];
    for (let i = at; i < at + size && i < ops.length; i++) {
      chunk.push(routeOpArgs(ops[i]!).join(" "));
    }
    const bytes = enc.encode(chunk.join("\n") + "\n");
    const written = child.writePartly(bytes);
    if (written === bytes.length) {
      for (const line of chunk) lines.push(line);
      continue;
    }
    // ip ended: the lines it was given are those written, the last one maybe in part.
    let given = 0;
    for (let i = 0; i < written; i++) if (bytes[i] === 10) given++;
    if (written > 0 && bytes[written - 1] !== 10) given++;
    for (let i = 0; i < given; i++) lines.push(chunk[i]!);
    return false;
  }
  return true;
}

/**
 * Records `child`'s identity (pid, start time, command name) in `guard`, a new 0600 file; when
 * that fails, the child is ended (its stdin closed: it applied nothing) and an IoFailure thrown.
 */
function guardChild(child: Child, guard: string): void {
  try {
    const id = procIdentity(child.pid);
    if (!id) throw new Error(`ip (pid ${child.pid}) exited at once`);
    Deno.writeTextFileSync(guard, `${child.pid} ${id.start} ${id.comm}\n`, {
      createNew: true,
      mode: 0o600,
    });
  } catch (e) {
    child.closeStdin();
    child.wait();
    throw new CniError(ErrorCode.IoFailure, "cannot write the ip batch file", String(e));
  }
}

function removeGuard(guard: string): void {
  try {
    Deno.removeSync(guard);
  } catch { /* already gone */ }
}

/** A process's start time (field 22 of /proc/PID/stat), name and state; null when it is gone. */
function procIdentity(pid: number): { start: string; comm: string; state: string } | null {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const open = stat.indexOf("(");
    const close = stat.lastIndexOf(")");
    const fields = stat.slice(close + 2).split(" "); // fields[0] is field 3
    const start = fields[19];
    if (open < 0 || close < open || !start) return null;
    return { start, comm: stat.slice(open + 1, close), state: fields[0] ?? "" };
  } catch {
    return null;
  }
}

/**
 * The fallback of `runIp` when libc cannot be loaded: the batch goes through a private file,
 * whose path is appended to `argv`, and `ip` runs with `Deno.Command`'s `outputSync`. The file is
 * a new temp file, or `at` (created exclusively, 0600): an `ip` holding it open is what
 * `stopPendingBatch` stops then.
 */
function runIpFile(argv: readonly [string, ...string[]], batch: string, at?: string): Output {
  let file: string;
  try {
    if (at) {
      Deno.writeTextFileSync(at, batch, { createNew: true, mode: 0o600 });
      file = at;
    } else {
      file = Deno.makeTempFileSync({ prefix: TEMP_BATCH_PREFIX, suffix: TEMP_BATCH_SUFFIX });
      Deno.writeTextFileSync(file, batch);
    }
  } catch (e) {
    throw new CniError(ErrorCode.IoFailure, "cannot write the ip batch file", String(e));
  }
  try {
    const out = new Deno.Command(argv[0], {
      args: [...argv.slice(1), file],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).outputSync();
    const dec = new TextDecoder();
    return {
      code: out.code,
      stdout: dec.decode(out.stdout),
      // "Command failed /tmp/...batch:4" → "Command failed batch:4": no random path in messages.
      stderr: dec.decode(out.stderr).trim().replaceAll(file, "batch"),
    };
  } catch (e) {
    throw new CniError(ErrorCode.IoFailure, `cannot run ${argv[0]}`, String(e));
  } finally {
    try {
      Deno.removeSync(file);
    } catch { /* already gone: nothing to clean */ }
  }
}

/**
 * ADD's one `ip` process (`ip -j -d -N -batch -`): `read` writes the read lines to its stdin and
 * parses their answers (as often as the caller needs, e.g. while it waits for an address), then
 * `apply` writes the plan's lines into the same process, closes its stdin and waits. Without libc,
 * each call is its own `ip` process (`readPod`, `applyOps`).
 */
export class PodSession implements Disposable {
  #netns: string;
  #child: Child | null | undefined;
  #lines = 0;
  /** The read lines are written, their answers not yet taken (false: `ip` exited first). */
  #asked: boolean | undefined;

  /** A session on the pod at `netnsPath`; `ip` starts at the first read. */
  constructor(netnsPath: string) {
    this.#netns = netnsPath;
  }

  /**
   * Starts `ip` and writes the read lines without waiting for the answers, which the next `read`
   * takes: the plugin validates its config while `ip` starts and reads.
   */
  startRead(): void {
    const child = this.#ip();
    if (child && this.#asked === undefined) this.#asked = this.#ask(child);
  }

  /** Reads the pod's routes and addresses (READ_BATCH) in the session. */
  read(): PodSnapshot {
    const child = this.#ip();
    if (!child) return readPod(this.#netns);
    const lines = READ_BATCH.split("\n").filter((l) => l).length;
    const asked = this.#asked ?? this.#ask(child);
    this.#asked = undefined;
    let answered: boolean;
    try {
      answered = asked && child.readLines(lines);
    } catch (e) {
      throw new CniError(ErrorCode.IoFailure, `cannot run ${ipArgv(this.#netns)[0]}`, String(e));
    }
    if (!answered) {
      // ip stopped at a line it could not run (a namespace it cannot enter): a failed read.
      const out = child.wait();
      throw new CniError(
        ErrorCode.NetnsUnreachable,
        `cannot read routes in pod netns ${this.#netns}`,
        opNumbers(out.stderr.trim(), this.#lines),
      );
    }
    this.#lines += lines;
    try {
      return parseSnapshot(child.takeStdout());
    } catch (e) {
      throw new CniError(ErrorCode.NetnsUnreachable, "cannot parse ip -j output", String(e));
    }
  }

  /** The session's `ip`, started at the first call; null without libc (the fallback). */
  #ip(): Child | null {
    if (this.#child === undefined) {
      this.#child = start([...readArgv(this.#netns, false), "-"]);
    }
    return this.#child;
  }

  /** Writes the read lines; false when `ip` exited first (it could not enter the netns). */
  #ask(child: Child): boolean {
    try {
      return child.write(new TextEncoder().encode(READ_BATCH));
    } catch (e) {
      throw new CniError(ErrorCode.IoFailure, `cannot run ${ipArgv(this.#netns)[0]}`, String(e));
    }
  }

  /**
   * Applies a plan in the session, as `applyOps` does (same errors: the index of a refused line
   * counts the plan's ops only), and ends it. `guard` is ADD's batch file; `then` runs while
   * `ip` applies (see `applyLines`).
   */
  apply(ops: readonly RouteOp[], guard: string, then: WhileApplying = {}): void {
    const child = this.#child;
    if (!child) {
      // Without libc: the whole plan in one ip of its own (a failure before it runs applied none).
      let all = ops;
      try {
        if (then.more) all = [...ops, ...then.more()];
      } catch (e) {
        throw new PartlyAppliedError(0, e);
      }
      if (child === null) applyOps(this.#netns, all, guard);
      else if (all.length > 0) throw new Error("PodSession.apply before read");
      return;
    }
    if (ops.length === 0 && !then.more) {
      child.wait();
      return;
    }
    const lines: string[] = [];
    const what = ipArgv(this.#netns)[0];
    checkApplied(applyLines(child, ops, lines, this.#lines, guard, then, what), lines);
  }

  /** Ends the session's `ip` if it still runs (its stdin closed: it applies nothing more). */
  [Symbol.dispose](): void {
    this.#child?.[Symbol.dispose]();
  }
}

/** Reads the pod's routes and addresses with one `ip -j -batch` call. */
export function readPod(netnsPath: string): PodSnapshot {
  return readWith(netnsPath, READ_BATCH, parseSnapshot);
}

/**
 * Reads the pod's addresses and only its routes to `dsts` (every table), with one `ip -j -batch`
 * call: `ip` filters the kernel's dump, so the plugin's memory does not grow with the pod's table.
 */
export function readPodRoutesTo(netnsPath: string, dsts: readonly string[]): PodSnapshot {
  return readWith(netnsPath, exactReadBatch(dsts), (out) => parseExactSnapshot(out, dsts));
}

/**
 * CHECK's fast read, one `ip -force -j -batch` call: the addresses, the kernel's lookup of each
 * destination in `lookups`, the routes to `dsts` (see `fastReadBatch`). A lookup that finds
 * nothing is no error; an answer that cannot be parsed (a namespace `ip` cannot enter) is.
 */
export function readPodFast(
  netnsPath: string,
  lookups: readonly string[],
  dsts: readonly string[],
  started?: StartedRead,
): PodSnapshot {
  const batch = fastReadBatch(lookups, dsts);
  const parse = (out: string) => parseFastRead(out, lookups, dsts);
  return readWith(netnsPath, batch, parse, true, started?.take(netnsPath));
}

/**
 * The `ip` of CHECK's fast read (`readPodFast`), started on a pod before its lines are known:
 * CHECK starts it while its config is validated, so `ip` starts meanwhile. Disposed unused, it
 * ends (its stdin closed).
 */
export class StartedRead implements Disposable {
  #netns: string;
  #child: Child | null;

  /** Starts it on the pod at `netnsPath` (nothing started without libc). */
  constructor(netnsPath: string) {
    this.#netns = netnsPath;
    this.#child = start([...readArgv(netnsPath, true), "-"]);
  }

  /** The started `ip`, once, when it runs on `netnsPath`; null otherwise. */
  take(netnsPath: string): Child | null {
    if (netnsPath !== this.#netns) return null;
    const child = this.#child;
    this.#child = null;
    return child;
  }

  /** Ends the `ip` if it was not taken. */
  [Symbol.dispose](): void {
    this.#child?.[Symbol.dispose]();
    this.#child = null;
  }
}

/** The argv of a read of the pod (`-force`: every line answered, whatever one before did). */
function readArgv(netnsPath: string, force: boolean): [string, ...string[]] {
  const flags = force ? [...READ_FLAGS, "-force"] : READ_FLAGS;
  return [...ipArgv(netnsPath), ...flags, "-batch"];
}

function readWith(
  netnsPath: string,
  batch: string,
  parse: (stdout: string) => PodSnapshot,
  force = false,
  started?: Child | null,
): PodSnapshot {
  const out = runIp(readArgv(netnsPath, force), batch, started);
  if (out.code !== 0 && (!force || out.stdout === "")) {
    throw new CniError(
      ErrorCode.NetnsUnreachable,
      `cannot read routes in pod netns ${netnsPath}`,
      out.stderr,
    );
  }
  try {
    return parse(out.stdout);
  } catch (e) {
    throw new CniError(ErrorCode.NetnsUnreachable, "cannot parse ip -j output", String(e));
  }
}

/** The batch lines (`route add ...`) for a plan. */
export function batchLines(ops: readonly RouteOp[]): string[] {
  return ops.map((op) => routeOpArgs(op).join(" "));
}

/** The full commands a plan runs, one per op, as `--dry-run` prints them. */
export function commandLines(netnsPath: string, ops: readonly RouteOp[]): string[] {
  const prefix = ipArgv(netnsPath).join(" ");
  return batchLines(ops).map((l) => `${prefix} ${l}`);
}

/**
 * Applies a plan with one `ip -batch` call. `ip` stops at the first refused line; the error
 * names that operation so the caller can restore the snapshot. With `batchFile` (ADD's), the
 * running `ip` is named there (see `runIp`): if the plugin dies while `ip` runs, the file stays
 * for `stopPendingBatch`.
 */
export function applyOps(netnsPath: string, ops: readonly RouteOp[], batchFile?: string): void {
  if (ops.length === 0) return;
  const lines: string[] = [];
  checkApplied(runOps([...ipArgv(netnsPath), "-batch"], ops, lines, batchFile), lines);
}

/** Runs `argv` (ending in `-batch`) on the lines of `ops` (see `applyLines`). */
function runOps(
  argv: readonly [string, ...string[]],
  ops: readonly RouteOp[],
  lines: string[],
  guard?: string,
): Output {
  const child = start([...argv, "-"]);
  if (child) {
    using _child = child;
    return applyLines(child, ops, lines, 0, guard, {}, argv[0]);
  }
  try {
    for (const line of batchLines(ops)) lines.push(line);
  } catch (e) {
    throw new PartlyAppliedError(0, e); // no ip ran
  }
  return runIpFile(argv, lines.join("\n") + "\n", guard);
}

/**
 * Throws the RouteChangeError of a failed apply of `lines` naming the refused line; when `ip`
 * named none (it was killed), a PartlyAppliedError: any of the lines may have landed.
 */
function checkApplied(out: Output, lines: readonly string[]): void {
  if (out.code === 0) return;
  const index = refusedIndex(out.stderr);
  const why = out.stderr.split("\n").find((l) => l.startsWith("Error:"))?.slice(7).trim() ||
    out.stderr.split("\n")[0] || `ip exited with status ${out.code}`;
  if (index >= 0 && index < lines.length) {
    throw new RouteChangeError(`the kernel refused "${lines[index]}": ${why}`, out.stderr, index);
  }
  // ip ended naming no line (killed, say): it may have applied any of the lines it was given.
  const e = new RouteChangeError(`ip ended before the batch was applied: ${why}`, out.stderr, -1);
  throw new PartlyAppliedError(lines.length, e);
}

/** One batch line the kernel refused in a best-effort apply, or `ip`'s words when it named none. */
export interface RefusedOp {
  /** The refused operation; undefined when `ip` failed without naming a line. */
  op?: RouteOp;
  /** What `ip` said about it. */
  why: string;
}

/**
 * Applies a plan with one `ip -force -batch` call: every line is tried, whatever an earlier one
 * did (DEL's best effort). Returns what was refused with `ip`'s reason; a failure that names no
 * line (ip stopped early) is returned too, never thrown: DEL logs it and still succeeds.
 */
export function applyOpsBestEffort(netnsPath: string, ops: readonly RouteOp[]): RefusedOp[] {
  if (ops.length === 0) return [];
  const out = runOps([...ipArgv(netnsPath), "-force", "-batch"], ops, []);
  if (out.code === 0) return [];
  const refused: RefusedOp[] = [];
  let said: string[] = [];
  for (const line of out.stderr.split("\n")) {
    const m = /^Command failed batch:(\d+)$/.exec(line);
    const op = m ? ops[Number(m[1]) - 1] : undefined;
    if (!m) said.push(line.replace(/^Error: /, "").trim());
    else if (op) {
      refused.push({ op, why: said.filter((l) => l).join("; ") || "refused" });
      said = [];
    }
  }
  if (refused.length === 0) {
    refused.push({ why: `ip exited with status ${out.code}: ${out.stderr || "(no message)"}` });
  }
  return refused;
}

/** The identity `guardChild` records: pid, start time (/proc/PID/stat field 22), name. */
const GUARD_LINE = /^(\d+) (\d+) (\S+)\n?$/;

/**
 * Stops an `ip` still applying ADD's lines after the ADD that started it was killed (SIGKILL
 * leaves `ip` running, reparented, and it applies every line it already has): `batchFile` names
 * it (see `guardChild`), and that process is SIGKILLed only while /proc still shows the same
 * start time and an `ip` (or the `nsenter` that runs it), so a reused PID is never hit. It is
 * waited for (up to 2 s), then the file is removed. A file in the older form (the batch itself,
 * which `ip` holds open: the `Deno.Command` fallback) stops every `ip` holding it. What was
 * applied so far stays in the table for the caller to plan against. Returns how many processes
 * were stopped.
 */
export function stopPendingBatch(batchFile: string): number {
  if (nothingAt(batchFile)) return 0; // as NotFound below would, without throwing it
  let text: string;
  let target: string;
  try {
    // Only a regular file can be a batch the plugin wrote: anything else at that name (a
    // symlink, a FIFO) is removed unread, never followed or scanned for.
    if (!Deno.lstatSync(batchFile).isFile) {
      Deno.removeSync(batchFile);
      return 0;
    }
    target = Deno.realPathSync(batchFile);
    text = Deno.readTextFileSync(batchFile);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return 0;
    throw new CniError(ErrorCode.IoFailure, `cannot read ${batchFile}`, String(e));
  }
  const guard = GUARD_LINE.exec(text);
  let pids: number[];
  let still: (pid: number) => boolean;
  if (guard) {
    const [, pid, start] = guard;
    still = (p: number) => {
      const id = procIdentity(p);
      return id !== null && id.start === start && (id.comm === "ip" || id.comm === "nsenter");
    };
    pids = still(Number(pid)) ? [Number(pid)] : [];
  } else {
    still = (p: number) => holds(String(p), target);
    pids = [];
    for (const entry of Deno.readDirSync("/proc")) {
      if (/^\d+$/.test(entry.name) && holds(entry.name, target)) pids.push(Number(entry.name));
    }
  }
  for (const pid of pids) {
    // Checked again right before the signal, so a PID reused since the first look is not hit.
    if (!still(pid)) continue;
    try {
      Deno.kill(pid, "SIGKILL");
    } catch { /* already gone */ }
  }
  const deadline = Date.now() + 2000;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  // A killed process lingers as a zombie until its new parent reaps it: that is gone enough.
  const alive = (pid: number) => still(pid) && procIdentity(pid)?.state !== "Z";
  while (pids.some(alive)) {
    if (Date.now() >= deadline) {
      throw new CniError(
        ErrorCode.TryAgainLater,
        `an ip process still applies ${batchFile} after SIGKILL`,
      );
    }
    Atomics.wait(pause, 0, 0, 10); // a synchronous 10 ms sleep
  }
  try {
    Deno.removeSync(batchFile);
  } catch { /* gone */ }
  return pids.length;
}

/** True when process `pid` is an `ip` holding the file at `target` open. */
function holds(pid: string, target: string): boolean {
  try {
    if (Deno.readTextFileSync(`/proc/${pid}/comm`).trim() !== "ip") return false;
    for (const fd of Deno.readDirSync(`/proc/${pid}/fd`)) {
      if (Deno.readLinkSync(`/proc/${pid}/fd/${fd.name}`) === target) return true;
    }
  } catch { /* the process exited while we looked */ }
  return false;
}

/** True when `ip` can be run (STATUS). */
export async function ipRunnable(): Promise<string | null> {
  try {
    const out = await new Deno.Command("ip", { args: ["-V"], stdout: "piped", stderr: "piped" })
      .output();
    return out.success ? null : new TextDecoder().decode(out.stderr).trim();
  } catch (e) {
    return String(e);
  }
}
