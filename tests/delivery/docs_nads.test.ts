/**
 * Every complete network config in the docs (README.md and docs/**\/*.md; the rule is in
 * tests/support/doc_configs.ts) runs green in `deno task dev`, saved as a reader would save it:
 * ADD, CHECK and DEL exit 0 and DEL puts the pod's routes back, in a single-homed pod and in a
 * Multus pod (eth0 the cluster network, the attachment net1), with the pod's addresses from the
 * config's own IPAM. A config with a `logFile` leaves the machine's file at that path untouched.
 * So the docs cannot drift from the code.
 */
import assert from "node:assert/strict";
import { IS_ROOT, ROOT, run, SKIP_REASON } from "../../testing/mod.ts";
import { allDocConfigs, type DocConfig, docConfigs } from "../support/doc_configs.ts";

const CONFIGS: DocConfig[] = await allDocConfigs(ROOT);

/** The `logFile` a config sets (its entry of our type), if any. */
function logFileOf(c: DocConfig): string | undefined {
  const m = /"logFile"\s*:\s*"([^"]+)"/.exec(c.text);
  return m?.[1];
}

/** What is at a path now: its size and mtime, or "absent". */
async function fileMark(path: string): Promise<string> {
  try {
    const s = await Deno.stat(path);
    return `${s.size} ${s.mtime?.getTime()}`;
  } catch {
    return "absent";
  }
}

Deno.test("docs: the complete configs are found, and none is unreadable", () => {
  const readme = CONFIGS.filter((c) => c.where.startsWith("README.md:"));
  assert.ok(readme.length >= 1, `README.md has a complete NAD (found ${readme.length})`);
  assert.ok(CONFIGS.length >= 4, `the docs have complete configs (found ${CONFIGS.length})`);
  const broken = CONFIGS.filter((c) => c.error !== undefined);
  assert.deepEqual(broken.map((c) => `${c.where}: ${c.error}`), [], "every config block parses");
});

Deno.test("docs: the extraction rule (NAD, bare spec, JSON, fragments, shape markers)", () => {
  const nad = (type: string) =>
    `kind: NetworkAttachmentDefinition\nspec:\n  config: '{"cniVersion":"1.0.0","name":"n","plugins":[{"type":"${type}"}]}'\n`;
  const md = [
    "```yaml",
    nad("route-override"),
    "```",
    "<!-- fragment -->",
    "```yaml",
    nad("seamless-static-route"),
    "```",
    "```yaml",
    nad("bridge"),
    "```",
    "<!-- dev: multus -->",
    "",
    "```json",
    '{"cniVersion":"1.0.0","name":"j","type":"seamless-static-route"}',
    "```",
    "```yaml",
    "metadata:\n  annotations:\n    k8s.v1.cni.cncf.io/networks: x",
    "```",
    "```json",
    '{ "type": "route-override", oops }',
    "```",
  ].join("\n");
  const found = docConfigs("x.md", md);
  assert.deepEqual(found.map((c) => [c.where, c.ext, c.name, c.shapes.join("+")]), [
    ["x.md:1", "yaml", "n", "single-homed+multus"],
    ["x.md:22", "conf", "j", "multus"],
    ["x.md:30", "conf", "", "single-homed+multus"],
  ]);
  assert.match(found[2]?.error ?? "", /JSON/, "a broken block naming our type is kept, with why");
});

for (const c of CONFIGS) {
  Deno.test({
    name: `docs: ${c.where} (${c.name || "?"}) runs green in deno task dev`,
    ignore: !IS_ROOT || c.error !== undefined,
    async fn(t) {
      const dir = await Deno.makeTempDir({ prefix: "ssr-docs-nad-" });
      try {
        const path = `${dir}/${c.name || "net"}.${c.ext}`;
        await Deno.writeTextFile(path, c.text);
        const logFile = logFileOf(c);
        for (const shape of c.shapes) {
          await t.step(shape, async () => {
            const logBefore = logFile === undefined ? "" : await fileMark(logFile);
            const args = shape === "multus" ? ["--multus", path] : [path];
            const r = await run([Deno.execPath(), "task", "--quiet", "dev", ...args], {
              cwd: ROOT,
              env: { NO_COLOR: "1" },
            });
            const out = `${c.where} as ${shape}:\n${r.stdout}\n${r.stderr}`;
            assert.match(r.stdout, /ADD exit 0/, out);
            assert.match(r.stdout, /CHECK exit 0/, out);
            assert.match(r.stdout, /DEL exit 0/, out);
            assert.match(r.stdout, /the pod's routes are back to what they were before ADD/, out);
            assert.equal(r.code, 0, out);
            if (logFile !== undefined) {
              assert.equal(await fileMark(logFile), logBefore, `${logFile} left alone`);
              assert.match(r.stdout, new RegExp(`logFile: ${logFile} redirected to /tmp/`), out);
            }
          });
        }
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  });
}

if (!IS_ROOT) console.warn(`docs NAD runs: ${SKIP_REASON}`);
