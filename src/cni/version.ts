/** CNI spec versions: the supported list, comparison, and the result shape each one uses. */
import { CniError, ErrorCode, invalidConfig } from "./errors.ts";

/** Every CNI spec version the plugin reads and writes, oldest first. */
export const SUPPORTED_VERSIONS: readonly string[] = [
  "0.1.0",
  "0.2.0",
  "0.3.0",
  "0.3.1",
  "0.4.0",
  "1.0.0",
  "1.1.0",
];

/** The newest supported version (used when the input names none). */
export const LATEST_VERSION = "1.1.0";

/** Compares two dotted versions numerically: negative, zero or positive. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split(".").map(Number);
  const pb = b.split(".").map(Number);
  for (let i = 0; i < 3; i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** Throws code 1 unless `version` is one the plugin supports. */
export function requireSupported(version: string): void {
  if (!SUPPORTED_VERSIONS.includes(version)) {
    throw new CniError(
      ErrorCode.IncompatibleVersion,
      `incompatible CNI version "${version}": supported versions are ${
        SUPPORTED_VERSIONS.join(", ")
      }`,
    );
  }
}

/** Throws code 1 when `command` did not exist yet in spec `version` (CHECK 0.4.0, STATUS/GC 1.1.0). */
export function requireCommandInVersion(command: string, version: string): void {
  const since: Record<string, string> = { CHECK: "0.4.0", STATUS: "1.1.0", GC: "1.1.0" };
  const min = since[command];
  if (min && compareVersions(version, min) < 0) {
    throw new CniError(
      ErrorCode.IncompatibleVersion,
      `config version "${version}" does not allow ${command} (needs ${min} or later)`,
    );
  }
}

/** The config's cniVersion ("0.1.0" when absent, as libcni reads it); code 7 if not a string. */
export function configVersion(raw: Record<string, unknown>): string {
  const v = raw.cniVersion;
  if (v === undefined) return "0.1.0";
  if (typeof v !== "string") throw invalidConfig("cniVersion", v, "must be a string");
  return v;
}
