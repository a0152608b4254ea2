/** The docs' NetworkAttachmentDefinition examples (README.md, docs/*.md) are valid configs that draw no warning. */
import assert from "node:assert/strict";
import { parseAllDocuments } from "yaml";
import { parseConfig } from "../../src/config.ts";
import { docsText } from "../support/docs.ts";

/** Every `config: |` JSON of the yaml blocks in `text`. */
function readmeConfigs(text: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const block of text.matchAll(/```yaml\n([\s\S]*?)```/g)) {
    for (const d of parseAllDocuments(block[1]!)) {
      const doc = d.toJS() as Record<string, unknown> | null;
      const spec = (doc?.spec ?? doc) as Record<string, unknown> | undefined;
      if (typeof spec?.config === "string") out.push(JSON.parse(spec.config));
    }
  }
  return out;
}

Deno.test("docs: every NAD example parses, and no plugin of ours warns about a key", async () => {
  const configs = readmeConfigs(await docsText());
  assert.ok(configs.length >= 3, `found ${configs.length} examples`);
  let ours = 0;
  for (const list of configs) {
    const plugins = (list.plugins ?? [list]) as Record<string, unknown>[];
    for (const p of plugins) {
      if (p.type !== "seamless-static-route" && p.type !== "route-override") continue;
      ours++;
      const c = parseConfig({ cniVersion: list.cniVersion, name: list.name, ...p });
      assert.deepEqual(c.warnings, [], JSON.stringify(p));
    }
  }
  assert.ok(ours >= 3, `${ours} plugin configs of ours`);
});
