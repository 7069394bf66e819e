// `device-mounter apiserver` flags: parsed, then validated with every
// problem reported at once (as k8s.io/apiserver options do), giving typed
// options that completion (config.ts) turns into a runnable configuration.
import { isIP } from "node:net";
import { FlagValidator, flagUsage, parseDuration, parseFlags, type FlagTable, type ParsedFlags } from "../cli/flags.ts";
import { REQUEST_HEADER_FLAG_DEFAULTS, type RequestHeaderFlags } from "./auth/request-header-config.ts";
import { dns1123LabelProblems, dns1123SubdomainProblems, labelValueProblems, qualifiedNameProblems } from "../api/k8s-names.ts";

export const DEFAULT_AGENT_TOKEN_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/token";

export interface ApiserverOptions {
  securePort: number;
  bindAddress: string;
  tlsCertFile?: string;
  tlsPrivateKeyFile?: string;
  /** Set when --apiservice and --serving-cert-secret are given (instead of --tls-cert-file). */
  selfManagedCertificate?: { apiServiceName: string; secretName: string };
  kubeconfig?: string;
  agentNamespace: string;
  agentSelector: string;
  agentPort: number;
  agentCaFile?: string;
  agentServerName?: string;
  agentTokenFile: string;
  /** Set when --requestheader-client-ca-file is given; otherwise the settings come from the ConfigMap. */
  requestHeader?: RequestHeaderFlags;
  authenticationTokenCacheTtlMs: number;
  authorizationCacheTtlMs: number;
  maxWaitSeconds: number;
  maxBodyBytes: number;
}

const FLAGS = {
  "secure-port": { type: "string", default: "6443", help: "Port to serve HTTPS on (0: any free port)." },
  "bind-address": { type: "string", default: "0.0.0.0", help: "IP address to listen on (0.0.0.0 or :: for all)." },
  "tls-cert-file": { type: "string", help: "Serving certificate (PEM, may include intermediates); re-read when it changes. Without it a self-signed certificate is generated (development only)." },
  "tls-private-key-file": { type: "string", help: "Private key of --tls-cert-file (PEM)." },
  apiservice: { type: "string", help: "APIService whose caBundle is kept equal to the CA in --serving-cert-secret; its spec.service gives the certificate's DNS name." },
  "serving-cert-secret": {
    type: "string",
    help: "Secret (in the namespace of the APIService's Service) in which the apiserver keeps a CA and its serving certificate, creating and renewing them itself; instead of --tls-cert-file. Needs --apiservice.",
  },
  kubeconfig: { type: "string", help: "kubeconfig for talking to the Kubernetes API; default: the pod's service account." },
  "agent-namespace": { type: "string", default: "device-mounter", help: "Namespace of the agent pods." },
  "agent-selector": { type: "string", default: "app.kubernetes.io/name=device-mounter-agent", help: "Label selector of the agent pods." },
  "agent-port": { type: "string", default: "8443", help: "HTTPS port of the agents' API." },
  "agent-ca-file": { type: "string", help: "CA bundle that signs agent serving certificates. Without it agent certificates are not verified (development only)." },
  "agent-server-name": { type: "string", help: "Name expected in agent serving certificates (agents are reached by pod IP)." },
  "agent-token-file": { type: "string", help: `Bearer token presented to agents, re-read on every call (default ${DEFAULT_AGENT_TOKEN_FILE}; out of a cluster the kubeconfig's token).` },
  "requestheader-client-ca-file": { type: "string", help: "Front-proxy CA bundle; overrides kube-system/extension-apiserver-authentication (re-read when it changes). The other --requestheader-* flags apply only with it." },
  "requestheader-allowed-names": { type: "string", help: "Comma-separated common names allowed for front-proxy client certificates (empty: any)." },
  "requestheader-username-headers": { type: "string", help: `Comma-separated (default ${REQUEST_HEADER_FLAG_DEFAULTS.usernameHeaders.join(",")}).` },
  "requestheader-uid-headers": { type: "string", help: `Comma-separated (default ${REQUEST_HEADER_FLAG_DEFAULTS.uidHeaders.join(",")}).` },
  "requestheader-group-headers": { type: "string", help: `Comma-separated (default ${REQUEST_HEADER_FLAG_DEFAULTS.groupHeaders.join(",")}).` },
  "requestheader-extra-headers-prefix": { type: "string", help: `Comma-separated (default ${REQUEST_HEADER_FLAG_DEFAULTS.extraHeaderPrefixes.join(",")}).` },
  "authentication-token-cache-ttl": { type: "string", default: "10s", help: "How long TokenReview answers are reused." },
  "authorization-cache-ttl": { type: "string", default: "10s", help: "How long SubjectAccessReview answers (allow and deny) are reused." },
  "max-wait-seconds": { type: "string", default: "50", help: "Upper bound of the wait_second parameter. Through kube-apiserver a request ends at its --request-timeout (60s by default) while the mount goes on: keep this 10s below it." },
  "max-body-bytes": { type: "string", default: "1048576", help: "Larger request bodies are refused with 413." },
  help: { type: "boolean", short: "h", help: "Show this help." },
} as const satisfies FlagTable;

export function apiserverUsage(): string {
  return flagUsage("Usage: device-mounter apiserver [flags]\n\nServes device-mounter.io/v1alpha1 as an aggregated Kubernetes API.", FLAGS);
}

type ApiserverFlags = ParsedFlags<typeof FLAGS>;

export function parseApiserverFlags(argv: string[]): ApiserverFlags {
  return parseFlags(argv, FLAGS);
}

export { parseDuration };

/** k8s label selector requirements: key, !key, key=value, key==value, key!=value, key in (a,b), key notin (a,b). */
export function labelSelectorProblems(selector: string): string[] {
  const requirements = selector.split(/,(?![^(]*\))/).map((r) => r.trim());
  const problems: string[] = [];
  for (const requirement of requirements) {
    const match =
      /^(!?)([^\s!=()]+)$/.exec(requirement) ??
      /^([^\s!=()]+)\s*(==|=|!=)\s*([^\s,()]*)$/.exec(requirement) ??
      /^([^\s!=()]+)\s+(in|notin)\s+\(([^()]*)\)$/.exec(requirement);
    if (!match) {
      problems.push(`requirement ${JSON.stringify(requirement)} is not key, !key, key=value, key!=value, key in (a,b) or key notin (a,b)`);
      continue;
    }
    const key = match[1] === "!" || match[1] === "" ? match[2]! : match[1]!;
    problems.push(...qualifiedNameProblems(key).map((p) => `key ${JSON.stringify(key)} ${p}`));
    const values = match.length === 4 ? (match[2] === "in" || match[2] === "notin" ? match[3]!.split(",").map((s) => s.trim()) : [match[3]!]) : [];
    for (const value of values) problems.push(...labelValueProblems(value).map((p) => `value ${JSON.stringify(value)} ${p}`));
  }
  return problems;
}

const list = (text: string | undefined): string[] | undefined =>
  text === undefined
    ? undefined
    : text
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean);

/** Checks every flag and reports all problems in one UsageError. */
export function validateApiserverOptions(flags: ApiserverFlags): ApiserverOptions {
  const check = new FlagValidator(flags);
  const { problems } = check;
  const integer = check.integer.bind(check);
  const duration = check.duration.bind(check);
  const file = check.file.bind(check);

  const securePort = integer("secure-port", 0, 65535);
  const bindAddress = flags["bind-address"] ?? "";
  if (!isIP(bindAddress)) problems.push(`--bind-address ${JSON.stringify(bindAddress)} is not an IP address`);
  const tlsCertFile = file("tls-cert-file");
  const tlsPrivateKeyFile = file("tls-private-key-file");
  if ((tlsCertFile === undefined) !== (tlsPrivateKeyFile === undefined)) problems.push("--tls-cert-file and --tls-private-key-file go together: give both or neither");
  const apiServiceName = flags.apiservice;
  const secretName = flags["serving-cert-secret"];
  if ((apiServiceName === undefined) !== (secretName === undefined)) problems.push("--apiservice and --serving-cert-secret go together: give both or neither");
  if (secretName !== undefined && tlsCertFile !== undefined) problems.push("--serving-cert-secret and --tls-cert-file exclude each other: the certificate comes from one of them");
  if (apiServiceName !== undefined) problems.push(...dns1123SubdomainProblems(apiServiceName).map((p) => `--apiservice ${JSON.stringify(apiServiceName)} ${p}`));
  if (secretName !== undefined) problems.push(...dns1123SubdomainProblems(secretName).map((p) => `--serving-cert-secret ${JSON.stringify(secretName)} ${p}`));
  const kubeconfig = file("kubeconfig");
  const agentNamespace = flags["agent-namespace"] ?? "";
  problems.push(...dns1123LabelProblems(agentNamespace).map((p) => `--agent-namespace ${JSON.stringify(agentNamespace)} ${p}`));
  const agentSelector = (flags["agent-selector"] ?? "").trim();
  if (!agentSelector) problems.push("--agent-selector must not be empty: it would select every pod in the namespace as an agent");
  else problems.push(...labelSelectorProblems(agentSelector).map((p) => `--agent-selector: ${p}`));
  const agentPort = integer("agent-port", 1, 65535);
  const agentCaFile = file("agent-ca-file");
  const agentTokenFile = flags["agent-token-file"] !== undefined ? file("agent-token-file")! : DEFAULT_AGENT_TOKEN_FILE;

  const clientCAFile = file("requestheader-client-ca-file");
  const headerFlags = {
    allowedNames: list(flags["requestheader-allowed-names"]),
    usernameHeaders: list(flags["requestheader-username-headers"]),
    uidHeaders: list(flags["requestheader-uid-headers"]),
    groupHeaders: list(flags["requestheader-group-headers"]),
    extraHeaderPrefixes: list(flags["requestheader-extra-headers-prefix"]),
  };
  const givenHeaderFlags = Object.entries(headerFlags).filter(([, v]) => v !== undefined);
  if (clientCAFile === undefined && givenHeaderFlags.length) {
    problems.push("--requestheader-* flags apply only together with --requestheader-client-ca-file (without it all front-proxy settings come from kube-system/extension-apiserver-authentication)");
  }
  if (headerFlags.usernameHeaders?.length === 0) problems.push("--requestheader-username-headers must name at least one header");
  for (const [name, headers] of Object.entries({ ...headerFlags, allowedNames: undefined })) {
    for (const header of headers ?? []) if (!/^[A-Za-z0-9-]+$/.test(header)) problems.push(`--requestheader-* value ${JSON.stringify(header)} (${name}) is not an HTTP header name`);
  }

  const authenticationTokenCacheTtlMs = duration("authentication-token-cache-ttl");
  const authorizationCacheTtlMs = duration("authorization-cache-ttl");
  const maxWaitSeconds = integer("max-wait-seconds", 1, 86_400);
  const maxBodyBytes = integer("max-body-bytes", 1024, 64 * 1024 * 1024);

  check.done();
  return {
    securePort,
    bindAddress,
    ...(tlsCertFile ? { tlsCertFile } : {}),
    ...(tlsPrivateKeyFile ? { tlsPrivateKeyFile } : {}),
    ...(apiServiceName && secretName ? { selfManagedCertificate: { apiServiceName, secretName } } : {}),
    ...(kubeconfig ? { kubeconfig } : {}),
    agentNamespace,
    agentSelector,
    agentPort,
    ...(agentCaFile ? { agentCaFile } : {}),
    ...(flags["agent-server-name"] ? { agentServerName: flags["agent-server-name"] } : {}),
    agentTokenFile,
    ...(clientCAFile
      ? {
          requestHeader: {
            clientCAFile,
            allowedNames: headerFlags.allowedNames ?? REQUEST_HEADER_FLAG_DEFAULTS.allowedNames,
            usernameHeaders: headerFlags.usernameHeaders ?? REQUEST_HEADER_FLAG_DEFAULTS.usernameHeaders,
            uidHeaders: headerFlags.uidHeaders ?? REQUEST_HEADER_FLAG_DEFAULTS.uidHeaders,
            groupHeaders: headerFlags.groupHeaders ?? REQUEST_HEADER_FLAG_DEFAULTS.groupHeaders,
            extraHeaderPrefixes: headerFlags.extraHeaderPrefixes ?? REQUEST_HEADER_FLAG_DEFAULTS.extraHeaderPrefixes,
          },
        }
      : {}),
    authenticationTokenCacheTtlMs,
    authorizationCacheTtlMs,
    maxWaitSeconds,
    maxBodyBytes,
  };
}
