// @kubernetes/client-node's HTTP transport, made to work under Bun. client-node sends
// every request (and every watch) through undici's fetch with a `dispatcher` carrying the
// kubeconfig's CA and client certificate; Bun ignores that dispatcher and rejects the
// cluster CA ("self signed certificate in certificate chain"). Here the same requests go
// through Bun's fetch with the kubeconfig's TLS material as its `tls` option; everything
// above the transport (generated API clients, models, ListWatch, serialization, auth
// headers) is client-node's own.
import {
  createConfiguration,
  KubeConfig,
  ResponseContext,
  ServerConfiguration,
  Watch,
  wrapHttpLibrary,
  type RequestContext,
} from "@kubernetes/client-node";
import { STATUS_CODES } from "node:http";

interface BunTls {
  ca?: string;
  cert?: string;
  key?: string;
  rejectUnauthorized?: boolean;
}

interface Credentials {
  tls: BunTls;
  headers: Record<string, string>;
}

async function credentialsOf(config: KubeConfig): Promise<Credentials> {
  const options: { ca?: Buffer | string; cert?: Buffer | string; key?: Buffer | string; rejectUnauthorized?: boolean; headers?: Record<string, string> } = {};
  await config.applyToHTTPSOptions(options);
  const text = (value: Buffer | string | undefined) => (value === undefined ? undefined : value.toString());
  const tls: BunTls = {};
  const ca = text(options.ca);
  const cert = text(options.cert);
  const key = text(options.key);
  if (ca) tls.ca = ca;
  if (cert) tls.cert = cert;
  if (key) tls.key = key;
  if (options.rejectUnauthorized === false) tls.rejectUnauthorized = false;
  return { tls, headers: { ...options.headers } };
}

type FetchInit = RequestInit & { tls?: BunTls };

/** A generated API client (CoreV1Api, ...) for the kubeconfig's current context. */
export function makeApiClient<T>(config: KubeConfig, apiClass: new (configuration: ReturnType<typeof createConfiguration>) => T): T {
  const cluster = config.getCurrentCluster();
  if (!cluster) throw new Error("kubeconfig has no current cluster");
  const credentials = credentialsOf(config);
  const httpApi = wrapHttpLibrary({
    async send(request: RequestContext): Promise<ResponseContext> {
      const { tls } = await credentials;
      const init: FetchInit = {
        method: request.getHttpMethod().toString(),
        headers: request.getHeaders(),
        body: request.getBody() ?? null,
        signal: request.getSignal() ?? null,
        tls,
      };
      const response = await fetch(request.getUrl(), init);
      const headers: Record<string, string> = {};
      response.headers.forEach((value, name) => {
        headers[name] = value;
      });
      return new ResponseContext(response.status, headers, {
        text: () => response.text(),
        binary: async () => Buffer.from(await response.arrayBuffer()),
        stream: () => response.body,
      });
    },
  });
  return new apiClass(
    createConfiguration({
      baseServer: new ServerConfiguration(cluster.server, {}),
      authMethods: { default: config },
      httpApi,
    }),
  );
}

const WATCH_IDLE_TIMEOUT_MS = 30_000;

/**
 * client-node's Watch contract (callback per event, `done` exactly once, 30 s idle
 * timeout reported as a TimeoutError so ListWatch resumes) over Bun's fetch.
 */
export class BunWatch extends Watch {
  private readonly credentials: Promise<Credentials>;

  constructor(config: KubeConfig) {
    super(config);
    this.credentials = credentialsOf(config);
  }

  override async watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: (phase: string, apiObj: unknown, watchObj?: unknown) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    const cluster = this.config.getCurrentCluster();
    if (!cluster) throw new Error("kubeconfig has no current cluster");
    const url = new URL(cluster.server + path);
    url.searchParams.set("watch", "true");
    for (const [key, value] of Object.entries(queryParams)) if (value !== undefined) url.searchParams.set(key, String(value));
    const controller = new AbortController();
    let timedOut = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const resetTimer = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        timedOut = true;
        controller.abort();
      }, WATCH_IDLE_TIMEOUT_MS);
    };
    let doneCalled = false;
    const finish = (error: unknown) => {
      if (doneCalled) return;
      doneCalled = true;
      clearTimeout(timer);
      controller.abort();
      done(error && timedOut ? new DOMException("The operation was aborted due to timeout", "TimeoutError") : error);
    };
    void (async () => {
      try {
        const { tls, headers } = await this.credentials;
        resetTimer();
        const init: FetchInit = { headers, signal: controller.signal, tls };
        const response = await fetch(url, init);
        if (response.status !== 200 || !response.body) {
          const error = new Error(response.statusText || STATUS_CODES[response.status] || "Internal Server Error") as Error & {
            statusCode: number;
          };
          error.statusCode = response.status;
          throw error;
        }
        resetTimer();
        const decoder = new TextDecoder();
        let buffered = "";
        for await (const chunk of response.body) {
          resetTimer();
          buffered += decoder.decode(chunk, { stream: true });
          let newline = buffered.indexOf("\n");
          while (newline >= 0) {
            const line = buffered.slice(0, newline);
            buffered = buffered.slice(newline + 1);
            newline = buffered.indexOf("\n");
            if (line.trim() === "") continue;
            let event: { type: string; object: unknown };
            try {
              event = JSON.parse(line) as { type: string; object: unknown };
            } catch {
              continue;
            }
            callback(event.type, event.object, event);
          }
        }
        finish(null);
      } catch (error) {
        finish(controller.signal.aborted && !timedOut ? null : error);
      }
    })();
    return controller;
  }
}
