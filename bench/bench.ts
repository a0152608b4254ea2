/**
 * Benchmark of the plugin (`deno task bench`: bundle, then this). Needs root: every ADD runs in
 * throwaway namespaces (testing/lab.ts `Lab`: a node and a pod namespace), never in the machine's own.
 *
 * Measures, in one run:
 * 1. ADD latency of the plugin (host route) versus the "Deno floor" (bench/floor.ts, bundled and
 *    run exactly like the plugin), interleaved run by run; median ratio, target ≤ 1.15.
 * 2. Cost growth: ADD with 500 addroutes versus 1 addroute (route-override), target ≤ 1.5×.
 * 3. Peak RSS of one ADD (GNU time's %M when /usr/bin/time exists, else VmHWM polled from
 *    /proc/PID/status), target ≤ 60 MB.
 * 4. Startup breakdown: deno itself, module load, config + discovery + read, apply, measured from
 *    the outside (empty script, `--version`, `--dry-run`, full ADD), plus the plugin's own debug
 *    log timings when it writes them.
 *
 * Prints a table and writes bench/results/latest.json. Options: `--quick` (fewer runs).
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
const RATIO_RUNS = QUICK ? 7 : 61;
const GROWTH_RUNS = QUICK ? 5 : 21;
const STARTUP_RUNS = QUICK ? 5 : 41;
const HOST_IP = LAB.nodeIp;
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

function addroutesConfig(stateDir: string, count: number) {
  const addroutes = Array.from({ length: count }, (_, i) => ({
    dst: `10.${100 + (i >> 8)}.${i & 255}.0/24`,
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
  return ["ip", "netns", "exec", lab.node, ...denoRun(BUNDLE, extra)];
}

function mustOk(what: string, r: Timed): Timed {
  if (r.code !== 0) throw new Error(`${what} failed (${r.code}): ${r.stdout} ${r.stderr}`);
  return r;
}

/** ADD then DEL of one attachment; returns the ADD timing (and the DEL's in `delMs`). */
async function addDel(lab: Lab, config: unknown): Promise<Timed & { delMs: number }> {
  const id = `bench${Deno.pid}x${++seq}`;
  const body = JSON.stringify(config);
  const add = mustOk("plugin ADD", await timed(plugin(lab), cniEnv(lab, "ADD", id), body));
  const del = mustOk("plugin DEL", await timed(plugin(lab), cniEnv(lab, "DEL", id), body));
  return { ...add, delMs: del.ms };
}

/** Milliseconds named by the plugin's debug log lines of one ADD (empty when it logs none). */
function debugTimings(log: string): Record<string, number> {
  const out: Record<string, number> = {};
  const at = (re: RegExp): RegExpExecArray | null => re.exec(log);
  const read = at(/\+([\d.]+)ms read pod: .* in ([\d.]+)ms/);
  const host = at(/\+([\d.]+)ms host: .* in ([\d.]+)ms/);
  const applied = at(/\+([\d.]+)ms applied \d+ ops in ([\d.]+)ms/);
  const done = at(/\+([\d.]+)ms done/);
  if (read) {
    out["config parsed → pod read starts"] = Number(read[1]) - Number(read[2]);
    out["ip read (1 ip -j -batch)"] = Number(read[2]);
  }
  if (read && host) out["host discovery"] = Number(host[2]);
  if (host && applied) {
    out["plan + state file write"] = Number(applied[1]) - Number(applied[2]) - Number(host[1]);
  }
  if (applied) out["ip write (1 ip -batch)"] = Number(applied[2]);
  if (applied && done) out["result"] = Number(done[1]) - Number(applied[1]);
  if (done) out["handler total (log start → done)"] = Number(done[1]);
  return out;
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
  try {
    const stateDir = `${tmp}/state`;
    // The floor, bundled like the plugin.
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
    const emptyJs = `${tmp}/empty.js`;
    await Deno.writeTextFile(emptyJs, "");
    const floorArgv = ["ip", "netns", "exec", lab.node, ...denoRun(floorJs)];
    const floorBody = JSON.stringify({ ...hostRouteConfig(stateDir), floorHostIP: HOST_IP });
    const delHostRoute = () => run(["ip", "-n", lab.pod, "route", "del", `${HOST_IP}/32`]);
    const baseline = await routeCount(lab);

    // Warm the caches (DENO_DIR, page cache) for both programs.
    for (let i = 0; i < 3; i++) {
      await addDel(lab, hostRouteConfig(stateDir));
      mustOk("floor", await timed(floorArgv, cniEnv(lab, "ADD"), floorBody));
      await delHostRoute();
    }

    // 1. Plugin vs floor, interleaved (order alternates each round).
    const pluginMs: number[] = [];
    const floorMs: number[] = [];
    for (let i = 0; i < RATIO_RUNS; i++) {
      const doPlugin = async () => pluginMs.push((await addDel(lab, hostRouteConfig(stateDir))).ms);
      const doFloor = async () => {
        floorMs.push(
          (mustOk("floor", await timed(floorArgv, cniEnv(lab, "ADD"), floorBody))).ms,
        );
        await delHostRoute();
      };
      if (i % 2 === 0) {
        await doPlugin();
        await doFloor();
      } else {
        await doFloor();
        await doPlugin();
      }
    }
    const ratio = median(pluginMs) / median(floorMs);

    // 2. Growth: 500 addroutes vs 1, interleaved.
    const one: number[] = [];
    const many: number[] = [];
    const delOne: number[] = [];
    const delMany: number[] = [];
    await addDel(lab, addroutesConfig(stateDir, 500)); // warm
    for (let i = 0; i < GROWTH_RUNS; i++) {
      const a = await addDel(lab, addroutesConfig(stateDir, 1));
      const b = await addDel(lab, addroutesConfig(stateDir, 500));
      one.push(a.ms);
      many.push(b.ms);
      delOne.push(a.delMs);
      delMany.push(b.delMs);
    }
    const growth = median(many) / median(one);
    // The kernel's own share: the same 500 routes added by one bare `ip -batch` (no Deno).
    const bareIp: number[] = [];
    const batch500 = addroutesConfig(stateDir, 500).addroutes
      .map((r) => `route add ${r.dst} via ${r.gw} dev eth0`).join("\n") + "\n";
    for (let i = 0; i < GROWTH_RUNS; i++) {
      bareIp.push(
        mustOk(
          "ip -batch",
          await timed(["ip", "-n", lab.pod, "-batch", "-"], runtimeEnv(), batch500),
        )
          .ms,
      );
      await must(
        ["ip", "-n", lab.pod, "-batch", "-"],
        batch500.replaceAll("route add", "route del"),
      );
    }

    // 3. Peak RSS of one ADD (host route, and 500 addroutes).
    const rss: Record<string, { kb: number; method: string }> = {};
    for (
      const [label, cfg] of [
        ["ADD host route", hostRouteConfig(stateDir)],
        ["ADD 500 addroutes", addroutesConfig(stateDir, 500)],
      ] as const
    ) {
      const id = `benchrss${++seq}`;
      const r = await peakRssKb(plugin(lab), cniEnv(lab, "ADD", id), JSON.stringify(cfg));
      if (r.code !== 0) throw new Error(`RSS run of ${label} failed (${r.code})`);
      mustOk("DEL", await timed(plugin(lab), cniEnv(lab, "DEL", id), JSON.stringify(cfg)));
      rss[label] = { kb: r.kb, method: r.method };
    }
    const peakMb = Math.max(...Object.values(rss).map((r) => r.kb)) / 1024;

    // 4. Startup breakdown, from the outside.
    const steps = {
      "deno run of an empty script": [] as number[],
      "plugin --version": [] as number[],
      "CNI_COMMAND=VERSION": [] as number[],
      "ADD --dry-run": [] as number[],
      "full ADD": [] as number[],
    };
    const emptyArgv = ["ip", "netns", "exec", lab.node, ...denoRun(emptyJs)];
    let dryRunOk = true;
    let versionOk = true;
    for (let i = 0; i < STARTUP_RUNS; i++) {
      steps["deno run of an empty script"].push((await timed(emptyArgv, runtimeEnv(), "")).ms);
      const v = await timed(plugin(lab, ["--version"]), runtimeEnv(), "");
      versionOk &&= v.code === 0;
      steps["plugin --version"].push(v.ms);
      const ver = await timed(plugin(lab), { ...runtimeEnv(), CNI_COMMAND: "VERSION" }, "{}");
      versionOk &&= ver.code === 0;
      steps["CNI_COMMAND=VERSION"].push(ver.ms);
      const d = await timed(
        plugin(lab, ["--dry-run"]),
        cniEnv(lab, "ADD"),
        JSON.stringify(hostRouteConfig(stateDir)),
      );
      dryRunOk &&= d.code === 0;
      steps["ADD --dry-run"].push(d.ms);
      steps["full ADD"].push((await addDel(lab, hostRouteConfig(stateDir))).ms);
    }
    const m = {
      "deno run of an empty script": median(steps["deno run of an empty script"]),
      "plugin --version": median(steps["plugin --version"]),
      "CNI_COMMAND=VERSION": median(steps["CNI_COMMAND=VERSION"]),
      "ADD --dry-run": median(steps["ADD --dry-run"]),
      "full ADD": median(steps["full ADD"]),
    };
    const breakdown = {
      "deno runtime start (empty script)": m["deno run of an empty script"],
      "module load + --version": m["plugin --version"] - m["deno run of an empty script"],
      "stdin + VERSION answer": m["CNI_COMMAND=VERSION"] - m["plugin --version"],
      "env + config + netns + ip read + discovery + plan (--dry-run)": m["ADD --dry-run"] -
        m["CNI_COMMAND=VERSION"],
      "ip write + state file + result": m["full ADD"] - m["ADD --dry-run"],
    };

    // The plugin's own timings (debug log, median of several ADDs), when it writes them.
    const internal: Record<string, number[]> = {};
    let debugLog: string[] = [];
    for (let i = 0; i < STARTUP_RUNS; i++) {
      const logFile = `${tmp}/debug${i}.log`;
      const dbgId = `benchdbg${++seq}`;
      const dbgCfg = JSON.stringify(hostRouteConfig(stateDir, { debug: true, logFile }));
      mustOk("debug ADD", await timed(plugin(lab), cniEnv(lab, "ADD", dbgId), dbgCfg));
      const addLog = await Deno.readTextFile(logFile).catch(() => "");
      mustOk("debug DEL", await timed(plugin(lab), cniEnv(lab, "DEL", dbgId), dbgCfg));
      for (const [k, v] of Object.entries(debugTimings(addLog))) (internal[k] ??= []).push(v);
      if (i === 0) {
        debugLog = (await Deno.readTextFile(logFile).catch(() => "")).split("\n")
          .filter((l) => l !== "").slice(0, 40).map((l) => l.replace(/^\S+ /, ""));
      }
    }
    const internalMs = Object.fromEntries(
      Object.entries(internal).map(([k, v]) => [k, round(median(v))]),
    );

    const leftover = (await routeCount(lab)) - baseline;
    const results = {
      date: new Date().toISOString(),
      deno: Deno.version.deno,
      kernel: Deno.osRelease(),
      cpus: navigator.hardwareConcurrency,
      quick: QUICK,
      runs: { ratio: RATIO_RUNS, growth: GROWTH_RUNS, startup: STARTUP_RUNS },
      addLatency: {
        pluginMedianMs: round(median(pluginMs)),
        floorMedianMs: round(median(floorMs)),
        pluginMinMs: round(Math.min(...pluginMs)),
        floorMinMs: round(Math.min(...floorMs)),
        ratio: round(ratio, 3),
        target: 1.15,
        pass: ratio <= 1.15,
      },
      growth: {
        oneRouteMedianMs: round(median(one)),
        fiveHundredRoutesMedianMs: round(median(many)),
        ratio: round(growth, 3),
        target: 1.5,
        pass: growth <= 1.5,
        bareIpBatch500MedianMs: round(median(bareIp)),
        delOneRouteMedianMs: round(median(delOne)),
        delFiveHundredRoutesMedianMs: round(median(delMany)),
        delRatio: round(median(delMany) / median(delOne), 3),
      },
      peakRss: {
        runs: Object.fromEntries(Object.entries(rss).map(([k, v]) => [k, round(v.kb / 1024)])),
        maxMb: round(peakMb),
        method: Object.values(rss)[0]?.method ?? "none",
        target: 60,
        pass: peakMb <= 60,
      },
      startupMedianMs: Object.fromEntries(Object.entries(m).map(([k, v]) => [k, round(v)])),
      startupBreakdownMs: Object.fromEntries(
        Object.entries(breakdown).map(([k, v]) => [k, round(v)]),
      ),
      pluginDebugLogMedianMs: internalMs,
      versionOk,
      dryRunOk,
      debugLog,
      leftoverRoutes: leftover,
      totalSeconds: round((performance.now() - started) / 1000),
    };

    const rows: [string, string, string, string][] = [
      ["metric", "value", "target", "ok"],
      [
        "ADD median: plugin / floor (ms)",
        `${results.addLatency.pluginMedianMs} / ${results.addLatency.floorMedianMs} = ${results.addLatency.ratio}x`,
        "<= 1.15x",
        results.addLatency.pass ? "yes" : "NO",
      ],
      [
        "ADD median: 500 / 1 addroutes (ms)",
        `${results.growth.fiveHundredRoutesMedianMs} / ${results.growth.oneRouteMedianMs} = ${results.growth.ratio}x`,
        "<= 1.5x",
        results.growth.pass ? "yes" : "NO",
      ],
      [
        "  bare ip -batch of the same 500 routes (ms)",
        `${results.growth.bareIpBatch500MedianMs}`,
        "",
        "",
      ],
      [
        "DEL median: 500 / 1 addroutes (ms)",
        `${results.growth.delFiveHundredRoutesMedianMs} / ${results.growth.delOneRouteMedianMs} = ${results.growth.delRatio}x`,
        "(info)",
        "",
      ],
      [
        "peak RSS of one ADD (MB)",
        `${results.peakRss.maxMb}`,
        "<= 60",
        results.peakRss.pass ? "yes" : "NO",
      ],
      ...Object.entries(results.startupBreakdownMs).map((
        [k, v],
      ): [string, string, string, string] => [
        `startup: ${k} (ms)`,
        String(v),
        "",
        "",
      ]),
      ...Object.entries(internalMs).map(([k, v]): [string, string, string, string] => [
        `plugin debug log: ${k} (ms)`,
        String(v),
        "",
        "",
      ]),
    ];
    const widths = [0, 1, 2, 3].map((c) => Math.max(...rows.map((r) => (r[c] ?? "").length)));
    for (const [i, r] of rows.entries()) {
      console.log(r.map((cell, c) => cell.padEnd(widths[c] ?? 0)).join("  "));
      if (i === 0) console.log(widths.map((w) => "-".repeat(w)).join("  "));
    }
    console.log(`peak RSS method: ${results.peakRss.method}`);
    if (!dryRunOk || !versionOk) console.log("note: --dry-run or --version exited non-zero");
    if (leftover !== 0) console.log(`WARNING: ${leftover} routes left over in the pod`);
    await Deno.mkdir(RESULTS, { recursive: true });
    await Deno.writeTextFile(`${RESULTS}/latest.json.tmp`, JSON.stringify(results, null, 2) + "\n");
    await Deno.rename(`${RESULTS}/latest.json.tmp`, `${RESULTS}/latest.json`);
    console.log(`wrote bench/results/latest.json (${results.totalSeconds} s)`);
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}

async function routeCount(lab: Lab): Promise<number> {
  const out = await must(["ip", "-n", lab.pod, "-j", "route", "show", "table", "all"]);
  return (JSON.parse(out) as unknown[]).length;
}

if (import.meta.main) await main();
