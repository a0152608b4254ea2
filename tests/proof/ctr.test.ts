/**
 * `ctr run --cni`: containerd's own client running go-cni/libcni without CRI, against a private
 * containerd (tests/support/containerd). One container on bridge + host-local + this plugin: the
 * pod's real table (entered through the task's PID), the result libcni cached, the plugin's state
 * file while it runs; after the task is killed, ctr's CNI DEL (sent with an empty CNI_NETNS and
 * the cached prevResult) succeeds and leaves no state file, no cached result, no lease and no
 * task.
 */
import assert from "node:assert/strict";
import { BinDir, Lab, run, skipReason } from "../../testing/mod.ts";
import { stateFiles } from "../support/proof.ts";
import { Containerd, CONTAINERD_NEEDS } from "../support/containerd/daemon.ts";
import { PAUSE_IMAGE } from "../support/containerd/image.ts";
import {
  asLibcniKeepsIt,
  expectedPodTable,
  expectedResultRoutes,
  FIRST_POD_IP,
  podNetwork,
  tableLines,
} from "../support/containerd/conflist.ts";

const SKIP = skipReason("ctr run --cni tests", CONTAINERD_NEEDS);
const NETWORK = "ssrctr";
/** ctr's containerd namespace; go-cni's container ID is `<namespace>-<container id>`. */
const NS = "ssr";

async function until<T>(what: string, ms: number, probe: () => Promise<T | null>): Promise<T> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const v = await probe();
    if (v !== null) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} did not happen within ${ms} ms`);
}

Deno.test({
  name: "proof: ctr run --cni (go-cni without CRI) runs bridge + host-local + our plugin",
  ignore: SKIP !== null,
  fn: async () => {
    await using node = await Lab.create({ pod: false });
    await using bin = await BinDir.create();
    await using cd = await Containerd.start(node, bin, {
      network: NETWORK,
      plugins: (dir) => podNetwork(`${dir}/ipam`, `${dir}/state-ssr`),
    });
    await cd.importPauseImage(NS);
    const id = `c${Deno.pid}`;
    const cniId = `${NS}-${id}`;
    // ctr stays in the foreground until the task exits, then runs CNI DEL and removes it.
    const ctrRun = new Deno.Command("nsenter", {
      args: [
        "-t",
        String(cd.pid),
        "-m",
        "-n",
        "timeout",
        "90",
        "ctr",
        "--address",
        cd.socket,
        "-n",
        NS,
        "run",
        "--cni",
        "--rm",
        "--null-io",
        "--snapshotter",
        "overlayfs",
        "--cgroup",
        `/${cd.cgroupParent}/${id}`,
        PAUSE_IMAGE,
        id,
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const ctrOut = ctrRun.output();
    let ctrDone = false;
    ctrOut.then(() => ctrDone = true, () => ctrDone = true);
    const ctrStderr = async () => new TextDecoder().decode((await ctrOut).stderr);
    try {
      const taskPid = await until("the task running", 30_000, async () => {
        if (ctrDone) throw new Error(`ctr run exited early: ${await ctrStderr()}`);
        const ls = await cd.ctr("-n", NS, "tasks", "ls");
        const row = ls.stdout.split("\n").map((l) => l.trim().split(/\s+/))
          .find((f) => f[0] === id && f[2] === "RUNNING");
        return row ? Number(row[1]) : null;
      });
      await until("CNI ADD", 30_000, async () => {
        const calls = await cd.calls();
        return calls.some((c) => c.env.CNI_COMMAND === "ADD") ? true : null;
      });

      // The pod's real table, entered through the task's network namespace.
      const table = await run(["nsenter", "-t", String(taskPid), "-n", "ip", "-4", "route"]);
      assert.equal(table.code, 0, table.stderr);
      assert.deepEqual(tableLines(table.stdout), expectedPodTable(FIRST_POD_IP));

      // What libcni cached is what the chain (ending with our plugin) printed, our routes in it.
      const cached = await cd.cachedResult(cniId);
      assert.ok(cached, `no cached result; cache holds ${await cd.cachedNames()}`);
      const add = (await cd.calls()).find((c) => c.env.CNI_COMMAND === "ADD");
      const printed = JSON.parse(add?.stdout ?? "null");
      assert.deepEqual(cached.result, asLibcniKeepsIt(printed));
      const result = printed as { routes: { dst: string; gw?: string; gws?: string[] }[] };
      assert.deepEqual(
        [...result.routes].sort((a, b) => a.dst.localeCompare(b.dst)),
        expectedResultRoutes(),
      );
      assert.deepEqual(await stateFiles(cd.stateDir, NETWORK), [`${cniId}@eth0.json`]);
      assert.deepEqual(await cd.leases(), [FIRST_POD_IP]);

      // The task ends; ctr runs DEL (with an empty CNI_NETNS) and removes the container.
      const kill = await cd.ctr("-n", NS, "tasks", "kill", "-s", "SIGKILL", id);
      assert.equal(kill.code, 0, kill.stderr);
      const stderr = await ctrStderr();
      assert.doesNotMatch(stderr, /error|failed/i, stderr);
    } finally {
      if (!ctrDone) await cd.ctr("-n", NS, "tasks", "kill", "-s", "SIGKILL", id);
      await ctrOut;
    }

    const calls = await cd.calls();
    assert.deepEqual(
      calls.map((c) => [c.env.CNI_COMMAND, c.env.CNI_CONTAINERID, c.env.CNI_IFNAME, c.code]),
      [["ADD", cniId, "eth0", 0], ["DEL", cniId, "eth0", 0]],
      JSON.stringify(calls, null, 2),
    );
    const [add, del] = calls;
    assert.ok(add && del);
    assert.match(add.env.CNI_NETNS ?? "", /^\/proc\/\d+\/ns\/net$/);
    // ctr's DEL comes after the task died: no CNI_NETNS, the cached result as prevResult.
    assert.equal(del.env.CNI_NETNS, "");
    assert.deepEqual(del.config.prevResult, asLibcniKeepsIt(JSON.parse(add.stdout)));
    assert.deepEqual(await stateFiles(cd.stateDir, NETWORK), []);
    assert.deepEqual(await cd.cachedNames(), []);
    assert.deepEqual(await cd.leases(), []);
    const tasks = await cd.ctr("-n", NS, "tasks", "ls", "-q");
    assert.equal(tasks.stdout.trim(), "");
    const containers = await cd.ctr("-n", NS, "containers", "ls", "-q");
    assert.equal(containers.stdout.trim(), "");
  },
});
