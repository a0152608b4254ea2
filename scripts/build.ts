/**
 * `deno task build`: bundles the plugin and compiles the bundle into self-contained Linux
 * executables with the plugin's permissions (src/permissions.ts) baked in.
 *
 * ```
 * deno task build                      # x86_64 and aarch64, plus the host's own
 * deno task build --target x86_64      # one target (aliases: amd64, arm64, host, full triples)
 * deno task build --target arm64 --output /out/seamless-static-route
 * deno task build --bundle dist/seamless-static-route.js   # compile an existing bundle
 * ```
 *
 * Output: `dist/seamless-static-route-x86_64`, `dist/seamless-static-route-aarch64`, and
 * `dist/seamless-static-route`, a copy of the one for the machine's own CPU. `--output` (one
 * target only) writes that target's binary to the given path instead.
 *
 * `deno compile` downloads its runtime (`denort`) for each target from dl.deno.land, unless
 * `DENORT_BIN` names a local one. When it can't, the build stops with a one-line explanation on
 * stderr and exit status 1; bad arguments exit with 2.
 */
import { PLUGIN_PERMISSION_FLAGS, PLUGIN_V8_FLAGS } from "../src/permissions.ts";
import { type Run, run } from "../testing/run.ts";
import { PLUGIN_NAME, PLUGIN_VERSION } from "../src/meta.ts";

/** Repository root. */
export const ROOT: string = new URL("../", import.meta.url).pathname.replace(/\/$/, "");
/** The bundle `deno task bundle` writes and the build compiles by default. */
export const DEFAULT_BUNDLE = `${ROOT}/dist/${PLUGIN_NAME}.js`;

/** A CPU architecture the plugin is built for. */
export type Arch = "x86_64" | "aarch64";

/** The architectures built by default, in order. */
export const ARCHES: readonly Arch[] = ["x86_64", "aarch64"];

/** The Rust target triple `deno compile --target` takes for an architecture. */
export function tripleOf(arch: Arch): string {
  return `${arch}-unknown-linux-gnu`;
}

/** The architecture of the machine running the build. */
export function hostArch(): Arch {
  return Deno.build.arch;
}

/** Default output path of the binary for an architecture: `dist/seamless-static-route-<arch>`. */
export function defaultOutput(arch: Arch): string {
  return `${ROOT}/dist/${PLUGIN_NAME}-${arch}`;
}

/** Path of the host-arch copy: `dist/seamless-static-route`. */
export const HOST_OUTPUT = `${ROOT}/dist/${PLUGIN_NAME}`;

/** A wrong command line; the message is shown as is. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** What to build, from the command line. */
export interface BuildOptions {
  /** Architectures to compile, without duplicates. */
  arches: Arch[];
  /** Output path for a single-target build; undefined = the default scheme. */
  output?: string | undefined;
  /** An existing bundle to compile; undefined = run `deno task bundle` first. */
  bundle?: string | undefined;
  /** `--help` was given. */
  help: boolean;
}

/** Maps a `--target` value to architectures (`all`, `host`, arch, Docker arch or triple). */
export function parseTarget(value: string): Arch[] {
  switch (value.trim().toLowerCase()) {
    case "all":
      return [...ARCHES];
    case "host":
      return [hostArch()];
    case "x86_64":
    case "amd64":
    case "x86_64-unknown-linux-gnu":
      return ["x86_64"];
    case "aarch64":
    case "arm64":
    case "aarch64-unknown-linux-gnu":
      return ["aarch64"];
    default:
      throw new UsageError(
        `unknown target '${value}': use x86_64 (amd64), aarch64 (arm64), host or all`,
      );
  }
}

/** Parses the build's command line; throws UsageError with a one-line message. */
export function parseBuildArgs(argv: readonly string[]): BuildOptions {
  const arches: Arch[] = [];
  let output: string | undefined;
  let bundle: string | undefined;
  let help = false;
  const valueOf = (i: number, flag: string): string => {
    const v = argv[i + 1];
    if (v === undefined || v === "" || v.startsWith("--")) {
      throw new UsageError(`${flag} needs a value`);
    }
    return v;
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? "";
    const eq = arg.indexOf("=");
    const flag = arg.startsWith("--") && eq > 0 ? arg.slice(0, eq) : arg;
    const inline = arg.startsWith("--") && eq > 0 ? arg.slice(eq + 1) : undefined;
    const take = (): string => {
      if (inline !== undefined) {
        if (inline === "") throw new UsageError(`${flag} needs a value`);
        return inline;
      }
      const v = valueOf(i, flag);
      i++;
      return v;
    };
    switch (flag) {
      case "-h":
      case "--help":
        help = true;
        break;
      case "--target":
        for (const part of take().split(",")) arches.push(...parseTarget(part));
        break;
      case "--output":
      case "-o":
        output = take();
        break;
      case "--bundle":
        bundle = take();
        break;
      default:
        throw new UsageError(`unknown argument '${arg}' (see --help)`);
    }
  }
  const unique = [...new Set(arches.length ? arches : ARCHES)];
  if (output !== undefined && unique.length !== 1) {
    throw new UsageError("--output needs exactly one --target");
  }
  return { arches: unique, output, bundle, help };
}

/** Usage text for `--help`. */
export const USAGE = `usage: deno task build [--target T[,T]] [--output PATH] [--bundle FILE]

Bundles mod.ts (deno task bundle) and compiles it with deno compile into Linux executables
with the plugin's permissions baked in.

  --target T     x86_64 (amd64), aarch64 (arm64), host, or all (default: all)
  --output PATH  write the binary here (one target only)
  --bundle FILE  compile this bundle instead of running deno task bundle

Default outputs:
  dist/${PLUGIN_NAME}-x86_64
  dist/${PLUGIN_NAME}-aarch64
  dist/${PLUGIN_NAME}            copy of the one for this machine (${hostArch()})

deno compile downloads its runtime (denort) per target from dl.deno.land; set DENORT_BIN to
a local denort of the same Deno version (${Deno.version.deno}) to build offline.`;

/**
 * Turns a failed `deno compile`'s stderr into one line. Says so plainly when the compile
 * runtime could not be downloaded or found (the common offline case).
 */
export function explainCompileFailure(stderr: string, arch: Arch): string {
  // deno's output is colored and multi-line ("error: ...", "Caused by:", "Stack backtrace:").
  // deno-lint-ignore no-control-regex
  const plain = stderr.replace(/\x1b\[[0-9;]*m/g, "").split(/^Stack backtrace:/m)[0] ?? "";
  const lines = plain.split("\n").map((l) => l.trim()).filter((l) => l !== "");
  const triple = tripleOf(arch);
  const runtime = `denort ${Deno.version.deno} for ${triple}`;
  const notFound = lines.find((l) => /Could not find denort/i.test(l));
  if (notFound) {
    return `cannot compile for ${arch}: the compile runtime was not found ` +
      `(${notFound.replace(/^\d+:\s*/, "")}); point DENORT_BIN at a local ${runtime}`;
  }
  const download = /dl\.deno\.land|denort-|Setting up base binary|error sending request/i;
  if (lines.some((l) => download.test(l))) {
    const cause = lines.filter((l) => /^\d+:/.test(l)).map((l) => l.replace(/^\d+:\s*/, ""))
      .at(-1);
    return `cannot compile for ${arch}: deno compile must download its runtime (${runtime}) ` +
      `from dl.deno.land, which is unreachable from here${cause ? ` (${cause})` : ""}; ` +
      `build where it can be downloaded, or set DENORT_BIN to a local ${runtime}`;
  }
  const first = lines.find((l) => /^error:/i.test(l)) ?? lines[0] ?? "no output";
  return `deno compile failed for ${arch}: ${first.replace(/^error:\s*/i, "")}`;
}

/** Runs `cmd ARGS` in the repository root with `env` added to ours. */
function exec(cmd: string, args: string[], env?: Record<string, string>): Promise<Run> {
  return run([cmd, ...args], { cwd: ROOT, ...(env ? { env } : {}) });
}

/** A build step that failed; the message is one line, printed as `build: <message>`. */
export class BuildError extends Error {
  override name = "BuildError";
  /** Extra lines printed after the message (e.g. the bundler's diagnostics). */
  readonly detail: string;
  constructor(message: string, detail = "") {
    super(message);
    this.detail = detail;
  }
}

/** Runs `deno task bundle`; returns the bundle's path. */
async function bundle(): Promise<string> {
  try {
    await Deno.stat(`${ROOT}/mod.ts`);
  } catch {
    throw new BuildError(`${ROOT}/mod.ts not found: there is nothing to bundle yet`);
  }
  const r = await exec(Deno.execPath(), ["task", "--quiet", "bundle"]);
  if (r.code !== 0) {
    const detail = r.stderr.replace(/\n*Stack backtrace:[\s\S]*$/, "").trim();
    throw new BuildError("deno task bundle failed (see above)", detail);
  }
  return DEFAULT_BUNDLE;
}

/** Compiles `bundlePath` for `arch` into `output`; returns the output path. */
export async function compile(bundlePath: string, arch: Arch, output: string): Promise<string> {
  const denort = Deno.env.get("DENORT_BIN");
  if (denort !== undefined) {
    try {
      if (!(await Deno.stat(denort)).isFile) throw new Error("not a file");
    } catch {
      throw new BuildError(
        `cannot compile for ${arch}: DENORT_BIN=${denort} is not a file; ` +
          `unset it or point it at a local denort ${Deno.version.deno} for ${tripleOf(arch)}`,
      );
    }
  }
  const dir = output.slice(0, output.lastIndexOf("/")) || "/";
  await Deno.mkdir(dir, { recursive: true });
  const r = await exec(Deno.execPath(), [
    "compile",
    "--quiet",
    "--no-config",
    "--no-check",
    ...PLUGIN_PERMISSION_FLAGS,
    ...PLUGIN_V8_FLAGS,
    "--target",
    tripleOf(arch),
    "--output",
    output,
    bundlePath,
  ]);
  if (r.code !== 0) throw new BuildError(explainCompileFailure(r.stderr, arch));
  return output;
}

/** Runs a host-arch binary's `--version` and checks it names this version. */
async function verify(binary: string): Promise<string> {
  const r = await exec(binary, ["--version"], {});
  const line = r.stdout.trim().split("\n")[0] ?? "";
  if (r.code !== 0 || !line.includes(PLUGIN_VERSION)) {
    throw new BuildError(
      `${binary} --version did not print ${PLUGIN_VERSION} (exit ${r.code}): ` +
        `${(line || r.stderr.trim().split("\n")[0]) ?? ""}`,
    );
  }
  return line;
}

function sizeOf(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/** Builds what `opts` asks for, printing one line per binary. */
export async function build(opts: BuildOptions): Promise<void> {
  const bundlePath = opts.bundle ?? await bundle();
  try {
    await Deno.stat(bundlePath);
  } catch {
    throw new BuildError(`bundle ${bundlePath} not found (run deno task bundle, or drop --bundle)`);
  }
  for (const arch of opts.arches) {
    const output = opts.output ?? defaultOutput(arch);
    await compile(bundlePath, arch, output);
    const size = sizeOf((await Deno.stat(output)).size);
    let note = "";
    if (arch === hostArch() && Deno.build.os === "linux") {
      note = `, --version: ${await verify(output)}`;
      if (opts.output === undefined) {
        await Deno.copyFile(output, HOST_OUTPUT);
        await Deno.chmod(HOST_OUTPUT, 0o755);
      }
    }
    console.log(`built ${rel(output)} (${tripleOf(arch)}, ${size}${note})`);
    if (arch === hostArch() && opts.output === undefined) {
      console.log(`built ${rel(HOST_OUTPUT)} (copy of the ${arch} binary, this machine's)`);
    }
  }
}

function rel(path: string): string {
  return path.startsWith(`${ROOT}/`) ? path.slice(ROOT.length + 1) : path;
}

/** Entry point: parses, builds, and turns every failure into a short message and exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  let opts: BuildOptions;
  try {
    opts = parseBuildArgs(argv);
  } catch (e) {
    console.error(`build: ${e instanceof Error ? e.message : String(e)}`);
    return 2;
  }
  if (opts.help) {
    console.log(USAGE);
    return 0;
  }
  try {
    await build(opts);
    return 0;
  } catch (e) {
    if (e instanceof BuildError) {
      if (e.detail) console.error(e.detail);
      console.error(`build: ${e.message}`);
    } else {
      console.error(`build: ${e instanceof Error ? e.message : String(e)}`);
    }
    return 1;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
