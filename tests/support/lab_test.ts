/** The shape of every end-to-end test: a Deno test, skipped without root, given a fresh lab. */
import { BUNDLE, IS_ROOT, type LabOptions, PluginLab } from "../../testing/mod.ts";

/** The lab of a lab test, and what its plugin runs (`entry`: default the bundle). */
export interface LabTestOptions extends LabOptions {
  entry?: string;
}

/** What a lab test runs: the lab (removed after, also on failure) and the test context. */
export type LabTestBody = (e2e: PluginLab, t: Deno.TestContext) => Promise<void>;

/** Registers a test named `name` that runs `body` with a new PluginLab of the default lab. */
export function labTest(name: string, body: LabTestBody): void;
/** Registers a test named `name` that runs `body` with a new PluginLab made with `opts`. */
export function labTest(name: string, opts: LabTestOptions, body: LabTestBody): void;
export function labTest(
  name: string,
  optsOrBody: LabTestOptions | LabTestBody,
  maybeBody?: LabTestBody,
): void {
  const { entry = BUNDLE, ...opts } = typeof optsOrBody === "function" ? {} : optsOrBody;
  const body = typeof optsOrBody === "function" ? optsOrBody : maybeBody;
  if (body === undefined) throw new Error(`labTest ${name}: no body`);
  Deno.test({
    name,
    ignore: !IS_ROOT,
    async fn(t) {
      await using e2e = await PluginLab.create(opts, entry);
      await body(e2e, t);
    },
  });
}
