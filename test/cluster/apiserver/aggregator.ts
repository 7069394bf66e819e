// The kube-aggregator: /apis/<group>/<version>/... of a registered APIService is proxied,
// after authentication and authorization, to the extension server over TLS with the
// front-proxy client certificate and X-Remote-* identity headers (never the caller's
// credentials), like kube-apiserver's proxy handler.
import type { UserInfo } from "./auth.ts";
import { STREAMING_RESPONSES } from "./node-http-adapter.ts";
import type { KeyPair } from "./pki.ts";
import type { GroupVersion } from "./registry.ts";
import { serviceUnavailable } from "./status.ts";

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
const STRIPPED_RESPONSE_HEADERS = new Set(["connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding"]);

export class Aggregator {
  private readonly services = new Map<string, APIServiceRegistration>();

  constructor(private readonly frontProxyClient: KeyPair) {}

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
    const target = `${service.url}${incoming.pathname}${incoming.search}`;
    const headers = new Headers();
    req.headers.forEach((value, key) => {
      const lower = key.toLowerCase();
      if (STRIPPED_REQUEST_HEADERS.has(lower) || lower.startsWith("impersonate-") || lower.startsWith("x-remote-")) return;
      headers.append(key, value);
    });
    headers.set("X-Remote-User", user.username);
    for (const group of user.groups ?? []) headers.append("X-Remote-Group", group);
    for (const [key, values] of Object.entries(user.extra ?? {})) {
      for (const value of values) headers.append(`X-Remote-Extra-${encodeURIComponent(key)}`, value);
    }
    headers.set("X-Forwarded-For", "127.0.0.1");
    const body = req.method === "GET" || req.method === "HEAD" ? undefined : await req.arrayBuffer();
    let upstream: Response;
    try {
      upstream = await fetch(target, {
        method: req.method,
        headers,
        body,
        redirect: "manual",
        signal: req.signal,
        tls: {
          cert: this.frontProxyClient.certPem,
          key: this.frontProxyClient.keyPem,
          ca: service.caBundle,
          rejectUnauthorized: !service.insecureSkipTLSVerify,
        },
      });
    } catch (e) {
      throw serviceUnavailable(`error trying to reach service: ${(e as Error).message}`);
    }
    const responseHeaders = new Headers();
    upstream.headers.forEach((value, key) => {
      if (!STRIPPED_RESPONSE_HEADERS.has(key.toLowerCase())) responseHeaders.append(key, value);
    });
    const response = new Response(upstream.body, { status: upstream.status, statusText: upstream.statusText, headers: responseHeaders });
    // Upstream watches stream; pass bytes on as they come.
    STREAMING_RESPONSES.add(response);
    return response;
  }
}
