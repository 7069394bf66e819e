// Plain REST calls to the Kubernetes API over a KubeConnection: errors as
// KubeApiError, JSON bodies, and list + watch (as newline-delimited JSON) for
// informers. Shared by the apiserver and the agent.
import type { KubeConnection } from "./transport.ts";
import type { KubeList, KubeObject, WatchEvent } from "./types.ts";

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

export async function failure(response: Response, what: string): Promise<KubeApiError> {
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
export async function* watchEvents<T>(response: Response): AsyncIterable<WatchEvent<T>> {
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


export class KubeRest {
  constructor(readonly connection: KubeConnection) {}

  /** The response, whatever its status; KubeApiError (code 0) when the server cannot be reached. */
  async call(path: string, what: string, init: RequestInit = {}): Promise<Response> {
    try {
      return await this.connection.request(path, { ...init, headers: { accept: "application/json", ...(init.body ? { "content-type": "application/json" } : {}), ...(init.headers as Record<string, string> | undefined) } });
    } catch (e) {
      if (init.signal?.aborted) throw e;
      throw new KubeApiError(0, `${what}: the Kubernetes API at ${this.connection.server} could not be reached: ${(e as Error).message}`);
    }
  }

  /** The decoded body of a 2xx answer; KubeApiError otherwise. */
  async json<T>(path: string, what: string, init: RequestInit = {}): Promise<T> {
    const response = await this.call(path, what, init);
    if (!response.ok) throw await failure(response, what);
    return (await response.json()) as T;
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
