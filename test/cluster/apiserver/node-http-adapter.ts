// Serves a fetch-style handler (the Hono app) from a node:http server. Bun.serve cannot
// be used: it holds response headers back until the first body chunk, so a watch with
// no events yet would never answer, while kube sends the headers at once. node:http
// flushes them when asked, and accepts TLS sockets handed over by a node:tls server,
// which keeps the client certificate reachable from the request.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";

/** Responses whose body is an open-ended stream (watches, proxied streams). */
export const STREAMING_RESPONSES = new WeakSet<Response>();

export type FetchHandler = (request: Request, socket: Socket) => Response | Promise<Response>;

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function toRequest(req: IncomingMessage, body: Buffer | undefined, signal: AbortSignal): Request {
  const headers = new Headers();
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) headers.append(req.rawHeaders[i] ?? "", req.rawHeaders[i + 1] ?? "");
  return new Request(`http://127.0.0.1${req.url ?? "/"}`, {
    method: req.method ?? "GET",
    headers,
    body: body && body.length > 0 ? body : undefined,
    signal,
  });
}

function headerRecord(response: Response): Record<string, string> {
  const out: Record<string, string> = {};
  response.headers.forEach((value, key) => {
    out[key] = key in out ? `${out[key]}, ${value}` : value;
  });
  return out;
}

async function pump(body: ReadableStream<Uint8Array>, res: ServerResponse): Promise<void> {
  const reader = body.getReader();
  res.on("close", () => void reader.cancel().catch(() => {}));
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done || res.destroyed) break;
      res.write(value);
    }
  } catch {
    // The client went away or the producer failed; either way the stream is over.
  } finally {
    if (!res.destroyed) res.end();
  }
}

export function nodeHttpHandler(handler: FetchHandler): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    void (async () => {
      const aborter = new AbortController();
      res.on("close", () => aborter.abort());
      const method = req.method ?? "GET";
      const body = method === "GET" || method === "HEAD" ? undefined : await readBody(req);
      const response = await handler(toRequest(req, body, aborter.signal), req.socket);
      const headers = headerRecord(response);
      if (STREAMING_RESPONSES.has(response) && response.body) {
        delete headers["content-length"];
        res.writeHead(response.status, { ...headers, "transfer-encoding": "chunked" });
        res.flushHeaders();
        await pump(response.body, res);
        return;
      }
      const payload = Buffer.from(await response.arrayBuffer());
      res.writeHead(response.status, { ...headers, "content-length": String(payload.length) });
      res.end(method === "HEAD" ? undefined : payload);
    })().catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" });
      res.end(`internal error: ${error instanceof Error ? error.message : String(error)}\n`);
    });
  };
}
