// The loader: where it looks for the addon, how it says what went wrong, and
// that `bun build --compile` embeds the addon it requires.
import { describe, expect, test } from "bun:test";
import { copyFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cleanupAfterAll } from "../test/support/cleanup.ts";
import { makeTempDir } from "../test/support/tempdir.ts";
import { isNativeError, loadNative } from "./index.ts";

cleanupAfterAll();

/** A copy of the loader in a directory that has no build/ of its own, and a script using it. */
function isolatedLoader(script: string): string {
  const dir = makeTempDir("native-loader").path;
  copyFileSync(join(import.meta.dir, "index.ts"), join(dir, "index.ts"));
  copyFileSync(join(import.meta.dir, "native.d.ts"), join(dir, "native.d.ts"));
  writeFileSync(join(dir, "probe.ts"), script);
  return dir;
}

function runBun(dir: string, env: Record<string, string>) {
  const result = Bun.spawnSync({
    cmd: [process.execPath, "run", join(dir, "probe.ts")],
    cwd: "/",
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  return { code: result.exitCode, stdout: result.stdout.toString(), stderr: result.stderr.toString() };
}

const PROBE = `
import { loadNative } from "./index.ts";
try {
  console.log(Object.keys(loadNative()).sort().join(","));
} catch (error) {
  console.log((error as Error).message);
  process.exit(3);
}
`;

describe("loadNative", () => {
  test("returns every function of the contract, and the same object each time", () => {
    const native = loadNative();
    expect(Object.keys(native).sort()).toEqual([
      "bpfProgAttach",
      "bpfProgDetach",
      "bpfProgGetFdById",
      "bpfProgInfo",
      "bpfProgLoad",
      "bpfProgQuery",
      "close",
      "getxattr",
      "lockDirectory",
      "nsBatch",
      "nsChmod",
      "nsChown",
      "nsMknod",
      "nsStat",
      "nsUnlink",
      "removexattr",
      "setxattr",
    ]);
    expect(loadNative()).toBe(native);
  });

  test("DEVICE_MOUNTER_NATIVE is used before the built addon", () => {
    const dir = makeTempDir("native-loader-override").path;
    const functions = Object.keys(loadNative()).map((name) => `${name}() {}`);
    writeFileSync(join(dir, "stand-in.cjs"), `module.exports = { standIn: true, ${functions.join(", ")} };`);
    writeFileSync(
      join(dir, "probe.ts"),
      `import { loadNative } from ${JSON.stringify(join(import.meta.dir, "index.ts"))};
console.log((loadNative() as unknown as { standIn?: boolean }).standIn === true ? "stand-in" : "built addon");`,
    );
    expect(runBun(dir, { DEVICE_MOUNTER_NATIVE: join(dir, "stand-in.cjs") })).toEqual({ code: 0, stdout: "stand-in\n", stderr: "" });
    expect(runBun(dir, {})).toEqual({ code: 0, stdout: "built addon\n", stderr: "" });
  });

  test("when nothing loads, the error lists every place tried and why", () => {
    const dir = isolatedLoader(PROBE);
    // A module that loads but is not the addon: refused as a stale build.
    writeFileSync(join(dir, "not-the-addon.cjs"), "module.exports = { close() {} };");
    const { code, stdout } = runBun(dir, { DEVICE_MOUNTER_NATIVE: join(dir, "not-the-addon.cjs") });
    expect(code).toBe(3);
    const lines = stdout.trim().split("\n");
    expect(lines[0]).toBe("cannot load the device_mounter native addon; tried:");
    expect(lines[1]).toStartWith(`  DEVICE_MOUNTER_NATIVE=${join(dir, "not-the-addon.cjs")}: the addon lacks nsMknod, nsStat,`);
    expect(lines[1]).toEndWith("removexattr, lockDirectory (stale build?)");
    expect(lines[2]).toStartWith(`  ${join(dir, "build/Release/device_mounter.node")}: `);
    expect(lines[3]).toStartWith(`  ${join(dir, "build/Debug/device_mounter.node")}: `);
    expect(lines).toHaveLength(4);
  });

  test("a binary compiled with bun build --compile carries the addon and runs from /", async () => {
    const dir = makeTempDir("native-compiled").path;
    const entry = join(dir, "entry.ts");
    writeFileSync(
      entry,
      `import { loadNative } from ${JSON.stringify(join(import.meta.dir, "index.ts"))};
const native = loadNative();
try { native.close(-1); } catch (error) { console.log((error as Error).message); }
console.log(Object.keys(native).length);`,
    );
    const outfile = join(dir, "probe");
    const build = await Bun.build({ entrypoints: [entry], compile: { outfile } });
    expect(build.logs).toEqual([]);
    expect(build.success).toBe(true);
    const run = Bun.spawnSync({ cmd: [outfile], cwd: "/", env: { PATH: "/usr/bin:/bin" }, stdout: "pipe", stderr: "pipe" });
    expect(run.stderr.toString()).toBe("");
    expect(run.stdout.toString()).toBe("close: fd must be an integer in [0, 2147483647], got -1\n17\n");
  }, 60_000);
});

describe("isNativeError", () => {
  test("is true for the addon's errno errors only", () => {
    const native = loadNative();
    let errnoError: unknown;
    try {
      native.getxattr("/dm-test-does-not-exist", "trusted.x");
    } catch (error) {
      errnoError = error;
    }
    expect(isNativeError(errnoError)).toBe(true);
    let argumentError: unknown;
    try {
      native.close(-1);
    } catch (error) {
      argumentError = error;
    }
    expect(argumentError).toBeInstanceOf(RangeError);
    expect(isNativeError(argumentError)).toBe(false);
    expect(isNativeError(new Error("plain"))).toBe(false);
    expect(isNativeError({ code: "EPERM", errno: -1, syscall: "open" })).toBe(false);
    expect(isNativeError(undefined)).toBe(false);
  });
});
