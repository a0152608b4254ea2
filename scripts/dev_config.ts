/**
 * The network config a `deno task dev` run sends and the lab pod it is sent for: the default
 * config, or a file's (.conf, .conflist, or a NetworkAttachmentDefinition in YAML), reduced to
 * this plugin's entry; the pod's addresses come from the main plugin's IPAM (testing/ipam.ts) in
 * the pod shape asked for (testing/pod_shapes.ts), and the plugin's `stateDir` and `logFile` are
 * redirected into the lab directory, so a run never writes to the machine's real paths.
 */
import { parseAllDocuments } from "yaml";
import { PLUGIN_NAME } from "../src/meta.ts";
import { type Lease, leaseOf } from "../testing/ipam.ts";
import { isObject, type JsonObject, OUR_TYPES } from "../testing/plugin.ts";
import { DEFAULT_LEASE, type PodShape, shapePrevResult } from "../testing/pod_shapes.ts";

/** The default network config for the seamless type. */
export function defaultConfig(): JsonObject {
  return { cniVersion: "1.0.0", name: "seamless", type: PLUGIN_NAME };
}

const OUR_TYPE_NAMES = OUR_TYPES.join(" or ");

/** The lab pod a config is sent for, and the lab directory its files go to. */
export interface LabRef {
  /** CNI_NETNS of the pod. */
  podNetns: string;
  /** The attachment's interface and whether the pod is a Multus pod. */
  shape: PodShape;
  /** The attachment's addresses. */
  lease: Lease;
  /** The lab directory: the state dir and log file are put in it. */
  labDir: string;
}

/** A path of the config moved into the lab directory. */
export interface Redirect {
  key: "stateDir" | "logFile";
  /** The config's own value (undefined: it set none). */
  from?: string;
  to: string;
}

/** What a dev run sends: the config on stdin, and the paths it moved into the lab. */
export interface RuntimeConfig {
  config: JsonObject;
  redirects: Redirect[];
}

/** This plugin's entry of a config: a .conflist's entry of our type (with its name, cniVersion). */
export function pluginEntry(raw: unknown): JsonObject {
  if (!isObject(raw)) throw new Error("the config must be a JSON object");
  if (!Array.isArray(raw.plugins)) return raw;
  const entry = raw.plugins.find((p: unknown) => isObject(p) && OUR_TYPES.includes(String(p.type)));
  if (!isObject(entry)) throw new Error(`the conflist has no plugin of type ${OUR_TYPE_NAMES}`);
  return { cniVersion: raw.cniVersion, name: raw.name, ...entry };
}

/** The IPAM of the main plugin: the first entry before ours that has one (undefined: none). */
export function mainIpam(raw: unknown): unknown {
  if (!isObject(raw)) return undefined;
  if (!Array.isArray(raw.plugins)) return raw.ipam;
  for (const p of raw.plugins) {
    if (!isObject(p) || OUR_TYPES.includes(String(p.type))) return undefined;
    if (p.ipam !== undefined) return p.ipam;
  }
  return undefined;
}

/** The lab pod's lease for a config, and where it came from (one line for the reader). */
export function labLease(raw: unknown): { lease: Lease; source: string } {
  const ipam = mainIpam(raw);
  const lease = leaseOf(ipam);
  if (lease.ips.length > 0) {
    const type = isObject(ipam) ? String(ipam.type) : "?";
    const notes = lease.notes.length > 0 ? `; ${lease.notes.join("; ")}` : "";
    return { lease, source: `the main plugin's ipam (${type}${notes})` };
  }
  const why = ipam === undefined
    ? "the config has no main plugin with ipam"
    : lease.notes.join("; ");
  return { lease: DEFAULT_LEASE, source: `the lab's default (${why})` };
}

/** Moves an absolute path of the config into the lab directory; anything else is left to the plugin. */
function redirect(
  out: JsonObject,
  key: Redirect["key"],
  to: string,
  redirects: Redirect[],
): void {
  const from = out[key];
  if (from === undefined) {
    if (key === "stateDir") {
      out[key] = to;
      redirects.push({ key, to });
    }
    return;
  }
  if (typeof from !== "string" || !from.startsWith("/")) return;
  out[key] = to;
  redirects.push({ key, from, to });
}

/** The last part of a path, safe as a file name in the lab directory. */
function baseName(path: string): string {
  const base = path.split("/").filter((p) => p !== "").pop() ?? "";
  return /^[A-Za-z0-9._-]{1,100}$/.test(base) && base !== "." && base !== ".."
    ? base
    : "plugin.log";
}

/**
 * The config the runtime would send this plugin for the lab pod: our entry (`pluginEntry`), with
 * the prevResult the main plugin would hand over for the pod unless it has one, the state dir in
 * the lab directory, and its `logFile` (if any) moved into the lab directory too.
 */
export function runtimeConfig(raw: unknown, ref: LabRef): RuntimeConfig {
  const out: JsonObject = { ...pluginEntry(raw) };
  const redirects: Redirect[] = [];
  if (out.prevResult === undefined) {
    out.prevResult = shapePrevResult(ref.shape, ref.lease, ref.podNetns);
  }
  redirect(out, "stateDir", `${ref.labDir}/state`, redirects);
  if (typeof out.logFile === "string") {
    redirect(out, "logFile", `${ref.labDir}/logs/${baseName(out.logFile)}`, redirects);
  }
  return { config: out, redirects };
}

/** The first line of an error's message. */
export function message(e: unknown): string {
  return e instanceof Error ? e.message.split("\n")[0] ?? "" : String(e);
}

/**
 * The CNI config a NetworkAttachmentDefinition YAML holds: `spec.config` (a JSON string), or
 * `config` of a bare spec. Throws a one-line error for a YAML that is no NAD, or whose config
 * is not JSON or has no entry of our types.
 */
export function configFromNad(text: string, path: string): JsonObject {
  let docs: unknown[];
  try {
    docs = parseAllDocuments(text).flatMap((d) => {
      if (!("errors" in d)) return [];
      if (d.errors.length) throw d.errors[0];
      return [d.toJS()];
    });
  } catch (e) {
    throw new Error(`${path} is neither JSON nor YAML: ${message(e)}`);
  }
  const specs = docs.flatMap((d): unknown[] => {
    if (!isObject(d)) return [];
    if (d.kind === "NetworkAttachmentDefinition") return [isObject(d.spec) ? d.spec : {}];
    return d.kind === undefined && "config" in d ? [d] : [];
  });
  const kinds = docs.map((d) => isObject(d) && d.kind !== undefined ? String(d.kind) : "none");
  const spec = specs[0];
  if (spec === undefined || !isObject(spec)) {
    throw new Error(
      `${path} is not a NetworkAttachmentDefinition (kind: ${
        kinds.join(", ") || "none"
      }); give a NAD, a .conf or a .conflist`,
    );
  }
  if (specs.length > 1) throw new Error(`${path} holds ${specs.length} NADs; give one`);
  if (typeof spec.config !== "string") {
    throw new Error(`${path}: spec.config must be the CNI config as a JSON string`);
  }
  let conf: unknown;
  try {
    conf = JSON.parse(spec.config);
  } catch (e) {
    throw new Error(`${path}: spec.config is not JSON: ${message(e)}`);
  }
  if (!isObject(conf)) throw new Error(`${path}: spec.config must be a JSON object`);
  const types = Array.isArray(conf.plugins)
    ? conf.plugins.map((p: unknown) => isObject(p) ? String(p.type) : "?")
    : [String(conf.type)];
  if (!types.some((t) => OUR_TYPES.includes(t))) {
    throw new Error(
      `${path}: the NAD has no plugin of type ${OUR_TYPE_NAMES} (it has: ${types.join(", ")})`,
    );
  }
  return conf;
}

/** The config of a file: JSON (.conf, .conflist), or a NAD in YAML (.yaml, .yml, or not JSON). */
export function parseConfigFile(text: string, path: string): unknown {
  if (/\.ya?ml$/i.test(path)) return configFromNad(text, path);
  try {
    return JSON.parse(text);
  } catch (e) {
    if (/^\s*[{[]/.test(text)) throw new Error(`config ${path} is not JSON: ${message(e)}`);
    return configFromNad(text, path);
  }
}

/** The config of `path`, or the default config when there is none; throws one line. */
export async function loadConfig(path: string | undefined): Promise<unknown> {
  if (path === undefined) return defaultConfig();
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    throw new Error(`cannot read config ${path}: ${message(e)}`);
  }
  return parseConfigFile(text, path);
}
