/**
 * Every relative link of the docs (README.md, CHANGELOG.md, docs/**\/*.md) reaches a file or
 * directory of the repository, and every `#anchor` a heading of its target, as GitHub renders
 * them: a reader never lands on a 404 or at the top of the wrong page.
 */
import assert from "node:assert/strict";

const ROOT = new URL("../../", import.meta.url);

/** The markdown files the docs are made of, relative to the repository root. */
async function markdownFiles(): Promise<string[]> {
  const files = ["README.md", "CHANGELOG.md"];
  const walk = async (dir: string): Promise<void> => {
    for await (const e of Deno.readDir(new URL(`${dir}/`, ROOT))) {
      if (e.isDirectory) await walk(`${dir}/${e.name}`);
      else if (e.name.endsWith(".md")) files.push(`${dir}/${e.name}`);
    }
  };
  await walk("docs");
  return files.sort();
}

/** The text outside fenced code blocks and code spans (where `[x](y)` is no link). */
function prose(markdown: string): string {
  return markdown.replace(/^```[\s\S]*?^```/gm, "").replace(/`[^`\n]*`/g, "");
}

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces as hyphens. */
function slug(heading: string): string {
  return heading
    .replace(/`/g, "")
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, "")
    .replace(/\s/g, "-");
}

/** The anchors of a page's headings, numbered as GitHub numbers repeated ones. */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  const text = markdown.replace(/^```[\s\S]*?^```/gm, "");
  for (const m of text.matchAll(/^#{1,6} (.+)$/gm)) {
    const base = slug(m[1]!);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

/** The page a link from `from` points to, relative to the root, or null for the page itself. */
function resolve(from: string, target: string): string {
  const dir = from.includes("/") ? from.slice(0, from.lastIndexOf("/") + 1) : "";
  const url = new URL(target, new URL(dir, "file:///r/"));
  return decodeURIComponent(url.pathname.slice("/r/".length));
}

Deno.test("docs links: slug() makes GitHub's anchors", () => {
  assert.equal(
    slug("Scope: which routes an attachment may change"),
    "scope-which-routes-an-attachment-may-change",
  );
  assert.equal(slug("ECMP (`gws`)"), "ecmp-gws");
  assert.equal(
    slug("What a pod author can do through `args.cni`"),
    "what-a-pod-author-can-do-through-argscni",
  );
  assert.equal(slug("ADD, CHECK, DEL and GC"), "add-check-del-and-gc");
  assert.equal(
    slug("See on a node what ADD would do (`--dry-run`)"),
    "see-on-a-node-what-add-would-do---dry-run",
  );
});

Deno.test("docs links: every relative link and anchor resolves", async () => {
  const files = await markdownFiles();
  const texts = new Map<string, string>();
  for (const f of files) texts.set(f, await Deno.readTextFile(new URL(f, ROOT)));
  const broken: string[] = [];
  let checked = 0;
  for (const [from, text] of texts) {
    for (const m of prose(text).matchAll(/\]\(([^)\s]+)\)/g)) {
      const link = m[1]!;
      if (/^[a-z]+:/i.test(link)) continue; // http(s), mailto: not ours to check
      checked++;
      const [path = "", anchor] = link.split("#", 2);
      const page = path === "" ? from : resolve(from, path);
      try {
        await Deno.stat(new URL(page, ROOT));
      } catch {
        broken.push(`${from}: ${link} (no ${page})`);
        continue;
      }
      if (anchor === undefined) continue;
      const target = texts.get(page) ?? await Deno.readTextFile(new URL(page, ROOT));
      if (!anchors(target).has(anchor)) broken.push(`${from}: ${link} (no heading #${anchor})`);
    }
  }
  assert.ok(checked > 40, `checked ${checked} links`);
  assert.deepEqual(broken, []);
});
