// A cache of Kubernetes objects kept current by list + watch. Unlike
// client-node's informer, it never gives up: any error relists after an
// exponential backoff, a watch that ends is re-established from the last
// resourceVersion, and 410 Gone relists at once.
import type { Logger } from "../observability/log.ts";
import { KubeApiError, type ListWatchSource } from "./rest.ts";
import type { KubeObject } from "./types.ts";

export interface Backoff {
  initialMs: number;
  maxMs: number;
}

export const DEFAULT_BACKOFF: Backoff = { initialMs: 500, maxMs: 30_000 };

/** Resolves after ms, or at once when the signal aborts. */
export const abortableSleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done);
  });

class GoneError extends Error {}

const keyOf = (o: KubeObject): string => `${o.metadata?.namespace ?? ""}/${o.metadata?.name ?? ""}`;

/** A watch that ends this quickly without any event counts as a failure (no tight reconnect loop). */
const SHORT_WATCH_MS = 1000;

export interface InformerOptions<T extends KubeObject> {
  source: ListWatchSource<T>;
  logger: Logger;
  backoff?: Backoff;
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

export class Informer<T extends KubeObject> {
  private readonly objects = new Map<string, T>();
  private readonly listeners = new Set<() => void>();
  private controller: AbortController | undefined;
  private loop: Promise<void> | undefined;
  private hasSynced = false;
  private failure: string | undefined;
  private restarts = 0;

  constructor(private readonly options: InformerOptions<T>) {}

  /** True once the first list succeeded (as client-go's HasSynced). */
  get synced(): boolean {
    return this.hasSynced;
  }
  /** The last error, until the next successful list or event. */
  get lastError(): string | undefined {
    return this.failure;
  }
  /** How many times the informer started over after an error. */
  get restartCount(): number {
    return this.restarts;
  }

  list(): T[] {
    return [...this.objects.values()];
  }

  /** Called after every change of the cache; returns the unsubscribe function. */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  start(): void {
    if (this.loop) return;
    this.controller = new AbortController();
    this.loop = this.run(this.controller.signal);
  }

  async stop(): Promise<void> {
    this.controller?.abort();
    await this.loop;
    this.loop = undefined;
  }

  /** Resolves when synced, or rejects when the signal aborts first. */
  waitForSync(signal?: AbortSignal): Promise<void> {
    if (this.hasSynced) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const off = this.onChange(() => {
        if (!this.hasSynced) return;
        off();
        resolve();
      });
      signal?.addEventListener("abort", () => {
        off();
        reject(signal.reason);
      });
    });
  }

  private changed(): void {
    for (const listener of this.listeners) listener();
  }

  private async run(signal: AbortSignal): Promise<void> {
    const { source, logger } = this.options;
    const backoff = this.options.backoff ?? DEFAULT_BACKOFF;
    const sleep = this.options.sleep ?? abortableSleep;
    let delay = backoff.initialMs;
    while (!signal.aborted) {
      try {
        const { items, resourceVersion } = await source.list(signal);
        this.objects.clear();
        for (const item of items) this.objects.set(keyOf(item), item);
        this.hasSynced = true;
        this.failure = undefined;
        delay = backoff.initialMs;
        this.changed();
        let version = resourceVersion;
        for (;;) {
          const started = performance.now();
          let events = 0;
          for await (const event of source.watch(version, signal)) {
            events++;
            if (event.type === "ERROR") {
              if (event.object.code === 410) throw new GoneError();
              throw new KubeApiError(event.object.code ?? 0, `watch of ${source.description} failed: ${event.object.message ?? "unknown error"}`);
            }
            version = event.object.metadata?.resourceVersion ?? version;
            if (event.type === "BOOKMARK") continue;
            if (event.type === "DELETED") this.objects.delete(keyOf(event.object));
            else this.objects.set(keyOf(event.object), event.object);
            this.failure = undefined;
            delay = backoff.initialMs;
            this.changed();
          }
          if (signal.aborted) return;
          if (events === 0 && performance.now() - started < SHORT_WATCH_MS) throw new Error(`watch of ${source.description} ended at once`);
        }
      } catch (e) {
        if (signal.aborted) return;
        if (e instanceof GoneError || (e instanceof KubeApiError && e.code === 410)) {
          logger.info("informer relisting: resource version too old", { source: source.description });
          continue;
        }
        this.failure = (e as Error).message;
        this.restarts++;
        logger.warn("informer failed; restarting after backoff", { source: source.description, error: this.failure, backoffMs: delay });
        await sleep(delay, signal);
        delay = Math.min(delay * 2, backoff.maxMs);
      }
    }
  }
}
