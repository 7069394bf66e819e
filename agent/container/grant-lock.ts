// A change to one container's grants reads its record and kernel state and
// writes both back; the agent and the CLI (or two CLI runs) must not interleave
// such changes, or one of them silently undoes the other. The lock is an flock
// on the record's directory, so the kernel drops it when its holder dies and a
// crashed caller cannot wedge the container.
import { isNativeError, loadNative } from "../../native/index.ts";
import { realClock, type Clock } from "./busy.ts";

export class GrantsLockedError extends Error {
  override readonly name = "GrantsLockedError";
}

/** How often a held lock is tried again: short, since changes take milliseconds. */
const RETRY_MS = 10;

/** Resolves with the release function once the lock is ours; GrantsLockedError after timeoutMs. */
export async function lockGrants(recordDir: string, timeoutMs: number, clock: Clock = realClock): Promise<() => void> {
  const native = loadNative();
  const deadline = clock.now() + timeoutMs;
  for (;;) {
    try {
      const fd = native.lockDirectory(recordDir);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        native.close(fd);
      };
    } catch (error) {
      if (!isNativeError(error) || error.code !== "EAGAIN") throw error;
      if (clock.now() >= deadline) {
        throw new GrantsLockedError(`another device-mounter process has been changing the devices of this container for ${Math.round(timeoutMs / 1000)}s (lock on ${recordDir}); try again`);
      }
      await clock.sleep(RETRY_MS);
    }
  }
}
