// The wait policy around lockDirectory, on a real directory with an injected clock.
import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadNative } from "../../native/index.ts";
import { cleanupAfterAll, registerCleanup } from "../../test/support/cleanup.ts";
import { GrantsLockedError, lockGrants } from "./grant-lock.ts";

cleanupAfterAll();
const native = loadNative();

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "dm-test-grant-lock-"));
  registerCleanup(() => rmSync(dir, { recursive: true, force: true }), `directory ${dir}`);
  return dir;
}

/** A clock that advances only when slept on, and runs `onSleep` each time. */
function steppedClock(onSleep: (sleeps: number) => void = () => {}) {
  let now = 0;
  let sleeps = 0;
  return {
    now: () => now,
    sleep: async (ms: number) => {
      now += ms;
      onSleep(++sleeps);
    },
    sleeps: () => sleeps,
  };
}

describe("lockGrants", () => {
  test("waits while another holder has the lock, and takes it once released", async () => {
    const dir = tempDir();
    const held = native.lockDirectory(dir);
    const clock = steppedClock((n) => n === 3 && native.close(held));
    const release = await lockGrants(dir, 1000, clock);
    expect(clock.sleeps()).toBe(3);
    // Ours now: nobody else gets it until released (twice is harmless).
    expect(() => native.lockDirectory(dir)).toThrow(expect.objectContaining({ code: "EAGAIN" }));
    release();
    release();
    native.close(native.lockDirectory(dir));
  });

  test("gives up after the timeout with an error a caller can show", async () => {
    const dir = tempDir();
    const held = native.lockDirectory(dir);
    try {
      const clock = steppedClock();
      const error = await lockGrants(dir, 2000, clock).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(GrantsLockedError);
      expect((error as Error).message).toBe(`another device-mounter process has been changing the devices of this container for 2s (lock on ${dir}); try again`);
      expect(clock.now()).toBe(2000);
    } finally {
      native.close(held);
    }
  });

  test("a timeout of 0 tries exactly once", async () => {
    const dir = tempDir();
    const held = native.lockDirectory(dir);
    try {
      const clock = steppedClock();
      await expect(lockGrants(dir, 0, clock)).rejects.toBeInstanceOf(GrantsLockedError);
      expect(clock.sleeps()).toBe(0);
    } finally {
      native.close(held);
    }
  });

  test("other failures are not waited on", async () => {
    const clock = steppedClock();
    await expect(lockGrants("/dm-test-does-not-exist", 1000, clock)).rejects.toMatchObject({ code: "ENOENT", syscall: "open" });
    expect(clock.sleeps()).toBe(0);
  });
});
