import assert from "node:assert/strict";
import { parseCniArgs, readCniEnv } from "../../src/cni/env.ts";
import { isValidIfname } from "../../src/validate.ts";
import { CniError } from "../../src/cni/errors.ts";

const base: Record<string, string> = {
  CNI_COMMAND: "ADD",
  CNI_CONTAINERID: "abc123",
  CNI_NETNS: "/var/run/netns/pod",
  CNI_IFNAME: "eth0",
  CNI_PATH: "/opt/cni/bin",
};

function read(over: Record<string, string | undefined>) {
  const env = { ...base, ...over };
  return readCniEnv((k) => env[k]);
}

function code4(over: Record<string, string | undefined>, name: string) {
  assert.throws(() => read(over), (e: unknown) => {
    assert.ok(e instanceof CniError);
    assert.equal(e.code, 4);
    assert.match(e.message, new RegExp(name));
    return true;
  });
}

Deno.test("env: a full ADD environment reads back", () => {
  const env = read({ CNI_ARGS: "IgnoreUnknown=1;K8S_POD_NAME=web-0" });
  assert.equal(env.command, "ADD");
  assert.equal(env.containerId, "abc123");
  assert.equal(env.netns, "/var/run/netns/pod");
  assert.equal(env.ifname, "eth0");
  assert.deepEqual(env.path, ["/opt/cni/bin"]);
  assert.deepEqual(env.args, { IgnoreUnknown: "1", K8S_POD_NAME: "web-0" });
});

Deno.test("env: each missing variable is named (code 4)", () => {
  for (const name of ["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"]) {
    code4({ [name]: undefined }, name);
  }
  code4({ CNI_COMMAND: "FOO" }, "CNI_COMMAND");
});

Deno.test("env: DEL may come without CNI_NETNS; VERSION needs nothing", () => {
  assert.equal(read({ CNI_COMMAND: "DEL", CNI_NETNS: undefined }).netns, "");
  const v = readCniEnv((k) => (k === "CNI_COMMAND" ? "VERSION" : undefined));
  assert.equal(v.command, "VERSION");
});

Deno.test("env: invalid values are refused (code 4)", () => {
  code4({ CNI_CONTAINERID: "../etc" }, "CNI_CONTAINERID");
  code4({ CNI_CONTAINERID: "a b" }, "CNI_CONTAINERID");
  code4({ CNI_NETNS: "relative/path" }, "CNI_NETNS");
  code4({ CNI_NETNS: "/var/run/netns/a\nb" }, "CNI_NETNS");
  code4({ CNI_IFNAME: "eth0;reboot" }, "CNI_IFNAME");
  code4({ CNI_IFNAME: "averyveryverylongname" }, "CNI_IFNAME");
  code4({ CNI_ARGS: "novalue" }, "CNI_ARGS");
});

Deno.test("isValidIfname", () => {
  for (const ok of ["eth0", "net1", "veth_a.b-c", "a"]) assert.ok(isValidIfname(ok), ok);
  for (const bad of ["", ".", "..", "-x", "a b", "a/b", "a:b", "eth0\n", "123456789012345x"]) {
    assert.ok(!isValidIfname(bad), JSON.stringify(bad));
  }
});

Deno.test("parseCniArgs keeps = inside values", () => {
  assert.deepEqual(parseCniArgs("A=b=c;;D="), { A: "b=c", D: "" });
});

Deno.test("parseCniArgs accepts keys repeated as Multus sends them; the last value wins", () => {
  const multus = "IgnoreUnknown=true;K8S_POD_NAMESPACE=ns;K8S_POD_NAME=a;" +
    "K8S_POD_INFRA_CONTAINER_ID=c1;K8S_POD_UID=u1;IgnoreUnknown=1;K8S_POD_NAMESPACE=ns;" +
    "K8S_POD_NAME=a;K8S_POD_INFRA_CONTAINER_ID=c1;K8S_POD_UID=u2";
  assert.deepEqual(parseCniArgs(multus), {
    IgnoreUnknown: "1",
    K8S_POD_NAMESPACE: "ns",
    K8S_POD_NAME: "a",
    K8S_POD_INFRA_CONTAINER_ID: "c1",
    K8S_POD_UID: "u2",
  });
  assert.equal(read({ CNI_ARGS: multus }).args.K8S_POD_NAME, "a");
});
