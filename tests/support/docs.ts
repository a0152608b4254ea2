/** The user-facing documentation: README.md and the task pages under docs/ (not docs/dev/). */

const ROOT: URL = new URL("../../", import.meta.url);

/** README.md and docs/*.md, by path from the repository root, in a fixed order. */
export async function docPages(): Promise<string[]> {
  const pages: string[] = [];
  for await (const e of Deno.readDir(new URL("docs/", ROOT))) {
    if (e.isFile && e.name.endsWith(".md")) pages.push(`docs/${e.name}`);
  }
  return ["README.md", ...pages.sort()];
}

/** The text of every user-facing page, joined: README.md first, then docs/*.md. */
export async function docsText(): Promise<string> {
  const texts: string[] = [];
  for (const page of await docPages()) texts.push(await Deno.readTextFile(new URL(page, ROOT)));
  return texts.join("\n");
}
