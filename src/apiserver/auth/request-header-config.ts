// Where front-proxy settings come from: the kube-system/extension-apiserver-
// authentication ConfigMap that kube-apiserver publishes (the normal case
// for an aggregated server), or --requestheader-* flags that override it.
import { X509Certificate } from "node:crypto";
import { DEFAULT_REQUEST_HEADERS, type RequestHeaderConfig } from "./front-proxy.ts";

export const AUTHENTICATION_CONFIGMAP = { namespace: "kube-system", name: "extension-apiserver-authentication" } as const;

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Every certificate of a PEM bundle; `source` names where it came from in errors. */
export function parseCertificateBundle(pem: string, source: string): X509Certificate[] {
  const blocks = pem.match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) throw new Error(`${source} holds no PEM certificate`);
  return blocks.map((block, i) => {
    try {
      return new X509Certificate(block);
    } catch (e) {
      throw new Error(`${source}: certificate ${i + 1} cannot be parsed: ${(e as Error).message}`);
    }
  });
}

/** The ConfigMap stores lists as JSON arrays of strings. */
function stringList(data: Record<string, string>, key: string): string[] {
  const raw = data[key];
  if (raw === undefined || raw === "") return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new Error(`${AUTHENTICATION_CONFIGMAP.namespace}/${AUTHENTICATION_CONFIGMAP.name} key ${key} is not a JSON array: ${raw.slice(0, 100)}`);
  }
  if (!Array.isArray(parsed) || !parsed.every((x) => typeof x === "string")) throw new Error(`${AUTHENTICATION_CONFIGMAP.namespace}/${AUTHENTICATION_CONFIGMAP.name} key ${key} is not a JSON array of strings`);
  return parsed.filter((x) => x.trim() !== "").map((x) => x.trim());
}

/**
 * Front-proxy settings from the ConfigMap's data; undefined when it has no
 * requestheader-client-ca-file (front-proxy authentication is then off, as in kube).
 */
export function requestHeaderConfigFromConfigMap(data: Record<string, string> | undefined): RequestHeaderConfig | undefined {
  const ca = data?.["requestheader-client-ca-file"];
  if (!data || !ca) return undefined;
  return {
    clientCA: parseCertificateBundle(ca, `${AUTHENTICATION_CONFIGMAP.namespace}/${AUTHENTICATION_CONFIGMAP.name} key requestheader-client-ca-file`),
    allowedNames: stringList(data, "requestheader-allowed-names"),
    usernameHeaders: stringList(data, "requestheader-username-headers"),
    uidHeaders: stringList(data, "requestheader-uid-headers"),
    groupHeaders: stringList(data, "requestheader-group-headers"),
    extraHeaderPrefixes: stringList(data, "requestheader-extra-headers-prefix"),
  };
}

export interface RequestHeaderFlags {
  clientCAFile: string;
  allowedNames: string[];
  usernameHeaders: string[];
  uidHeaders: string[];
  groupHeaders: string[];
  extraHeaderPrefixes: string[];
}

export const REQUEST_HEADER_FLAG_DEFAULTS: Omit<RequestHeaderFlags, "clientCAFile"> = {
  allowedNames: [],
  usernameHeaders: [...DEFAULT_REQUEST_HEADERS.usernameHeaders],
  uidHeaders: [...DEFAULT_REQUEST_HEADERS.uidHeaders],
  groupHeaders: [...DEFAULT_REQUEST_HEADERS.groupHeaders],
  extraHeaderPrefixes: [...DEFAULT_REQUEST_HEADERS.extraHeaderPrefixes],
};

export function requestHeaderConfigFromFlags(flags: RequestHeaderFlags, caPem: string): RequestHeaderConfig {
  return {
    clientCA: parseCertificateBundle(caPem, `--requestheader-client-ca-file ${flags.clientCAFile}`),
    allowedNames: flags.allowedNames,
    usernameHeaders: flags.usernameHeaders,
    uidHeaders: flags.uidHeaders,
    groupHeaders: flags.groupHeaders,
    extraHeaderPrefixes: flags.extraHeaderPrefixes,
  };
}

/** The current front-proxy settings, swapped in whole when their source changes. */
export class RequestHeaderConfigStore {
  private current: RequestHeaderConfig | undefined;
  private loadedOnce = false;
  private lastError: string | undefined;

  get(): RequestHeaderConfig | undefined {
    return this.current;
  }
  /** True once a source was read successfully (even if it turned front-proxy authentication off). */
  get loaded(): boolean {
    return this.loadedOnce;
  }
  get error(): string | undefined {
    return this.lastError;
  }
  set(config: RequestHeaderConfig | undefined): void {
    this.current = config;
    this.loadedOnce = true;
    this.lastError = undefined;
  }
  /** A bad update keeps the previous settings (as kube's dynamic CA loading does) and is reported. */
  fail(message: string): void {
    this.lastError = message;
  }
}
