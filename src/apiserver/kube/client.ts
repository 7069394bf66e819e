// The apiserver's facade over the Kubernetes API: exactly the calls it
// makes (read a pod, TokenReview, SubjectAccessReview, list+watch), so that
// tests replace it with a fake and RBAC can be derived from this file.
import { StatusError } from "../../api/status.ts";
import type { AccessAttributes, AccessDecision, AccessReviewer } from "../auth/authorizer.ts";
import type { TokenReviewer, TokenReviewResult } from "../auth/authenticator.ts";
import type { UserInfo } from "../auth/user.ts";
import type { KubeConnection } from "./transport.ts";
import type { KubeList, KubeObject, Pod, WatchEvent } from "./types.ts";

/** A non-2xx answer from the Kubernetes API. */
export class KubeApiError extends Error {
  override readonly name = "KubeApiError";
  constructor(
    readonly code: number,
    message: string,
    readonly reason?: string,
  ) {
    super(message);
  }
}

export interface ListWatchSource<T extends KubeObject> {
  /** What is watched, for logs. */
  readonly description: string;
  list(signal: AbortSignal): Promise<{ items: T[]; resourceVersion: string }>;
  /** Events after resourceVersion until the server ends the watch. */
  watch(resourceVersion: string, signal: AbortSignal): AsyncIterable<WatchEvent<T>>;
}

export interface Selectors {
  labelSelector?: string;
  fieldSelector?: string;
}

export interface PodReader {
  /** The pod, or undefined when it does not exist. */
  getPod(namespace: string, name: string, signal?: AbortSignal): Promise<Pod | undefined>;
}

export interface KubeApi extends PodReader, TokenReviewer, AccessReviewer {
  listWatch<T extends KubeObject>(collectionPath: string, selectors: Selectors): ListWatchSource<T>;
}

async function failure(response: Response, what: string): Promise<KubeApiError> {
  const body = await response.text().catch(() => "");
  let message = body.slice(0, 300);
  let reason: string | undefined;
  try {
    const status = JSON.parse(body) as { message?: string; reason?: string };
    if (status.message) message = status.message;
    reason = status.reason;
  } catch {
    // not a Status: keep the text
  }
  return new KubeApiError(response.status, `${what}: HTTP ${response.status}${message ? `: ${message}` : ""}`, reason);
}

/** Streams newline-delimited JSON watch events. */
async function* watchEvents<T>(response: Response): AsyncIterable<WatchEvent<T>> {
  if (!response.body) return;
  const decoder = new TextDecoder();
  let buffered = "";
  for await (const chunk of response.body) {
    buffered += decoder.decode(chunk as Uint8Array, { stream: true });
    let newline: number;
    while ((newline = buffered.indexOf("\n")) >= 0) {
      const line = buffered.slice(0, newline).trim();
      buffered = buffered.slice(newline + 1);
      if (line) yield JSON.parse(line) as WatchEvent<T>;
    }
  }
  if (buffered.trim()) yield JSON.parse(buffered) as WatchEvent<T>;
}

const toUser = (u: { username?: string; uid?: string; groups?: string[]; extra?: Record<string, string[]> } | undefined): UserInfo | undefined =>
  u?.username ? { username: u.username, ...(u.uid ? { uid: u.uid } : {}), groups: u.groups ?? [], extra: u.extra ?? {} } : undefined;

export class KubeRestClient implements KubeApi {
  constructor(private readonly connection: KubeConnection) {}

  private async call(path: string, what: string, init: RequestInit = {}): Promise<Response> {
    try {
      return await this.connection.request(path, { ...init, headers: { accept: "application/json", ...(init.body ? { "content-type": "application/json" } : {}) } });
    } catch (e) {
      if (init.signal?.aborted) throw e;
      throw new KubeApiError(0, `${what}: the Kubernetes API at ${this.connection.server} could not be reached: ${(e as Error).message}`);
    }
  }

  async getPod(namespace: string, name: string, signal?: AbortSignal): Promise<Pod | undefined> {
    const what = `reading pod ${namespace}/${name}`;
    let response: Response;
    try {
      response = await this.call(`/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(name)}`, what, signal ? { signal } : {});
    } catch (e) {
      if (e instanceof KubeApiError) throw new StatusError("ServiceUnavailable", e.message);
      throw e;
    }
    if (response.status === 404) {
      await response.body?.cancel();
      return undefined;
    }
    if (!response.ok) throw new StatusError("InternalError", (await failure(response, what)).message);
    return (await response.json()) as Pod;
  }

  async reviewToken(token: string, audiences: readonly string[]): Promise<TokenReviewResult> {
    const what = "creating a TokenReview";
    const body = { apiVersion: "authentication.k8s.io/v1", kind: "TokenReview", spec: { token, ...(audiences.length ? { audiences } : {}) } };
    const response = await this.call("/apis/authentication.k8s.io/v1/tokenreviews", what, { method: "POST", body: JSON.stringify(body) });
    if (!response.ok) throw await failure(response, what);
    const review = (await response.json()) as { status?: { authenticated?: boolean; user?: Parameters<typeof toUser>[0]; error?: string } };
    const user = toUser(review.status?.user);
    return { authenticated: review.status?.authenticated === true && user !== undefined, ...(user ? { user } : {}), ...(review.status?.error ? { error: review.status.error } : {}) };
  }

  async reviewAccess(attributes: AccessAttributes): Promise<AccessDecision> {
    const what = "creating a SubjectAccessReview";
    const { user } = attributes;
    const spec = {
      user: user.username,
      ...(user.uid ? { uid: user.uid } : {}),
      groups: user.groups,
      extra: user.extra,
      ...("resource" in attributes ? { resourceAttributes: attributes.resource } : { nonResourceAttributes: attributes.nonResource }),
    };
    const body = { apiVersion: "authorization.k8s.io/v1", kind: "SubjectAccessReview", spec };
    const response = await this.call("/apis/authorization.k8s.io/v1/subjectaccessreviews", what, { method: "POST", body: JSON.stringify(body) });
    if (!response.ok) throw await failure(response, what);
    const review = (await response.json()) as { status?: { allowed?: boolean; reason?: string; evaluationError?: string } };
    const reason = [review.status?.reason, review.status?.evaluationError].filter(Boolean).join("; ");
    return { allowed: review.status?.allowed === true, ...(reason ? { reason } : {}) };
  }

  listWatch<T extends KubeObject>(collectionPath: string, selectors: Selectors): ListWatchSource<T> {
    const query = (extra: Record<string, string>) => {
      const params = new URLSearchParams(extra);
      if (selectors.labelSelector) params.set("labelSelector", selectors.labelSelector);
      if (selectors.fieldSelector) params.set("fieldSelector", selectors.fieldSelector);
      return `${collectionPath}?${params}`;
    };
    const description = [collectionPath, selectors.labelSelector, selectors.fieldSelector].filter(Boolean).join(" ");
    return {
      description,
      list: async (signal) => {
        const items: T[] = [];
        let resourceVersion = "";
        let next = "";
        do {
          const response = await this.call(query({ limit: "500", ...(next ? { continue: next } : {}) }), `listing ${description}`, { signal });
          if (!response.ok) throw await failure(response, `listing ${description}`);
          const list = (await response.json()) as KubeList<T> & { metadata?: { continue?: string } };
          items.push(...(list.items ?? []));
          resourceVersion = list.metadata?.resourceVersion ?? "";
          next = list.metadata?.continue ?? "";
        } while (next);
        return { items, resourceVersion };
      },
      watch: (resourceVersion, signal) => {
        const call = this.call.bind(this);
        return (async function* () {
          // The server ends each watch after a while (5 to 10 minutes, as client-go asks) so that it is re-established.
          const timeoutSeconds = String(300 + Math.floor(Math.random() * 300));
          const response = await call(query({ watch: "1", allowWatchBookmarks: "true", resourceVersion, timeoutSeconds }), `watching ${description}`, { signal });
          if (!response.ok) throw await failure(response, `watching ${description}`);
          yield* watchEvents<T>(response);
        })();
      },
    };
  }
}
