// startApiServer: wires store, controllers, PKI and the HTTP app together and serves it on
// 127.0.0.1 over plain HTTP and over HTTPS. TLS is terminated by a node:tls server (where
// Bun exposes verified client certificates) whose sockets are handed to the HTTP server.
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import tls from "node:tls";
import { Aggregator, type APIServiceRegistration } from "./aggregator.ts";
import { Authenticator, type Policy, type UserInfo } from "./auth.ts";
import { defaultGroupsFor } from "./bootstrap-policy.ts";
import { GarbageCollector } from "./garbage-collector.ts";
import { createApiApp, type PeerIdentity } from "./http-api.ts";
import { nodeHttpHandler } from "./node-http-adapter.ts";
import { NamespaceController } from "./namespace-controller.ts";
import { ObjectApi } from "./object-api.ts";
import { createClusterPki, type KeyPair } from "./pki.ts";
import { configMapResource, namespaceResource } from "./simple-resources.ts";
import { ObjectStore } from "./store.ts";

export interface ApiServerOptions {
  policy?: Policy;
  /** Events kept for watch resumption / snapshot lists (the compaction window). Default 1000. */
  watchHistorySize?: number;
  /** How often watches with allowWatchBookmarks get a BOOKMARK. Default 1000 ms. */
  bookmarkIntervalMs?: number;
  /** --request-timeout: requests proxied to an extension server that run longer get 504. Default 60 s. */
  requestTimeoutMs?: number;
}

/**
 * Who a kubeconfig authenticates as: a username (a bearer token is minted for it, with the
 * groups kube gives such names: system:node:* → system:nodes, service accounts → theirs),
 * an existing bearer token, or a client certificate.
 */
export type KubeconfigUser = string | { token: string } | { clientCertificate: KeyPair };

export interface KubeconfigOptions {
  /**
   * Point at the plain-HTTP endpoint (with insecure-skip-tls-verify, which client-node
   * demands for http). Needed by @kubernetes/client-node under Bun: Bun's built-in undici
   * ignores the dispatcher that carries the kubeconfig's CA, so HTTPS fails there.
   */
  http?: boolean;
}

export interface ApiServerHandle {
  /** https://127.0.0.1:<port> */
  url: string;
  /** http://127.0.0.1:<port> (same API, no TLS, token auth only) */
  httpUrl: string;
  /** Bearer token of "kubernetes-admin" (group system:masters). */
  adminToken: string;
  /** CA that signed the serving certificate and verifies client certificates. */
  caCertPem: string;
  /** kubeconfig (JSON) for the HTTPS endpoint; the admin token unless `user` is given. */
  kubeconfig(user?: KubeconfigUser, options?: KubeconfigOptions): string;
  writeKubeconfig(path: string, user?: KubeconfigUser, options?: KubeconfigOptions): void;
  /** A new bearer token for `user` (system:authenticated is added). */
  issueToken(user: UserInfo): string;
  setPolicy(policy: Policy): void;
  registerAPIService(registration: APIServiceRegistration): void;
  unregisterAPIService(group: string, version: string): void;
  /** A client certificate from the cluster CA: CN = username, O = groups. */
  issueClientCertificate(username: string, groups: string[]): KeyPair;
  frontProxy: { caPem: string; clientCertPem: string; clientKeyPem: string };
  /** Direct access for in-process controllers and tests (no HTTP, no auth). */
  api: ObjectApi;
  stop(): Promise<void>;
}

const BUILTIN_NAMESPACES = ["default", "kube-system", "kube-public", "kube-node-lease"];

/** Client-certificate identity of each TLS connection, set when the handshake is done. */
const peerIdentities = new WeakMap<net.Socket, PeerIdentity>();

function peerIdentityOf(socket: net.Socket): PeerIdentity {
  return peerIdentities.get(socket);
}

function listen(server: net.Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
}

function close(server: net.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

function identityFromCertificate(cert: tls.PeerCertificate): UserInfo {
  const subject = cert.subject as unknown as Record<string, string | string[] | undefined>;
  const cn = subject["CN"];
  const o = subject["O"];
  const username = Array.isArray(cn) ? (cn[0] ?? "") : (cn ?? "");
  const groups = o === undefined ? [] : Array.isArray(o) ? o : [o];
  return { username, groups: [...groups, "system:authenticated"] };
}

/** The name the rest of the cluster-in-a-box uses for the handle. */
export type ApiServer = ApiServerHandle;

export async function startApiServer(opts: ApiServerOptions = {}): Promise<ApiServerHandle> {
  const pki = createClusterPki();
  const adminToken = randomBytes(32).toString("hex");
  const store = new ObjectStore(opts.watchHistorySize ?? 1000);
  const api = new ObjectApi(store);
  const authenticator = new Authenticator(opts.policy ?? {}, {
    [adminToken]: { username: "kubernetes-admin", groups: ["system:masters"] },
  });
  const aggregator = new Aggregator(pki.frontProxyClient, opts.requestTimeoutMs);
  const namespaceController = new NamespaceController(api, pki.ca.certPem);
  const garbageCollector = new GarbageCollector(api);

  for (const name of BUILTIN_NAMESPACES) api.create(namespaceResource, undefined, { metadata: { name } });
  api.create(configMapResource, "kube-system", {
    metadata: { name: "extension-apiserver-authentication" },
    data: {
      "client-ca-file": pki.ca.certPem,
      "requestheader-client-ca-file": pki.frontProxyCa.certPem,
      "requestheader-allowed-names": JSON.stringify(["front-proxy-client"]),
      "requestheader-username-headers": JSON.stringify(["X-Remote-User"]),
      "requestheader-group-headers": JSON.stringify(["X-Remote-Group"]),
      "requestheader-extra-headers-prefix": JSON.stringify(["X-Remote-Extra-"]),
    },
  });

  let httpsPort = 0;
  const app = createApiApp({
    api,
    authenticator,
    aggregator,
    tuning: { bookmarkIntervalMs: opts.bookmarkIntervalMs ?? 1000, defaultTimeoutSeconds: 1800 },
    serverAddress: () => `127.0.0.1:${httpsPort}`,
  });
  const sockets = new Set<net.Socket>();
  const httpServer = http.createServer(nodeHttpHandler((request, socket) => app.fetch(request, { peer: peerIdentityOf(socket) })));
  // Watches stay open for minutes without traffic; kube has no idle timeout for them either.
  httpServer.requestTimeout = 0;
  httpServer.keepAliveTimeout = 0;
  httpServer.timeout = 0;
  httpServer.on("connection", (socket: net.Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  const tlsServer = tls.createServer(
    { cert: pki.serving.certPem, key: pki.serving.keyPem, ca: pki.ca.certPem, requestCert: true, rejectUnauthorized: false },
    (socket) => {
      const cert = socket.getPeerCertificate();
      const presented = cert !== null && typeof cert === "object" && Object.keys(cert).length > 0;
      const identity: PeerIdentity = !presented
        ? undefined
        : socket.authorized
          ? { kind: "certificate", user: identityFromCertificate(cert) }
          : { kind: "invalid-certificate" };
      peerIdentities.set(socket, identity);
      httpServer.emit("connection", socket);
    },
  );
  await listen(httpServer);
  await listen(tlsServer);
  httpsPort = (tlsServer.address() as net.AddressInfo).port;
  const httpUrl = `http://127.0.0.1:${(httpServer.address() as net.AddressInfo).port}`;
  const url = `https://127.0.0.1:${httpsPort}`;

  const issueToken = (user: UserInfo): string => {
    const token = randomBytes(32).toString("hex");
    authenticator.addToken(token, user);
    return token;
  };
  const kubeconfig = (user: KubeconfigUser = { token: adminToken }, options: KubeconfigOptions = {}): string => {
    const resolved = typeof user === "string" ? { token: issueToken({ username: user, groups: defaultGroupsFor(user) }) } : user;
    const credentials =
      "token" in resolved
        ? { token: resolved.token }
        : {
            "client-certificate-data": Buffer.from(resolved.clientCertificate.certPem).toString("base64"),
            "client-key-data": Buffer.from(resolved.clientCertificate.keyPem).toString("base64"),
          };
    const cluster = options.http
      ? { server: httpUrl, "insecure-skip-tls-verify": true }
      : { server: url, "certificate-authority-data": Buffer.from(pki.ca.certPem).toString("base64") };
    return JSON.stringify(
      {
        apiVersion: "v1",
        kind: "Config",
        clusters: [{ name: "dm-test", cluster }],
        users: [{ name: "dm-test-user", user: credentials }],
        contexts: [{ name: "dm-test", context: { cluster: "dm-test", user: "dm-test-user", namespace: "default" } }],
        "current-context": "dm-test",
        preferences: {},
      },
      null,
      2,
    );
  };

  return {
    url,
    httpUrl,
    adminToken,
    caCertPem: pki.ca.certPem,
    kubeconfig,
    writeKubeconfig(path, user, options) {
      writeFileSync(path, kubeconfig(user, options), { mode: 0o600 });
    },
    issueToken,
    setPolicy: (policy) => authenticator.setPolicy(policy),
    registerAPIService: (registration) => aggregator.register(registration),
    unregisterAPIService: (group, version) => aggregator.unregister(group, version),
    issueClientCertificate: (username, groups) => pki.issueClientCertificate(username, groups),
    frontProxy: { caPem: pki.frontProxyCa.certPem, clientCertPem: pki.frontProxyClient.certPem, clientKeyPem: pki.frontProxyClient.keyPem },
    api,
    async stop() {
      garbageCollector.stop();
      namespaceController.stop();
      for (const socket of sockets) socket.destroy();
      await Promise.all([close(tlsServer), close(httpServer)]);
    },
  };
}
