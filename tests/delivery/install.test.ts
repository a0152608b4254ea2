/**
 * The `install` script (the image's entrypoint), run with dash (`sh`) and `busybox sh` against
 * temporary directories: names, idempotence, atomic replacement under a concurrent reader, and
 * every error path leaving nothing half-written behind.
 */
import assert from "node:assert/strict";
import { IS_ROOT, type Run as Result, run, SKIP_REASON, succeeds } from "../../testing/mod.ts";

const ROOT: string = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");
const INSTALL = `${ROOT}/install`;

function has(cmd: string, args: string[]): Promise<boolean> {
  return succeeds([cmd, ...args]);
}

/** The shells the script must work under: dash as `sh`, and busybox's ash when present. */
const SHELLS: { name: string; argv: string[]; available: boolean }[] = [
  { name: "sh", argv: ["sh"], available: await has("sh", ["-c", "true"]) },
  {
    name: "busybox sh",
    argv: ["busybox", "sh"],
    available: await has("busybox", ["sh", "-c", "true"]),
  },
];
for (const s of SHELLS) {
  if (!s.available) console.warn(`install tests under '${s.name}' skipped: it is not installed`);
}
/** Failure injection replaces chmod/mv/sync through PATH; busybox sh runs its own applets. */
const SHIM_SKIP = "skipped under busybox sh: it runs its built-in chmod/mv/sync, not PATH shims";
const HAS_UNSHARE = IS_ROOT && await has("unshare", ["--help"]);

/** Runs `install` under a shell with only the given environment (plus PATH). */
async function install(
  shell: string[],
  env: Record<string, string>,
  opts: { path?: string; args?: string[]; wrap?: string[] } = {},
): Promise<Result> {
  const argv = [...(opts.wrap ?? []), ...shell, INSTALL, ...(opts.args ?? [])];
  return await run(argv, {
    env: { PATH: opts.path ?? Deno.env.get("PATH") ?? "/usr/bin:/bin", ...env },
    clearEnv: true,
  });
}

/** A temp dir with a source binary and an empty destination dir; removed on dispose. */
class Fixture implements AsyncDisposable {
  readonly dir: string;
  readonly src: string;
  readonly bin: string;
  private constructor(dir: string) {
    this.dir = dir;
    this.src = `${dir}/seamless-static-route`;
    this.bin = `${dir}/bin`;
  }

  static async create(content = "#!/bin/sh\necho new\n"): Promise<Fixture> {
    const f = new Fixture(await Deno.makeTempDir({ prefix: "ssr-install-" }));
    await Deno.writeTextFile(f.src, content, { mode: 0o755 });
    await Deno.mkdir(f.bin);
    return f;
  }

  env(names?: string): Record<string, string> {
    const env: Record<string, string> = { CNI_BIN_DIR: this.bin, PLUGIN_SOURCE: this.src };
    if (names !== undefined) env.CNI_PLUGIN_NAMES = names;
    return env;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}

async function listDir(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) names.push(e.name);
  return names.sort();
}

/** Asserts that no temporary file of the script is left in `dir`. */
async function assertNoTemp(dir: string): Promise<void> {
  const left = (await listDir(dir)).filter((n) => n.startsWith(".") || n.includes(".install."));
  assert.deepEqual(left, [], `temporary files left in ${dir}`);
}

/** Asserts the script failed with one clear `install: error:` line on stderr. */
function assertFailed(r: Result, code: number, pattern: RegExp): void {
  assert.equal(r.code, code, `exit status (stderr: ${r.stderr})`);
  assert.equal(r.stdout, "", "nothing reported as installed");
  const lines = r.stderr.trim().split("\n");
  assert.equal(lines.length, 1, `one line on stderr, got: ${r.stderr}`);
  assert.match(lines[0] ?? "", /^install: error: /);
  assert.match(lines[0] ?? "", pattern);
}

for (const shell of SHELLS) {
  const t = (name: string, fn: () => Promise<void>, ignore = false): void => {
    Deno.test({ name: `install (${shell.name}): ${name}`, ignore: ignore || !shell.available, fn });
  };
  const shims = shell.argv[0] !== "busybox";
  if (!shims) console.warn(`install failure-injection tests ${SHIM_SKIP}`);

  t("installs each name, mode 755, identical to the source, no temp files", async () => {
    await using f = await Fixture.create();
    const r = await install(shell.argv, f.env("seamless-static-route route-override"));
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stdout,
      `installed ${f.bin}/seamless-static-route\ninstalled ${f.bin}/route-override\n`,
    );
    assert.equal(r.stderr, "");
    for (const name of ["seamless-static-route", "route-override"]) {
      const st = await Deno.stat(`${f.bin}/${name}`);
      assert.equal(st.mode! & 0o777, 0o755, name);
      assert.deepEqual(await Deno.readFile(`${f.bin}/${name}`), await Deno.readFile(f.src));
    }
    assert.deepEqual(await listDir(f.bin), ["route-override", "seamless-static-route"]);
  });

  t("names are split on spaces, tabs and newlines ('a b' is two names)", async () => {
    await using f = await Fixture.create();
    const r = await install(shell.argv, f.env(" a b\tc\nd.1_x-y "));
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await listDir(f.bin), ["a", "b", "c", "d.1_x-y"]);
  });

  t("defaults: name seamless-static-route, source next to the script", async () => {
    await using f = await Fixture.create();
    // Lay out the image: /install and /seamless-static-route side by side.
    const image = `${f.dir}/image`;
    await Deno.mkdir(image);
    await Deno.copyFile(INSTALL, `${image}/install`);
    await Deno.chmod(`${image}/install`, 0o755);
    await Deno.copyFile(f.src, `${image}/seamless-static-route`);
    const out = await run([...shell.argv, `${image}/install`], {
      env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", CNI_BIN_DIR: f.bin },
      clearEnv: true,
    });
    assert.equal(out.code, 0, out.stderr);
    assert.equal(out.stdout, `installed ${f.bin}/seamless-static-route\n`);
  });

  t("second run: 'unchanged', same inode and mtime", async () => {
    await using f = await Fixture.create();
    const env = f.env("seamless-static-route route-override");
    assert.equal((await install(shell.argv, env)).code, 0);
    const before = await Promise.all(
      ["seamless-static-route", "route-override"].map((n) => Deno.stat(`${f.bin}/${n}`)),
    );
    await new Promise((r) => setTimeout(r, 20));
    const r = await install(shell.argv, env);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stdout,
      `unchanged ${f.bin}/seamless-static-route\nunchanged ${f.bin}/route-override\n`,
    );
    const after = await Promise.all(
      ["seamless-static-route", "route-override"].map((n) => Deno.stat(`${f.bin}/${n}`)),
    );
    for (let i = 0; i < 2; i++) {
      assert.equal(after[i]!.ino, before[i]!.ino, "inode kept");
      assert.equal(after[i]!.mtime?.getTime(), before[i]!.mtime?.getTime(), "mtime kept");
    }
    await assertNoTemp(f.bin);
  });

  t("replaces a different old binary with a new file (new inode)", async () => {
    await using f = await Fixture.create();
    const dest = `${f.bin}/seamless-static-route`;
    await Deno.writeTextFile(dest, "#!/bin/sh\necho old\n", { mode: 0o755 });
    const oldIno = (await Deno.stat(dest)).ino;
    const r = await install(shell.argv, f.env());
    assert.equal(r.stdout, `installed ${dest}\n`);
    assert.equal(await Deno.readTextFile(dest), "#!/bin/sh\necho new\n");
    assert.notEqual((await Deno.stat(dest)).ino, oldIno, "replaced by rename, not rewritten");
    await assertNoTemp(f.bin);
  });

  t("an identical but non-executable file is reinstalled as 755", async () => {
    await using f = await Fixture.create();
    const dest = `${f.bin}/seamless-static-route`;
    await Deno.copyFile(f.src, dest);
    await Deno.chmod(dest, 0o644);
    const r = await install(shell.argv, f.env());
    assert.equal(r.stdout, `installed ${dest}\n`);
    assert.equal((await Deno.stat(dest)).mode! & 0o777, 0o755);
  });

  t("missing source: exit 1, nothing written", async () => {
    await using f = await Fixture.create();
    const r = await install(shell.argv, { ...f.env(), PLUGIN_SOURCE: `${f.dir}/nope` });
    assertFailed(r, 1, /plugin binary .*\/nope not found/);
    assert.deepEqual(await listDir(f.bin), []);
  });

  t("empty source file or a directory as source: exit 1", async () => {
    await using f = await Fixture.create();
    await Deno.writeTextFile(`${f.dir}/empty`, "");
    assertFailed(
      await install(shell.argv, { ...f.env(), PLUGIN_SOURCE: `${f.dir}/empty` }),
      1,
      /is empty/,
    );
    assertFailed(
      await install(shell.argv, { ...f.env(), PLUGIN_SOURCE: f.bin }),
      1,
      /not a regular file/,
    );
    assert.deepEqual(await listDir(f.bin), []);
  });

  t("destination dir missing, or a regular file: exit 1", async () => {
    await using f = await Fixture.create();
    assertFailed(
      await install(shell.argv, { ...f.env(), CNI_BIN_DIR: `${f.dir}/missing` }),
      1,
      /CNI bin dir .*\/missing does not exist/,
    );
    assertFailed(
      await install(shell.argv, { ...f.env(), CNI_BIN_DIR: f.src }),
      1,
      /is not a directory/,
    );
    assertFailed(
      await install(shell.argv, { ...f.env(), CNI_BIN_DIR: `${f.src}/sub` }),
      1,
      /does not exist/,
    );
    assert.equal(await Deno.readTextFile(f.src), "#!/bin/sh\necho new\n", "source untouched");
  });

  t("destination where files cannot be created (even as root): exit 1", async () => {
    await using f = await Fixture.create();
    // /proc/sys is a directory in which nobody, root included, can create a file.
    const r = await install(shell.argv, { ...f.env(), CNI_BIN_DIR: "/proc/sys" });
    assertFailed(r, 1, /cannot write to CNI bin dir \/proc\/sys/);
  });

  t("read-only destination (read-only bind mount in a private mount namespace)", async () => {
    await using f = await Fixture.create();
    await Deno.writeTextFile(`${f.bin}/seamless-static-route`, "old\n", { mode: 0o755 });
    const q = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
    const r = await install(shell.argv, f.env(), {
      wrap: [
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        `mount --bind ${q(f.bin)} ${q(f.bin)} && mount -o remount,bind,ro ${q(f.bin)} && exec "$@"`,
        "sh",
      ],
    });
    assertFailed(r, 1, /cannot write to CNI bin dir .*Read-only file system/);
    assert.equal(await Deno.readTextFile(`${f.bin}/seamless-static-route`), "old\n");
    await assertNoTemp(f.bin);
  }, !HAS_UNSHARE);

  t("a directory in the way of a name: exit 1, left alone", async () => {
    await using f = await Fixture.create();
    await Deno.mkdir(`${f.bin}/seamless-static-route`);
    const r = await install(shell.argv, f.env());
    assertFailed(r, 1, /is a directory/);
    assert.ok((await Deno.stat(`${f.bin}/seamless-static-route`)).isDirectory);
    await assertNoTemp(f.bin);
  });

  const badNames: [string, string][] = [
    ["../x", "path traversal"],
    ["a/b", "slash"],
    ["/abs", "absolute path"],
    [".hidden", "leading dot"],
    ["..", "dot-dot"],
    ["-rf", "leading dash"],
    ["*", "glob"],
    ["a;b", "semicolon"],
    ["$(id)", "command substitution"],
    ["a,b", "comma"],
    ["x".repeat(65), "65 characters"],
  ];
  for (const [bad, what] of badNames) {
    t(
      `bad name ${
        JSON.stringify(bad.length > 20 ? `${bad.slice(0, 8)}...` : bad)
      } (${what}): exit 2, nothing written`,
      async () => {
        await using f = await Fixture.create();
        // A valid name before the bad one: every name is checked before anything is written.
        const r = await install(shell.argv, f.env(`seamless-static-route ${bad}`));
        assertFailed(r, 2, /invalid plugin name/);
        assert.deepEqual(await listDir(f.bin), []);
      },
    );
  }

  t("empty or blank CNI_PLUGIN_NAMES, empty CNI_BIN_DIR or PLUGIN_SOURCE: exit 2", async () => {
    await using f = await Fixture.create();
    for (const names of ["", "   ", "\t\n"]) {
      assertFailed(await install(shell.argv, f.env(names)), 2, /CNI_PLUGIN_NAMES is empty/);
    }
    assertFailed(
      await install(shell.argv, { ...f.env(), CNI_BIN_DIR: "" }),
      2,
      /CNI_BIN_DIR is set but empty/,
    );
    assertFailed(
      await install(shell.argv, { ...f.env(), PLUGIN_SOURCE: "" }),
      2,
      /PLUGIN_SOURCE is set but empty/,
    );
    assert.deepEqual(await listDir(f.bin), []);
  });

  t("--help prints usage; an unknown argument is refused", async () => {
    await using f = await Fixture.create();
    const help = await install(shell.argv, f.env(), { args: ["--help"] });
    assert.equal(help.code, 0);
    assert.match(help.stdout, /CNI_BIN_DIR[\s\S]*CNI_PLUGIN_NAMES[\s\S]*PLUGIN_SOURCE/);
    assertFailed(await install(shell.argv, f.env(), { args: ["--force"] }), 2, /unknown argument/);
    assert.deepEqual(await listDir(f.bin), []);
  });

  t("a step failing after the temp file exists: temp removed, old binary intact", async () => {
    await using f = await Fixture.create();
    const dest = `${f.bin}/seamless-static-route`;
    await Deno.writeTextFile(dest, "old\n", { mode: 0o755 });
    for (const tool of ["chmod", "mv"]) {
      // A PATH where this one tool fails, as a full disk or a vanished mount would make it.
      const shim = `${f.dir}/shim-${tool}`;
      await Deno.mkdir(shim);
      await Deno.writeTextFile(
        `${shim}/${tool}`,
        `#!/bin/sh\necho "${tool}: simulated failure" >&2\nexit 1\n`,
        {
          mode: 0o755,
        },
      );
      const r = await install(shell.argv, f.env(), {
        path: `${shim}:${Deno.env.get("PATH") ?? "/usr/bin:/bin"}`,
      });
      assertFailed(r, 1, new RegExp(`${tool}: simulated failure`));
      assert.equal(
        await Deno.readTextFile(dest),
        "old\n",
        `old binary intact after ${tool} failed`,
      );
      await assertNoTemp(f.bin);
    }
  }, !shims);

  t("SIGTERM in the middle: exit 143, temp removed, old binary intact", async () => {
    await using f = await Fixture.create();
    const dest = `${f.bin}/seamless-static-route`;
    await Deno.writeTextFile(dest, "old\n", { mode: 0o755 });
    // `sync` runs after the temp file is written; this one sends the script SIGTERM instead.
    const shim = `${f.dir}/shim-sync`;
    await Deno.mkdir(shim);
    await Deno.writeTextFile(`${shim}/sync`, '#!/bin/sh\nkill -TERM "$PPID"\nexit 0\n', {
      mode: 0o755,
    });
    const r = await install(shell.argv, f.env(), {
      path: `${shim}:${Deno.env.get("PATH") ?? "/usr/bin:/bin"}`,
    });
    assert.equal(r.code, 143, `exit status (stdout: ${r.stdout}, stderr: ${r.stderr})`);
    assert.equal(r.stdout, "");
    assert.equal(await Deno.readTextFile(dest), "old\n");
    await assertNoTemp(f.bin);
  }, !shims);

  t("atomic: a concurrent reader always sees the whole old or the whole new binary", async () => {
    await using f = await Fixture.create();
    // Two executables of different sizes, large enough that a non-atomic copy would be seen
    // half-written: each prints its letter.
    const make = (letter: string, kib: number): Uint8Array => {
      const head = `#!/bin/sh\necho ${letter}\nexit 0\n`;
      return new TextEncoder().encode(head + `# ${letter.repeat(1023)}\n`.repeat(kib));
    };
    const variants = [make("A", 2048), make("B", 3072)];
    const srcs = [`${f.dir}/A`, `${f.dir}/B`];
    for (let i = 0; i < 2; i++) await Deno.writeFile(srcs[i]!, variants[i]!, { mode: 0o755 });
    const dest = `${f.bin}/seamless-static-route`;
    const env = (i: number) => ({ CNI_BIN_DIR: f.bin, PLUGIN_SOURCE: srcs[i]! });
    assert.equal((await install(shell.argv, env(0))).code, 0);

    const same = (a: Uint8Array, b: Uint8Array): boolean =>
      a.length === b.length && a.every((v, i) => v === b[i]);
    let stop = false;
    let reads = 0;
    let execs = 0;
    const seen = new Set<string>();
    const torn: string[] = [];
    const reader = (async () => {
      while (!stop) {
        const data = await Deno.readFile(dest);
        reads++;
        if (same(data, variants[0]!)) seen.add("A");
        else if (same(data, variants[1]!)) seen.add("B");
        else torn.push(`read ${data.length} bytes matching neither`);
        let out: Result;
        try {
          out = await run([dest]);
        } catch (e) {
          torn.push(`exec failed: ${e instanceof Error ? e.message : String(e)}`);
          continue;
        }
        execs++;
        const said = out.stdout.trim();
        if (out.code !== 0 || (said !== "A" && said !== "B")) {
          torn.push(`exec: code ${out.code}, stdout '${said}', stderr '${out.stderr.trim()}'`);
        }
      }
    })();
    const rounds = 40;
    try {
      for (let i = 1; i <= rounds; i++) {
        const r = await install(shell.argv, env(i % 2));
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout, `installed ${dest}\n`);
      }
    } finally {
      stop = true;
      await reader;
    }
    assert.deepEqual(
      torn.slice(0, 5),
      [],
      `the reader never saw a partial file (${torn.length} bad reads/execs)`,
    );
    assert.ok(reads >= 5 && execs >= 5, `reader ran (${reads} reads, ${execs} execs)`);
    assert.ok(seen.has("A") && seen.has("B"), `saw both versions (${[...seen]})`);
    assert.deepEqual(await Deno.readFile(dest), variants[rounds % 2]);
    await assertNoTemp(f.bin);
  });
}

Deno.test("install: is POSIX sh that dash and busybox parse (sh -n)", async () => {
  for (const shell of SHELLS.filter((s) => s.available)) {
    const out = await run([...shell.argv, "-n", INSTALL]);
    assert.equal(out.code, 0, `${shell.name} -n: ${out.stderr}`);
  }
  const text = await Deno.readTextFile(INSTALL);
  assert.match(text, /^#!\/bin\/sh\n/);
  assert.ok(((await Deno.stat(INSTALL)).mode! & 0o111) !== 0, "install is executable");
  for (const bashism of [/\[\[/, /\bfunction\s+\w+/, /\blocal\s/, /\$\{[^}]*\/\/[^}]*\}/, /<<</]) {
    assert.doesNotMatch(text, bashism, `no bashism ${bashism}`);
  }
});

if (!IS_ROOT) console.warn(`read-only mount test: ${SKIP_REASON}`);
