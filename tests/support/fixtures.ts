/** Shared inputs of the end-to-end tests: prevResults as a main plugin would print them. */
import type { Lab } from "./netns.ts";
import { statePath } from "../../src/state.ts";

/** The node address a Lab's node namespace has (the host route's destination). */
export const NODE_IP = "192.168.100.10";

/** A 1.0.0 prevResult describing a Lab's pod as bridge + host-local would. */
export function prevResultFor(lab: Lab, extra: { v6?: boolean } = {}) {
  const ips: { address: string; gateway: string; interface: number }[] = [
    { address: "10.131.0.5/23", gateway: "10.131.0.1", interface: 0 },
  ];
  const routes: { dst: string; gw?: string }[] = [{ dst: "0.0.0.0/0", gw: "10.131.0.1" }];
  if (extra.v6) {
    ips.push({ address: "fd00:10::5/64", gateway: "fd00:10::1", interface: 0 });
    routes.push({ dst: "::/0", gw: "fd00:10::1" });
  }
  return {
    cniVersion: "1.0.0",
    interfaces: [{ name: lab.podIfname, mac: "0a:58:0a:83:00:05", sandbox: lab.podNetns }],
    ips,
    routes,
    dns: {},
  };
}

/** A temporary state directory, removed on dispose. */
export class TempDir implements AsyncDisposable {
  readonly path: string;
  private constructor(path: string) {
    this.path = path;
  }
  /** Creates the directory. */
  static async create(prefix = "ssr-state-"): Promise<TempDir> {
    return new TempDir(await Deno.makeTempDir({ prefix }));
  }
  async [Symbol.asyncDispose](): Promise<void> {
    await Deno.remove(this.path, { recursive: true }).catch(() => {});
  }
}

/** True when the state file of an attachment exists. */
export async function stateExists(
  stateDir: string,
  network: string,
  containerId: string,
  ifname: string,
): Promise<boolean> {
  try {
    await Deno.stat(statePath(stateDir, network, containerId, ifname));
    return true;
  } catch {
    return false;
  }
}
