// The self-managed serving certificate: one Secret shared by the replicas
// (created once even when they race), renewed before it ends, the CA rolled
// over with the old one still trusted, and the APIService's caBundle kept
// equal to it, so a client that trusts the caBundle accepts what is served.
import { afterEach, describe, expect, test } from "bun:test";
import { X509Certificate } from "node:crypto";
import { connect } from "node:tls";
import { ServingCertificateKeeper, syncServingCertificate, type APIServiceObject, type SecretObject, type ServingCertificateApi } from "../../src/apiserver/certs/self-managed.ts";
import { startSecureServer, type SecureServer } from "../../src/http/https-server.ts";
import { silentLogger } from "../../src/observability/log.ts";
import { selfSignedCertificate } from "../../src/tls/self-signed.ts";
import { FakeClock } from "./support/fakes.ts";

const DAY = 86_400_000;
const HOST = "device-mounter-apiserver.device-mounter.svc";
const APISERVICE = "v1alpha1.device-mounter.io";
const SECRET = "device-mounter-apiserver-serving-cert";

/** Secrets with resourceVersions (409 on stale writes) and one APIService, as the Kubernetes API keeps them. */
class MemoryApi implements ServingCertificateApi {
  secrets = new Map<string, SecretObject>();
  apiService: APIServiceObject | undefined = { metadata: { name: APISERVICE }, spec: { service: { name: "device-mounter-apiserver", namespace: "device-mounter" } } };
  writes: string[] = [];
  /** Writes refused because another writer came first. */
  refused = 0;
  patches: string[] = [];
  private version = 1;

  async getAPIService(name: string) {
    return name === this.apiService?.metadata?.name ? structuredClone(this.apiService) : undefined;
  }
  async patchAPIServiceCABundle(name: string, caBundle: string) {
    if (name !== this.apiService?.metadata?.name) throw new Error(`apiservices "${name}" not found`);
    this.patches.push(caBundle);
    this.apiService.spec = { ...this.apiService.spec, caBundle };
  }
  async getSecret(namespace: string, name: string) {
    const secret = this.secrets.get(`${namespace}/${name}`);
    return secret ? structuredClone(secret) : undefined;
  }
  async createSecret(namespace: string, secret: SecretObject) {
    const key = `${namespace}/${secret.metadata!.name}`;
    if (this.secrets.has(key)) return this.refuse("AlreadyExists");
    return this.store(key, secret, "create");
  }
  async updateSecret(namespace: string, secret: SecretObject) {
    const key = `${namespace}/${secret.metadata!.name}`;
    if (this.secrets.get(key)?.metadata?.resourceVersion !== secret.metadata?.resourceVersion) return this.refuse("Conflict");
    return this.store(key, secret, "update");
  }
  private refuse<T>(answer: T): T {
    this.refused++;
    return answer;
  }
  private store(key: string, secret: SecretObject, verb: string) {
    const stored = { ...structuredClone(secret), metadata: { ...secret.metadata, resourceVersion: String(++this.version) } };
    this.secrets.set(key, stored);
    this.writes.push(verb);
    return structuredClone(stored);
  }
  secretText(key: string): string {
    return Buffer.from(this.secrets.get(`device-mounter/${SECRET}`)!.data![key]!, "base64").toString("utf8");
  }
  caBundle(): string {
    return Buffer.from(this.apiService!.spec!.caBundle!, "base64").toString("utf8");
  }
}

const certificatesIn = (bundle: string) => bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)!.map((pem) => new X509Certificate(pem));
/** Whether `cert` chains to one of the bundle's CAs and is for `host`, as a TLS client would check. */
const trustedFor = (bundle: string, cert: string, host: string) => {
  const leaf = new X509Certificate(cert);
  return leaf.checkHost(host) === host && certificatesIn(bundle).some((ca) => ca.ca && leaf.checkIssued(ca) && leaf.verify(ca.publicKey));
};

const sync = (api: MemoryApi, clock: FakeClock) => syncServingCertificate({ api, apiServiceName: APISERVICE, secretName: SECRET, clock });

describe("syncServingCertificate", () => {
  test("the first sync creates the Secret and sets the APIService's caBundle to its CA", async () => {
    const api = new MemoryApi();
    const state = await sync(api, new FakeClock());
    expect(state).toMatchObject({ secret: `device-mounter/${SECRET}`, renewed: "no Secret yet" });
    expect(api.writes).toEqual(["create"]);
    const secret = api.secrets.get(`device-mounter/${SECRET}`)!;
    expect(secret.type).toBe("kubernetes.io/tls");
    expect(Object.keys(secret.data!).sort()).toEqual(["ca.crt", "ca.key", "tls.crt", "tls.key"]);
    expect(api.secretText("tls.crt")).toBe(state.serving.cert);
    expect(api.caBundle()).toBe(api.secretText("ca.crt"));
    expect(trustedFor(api.caBundle(), state.serving.cert, HOST)).toBe(true);
    const leaf = new X509Certificate(state.serving.cert);
    expect(leaf.ca).toBe(false);
    expect(leaf.checkHost("other.device-mounter.svc")).toBeUndefined();
  });

  test("a second replica serves the same certificate and writes nothing", async () => {
    const api = new MemoryApi();
    const clock = new FakeClock();
    const first = await sync(api, clock);
    const second = await sync(api, clock);
    expect(second.serving).toEqual(first.serving);
    expect(second.renewed).toBeUndefined();
    expect(api.writes).toEqual(["create"]);
    expect(api.patches).toHaveLength(1);
  });

  test("replicas starting together create one Secret and serve the same certificate", async () => {
    const api = new MemoryApi();
    const clock = new FakeClock();
    const states = await Promise.all([sync(api, clock), sync(api, clock), sync(api, clock)]);
    expect(api.writes).toEqual(["create"]);
    expect(api.refused).toBe(2);
    expect(new Set(states.map((s) => s.serving.cert)).size).toBe(1);
    expect(trustedFor(api.caBundle(), states[0]!.serving.cert, HOST)).toBe(true);
  });

  test("the serving certificate is renewed 90 days before it ends, from the same CA, without touching the caBundle", async () => {
    const api = new MemoryApi();
    const clock = new FakeClock();
    const first = await sync(api, clock);
    clock.advance(270 * DAY);
    expect((await sync(api, clock)).serving).toEqual(first.serving);
    clock.advance(10 * DAY);
    const renewed = await sync(api, clock);
    expect(renewed.renewed).toBe("the serving certificate is about to expire");
    expect(api.refused).toBe(0);
    expect(renewed.serving.cert).not.toBe(first.serving.cert);
    expect(api.writes).toEqual(["create", "update"]);
    expect(api.patches).toHaveLength(1);
    expect(trustedFor(api.caBundle(), renewed.serving.cert, HOST)).toBe(true);
  });

  test("replicas renewing together write once; the loser serves the winner's certificate", async () => {
    const api = new MemoryApi();
    const clock = new FakeClock();
    await sync(api, clock);
    clock.advance(300 * DAY);
    const states = await Promise.all([sync(api, clock), sync(api, clock)]);
    expect(api.writes).toEqual(["create", "update"]);
    expect(api.refused).toBe(1);
    expect(states[0]!.serving).toEqual(states[1]!.serving);
    expect(api.secretText("tls.crt")).toBe(states[0]!.serving.cert);
  });

  test("a CA about to end is replaced, and the old one stays trusted until it has ended", async () => {
    const api = new MemoryApi();
    const clock = new FakeClock();
    const first = await sync(api, clock);
    const oldCa = api.secretText("ca.crt");
    clock.advance(3300 * DAY);
    const rolled = await sync(api, clock);
    expect(rolled.renewed).toBe("the CA is about to expire");
    const bundle = certificatesIn(api.caBundle());
    expect(bundle).toHaveLength(2);
    expect(bundle[1]!.toString()).toBe(new X509Certificate(oldCa).toString());
    // A replica still serving a certificate of the old CA stays trusted, and so does the new one.
    expect(trustedFor(api.caBundle(), first.serving.cert, HOST)).toBe(true);
    expect(trustedFor(api.caBundle(), rolled.serving.cert, HOST)).toBe(true);
    expect(new X509Certificate(rolled.serving.cert).checkIssued(bundle[0]!)).toBe(true);

    clock.advance(400 * DAY);
    const pruned = await sync(api, clock);
    expect(certificatesIn(api.caBundle())).toHaveLength(1);
    expect(trustedFor(api.caBundle(), pruned.serving.cert, HOST)).toBe(true);
  });

  test("a Secret whose key does not match is replaced, and says why", async () => {
    const api = new MemoryApi();
    const clock = new FakeClock();
    await sync(api, clock);
    const secret = api.secrets.get(`device-mounter/${SECRET}`)!;
    secret.data!["tls.key"] = Buffer.from(selfSignedCertificate(["x"]).key).toString("base64");
    const fixed = await sync(api, clock);
    expect(fixed.renewed).toBe("the Secret cannot be used: tls.key does not belong to tls.crt");
    expect(trustedFor(api.caBundle(), fixed.serving.cert, HOST)).toBe(true);
  });

  test("a Service renamed in the APIService gets a certificate for its new name", async () => {
    const api = new MemoryApi();
    const clock = new FakeClock();
    await sync(api, clock);
    api.apiService!.spec!.service = { name: "dm", namespace: "device-mounter" };
    const state = await sync(api, clock);
    expect(state.renewed).toBe(`the serving certificate is not for dm.device-mounter.svc`);
    expect(trustedFor(api.caBundle(), state.serving.cert, "dm.device-mounter.svc")).toBe(true);
  });

  test("a missing APIService is an error that says what to apply", async () => {
    const api = new MemoryApi();
    api.apiService = undefined;
    await expect(sync(api, new FakeClock())).rejects.toThrow(`APIService ${APISERVICE} does not exist: apply deploy/`);
    expect(api.writes).toEqual([]);
  });
});

describe("ServingCertificateKeeper", () => {
  let server: SecureServer | undefined;
  let keeper: ServingCertificateKeeper | undefined;
  afterEach(async () => {
    keeper?.stop();
    await server?.shutdown(1000);
    server = keeper = undefined;
  });

  /** A TLS handshake as the aggregator makes it: trusting only the caBundle, checking the Service's name. */
  const handshake = (port: number, ca: string) =>
    new Promise<{ authorized: boolean; error?: string }>((resolve) => {
      const socket = connect({ host: "127.0.0.1", port, ca, servername: HOST, rejectUnauthorized: false }, () => {
        resolve({ authorized: socket.authorized, ...(socket.authorizationError ? { error: String(socket.authorizationError) } : {}) });
        socket.end();
      });
      socket.on("error", (e) => resolve({ authorized: false, error: e.message }));
    });

  test("the server is trusted through the APIService's caBundle once synced; readiness says why not before", async () => {
    const api = new MemoryApi();
    api.apiService = undefined;
    keeper = new ServingCertificateKeeper({ api, apiServiceName: APISERVICE, secretName: SECRET, clock: new FakeClock(), intervalMs: 60_000, retryMs: 20, logger: silentLogger });
    expect(keeper.problem()).toBe("the serving certificate has not been synced yet");
    server = await startSecureServer({ fetch: () => new Response("ok"), host: "127.0.0.1", port: 0, certificate: selfSignedCertificate(["localhost"]), logger: silentLogger, component: "apiserver" });
    const served: string[] = [];
    keeper.start((pair) => {
      served.push(pair.cert);
      server!.setCertificate(pair);
    });
    const deadline = Date.now() + 5000;
    while (!keeper.problem()?.includes("does not exist") && Date.now() < deadline) await Bun.sleep(5);
    expect(keeper.problem()).toStartWith(`cannot sync the serving certificate: APIService ${APISERVICE} does not exist`);

    // The APIService appears (kubectl apply ordered it after the Deployment): the retry picks it up.
    api.apiService = new MemoryApi().apiService;
    while (keeper.problem() !== undefined && Date.now() < deadline) await Bun.sleep(5);
    expect(keeper.problem()).toBeUndefined();
    expect(served).toHaveLength(1);
    expect(await handshake(server.port, api.caBundle())).toEqual({ authorized: true });
    expect((await handshake(server.port, selfSignedCertificate(["localhost"]).cert)).authorized).toBe(false);
  });
});
