// The kube-aggregator: /apis/<group>/<version>/... of a registered APIService is proxied,
// after authentication and authorization, to the extension server over TLS with the
// front-proxy client certificate and X-Remote-* identity headers (never the caller's
// credentials), like kube-apiserver's proxy handler. Like every request that is not a
// watch, a proxied one ends at kube-apiserver's --request-timeout (60 s; shorter with
// ?timeout=): the client gets 504 and the extension server's request is cancelled.
import type { IncomingMessage } from "node:http";
import https from "node:https";
import { Readable } from "node:stream";
import type { UserInfo } from "./auth.ts";
import { STREAMING_RESPONSES } from "./node-http-adapter.ts";
import type { KeyPair } from "./pki.ts";
import type { GroupVersion } from "./registry.ts";
import { requestTimedOut, serviceUnavailable } from "./status.ts";

export interface APIServiceRegistration {
  group: string;
  version: string;
  /** Base URL of the extension API server, e.g. https://127.0.0.1:8443 */
  url: string;
  /** PEM CA that signed the extension server's serving certificate. */
  caBundle?: string;
  /** APIService.spec.insecureSkipTLSVerify: required when there is no caBundle. */
  insecureSkipTLSVerify?: boolean;
}

const STRIPPED_REQUEST_HEADERS = new Set([
  "authorization",
  "host",
  "connection",
  "keep-alive",
  "transfer-encoding",
  "upgrade",
  "te",
  "trailer",
  "proxy-authorization",
  "proxy-connection",
  "content-length",
]);
const STRIPPED_RESPONSE_HEADERS = new Set(["connection", "keep-alive", "transfer-encoding", "content-length"]);

export class Aggregator {
  private readonly services = new Map<string, APIServiceRegistration>();

  constructor(
    private readonly frontProxyClient: KeyPair,
    /** kube-apiserver's --request-timeout. */
    private readonly requestTimeoutMs = 60_000,
  ) {}

  /** The deadline of a request, or undefined for a long-running one (a watch). */
  private deadlineMs(req: Request, url: URL): number | undefined {
    const watch = url.searchParams.get("watch");
    if (req.method === "GET" && (watch === "1" || watch === "true")) return undefined;
    const asked = parseGoDuration(url.searchParams.get("timeout") ?? "");
    return asked !== undefined && asked < this.requestTimeoutMs ? asked : this.requestTimeoutMs;
  }

  register(registration: APIServiceRegistration): void {
    this.services.set(`${registration.group}/${registration.version}`, { ...registration, url: registration.url.replace(/\/+$/, "") });
  }

  unregister(group: string, version: string): void {
    this.services.delete(`${group}/${version}`);
  }

  find(group: string, version: string): APIServiceRegistration | undefined {
    return this.services.get(`${group}/${version}`);
  }

  groupVersions(): GroupVersion[] {
    return [...this.services.values()].map((s) => ({ group: s.group, version: s.version }));
  }

  async proxy(req: Request, service: APIServiceRegistration, user: UserInfo): Promise<Response> {
    const incoming = new URL(req.url);
    const target = new URL(`${service.url}${incoming.pathname}${incoming.search}`);
    // One header line per value, as Go's Header.Add writes them: an extension server reads
    // each X-Remote-Group line as one group (fetch's Headers would join them with commas).
    const headers: Record<string, string | string[]> = {};
    const add = (key: string, value: string) => {
      const existing = headers[key];
      headers[key] = existing === undefined ? value : [...(Array.isArray(existing) ? existing : [existing]), value];
    };
    req.headers.forEach((value, key) => {
      const lower = key.toLowerCase();
      if (STRIPPED_REQUEST_HEADERS.has(lower) || lower.startsWith("impersonate-") || lower.startsWith("x-remote-")) return;
      add(key, value);
    });
    add("X-Remote-User", user.username);
    for (const group of user.groups ?? []) add("X-Remote-Group", group);
    for (const [key, values] of Object.entries(user.extra ?? {})) {
      for (const value of values) add(`X-Remote-Extra-${encodeURIComponent(key)}`, value);
    }
    add("X-Forwarded-For", "127.0.0.1");
    const body = req.method === "GET" || req.method === "HEAD" ? undefined : Buffer.from(await req.arrayBuffer());
    if (body) headers["Content-Length"] = String(body.length);
    const deadlineMs = this.deadlineMs(req, incoming);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const upstream = await new Promise<IncomingMessage | "timed out">((resolve, reject) => {
      const request = https.request(
        target,
        {
          method: req.method,
          headers,
          cert: this.frontProxyClient.certPem,
          key: this.frontProxyClient.keyPem,
          ca: service.caBundle,
          rejectUnauthorized: !service.insecureSkipTLSVerify,
        },
        resolve,
      );
      request.on("error", (e) => reject(serviceUnavailable(`error trying to reach service: ${e.message}`)));
      req.signal.addEventListener("abort", () => request.destroy(), { once: true });
      if (deadlineMs !== undefined) {
        timer = setTimeout(() => {
          request.destroy();
          resolve("timed out");
        }, deadlineMs);
      }
      request.end(body);
    }).finally(() => clearTimeout(timer));
    if (upstream === "timed out") throw requestTimedOut();
    const responseHeaders = new Headers();
    for (let i = 0; i + 1 < upstream.rawHeaders.length; i += 2) {
      const key = upstream.rawHeaders[i] ?? "";
      if (!STRIPPED_RESPONSE_HEADERS.has(key.toLowerCase())) responseHeaders.append(key, upstream.rawHeaders[i + 1] ?? "");
    }
    const stream = Readable.toWeb(upstream) as unknown as ReadableStream<Uint8Array>;
    const response = new Response(stream, { status: upstream.statusCode ?? 502, headers: responseHeaders });
    // Upstream watches stream; pass bytes on as they come.
    STREAMING_RESPONSES.add(response);
    return response;
  }
}

/** A Go duration as kube's ?timeout= takes it ("30s", "1m30s", "500ms"); undefined if it is not one. */
export function parseGoDuration(text: string): number | undefined {
  const units: Record<string, number> = { ns: 1e-6, us: 1e-3, "µs": 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  const parts = [...text.matchAll(/([0-9]+(?:\.[0-9]*)?)(ns|us|µs|ms|s|m|h)/g)];
  if (!text || parts.map((p) => p[0]).join("") !== text) return undefined;
  return parts.reduce((total, [, value, unit]) => total + Number(value) * units[unit!]!, 0);
}
