// Running the apiserver: informers (front-proxy settings, agent pods),
// authentication and authorization against the Kubernetes API, the Hono
// app on the TLS server, certificate reloading (from files, or the
// self-managed Secret), and a graceful shutdown
// when the signal aborts.
import { readFileSync } from "node:fs";
import { HttpsAgentCaller } from "./agents/caller.ts";
import { agentPodProblem, InformerAgentLocator } from "./agents/locator.ts";
import { buildApp } from "./app.ts";
import { DelegatingAuthenticator } from "./auth/authenticator.ts";
import { CachingAuthorizer } from "./auth/authorizer.ts";
import { ServingCertificateKeeper } from "./certs/self-managed.ts";
import { AUTHENTICATION_CONFIGMAP, RequestHeaderConfigStore, requestHeaderConfigFromConfigMap, requestHeaderConfigFromFlags } from "./auth/request-header-config.ts";
import { systemClock } from "../clock.ts";
import type { CompletedConfig } from "./config.ts";
import type { HealthCheck } from "./http/health.ts";
import { KubeRestClient } from "./kube/client.ts";
import { Informer } from "../kube/informer.ts";
import { kubeConnection } from "../kube/transport.ts";
import type { ConfigMap, Pod } from "../kube/types.ts";
import type { Logger } from "../observability/log.ts";
import { apiserverMetrics } from "./observability/metrics.ts";
import { pollFiles } from "../tls/file-poller.ts";
import { startSecureServer } from "../http/https-server.ts";
import { followServingFiles } from "../tls/serving-files.ts";

export interface RunOptions {
  logger: Logger;
  /** Aborting it starts the graceful shutdown. */
  signal: AbortSignal;
  /** Called once the server listens (tests learn the port). */
  onListening?: (port: number) => void;
}

export async function runApiserver(config: CompletedConfig, { logger, signal, onListening }: RunOptions): Promise<void> {
  const { options } = config;
  const clock = systemClock;
  const metrics = apiserverMetrics();
  const kube = new KubeRestClient(kubeConnection(config.kubeConfig));
  const stoppers: Array<() => unknown> = [];
  let shuttingDown = false;

  const requestHeaders = new RequestHeaderConfigStore();
  if (config.requestHeaderFromFlags && options.requestHeader) {
    requestHeaders.set(config.requestHeaderFromFlags);
    const flags = options.requestHeader;
    stoppers.push(
      pollFiles({
        paths: [flags.clientCAFile],
        intervalMs: config.fileReloadIntervalMs,
        initial: [readFileSync(flags.clientCAFile, "utf8")],
        onChange: ([pem]) => {
          try {
            requestHeaders.set(requestHeaderConfigFromFlags(flags, pem!));
            logger.info("reloaded the requestheader client CA", { file: flags.clientCAFile });
          } catch (e) {
            requestHeaders.fail((e as Error).message);
            logger.error("ignoring an invalid requestheader client CA; keeping the previous one", { error: e });
          }
        },
        onError: (e) => logger.warn("cannot re-read the requestheader client CA", { error: e }),
      }),
    );
  } else {
    const configMaps = new Informer<ConfigMap>({
      source: kube.listWatch(`/api/v1/namespaces/${AUTHENTICATION_CONFIGMAP.namespace}/configmaps`, { fieldSelector: `metadata.name=${AUTHENTICATION_CONFIGMAP.name}` }),
      logger,
    });
    configMaps.onChange(() => {
      try {
        requestHeaders.set(requestHeaderConfigFromConfigMap(configMaps.list()[0]?.data));
        logger.info("loaded front-proxy settings", { from: `${AUTHENTICATION_CONFIGMAP.namespace}/${AUTHENTICATION_CONFIGMAP.name}`, enabled: requestHeaders.get() !== undefined });
      } catch (e) {
        requestHeaders.fail((e as Error).message);
        logger.error("ignoring invalid front-proxy settings; keeping the previous ones", { error: e });
      }
    });
    configMaps.start();
    stoppers.push(() => configMaps.stop());
  }

  const agentPods = new Informer<Pod>({ source: kube.listWatch(`/api/v1/namespaces/${options.agentNamespace}/pods`, { labelSelector: options.agentSelector }), logger });
  let readyNodes = "";
  agentPods.onChange(() => {
    // Logged when the set of nodes with a ready agent changes, not on every pod status update.
    const nodes = [...new Set(agentPods.list().filter((p) => agentPodProblem(p) === undefined).map((p) => p.spec?.nodeName ?? ""))].sort();
    if (nodes.join(",") === readyNodes) return;
    readyNodes = nodes.join(",");
    logger.info("nodes with a ready agent changed", { nodes });
  });
  agentPods.start();
  stoppers.push(() => agentPods.stop());

  const readiness: HealthCheck[] = [
    { name: "shutdown", check: () => (shuttingDown ? "shutting down" : undefined) },
    { name: "authentication-config", check: () => (requestHeaders.loaded ? undefined : `front-proxy settings not loaded yet${requestHeaders.error ? `: ${requestHeaders.error}` : ""}`) },
    { name: "agent-pods-synced", check: () => (agentPods.synced ? undefined : `agent pods not listed yet${agentPods.lastError ? `: ${agentPods.lastError}` : ""}`) },
  ];

  const certificateKeeper = options.selfManagedCertificate
    ? new ServingCertificateKeeper({ api: kube, ...options.selfManagedCertificate, clock, intervalMs: config.certificateSyncIntervalMs, retryMs: config.certificateSyncRetryMs, logger })
    : undefined;
  if (certificateKeeper) readiness.push({ name: "serving-certificate", check: () => certificateKeeper.problem() });

  if (!config.agentCa) logger.warn("agent serving certificates are not verified: pass --agent-ca-file outside development");
  const app = buildApp(config, {
    pods: kube,
    authenticator: new DelegatingAuthenticator({ requestHeaderConfig: () => requestHeaders.get(), tokenReviewer: kube, clock, tokenCacheTtlMs: options.authenticationTokenCacheTtlMs }),
    authorizer: new CachingAuthorizer(kube, clock, options.authorizationCacheTtlMs),
    agents: new InformerAgentLocator(agentPods, options.agentPort, `pods matching ${options.agentSelector} in namespace ${options.agentNamespace}`),
    agentCaller: new HttpsAgentCaller({ token: config.agentToken, ...(config.agentCa ? { ca: config.agentCa } : {}), ...(options.agentServerName ? { serverName: options.agentServerName } : {}) }),
    logger,
    metrics,
    health: { liveness: [], readiness },
  });

  const server = await startSecureServer({ fetch: (request, connection) => app.fetch(request, connection), host: options.bindAddress, port: options.securePort, certificate: config.servingCertificate, logger, requestClientCertificates: true, component: "apiserver" });
  if (config.servingCertificateSource === "self-signed") logger.warn("serving a generated self-signed certificate: pass --tls-cert-file and --tls-private-key-file (or --apiservice and --serving-cert-secret) outside development");
  if (certificateKeeper) {
    certificateKeeper.start((pair) => server.setCertificate(pair));
    stoppers.push(() => certificateKeeper.stop());
  }
  if (options.tlsCertFile && options.tlsPrivateKeyFile) {
    stoppers.push(
      followServingFiles({
        certFile: options.tlsCertFile,
        keyFile: options.tlsPrivateKeyFile,
        initial: config.servingCertificate,
        intervalMs: config.fileReloadIntervalMs,
        serve: (pair) => server.setCertificate(pair),
        logger,
      }),
    );
  }
  logger.info("serving", { address: options.bindAddress, port: server.port, certificate: config.servingCertificateSource });
  onListening?.(server.port);

  await new Promise<void>((resolve) => (signal.aborted ? resolve() : signal.addEventListener("abort", () => resolve(), { once: true })));
  shuttingDown = true;
  logger.info("shutting down: draining running requests", { inflight: server.inflight(), deadlineMs: config.shutdownDrainMs });
  const { drained } = await server.shutdown(config.shutdownDrainMs);
  await Promise.all(stoppers.map((stop) => stop()));
  logger.info(drained ? "stopped after draining all requests" : "stopped; requests still running at the deadline were cut off");
}
