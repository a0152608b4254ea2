/**
 * A private containerd for tests, started the way a node runs it but leaving nothing behind:
 *
 * - its own root, state, gRPC socket and CNI conf/bin dirs, all in one temp dir;
 * - run in a node network namespace (`nsenter --net=`, so bridges and veths live there) and in a
 *   private mount namespace (`unshare -m`) with a tmpfs on `/run` (shim sockets, runc state, the
 *   CNI netns mounts) and writable overlay views of `/etc`, `/opt` and `/var/lib` whose changes
 *   stay in that tmpfs: go-cni's fixed paths (`/etc/cni/net.d`, `/opt/cni/bin` for `ctr run
 *   --cni`, libcni's cache in `/var/lib/cni`) work there and nowhere else. When the daemon and its
 *   shims are gone the mount namespace goes, and every mount with it;
 * - a recording wrapper in front of this plugin, so a test sees every call the runtime made
 *   (CNI_* variables, stdin, exit code, stdout).
 *
 * Dispose stops the daemon and its shims by PID (SIGTERM, then SIGKILL), removes the cgroups the
 * containers used and deletes the temp dir, also when the test failed.
 */
import { REFERENCE_CNI_DIR } from "../chain.ts";
import { type BinDir, type Lab, type Need, type Run, run } from "../../../testing/mod.ts";
import { buildPauseArchive, PAUSE_IMAGE } from "./image.ts";

/** The busybox-static binary the sandbox image is built from. */
export const BUSYBOX = "/usr/bin/busybox";

/** What the containerd tests need besides root. */
export const CONTAINERD_NEEDS: readonly Need[] = [
  { file: "containerd", pkg: "containerd" },
  { file: "ctr", pkg: "containerd" },
  { file: "containerd-shim-runc-v2", pkg: "containerd" },
  { file: "runc", pkg: "runc" },
  { file: BUSYBOX, pkg: "busybox-static" },
  { file: `${REFERENCE_CNI_DIR}/bridge`, pkg: "containernetworking-plugins" },
  { file: "nsenter", pkg: "util-linux" },
  { file: "unshare", pkg: "util-linux" },
  { file: "tar", pkg: "tar" },
];

/** Where libcni caches results (`/var/lib/cni/results`), as containerd sees it. */
export const CNI_CACHE_DIR = "/var/lib/cni/results";

/** The mount-namespace set-up, run as `sh -c SCRIPT sh DIR` before exec'ing containerd. */
const SETUP = `set -eu
d=$1
mount -t tmpfs -o mode=0755 ssr-run /run
for p in /etc /opt /var/lib; do
  v=/run/ssr-views$p
  mkdir -p "$v/up" "$v/work"
  mount -t overlay ssr-view -o "lowerdir=$p,upperdir=$v/up,workdir=$v/work" "$p"
done
mkdir -p /etc/cni/net.d /opt/cni/bin /var/lib/cni
mount --bind "$d/cni-conf" /etc/cni/net.d
mount --bind "$d/cni-bin" /opt/cni/bin
exec containerd --config "$d/config.toml" >"$d/containerd.log" 2>&1
`;

/** One plugin call the runtime made, as the recording wrapper saw it. */
export interface CniCall {
  /** The CNI_* variables (CNI_COMMAND, CNI_NETNS, CNI_ARGS...). */
  env: Record<string, string>;
  /** stdin, parsed. */
  config: Record<string, unknown>;
  /** Exit code and stdout of the plugin. */
  code: number;
  stdout: string;
}

/** How to start the daemon. */
export interface ContainerdOptions {
  /** CNI network name (the conflist's `name`). */
  network: string;
  /** The conflist's plugins; gets the temp dir for IPAM `dataDir` and `stateDir` paths. */
  plugins: (dir: string) => Record<string, unknown>[];
  /** Load the CRI plugin (default: no, for `ctr` alone). */
  cri?: boolean;
}

function quote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

let serial = 0;

/** A running private containerd. */
export class Containerd implements AsyncDisposable {
  readonly dir: string;
  readonly node: Lab;
  readonly network: string;
  /** A cgroup name of its own, for the containers' cgroups (removed on dispose). */
  readonly cgroupParent: string;
  private child?: Deno.ChildProcess;

  private constructor(dir: string, node: Lab, network: string) {
    this.dir = dir;
    this.node = node;
    this.network = network;
    serial += 1;
    this.cgroupParent = `ssrcd${Deno.pid}x${serial}`;
  }

  /** The daemon's gRPC socket. */
  get socket(): string {
    return `${this.dir}/containerd.sock`;
  }

  /** The daemon's PID (0 before it started). */
  get pid(): number {
    return this.child?.pid ?? 0;
  }

  /** This plugin's state directory (the conflist's `stateDir` should be it). */
  get stateDir(): string {
    return `${this.dir}/state-ssr`;
  }

  /** host-local's data directory (the conflist's `dataDir` should be it). */
  get ipamDir(): string {
    return `${this.dir}/ipam`;
  }

  /** A path as containerd (in its mount namespace) sees it, readable from the test. */
  view(path: string): string {
    return `/proc/${this.pid}/root${path}`;
  }

  /** Writes the config, the conflist and the bin dir, starts the daemon and waits for it. */
  static async start(node: Lab, bin: BinDir, opts: ContainerdOptions): Promise<Containerd> {
    const dir = await Deno.makeTempDir({ prefix: "ssr-containerd-" });
    const cd = new Containerd(dir, node, opts.network);
    try {
      await cd.prepare(bin, opts);
      cd.child = new Deno.Command("nsenter", {
        args: [
          `--net=${node.nodeNetns}`,
          "unshare",
          "-m",
          "--propagation",
          "private",
          "sh",
          "-c",
          SETUP,
          "sh",
          dir,
        ],
        stdin: "null",
        stdout: "null",
        stderr: "piped",
      }).spawn();
      await cd.waitReady();
    } catch (e) {
      await cd[Symbol.asyncDispose]();
      throw e;
    }
    return cd;
  }

  private async prepare(bin: BinDir, opts: ContainerdOptions): Promise<void> {
    const { dir } = this;
    for (const sub of ["root", "state", "cni-bin", "cni-conf", "calls", "opt", "work"]) {
      await Deno.mkdir(`${dir}/${sub}`, { recursive: true });
    }
    for await (const e of Deno.readDir(REFERENCE_CNI_DIR)) {
      await Deno.symlink(`${REFERENCE_CNI_DIR}/${e.name}`, `${dir}/cni-bin/${e.name}`);
    }
    for (const type of ["seamless-static-route", "route-override"]) {
      await this.writeRecorder(`${dir}/cni-bin/${type}`, bin.plugin(type));
    }
    await Deno.writeTextFile(
      `${dir}/cni-conf/10-${opts.network}.conflist`,
      JSON.stringify(
        { cniVersion: "1.0.0", name: opts.network, plugins: opts.plugins(dir) },
        null,
        2,
      ),
    );
    const disabled = [
      "io.containerd.snapshotter.v1.aufs",
      "io.containerd.snapshotter.v1.btrfs",
      "io.containerd.snapshotter.v1.devmapper",
      "io.containerd.snapshotter.v1.zfs",
      ...(opts.cri ? [] : ["io.containerd.grpc.v1.cri"]),
    ];
    const cri = `${JSON.stringify("io.containerd.grpc.v1.cri")}`;
    await Deno.writeTextFile(
      `${dir}/config.toml`,
      [
        "version = 2",
        `root = "${dir}/root"`,
        `state = "${dir}/state"`,
        `disabled_plugins = ${JSON.stringify(disabled)}`,
        "[grpc]",
        `  address = "${this.socket}"`,
        "[ttrpc]",
        `  address = "${this.socket}.ttrpc"`,
        "[plugins]",
        `  [plugins.${JSON.stringify("io.containerd.internal.v1.opt")}]`,
        `    path = "${dir}/opt"`,
        `  [plugins.${cri}]`,
        `    sandbox_image = "${PAUSE_IMAGE}"`,
        "    restrict_oom_score_adj = true",
        "    disable_apparmor = true",
        "    netns_mounts_under_state_dir = true",
        '    stream_server_address = "127.0.0.1"',
        '    stream_server_port = "0"',
        `    [plugins.${cri}.containerd]`,
        '      snapshotter = "overlayfs"',
        '      default_runtime_name = "runc"',
        `      [plugins.${cri}.containerd.runtimes.runc]`,
        '        runtime_type = "io.containerd.runc.v2"',
        `    [plugins.${cri}.cni]`,
        `      bin_dir = "${dir}/cni-bin"`,
        `      conf_dir = "${dir}/cni-conf"`,
        "",
      ].join("\n"),
    );
  }

  /** A wrapper that records each call in `calls/` and then runs `exe` with the same input. */
  private async writeRecorder(path: string, exe: string): Promise<void> {
    const calls = quote(`${this.dir}/calls`);
    const script = [
      "#!/bin/sh",
      `n=${calls}/$(date +%s%N).$$`,
      'cat >"$n.stdin"',
      'env | grep "^CNI_" >"$n.env" || true',
      `${quote(exe)} "$@" <"$n.stdin" >"$n.stdout"`,
      "code=$?",
      'echo "$code" >"$n.code"',
      'cat "$n.stdout"',
      'exit "$code"',
      "",
    ].join("\n");
    await Deno.writeTextFile(path, script, { mode: 0o755 });
  }

  private async waitReady(): Promise<void> {
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      if (await settlesWithin(this.child!.status, 200)) {
        const status = await this.child!.status;
        const err = new TextDecoder().decode((await this.child!.output()).stderr);
        throw new Error(`containerd exited (${status.code}): ${err}${await this.logTail()}`);
      }
      const v = await this.ctr("version");
      if (v.code === 0) return;
    }
    throw new Error(`containerd did not answer within 30 s${await this.logTail()}`);
  }

  /** The end of the daemon's log, for error messages. */
  async logTail(lines = 30): Promise<string> {
    const text = await Deno.readTextFile(`${this.dir}/containerd.log`).catch(() => "");
    return `\n--- containerd.log (last ${lines} lines) ---\n` +
      text.trimEnd().split("\n").slice(-lines).join("\n");
  }

  /** Runs argv inside the daemon's mount and network namespaces. */
  exec(argv: string[]): Promise<Run> {
    return run(["nsenter", "-t", String(this.pid), "-m", "-n", ...argv]);
  }

  /** Runs `ctr --address SOCKET ARGS...` inside the daemon's namespaces. */
  ctr(...args: string[]): Promise<Run> {
    return this.exec(["timeout", "60", "ctr", "--address", this.socket, ...args]);
  }

  /** Builds the sandbox image offline and imports it into containerd namespace `ns`. */
  async importPauseImage(ns: string): Promise<void> {
    const archive = await buildPauseArchive(`${this.dir}/work`, BUSYBOX);
    const r = await this.ctr("-n", ns, "images", "import", "--snapshotter", "overlayfs", archive);
    if (r.code !== 0) throw new Error(`ctr images import failed: ${r.stderr}${r.stdout}`);
  }

  /** Every plugin call so far, oldest first. */
  async calls(): Promise<CniCall[]> {
    const names: string[] = [];
    for await (const e of Deno.readDir(`${this.dir}/calls`)) {
      if (e.name.endsWith(".code")) names.push(e.name.slice(0, -".code".length));
    }
    names.sort((a, b) => Number(a.split(".")[0]) - Number(b.split(".")[0]));
    const out: CniCall[] = [];
    for (const n of names) {
      const base = `${this.dir}/calls/${n}`;
      const env: Record<string, string> = {};
      for (const line of (await Deno.readTextFile(`${base}.env`)).split("\n")) {
        const eq = line.indexOf("=");
        if (eq > 0) env[line.slice(0, eq)] = line.slice(eq + 1);
      }
      out.push({
        env,
        config: JSON.parse(await Deno.readTextFile(`${base}.stdin`)),
        code: Number((await Deno.readTextFile(`${base}.code`)).trim()),
        stdout: await Deno.readTextFile(`${base}.stdout`),
      });
    }
    return out;
  }

  /** The result libcni cached for an attachment, as containerd sees it; null when none. */
  async cachedResult(
    containerId: string,
    ifname = "eth0",
  ): Promise<Record<string, unknown> | null> {
    const path = this.view(`${CNI_CACHE_DIR}/${this.network}-${containerId}-${ifname}`);
    try {
      return JSON.parse(await Deno.readTextFile(path));
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return null;
      throw e;
    }
  }

  /** Names of the files in libcni's result cache (empty when the directory is absent). */
  async cachedNames(): Promise<string[]> {
    const names: string[] = [];
    try {
      for await (const e of Deno.readDir(this.view(CNI_CACHE_DIR))) names.push(e.name);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    return names.sort();
  }

  /** Files host-local keeps for the network: leases (IP-named files) and its bookkeeping. */
  async leases(): Promise<string[]> {
    const names: string[] = [];
    try {
      for await (const e of Deno.readDir(`${this.ipamDir}/${this.network}`)) {
        if (/^[0-9a-f.:]+$/.test(e.name)) names.push(e.name);
      }
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    return names.sort();
  }

  /** PIDs of the shims (and everything below them) this daemon started. */
  private async shimTrees(): Promise<number[]> {
    const parents = new Map<number, number>();
    const shims: number[] = [];
    for await (const e of Deno.readDir("/proc")) {
      const pid = Number(e.name);
      if (!Number.isInteger(pid) || pid <= 0) continue;
      try {
        const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
        parents.set(pid, Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
        const cmd = (await Deno.readTextFile(`/proc/${pid}/cmdline`)).split("\0");
        if (cmd[0]?.endsWith("containerd-shim-runc-v2") && cmd.includes(this.socket)) {
          shims.push(pid);
        }
      } catch { /* the process exited meanwhile */ }
    }
    const tree = new Set(shims);
    let grew = true;
    while (grew) {
      grew = false;
      for (const [pid, ppid] of parents) {
        if (!tree.has(pid) && tree.has(ppid)) {
          tree.add(pid);
          grew = true;
        }
      }
    }
    return [...tree];
  }

  /** Stops the daemon, then its shims and their containers, by PID; removes cgroups and files. */
  async [Symbol.asyncDispose](): Promise<void> {
    const child = this.child;
    if (child) {
      const shims = await this.shimTrees();
      try {
        child.kill("SIGTERM");
      } catch { /* already gone */ }
      if (!await settlesWithin(child.status, 10_000)) {
        try {
          child.kill("SIGKILL");
        } catch { /* already gone */ }
        await child.status;
      }
      await child.stderr.cancel().catch(() => {});
      for (const pid of [...shims, ...await this.shimTrees()]) {
        try {
          Deno.kill(pid, "SIGKILL");
        } catch { /* already gone */ }
      }
      await waitGone(shims);
    }
    await removeCgroups(this.cgroupParent);
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}

/** True when `p` settles within `ms` (the timer is cleared either way). */
async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<false>((r) => {
    timer = setTimeout(() => r(false), ms);
  });
  try {
    return await Promise.race([p.then(() => true, () => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function waitGone(pids: number[]): Promise<void> {
  const deadline = Date.now() + 5_000;
  for (const pid of pids) {
    while (Date.now() < deadline) {
      try {
        await Deno.stat(`/proc/${pid}`);
      } catch {
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** Removes the cgroup `name` (and what is below it) from every mounted hierarchy. */
async function removeCgroups(name: string): Promise<void> {
  const roots: string[] = [];
  const mounts = await Deno.readTextFile("/proc/self/mounts").catch(() => "");
  for (const line of mounts.split("\n")) {
    const [, target, type] = line.split(" ");
    if (target && (type === "cgroup" || type === "cgroup2")) roots.push(target);
  }
  for (const root of roots) {
    const dirs: string[] = [];
    const walk = async (d: string): Promise<void> => {
      dirs.push(d);
      try {
        for await (const e of Deno.readDir(d)) if (e.isDirectory) await walk(`${d}/${e.name}`);
      } catch { /* gone */ }
    };
    try {
      await Deno.stat(`${root}/${name}`);
    } catch {
      continue;
    }
    await walk(`${root}/${name}`);
    for (const d of dirs.reverse()) await Deno.remove(d).catch(() => {});
  }
}
