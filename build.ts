// Builds the native addon with node-gyp, then compiles the single executable
// with the addon embedded, so dist/device-mounter runs from any directory.
import { $ } from "bun";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

const root = import.meta.dir;
const outfile = join(root, "dist", "device-mounter");

const commit = (await $`git -C ${root} rev-parse --short HEAD`.nothrow().quiet()).stdout.toString().trim() || "unknown";
const pkg = await Bun.file(join(root, "package.json")).json();

await $`${join(root, "node_modules/.bin/node-gyp")} rebuild --directory=${join(root, "native")}`.quiet();

mkdirSync(join(root, "dist"), { recursive: true });
const result = await Bun.build({
  entrypoints: [join(root, "src/main.ts")],
  compile: { outfile },
  minify: false,
  sourcemap: "inline",
  define: {
    "process.env.DEVICE_MOUNTER_VERSION": JSON.stringify(pkg.version),
    "process.env.DEVICE_MOUNTER_COMMIT": JSON.stringify(commit),
  },
});
if (!result.success) {
  for (const log of result.logs) console.error(log);
  process.exit(1);
}
console.log(`built ${outfile} (${pkg.version}, ${commit})`);
