/**
 * A small CRI client (runtime.v1 RuntimeService) over a unix socket, speaking to containerd the
 * way kubelet does, for the calls in `cri.proto`. Test-only: it uses npm `@grpc/grpc-js` and
 * `@grpc/proto-loader` (the plugin itself uses neither). Dispose closes the channel.
 */
// @ts-types="./grpc.d.ts"
import * as grpc from "@grpc/grpc-js";
// @ts-types="./grpc.d.ts"
import * as protoLoader from "@grpc/proto-loader";

const PROTO = new URL("./cri.proto", import.meta.url).pathname;

/** VersionResponse. */
export interface VersionResponse {
  version: string;
  runtimeName: string;
  runtimeVersion: string;
  runtimeApiVersion: string;
}

/** PodSandboxMetadata: the pod's identity, which reaches CNI as K8S_POD_*. */
export interface PodSandboxMetadata {
  name: string;
  uid: string;
  namespace: string;
  attempt?: number;
}

/** PodSandboxConfig (the fields these tests set). */
export interface PodSandboxConfig {
  metadata: PodSandboxMetadata;
  hostname?: string;
  logDirectory?: string;
  dnsConfig?: { servers?: string[]; searches?: string[]; options?: string[] };
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  linux?: {
    cgroupParent?: string;
    securityContext?: {
      namespaceOptions?: { network?: string; pid?: string; ipc?: string };
    };
  };
}

/** PodSandboxStatusResponse (enums as their names, 64-bit integers as strings). */
export interface PodSandboxStatusResponse {
  status: {
    id: string;
    metadata: PodSandboxMetadata;
    state: "SANDBOX_READY" | "SANDBOX_NOTREADY";
    createdAt: string;
    network: { ip: string; additionalIps: { ip: string }[] } | null;
    labels: Record<string, string>;
    annotations: Record<string, string>;
  };
  info: Record<string, string>;
}

type Callback = (err: grpc.ServiceError | null, value?: unknown) => void;
type Method = (req: unknown, meta: grpc.Metadata, opts: grpc.CallOptions, cb: Callback) => void;

/** A RuntimeService client on `unix://socket`. */
export class CriClient implements Disposable {
  private readonly client: grpc.Client & Record<string, Method>;
  private readonly timeoutMs: number;

  /** Connects lazily to `socket`; each call fails after `timeoutMs`. */
  constructor(socket: string, timeoutMs = 60_000) {
    const def = protoLoader.loadSync(PROTO, {
      keepCase: false,
      longs: String,
      enums: String,
      defaults: true,
      oneofs: true,
    });
    const pkg = grpc.loadPackageDefinition(def) as unknown as {
      runtime: { v1: { RuntimeService: grpc.ServiceClientConstructor } };
    };
    this.client = new pkg.runtime.v1.RuntimeService(
      `unix://${socket}`,
      grpc.credentials.createInsecure(),
    ) as unknown as grpc.Client & Record<string, Method>;
    this.timeoutMs = timeoutMs;
  }

  private call<T>(method: string, req: unknown): Promise<T> {
    return new Promise((resolve, reject) => {
      const deadline = new Date(Date.now() + this.timeoutMs);
      const fn = this.client[method];
      if (!fn) return reject(new Error(`CRI ${method}: no such method`));
      fn.call(this.client, req, new grpc.Metadata(), { deadline }, (err, v) => {
        if (err) reject(new Error(`CRI ${method}: ${err.message}`));
        else resolve(v as T);
      });
    });
  }

  /** Version, as kubelet asks it first. */
  version(): Promise<VersionResponse> {
    return this.call("Version", { version: "v1" });
  }

  /** RunPodSandbox; returns the sandbox id. */
  async runPodSandbox(config: PodSandboxConfig): Promise<string> {
    const r = await this.call<{ podSandboxId: string }>("RunPodSandbox", { config });
    return r.podSandboxId;
  }

  /** PodSandboxStatus (verbose: with containerd's `info` JSON). */
  podSandboxStatus(id: string, verbose = true): Promise<PodSandboxStatusResponse> {
    return this.call("PodSandboxStatus", { podSandboxId: id, verbose });
  }

  /** StopPodSandbox. */
  async stopPodSandbox(id: string): Promise<void> {
    await this.call("StopPodSandbox", { podSandboxId: id });
  }

  /** RemovePodSandbox. */
  async removePodSandbox(id: string): Promise<void> {
    await this.call("RemovePodSandbox", { podSandboxId: id });
  }

  [Symbol.dispose](): void {
    this.client.close();
  }
}
