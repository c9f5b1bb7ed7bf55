import { defineCommand } from "citty";
import { readdirSync } from "node:fs";
import { release } from "node:os";
import pkg from "../../package.json" with { type: "json" };

export const version: string = pkg.version;

/** The libbpf shared library version, if one is installed (read from its file name). */
function libbpfVersion(): string | null {
  for (const dir of ["/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib", "/lib/x86_64-linux-gnu"]) {
    try {
      const found = readdirSync(dir).find((f) => /^libbpf\.so\.\d+\.\d+\.\d+$/.test(f));
      if (found) return found.replace("libbpf.so.", "");
    } catch {
      // directory absent: try the next
    }
  }
  return null;
}

export function versionInfo() {
  return { version, kernel: release(), libbpf: libbpfVersion(), bun: Bun.version };
}

export default defineCommand({
  meta: { name: "version", description: "Print electrode's version, the kernel's and libbpf's" },
  args: { json: { type: "boolean", description: "As JSON" } },
  run({ args }) {
    const info = versionInfo();
    if (args.json) console.log(JSON.stringify(info));
    else console.log(`electrode ${info.version} (bun ${info.bun}), kernel ${info.kernel}, libbpf ${info.libbpf ?? "not found"}`);
  },
});
