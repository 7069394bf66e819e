// Requests to the Kubernetes API server with a kubeconfig's server, CA,
// client certificate and credentials. Bun's fetch takes TLS material in its
// own `tls` option; client-node's generated API clients pass it through an
// undici dispatcher that Bun ignores (so a cluster CA is never trusted), which
// is why device-mounter talks to the API with this instead.
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import type { RequestOptions } from "node:https";
import { KubeConfig } from "@kubernetes/client-node";

export class KubeConfigError extends Error {
  override readonly name = "KubeConfigError";
}

const IN_CLUSTER_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token";

export const inCluster = (): boolean => Boolean(process.env.KUBERNETES_SERVICE_HOST && process.env.KUBERNETES_SERVICE_PORT && existsSync(IN_CLUSTER_TOKEN));

/**
 * kubectl's rules: an explicit file, else $KUBECONFIG, else ~/.kube/config,
 * else the pod's service account. `allowFiles: false` skips the two
 * defaults (a server uses its flag or its pod identity, never a user's file).
 */
export function loadKubeConfig(options: { file?: string; context?: string; allowDefaultFiles?: boolean } = {}): KubeConfig {
  const kc = new KubeConfig();
  const defaultFile = join(process.env.HOME || homedir(), ".kube", "config");
  try {
    if (options.file) {
      if (!existsSync(options.file)) throw new KubeConfigError(`kubeconfig ${options.file} does not exist`);
      kc.loadFromFile(options.file);
    } else if (options.allowDefaultFiles !== false && (process.env.KUBECONFIG || existsSync(defaultFile))) {
      kc.loadFromDefault();
    } else if (inCluster()) {
      kc.loadFromCluster();
    } else {
      throw new KubeConfigError(
        options.allowDefaultFiles === false
          ? "not running in a pod (no KUBERNETES_SERVICE_HOST or service account token): pass --kubeconfig"
          : "no Kubernetes configuration: pass --kubeconfig, set KUBECONFIG, create ~/.kube/config, or run in a pod",
      );
    }
  } catch (e) {
    if (e instanceof KubeConfigError) throw e;
    throw new KubeConfigError(`cannot load the kubeconfig: ${(e as Error).message}`);
  }
  if (options.context) {
    if (!kc.getContextObject(options.context)) throw new KubeConfigError(`context ${JSON.stringify(options.context)} is not in the kubeconfig`);
    kc.setCurrentContext(options.context);
  }
  if (!kc.getCurrentCluster()) throw new KubeConfigError(`the kubeconfig's current context ${JSON.stringify(kc.getCurrentContext())} names no cluster`);
  return kc;
}

/** The namespace of the current context, as kubectl uses it when -n is not given. */
export const contextNamespace = (kc: KubeConfig): string => kc.getContextObject(kc.getCurrentContext())?.namespace?.trim() || "default";

const text = (value: unknown): string | undefined => (value === undefined || value === null ? undefined : Buffer.isBuffer(value) ? value.toString("utf8") : String(value));

export interface KubeConnection {
  /** The API server's base URL, without a trailing slash. */
  readonly server: string;
  /** fetch() against the API server with the kubeconfig's TLS and credentials; `path` starts with "/". */
  request(path: string, init?: RequestInit): Promise<Response>;
}

export function kubeConnection(kc: KubeConfig): KubeConnection {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new KubeConfigError("the kubeconfig has no current cluster");
  const server = cluster.server.replace(/\/+$/, "");
  return {
    server,
    async request(path, init = {}) {
      // Applied per request: token files and exec plugins hand out fresh credentials over time.
      const options: RequestOptions = {};
      await kc.applyToHTTPSOptions(options);
      const headers = new Headers(init.headers);
      for (const [name, value] of Object.entries(options.headers ?? {})) if (value !== undefined && !headers.has(name)) headers.set(name, String(value));
      if (options.auth && !headers.has("authorization")) headers.set("authorization", `Basic ${Buffer.from(options.auth).toString("base64")}`);
      const tls = {
        ca: text(options.ca),
        cert: text(options.cert),
        key: text(options.key),
        rejectUnauthorized: options.rejectUnauthorized ?? true,
        ...(options.servername ? { serverName: options.servername } : {}),
      };
      return fetch(`${server}${path}`, { ...init, headers, tls });
    },
  };
}
