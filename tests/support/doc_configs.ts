/**
 * The complete network configs written in the docs (README.md and docs/**\/*.md), as a reader
 * would copy them, so tests can run each one.
 *
 * The rule: a fenced block is a complete config when it is
 * - ```yaml (or yml): a NetworkAttachmentDefinition, or a bare spec (`config: |`), whose config
 *   JSON has a plugin of type seamless-static-route or route-override, alone or in `plugins`;
 * - ```json: a network config or config list with such a plugin.
 * A block whose opening fence follows a line `<!-- fragment -->` is a fragment (an excerpt that
 * does not run on its own) and is left out. `<!-- dev: single-homed -->` or
 * `<!-- dev: multus -->` there says the config is meant for that pod shape only. A block that
 * names one of our plugin types but cannot be read is returned with its error, so a broken
 * example fails the test instead of being skipped.
 */
import { parseAllDocuments } from "yaml";
import { OUR_TYPES } from "../../testing/mod.ts";

/** The pod shapes a doc config is run in. */
export type DocShape = "single-homed" | "multus";

/** One complete config found in the docs. */
export interface DocConfig {
  /** `path:line` of the opening fence, relative to the repository. */
  where: string;
  /** The block as written (what a reader saves as nad.yaml or 10-net.conflist). */
  text: string;
  /** The file extension it is saved under: yaml or conflist/conf. */
  ext: "yaml" | "conflist" | "conf";
  /** The network's name, when it has one. */
  name: string;
  /** The shapes it is meant for. */
  shapes: DocShape[];
  /** Why the block could not be read (it names our plugin type, so it was meant to run). */
  error?: string;
}

type Json = Record<string, unknown>;

const isJson = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

/** True when a CNI config (single or list) has a plugin of our types. */
function hasOurPlugin(conf: unknown): boolean {
  if (!isJson(conf)) return false;
  const plugins: unknown[] = Array.isArray(conf.plugins) ? conf.plugins : [conf];
  return plugins.some((p) => isJson(p) && OUR_TYPES.includes(String(p.type)));
}

const OUR_TYPE_TEXT = new RegExp(`"type"\\s*:\\s*"(${OUR_TYPES.join("|")})"`);

/** The CNI config a YAML block holds as a NAD (or bare spec), or null when it is no NAD. */
function nadConfig(text: string): unknown {
  const docs = parseAllDocuments(text).map((d) => {
    if ("errors" in d && d.errors.length) throw d.errors[0];
    return d.toJS() as unknown;
  });
  for (const d of docs) {
    if (!isJson(d)) continue;
    const spec = d.kind === "NetworkAttachmentDefinition"
      ? d.spec
      : d.kind === undefined
      ? d
      : null;
    if (isJson(spec) && typeof spec.config === "string") return JSON.parse(spec.config);
  }
  return null;
}

/** The markers on the lines right above a fence (`<!-- ... -->`, blank lines skipped). */
function markersAbove(lines: readonly string[], fence: number): string[] {
  const out: string[] = [];
  for (let i = fence - 1; i >= 0; i--) {
    const l = (lines[i] ?? "").trim();
    if (l === "") continue;
    const m = /^<!--\s*(.*?)\s*-->$/.exec(l);
    if (!m) break;
    out.push(m[1] ?? "");
  }
  return out;
}

/** The complete configs of one markdown text (see the module doc). */
export function docConfigs(path: string, markdown: string): DocConfig[] {
  const lines = markdown.split("\n");
  const out: DocConfig[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(yaml|yml|json)\s*$/.exec(lines[i] ?? "");
    if (!open) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i] ?? ""); i++) body.push(lines[i] ?? "");
    const markers = markersAbove(lines, start);
    if (markers.includes("fragment")) continue;
    const text = body.join("\n") + "\n";
    const yaml = open[1] !== "json";
    const shapes: DocShape[] = markers.includes("dev: single-homed")
      ? ["single-homed"]
      : markers.includes("dev: multus")
      ? ["multus"]
      : ["single-homed", "multus"];
    const entry = { where: `${path}:${start + 1}`, text, shapes };
    try {
      const conf = yaml ? nadConfig(text) : JSON.parse(text);
      if (!hasOurPlugin(conf)) continue;
      const ext = yaml ? "yaml" : Array.isArray((conf as Json).plugins) ? "conflist" : "conf";
      out.push({ ...entry, ext, name: String((conf as Json).name ?? "") });
    } catch (e) {
      if (!OUR_TYPE_TEXT.test(text)) continue;
      out.push({ ...entry, ext: yaml ? "yaml" : "conf", name: "", error: String(e) });
    }
  }
  return out;
}

/** README.md and every docs/**\/*.md of the repository at `root`, relative paths, sorted. */
export async function docFiles(root: string): Promise<string[]> {
  const files = ["README.md"];
  const walk = async (dir: string): Promise<void> => {
    let entries: Deno.DirEntry[];
    try {
      entries = await Array.fromAsync(Deno.readDir(`${root}/${dir}`));
    } catch {
      return;
    }
    for (const e of entries) {
      if (e.isDirectory) await walk(`${dir}/${e.name}`);
      else if (e.isFile && e.name.endsWith(".md")) files.push(`${dir}/${e.name}`);
    }
  };
  await walk("docs");
  return files.sort();
}

/** Every complete config in the docs of the repository at `root`. */
export async function allDocConfigs(root: string): Promise<DocConfig[]> {
  const out: DocConfig[] = [];
  for (const f of await docFiles(root)) {
    out.push(...docConfigs(f, await Deno.readTextFile(`${root}/${f}`)));
  }
  return out;
}
