/**
 * The CNI protocol as a library: command-line options, the CNI_* environment, stdin, version
 * negotiation, VERSION, dispatch to a handler loaded on demand, and the error JSON — printed
 * once, with the exit code. A plugin gives a `Plugin` (its config parser and handler table);
 * `mod.ts` is the wiring.
 */
import { logMaxBytes } from "../config.ts";
import { invocationTag, Logger, type LogLevel } from "../log.ts";
import { hasControlChars, isObject, type Json } from "../validate.ts";
import { type CniCommand, type CniEnv, type EnvSource, readCniEnv } from "./env.ts";
import { CniError, ErrorCode } from "./errors.ts";
import {
  configVersion,
  LATEST_VERSION,
  requireCommandInVersion,
  requireSupported,
  SUPPORTED_VERSIONS,
} from "./version.ts";

/** What one invocation prints and its exit code. */
export interface Outcome {
  stdout: string;
  stderr: string;
  code: number;
}

/** What a handler prints: a JSON object, plain lines (dry run), or nothing. */
export interface Output {
  json?: Record<string, unknown>;
  /** `json` as JSON text, when the handler serialized it already (ADD: while `ip` applies). */
  jsonText?: string;
  lines?: string[];
  /** Lines said once on stderr and in the log, as config warnings are (e.g. skipped routes). */
  warnings?: string[];
}

/** The config fields the skeleton itself reads (for its log). */
export interface BaseConfig {
  name: string;
  type: string;
  logLevel: LogLevel;
  logFile?: string;
  /** Size at which `logFile` is rotated, in bytes (0 or absent: never). */
  logMaxBytes?: number;
  /** Lines the skeleton says once on stderr and in the log (e.g. unknown keys). */
  warnings?: string[];
}

/** One invocation: validated environment and config, logger, and the `--dry-run` flag. */
export interface Invocation<C extends BaseConfig> {
  env: CniEnv;
  config: C;
  log: Logger;
  dryRun: boolean;
  /** What the plugin's `prefetch` began for this invocation; the handler owns it now. */
  prefetched?: Disposable;
}

/** Runs one command. */
export type Handler<C extends BaseConfig> = (ctx: Invocation<C>) => Output | Promise<Output>;

/** Per command, a loader of its handler: a dynamic import, so only the one needed is parsed. */
export type HandlerTable<C extends BaseConfig> = Record<
  Exclude<CniCommand, "VERSION">,
  () => Promise<Handler<C>>
>;

/** What a plugin gives the skeleton. */
export interface Plugin<C extends BaseConfig> {
  /** The plugin's name, as `--version` and the banner print it. */
  name: string;
  /** The plugin's release version. */
  version: string;
  /** The `--help` text. */
  usage: string;
  /**
   * Validates a decoded config whose `cniVersion` is `cniVersion` (already supported), for
   * `command` (a plugin may need less of the config for some commands).
   */
  parseConfig(raw: Json, cniVersion: string, command: string): C;
  handlers: HandlerTable<C>;
  /**
   * Work a command's handler will need that can start before stdin is read (loading a library):
   * started first, awaited before the handler runs. It should not reject; if it does, the
   * command fails as an internal error.
   */
  prepare?: (command: string) => Promise<void>;
  /**
   * Work a command can begin once stdin is decoded, before the config is validated (ADD locks
   * the attachment and starts reading the pod while the routes are checked), after `prepare`.
   * What it returns reaches the handler as `Invocation.prefetched`; when the config is refused
   * instead, the skeleton disposes it. It should not throw: what it cannot begin (an invalid
   * name, a busy lock) it leaves to the handler, which meets it after the config is validated.
   */
  prefetch?: (raw: Json, env: CniEnv, dryRun: boolean) => Promise<Disposable | undefined>;
}

/** Stdin parsed as JSON, or what JSON.parse threw. */
type Parsed = { value: unknown } | { error: unknown };

function parseJson(text: string): Parsed {
  try {
    return { value: JSON.parse(text) };
  } catch (e) {
    return { error: e };
  }
}

/** Decodes stdin: code 6 when it is not a JSON object. */
export function decodeStdin(text: string): Json {
  return decodeParsed(text, parseJson(text));
}

/** `decodeStdin` of `text`, which `parsed` is the JSON.parse of. */
function decodeParsed(text: string, parsed: Parsed): Json {
  if (text.trim() === "") {
    throw new CniError(ErrorCode.DecodingFailure, "no network configuration on stdin");
  }
  if ("error" in parsed) {
    const e = parsed.error;
    throw new CniError(
      ErrorCode.DecodingFailure,
      "network configuration on stdin is not valid JSON",
      e instanceof Error ? e.message : String(e),
    );
  }
  const value = parsed.value;
  if (!isObject(value)) {
    throw new CniError(ErrorCode.DecodingFailure, "network configuration must be a JSON object");
  }
  return value;
}

/** The VERSION answer for the version the caller named (or the latest). */
function versionInfo(cniVersion?: string): Record<string, unknown> {
  return { cniVersion: cniVersion ?? LATEST_VERSION, supportedVersions: [...SUPPORTED_VERSIONS] };
}

function _versionAnswer(stdin: string): Outcome {
  // VERSION answers whatever config it gets, even none.
  let asked: string | undefined;
  try {
    const v = JSON.parse(stdin)?.cniVersion;
    if (typeof v === "string") asked = v;
  } catch { /* no usable config: answer with the latest version */ }
  return { stdout: JSON.stringify(versionInfo(asked)) + "\n", stderr: "", code: 0 };
}

function _printed(out: Output): string {
  if (out.lines) return out.lines.join("\n") + "\n";
  if (out.jsonText !== undefined) return out.jsonText + "\n";
  return out.json ? JSON.stringify(out.json) + "\n" : "";
}

/**
 * Runs one invocation of `plugin`. `getEnv` reads a variable, `readStdin` reads all of stdin;
 * both are parameters so tests can run the plugin in-process.
 */
export async function pluginMain<C extends BaseConfig>(
  plugin: Plugin<C>,
  args: readonly string[],
  getEnv: EnvSource,
  readStdin: () => Promise<string>,
): Promise<Outcome> {
  let dryRun = false;
  for (const a of args) {
    if (a === "--version" || a === "-v") {
      return { stdout: `${plugin.name} ${plugin.version}\n`, stderr: "", code: 0 };
    }
    if (a === "--help" || a === "-h") return { stdout: plugin.usage, stderr: "", code: 0 };
    if (a === "--dry-run") dryRun = true;
    else return { stdout: "", stderr: `unknown option ${a}\n${plugin.usage}`, code: 2 };
  }
  if (!getEnv("CNI_COMMAND")) {
    // As the reference plugins' skel and buildversion: the about text on stderr, exit 0.
    const about = `CNI ${plugin.name} plugin v${plugin.version}\n` +
      `CNI protocol versions supported: ${SUPPORTED_VERSIONS.join(", ")}\n`;
    return { stdout: "", stderr: about, code: 0 };
  }

  let prepared: Promise<void> | undefined;
  try {
    prepared = plugin.prepare?.(getEnv("CNI_COMMAND") ?? "");
  } catch (e) {
    prepared = Promise.reject(e); // thrown, not rejected: fails the command all the same
  }
  // Awaited before the handler; until then, a rejection is not unhandled.
  prepared?.catch(() => {});
  const tag = invocationTag(getEnv);
  let version = LATEST_VERSION;
  let log = new Logger({ tag });
  let stderr = "";
  let prefetched: Disposable | undefined;
  try {
    const stdin = await readStdin().catch((e) => {
      throw new CniError(ErrorCode.IoFailure, "cannot read stdin", String(e));
    });
    if (getEnv("CNI_COMMAND") === "VERSION") return _versionAnswer(stdin);
    // Until the config is parsed, errors still carry its cniVersion, name its network and go to
    // its logFile.
    // Parsed once: the early look and the decoding read the same value.
    const parsed = parseJson(stdin);
    const early = "value" in parsed ? peekParsed(parsed.value) : {};
    if (early.cniVersion) version = early.cniVersion;
    const earlyTag = early.name ? `${tag} net=${early.name}` : tag;
    if (early.logFile || early.name) {
      // Rotated too: a pod whose config is refused on every retry must not grow the log unbounded.
      log = new Logger({ tag: earlyTag, file: early.logFile, maxBytes: early.logMaxBytes ?? 0 });
    }
    const env = readCniEnv(getEnv);
    if (env.command === "VERSION") return _versionAnswer(stdin); // answered above: narrows type
    const raw = decodeParsed(stdin, parsed);
    const asked = configVersion(raw);
    requireSupported(asked);
    version = asked;
    requireCommandInVersion(env.command, version);
    if (plugin.prefetch) {
      await prepared;
      prefetched = await plugin.prefetch(raw, env, dryRun);
    }
    const config = plugin.parseConfig(raw, version, env.command);
    // A logFile the early logger could not use has been reported once already: stay on stderr.
    const failed = early.logFile !== undefined && log.file === undefined;
    log.close();
    log = new Logger({
      level: config.logLevel,
      file: failed && config.logFile === early.logFile ? undefined : config.logFile,
      maxBytes: config.logMaxBytes ?? 0,
      tag: `${tag} net=${config.name}`,
    });
    const warn = (w: string) => {
      log.warn(w);
      // Said on stderr too when the log is a file (without one, the log line is on stderr),
      // within the same per-run budget as the log's lines.
      const copy = `${plugin.name}: warning: ${w}\n`;
      if (log.file && log.spend(copy)) stderr += copy;
    };
    for (const w of boundedWarnings(config.warnings ?? [])) warn(w);
    log.debug(`config ${config.name} type ${config.type} version ${version}`);
    await prepared;
    const handler = await plugin.handlers[env.command]();
    const ctx: Invocation<C> = { env, config, log, dryRun };
    if (prefetched) ctx.prefetched = prefetched;
    prefetched = undefined; // the handler's now
    const out = await handler(ctx);
    for (const w of out.warnings ?? []) warn(w);
    log.debug("done");
    return { stdout: _printed(out), stderr, code: 0 };
  } catch (e) {
    const err = e instanceof CniError ? e : new CniError(
      ErrorCode.Internal,
      `internal error: ${e instanceof Error ? e.message : String(e)}`,
    );
    log.error(err.logText());
    if (!(e instanceof CniError)) log.error(e instanceof Error ? e.stack ?? "" : "");
    return { stdout: JSON.stringify(err.toJSON(version)) + "\n", stderr, code: 1 };
  } finally {
    // Begun for a config that was then refused: undone.
    try {
      prefetched?.[Symbol.dispose]();
    } catch { /* best effort: the error above is what the caller needs */ }
  }
}

/** The most config warnings one invocation says one by one; the rest are counted in one line. */
export const MAX_WARNINGS = 10;

/**
 * The first MAX_WARNINGS warnings, then one line counting the rest (`... and 990 more skipped
 * routes` with `what` "skipped route"): a pod annotation with thousands of unknown keys or of
 * skipped addroutes writes a dozen lines, not thousands.
 */
export function boundedWarnings(warnings: readonly string[], what = "warning"): string[] {
  if (warnings.length <= MAX_WARNINGS) return [...warnings];
  const rest = warnings.length - MAX_WARNINGS;
  return [...warnings.slice(0, MAX_WARNINGS), `... and ${rest} more ${what}${rest > 1 ? "s" : ""}`];
}

/** A network name as a log line may show it (the CNI spec's rule for names, at most 128). */
const LOGGED_NAME = /^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$/;

/** What `peekConfig` reads from a config before it is validated. */
export interface PeekedConfig {
  cniVersion?: string;
  name?: string;
  logFile?: string;
  /** The rotation bound of `logFile`: `logMaxSizeMB`'s, or the default when it is invalid. */
  logMaxBytes?: number;
}

/**
 * What can be read from stdin before it is validated, never throwing: its `cniVersion` when it is
 * a supported one, its `name` when it is a plain network name, and its `logFile` when it is an
 * absolute path (with `logMaxSizeMB`, so that even a refused config rotates the log).
 */
export function peekConfig(stdin: string): PeekedConfig {
  const parsed = parseJson(stdin);
  return "value" in parsed ? peekParsed(parsed.value) : {};
}

/** `peekConfig` of a config already parsed. */
function peekParsed(raw: unknown): PeekedConfig {
  if (!isObject(raw)) return {};
  const out: PeekedConfig = {};
  if (typeof raw.cniVersion === "string" && SUPPORTED_VERSIONS.includes(raw.cniVersion)) {
    out.cniVersion = raw.cniVersion;
  }
  if (typeof raw.name === "string" && LOGGED_NAME.test(raw.name)) out.name = raw.name;
  const file = raw.logFile;
  if (typeof file === "string" && file.startsWith("/") && !hasControlChars(file)) {
    out.logFile = file;
    try {
      out.logMaxBytes = logMaxBytes(raw.logMaxSizeMB);
    } catch {
      out.logMaxBytes = logMaxBytes(undefined); // invalid: the parse says so; rotate by default
    }
  }
  return out;
}

/**
 * Reads all of stdin with `Deno.stdin.read` (not its web stream, which costs a few milliseconds
 * to load). Asynchronously on purpose: Deno stores a module's compiled code (the V8
 * code cache, which spares the next run compiling the bundle again) only when its event loop
 * turns, and a run that never awaits an operation exits before it does.
 */
async function _readStdin(): Promise<string> {
  const decoder = new TextDecoder();
  const buf = new Uint8Array(64 * 1024);
  let text = "";
  for (let n = await Deno.stdin.read(buf); n !== null && n > 0; n = await Deno.stdin.read(buf)) {
    text += decoder.decode(buf.subarray(0, n), { stream: true });
  }
  return text + decoder.decode();
}

function _writeAll(file: { writeSync(p: Uint8Array): number }, text: string): void {
  let bytes = new TextEncoder().encode(text);
  while (bytes.length > 0) bytes = bytes.subarray(file.writeSync(bytes));
}

/**
 * Runs `plugin` as this process: arguments, environment and stdin of the process; prints the
 * outcome and exits with its code. The only place that writes to stdout or sets the exit code.
 */
export async function runPlugin<C extends BaseConfig>(plugin: Plugin<C>): Promise<never> {
  const outcome = await pluginMain(
    plugin,
    Deno.args,
    (name) => Deno.env.get(name),
    _readStdin,
  );
  if (outcome.stdout) _writeAll(Deno.stdout, outcome.stdout);
  if (outcome.stderr) _writeAll(Deno.stderr, outcome.stderr);
  Deno.exit(outcome.code);
}
