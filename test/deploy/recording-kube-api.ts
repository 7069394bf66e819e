// A Kubernetes API that records every call and answers as an empty cluster
// would (lists empty, named objects absent, writes accepted, watches open),
// except for the objects it is given (the rendered APIService, for one).
// Used to learn which calls the real code makes, for the RBAC check.
import type { KubeConnection } from "../../src/kube/transport.ts";
import { parseRequestInfo } from "../cluster/apiserver/request-info.ts";
import type { Manifest } from "./manifests.ts";

export interface RecordedCall {
  method: string;
  url: URL;
}

const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });

export class RecordingKubeApi {
  readonly calls: RecordedCall[] = [];
  private readonly streams = new Set<ReadableStreamDefaultController<Uint8Array>>();
  private server: ReturnType<typeof Bun.serve> | undefined;
  private readonly listeners = new Set<() => void>();

  /** `objects`: answered to GET by their path (/apis/<group>/<version>/[namespaces/<ns>/]<plural>/<name>). */
  constructor(private readonly objects: ReadonlyMap<string, Manifest> = new Map()) {}

  /** Answers one request; `watchesStayOpen` false ends watch streams at once (in-process callers that iterate them). */
  async answer(method: string, url: URL, body: string, watchesStayOpen: boolean): Promise<Response> {
    this.calls.push({ method, url });
    for (const listener of this.listeners) listener();
    const { verb } = parseRequestInfo(method, url);
    switch (method) {
      case "GET": {
        if (verb === "watch") {
          return new Response(
            new ReadableStream<Uint8Array>({
              start: (controller) => {
                if (!watchesStayOpen) controller.close();
                else this.streams.add(controller);
              },
            }),
            { headers: { "content-type": "application/json" } },
          );
        }
        const object = this.objects.get(url.pathname);
        if (object) return json(200, { ...object, metadata: { ...object.metadata, resourceVersion: "1" } });
        if (verb === "get") return json(404, { kind: "Status", apiVersion: "v1", status: "Failure", reason: "NotFound", code: 404, message: `${url.pathname} not found` });
        return json(200, { kind: "List", apiVersion: "v1", metadata: { resourceVersion: "1" }, items: [] });
      }
      case "POST": {
        const sent = body ? (JSON.parse(body) as Record<string, any>) : {};
        return json(201, { ...sent, metadata: { ...sent.metadata, resourceVersion: "2" }, status: sent.status ?? {} });
      }
      case "PUT":
      case "PATCH":
        return json(200, body ? JSON.parse(body) : {});
      case "DELETE":
        return json(200, { kind: "Status", apiVersion: "v1", status: "Success" });
      default:
        return json(405, { kind: "Status", code: 405 });
    }
  }

  /** An in-process connection (for the facades); watches end at once. */
  connection(): KubeConnection {
    return {
      server: "http://recording.invalid",
      request: async (path, init = {}) => this.answer(init.method ?? "GET", new URL(path, "http://recording.invalid"), typeof init.body === "string" ? init.body : "", false),
    };
  }

  /** Serves over HTTP (for the binary); returns a kubeconfig for it. */
  listen(): string {
    this.server = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      idleTimeout: 0,
      fetch: async (request) => this.answer(request.method, new URL(request.url), await request.text(), true),
    });
    return JSON.stringify({
      apiVersion: "v1",
      kind: "Config",
      // client-node refuses plain HTTP unless TLS checks are off (there is no TLS to check).
      clusters: [{ name: "recording", cluster: { server: `http://127.0.0.1:${this.server.port}`, "insecure-skip-tls-verify": true } }],
      users: [{ name: "recording", user: { token: "dm-test-token" } }],
      contexts: [{ name: "recording", context: { cluster: "recording", user: "recording" } }],
      "current-context": "recording",
    });
  }

  /** Resolves when `predicate` holds for the calls so far; rejects after timeoutMs naming `what`. */
  waitFor(predicate: (calls: RecordedCall[]) => boolean, what: string, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!predicate(this.calls)) return;
        clearTimeout(timer);
        this.listeners.delete(check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.listeners.delete(check);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; calls so far:\n  ${this.calls.map((c) => `${c.method} ${c.url.pathname}${c.url.search}`).join("\n  ")}`));
      }, timeoutMs);
      this.listeners.add(check);
      check();
    });
  }

  async stop(): Promise<void> {
    for (const stream of this.streams) {
      try {
        stream.close();
      } catch {
        // already closed by the client going away
      }
    }
    await this.server?.stop(true);
  }
}
