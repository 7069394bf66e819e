// HTTPS serving for a Hono app (the apiserver's and the agent's) with what
// Bun.serve cannot give: certificate rotation without restart, draining on
// shutdown, and, for front-proxy authentication, the client certificate chain
// of each request. A node:tls server asks for client certificates without
// judging them (verification is the authenticator's job, against a CA that
// can change at runtime) and hands each connection to a node:http server.
import { X509Certificate } from "node:crypto";
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Readable } from "node:stream";
import { createServer as createTlsServer, type TLSSocket } from "node:tls";
import { StatusError } from "../api/status.ts";
import type { Logger } from "../observability/log.ts";
import type { CertificatePair } from "../tls/self-signed.ts";

export interface ConnectionInfo {
  /** The client certificate chain, leaf first; empty when none was presented or asked for. */
  peerCertificates: readonly X509Certificate[];
  /** Header values exactly as received (repeated headers stay separate); lower-cased names. */
  rawHeaders: Map<string, string[]>;
}

export type FetchHandler = (request: Request, connection: ConnectionInfo) => Response | Promise<Response>;

export interface SecureServerOptions {
  fetch: FetchHandler;
  host: string;
  port: number;
  certificate: CertificatePair;
  logger: Logger;
  /** Ask clients for a certificate (front-proxy authentication needs the chain). */
  requestClientCertificates?: boolean;
  /** Names whose log has the details of an internal error, e.g. "apiserver". */
  component: string;
}

export interface SecureServer {
  readonly port: number;
  /** Serves new connections with another certificate. */
  setCertificate(pair: CertificatePair): void;
  /** Requests being served now. */
  inflight(): number;
  /** Stops accepting, lets running requests finish until the deadline, then closes every connection. */
  shutdown(deadlineMs: number): Promise<{ drained: boolean }>;
}

interface SocketState {
  active: number;
  chain: X509Certificate[];
}

function peerChain(socket: TLSSocket): X509Certificate[] {
  const chain: X509Certificate[] = [];
  const seen = new Set<string>();
  let cert = socket.getPeerCertificate(true);
  while (cert?.raw && !seen.has(cert.fingerprint256)) {
    seen.add(cert.fingerprint256);
    chain.push(new X509Certificate(cert.raw));
    cert = cert.issuerCertificate;
  }
  return chain;
}

function rawHeaderMap(raw: string[]): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    const list = map.get(name);
    if (list) list.push(raw[i + 1]!);
    else map.set(name, [raw[i + 1]!]);
  }
  return map;
}

function writeStatus(res: ServerResponse, error: StatusError): void {
  if (res.headersSent) return void res.destroy();
  const body = JSON.stringify(error.toStatus());
  res.writeHead(error.code, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
  res.end(body);
}

export function startSecureServer(options: SecureServerOptions): Promise<SecureServer> {
  const { logger } = options;
  const sockets = new Map<TLSSocket, SocketState>();
  let inflight = 0;
  let shuttingDown = false;
  let drained: (() => void) | undefined;

  const finishRequest = (socket: TLSSocket) => {
    inflight--;
    const state = sockets.get(socket);
    if (state) state.active--;
    if (shuttingDown && state?.active === 0) socket.end();
    if (inflight === 0) drained?.();
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const socket = req.socket as TLSSocket;
    const state = sockets.get(socket) ?? { active: 0, chain: [] };
    inflight++;
    state.active++;
    res.once("close", () => finishRequest(socket));
    if (shuttingDown) res.setHeader("connection", "close");
    const cancelled = new AbortController();
    res.once("close", () => {
      if (!res.writableFinished) cancelled.abort(new Error("the client closed the connection"));
    });
    let request: Request;
    try {
      const headers = new Headers();
      for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) headers.append(req.rawHeaders[i]!, req.rawHeaders[i + 1]!);
      const url = new URL(req.url ?? "/", `https://${options.host.includes(":") ? `[${options.host}]` : options.host}`);
      const hasBody = req.method !== "GET" && req.method !== "HEAD";
      request = new Request(url.href, {
        method: req.method ?? "GET",
        headers,
        signal: cancelled.signal,
        ...(hasBody ? { body: Readable.toWeb(req) as ReadableStream<Uint8Array>, duplex: "half" } : {}),
      } as RequestInit);
    } catch (e) {
      return writeStatus(res, new StatusError("BadRequest", `malformed request: ${(e as Error).message}`));
    }
    try {
      const response = await options.fetch(request, { peerCertificates: state.chain, rawHeaders: rawHeaderMap(req.rawHeaders) });
      const headers: Record<string, string> = {};
      response.headers.forEach((value, name) => (headers[name] = value));
      if (shuttingDown) headers.connection = "close";
      res.writeHead(response.status, headers);
      if (response.body) for await (const chunk of response.body) res.write(chunk);
      res.end();
    } catch (e) {
      if (cancelled.signal.aborted) return void res.destroy();
      logger.error("request failed outside the application", { error: (e as Error).message, stack: (e as Error).stack });
      writeStatus(res, new StatusError("InternalError", `an internal error occurred; the ${options.component} log has the details`));
    }
  }

  const http = createHttpServer((req, res) => void handle(req, res));
  // Mounts run up to --max-wait-seconds; their own deadlines bound them, not a server-wide timeout.
  http.requestTimeout = 0;
  http.headersTimeout = 60_000;
  const tls = createTlsServer({ cert: options.certificate.cert, key: options.certificate.key, requestCert: options.requestClientCertificates ?? false, rejectUnauthorized: false, ALPNProtocols: ["http/1.1"] }, (socket) => {
    if (shuttingDown) return void socket.destroy();
    let chain: X509Certificate[] = [];
    try {
      chain = peerChain(socket);
    } catch (e) {
      logger.warn("could not read the client certificate chain", { error: (e as Error).message });
    }
    sockets.set(socket, { active: 0, chain });
    socket.once("close", () => sockets.delete(socket));
    http.emit("connection", socket);
  });
  tls.on("tlsClientError", (e) => logger.info("TLS handshake failed", { error: e.message }));

  return new Promise((resolve, reject) => {
    tls.once("error", reject);
    tls.listen(options.port, options.host, () => {
      tls.off("error", reject);
      resolve({
        port: (tls.address() as AddressInfo).port,
        setCertificate: (pair) => tls.setSecureContext({ cert: pair.cert, key: pair.key }),
        inflight: () => inflight,
        async shutdown(deadlineMs) {
          shuttingDown = true;
          const closed = new Promise<void>((r) => tls.close(() => r()));
          for (const [socket, state] of sockets) if (state.active === 0) socket.end();
          let finished = inflight === 0;
          if (!finished) {
            finished = await new Promise<boolean>((r) => {
              const timer = setTimeout(() => r(false), deadlineMs);
              drained = () => {
                clearTimeout(timer);
                r(true);
              };
            });
          }
          for (const socket of sockets.keys()) socket.destroy();
          await closed;
          return { drained: finished };
        },
      });
    });
  });
}
