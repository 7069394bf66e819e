// A small Kubernetes API server stand-in (Hono over HTTPS with a bearer
// token) for what device-mounter's apiserver and CLI call: pods (get, list,
// watch), configmaps (list, watch), TokenReview, SubjectAccessReview, and
// the aggregated device-mounter.io paths (answered by a test's handler, as
// the aggregator would proxy them). Every request is recorded.
import { Hono, type Context } from "hono";
import type { KubeObject } from "../../../src/kube/types.ts";

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  authorization: string | null;
  contentType: string | null;
  body: string;
}

interface Watcher {
  collection: string;
  match: (o: KubeObject) => boolean;
  controller: ReadableStreamDefaultController<Uint8Array>;
}

/** key "namespace/name" per collection "pods" | "configmaps". */
type Store = Map<string, Map<string, KubeObject>>;

function selectorMatcher(labelSelector?: string, fieldSelector?: string): (o: KubeObject) => boolean {
  const labels = (labelSelector ?? "").split(",").filter(Boolean).map((r) => r.split("="));
  const fields = (fieldSelector ?? "").split(",").filter(Boolean).map((r) => r.split("="));
  return (o) =>
    labels.every(([k, v]) => o.metadata?.labels?.[k!] === v) &&
    fields.every(([k, v]) => (k === "metadata.name" ? o.metadata?.name === v : k === "metadata.namespace" ? o.metadata?.namespace === v : false));
}

export interface FakeKubeApiOptions {
  cert: string;
  key: string;
  token: string;
  tokenReviews?: Record<string, { username: string; groups?: string[] }>;
  /** SubjectAccessReview decision. */
  allow?: (spec: Record<string, unknown>) => boolean;
  /** Handles PUT /apis/device-mounter.io/... (the aggregated API). */
  aggregated?: (c: Context, recorded: RecordedRequest) => Response | Promise<Response>;
}

export class FakeKubeApi {
  readonly requests: RecordedRequest[] = [];
  private readonly requestListeners = new Set<(r: RecordedRequest) => void>();
  private readonly store: Store = new Map([
    ["pods", new Map()],
    ["configmaps", new Map()],
  ]);
  private readonly watchers = new Set<Watcher>();
  private resourceVersion = 1;
  /** The next N list calls fail with HTTP 500. */
  failLists = 0;
  private readonly server: ReturnType<typeof Bun.serve>;

  constructor(readonly options: FakeKubeApiOptions) {
    const app = new Hono();
    app.use(async (c, next) => {
      const recorded: RecordedRequest = {
        method: c.req.method,
        path: c.req.path,
        query: Object.fromEntries(new URL(c.req.url).searchParams),
        authorization: c.req.header("authorization") ?? null,
        contentType: c.req.header("content-type") ?? null,
        body: c.req.method === "GET" ? "" : await c.req.text(),
      };
      this.requests.push(recorded);
      for (const listener of this.requestListeners) listener(recorded);
      c.set("recorded" as never, recorded as never);
      if (recorded.authorization !== `Bearer ${options.token}`) return c.json({ kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message: "Unauthorized", reason: "Unauthorized", code: 401 }, 401);
      return next();
    });
    const notFound = (c: Context, what: string) => c.json({ kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message: what, reason: "NotFound", details: { name: c.req.param("name"), kind: "pods" }, code: 404 }, 404);
    app.get("/api/v1/namespaces/:ns/pods/:name", (c) => {
      const pod = this.store.get("pods")!.get(`${c.req.param("ns")}/${c.req.param("name")}`);
      return pod ? c.json(pod) : notFound(c, `pods "${c.req.param("name")}" not found`);
    });
    for (const collection of ["pods", "configmaps"]) app.get(`/api/v1/namespaces/:ns/${collection}`, (c) => this.listOrWatch(c, collection));
    app.post("/apis/authentication.k8s.io/v1/tokenreviews", async (c) => {
      const review = JSON.parse((c.get("recorded" as never) as RecordedRequest).body);
      const user = options.tokenReviews?.[review.spec.token];
      return c.json({ ...review, status: user ? { authenticated: true, user: { groups: [], ...user } } : { authenticated: false, error: "invalid token" } }, 201);
    });
    app.post("/apis/authorization.k8s.io/v1/subjectaccessreviews", async (c) => {
      const review = JSON.parse((c.get("recorded" as never) as RecordedRequest).body);
      const allowed = options.allow?.(review.spec) ?? false;
      return c.json({ ...review, status: { allowed, ...(allowed ? {} : { reason: "" }) } }, 201);
    });
    app.all("/apis/device-mounter.io/*", (c) =>
      options.aggregated ? options.aggregated(c, c.get("recorded" as never) as RecordedRequest) : c.json({ kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message: "the server could not find the requested resource", reason: "NotFound", code: 404 }, 404),
    );
    this.server = Bun.serve({ port: 0, hostname: "127.0.0.1", tls: { cert: options.cert, key: options.key }, fetch: app.fetch, idleTimeout: 0 });
  }

  get url(): string {
    return `https://127.0.0.1:${this.server.port}`;
  }

  private listOrWatch(c: Context, collection: string): Response {
    const namespace = c.req.param("ns");
    const match = selectorMatcher(c.req.query("labelSelector"), c.req.query("fieldSelector"));
    const inNamespace = (o: KubeObject) => o.metadata?.namespace === namespace && match(o);
    if (c.req.query("watch")) {
      let watcher: Watcher;
      const stream = new ReadableStream<Uint8Array>({
        start: (controller) => {
          watcher = { collection, match: inNamespace, controller };
          this.watchers.add(watcher);
        },
        cancel: () => void this.watchers.delete(watcher),
      });
      return new Response(stream, { headers: { "content-type": "application/json" } });
    }
    if (this.failLists > 0) {
      this.failLists--;
      return c.json({ kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message: "etcd is sad", reason: "InternalError", code: 500 }, 500);
    }
    const items = [...this.store.get(collection)!.values()].filter(inNamespace);
    return c.json({ kind: "List", apiVersion: "v1", metadata: { resourceVersion: String(this.resourceVersion) }, items });
  }

  /** Creates or replaces an object and tells the watchers. */
  put(collection: "pods" | "configmaps", object: KubeObject): void {
    const key = `${object.metadata!.namespace}/${object.metadata!.name}`;
    const type = this.store.get(collection)!.has(key) ? "MODIFIED" : "ADDED";
    const stored = { ...object, metadata: { ...object.metadata, resourceVersion: String(++this.resourceVersion) } };
    this.store.get(collection)!.set(key, stored);
    this.notify(collection, type, stored);
  }

  delete(collection: "pods" | "configmaps", namespace: string, name: string): void {
    const object = this.store.get(collection)!.get(`${namespace}/${name}`);
    if (!object) return;
    this.store.get(collection)!.delete(`${namespace}/${name}`);
    this.notify(collection, "DELETED", { ...object, metadata: { ...object.metadata, resourceVersion: String(++this.resourceVersion) } });
  }

  private notify(collection: string, type: string, object: KubeObject): void {
    for (const w of this.watchers) if (w.collection === collection && w.match(object)) w.controller.enqueue(new TextEncoder().encode(`${JSON.stringify({ type, object })}\n`));
  }

  /** Sends an ERROR event (e.g. 410 Gone) to every watcher and ends their watches. */
  failWatches(code: number): void {
    for (const w of this.watchers) {
      w.controller.enqueue(new TextEncoder().encode(`${JSON.stringify({ type: "ERROR", object: { kind: "Status", code, message: `code ${code}` } })}\n`));
      w.controller.close();
    }
    this.watchers.clear();
  }

  /** Resolves with the first request from now on that matches. */
  nextRequest(matches: (r: RecordedRequest) => boolean): Promise<RecordedRequest> {
    return new Promise((resolve) => {
      const listener = (r: RecordedRequest) => {
        if (!matches(r)) return;
        this.requestListeners.delete(listener);
        resolve(r);
      };
      this.requestListeners.add(listener);
    });
  }

  /** Ends every watch normally, as a server does when a watch's timeout passes. */
  endWatches(): void {
    for (const w of this.watchers) w.controller.close();
    this.watchers.clear();
  }

  get watchCount(): number {
    return this.watchers.size;
  }

  async stop(): Promise<void> {
    for (const w of this.watchers) w.controller.close();
    this.watchers.clear();
    await this.server.stop(true);
  }
}

/** A kubeconfig for the fake, trusting its CA and using its token. */
export function kubeconfigYaml(api: FakeKubeApi, caPem: string, namespace?: string): string {
  return [
    "apiVersion: v1",
    "kind: Config",
    "clusters:",
    "- name: fake",
    "  cluster:",
    `    server: ${api.url}`,
    `    certificate-authority-data: ${Buffer.from(caPem).toString("base64")}`,
    "users:",
    "- name: tester",
    "  user:",
    `    token: ${api.options.token}`,
    "contexts:",
    "- name: fake",
    "  context:",
    "    cluster: fake",
    "    user: tester",
    ...(namespace ? [`    namespace: ${namespace}`] : []),
    "current-context: fake",
    "",
  ].join("\n");
}
