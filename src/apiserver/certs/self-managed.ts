// The serving certificate without cert-manager: a CA and a serving
// certificate kept in one Secret that every replica reads and whichever
// replica comes first creates or renews (resourceVersion decides races), and
// the APIService's caBundle kept equal to that CA, so the aggregator trusts
// whatever certificate a replica serves.
import { createPrivateKey, X509Certificate } from "node:crypto";
import type { Clock } from "../../clock.ts";
import type { Logger } from "../../observability/log.ts";
import { issueCertificate, type CertificatePair } from "../../tls/self-signed.ts";

const DAY_MS = 86_400_000;

/** How long what is issued lasts, and how long before its end it is replaced. */
export interface CertificateLifetimes {
  caValidDays: number;
  caRenewBeforeDays: number;
  servingValidDays: number;
  servingRenewBeforeDays: number;
}

export const DEFAULT_LIFETIMES: CertificateLifetimes = { caValidDays: 3650, caRenewBeforeDays: 365, servingValidDays: 365, servingRenewBeforeDays: 90 };

/** Secret keys: tls.crt and tls.key as kubernetes.io/tls has them; ca.crt may hold a previous CA after the current one. */
export const SECRET_KEYS = { cert: "tls.crt", key: "tls.key", caCert: "ca.crt", caKey: "ca.key" } as const;

export interface SecretObject {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string; labels?: Record<string, string> };
  type?: string;
  data?: Record<string, string>;
}

export interface APIServiceObject {
  metadata?: { name?: string };
  spec?: { service?: { name?: string; namespace?: string }; caBundle?: string };
}

/** The Kubernetes API calls this needs (KubeRestClient implements them). */
export interface ServingCertificateApi {
  getAPIService(name: string): Promise<APIServiceObject | undefined>;
  /** Sets spec.caBundle (base64 of PEM). */
  patchAPIServiceCABundle(name: string, caBundle: string): Promise<void>;
  getSecret(namespace: string, name: string): Promise<SecretObject | undefined>;
  /** "AlreadyExists" when another replica created it first. */
  createSecret(namespace: string, secret: SecretObject): Promise<SecretObject | "AlreadyExists">;
  /** "Conflict" when it changed since it was read (metadata.resourceVersion). */
  updateSecret(namespace: string, secret: SecretObject): Promise<SecretObject | "Conflict">;
}

export interface ServingCertificateOptions {
  api: ServingCertificateApi;
  apiServiceName: string;
  secretName: string;
  clock: Clock;
  lifetimes?: CertificateLifetimes;
}

export interface ServingCertificateState {
  serving: CertificatePair;
  /** PEM: the CA, and a previous CA while certificates it signed may still be served. */
  caBundle: string;
  /** namespace/name of the Secret. */
  secret: string;
}

interface StoredCertificates {
  ca: CertificatePair;
  /** Every CA certificate in ca.crt, the current one first. */
  caBundle: string[];
  serving: CertificatePair;
}

const decode = (data: Record<string, string> | undefined, key: string): string | undefined => (data?.[key] === undefined ? undefined : Buffer.from(data[key]!, "base64").toString("utf8"));
const encode = (text: string) => Buffer.from(text, "utf8").toString("base64");
const splitPem = (bundle: string): string[] => bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g)?.map((p) => (p.endsWith("\n") ? p : `${p}\n`)) ?? [];

/** What the Secret holds, or why it cannot be used as it is. */
function readSecret(secret: SecretObject): StoredCertificates | { problem: string } {
  const [cert, key, caCert, caKey] = [SECRET_KEYS.cert, SECRET_KEYS.key, SECRET_KEYS.caCert, SECRET_KEYS.caKey].map((k) => decode(secret.data, k));
  const missing = Object.values(SECRET_KEYS).filter((_, i) => [cert, key, caCert, caKey][i] === undefined);
  if (missing.length) return { problem: `it lacks ${missing.join(", ")}` };
  const caBundle = splitPem(caCert!);
  try {
    const ca = new X509Certificate(caBundle[0] ?? "");
    const serving = new X509Certificate(cert!);
    if (!ca.checkPrivateKey(createPrivateKey(caKey!))) return { problem: `${SECRET_KEYS.caKey} does not belong to the first certificate of ${SECRET_KEYS.caCert}` };
    if (!serving.checkPrivateKey(createPrivateKey(key!))) return { problem: `${SECRET_KEYS.key} does not belong to ${SECRET_KEYS.cert}` };
    if (!serving.verify(ca.publicKey)) return { problem: `${SECRET_KEYS.cert} is not signed by the CA` };
  } catch (e) {
    return { problem: `a certificate or key cannot be parsed: ${(e as Error).message}` };
  }
  return { ca: { cert: caBundle[0]!, key: caKey! }, caBundle, serving: { cert: cert!, key: key! } };
}

const endsWithin = (pem: string, nowMs: number, days: number) => Date.parse(new X509Certificate(pem).validTo) - nowMs < days * DAY_MS;
const expired = (pem: string, nowMs: number) => Date.parse(new X509Certificate(pem).validTo) <= nowMs;

/** What to store instead of `current` (undefined: keep it), and why. */
function renewal(current: StoredCertificates | { problem: string } | undefined, host: string, nowMs: number, life: CertificateLifetimes): { next: StoredCertificates; why: string } | undefined {
  const now = new Date(nowMs);
  const newCa = () => issueCertificate({ hosts: [], commonName: `device-mounter-ca@${Math.floor(nowMs / 1000)}`, isCA: true, now, validDays: life.caValidDays });
  const serve = (ca: CertificatePair) => issueCertificate({ hosts: [host], commonName: host, isCA: false, issuer: ca, now, validDays: life.servingValidDays });
  if (current === undefined || "problem" in current) {
    const ca = newCa();
    return { next: { ca, caBundle: [ca.cert], serving: serve(ca) }, why: current ? `the Secret cannot be used: ${current.problem}` : "no Secret yet" };
  }
  if (endsWithin(current.ca.cert, nowMs, life.caRenewBeforeDays)) {
    // The old CA stays in the bundle while certificates it signed may still be served.
    const ca = newCa();
    const previous = current.caBundle.filter((pem) => !expired(pem, nowMs));
    return { next: { ca, caBundle: [ca.cert, ...previous], serving: serve(ca) }, why: "the CA is about to expire" };
  }
  const live = current.caBundle.filter((pem, i) => i === 0 || !expired(pem, nowMs));
  if (endsWithin(current.serving.cert, nowMs, life.servingRenewBeforeDays)) return { next: { ...current, caBundle: live, serving: serve(current.ca) }, why: "the serving certificate is about to expire" };
  if (new X509Certificate(current.serving.cert).checkHost(host) === undefined) return { next: { ...current, caBundle: live, serving: serve(current.ca) }, why: `the serving certificate is not for ${host}` };
  if (live.length < current.caBundle.length) return { next: { ...current, caBundle: live }, why: "a previous CA has expired" };
  return undefined;
}

function secretData(stored: StoredCertificates): Record<string, string> {
  return {
    [SECRET_KEYS.cert]: encode(stored.serving.cert),
    [SECRET_KEYS.key]: encode(stored.serving.key),
    [SECRET_KEYS.caCert]: encode(stored.caBundle.join("")),
    [SECRET_KEYS.caKey]: encode(stored.ca.key),
  };
}

/** Races with other replicas are retried this often before the sync gives up until next time. */
const MAX_ATTEMPTS = 5;

/**
 * One sync: reads the APIService (for the Service's DNS name) and the
 * Secret, creates or renews what is missing or about to expire, and makes
 * the APIService's caBundle the Secret's CA bundle. Returns what to serve.
 * Throws, naming the object, when the API refuses or the APIService is absent.
 */
export async function syncServingCertificate(options: ServingCertificateOptions): Promise<ServingCertificateState & { renewed?: string }> {
  const { api, apiServiceName, secretName, clock } = options;
  const life = options.lifetimes ?? DEFAULT_LIFETIMES;
  const apiService = await api.getAPIService(apiServiceName);
  if (!apiService) throw new Error(`APIService ${apiServiceName} does not exist: apply deploy/ (it names the Service whose certificate is managed)`);
  const service = apiService.spec?.service;
  if (!service?.name || !service.namespace) throw new Error(`APIService ${apiServiceName} has no spec.service: it must point at the apiserver's Service`);
  const host = `${service.name}.${service.namespace}.svc`;
  const where = `${service.namespace}/${secretName}`;

  let stored: StoredCertificates | undefined;
  let renewed: string | undefined;
  for (let attempt = 0; attempt < MAX_ATTEMPTS && !stored; attempt++) {
    const secret = await api.getSecret(service.namespace, secretName);
    const current = secret ? readSecret(secret) : undefined;
    const plan = renewal(current, host, clock.now(), life);
    if (!plan) {
      stored = current as StoredCertificates;
      break;
    }
    const body: SecretObject = {
      metadata: { name: secretName, namespace: service.namespace, labels: { "app.kubernetes.io/part-of": "device-mounter" }, ...(secret?.metadata?.resourceVersion ? { resourceVersion: secret.metadata.resourceVersion } : {}) },
      type: "kubernetes.io/tls",
      data: secretData(plan.next),
    };
    const written = secret ? await api.updateSecret(service.namespace, body) : await api.createSecret(service.namespace, body);
    // Another replica wrote first: read what it wrote.
    if (written === "Conflict" || written === "AlreadyExists") continue;
    stored = plan.next;
    renewed = plan.why;
  }
  if (!stored) throw new Error(`Secret ${where} kept changing under ${MAX_ATTEMPTS} attempts to write it`);

  const caBundle = stored.caBundle.join("");
  if (apiService.spec?.caBundle !== encode(caBundle)) await api.patchAPIServiceCABundle(apiServiceName, encode(caBundle));
  return { serving: stored.serving, caBundle, secret: where, ...(renewed ? { renewed } : {}) };
}

export interface KeeperOptions extends ServingCertificateOptions {
  /** How often the Secret and the APIService are checked once in step. */
  intervalMs: number;
  /** How soon a failed sync is retried. */
  retryMs: number;
  logger: Logger;
}

/**
 * Syncs now and then every intervalMs (failures sooner), handing each new
 * serving certificate to the server. Until the first sync succeeds the
 * server has only a temporary certificate the aggregator does not trust,
 * which problem() reports for readiness.
 */
export class ServingCertificateKeeper {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;
  private served: string | undefined;
  private lastProblem = "the serving certificate has not been synced yet";

  constructor(private readonly options: KeeperOptions) {}

  /** undefined once the Secret's certificate is served; else why not. */
  problem(): string | undefined {
    return this.served === undefined ? this.lastProblem : undefined;
  }

  start(serve: (pair: CertificatePair) => void): void {
    const { logger } = this.options;
    const tick = async () => {
      let delay = this.options.intervalMs;
      try {
        const state = await syncServingCertificate(this.options);
        if (state.renewed) logger.info("wrote a new serving certificate", { secret: state.secret, why: state.renewed });
        if (state.serving.cert !== this.served) {
          serve(state.serving);
          logger.info("serving the certificate from the Secret", { secret: state.secret, apiService: this.options.apiServiceName, validTo: new X509Certificate(state.serving.cert).validTo });
          this.served = state.serving.cert;
        }
      } catch (e) {
        this.lastProblem = `cannot sync the serving certificate: ${(e as Error).message}`;
        logger.warn(this.served ? "cannot sync the serving certificate; still serving the current one" : "cannot sync the serving certificate; retrying", { error: e });
        delay = Math.min(this.options.retryMs, this.options.intervalMs);
      }
      if (!this.stopped) this.timer = setTimeout(tick, delay);
    };
    void tick();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }
}
