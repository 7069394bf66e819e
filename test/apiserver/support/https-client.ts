// An HTTPS client that can present a client certificate and send a header
// several times (fetch would merge repeated headers into one).
import { request } from "node:https";

export interface HttpsCall {
  port: number;
  path: string;
  method?: string;
  /** [name, value] pairs, sent in order; a name may repeat. */
  headers?: Array<[string, string]>;
  body?: string;
  ca: string;
  cert?: string;
  key?: string;
}

export interface HttpsAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export function httpsCall(call: HttpsCall): Promise<HttpsAnswer> {
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of call.headers ?? []) {
    const existing = headers[name];
    headers[name] = existing === undefined ? value : [...(Array.isArray(existing) ? existing : [existing]), value];
  }
  return new Promise((resolve, reject) => {
    const req = request(
      { host: "127.0.0.1", port: call.port, path: call.path, method: call.method ?? "GET", headers, ca: call.ca, servername: "localhost", agent: false, ...(call.cert ? { cert: call.cert, key: call.key } : {}) },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk) => (body += chunk));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(call.body);
  });
}
