/**
 * What an end-to-end test of the plugin sets up: a lab, the plugin in a CNI bin dir and a
 * temporary state dir, with the network config and CNI invocation of the lab's first pod.
 * Dispose to remove all three.
 */
import { Lab, type LabOptions, TempDir } from "./lab.ts";
import {
  BinDir,
  BUNDLE,
  type Invocation,
  type JsonObject,
  type PluginRun,
  prevResultFor,
  runPlugin,
} from "./plugin.ts";

/** A lab with the plugin installed and a state dir. */
export class PluginLab implements AsyncDisposable {
  /** The namespaces. */
  readonly lab: Lab;
  /** The CNI bin dir holding the plugin. */
  readonly bin: BinDir;
  /** The plugin's state dir. */
  readonly state: TempDir;

  private constructor(lab: Lab, bin: BinDir, state: TempDir) {
    this.lab = lab;
    this.bin = bin;
    this.state = state;
  }

  /** Makes the lab (with `opts`), a bin dir running `entry` (default: the bundle), a state dir. */
  static async create(opts: LabOptions = {}, entry: string = BUNDLE): Promise<PluginLab> {
    const lab = await Lab.create(opts);
    let bin: BinDir | undefined;
    try {
      bin = await BinDir.create(entry);
      return new PluginLab(lab, bin, await TempDir.create());
    } catch (e) {
      await bin?.[Symbol.asyncDispose]();
      await lab.remove();
      throw e;
    }
  }

  /**
   * A 1.0.0 network config `name` of `type` for the first pod: the state dir, then `fields`, and
   * (unless `withPrevResult` is false or `fields` has its own) the prevResult bridge would hand
   * over for the pod.
   */
  config(name: string, type: string, fields: JsonObject = {}, withPrevResult = true): JsonObject {
    const config: JsonObject = {
      cniVersion: "1.0.0",
      name,
      type,
      stateDir: this.state.path,
      ...fields,
    };
    if (withPrevResult && !("prevResult" in fields)) config.prevResult = prevResultFor(this.lab);
    return config;
  }

  /** The CNI invocation of the first pod (command still to set), run in the node namespace. */
  invocation(containerId: string, config: unknown): Invocation {
    return {
      containerId,
      netns: this.lab.podNetns,
      ifname: this.lab.podIfname,
      nodeNs: this.lab.node,
      config,
    };
  }

  /** Runs `command` of an invocation. */
  run(command: string, inv: Invocation): Promise<PluginRun> {
    return runPlugin(this.bin, { ...inv, command });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.state[Symbol.asyncDispose]();
    await this.bin[Symbol.asyncDispose]();
    await this.lab.remove();
  }
}
