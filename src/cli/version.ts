import { defineCommand } from "citty";
import { readdirSync } from "node:fs";
import { arch, release } from "node:os";
import pkg from "../../package.json" with { type: "json" };

export const version: string = pkg.version;

/** The installed libbpf's full version from its file name (libbpf.so.1.1.2), if found. */
function libbpfFileVersion(): string | null {
  for (const dir of ["/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib", "/lib/x86_64-linux-gnu"]) {
    try {
      const found = readdirSync(dir).find((f) => /^libbpf\.so\.\d+\.\d+\.\d+$/.test(f));
      if (found) return found.replace("libbpf.so.", "");
    } catch {
      // directory absent: try the next
    }
  }
  return null;
}

/**
 * The libbpf the fast paths will use: libbpf_major_version()/libbpf_minor_version() of libbpf.so.1
 * through ffi, refined by the file name's patch level when the two agree. Imported lazily so that
 * only this command loads libbpf.
 */
async function loadedLibbpfVersion(): Promise<string | null> {
  const file = libbpfFileVersion();
  try {
    const loaded = (await import("../../ffi/libbpf.ts")).libbpfVersion();
    return file?.startsWith(`${loaded}.`) ? file : loaded;
  } catch {
    return file ? `${file} (on disk, but libbpf.so.1 did not load)` : null;
  }
}

/** Cheap facts for reports (bench JSON); the version command adds the loaded libbpf. */
export function versionInfo() {
  return { version, kernel: release(), arch: arch(), libbpf: libbpfFileVersion(), bun: Bun.version };
}

export default defineCommand({
  meta: { name: "version", description: "Print electrode's version, the kernel release, the libbpf found and Bun's: electrode version [--json]" },
  args: { json: { type: "boolean", description: "As JSON: {version, kernel, arch, libbpf, bun}" } },
  async run({ args }) {
    const info = { ...versionInfo(), libbpf: await loadedLibbpfVersion() };
    if (args.json) console.log(JSON.stringify(info));
    else console.log(`electrode ${info.version} (bun ${info.bun}), kernel ${info.kernel} ${info.arch}, libbpf ${info.libbpf ?? "not found"}`);
  },
});
