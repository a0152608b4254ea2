/**
 * The sandbox ("pause") image, built offline: one layer holding busybox-static (`/bin/busybox`,
 * `/bin/sh`, `/bin/sleep`, `/bin/ip`), written as an OCI image layout and packed into the tar
 * archive `ctr images import` reads. Its entrypoint sleeps, as a pause container does.
 */
import { must } from "../../../testing/mod.ts";

/** Name the image is imported under (and configured as containerd's `sandbox_image`). */
export const PAUSE_IMAGE = "ssr.test/pause:1";

/** OCI architecture name of this machine. */
function ociArch(): string {
  const arch = Deno.build.arch as string;
  return arch === "x86_64" ? "amd64" : arch === "aarch64" ? "arm64" : arch;
}

async function sha256(data: Uint8Array<ArrayBuffer>): Promise<string> {
  const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", data));
  return Array.from(hash, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Writes `data` as a blob of the layout at `dir`; returns its descriptor. */
async function blob(
  dir: string,
  mediaType: string,
  data: Uint8Array<ArrayBuffer>,
): Promise<{ mediaType: string; digest: string; size: number }> {
  const hex = await sha256(data);
  await Deno.writeFile(`${dir}/blobs/sha256/${hex}`, data);
  return { mediaType, digest: `sha256:${hex}`, size: data.length };
}

function json(value: unknown): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(JSON.stringify(value));
}

/**
 * Builds the image archive from `busybox` in `work` (a scratch directory the caller removes);
 * returns the archive's path.
 */
export async function buildPauseArchive(work: string, busybox: string): Promise<string> {
  const rootfs = `${work}/rootfs`;
  const layout = `${work}/layout`;
  await Deno.mkdir(`${rootfs}/bin`, { recursive: true });
  await Deno.mkdir(`${layout}/blobs/sha256`, { recursive: true });
  await Deno.copyFile(busybox, `${rootfs}/bin/busybox`);
  await Deno.chmod(`${rootfs}/bin/busybox`, 0o755);
  for (const applet of ["sh", "sleep", "ip"]) {
    await Deno.symlink("busybox", `${rootfs}/bin/${applet}`);
  }
  const layerTar = `${work}/layer.tar`;
  await must([
    "tar",
    "--numeric-owner",
    "--owner=0",
    "--group=0",
    "-C",
    rootfs,
    "-cf",
    layerTar,
    "bin",
  ]);
  const layerBytes = await Deno.readFile(layerTar);
  const layer = await blob(layout, "application/vnd.oci.image.layer.v1.tar", layerBytes);
  const config = await blob(
    layout,
    "application/vnd.oci.image.config.v1+json",
    json({
      architecture: ociArch(),
      os: "linux",
      config: { Entrypoint: ["/bin/sleep", "3600"], WorkingDir: "/" },
      rootfs: { type: "layers", diff_ids: [layer.digest] },
    }),
  );
  const manifest = await blob(
    layout,
    "application/vnd.oci.image.manifest.v1+json",
    json({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config,
      layers: [layer],
    }),
  );
  await Deno.writeTextFile(`${layout}/oci-layout`, JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  await Deno.writeTextFile(
    `${layout}/index.json`,
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{
        ...manifest,
        annotations: {
          "io.containerd.image.name": PAUSE_IMAGE,
          "org.opencontainers.image.ref.name": PAUSE_IMAGE.split(":")[1],
        },
        platform: { architecture: ociArch(), os: "linux" },
      }],
    }),
  );
  const archive = `${work}/pause.tar`;
  await must(["tar", "-C", layout, "-cf", archive, "oci-layout", "index.json", "blobs"]);
  return archive;
}
