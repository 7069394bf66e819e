// The aggregator: an APIService's group is discovered, authorized by the main server, and
// proxied to a local HTTPS extension server that authenticates the front-proxy client
// certificate with the CA published in kube-system/extension-apiserver-authentication.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import http from "node:http";
import type net from "node:net";
import tls from "node:tls";
import { parseGoDuration } from "./aggregator.ts";
import { createClusterPki } from "./pki.ts";
import { readLinesUntil, startTestServer, type TestServer } from "./testing.ts";

const GROUP = "dm.example.com";
const VERSION = "v1alpha1";

interface SeenRequest {
  method: string;
  url: string;
  headers: Record<string, string[]>;
  peerCommonName: string | undefined;
  peerVerified: boolean;
}

interface ExtensionServer {
  url: string;
  caPem: string;
  seen: SeenRequest[];
  /** When each request to .../slow was closed by the aggregator. */
  slowClosed: number[];
  releaseStream(): void;
  stop(): Promise<void>;
}

/** An extension API server that records what reaches it. */
async function startExtensionServer(requestHeaderCaPem: string): Promise<ExtensionServer> {
  const pki = createClusterPki();
  const seen: SeenRequest[] = [];
  const peers = new WeakMap<net.Socket, { cn: string | undefined; verified: boolean }>();
  let release: () => void = () => {};
  const streamReleased = new Promise<void>((resolve) => (release = resolve));
  const sockets = new Set<net.Socket>();
  const slowClosed: number[] = [];
  const app = http.createServer((req, res) => {
    const headers: Record<string, string[]> = {};
    for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
      const key = (req.rawHeaders[i] ?? "").toLowerCase();
      (headers[key] ??= []).push(req.rawHeaders[i + 1] ?? "");
    }
    const peer = peers.get(req.socket);
    seen.push({ method: req.method ?? "", url: req.url ?? "", headers, peerCommonName: peer?.cn, peerVerified: peer?.verified ?? false });
    const path = (req.url ?? "").split("?")[0];
    if (path === `/apis/${GROUP}/${VERSION}`) {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ kind: "APIResourceList", apiVersion: "v1", groupVersion: `${GROUP}/${VERSION}`, resources: [{ name: "pods/mount", singularName: "", namespaced: true, kind: "Mount", verbs: ["create"] }] }));
    } else if (path?.endsWith("/slow")) {
      // Never answers; records when the aggregator gives up on it.
      res.on("close", () => slowClosed.push(Date.now()));
    } else if (path?.endsWith("/stream")) {
      res.writeHead(200, { "content-type": "application/json", "transfer-encoding": "chunked" });
      res.flushHeaders();
      res.write('{"part":1}\n');
      void streamReleased.then(() => res.end('{"part":2}\n'));
    } else {
      res.writeHead(201, { "content-type": "application/json", "x-extension": "yes" });
      res.end(JSON.stringify({ kind: "Mount", apiVersion: `${GROUP}/${VERSION}`, path }));
    }
  });
  const tlsServer = tls.createServer(
    { cert: pki.serving.certPem, key: pki.serving.keyPem, ca: requestHeaderCaPem, requestCert: true, rejectUnauthorized: false },
    (socket) => {
      const cert = socket.getPeerCertificate();
      const cn = cert && typeof cert === "object" ? (cert.subject as { CN?: string } | undefined)?.CN : undefined;
      peers.set(socket, { cn, verified: socket.authorized });
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
      app.emit("connection", socket);
    },
  );
  await new Promise<void>((resolve) => tlsServer.listen(0, "127.0.0.1", () => resolve()));
  return {
    url: `https://127.0.0.1:${(tlsServer.address() as net.AddressInfo).port}`,
    caPem: pki.ca.certPem,
    seen,
    slowClosed,
    releaseStream: () => release(),
    async stop() {
      release();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => tlsServer.close(() => resolve()));
    },
  };
}

let t: TestServer;
let extension: ExtensionServer;
beforeAll(async () => {
  t = await startTestServer({
    policy: {
      tokens: {
        "alice-token": { username: "alice", groups: ["devs"], extra: { "example.com/team": ["blue", "green"] } },
        "bob-token": { username: "bob" },
      },
      rules: [{ group: "devs", verbs: ["create", "get", "list"], apiGroups: [GROUP], resources: ["pods/mount", "pods/slow", "stream"], namespaces: ["default"] }],
    },
  });
  const authConfig = await t.core.readNamespacedConfigMap({ name: "extension-apiserver-authentication", namespace: "kube-system" });
  extension = await startExtensionServer(authConfig.data?.["requestheader-client-ca-file"] ?? "");
  t.server.registerAPIService({ group: GROUP, version: VERSION, url: extension.url, caBundle: extension.caPem });
});
afterAll(async () => {
  await extension?.stop();
  await t?.stop();
});

describe("extension-apiserver-authentication", () => {
  test("publishes the request-header and client CA configuration under kube's keys", async () => {
    const cm = await t.core.readNamespacedConfigMap({ name: "extension-apiserver-authentication", namespace: "kube-system" });
    expect(cm.data?.["client-ca-file"]).toBe(t.server.caCertPem);
    expect(cm.data?.["requestheader-client-ca-file"]).toBe(t.server.frontProxy.caPem);
    expect(cm.data?.["requestheader-allowed-names"]).toBe('["front-proxy-client"]');
    expect(cm.data?.["requestheader-username-headers"]).toBe('["X-Remote-User"]');
    expect(cm.data?.["requestheader-group-headers"]).toBe('["X-Remote-Group"]');
    expect(cm.data?.["requestheader-extra-headers-prefix"]).toBe('["X-Remote-Extra-"]');
  });
});

describe("aggregated API", () => {
  test("the group is discoverable, its resource list comes from the extension", async () => {
    const groups = await t.request("GET", "/apis");
    const names = (groups.json?.["groups"] as Array<{ name: string }>).map((g) => g.name);
    expect(names).toContain(GROUP);
    const resources = await t.kubectl(["api-resources", "--api-group", GROUP, "--no-headers"]);
    expect(resources.exitCode).toBe(0);
  });

  test("requests are proxied with X-Remote-* identity, the front-proxy certificate and no Authorization", async () => {
    const before = extension.seen.length;
    const res = await t.request("POST", `/apis/${GROUP}/${VERSION}/namespaces/default/pods/p1/mount?dryRun=All`, {
      token: "alice-token",
      body: { kind: "Mount", apiVersion: `${GROUP}/${VERSION}` },
    });
    expect(res.status).toBe(201);
    expect(res.headers.get("x-extension")).toBe("yes");
    expect(res.json).toEqual({ kind: "Mount", apiVersion: `${GROUP}/${VERSION}`, path: `/apis/${GROUP}/${VERSION}/namespaces/default/pods/p1/mount` });
    const seen = extension.seen.slice(before);
    expect(seen).toHaveLength(1);
    const request = seen[0]!;
    expect(request.method).toBe("POST");
    expect(request.url).toBe(`/apis/${GROUP}/${VERSION}/namespaces/default/pods/p1/mount?dryRun=All`);
    expect(request.peerCommonName).toBe("front-proxy-client");
    expect(request.peerVerified).toBe(true);
    expect(request.headers["authorization"]).toBeUndefined();
    expect(request.headers["x-remote-user"]).toEqual(["alice"]);
    expect(request.headers["x-remote-group"]).toEqual(["devs", "system:authenticated"]);
    expect(request.headers["x-remote-extra-example.com%2fteam"]).toEqual(["blue", "green"]);
  });

  test("the main server authorizes first: a forbidden caller never reaches the extension", async () => {
    const before = extension.seen.length;
    const res = await t.request("POST", `/apis/${GROUP}/${VERSION}/namespaces/default/pods/p1/mount`, { token: "bob-token", body: {} });
    expect(res.status).toBe(403);
    expect(res.json?.["message"]).toBe(
      `pods.${GROUP} "p1" is forbidden: User "bob" cannot create resource "pods/mount" in API group "${GROUP}" in the namespace "default"`,
    );
    const spoofed = await t.request("POST", `/apis/${GROUP}/${VERSION}/namespaces/default/pods/p1/mount`, { token: "not-a-token", body: {} });
    expect(spoofed.status).toBe(401);
    expect(extension.seen.length).toBe(before);
  });

  test("client-supplied X-Remote-* headers are not passed on", async () => {
    const before = extension.seen.length;
    const res = await fetch(`${t.server.httpUrl}/apis/${GROUP}/${VERSION}/namespaces/default/pods/p2/mount`, {
      method: "POST",
      headers: { Authorization: "Bearer alice-token", "X-Remote-User": "system:admin", "X-Remote-Group": "system:masters", "Content-Type": "application/json" },
      body: "{}",
    });
    expect(res.status).toBe(201);
    const request = extension.seen[before]!;
    expect(request.headers["x-remote-user"]).toEqual(["alice"]);
    expect(request.headers["x-remote-group"]).toEqual(["devs", "system:authenticated"]);
  });

  test("streamed responses are relayed as they arrive", async () => {
    const res = await fetch(`${t.server.httpUrl}/apis/${GROUP}/${VERSION}/namespaces/default/stream`, { headers: { Authorization: "Bearer alice-token" } });
    expect(res.status).toBe(200);
    const [first, rest] = res.body!.tee();
    expect(await readLinesUntil(first, (lines) => lines.length >= 1, 5000)).toEqual(['{"part":1}']);
    extension.releaseStream();
    expect(await readLinesUntil(rest, (lines) => lines.length >= 2, 5000)).toEqual(['{"part":1}', '{"part":2}']);
  });

  test("a request running past the request timeout is 504 as kube-apiserver words it, and the extension's request is cancelled", async () => {
    const started = Date.now();
    const res = await t.request("POST", `/apis/${GROUP}/${VERSION}/namespaces/default/pods/p3/slow?timeout=1s`, { token: "alice-token", body: {} });
    expect(res.status).toBe(504);
    expect(res.json).toEqual({
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message: "Timeout: request did not complete within requested timeout - context deadline exceeded",
      reason: "Timeout",
      details: {},
      code: 504,
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    const deadline = Date.now() + 5000;
    while (extension.slowClosed.length === 0 && Date.now() < deadline) await Bun.sleep(20);
    expect(extension.slowClosed).toHaveLength(1);
  });

  test("?timeout= takes Go durations; what is not one is ignored", () => {
    expect(parseGoDuration("1s")).toBe(1000);
    expect(parseGoDuration("1m30s")).toBe(90_000);
    expect(parseGoDuration("250ms")).toBe(250);
    expect(parseGoDuration("1.5h")).toBe(5_400_000);
    expect(parseGoDuration("30")).toBeUndefined();
    expect(parseGoDuration("")).toBeUndefined();
    expect(parseGoDuration("1s junk")).toBeUndefined();
  });

  test("an unreachable extension server is 503 ServiceUnavailable", async () => {
    t.server.registerAPIService({ group: "down.example.com", version: "v1", url: "https://127.0.0.1:1", caBundle: extension.caPem });
    try {
      const res = await t.request("GET", "/apis/down.example.com/v1/widgets");
      expect(res.status).toBe(503);
      expect(res.json?.["reason"]).toBe("ServiceUnavailable");
      expect(String(res.json?.["message"])).toStartWith("error trying to reach service:");
    } finally {
      t.server.unregisterAPIService("down.example.com", "v1");
    }
  });
});
