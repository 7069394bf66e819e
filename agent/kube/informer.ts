// An informer that keeps running: client-node's ListWatch stops for good on
// an error other than 410 Gone, so this restarts it with exponential backoff.
// Progress (syncs, events, restarts) is recorded for health checks.
import { ListWatch, Watch, type KubeConfig, type KubernetesObject, type ListPromise, type ObjectCache } from "@kubernetes/client-node";

export interface InformerOptions<T extends KubernetesObject> {
  name: string;
  kubeConfig: KubeConfig;
  /** e.g. "/api/v1/pods" */
  path: string;
  list: ListPromise<T>;
  labelSelector?: string;
  fieldSelector?: string;
  /** Injected so tests do not sleep. */
  delay?: (ms: number) => Promise<void>;
  log?: (message: string, fields?: Record<string, unknown>) => void;
}

export interface InformerHandle<T extends KubernetesObject> extends ObjectCache<T> {
  readonly name: string;
  on(verb: "add" | "update" | "delete", cb: (obj: T) => void): void;
  /** True once the first list has completed. */
  synced(): boolean;
  restarts(): number;
  stop(): Promise<void>;
}

const MIN_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 30_000;

export async function startInformer<T extends KubernetesObject>(options: InformerOptions<T>): Promise<InformerHandle<T>> {
  const delay = options.delay ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const log = options.log ?? (() => {});
  const listWatch = new ListWatch<T>(options.path, new Watch(options.kubeConfig), options.list, false, options.labelSelector, options.fieldSelector);
  let synced = false;
  let stopped = false;
  let restarts = 0;
  let backoff = MIN_BACKOFF_MS;

  listWatch.on("connect", () => {
    backoff = MIN_BACKOFF_MS;
  });
  const nextBackoff = () => {
    const wait = backoff;
    backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
    return wait;
  };
  // start() resolves after its first list whether or not that list worked;
  // an empty resourceVersion afterwards means it did not.
  const listed = () => listWatch.latestResourceVersion() !== "";
  listWatch.on("error", (err?: unknown) => {
    if (stopped) return;
    restarts++;
    const wait = nextBackoff();
    log("informer failed; restarting", { informer: options.name, error: String((err as Error | undefined)?.message ?? err), retryInMs: wait });
    // Before the first sync the loop below retries; afterwards this does.
    if (!synced) return;
    void delay(wait).then(() => (stopped ? undefined : listWatch.start()));
  });

  await listWatch.start();
  while (!listed() && !stopped) {
    await delay(nextBackoff());
    await listWatch.start();
  }
  synced = true;
  return {
    name: options.name,
    get: (name, namespace) => listWatch.get(name, namespace),
    list: (namespace) => listWatch.list(namespace),
    on: (verb, cb) => listWatch.on(verb, cb),
    synced: () => synced,
    restarts: () => restarts,
    stop: async () => {
      stopped = true;
      await listWatch.stop();
    },
  };
}
