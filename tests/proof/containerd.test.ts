/**
 * containerd's CRI, driven the way kubelet drives it: Version, RunPodSandbox (with the pod's
 * name, namespace and uid), PodSandboxStatus, StopPodSandbox, RemovePodSandbox, over the gRPC
 * socket of a private containerd (tests/support/containerd). The conflist: bridge + host-local,
 * then this plugin (host route + one addroute). Asserts on the pod's real table (entered through
 * the sandbox's PID), on the result libcni cached, on every plugin call containerd made (K8S_POD_*
 * in CNI_ARGS; the second DEL at RemovePodSandbox with an empty CNI_NETNS and no prevResult), and
 * after removal: no state file, no netns, no lease, no cached result.
 */
import assert from "node:assert/strict";
import { BinDir, LAB, Lab, run, skipReason } from "../../testing/mod.ts";
import { stateFiles } from "../support/proof.ts";
import { Containerd, CONTAINERD_NEEDS } from "../support/containerd/daemon.ts";
import { CriClient } from "../support/containerd/cri.ts";
import {
  asLibcniKeepsIt,
  expectedPodTable,
  expectedResultRoutes,
  FIRST_POD_IP,
  podNetwork,
  tableLines,
} from "../support/containerd/conflist.ts";

const SKIP = skipReason("containerd CRI tests", CONTAINERD_NEEDS);
const NETWORK = "ssrcri";
const POD = { name: "web", namespace: "shop", uid: "6c1e2a52-0b4e-4f6e-9d0a-3c2b1a000001" };

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

function cniArgs(raw: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of (raw ?? "").split(";")) {
    const eq = pair.indexOf("=");
    if (eq > 0) out[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return out;
}

Deno.test({
  name: "proof: containerd CRI RunPodSandbox .. RemovePodSandbox runs our plugin like kubelet",
  ignore: SKIP !== null,
  fn: async () => {
    await using node = await Lab.create({ pod: false });
    await using bin = await BinDir.create();
    await using cd = await Containerd.start(node, bin, {
      network: NETWORK,
      cri: true,
      plugins: (dir) => podNetwork(`${dir}/ipam`, `${dir}/state-ssr`),
    });
    await cd.importPauseImage("k8s.io");
    using cri = new CriClient(cd.socket);

    const version = await cri.version();
    assert.equal(version.runtimeName, "containerd");
    assert.equal(version.runtimeApiVersion, "v1");

    let id = "";
    try {
      id = await cri.runPodSandbox({
        metadata: { ...POD, attempt: 0 },
        hostname: POD.name,
        logDirectory: `${cd.dir}/pod-logs`,
        dnsConfig: { servers: [LAB.nodeGateway] },
        linux: {
          cgroupParent: `/${cd.cgroupParent}`,
          securityContext: {
            namespaceOptions: { network: "POD", pid: "CONTAINER", ipc: "POD" },
          },
        },
      });
    } catch (e) {
      throw new Error(`${e}${await cd.logTail()}`);
    }
    assert.match(id, /^[0-9a-f]{64}$/);

    // PodSandboxStatus: ready, with the address host-local gave it.
    const status = await cri.podSandboxStatus(id);
    assert.equal(status.status.state, "SANDBOX_READY");
    assert.deepEqual(status.status.metadata, { ...POD, attempt: 0 });
    assert.equal(status.status.network?.ip, FIRST_POD_IP);
    const info = JSON.parse(status.info.info ?? "{}") as { pid: number };
    assert.ok(info.pid > 0, status.info.info);

    // The pod's real table, entered through the sandbox (pause) process.
    const table = await run(["nsenter", "-t", String(info.pid), "-n", "ip", "-4", "route"]);
    assert.equal(table.code, 0, table.stderr);
    assert.deepEqual(tableLines(table.stdout), expectedPodTable(FIRST_POD_IP));

    // The ADD: K8S_POD_* reached the plugin; it printed the chain's result, and libcni cached it.
    const [add, ...rest] = await cd.calls();
    assert.deepEqual(rest, []);
    assert.ok(add, "containerd sent no ADD");
    assert.equal(add.env.CNI_COMMAND, "ADD");
    assert.equal(add.env.CNI_CONTAINERID, id);
    assert.equal(add.env.CNI_IFNAME, "eth0");
    assert.equal(add.code, 0, add.stdout);
    const netns = add.env.CNI_NETNS ?? "";
    assert.ok(netns.startsWith(`${cd.dir}/state/`), netns);
    const args = cniArgs(add.env.CNI_ARGS);
    assert.deepEqual(
      {
        name: args.K8S_POD_NAME,
        namespace: args.K8S_POD_NAMESPACE,
        uid: args.K8S_POD_UID,
        infra: args.K8S_POD_INFRA_CONTAINER_ID,
      },
      { ...POD, infra: id },
    );
    const printed = JSON.parse(add.stdout) as {
      routes: { dst: string; gw?: string; gws?: string[] }[];
    };
    const byDst = (a: { dst: string }, b: { dst: string }) => a.dst.localeCompare(b.dst);
    assert.deepEqual([...printed.routes].sort(byDst), expectedResultRoutes());
    const cached = await cd.cachedResult(id);
    assert.ok(cached, `no cached result; cache holds ${await cd.cachedNames()}`);
    assert.deepEqual(cached.result, asLibcniKeepsIt(printed));
    assert.deepEqual(await stateFiles(cd.stateDir, NETWORK), [`${id}@eth0.json`]);
    assert.deepEqual(await cd.leases(), [FIRST_POD_IP]);
    assert.ok(await exists(netns), `${netns} missing while the pod runs`);

    // StopPodSandbox: DEL with the netns and the cached result; routes, lease and netns go.
    await cri.stopPodSandbox(id);
    assert.equal((await cri.podSandboxStatus(id)).status.state, "SANDBOX_NOTREADY");
    assert.deepEqual(await stateFiles(cd.stateDir, NETWORK), []);
    assert.deepEqual(await cd.leases(), []);
    assert.deepEqual(await cd.cachedNames(), []);
    assert.ok(!await exists(netns), `${netns} left after StopPodSandbox`);

    // RemovePodSandbox: containerd sends DEL again, without a netns and without prevResult.
    await cri.removePodSandbox(id);
    await assert.rejects(cri.podSandboxStatus(id), /not found/i);
    const calls = await cd.calls();
    assert.deepEqual(
      calls.map((c) => [c.env.CNI_COMMAND, c.env.CNI_CONTAINERID, c.code, c.stdout]),
      [["ADD", id, 0, add.stdout], ["DEL", id, 0, ""], ["DEL", id, 0, ""]],
      JSON.stringify(calls, null, 2),
    );
    const [, firstDel, secondDel] = calls;
    assert.ok(firstDel && secondDel);
    assert.equal(firstDel.env.CNI_NETNS, netns);
    assert.deepEqual(firstDel.config.prevResult, asLibcniKeepsIt(printed));
    assert.equal(secondDel.env.CNI_NETNS ?? "", "");
    assert.equal(secondDel.config.prevResult, undefined);
    assert.equal(cniArgs(secondDel.env.CNI_ARGS).K8S_POD_NAME, POD.name);

    // Nothing left: state, leases, cache, netns.
    assert.deepEqual(await stateFiles(cd.stateDir, NETWORK), []);
    assert.deepEqual(await cd.leases(), []);
    assert.deepEqual(await cd.cachedNames(), []);
    assert.ok(!await exists(netns));
  },
});
