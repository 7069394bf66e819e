// The agent's facade over the Kubernetes API: exactly the calls it makes, so
// tests can see them and the deploy RBAC can be checked against this file.
import type { CoreV1Event, V1Node, V1Pod } from "@kubernetes/client-node";
import { StatusError } from "../../src/api/status.ts";
import { failure, KubeApiError, KubeRest, type ListWatchSource, type Selectors } from "../../src/kube/rest.ts";
import { reviewToken, type TokenReviewResult } from "../../src/kube/token-review.ts";
import type { KubeConnection } from "../../src/kube/transport.ts";
import type { KubeObject, WatchEvent } from "../../src/kube/types.ts";

const podPath = (namespace: string, name?: string) => `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods${name ? `/${encodeURIComponent(name)}` : ""}`;

/** The Kubernetes API being unreachable or failing is the agent's problem, not the caller's: 503. */
function unavailable(e: unknown): never {
  if (e instanceof KubeApiError) throw new StatusError(e.code === 0 ? "ServiceUnavailable" : e.code === 403 ? "Forbidden" : "InternalError", e.message);
  throw e;
}

export class AgentKube {
  readonly rest: KubeRest;

  constructor(connection: KubeConnection) {
    this.rest = new KubeRest(connection);
  }

  async getPod(namespace: string, name: string): Promise<V1Pod | undefined> {
    const what = `reading pod ${namespace}/${name}`;
    const response = await this.rest.call(podPath(namespace, name), what).catch(unavailable);
    if (response.status === 404) {
      await response.body?.cancel();
      return undefined;
    }
    if (!response.ok) unavailable(await failure(response, what));
    return (await response.json()) as V1Pod;
  }

  async listPods(namespace: string, labelSelector: string): Promise<V1Pod[]> {
    const query = new URLSearchParams({ labelSelector });
    const list = await this.rest.json<{ items?: V1Pod[] }>(`${podPath(namespace)}?${query}`, `listing pods ${labelSelector} in ${namespace}`);
    return list.items ?? [];
  }

  createPod(namespace: string, pod: V1Pod): Promise<V1Pod> {
    return this.rest.json<V1Pod>(podPath(namespace), `creating a pod in ${namespace}`, { method: "POST", body: JSON.stringify(pod) });
  }

  /**
   * With `uid`, only that incarnation; a pod already gone is fine. Deletes gracefully (1 s): with 0 the object would vanish while the kubelet
   * still holds the pod's devices, and the scheduler would hand them to a new pod
   * that the kubelet then rejects (UnexpectedAdmissionError). The hold process
   * ends at SIGTERM, so the kubelet frees the devices and removes the object at once.
   */
  async deletePod(namespace: string, name: string, uid?: string): Promise<void> {
    const what = `deleting pod ${namespace}/${name}`;
    const body = { apiVersion: "v1", kind: "DeleteOptions", gracePeriodSeconds: 1, propagationPolicy: "Background", ...(uid ? { preconditions: { uid } } : {}) };
    const response = await this.rest.call(podPath(namespace, name), what, { method: "DELETE", body: JSON.stringify(body) });
    if (response.status === 404 || (uid && response.status === 409)) {
      await response.body?.cancel();
      return;
    }
    if (!response.ok) throw await failure(response, what);
    await response.body?.cancel();
  }

  /** JSON merge patch of metadata annotations (null removes a key). */
  patchPodAnnotations(namespace: string, name: string, annotations: Record<string, string | null>): Promise<V1Pod> {
    return this.rest.json<V1Pod>(podPath(namespace, name), `annotating pod ${namespace}/${name}`, {
      method: "PATCH",
      headers: { "content-type": "application/merge-patch+json" },
      body: JSON.stringify({ metadata: { annotations } }),
    });
  }

  /** Events of one pod from `resourceVersion` on, until the server ends the watch or `signal` aborts. */
  watchPod(namespace: string, name: string, resourceVersion: string, signal: AbortSignal): AsyncIterable<WatchEvent<V1Pod & KubeObject>> {
    return this.listWatch<V1Pod & KubeObject>(podPath(namespace), { fieldSelector: `metadata.name=${name}` }).watch(resourceVersion, signal);
  }

  async createEvent(namespace: string, event: CoreV1Event): Promise<void> {
    await this.rest.json(`/api/v1/namespaces/${encodeURIComponent(namespace)}/events`, `recording an event in ${namespace}`, { method: "POST", body: JSON.stringify(event) });
  }

  getNode(name: string): Promise<V1Node> {
    return this.rest.json<V1Node>(`/api/v1/nodes/${encodeURIComponent(name)}`, `reading node ${name}`);
  }

  /** JSON merge patch of the node's labels (null removes a key). */
  async patchNodeLabels(name: string, labels: Record<string, string | null>): Promise<void> {
    await this.rest.json(`/api/v1/nodes/${encodeURIComponent(name)}`, `labelling node ${name}`, {
      method: "PATCH",
      headers: { "content-type": "application/merge-patch+json" },
      body: JSON.stringify({ metadata: { labels } }),
    });
  }

  reviewToken(token: string, audiences: readonly string[]): Promise<TokenReviewResult> {
    return reviewToken(this.rest, token, audiences);
  }

  listWatch<T extends KubeObject>(collectionPath: string, selectors: Selectors): ListWatchSource<T> {
    return this.rest.listWatch<T>(collectionPath, selectors);
  }
}
