// Builds the native addon with node-gyp, then compiles the single executable
// with the addon embedded, so dist/device-mounter runs from any directory.
import { $ } from "bun";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";

const root = import.meta.dir;
const outfile = join(root, "dist", "device-mounter");

const commit = (await $`git -C ${root} rev-parse --short HEAD`.nothrow().quiet()).stdout.toString().trim() || "unknown";
const pkg = await Bun.file(join(root, "package.json")).json();

// N-API is ABI-stable, so the headers of the machine's Node serve the addon
// that Bun loads; pointing node-gyp at them keeps the build offline.
const nodedir = process.env.npm_config_nodedir ?? (existsSync("/usr/include/node/node_api.h") ? "/usr" : undefined);
const gyp = await $`${join(root, "node_modules/.bin/node-gyp")} rebuild --directory=${join(root, "native")} ${nodedir ? [`--nodedir=${nodedir}`] : []}`.nothrow().quiet();
if (gyp.exitCode !== 0) {
  console.error(gyp.stderr.toString());
  console.error("build: node-gyp failed building native/ (output above)");
  process.exit(1);
}

mkdirSync(join(root, "dist"), { recursive: true });
const result = await Bun.build({
  entrypoints: [join(root, "src/main.ts")],
  compile: { outfile },
  minify: false,
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
