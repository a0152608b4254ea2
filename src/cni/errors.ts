/**
 * CNI error codes and the one error type the plugin throws.
 *
 * Codes 1–11 and 50 are the CNI spec's (the plugin uses 1, 4, 5, 6, 7, 11 and 50; the spec's 2,
 * "unsupported field", is listed but never used: an unknown key is a warning, see src/keys.ts);
 * codes 100 and above are this plugin's own and are documented in docs/lifecycle.md ("Errors").
 */
export const ErrorCode = {
  /** Incompatible CNI version. */
  IncompatibleVersion: 1,
  /** Unsupported field in the network configuration. */
  UnsupportedField: 2,
  /** Missing or invalid environment variable. */
  InvalidEnvironment: 4,
  /** I/O failure (state file, log file, reading stdin). */
  IoFailure: 5,
  /** Failed to decode content (stdin is not JSON). */
  DecodingFailure: 6,
  /** Invalid network configuration. */
  InvalidConfig: 7,
  /** Try again later (host route or pod address did not appear in time). */
  TryAgainLater: 11,
  /** STATUS: the plugin cannot work (ip cannot be run). */
  PluginNotAvailable: 50,
  /** The kernel refused a route change; the pod's routes were restored. */
  RouteRefused: 100,
  /** CHECK: a route the plugin manages is missing, wrong, or present when it was deleted. */
  CheckFailed: 101,
  /** The pod's network namespace cannot be entered or read. */
  NetnsUnreachable: 102,
  /** A route change failed and restoring the snapshot failed too: the pod needs attention. */
  RollbackFailed: 103,
  /** An internal error (a bug): the message says what happened. */
  Internal: 199,
} as const;

/** A CNI error code. */
export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

/** The one error the plugin throws; `cni/skel.ts` prints it as the spec's error JSON. */
export class CniError extends Error {
  readonly code: ErrorCodeValue;
  readonly details: string;

  constructor(code: ErrorCodeValue, msg: string, details = "") {
    super(msg);
    this.name = "CniError";
    this.code = code;
    this.details = details;
  }

  /** The message and, when there are any, the details in parentheses: one log line's text. */
  logText(): string {
    return this.details ? `${this.message} (${this.details})` : this.message;
  }

  /** The error as the CNI spec's JSON object. */
  toJSON(cniVersion: string): { cniVersion: string; code: number; msg: string; details?: string } {
    const out: { cniVersion: string; code: number; msg: string; details?: string } = {
      cniVersion,
      code: this.code,
      msg: this.message,
    };
    if (this.details) out.details = this.details;
    return out;
  }
}

/** Shorthand for an invalid-config error that names the key and the offending value. */
export function invalidConfig(key: string, value: unknown, why: string): CniError {
  return new CniError(ErrorCode.InvalidConfig, `invalid ${key} ${showValue(value)}: ${why}`);
}

/** A value as it appears in a message: JSON, cut short when long. */
function showValue(value: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}
