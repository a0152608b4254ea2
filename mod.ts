#!/usr/bin/env -S deno run --allow-all --no-prompt
/**
 * seamless-static-route: a CNI meta-plugin that adds a host route to the node's primary address
 * in the pod and applies route-override's flush/delete/add rules.
 *
 * Entry point: read the environment and stdin, dispatch to one command handler, print the
 * result or the CNI error JSON. This is the only place that prints to stdout or sets the exit code.
 */
import { type CniEnv, readCniEnv } from "./src/cni/env.ts";
import { CniError, ErrorCode } from "./src/cni/errors.ts";
import {
  LATEST_VERSION,
  requireCommandInVersion,
  requireSupported,
  SUPPORTED_VERSIONS,
} from "./src/cni/version.ts";
import { configVersion, decodeStdin, parseConfig } from "./src/config.ts";
import { Logger } from "./src/log.ts";
import { PLUGIN_NAME, PLUGIN_VERSION } from "./src/meta.ts";
import type { Context, Output } from "./src/commands/context.ts";
import { versionInfo } from "./src/commands/version.ts";

/** What `main` wants printed and the exit code. */
export interface Outcome {
  stdout: string;
  stderr: string;
  code: number;
}

const USAGE = `${PLUGIN_NAME} ${PLUGIN_VERSION}: CNI meta-plugin (host route + route override)

Run by a CNI runtime with CNI_COMMAND=ADD|DEL|CHECK|VERSION|STATUS|GC, CNI_CONTAINERID,
CNI_NETNS, CNI_IFNAME, CNI_PATH in the environment and the network config on stdin.

Options (by hand):
  --version   print the version
  --help      print this help
  --dry-run   with CNI_COMMAND=ADD (or DEL): print the ip commands it would run; change nothing
`;

function banner(): string {
  return `${PLUGIN_NAME} ${PLUGIN_VERSION} CNI plugin; supported CNI versions: ${
    SUPPORTED_VERSIONS.join(", ")
  }\n`;
}

async function dispatch(ctx: Context): Promise<Output> {
  // Handlers are loaded on demand: a DEL never parses the ADD planner's dependencies.
  switch (ctx.env.command) {
    case "ADD":
      return (await import("./src/commands/add.ts")).cmdAdd(ctx);
    case "DEL":
      return (await import("./src/commands/del.ts")).cmdDel(ctx);
    case "CHECK":
      return (await import("./src/commands/check.ts")).cmdCheck(ctx);
    case "STATUS":
      return (await import("./src/commands/status.ts")).cmdStatus(ctx);
    case "GC":
      return (await import("./src/commands/gc.ts")).cmdGc(ctx);
    default:
      throw new CniError(ErrorCode.InvalidEnvironment, `CNI_COMMAND ${ctx.env.command} unknown`);
  }
}

/**
 * Runs one invocation. `getEnv` reads a variable, `readStdin` reads all of stdin; both are
 * parameters so tests can run the plugin in-process.
 */
export async function main(
  args: readonly string[],
  getEnv: (name: string) => string | undefined,
  readStdin: () => Promise<string>,
): Promise<Outcome> {
  let dryRun = false;
  for (const a of args) {
    if (a === "--version" || a === "-v") {
      return { stdout: `${PLUGIN_NAME} ${PLUGIN_VERSION}\n`, stderr: "", code: 0 };
    }
    if (a === "--help" || a === "-h") return { stdout: USAGE, stderr: "", code: 0 };
    if (a === "--dry-run") dryRun = true;
    else return { stdout: "", stderr: `unknown option ${a}\n${USAGE}`, code: 2 };
  }
  if (!getEnv("CNI_COMMAND")) return { stdout: banner(), stderr: "", code: 0 };

  let version = LATEST_VERSION;
  let log = new Logger("error");
  try {
    const stdin = await readStdin().catch((e) => {
      throw new CniError(ErrorCode.IoFailure, "cannot read stdin", String(e));
    });
    if (getEnv("CNI_COMMAND") === "VERSION") {
      // VERSION answers whatever config it gets, even none.
      let asked: string | undefined;
      try {
        const v = JSON.parse(stdin)?.cniVersion;
        if (typeof v === "string") asked = v;
      } catch { /* no usable config: answer with the latest version */ }
      return { stdout: JSON.stringify(versionInfo(asked)) + "\n", stderr: "", code: 0 };
    }
    const env: CniEnv = readCniEnv(getEnv);
    const raw = decodeStdin(stdin);
    const asked = configVersion(raw);
    requireSupported(asked);
    version = asked;
    requireCommandInVersion(env.command, version);
    const config = parseConfig(raw);
    log = new Logger(
      config.logLevel,
      config.logFile,
      `${env.command} ${env.containerId}/${env.ifname}`,
    );
    log.debug(`config ${config.name} type ${config.type} version ${version}`);
    const out = await dispatch({ env, config, log, dryRun });
    log.debug("done");
    const stdout = out.lines
      ? out.lines.join("\n") + "\n"
      : out.json
      ? JSON.stringify(out.json) + "\n"
      : "";
    return { stdout, stderr: "", code: 0 };
  } catch (e) {
    const err = e instanceof CniError ? e : new CniError(
      ErrorCode.Internal,
      `internal error: ${e instanceof Error ? e.message : String(e)}`,
    );
    log.error(`${err.message}${err.details ? ` (${err.details})` : ""}`);
    if (!(e instanceof CniError)) log.error(e instanceof Error ? e.stack ?? "" : "");
    return { stdout: JSON.stringify(err.toJSON(version)) + "\n", stderr: "", code: 1 };
  }
}

/**
 * All of stdin, read synchronously. A runtime sends a few kilobytes at most; reading them with
 * `readSync` spares loading the web-streams machinery, a few milliseconds of every invocation.
 */
function readStdinSync(): string {
  const decoder = new TextDecoder();
  const buf = new Uint8Array(64 * 1024);
  let text = "";
  for (let n = Deno.stdin.readSync(buf); n !== null && n > 0; n = Deno.stdin.readSync(buf)) {
    text += decoder.decode(buf.subarray(0, n), { stream: true });
  }
  return text + decoder.decode();
}

function writeAll(file: { writeSync(p: Uint8Array): number }, text: string): void {
  let bytes = new TextEncoder().encode(text);
  while (bytes.length > 0) bytes = bytes.subarray(file.writeSync(bytes));
}

if (import.meta.main) {
  const outcome = await main(
    Deno.args,
    (name) => Deno.env.get(name),
    () => new Promise((resolve) => resolve(readStdinSync())),
  );
  if (outcome.stdout) writeAll(Deno.stdout, outcome.stdout);
  if (outcome.stderr) writeAll(Deno.stderr, outcome.stderr);
  Deno.exit(outcome.code);
}
