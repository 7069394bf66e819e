// How the node components talk to the API server: only over the wire, with
// @kubernetes/client-node, the way kube-scheduler and the kubelet do (list+watch
// informers, subresource writes, optimistic concurrency on resourceVersion).
import {
  ApiException,
  CoreV1Api,
  KubeConfig,
  ListWatch,
  type CoreV1Event,
  type KubernetesListObject,
  type KubernetesObject,
  type V1Pod,
} from "@kubernetes/client-node";
import { BunWatch, makeApiClient } from "./transport.ts";

export function kubeConfigFromYaml(yaml: string): KubeConfig {
  const config = new KubeConfig();
  config.loadFromString(yaml);
  return config;
}

export function apiErrorCode(error: unknown): number | undefined {
  if (error instanceof ApiException) return error.code;
  const code = (error as { code?: unknown; statusCode?: unknown } | undefined)?.code;
  return typeof code === "number" ? code : undefined;
}

export function describeApiError(error: unknown): string {
  if (error instanceof ApiException) {
    const body: unknown = error.body;
    const message =
      typeof body === "string" ? body : ((body as { message?: string } | undefined)?.message ?? JSON.stringify(body));
    return `HTTP ${error.code}: ${message}`;
  }
  return error instanceof Error ? error.message : String(error);
}

export interface Informer<T extends KubernetesObject> {
  list(): readonly T[];
  get(name: string, namespace?: string): T | undefined;
  stop(): Promise<void>;
}

export interface InformerHandlers<T> {
  add?(object: T): void;
  update?(object: T): void;
  delete?(object: T): void;
}

const RESTART_DELAY_MS = 500;

/**
 * List+watch with a field selector, restarted after errors (client-node's ListWatch
 * gives up on a failed list or watch). Resolves once the initial list is in the cache.
 */
export async function startInformer<T extends KubernetesObject>(
  config: KubeConfig,
  path: string,
  list: () => Promise<KubernetesListObject<T>>,
  handlers: InformerHandlers<T>,
  options: { fieldSelector?: string; labelSelector?: string; onError?(error: unknown): void } = {},
): Promise<Informer<T>> {
  const listWatch = new ListWatch<T>(path, new BunWatch(config), list, false, options.labelSelector, options.fieldSelector);
  let stopped = false;
  let restartTimer: ReturnType<typeof setTimeout> | undefined;
  if (handlers.add) listWatch.on("add", handlers.add);
  if (handlers.update) listWatch.on("update", handlers.update);
  if (handlers.delete) listWatch.on("delete", handlers.delete);
  listWatch.on("error", (error?: unknown) => {
    if (stopped) return;
    options.onError?.(error);
    clearTimeout(restartTimer);
    restartTimer = setTimeout(() => {
      if (!stopped) listWatch.start().catch((restartError: unknown) => options.onError?.(restartError));
    }, RESTART_DELAY_MS);
  });
  await listWatch.start();
  return {
    list: () => listWatch.list(),
    get: (name, namespace) => listWatch.get(name, namespace),
    async stop() {
      stopped = true;
      clearTimeout(restartTimer);
      await listWatch.stop();
    },
  };
}

const STATUS_UPDATE_ATTEMPTS = 5;

/**
 * Read-modify-write of pods/status with the pod's resourceVersion, retried on
 * conflicts. `mutate` returns false to skip the write. Returns the written pod, or
 * undefined when the pod is gone (or was replaced by one with another uid).
 */
export async function updatePodStatus(
  core: CoreV1Api,
  namespace: string,
  name: string,
  uid: string,
  mutate: (pod: V1Pod) => boolean,
): Promise<V1Pod | undefined> {
  for (let attempt = 1; ; attempt++) {
    let pod: V1Pod;
    try {
      pod = await core.readNamespacedPod({ name, namespace });
    } catch (error) {
      if (apiErrorCode(error) === 404) return undefined;
      throw error;
    }
    if (pod.metadata?.uid !== uid) return undefined;
    if (!mutate(pod)) return pod;
    try {
      return await core.replaceNamespacedPodStatus({ name, namespace, body: pod });
    } catch (error) {
      const code = apiErrorCode(error);
      if (code === 404) return undefined;
      if (code !== 409 || attempt >= STATUS_UPDATE_ATTEMPTS) {
        throw new Error(`updating status of pod ${namespace}/${name}: ${describeApiError(error)}`);
      }
    }
  }
}

export interface EventSource {
  component: string;
  host?: string;
}

/** A core/v1 Event about a pod, as `kubectl describe` and `kubectl get events` show them. */
export async function recordPodEvent(
  core: CoreV1Api,
  source: EventSource,
  pod: V1Pod,
  type: "Normal" | "Warning",
  reason: string,
  message: string,
  fieldPath?: string,
): Promise<void> {
  const namespace = pod.metadata?.namespace ?? "default";
  const now = new Date();
  const event: CoreV1Event = {
    metadata: { name: `${pod.metadata?.name}.${randomHex(16)}`, namespace },
    involvedObject: {
      apiVersion: "v1",
      kind: "Pod",
      name: pod.metadata?.name,
      namespace,
      uid: pod.metadata?.uid,
      resourceVersion: pod.metadata?.resourceVersion,
      ...(fieldPath ? { fieldPath } : {}),
    },
    reason,
    message,
    type,
    source: { component: source.component, ...(source.host ? { host: source.host } : {}) },
    reportingComponent: source.component,
    reportingInstance: source.host ?? source.component,
    firstTimestamp: now,
    lastTimestamp: now,
    count: 1,
  };
  try {
    await core.createNamespacedEvent({ namespace, body: event });
  } catch {
    // Events are best effort, as in the real components: a lost event changes no state.
  }
}

export function randomHex(length: number): string {
  const bytes = crypto.getRandomValues(new Uint8Array(Math.ceil(length / 2)));
  return Buffer.from(bytes).toString("hex").slice(0, length);
}

export function makeCoreApi(config: KubeConfig): CoreV1Api {
  return makeApiClient(config, CoreV1Api);
}
