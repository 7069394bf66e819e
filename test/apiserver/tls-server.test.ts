// The real TLS server: front-proxy client certificates as the kube-apiserver
// aggregator presents them, repeated identity headers, certificate rotation
// and draining on shutdown.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connect } from "node:tls";
import type { AgentMountRequest } from "../../src/api/agent.ts";
import type { RequestHeaderConfig } from "../../src/apiserver/auth/front-proxy.ts";
import { silentLogger } from "../../src/observability/log.ts";
import { startSecureServer, type SecureServer } from "../../src/http/https-server.ts";
import { selfSignedCertificate, type CertificatePair } from "../../src/tls/self-signed.ts";
import { CertFactory, type Issued } from "./support/certs.ts";
import { ALICE_TOKEN, GPU_BODY, mountResponse, ScriptedAgentCaller, standardKube, testApp } from "./support/fakes.ts";
import { httpsCall } from "./support/https-client.ts";

let certs: CertFactory;
let proxyCA: Issued;
let proxyClient: Issued;
let strangerClient: Issued;
let wrongName: Issued;
let serving: CertificatePair;
let server: SecureServer;
let caller: ScriptedAgentCaller;
let release: () => void = () => {};
/** Resolves when a held mount reached the agent. */
let holding: Promise<void>;
let reachedHold: () => void = () => {};

const MOUNT = "/apis/device-mounter.io/v1alpha1/namespaces/team/pods/trainer/mount?device_type=NVIDIA_GPU";

beforeAll(async () => {
  certs = new CertFactory();
  proxyCA = certs.rootCA("front-proxy-ca");
  proxyClient = certs.leaf("front-proxy-client", proxyCA, { cn: "front-proxy-client" });
  strangerClient = certs.leaf("stranger", certs.rootCA("stranger-ca"), { cn: "front-proxy-client" });
  wrongName = certs.leaf("wrong-name", proxyCA, { cn: "someone-else" });
  serving = selfSignedCertificate(["localhost", "127.0.0.1"]);
  const config: RequestHeaderConfig = {
    clientCA: [proxyCA.x509],
    allowedNames: ["front-proxy-client"],
    usernameHeaders: ["X-Remote-User"],
    uidHeaders: [],
    groupHeaders: ["X-Remote-Group"],
    extraHeaderPrefixes: ["X-Remote-Extra-"],
  };
  const kube = standardKube().allow("group:team-devs", "update", "device-mounter.io/pods/mount", "team").allow("group:team-devs", "create", "/pods", "team");
  // A container named "hold" keeps its mount running until release() is called.
  caller = new ScriptedAgentCaller(async (r) => {
    if ((r as AgentMountRequest).container === "hold") {
      const held = new Promise<void>((resolve) => (release = resolve));
      reachedHold();
      await held;
    }
    return mountResponse(r as AgentMountRequest);
  });
  const { app } = testApp({ kube, caller, requestHeaderConfig: () => config });
  server = await startSecureServer({ fetch: (request, connection) => app.fetch(request, connection), host: "127.0.0.1", port: 0, certificate: serving, logger: silentLogger, requestClientCertificates: true, component: "apiserver" });
});
afterAll(async () => {
  release();
  await server?.shutdown(1000);
  certs?.remove();
});

const mountAs = (client: Issued | undefined, headers: Array<[string, string]>, path = MOUNT) =>
  httpsCall({ port: server.port, path, method: "PUT", headers: [["content-type", "application/json"], ...headers], body: JSON.stringify(GPU_BODY), ca: serving.cert, ...(client ? { cert: client.cert, key: client.key } : {}) });

describe("front-proxy authentication over TLS", () => {
  test("a certificate from the requestheader CA with an allowed name: the headers name the caller, every group value counts", async () => {
    const before = caller.calls.length;
    // The group that grants access comes as the second header line; merged into one value it would not match.
    const answer = await mountAs(proxyClient, [
      ["X-Remote-User", "bob"],
      ["X-Remote-Group", "qa, ops"],
      ["X-Remote-Group", "team-devs"],
    ]);
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body).kind).toBe("MountResult");
    expect((caller.calls[before]?.request as AgentMountRequest).user).toBe("bob");
  });

  test("a certificate from another CA → 401", async () => {
    const answer = await mountAs(strangerClient, [["X-Remote-User", "bob"], ["X-Remote-Group", "team-devs"]]);
    expect(answer.status).toBe(401);
    expect(JSON.parse(answer.body).message).toContain("is not signed by the requestheader client CA");
  });

  test("a common name not in requestheader-allowed-names → 401", async () => {
    const answer = await mountAs(wrongName, [["X-Remote-User", "bob"], ["X-Remote-Group", "team-devs"]]);
    expect(answer.status).toBe(401);
    expect(JSON.parse(answer.body).message).toContain('client certificate common name "someone-else" is not one of the requestheader-allowed-names [front-proxy-client]');
  });

  test("no certificate and spoofed headers → 401", async () => {
    const answer = await mountAs(undefined, [["X-Remote-User", "system:admin"], ["X-Remote-Group", "system:masters"]]);
    expect(answer.status).toBe(401);
    expect(JSON.parse(answer.body)).toMatchObject({ kind: "Status", reason: "Unauthorized", code: 401 });
  });

  test("a bearer token works without a certificate", async () => {
    const answer = await mountAs(undefined, [["Authorization", `Bearer ${ALICE_TOKEN}`]]);
    expect(answer.status).toBe(200);
  });
});

const servedCertificate = (port: number) =>
  new Promise<string>((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port, rejectUnauthorized: false, servername: "localhost" }, () => {
      resolve(socket.getPeerCertificate().fingerprint256);
      socket.end();
    });
    socket.on("error", reject);
  });

describe("serving", () => {
  test("a new certificate is served to new connections without a restart", async () => {
    const { X509Certificate } = await import("node:crypto");
    const before = await servedCertificate(server.port);
    expect(before).toBe(new X509Certificate(serving.cert).fingerprint256);
    const next = selfSignedCertificate(["localhost"]);
    server.setCertificate(next);
    expect(await servedCertificate(server.port)).toBe(new X509Certificate(next.cert).fingerprint256);
    server.setCertificate(serving);
  });

  test("shutdown lets a running mount finish, refuses new connections, and reports drained", async () => {
    holding = new Promise((resolve) => (reachedHold = resolve));
    const running = mountAs(undefined, [["Authorization", `Bearer ${ALICE_TOKEN}`]], `${MOUNT}&container=hold`);
    await holding;
    expect(server.inflight()).toBe(1);
    const stopping = server.shutdown(5000);
    await expect(mountAs(undefined, [["Authorization", `Bearer ${ALICE_TOKEN}`]])).rejects.toThrow();
    release();
    const answer = await running;
    expect(answer.status).toBe(200);
    expect(answer.headers.connection).toBe("close");
    expect(await stopping).toEqual({ drained: true });
  });
});

describe("shutdown deadline", () => {
  test("requests still running at the deadline are cut off", async () => {
    let reached!: () => void;
    const reachedAgent = new Promise<void>((resolve) => (reached = resolve));
    const hanging = new ScriptedAgentCaller(() => {
      reached();
      return new Promise(() => {});
    });
    const { app } = testApp({ caller: hanging });
    const local = await startSecureServer({ fetch: (r, c) => app.fetch(r, c), host: "127.0.0.1", port: 0, certificate: serving, logger: silentLogger, requestClientCertificates: true, component: "apiserver" });
    const running = httpsCall({ port: local.port, path: MOUNT, method: "PUT", headers: [["content-type", "application/json"], ["Authorization", `Bearer ${ALICE_TOKEN}`]], body: JSON.stringify(GPU_BODY), ca: serving.cert });
    await reachedAgent;
    expect(await local.shutdown(100)).toEqual({ drained: false });
    await expect(running).rejects.toThrow();
  });
});
