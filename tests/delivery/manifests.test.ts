/**
 * daemonset.yml (parsed with npm:yaml) and the Containerfile: the structure the issue asks for,
 * and that both name the same image and version.
 */
import assert from "node:assert/strict";
import { parseAllDocuments } from "yaml";
import { PLUGIN_NAME, PLUGIN_VERSION } from "../../src/meta.ts";

const ROOT: string = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");
/** The installer image, as daemonset.yml and the docs name it. */
const IMAGE = `ghcr.io/seamless-static-route/seamless-static-route:${PLUGIN_VERSION}`;

type Obj = Record<string, unknown>;

function obj(v: unknown, what: string): Obj {
  assert.ok(typeof v === "object" && v !== null && !Array.isArray(v), `${what} is a mapping`);
  return v as Obj;
}

function arr(v: unknown, what: string): unknown[] {
  assert.ok(Array.isArray(v), `${what} is a list`);
  return v;
}

/** A Kubernetes quantity (`10m`, `1`, `16Mi`, `1G`) as a number, for limit >= request checks. */
function quantity(q: unknown): number {
  const m = /^([0-9.]+)(m|k|Ki|M|Mi|G|Gi)?$/.exec(String(q));
  assert.ok(m, `quantity ${String(q)}`);
  const scale: Record<string, number> = {
    "": 1,
    m: 1e-3,
    k: 1e3,
    Ki: 1024,
    M: 1e6,
    Mi: 1024 ** 2,
    G: 1e9,
    Gi: 1024 ** 3,
  };
  return Number(m[1]) * (scale[m[2] ?? ""] ?? NaN);
}

const yamlText = await Deno.readTextFile(`${ROOT}/daemonset.yml`);
const docs = parseAllDocuments(yamlText);

function daemonSet(): Obj {
  for (const d of docs) assert.deepEqual(d.errors, [], "daemonset.yml parses without errors");
  const all = docs.map((d) => d.toJS() as unknown).filter((d) => d !== null);
  const sets = all.filter((d) => obj(d, "document").kind === "DaemonSet");
  assert.equal(sets.length, 1, "exactly one DaemonSet");
  return obj(sets[0], "DaemonSet");
}

function podSpec(ds: Obj): Obj {
  return obj(obj(obj(ds.spec, "spec").template, "template").spec, "pod spec");
}

Deno.test("daemonset.yml: a DaemonSet in kube-system whose selector matches its pods", () => {
  const ds = daemonSet();
  assert.equal(ds.apiVersion, "apps/v1");
  const meta = obj(ds.metadata, "metadata");
  assert.equal(meta.namespace, "kube-system");
  assert.equal(meta.name, PLUGIN_NAME);
  const spec = obj(ds.spec, "spec");
  const match = obj(obj(spec.selector, "selector").matchLabels, "matchLabels");
  const labels = obj(
    obj(obj(spec.template, "template").metadata, "template metadata").labels,
    "labels",
  );
  assert.ok(Object.keys(match).length > 0);
  for (const [k, v] of Object.entries(match)) assert.equal(labels[k], v, `pod label ${k}`);
});

Deno.test("daemonset.yml: runs everywhere, critical, rolling update", () => {
  const ds = daemonSet();
  const spec = obj(ds.spec, "spec");
  assert.equal(obj(spec.updateStrategy, "updateStrategy").type, "RollingUpdate");
  const pod = podSpec(ds);
  assert.equal(pod.priorityClassName, "system-node-critical");
  assert.deepEqual(pod.nodeSelector, { "kubernetes.io/os": "linux" });
  const tolerations = arr(pod.tolerations, "tolerations").map((t) => obj(t, "toleration"));
  assert.ok(
    tolerations.some((t) =>
      t.operator === "Exists" && t.key === undefined && t.effect === undefined
    ),
    "a toleration `- operator: Exists` (tolerates every taint)",
  );
});

Deno.test("daemonset.yml: init container runs /install into the node's CNI bin dir", () => {
  const pod = podSpec(daemonSet());
  const inits = arr(pod.initContainers, "initContainers").map((c) => obj(c, "init container"));
  assert.equal(inits.length, 1);
  const init = inits[0]!;
  assert.equal(init.image, IMAGE);
  assert.deepEqual(init.command ?? ["/install"], ["/install"]);
  const env = Object.fromEntries(
    arr(init.env ?? [], "env").map((e) => [obj(e, "env").name, obj(e, "env").value]),
  );
  const mounts = arr(init.volumeMounts, "volumeMounts").map((m) => obj(m, "volumeMount"));
  assert.equal(mounts.length, 1);
  assert.equal(mounts[0]!.mountPath, "/host/opt/cni/bin");
  assert.ok(mounts[0]!.readOnly !== true, "the CNI bin dir is mounted writable");
  assert.equal(env.CNI_BIN_DIR ?? "/host/opt/cni/bin", mounts[0]!.mountPath, "CNI_BIN_DIR = mount");
  if (env.CNI_PLUGIN_NAMES !== undefined) {
    assert.match(String(env.CNI_PLUGIN_NAMES), /^[A-Za-z0-9][A-Za-z0-9._ -]*$/);
  }
  const volumes = arr(pod.volumes, "volumes").map((v) => obj(v, "volume"));
  const vol = volumes.find((v) => v.name === mounts[0]!.name);
  assert.ok(vol, `volume ${String(mounts[0]!.name)} is defined`);
  const hostPath = obj(vol.hostPath, "hostPath");
  assert.equal(hostPath.path, "/opt/cni/bin");
  assert.match(yamlText, /#.*\/var\/lib\/cni\/bin/, "a comment shows OpenShift's /var/lib/cni/bin");
});

Deno.test("daemonset.yml: a pause container keeps the pod", () => {
  const pod = podSpec(daemonSet());
  const containers = arr(pod.containers, "containers").map((c) => obj(c, "container"));
  assert.equal(containers.length, 1);
  assert.equal(containers[0]!.image, "registry.k8s.io/pause:3.10");
  assert.equal(containers[0]!.volumeMounts, undefined, "pause mounts nothing of the host");
});

Deno.test("daemonset.yml: small requests and limits on every container", () => {
  const pod = podSpec(daemonSet());
  const all = [
    ...arr(pod.initContainers, "initContainers"),
    ...arr(pod.containers, "containers"),
  ].map((c) => obj(c, "container"));
  for (const c of all) {
    const res = obj(c.resources, `${String(c.name)} resources`);
    const req = obj(res.requests, `${String(c.name)} requests`);
    const lim = obj(res.limits, `${String(c.name)} limits`);
    for (const k of ["cpu", "memory"]) {
      assert.ok(req[k] !== undefined && lim[k] !== undefined, `${String(c.name)} ${k}`);
      assert.ok(quantity(lim[k]) >= quantity(req[k]), `${String(c.name)} ${k} limit >= request`);
    }
    assert.ok(quantity(lim.cpu) <= 0.5, `${String(c.name)} cpu limit is small`);
    assert.ok(quantity(lim.memory) <= 256 * 1024 ** 2, `${String(c.name)} memory limit is small`);
  }
});

/** Containerfile instructions, continuation lines joined, comments dropped. */
function instructions(text: string): { op: string; args: string }[] {
  const joined = text.replace(/\\\n/g, " ");
  return joined.split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"))
    .map((l) => {
      const i = l.search(/\s/);
      return { op: l.slice(0, i).toUpperCase(), args: l.slice(i + 1).trim() };
    });
}

const containerfile = await Deno.readTextFile(`${ROOT}/Containerfile`);

Deno.test("Containerfile: deno build stage runs deno task build", () => {
  const ins = instructions(containerfile);
  const froms = ins.filter((i) => i.op === "FROM");
  assert.equal(froms.length, 2, "a build stage and a final stage");
  assert.match(
    froms[0]!.args,
    new RegExp(`denoland/deno:${Deno.version.deno.replaceAll(".", "\\.")}\\s+AS\\s+build$`, "i"),
    "the build stage uses the Deno version the project is developed with",
  );
  const firstFinal = ins.indexOf(froms[1]!);
  const buildRuns = ins.slice(0, firstFinal).filter((i) => i.op === "RUN");
  assert.ok(buildRuns.some((r) => /\bdeno task build\b/.test(r.args)), "RUN deno task build");
});

Deno.test("Containerfile: build stage copies only files the repository has", async () => {
  const ins = instructions(containerfile);
  const final = ins.indexOf(ins.filter((i) => i.op === "FROM")[1]!);
  for (const copy of ins.slice(0, final).filter((i) => i.op === "COPY")) {
    const parts = copy.args.split(/\s+/).filter((p) => !p.startsWith("--"));
    for (const src of parts.slice(0, -1)) {
      if (src.includes("*")) continue; // optional (deno.lock* until a lock file exists)
      const path = `${ROOT}/${src.replace(/\/$/, "")}`;
      await Deno.stat(path).catch(() => assert.fail(`COPY source ${src} is missing`));
    }
  }
});

Deno.test("Containerfile: build stage copies every local module deno task build loads", async () => {
  // scripts/build.ts imports ../testing/run.ts: a build stage without it fails at its first line.
  const ins = instructions(containerfile);
  const final = ins.indexOf(ins.filter((i) => i.op === "FROM")[1]!);
  const copied = ins.slice(0, final).filter((i) => i.op === "COPY")
    .flatMap((c) => c.args.split(/\s+/).filter((p) => !p.startsWith("--")).slice(0, -1))
    .map((src) => src.replace(/\/$/, ""));
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", "--frozen", `${ROOT}/scripts/build.ts`],
    cwd: ROOT,
    stdout: "piped",
    stderr: "null",
  }).output();
  assert.equal(out.code, 0, "deno info scripts/build.ts");
  const info = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    modules: { specifier: string }[];
  };
  const local = info.modules.map((m) => m.specifier)
    .filter((s) => s.startsWith(`file://${ROOT}/`))
    .map((s) => s.slice(`file://${ROOT}/`.length));
  assert.ok(local.includes("scripts/build.ts"));
  for (const file of local) {
    const ok = copied.some((src) => file === src || file.startsWith(`${src}/`));
    assert.ok(ok, `deno task build loads ${file}, which the build stage does not COPY`);
  }
});

Deno.test("Containerfile: final stage holds only the binary and /install, entrypoint /install", () => {
  const ins = instructions(containerfile);
  const froms = ins.filter((i) => i.op === "FROM");
  assert.match(froms[1]!.args, /busybox/, "a final image with a POSIX sh for install");
  const final = ins.slice(ins.indexOf(froms[1]!));
  const copies = final.filter((i) => i.op === "COPY").map((c) => c.args.split(/\s+/));
  assert.deepEqual(
    copies.map((c) => c.at(-1)).sort(),
    ["/install", `/${PLUGIN_NAME}`],
    "copies the binary and install to /",
  );
  for (const c of copies) {
    assert.ok(c.includes("--from=build"), `${c.join(" ")} from the build stage`);
  }
  assert.ok(!final.some((i) => i.op === "RUN" || i.op === "ADD"), "nothing else added");
  const entry = final.filter((i) => i.op === "ENTRYPOINT");
  assert.equal(entry.length, 1);
  assert.deepEqual(JSON.parse(entry[0]!.args), ["/install"]);
});

Deno.test("Containerfile and daemonset.yml: the same image name and version", () => {
  const ins = instructions(containerfile);
  const labels = ins.filter((i) => i.op === "LABEL").map((i) => i.args).join(" ");
  assert.match(labels, new RegExp(`org\\.opencontainers\\.image\\.version="${PLUGIN_VERSION}"`));
  assert.ok(containerfile.includes(`-t ${IMAGE}`), `the build command shown tags ${IMAGE}`);
  assert.ok(yamlText.includes(`image: ${IMAGE}`), `daemonset.yml runs ${IMAGE}`);
  assert.match(yamlText, new RegExp(`app\\.kubernetes\\.io/version: "${PLUGIN_VERSION}"`));
});
