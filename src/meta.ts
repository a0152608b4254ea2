/** Name and version of the plugin, shown by `--version` and the no-command banner. */
export const PLUGIN_NAME = "seamless-static-route";
/** Release version of the plugin. */
export const PLUGIN_VERSION = "0.1.0";
