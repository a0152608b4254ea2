/** VERSION: the supported spec versions. */
import { LATEST_VERSION, SUPPORTED_VERSIONS } from "../cni/version.ts";

/** The VERSION answer for the version the caller named (or the latest). */
export function versionInfo(cniVersion?: string): Record<string, unknown> {
  return { cniVersion: cniVersion ?? LATEST_VERSION, supportedVersions: [...SUPPORTED_VERSIONS] };
}
