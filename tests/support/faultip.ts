/**
 * A fault-injecting `ip`: a shell script named `ip` in a temp dir that goes first on the plugin's
 * PATH. Reads (`ip -j ...`) and any other call pass straight through to the real `ip`. A batch on
 * stdin (`ip ... -batch -`, the plugin's form) has its read lines (`route show`, `addr show`, ...)
 * answered at once, one real `ip` per line, in order, as `ip -j -batch -` answers an ADD session;
 * its other lines are collected and, at EOF, are one write batch. Write batches (also the older
 * form `ip ... -batch FILE` without `-j`) are saved, counted and, depending on the mode:
 *
 * - `failAtLine`: the first `failBatches` write batches run their lines 1..N-1 for real, then fail
 *   at line N the way `ip -batch` does (`Command failed -:M`, M counting the session's read lines
 *   too, or `FILE:N`; exit 1); N is capped at the batch's last line. Later batches (the rollback)
 *   pass through, unless `failBatches` covers them too. With `plantDirAt`, a failing stdin batch
 *   also replaces that path with a non-empty directory before it exits (see `FaultOptions`).
 * - `slowSeconds`: each write batch writes its shell's pid to `started.K` in the dir, sleeps, then
 *   runs for real and creates `done.K` — a window in which a test can SIGKILL the plugin (and,
 *   with the pid, the fake `ip` too) mid-ADD, or run DEL while the batch is still pending. (The
 *   older form holds its batch file open meanwhile, as a real `ip` does.)
 *
 * Every call is logged (one line of arguments each) in `calls.log`.
 */

/** How the fake `ip` misbehaves. */
export interface FaultOptions {
  /** Fail write batches at this (1-based) line. */
  failAtLine?: number;
  /** How many write batches fail (default 1). */
  failBatches?: number;
  /**
   * With `failAtLine`, a stdin batch that fails first replaces this path (ADD's guard file, which
   * names this `ip`) with a non-empty directory: the plugin cannot remove it, so the next `ip` it
   * guards there cannot start (IoFailure). The test removes the directory.
   */
  plantDirAt?: string;
  /** Sleep this long before running each write batch. */
  slowSeconds?: number;
}

/** Finds the real `ip` executable. */
export function realIp(): string {
  for (const p of ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"]) {
    try {
      if (Deno.statSync(p).isFile) return p;
    } catch {
      // next
    }
  }
  throw new Error("ip (iproute2) not found");
}

function q(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/** A temp dir holding the fake `ip`. Dispose to remove it. */
export class FaultyIp implements AsyncDisposable {
  readonly dir: string;
  private constructor(dir: string) {
    this.dir = dir;
  }

  /** Writes the fake `ip` for the given faults. */
  static async create(opts: FaultOptions): Promise<FaultyIp> {
    const dir = await Deno.makeTempDir({ prefix: "ssr-faultip-" });
    const real = realIp();
    const failAt = opts.failAtLine ?? 0;
    const failBatches = opts.failBatches ?? 1;
    const slow = opts.slowSeconds ?? 0;
    const script = `#!/bin/sh
D=${q(dir)}
REAL=${q(real)}
PLANT=${q(opts.plantDirAt ?? "")}
echo "$*" >> "$D/calls.log"
batch=""; json=0; prev=""
for a in "$@"; do
  case "$a" in
    -j|-json) json=1 ;;
  esac
  if [ "$prev" = "-batch" ]; then batch="$a"; fi
  prev="$a"
done
if [ "$batch" = "-" ]; then
  # The batch on stdin: read lines (an ADD session's, or a whole read) are answered at once, one
  # real ip each, in order; the write lines are collected and applied at EOF as one write batch.
  set -f
  pre=""
  for a in "$@"; do
    if [ "$a" = "-batch" ]; then break; fi
    pre="$pre $a"
  done
  reads=0
  w="$D/.w.$$"
  : > "$w"
  while IFS= read -r line; do
    case "$line" in
      "route show"*|"route get"*|"addr show"*|"link show"*)
        reads=$((reads + 1))
        if ! "$REAL" $pre $line; then
          case " $pre " in
            *" -force "*) ;;
            *) echo "Command failed -:$reads" >&2; rm -f "$w"; exit 1 ;;
          esac
        fi
        ;;
      *) printf '%s\n' "$line" >> "$w" ;;
    esac
  done
  if [ ! -s "$w" ]; then rm -f "$w"; exit 0; fi
  n=$(cat "$D/writes" 2>/dev/null || echo 0)
  n=$((n + 1))
  echo "$n" > "$D/writes"
  mv "$w" "$D/batch.$n"
  f="$D/batch.$n"
  # ip's own messages name the file; ip on stdin counts the session's lines ("-:N").
  relay() {
    awk -v F="Command failed $f:" -v R="$reads" \
      '{ if (index($0, F) == 1) print "Command failed -:" (substr($0, length(F) + 1) + R); else print }' \
      "$1" >&2
  }
  if [ ${failAt} -gt 0 ] && [ "$n" -le ${failBatches} ]; then
    at=${failAt}
    lines=$(wc -l < "$f")
    if [ "$lines" -lt "$at" ]; then at=$lines; fi
    if [ "$at" -lt 1 ]; then at=1; fi
    if [ "$at" -gt 1 ]; then
      head -n $((at - 1)) "$f" > "$D/run.$n"
      f="$D/run.$n"
      "$REAL" $pre -batch "$f" 2> "$D/err.$n"
      rc=$?
      if [ "$rc" != 0 ]; then relay "$D/err.$n"; exit "$rc"; fi
    fi
    if [ -n "$PLANT" ]; then
      rm -f "$PLANT" && mkdir "$PLANT" && : > "$PLANT/planted" || exit 99
    fi
    echo "Error: injected fault on line $at." >&2
    echo "Command failed -:$((reads + at))" >&2
    exit 1
  fi
  if [ ${slow} -gt 0 ]; then
    echo $$ > "$D/.started.$n" && mv "$D/.started.$n" "$D/started.$n"
    sleep ${slow}
  fi
  "$REAL" $pre -batch "$f" 2> "$D/err.$n"
  rc=$?
  : > "$D/done.$n"
  relay "$D/err.$n"
  exit $rc
fi
if [ -n "$batch" ] && [ "$json" = 0 ]; then
  n=$(cat "$D/writes" 2>/dev/null || echo 0)
  n=$((n + 1))
  echo "$n" > "$D/writes"
  cat "$batch" > "$D/batch.$n"
  if [ ${failAt} -gt 0 ] && [ "$n" -le ${failBatches} ]; then
    at=${failAt}
    lines=$(wc -l < "$D/batch.$n")
    if [ "$lines" -lt "$at" ]; then at=$lines; fi
    if [ "$at" -lt 1 ]; then at=1; fi
    if [ "$at" -gt 1 ]; then
      head -n $((at - 1)) "$D/batch.$n" > "$batch"
      "$REAL" "$@" || exit $?
    fi
    echo "Error: injected fault on line $at." >&2
    echo "Command failed $batch:$at" >&2
    exit 1
  fi
  if [ ${slow} -gt 0 ]; then
    exec 3<"$batch" # hold the batch open while waiting, as a real ip does while it applies it
    echo $$ > "$D/.started.$n" && mv "$D/.started.$n" "$D/started.$n"
    sleep ${slow}
  fi
  "$REAL" "$@"
  rc=$?
  : > "$D/done.$n"
  exit $rc
fi
exec "$REAL" "$@"
`;
    await Deno.writeTextFile(`${dir}/ip`, script, { mode: 0o755 });
    return new FaultyIp(dir);
  }

  /** PATH for the plugin: this dir first, then the caller's PATH. */
  get path(): string {
    return `${this.dir}:${Deno.env.get("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin"}`;
  }

  /** The argument lines of every call so far. */
  async calls(): Promise<string[]> {
    const text = await Deno.readTextFile(`${this.dir}/calls.log`).catch(() => "");
    return text.split("\n").filter((l) => l !== "");
  }

  /** The text of write batch number k (1-based), or null. */
  async batch(k: number): Promise<string | null> {
    return await Deno.readTextFile(`${this.dir}/batch.${k}`).catch(() => null);
  }

  /** The pid the slow write batch number k wrote to `started.k`. */
  async slowPid(k: number): Promise<number> {
    return Number((await Deno.readTextFile(`${this.dir}/started.${k}`)).trim());
  }

  /** True once file `name` (e.g. `started.1`, `done.1`) exists in the dir. */
  async has(name: string): Promise<boolean> {
    try {
      await Deno.stat(`${this.dir}/${name}`);
      return true;
    } catch {
      return false;
    }
  }

  /** Waits (polling) until `name` exists; throws after `timeoutMs`. */
  async waitFor(name: string, timeoutMs = 20000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (!(await this.has(name))) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${name} in ${this.dir}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}
