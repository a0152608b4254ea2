/**
 * The "Deno floor": the least any Deno CNI plugin must do, used by bench/bench.ts as the baseline
 * of the plugin's latency. It reads stdin, parses it, reads the pod with ONE `ip -j -batch` call
 * (the plugin's three read lines), then by CNI_COMMAND: ADD writes the routes (the host route
 * when `floorHostIP` is set, and each `addroutes` entry) with ONE `ip -batch` call and prints the
 * previous result with them appended; DEL writes their `route del` lines the same way; CHECK
 * stops after the read.
 * It uses the plugin's own I/O primitives (stdin with `readSync`, `ip` with `outputSync` and a
 * temp batch file), so the ratio measures what the plugin does on top, not how it does I/O.
 * No validation, no host discovery (the host IP comes from the config's `floorHostIP`), no state
 * file, no error handling beyond an exit code: anything the plugin costs above this is overhead.
 *
 * Run it like the plugin: bundled, with `deno run --no-config` and the plugin's permissions.
 */

function readStdin(): string {
  const chunks: Uint8Array[] = [];
  const buf = new Uint8Array(64 * 1024);
  for (let n = Deno.stdin.readSync(buf); n !== null && n > 0; n = Deno.stdin.readSync(buf)) {
    chunks.push(buf.slice(0, n));
  }
  const all = new Uint8Array(chunks.reduce((size, c) => size + c.length, 0));
  chunks.reduce((at, c) => (all.set(c, at), at + c.length), 0);
  return new TextDecoder().decode(all);
}

function ip(args: string[], batch: string): string {
  const file = Deno.makeTempFileSync();
  Deno.writeTextFileSync(file, batch);
  const out = new Deno.Command("ip", {
    args: [...args, file],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).outputSync();
  Deno.removeSync(file);
  if (!out.success) {
    console.log(JSON.stringify({ cniVersion: "1.0.0", code: 100, msg: "ip failed" }));
    Deno.exit(1);
  }
  return new TextDecoder().decode(out.stdout);
}

const config = JSON.parse(readStdin()) as {
  cniVersion: string;
  floorHostIP?: string;
  addroutes?: { dst: string; gw: string }[];
  prevResult?: { routes?: { dst: string; gw?: string }[] };
};
const command = Deno.env.get("CNI_COMMAND") ?? "ADD";
const netns = Deno.env.get("CNI_NETNS") ?? "";
const ifname = Deno.env.get("CNI_IFNAME") ?? "eth0";
const ns = ["-n", netns.slice(netns.lastIndexOf("/") + 1)];

const read = ip(
  [...ns, "-j", "-batch"],
  `route show table all root 0.0.0.0/0\nroute show table all root ::/0\naddr show dev ${ifname}\n`,
);
// CHECK's floor: the read, nothing else.
if (command === "CHECK") Deno.exit(0);
const parts = read.split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l));
const links = parts[2] as { addr_info?: { family: string; local: string; prefixlen: number }[] }[];
const a = links[0]?.addr_info?.find((x) => x.family === "inet");
if (!a) Deno.exit(1);
// Lowest host address of the pod subnet (network + 1).
const n = a.local.split(".").reduce((acc, o) => acc * 256 + Number(o), 0);
const mask = a.prefixlen === 0 ? 0 : 2 ** 32 - 2 ** (32 - a.prefixlen);
const low = Number((BigInt(n) & BigInt(mask)) + 1n);
const gw = [24, 16, 8, 0].map((s) => (low >>> s) & 255).join(".");

// The routes: the host route (when `floorHostIP` is set) and every `addroutes` entry.
const routes = [
  ...(config.floorHostIP ? [{ dst: `${config.floorHostIP}/32`, gw }] : []),
  ...(config.addroutes ?? []),
];
// ADD writes `route add` lines, DEL `route del` lines, in one `ip -batch`.
const verb = command === "DEL" ? "del" : "add";
ip(
  [...ns, "-batch"],
  routes.map((r) => `route ${verb} ${r.dst} via ${r.gw} dev ${ifname}\n`).join(""),
);

if (command === "ADD") {
  const out = [...(config.prevResult?.routes ?? []), ...routes];
  console.log(JSON.stringify({ ...config.prevResult, cniVersion: config.cniVersion, routes: out }));
}
