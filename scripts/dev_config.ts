/**
 * The network config a `deno task dev` run sends: the default one, or a file's (.conf,
 * .conflist, or a NetworkAttachmentDefinition in YAML), reduced to this plugin's entry and given
 * the dev pod's prevResult and a throwaway stateDir.
 */
import { parseAllDocuments } from "yaml";
import { PLUGIN_NAME } from "../src/meta.ts";
import { isObject, type JsonObject, LAB, OUR_TYPES, prevResultFor } from "../testing/mod.ts";

/** The prevResult a main plugin (e.g. bridge, ovn-k) would hand over for the dev pod. */
export function defaultPrevResult(podNetns: string): JsonObject {
  return prevResultFor({ podNetns, podIfname: LAB.podIfname });
}

/** The default network config for the seamless type. */
export function defaultConfig(): JsonObject {
  return { cniVersion: "1.0.0", name: "seamless", type: PLUGIN_NAME };
}

const OUR_TYPE_NAMES = OUR_TYPES.join(" or ");

/**
 * The config the runtime would send this plugin: a .conflist's entry of our type (with the
 * list's name and cniVersion), or a single config as is; given a prevResult for the dev pod
 * unless it has one, and a throwaway stateDir unless it sets one.
 */
export function runtimeConfig(raw: unknown, podNetns: string, stateDir: string): JsonObject {
  if (!isObject(raw)) throw new Error("the config must be a JSON object");
  let conf: JsonObject = raw;
  if (Array.isArray(raw.plugins)) {
    const entry = raw.plugins.find((p: unknown) =>
      isObject(p) && OUR_TYPES.includes(String(p.type))
    );
    if (!isObject(entry)) throw new Error(`the conflist has no plugin of type ${OUR_TYPE_NAMES}`);
    conf = { cniVersion: raw.cniVersion, name: raw.name, ...entry };
  }
  const out: JsonObject = { ...conf };
  if (out.prevResult === undefined) out.prevResult = defaultPrevResult(podNetns);
  if (out.stateDir === undefined) out.stateDir = stateDir;
  return out;
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
