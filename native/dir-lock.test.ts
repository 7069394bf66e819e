// lockDirectory: an exclusive, never-blocking flock on a directory, as the
// device layer takes it on a container's cgroup directory.
import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cleanupAfterAll, registerCleanup } from "../test/support/cleanup.ts";
import { requireRoot } from "../test/support/prereqs.ts";
import { loadNative } from "./index.ts";
import { makeTestCgroup } from "./test-cgroup.ts";
import { caught } from "./test-errors.ts";

cleanupAfterAll();
const ready = requireRoot(["root", "cgroup2"]);
const native = loadNative();

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "dm-test-lock-"));
  registerCleanup(() => rmSync(dir, { recursive: true, force: true }), `directory ${dir}`);
  return dir;
}

describe("lockDirectory", () => {
  test("is exclusive: a second lock gets EAGAIN from flock, naming the path; closing the first frees it", () => {
    const dir = tempDir();
    const first = native.lockDirectory(dir);
    const refused = caught(() => native.lockDirectory(dir));
    expect(refused).toMatchObject({ code: "EAGAIN", syscall: "flock", path: dir });
    expect(refused.errno).toBeLessThan(0);
    native.close(first);
    native.close(native.lockDirectory(dir));
  });

  test("a lock held by another process is refused until that process ends", async () => {
    const dir = tempDir();
    const script = `const n = require(${JSON.stringify(join(import.meta.dir, "index.ts"))}).loadNative(); n.lockDirectory(${JSON.stringify(dir)}); console.log("locked"); setInterval(() => {}, 1000);`;
    const holder = Bun.spawn([process.execPath, "-e", script], { stdout: "pipe", stderr: "inherit" });
    registerCleanup(() => holder.kill("SIGKILL"), `lock holder ${holder.pid}`);
    const reader = holder.stdout.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toBe("locked\n");
    expect(caught(() => native.lockDirectory(dir)).code).toBe("EAGAIN");
    holder.kill("SIGKILL");
    await holder.exited;
    native.close(native.lockDirectory(dir));
  });

  test("a file or a missing path fails at open, with its errno", () => {
    const dir = tempDir();
    writeFileSync(join(dir, "file"), "");
    expect(caught(() => native.lockDirectory(join(dir, "file")))).toMatchObject({ code: "ENOTDIR", syscall: "open", path: join(dir, "file") });
    expect(caught(() => native.lockDirectory(join(dir, "missing")))).toMatchObject({ code: "ENOENT", syscall: "open", path: join(dir, "missing") });
  });

  test.skipIf(!ready)("works on a cgroup2 directory, where the device layer takes it", () => {
    const cgroup = makeTestCgroup("native-lock");
    const first = native.lockDirectory(cgroup);
    expect(caught(() => native.lockDirectory(cgroup)).code).toBe("EAGAIN");
    native.close(first);
  });
});
