/** Log verbosity, as the `logLevel` config key names it: a pure type the config and the logger share. */
export type LogLevel = "error" | "info" | "debug";
