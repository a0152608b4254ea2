/**
 * Benchmark of the plugin (`deno task bench`: bundle, then this). Needs root: every command runs
 * in throwaway namespaces (testing/lab.ts `Lab`: a node and a pod namespace), never in the
 * machine's own.
 *
 * Measures, in ONE run of interleaved rounds (the plugin's and the floor's runs alternate which
 * goes first), medians of per-round ratios against the "Deno floor" (bench/floor.ts, bundled and
 * run exactly like the plugin, with its ADD, DEL and CHECK variants):
 * 1. ADD with 1 addroute, ADD with 500, the host route; DEL; CHECK — plugin / floor.
 * 2. Growth: ADD with 500 addroutes / ADD with 1, for the plugin and the floor.
 * 3. Peak RSS of one ADD (GNU time's %M when /usr/bin/time exists, else VmHWM polled), plugin
 *    and floor, each the median of RSS_ROUNDS runs.
 * 4. A pod that fills its own table after ADD (200k, then 1M `proto bgp` routes): CHECK and DEL
 *    of the plugin there / on a small table (a second lab), time and peak RSS.
 *
 * Prints a table and writes bench/results/latest.json (untracked). Options: `--quick` (fewer
 * rounds, no 1M-route pod). Peers are measured beside, in the same rounds, when named:
 * `BENCH_ROUTE_OVERRIDE=/path/to/route-override` (the Go plugin), `BENCH_PEER_SCRIPT=/path` (any
 * other CNI executable, e.g. the seed's bash script): each runs ADD of the same addroute, whose
 * route the bench then deletes, untimed.
 */
import {
  BUNDLE,
  LAB,
  Lab,
  must,
  pluginArgv,
  prevResultFor,
  ROOT,
  type Run,
  run,
  runtimeEnv,
} from "../testing/mod.ts";

const RESULTS = `${ROOT}/bench/results`;
const QUICK = Deno.args.includes("--quick");
const ROUNDS = QUICK ? 7 : 41;
const BIG_ROUNDS = QUICK ? 3 : 7;
/** Runs of one ADD for each peak RSS (plugin and floor): the median is reported. */
const RSS_ROUNDS = QUICK ? 3 : 7;
const BIG = 200_000;
const HUGE = QUICK ? 0 : 1_000_000;
const HOST_IP = LAB.nodeIp;
/** Peers measured beside the plugin, by env: the Go route-override, any other CNI executable. */
const PEERS: { key: string; label: string; path: string }[] = [
  ["BENCH_ROUTE_OVERRIDE", "route-override (Go)"],
  ["BENCH_PEER_SCRIPT", "BENCH_PEER_SCRIPT"],
].flatMap(([env = "", label = ""], i) => {
  const path = Deno.env.get(env);
  return path ? [{ key: `peer${i}Add1`, label: `${label} ${path.split("/").pop()}`, path }] : [];
});
const POD_GW = LAB.podGateway;
const DENO = Deno.execPath();

/** Median of a list of numbers. */
function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  const at = (i: number): number => s[i] ?? NaN;
  return s.length % 2 ? at(m) : (at(m - 1) + at(m)) / 2;
}

function round(x: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

type Timed = Run;

/** Runs argv with exactly `env` and stdin, timing spawn → exit. */
function timed(argv: string[], env: Record<string, string>, stdin: string): Promise<Timed> {
  return run(argv, { stdin, env, clearEnv: true });
}

/** `deno run` argv for a bundled entry, exactly as the plugin's CNI wrapper runs it. */
function denoRun(entry: string, extra: string[] = []): string[] {
  return [...pluginArgv(entry), ...extra];
}

let seq = 0;
function cniEnv(lab: Lab, command: string, containerId?: string): Record<string, string> {
  return {
    ...runtimeEnv(),
    CNI_COMMAND: command,
    CNI_CONTAINERID: containerId ?? `bench${Deno.pid}x${++seq}`,
    CNI_NETNS: lab.podNetns,
    CNI_IFNAME: lab.podIfname,
    CNI_PATH: "/usr/lib/cni",
  };
}

const PREV_RESULT = prevResultFor({ podNetns: "", podIfname: LAB.podIfname });

function hostRouteConfig(stateDir: string, extra: Record<string, unknown> = {}) {
  return {
    cniVersion: "1.0.0",
    name: "benchnet",
    type: "seamless-static-route",
    stateDir,
    prevResult: PREV_RESULT,
    ...extra,
  };
}

function addroutesConfig(stateDir: string, count: number, second = 100) {
  const addroutes = Array.from({ length: count }, (_, i) => ({
    dst: `10.${second + (i >> 8)}.${i & 255}.0/24`,
    gw: POD_GW,
  }));
  return {
    cniVersion: "1.0.0",
    name: "benchnet",
    type: "route-override",
    stateDir,
    addroutes,
    prevResult: PREV_RESULT,
  };
}

/** Runs the plugin in the node namespace. */
function plugin(lab: Lab, extra: string[] = []): string[] {
  return ["nsenter", `--net=/var/run/netns/${lab.node}`, ...denoRun(BUNDLE, extra)];
}

function mustOk(what: string, r: Timed): Timed {
  if (r.code !== 0) throw new Error(`${what} failed (${r.code}): ${r.stdout} ${r.stderr}`);
  return r;
}

/** Peak RSS in kB of one run of argv: GNU time's %M, else VmHWM polled from /proc. */
async function peakRssKb(
  argv: string[],
  env: Record<string, string>,
  stdin: string,
): Promise<{ kb: number; method: string; code: number }> {
  let hasTime = false;
  try {
    hasTime = (await Deno.stat("/usr/bin/time")).isFile;
  } catch {
    hasTime = false;
  }
  if (hasTime) {
    const out = await Deno.makeTempFile({ prefix: "ssr-bench-time-" });
    try {
      // GNU time runs inside the node namespace, directly around deno.
      const i = argv.indexOf(DENO);
      const wrapped = [
        ...argv.slice(0, i),
        "/usr/bin/time",
        "-f",
        "%M",
        "-o",
        out,
        ...argv.slice(i),
      ];
      const r = await timed(wrapped, env, stdin);
      const kb = Number((await Deno.readTextFile(out)).trim().split("\n").pop());
      return { kb, method: "GNU time %M (getrusage ru_maxrss)", code: r.code };
    } finally {
      await Deno.remove(out).catch(() => {});
    }
  }
  // Fallback: poll VmHWM of the deno process (ip netns exec execs it, so same pid).
  let kb = 0;
  let done = false;
  let poll: Promise<void> = Promise.resolve();
  const watch = (pid: number) => {
    poll = (async () => {
      while (!done) {
        try {
          const s = await Deno.readTextFile(`/proc/${pid}/status`);
          const m = /VmHWM:\s+(\d+) kB/.exec(s);
          if (m) kb = Math.max(kb, Number(m[1]));
        } catch {
          // exited
        }
        await new Promise((r) => setTimeout(r, 2));
      }
    })();
  };
  const r = await run(argv, { stdin, env, clearEnv: true, onSpawn: watch });
  done = true;
  await poll;
  return { kb, method: "VmHWM polled from /proc/PID/status (a lower bound)", code: r.code };
}

/** Median of the per-round ratios a[i] / b[i]. */
function ratioMedian(a: number[], b: number[]): number {
  return median(a.map((x, i) => x / (b[i] ?? NaN)));
}

/** `ip -batch` lines for `count` /32 routes from `from` on, in 10.200.0.0/12, proto bgp. */
function foreignBatch(from: number, count: number): string {
  const lines: string[] = [];
  for (let i = from; i < from + count; i++) {
    const dst = `10.${200 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}/32`;
    lines.push(`route add ${dst} via ${POD_GW} dev eth0 proto bgp`);
  }
  return lines.join("\n") + "\n";
}

interface Row {
  metric: string;
  plugin: string;
  base: string;
  ratio: number;
  goal?: string;
  met?: boolean;
}

async function main(): Promise<void> {
  if (Deno.uid() !== 0) {
    console.error("bench needs root (it creates network namespaces)");
    Deno.exit(2);
  }
  await Deno.stat(BUNDLE).catch(() => {
    throw new Error(`${BUNDLE} missing: run deno task bench (it bundles first)`);
  });
  const started = performance.now();
  const tmp = await Deno.makeTempDir({ prefix: "ssr-bench-" });
  await using lab = await Lab.create();
  await using big = await Lab.create();
  try {
    const stateDir = `${tmp}/state`;
    const floorJs = `${tmp}/floor.js`;
    await must([
      DENO,
      "bundle",
      "--quiet",
      "--platform",
      "deno",
      "-o",
      floorJs,
      `${ROOT}/bench/floor.ts`,
    ]);
    const floorArgv = (
      l: Lab,
    ) => ["nsenter", `--net=/var/run/netns/${l.node}`, ...denoRun(floorJs)];
    const baseline = await routeCount(lab);
    const bigBaseline = await routeCount(big);

    const one = addroutesConfig(stateDir, 1);
    const many = addroutesConfig(stateDir, 500);
    const host = hostRouteConfig(stateDir);
    const floorHost = { ...host, floorHostIP: HOST_IP };
    const runPlugin = async (l: Lab, cmd: string, id: string, cfg: unknown) =>
      mustOk(`plugin ${cmd}`, await timed(plugin(l), cniEnv(l, cmd, id), JSON.stringify(cfg))).ms;
    const runFloor = async (l: Lab, cmd: string, cfg: unknown) =>
      mustOk(`floor ${cmd}`, await timed(floorArgv(l), cniEnv(l, cmd), JSON.stringify(cfg))).ms;

    const t: Record<string, number[]> = {};
    const put = (k: string, ms: number) => (t[k] ??= []).push(ms);
    const pluginBlock = async () => {
      const id = `bench${++seq}`;
      put("pAdd1", await runPlugin(lab, "ADD", id, one));
      put("pCheck1", await runPlugin(lab, "CHECK", id, one));
      put("pDel1", await runPlugin(lab, "DEL", id, one));
      const id500 = `bench${++seq}`;
      put("pAdd500", await runPlugin(lab, "ADD", id500, many));
      put("pDel500", await runPlugin(lab, "DEL", id500, many));
      const idHost = `bench${++seq}`;
      put("pAddHost", await runPlugin(lab, "ADD", idHost, host));
      put("pDelHost", await runPlugin(lab, "DEL", idHost, host));
    };
    const floorBlock = async () => {
      put("fAdd1", await runFloor(lab, "ADD", one));
      put("fCheck1", await runFloor(lab, "CHECK", one));
      put("fDel1", await runFloor(lab, "DEL", one));
      put("fAdd500", await runFloor(lab, "ADD", many));
      put("fDel500", await runFloor(lab, "DEL", many));
      put("fAddHost", await runFloor(lab, "ADD", floorHost));
      put("fDelHost", await runFloor(lab, "DEL", floorHost));
    };
    const peerBlock = async () => {
      for (const peer of PEERS) {
        // route-override finds the pod interface by a non-empty `sandbox` in prevResult.
        const r = await timed(
          ["nsenter", `--net=/var/run/netns/${lab.node}`, peer.path],
          cniEnv(lab, "ADD"),
          JSON.stringify({ ...one, prevResult: prevResultFor(lab) }),
        );
        put(peer.key, mustOk(`${peer.label} ADD`, r).ms);
        // Its DEL may leave the route (route-override's does): removed untimed.
        const dst = one.addroutes[0]?.dst ?? "";
        await run(["ip", "-n", lab.pod, "route", "del", dst, "via", POD_GW]);
      }
    };
    // Warm the caches (DENO_DIR, page cache) for both programs, then the rounds.
    for (let i = 0; i < 2; i++) await pluginBlock(), await floorBlock(), await peerBlock();
    for (const k of Object.keys(t)) t[k] = [];
    for (let i = 0; i < ROUNDS; i++) {
      if (i % 2 === 0) await pluginBlock(), await floorBlock(), await peerBlock();
      else await peerBlock(), await floorBlock(), await pluginBlock();
    }
    const at = (k: string): number[] => t[k] ?? [];

    // Peak RSS of one ADD: plugin and floor.
    const rssOf = async (l: Lab, argv: string[], cmd: string, id: string, cfg: unknown) => {
      const r = await peakRssKb(argv, cniEnv(l, cmd, id), JSON.stringify(cfg));
      if (r.code !== 0) throw new Error(`RSS run of ${cmd} failed (${r.code})`);
      return r;
    };
    // The median of RSS_ROUNDS runs each, plugin and floor alternating which goes first: one
    // run's peak moves by ±0.6 MB on this VM.
    const rss: Record<string, number> = {};
    let rssMethod = "";
    for (
      const [label, cfg, floorCfg] of [["1 addroute", one, one], ["500 addroutes", many, many], [
        "host route",
        host,
        floorHost,
      ]] as const
    ) {
      const p: number[] = [];
      const f: number[] = [];
      for (let r = 0; r < RSS_ROUNDS; r++) {
        const pluginRun = async () => {
          const id = `benchrss${++seq}`;
          const run = await rssOf(lab, plugin(lab), "ADD", id, cfg);
          await runPlugin(lab, "DEL", id, cfg);
          p.push(run.kb / 1024);
          rssMethod = run.method;
        };
        const floorRun = async () => {
          const run = await rssOf(lab, floorArgv(lab), "ADD", `benchrss${++seq}`, floorCfg);
          await runFloor(lab, "DEL", floorCfg);
          f.push(run.kb / 1024);
        };
        if (r % 2 === 0) await pluginRun(), await floorRun();
        else await floorRun(), await pluginRun();
      }
      rss[`plugin ADD ${label}`] = median(p);
      rss[`floor ADD ${label}`] = median(f);
    }

    // A pod that fills its own table after ADD: attachments are added first (ADD reads the whole
    // table), then the routes; CHECK and DEL of each then run on the big table and, interleaved,
    // on the small one of the first lab.
    const sizes = HUGE ? [BIG, HUGE] : [BIG];
    const perSize = BIG_ROUNDS + 1;
    const cfgOf = (k: number) => addroutesConfig(stateDir, 1, 20 + k);
    // One attachment per pod and slot: the same ID in both pods would be one attachment that
    // moved namespaces (its record replaced by the second ADD).
    const idOf = (l: Lab, k: number) => `bench${l === big ? "big" : "small"}${k}`;
    for (let k = 0; k < perSize * sizes.length; k++) {
      await runPlugin(lab, "ADD", idOf(lab, k), cfgOf(k));
      await runPlugin(big, "ADD", idOf(big, k), cfgOf(k));
    }
    const bigResults: Record<string, unknown>[] = [];
    let filled = 0;
    for (const [s, size] of sizes.entries()) {
      const f0 = performance.now();
      await must(["ip", "-n", big.pod, "-batch", "-"], foreignBatch(filled, size - filled));
      const fillSeconds = (performance.now() - f0) / 1000;
      filled = size;
      const b: Record<string, number[]> = {};
      const bput = (k: string, ms: number) => (b[k] ??= []).push(ms);
      for (let r = 0; r < BIG_ROUNDS; r++) {
        const k = s * perSize + r;
        const pair = async (cmd: string) => {
          const small = async () =>
            bput(`small${cmd}`, await runPlugin(lab, cmd, idOf(lab, k), cfgOf(k)));
          const large = async () =>
            bput(`big${cmd}`, await runPlugin(big, cmd, idOf(big, k), cfgOf(k)));
          if (r % 2 === 0) await small(), await large();
          else await large(), await small();
        };
        await pair("CHECK");
        await pair("DEL");
      }
      const k = s * perSize + BIG_ROUNDS;
      const mb = async (l: Lab, cmd: string) =>
        (await rssOf(l, plugin(l), cmd, idOf(l, k), cfgOf(k))).kb / 1024;
      const rssCheck = { small: await mb(lab, "CHECK"), big: await mb(big, "CHECK") };
      const rssDel = { small: await mb(lab, "DEL"), big: await mb(big, "DEL") };
      const bat = (key: string) => b[key] ?? [];
      bigResults.push({
        routes: size,
        fillSeconds: round(fillSeconds),
        checkMs: { small: round(median(bat("smallCHECK"))), big: round(median(bat("bigCHECK"))) },
        checkRatio: round(ratioMedian(bat("bigCHECK"), bat("smallCHECK")), 3),
        delMs: { small: round(median(bat("smallDEL"))), big: round(median(bat("bigDEL"))) },
        delRatio: round(ratioMedian(bat("bigDEL"), bat("smallDEL")), 3),
        checkRssMb: { small: round(rssCheck.small), big: round(rssCheck.big) },
        delRssMb: { small: round(rssDel.small), big: round(rssDel.big) },
      });
    }
    const leftover = (await routeCount(lab)) - baseline;
    const bigLeftover = (await routeCount(big)) - bigBaseline - filled;

    const ms = (k: string) => round(median(at(k)));
    const rows: Row[] = [
      {
        metric: "ADD, 1 addroute",
        plugin: `${ms("pAdd1")} ms`,
        base: `${ms("fAdd1")} ms`,
        ratio: ratioMedian(at("pAdd1"), at("fAdd1")),
        goal: "<= 1.00x",
      },
      {
        metric: "ADD, 500 addroutes",
        plugin: `${ms("pAdd500")} ms`,
        base: `${ms("fAdd500")} ms`,
        ratio: ratioMedian(at("pAdd500"), at("fAdd500")),
      },
      {
        metric: "ADD growth, 500 / 1 addroute",
        plugin: `${round(ratioMedian(at("pAdd500"), at("pAdd1")), 2)}x`,
        base: `${round(ratioMedian(at("fAdd500"), at("fAdd1")), 2)}x (floor)`,
        ratio: ratioMedian(at("pAdd500"), at("pAdd1")),
        goal: "<= 1.25x",
      },
      {
        metric: "ADD, host route (seamless)",
        plugin: `${ms("pAddHost")} ms`,
        base: `${ms("fAddHost")} ms`,
        ratio: ratioMedian(at("pAddHost"), at("fAddHost")),
      },
      {
        metric: "DEL, 1 addroute",
        plugin: `${ms("pDel1")} ms`,
        base: `${ms("fDel1")} ms`,
        ratio: ratioMedian(at("pDel1"), at("fDel1")),
        goal: "<= 1.00x",
      },
      {
        metric: "DEL, 500 addroutes",
        plugin: `${ms("pDel500")} ms`,
        base: `${ms("fDel500")} ms`,
        ratio: ratioMedian(at("pDel500"), at("fDel500")),
      },
      {
        metric: "DEL, host route",
        plugin: `${ms("pDelHost")} ms`,
        base: `${ms("fDelHost")} ms`,
        ratio: ratioMedian(at("pDelHost"), at("fDelHost")),
      },
      {
        metric: "CHECK, 1 addroute",
        plugin: `${ms("pCheck1")} ms`,
        base: `${ms("fCheck1")} ms`,
        ratio: ratioMedian(at("pCheck1"), at("fCheck1")),
        goal: "<= 1.10x",
      },
    ];
    for (const peer of PEERS) {
      rows.push({
        metric: `peer: ${peer.label} ADD, 1 addroute`,
        plugin: `${ms(peer.key)} ms`,
        base: `${ms("fAdd1")} ms`,
        ratio: ratioMedian(at(peer.key), at("fAdd1")),
      });
    }
    for (const label of ["1 addroute", "500 addroutes", "host route"]) {
      const p = rss[`plugin ADD ${label}`] ?? NaN;
      const f = rss[`floor ADD ${label}`] ?? NaN;
      rows.push({
        metric: `peak RSS, ADD ${label}`,
        plugin: `${round(p)} MB`,
        base: `${round(f)} MB`,
        ratio: p / f,
        goal: "<= floor + 4 MB",
        met: p - f <= 4,
      });
    }
    for (const r of bigResults) {
      const n = `${Number(r.routes) / 1000}k`;
      const c = r.checkMs as { small: number; big: number };
      const d = r.delMs as { small: number; big: number };
      const cr = r.checkRssMb as { small: number; big: number };
      const dr = r.delRssMb as { small: number; big: number };
      rows.push(
        {
          metric: `CHECK, pod with ${n} routes / small`,
          plugin: `${c.big} ms`,
          base: `${c.small} ms`,
          ratio: Number(r.checkRatio),
          goal: "<= 2x",
        },
        {
          metric: `DEL, pod with ${n} routes / small`,
          plugin: `${d.big} ms`,
          base: `${d.small} ms`,
          ratio: Number(r.delRatio),
          goal: "<= 2x",
        },
        {
          metric: `peak RSS, CHECK ${n} / small`,
          plugin: `${cr.big} MB`,
          base: `${cr.small} MB`,
          ratio: cr.big / cr.small,
          goal: "<= +10 MB",
          met: cr.big - cr.small <= 10,
        },
        {
          metric: `peak RSS, DEL ${n} / small`,
          plugin: `${dr.big} MB`,
          base: `${dr.small} MB`,
          ratio: dr.big / dr.small,
          goal: "<= +10 MB",
          met: dr.big - dr.small <= 10,
        },
      );
    }
    for (const r of rows) {
      if (r.met !== undefined || !r.goal) continue;
      const limit = Number(/([\d.]+)x/.exec(r.goal)?.[1]);
      r.met = r.ratio <= limit;
    }
    const results = {
      date: new Date().toISOString(),
      deno: Deno.version.deno,
      kernel: Deno.osRelease(),
      cpus: navigator.hardwareConcurrency,
      quick: QUICK,
      rounds: { main: ROUNDS, big: BIG_ROUNDS },
      rows: rows.map((r) => ({ ...r, ratio: round(r.ratio, 3) })),
      mediansMs: Object.fromEntries(Object.keys(t).map((k) => [k, ms(k)])),
      // Every timed run, in round order, for a closer look at a ratio.
      runsMs: Object.fromEntries(Object.keys(t).map((k) => [k, at(k).map((x) => round(x, 2))])),
      peakRssMb: Object.fromEntries(Object.entries(rss).map(([k, v]) => [k, round(v)])),
      peakRssMethod: rssMethod,
      bigTables: bigResults,
      leftoverRoutes: { small: leftover, big: bigLeftover },
      totalSeconds: round((performance.now() - started) / 1000),
    };

    const table: string[][] = [["metric", "plugin", "floor / small", "ratio", "goal", "met"]];
    for (const r of rows) {
      table.push([
        r.metric,
        r.plugin,
        r.base,
        `${round(r.ratio, 2)}x`,
        r.goal ?? "",
        r.met === undefined ? "" : r.met ? "yes" : "NO",
      ]);
    }
    const widths = table[0]?.map((_, c) => Math.max(...table.map((r) => (r[c] ?? "").length))) ??
      [];
    for (const [i, r] of table.entries()) {
      console.log(r.map((cell, c) => cell.padEnd(widths[c] ?? 0)).join("  "));
      if (i === 0) console.log(widths.map((w) => "-".repeat(w)).join("  "));
    }
    console.log(`medians of per-round ratios; ${ROUNDS} rounds (${BIG_ROUNDS} on big tables)`);
    console.log(`peak RSS method: ${rssMethod}`);
    if (leftover !== 0 || bigLeftover !== 0) {
      console.log(`WARNING: routes left over: ${leftover} (small pod), ${bigLeftover} (big pod)`);
      for (const l of [lab, big]) {
        const text = await must(["ip", "-n", l.pod, "route", "show", "table", "all"]);
        const own = text.split("\n").filter((x) => x && !/proto bgp|table local/.test(x));
        console.log(`${l.pod}:\n  ${own.join("\n  ")}`);
      }
    }
    await Deno.mkdir(RESULTS, { recursive: true });
    await Deno.writeTextFile(`${RESULTS}/latest.json.tmp`, JSON.stringify(results, null, 2) + "\n");
    await Deno.rename(`${RESULTS}/latest.json.tmp`, `${RESULTS}/latest.json`);
    console.log(`wrote bench/results/latest.json (untracked; ${results.totalSeconds} s)`);
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}

async function routeCount(lab: Lab): Promise<number> {
  let n = 0;
  for (const fam of ["-4", "-6"]) {
    const out = await must(["ip", "-n", lab.pod, fam, "route", "show", "table", "all"]);
    for (const line of out.split("\n")) if (line.trim() && !/\btable local\b/.test(line)) n++;
  }
  return n;
}

if (import.meta.main) await main();
