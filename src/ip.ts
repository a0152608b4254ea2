/**
 * The only module that starts processes: the `ip` argv for a pod's netns, one `ip -j -batch`
 * call that reads the pod's routes and addresses, one `ip -batch` call that applies a plan, and
 * the STATUS probe. A netns path becomes `ip -n NAME` for /var/run/netns and /run/netns names,
 * and `nsenter --net=PATH ip` for any other path (e.g. /proc/PID/ns/net). It decides no route.
 */
import { CniError, ErrorCode } from "./cni/errors.ts";
import { type RouteOp, routeOpArgs } from "./route.ts";
import { parseSnapshot, type PodSnapshot, READ_BATCH } from "./snapshot.ts";

const NETNS_NAME = /^\/(?:var\/)?run\/netns\/([^/]+)$/;

/** The argv prefix that runs `ip` inside the netns at `netnsPath`. */
export function ipArgv(netnsPath: string): [string, ...string[]] {
  const m = NETNS_NAME.exec(netnsPath);
  return m?.[1] ? ["ip", "-n", m[1]] : ["nsenter", `--net=${netnsPath}`, "ip"];
}

/** True when the netns path exists. */
export function netnsExists(netnsPath: string): boolean {
  try {
    Deno.statSync(netnsPath);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw new CniError(ErrorCode.NetnsUnreachable, `cannot stat CNI_NETNS ${netnsPath}`, String(e));
  }
}

interface Output {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `argv` (ending in `-batch`) with `batch` as its batch file. The batch goes through a
 * private temp file, whose path is appended to `argv`, and `ip` runs with `outputSync`: no pipes or
 * web streams to set up, which is a measurable part of a plugin that lives for ~25 ms.
 */
function runIp(argv: readonly [string, ...string[]], batch: string): Output {
  let file: string;
  try {
    file = Deno.makeTempFileSync({ prefix: "seamless-static-route-", suffix: ".batch" });
    Deno.writeTextFileSync(file, batch);
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

/** Reads the pod's routes and addresses with one `ip -j -batch` call. */
export function readPod(netnsPath: string): PodSnapshot {
  const out = runIp([...ipArgv(netnsPath), "-j", "-batch"], READ_BATCH);
  if (out.code !== 0) {
    throw new CniError(
      ErrorCode.NetnsUnreachable,
      `cannot read routes in pod netns ${netnsPath}`,
      out.stderr,
    );
  }
  try {
    return parseSnapshot(out.stdout);
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
 * names that operation so the caller can restore the snapshot.
 */
export function applyOps(netnsPath: string, ops: readonly RouteOp[]): void {
  if (ops.length === 0) return;
  const lines = batchLines(ops);
  const out = runIp([...ipArgv(netnsPath), "-batch"], lines.join("\n") + "\n");
  if (out.code === 0) return;
  const m = /Command failed batch:(\d+)$/m.exec(out.stderr);
  const index = m ? Number(m[1]) - 1 : -1;
  const why = out.stderr.split("\n").find((l) => l.startsWith("Error:"))?.slice(7).trim() ||
    out.stderr.split("\n")[0] || `ip exited with status ${out.code}`;
  const what = index >= 0 && index < lines.length ? `"${lines[index]}"` : "a route change";
  throw new CniError(ErrorCode.RouteRefused, `the kernel refused ${what}: ${why}`, out.stderr);
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
