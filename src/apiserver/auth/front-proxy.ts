// Front-proxy (request header) authentication as an aggregated API server
// does it (k8s.io/apiserver/pkg/authentication/request/headerrequest): the
// kube-apiserver proxies a request with a client certificate signed by the
// requestheader CA, and names the user in headers. The headers are trusted
// only when that certificate verifies; everything here is pure so that it
// can be tested with certificates made on the spot.
import type { X509Certificate } from "node:crypto";
import type { UserInfo } from "../../api/user.ts";

export interface RequestHeaderConfig {
  /** requestheader-client-ca-file: the CAs that sign front-proxy client certificates. */
  clientCA: readonly X509Certificate[];
  /** requestheader-allowed-names: accepted certificate common names; empty accepts any. */
  allowedNames: readonly string[];
  usernameHeaders: readonly string[];
  uidHeaders: readonly string[];
  groupHeaders: readonly string[];
  extraHeaderPrefixes: readonly string[];
}

export type CertificateVerdict = { ok: true; commonName: string } | { ok: false; reason: string };

const CLIENT_AUTH = "1.3.6.1.5.5.7.3.2";
const ANY_EXTENDED_KEY_USAGE = "2.5.29.37.0";
const MAX_CHAIN_LENGTH = 8;

/** The last CN in the subject, as Go's pkix.Name.CommonName. */
export function commonNameOf(cert: X509Certificate): string {
  let cn = "";
  for (const line of cert.subject.split("\n")) if (line.startsWith("CN=")) cn = line.slice(3);
  return cn;
}

const signedBy = (child: X509Certificate, parent: X509Certificate): boolean => {
  try {
    return child.checkIssued(parent) && child.verify(parent.publicKey);
  } catch {
    return false;
  }
};

function validityProblem(cert: X509Certificate, now: Date): string | undefined {
  const from = new Date(cert.validFrom);
  const to = new Date(cert.validTo);
  if (now < from) return `certificate "${commonNameOf(cert)}" is not valid before ${from.toISOString()}`;
  if (now > to) return `certificate "${commonNameOf(cert)}" expired at ${to.toISOString()}`;
  return undefined;
}

/** Extended key usage, when present, must allow client authentication (checked along the chain, as Go does). */
const allowsClientAuth = (cert: X509Certificate): boolean => {
  const usages = cert.keyUsage;
  return usages === undefined || usages.length === 0 || usages.includes(CLIENT_AUTH) || usages.includes(ANY_EXTENDED_KEY_USAGE);
};

/** A path from the leaf through presented intermediates to one of the roots, or undefined. */
function buildChain(leaf: X509Certificate, intermediates: readonly X509Certificate[], roots: readonly X509Certificate[]): X509Certificate[] | undefined {
  const extend = (path: X509Certificate[]): X509Certificate[] | undefined => {
    const last = path[path.length - 1]!;
    const root = roots.find((r) => signedBy(last, r));
    if (root) return [...path, root];
    if (path.length >= MAX_CHAIN_LENGTH) return undefined;
    for (const candidate of intermediates) {
      if (path.includes(candidate) || !candidate.ca || !signedBy(last, candidate)) continue;
      const found = extend([...path, candidate]);
      if (found) return found;
    }
    return undefined;
  };
  return extend([leaf]);
}

/**
 * Verifies a presented client certificate chain (leaf first) against the
 * requestheader CA and allowed names at time `now`.
 */
export function verifyFrontProxyCertificate(
  presented: readonly X509Certificate[],
  config: Pick<RequestHeaderConfig, "clientCA" | "allowedNames">,
  now: Date,
): CertificateVerdict {
  const [leaf, ...intermediates] = presented;
  if (!leaf) return { ok: false, reason: "no client certificate was presented" };
  const chain = buildChain(leaf, intermediates, config.clientCA);
  if (!chain) return { ok: false, reason: `client certificate "${commonNameOf(leaf)}" is not signed by the requestheader client CA (x509: certificate signed by unknown authority)` };
  for (const cert of chain) {
    const problem = validityProblem(cert, now);
    if (problem) return { ok: false, reason: problem };
  }
  if (!chain.every(allowsClientAuth)) return { ok: false, reason: `client certificate "${commonNameOf(leaf)}" is not allowed for client authentication (extended key usage)` };
  const commonName = commonNameOf(leaf);
  if (config.allowedNames.length > 0 && !config.allowedNames.includes(commonName)) {
    return { ok: false, reason: `client certificate common name "${commonName}" is not one of the requestheader-allowed-names [${config.allowedNames.join(", ")}]` };
  }
  return { ok: true, commonName };
}

/** Request headers as received: every value of a repeated header stays separate. */
export interface HeaderAccess {
  /** All values of a header (case-insensitive name), in order. */
  values(name: string): string[];
  /** Lower-cased names of all headers present. */
  names(): string[];
  delete(name: string): void;
}

const firstNonEmpty = (headers: HeaderAccess, names: readonly string[]): string => {
  for (const name of names) {
    const value = headers.values(name)[0];
    if (value) return value;
  }
  return "";
};

/** Go's url.PathUnescape, keeping the raw key when it is not valid %-encoding. */
function unescapeExtraKey(encoded: string): string {
  try {
    return decodeURIComponent(encoded);
  } catch {
    return encoded;
  }
}

/** The user named by the request headers, or undefined when no username header is set. */
export function userFromRequestHeaders(headers: HeaderAccess, config: RequestHeaderConfig): UserInfo | undefined {
  const username = firstNonEmpty(headers, config.usernameHeaders);
  if (!username) return undefined;
  const groups = config.groupHeaders.flatMap((name) => headers.values(name).filter((g) => g.length > 0));
  const extra: Record<string, string[]> = {};
  const prefixes = config.extraHeaderPrefixes.map((p) => p.toLowerCase());
  for (const name of headers.names()) {
    const prefix = prefixes.find((p) => name.startsWith(p));
    if (prefix === undefined) continue;
    const key = unescapeExtraKey(name.slice(prefix.length).toLowerCase());
    (extra[key] ??= []).push(...headers.values(name));
  }
  const uid = firstNonEmpty(headers, config.uidHeaders);
  return { username, ...(uid ? { uid } : {}), groups, extra };
}

/** The kube-apiserver's defaults, also removed when no configuration is loaded yet. */
export const DEFAULT_REQUEST_HEADERS = {
  usernameHeaders: ["x-remote-user"],
  uidHeaders: ["x-remote-uid"],
  groupHeaders: ["x-remote-group"],
  extraHeaderPrefixes: ["x-remote-extra-"],
} as const;

/** Removes every identity header, so that nothing after authentication can read a spoofed one. */
export function removeRequestHeaders(headers: HeaderAccess, config: RequestHeaderConfig | undefined): void {
  const exact = new Set(
    [...DEFAULT_REQUEST_HEADERS.usernameHeaders, ...DEFAULT_REQUEST_HEADERS.uidHeaders, ...DEFAULT_REQUEST_HEADERS.groupHeaders, ...(config?.usernameHeaders ?? []), ...(config?.uidHeaders ?? []), ...(config?.groupHeaders ?? [])].map(
      (h) => h.toLowerCase(),
    ),
  );
  const prefixes = [...DEFAULT_REQUEST_HEADERS.extraHeaderPrefixes, ...(config?.extraHeaderPrefixes ?? [])].map((p) => p.toLowerCase());
  for (const name of headers.names()) if (exact.has(name) || prefixes.some((p) => name.startsWith(p))) headers.delete(name);
}
