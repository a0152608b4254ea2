/**
 * Podman as a real CNI runtime, fully sandboxed: a temp containers.conf (CONTAINERS_CONF) with
 * `network_backend = "cni"`, a temp network config dir and plugin dir (symlinks to the reference
 * plugins plus this plugin's wrappers), temp --root/--runroot/--tmpdir storage, and a busybox
 * rootfs. Podman itself runs inside a node namespace (`nsenter --net=`, so the bridge it makes
 * lives there; `ip netns exec` would remount /sys and hide the cgroup mounts runc needs).
 * Dispose removes the containers, unmounts what podman mounted and deletes the temp tree.
 */
import type { BinDir } from "../../testing/plugin.ts";
import { REFERENCE_CNI_DIR } from "./chain.ts";
import type { Need } from "../../testing/needs.ts";
import type { Lab } from "../../testing/lab.ts";
import { type Run, run } from "../../testing/run.ts";

/** The busybox used for the rootfs. */
export const BUSYBOX = "/usr/bin/busybox";

/** What the podman tests need besides root. */
export const PODMAN_NEEDS: readonly Need[] = [
  { file: BUSYBOX, pkg: "busybox-static" },
  { file: `${REFERENCE_CNI_DIR}/bridge`, pkg: "containernetworking-plugins" },
  { file: "podman", pkg: "podman" },
  { file: "runc", pkg: "runc" },
  { file: "nsenter", pkg: "util-linux" },
];

/** A sandboxed podman with a CNI network `name` made of `plugins`. */
export class Podman implements AsyncDisposable {
  readonly dir: string;
  readonly node: Lab;
  readonly network: string;

  private constructor(dir: string, node: Lab, network: string) {
    this.dir = dir;
    this.node = node;
    this.network = network;
  }

  get rootfs(): string {
    return `${this.dir}/rootfs`;
  }

  /**
   * Sets up the sandbox and writes the conflist (`cniVersion` 1.0.0, the reference plugins'
   * newest); `plugins` gets the sandbox dir, for IPAM `dataDir` and `stateDir` paths inside it.
   */
  static async create(
    node: Lab,
    bin: BinDir,
    network: string,
    plugins: (dir: string) => Record<string, unknown>[],
  ): Promise<Podman> {
    const dir = await Deno.makeTempDir({ prefix: "ssr-podman-" });
    const p = new Podman(dir, node, network);
    try {
      for (
        const sub of [
          "rootfs/bin",
          "rootfs/proc",
          "rootfs/sys",
          "rootfs/dev",
          "rootfs/etc",
          "rootfs/tmp",
          "cni-bin",
          "cni-conf",
          "root",
          "runroot",
          "tmp",
        ]
      ) {
        await Deno.mkdir(`${dir}/${sub}`, { recursive: true });
      }
      await Deno.copyFile(BUSYBOX, `${dir}/rootfs/bin/busybox`);
      await Deno.chmod(`${dir}/rootfs/bin/busybox`, 0o755);
      for (const applet of ["sh", "ip", "ls", "cat", "sleep"]) {
        await Deno.symlink("busybox", `${dir}/rootfs/bin/${applet}`);
      }
      for await (const e of Deno.readDir(REFERENCE_CNI_DIR)) {
        await Deno.symlink(`${REFERENCE_CNI_DIR}/${e.name}`, `${dir}/cni-bin/${e.name}`);
      }
      for (const type of ["seamless-static-route", "route-override"]) {
        await Deno.symlink(bin.plugin(type), `${dir}/cni-bin/${type}`);
      }
      await Deno.writeTextFile(
        `${dir}/containers.conf`,
        [
          "[network]",
          'network_backend = "cni"',
          `cni_plugin_dirs = ["${dir}/cni-bin"]`,
          `network_config_dir = "${dir}/cni-conf"`,
          `default_network = "${network}"`,
          "[engine]",
          'cgroup_manager = "cgroupfs"',
          'runtime = "runc"',
          'events_logger = "none"',
          "",
        ].join("\n"),
      );
      await Deno.writeTextFile(
        `${dir}/cni-conf/${network}.conflist`,
        JSON.stringify({ cniVersion: "1.0.0", name: network, plugins: plugins(dir) }, null, 2),
      );
    } catch (e) {
      await p[Symbol.asyncDispose]();
      throw e;
    }
    return p;
  }

  /** Runs `podman ARGS...` in the node namespace with the sandbox's storage and config. */
  podman(...args: string[]): Promise<Run> {
    const argv = [
      "env",
      `CONTAINERS_CONF=${this.dir}/containers.conf`,
      "nsenter",
      `--net=${this.node.nodeNetns}`,
      "timeout",
      "120",
      "podman",
      "--root",
      `${this.dir}/root`,
      "--runroot",
      `${this.dir}/runroot`,
      "--tmpdir",
      `${this.dir}/tmp`,
      // No images are used (--rootfs), so the simplest driver: no overlay support needed.
      "--storage-driver",
      "vfs",
      "--cni-config-dir",
      `${this.dir}/cni-conf`,
      "--runtime",
      "runc",
      "--cgroup-manager",
      "cgroupfs",
      "--events-backend",
      "none",
      ...args,
    ];
    return run(argv);
  }

  /** Starts a detached container on the network (`sleep`); returns its full id. */
  async start(name: string, seconds = 120): Promise<string> {
    const r = await this.podman(
      "run",
      "-d",
      "--name",
      name,
      "--network",
      this.network,
      "--ulimit",
      "nofile=20000:20000",
      "--ulimit",
      "nproc=4096:4096",
      "--rootfs",
      this.rootfs,
      "/bin/sleep",
      String(seconds),
    );
    if (r.code !== 0) throw new Error(`podman run failed (${r.code}): ${r.stderr.trim()}`);
    return r.stdout.trim().split("\n").pop() ?? "";
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.podman("rm", "-af", "-t", "0").catch(() => {});
    // Unmount anything podman left mounted under the sandbox, deepest first.
    const mounts = await Deno.readTextFile("/proc/self/mounts").catch(() => "");
    const targets = mounts.split("\n").map((l) => l.split(" ")[1] ?? "")
      .filter((t) => t.startsWith(this.dir)).sort((a, b) => b.length - a.length);
    for (const t of targets) await run(["umount", "-l", t]);
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}
