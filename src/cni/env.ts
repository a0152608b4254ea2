/** The CNI_* environment: read, required per command, validated before anything uses it. */
import { CniError, ErrorCode } from "./errors.ts";
import { isValidIfname, isValidNetnsPath } from "../validate.ts";

/** The commands of the CNI protocol. */
export type CniCommand = "ADD" | "DEL" | "CHECK" | "VERSION" | "STATUS" | "GC";

const COMMANDS: readonly CniCommand[] = ["ADD", "DEL", "CHECK", "VERSION", "STATUS", "GC"];

/** The validated CNI environment of one invocation. */
export interface CniEnv {
  command: CniCommand;
  /** CNI_CONTAINERID ("" when the command does not need it). */
  containerId: string;
  /** CNI_NETNS: an absolute path, or "" (DEL may come without one). */
  netns: string;
  /** CNI_IFNAME ("" when the command does not need it). */
  ifname: string;
  /** CNI_ARGS as key/value pairs. */
  args: Record<string, string>;
  /** CNI_PATH entries. */
  path: string[];
}

/** Reads one variable; a function so tests and `cni/skel.ts` can pass their own source. */
export type EnvSource = (name: string) => string | undefined;

const CONTAINER_ID = /^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$/;

function fail(name: string, why: string): CniError {
  return new CniError(ErrorCode.InvalidEnvironment, `${name} ${why}`);
}

/**
 * Parses CNI_ARGS (`K=V;K2=V2`) into pairs; code 4 when a pair is malformed. A repeated key
 * (Multus sends `IgnoreUnknown=true;K8S_POD_NAME=a;IgnoreUnknown=1;K8S_POD_NAME=a`) keeps its
 * last value, as libcni's LoadArgs does.
 */
export function parseCniArgs(raw: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (!raw) return out;
  for (const pair of raw.split(";")) {
    if (pair === "") continue;
    const eq = pair.indexOf("=");
    if (eq <= 0) throw fail("CNI_ARGS", `is invalid: "${pair}" is not KEY=VALUE`);
    out[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return out;
}

/** Reads and validates the CNI environment for the command it names. */
export function readCniEnv(get: EnvSource): CniEnv {
  const rawCommand = get("CNI_COMMAND") ?? "";
  if (!COMMANDS.includes(rawCommand as CniCommand)) {
    throw fail("CNI_COMMAND", `"${rawCommand}" is not one of ${COMMANDS.join(", ")}`);
  }
  const command = rawCommand as CniCommand;
  const attachment = command === "ADD" || command === "DEL" || command === "CHECK";
  // Every missing variable is named at once, as the reference plugins' skel does.
  const required: [string, boolean][] = [
    ["CNI_CONTAINERID", attachment],
    ["CNI_NETNS", command === "ADD" || command === "CHECK"],
    ["CNI_IFNAME", attachment],
    ["CNI_PATH", attachment],
  ];
  const missing = required.filter(([name, req]) => req && !get(name)).map(([name]) => name);
  if (missing.length > 0) {
    throw new CniError(
      ErrorCode.InvalidEnvironment,
      `required environment variable${missing.length > 1 ? "s" : ""} ${
        missing.join(", ")
      } missing for ${command}`,
    );
  }
  const need = (name: string): string => get(name) ?? "";
  const containerId = need("CNI_CONTAINERID");
  if (containerId && !CONTAINER_ID.test(containerId)) {
    throw fail("CNI_CONTAINERID", `"${containerId}" is invalid: letters, digits, _ . - only`);
  }
  const netns = need("CNI_NETNS");
  if (netns && !isValidNetnsPath(netns)) {
    throw fail("CNI_NETNS", `"${netns}" is invalid: it must be an absolute path`);
  }
  const ifname = need("CNI_IFNAME");
  if (ifname && !isValidIfname(ifname)) {
    throw fail("CNI_IFNAME", `"${ifname}" is invalid: 1-15 of letters, digits, _ . -`);
  }
  const path = need("CNI_PATH");
  const args = parseCniArgs(get("CNI_ARGS") ?? "");
  return { command, containerId, netns, ifname, args, path: path.split(":").filter(Boolean) };
}
