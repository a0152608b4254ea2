/**
 * The shared lab of the tests, the benchmark and `deno task dev`: one process runner, throwaway
 * node and pod namespaces, the plugin run as a CNI runtime runs it, and readers of the kernel's
 * routing tables.
 */
export * from "./run.ts";
export * from "./needs.ts";
export * from "./lab.ts";
export * from "./tables.ts";
export * from "./plugin.ts";
export * from "./plugin_lab.ts";
export * from "./ipam.ts";
export * from "./pod_shapes.ts";
