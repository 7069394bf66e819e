// One lock per target container: mounts and unmounts of one container run
// one at a time, in arrival order; different containers run in parallel.
import { StatusError } from "../../src/api/status.ts";

interface Waiter {
  grant: () => void;
}

export class ContainerLocks {
  private readonly queues = new Map<string, Waiter[]>();

  /**
   * Resolves with a release function once `key` is free. Rejects with 409
   * Conflict if it is still held by others after `timeoutMs`.
   */
  acquire(key: string, timeoutMs: number, what: string): Promise<() => void> {
    const queue = this.queues.get(key) ?? [];
    this.queues.set(key, queue);
    return new Promise((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const waiter: Waiter = {
        grant: () => {
          if (timer) clearTimeout(timer);
          let released = false;
          resolve(() => {
            if (released) return;
            released = true;
            this.release(key, waiter);
          });
        },
      };
      queue.push(waiter);
      if (queue.length === 1) {
        waiter.grant();
        return;
      }
      timer = setTimeout(() => {
        const i = queue.indexOf(waiter);
        if (i > 0) queue.splice(i, 1);
        reject(new StatusError("Conflict", `another mount or unmount is still running for ${what}; try again`));
      }, timeoutMs);
    });
  }

  /** Whether anyone holds or waits for `key`. */
  busy(key: string): boolean {
    return (this.queues.get(key)?.length ?? 0) > 0;
  }

  private release(key: string, waiter: Waiter): void {
    const queue = this.queues.get(key);
    if (!queue || queue[0] !== waiter) return;
    queue.shift();
    if (queue.length === 0) this.queues.delete(key);
    else queue[0]!.grant();
  }
}
