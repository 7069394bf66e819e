// `device-mounter agent`: options → validate → complete → run. The API is
// served only once the informers have synced and the kernel's features were
// probed; health reflects the loops actually making progress.
import type { V1Node, V1Pod } from "@kubernetes/client-node";
import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { Informer } from "../src/kube/informer.ts";
import { KubeConfigError, kubeConnection, loadKubeConfig } from "../src/kube/transport.ts";
import type { KubeObject } from "../src/kube/types.ts";
import type { Logger } from "../src/observability/log.ts";
import { readCertificatePair } from "../src/tls/certificates.ts";
import { FILE_RELOAD_INTERVAL_MS } from "../src/tls/file-poller.ts";
import { selfSignedCertificate, type CertificatePair } from "../src/tls/self-signed.ts";
import { followServingFiles } from "../src/tls/serving-files.ts";
import { startSecureServer, type SecureServer } from "../src/http/https-server.ts";
import { parseCgroupMounts } from "./cgroup/locate.ts";
import { detectHostFeatures, type HostFeatures } from "./cgroup/features.ts";
import type { ContainerCgroupOptions } from "./cgroup/container-cgroup.ts";
import { loadDeviceTypeConfig } from "./devicetypes/generic.ts";
import { BUILT_IN_TYPE_NAMES, createRegistry, type DeviceTypeRegistry } from "./devicetypes/registry.ts";
import { AgentKube } from "./kube/client.ts";
import { ContainerLocks } from "./mount/container-lock.ts";
import { Reconciler } from "./mount/reconcile.ts";
import { MountService } from "./mount/service.ts";
import type { AgentOptions } from "./options.ts";
import { createPodResourcesClient } from "./podresources/client.ts";
import { buildAgentApp } from "./server/app.ts";
import { callerAuth } from "./server/caller-auth.ts";

/** Running mounts may finish within the DaemonSet's 30 s termination grace period. */
const SHUTDOWN_DRAIN_MS = 25_000;

export interface CompletedAgentConfig {
  options: AgentOptions;
  kube: AgentKube;
  registry: DeviceTypeRegistry;
  cgroup: ContainerCgroupOptions;
  certificate: CertificatePair;
}

/** Everything that can fail before serving, reported with what to fix. */
export function completeAgentConfig(options: AgentOptions): CompletedAgentConfig {
  const kubeConfig = loadKubeConfig({ ...(options.kubeconfig ? { file: options.kubeconfig } : {}), allowDefaultFiles: false });
  const config = options.deviceTypesConfig ? loadDeviceTypeConfig(options.deviceTypesConfig, BUILT_IN_TYPE_NAMES) : [];
  const registry = createRegistry({ procRoot: options.nvidiaProcRoot, devRoot: options.devRoot, config });
  const cgroup: ContainerCgroupOptions = {
    cgroupRoot: options.cgroupRoot,
    driver: options.cgroupDriver,
    ...(options.kubepodsRoot ? { kubepodsRoot: options.kubepodsRoot } : {}),
    mounts: parseCgroupMounts(readFileSync("/proc/self/mountinfo", "utf8")),
  };
  const certificate = options.tlsCertFile ? readCertificatePair(options.tlsCertFile, options.tlsPrivateKeyFile!) : selfSignedCertificate([hostname(), "localhost", "127.0.0.1"]);
  if (!kubeConfig.getCurrentCluster()) throw new KubeConfigError("no cluster in the kubeconfig");
  return { options, kube: new AgentKube(kubeConnection(kubeConfig)), registry, cgroup, certificate };
}

export interface AgentRunOptions {
  logger: Logger;
  signal: AbortSignal;
  onListening?: (port: number) => void;
}

/** Labels that say which device types this node serves: those whose resources it has. */
function deviceTypeLabels(registry: DeviceTypeRegistry, node: V1Node | undefined): Record<string, string> {
  const allocatable = (node?.status?.allocatable ?? {}) as Record<string, string>;
  const labels: Record<string, string> = {};
  for (const type of registry.list()) {
    if (type.resources.some((r) => Number(allocatable[r] ?? "0") > 0)) labels[`device-types.device-mounter.io/${type.name}`] = "true";
  }
  return labels;
}

export async function runAgent(config: CompletedAgentConfig, { logger, signal, onListening }: AgentRunOptions): Promise<void> {
  const { options, kube, registry } = config;
  const nodeSelector = { fieldSelector: `spec.nodeName=${options.nodeName}` };
  const pods = new Informer<V1Pod & KubeObject>({ source: kube.listWatch("/api/v1/pods", nodeSelector), logger });
  const nodes = new Informer<V1Node & KubeObject>({ source: kube.listWatch("/api/v1/nodes", { fieldSelector: `metadata.name=${options.nodeName}` }), logger });
  pods.start();
  nodes.start();
  const podResources = createPodResourcesClient(options.podResourcesSocket);
  const locks = new ContainerLocks();
  const service = new MountService({ nodeName: options.nodeName, image: options.image, kube, registry, podResources, cgroup: config.cgroup, logger, locks, killGraceMs: options.killGraceMs });
  const reconciler = new Reconciler({ kube, pods: () => pods.list(), locks, cgroup: config.cgroup, logger });

  let features: HostFeatures | undefined;
  let labelled: Record<string, string> = {};
  let server: SecureServer | undefined;
  let stopFollowingFiles: (() => void) | undefined;
  let loop: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.all([pods.waitForSync(signal), nodes.waitForSync(signal)]);
    features = detectHostFeatures();
    logger.info("kernel features", { ...features });

    const app = buildAgentApp({
      operations: service,
      auth: callerAuth({
        review: async (token) => {
          const review = await kube.reviewToken(token, options.tokenAudiences);
          return { authenticated: review.authenticated, ...(review.user ? { username: review.user.username } : {}) };
        },
        allowedUsers: new Set(options.allowedCallers),
        cacheTtlMs: 10_000,
      }),
      live: {
        problem: () => {
          const overdue = Date.now() - reconciler.stats.lastPassAt > Math.max(3 * options.repairIntervalMs, 30_000);
          return reconciler.stats.passes > 0 && overdue ? `the repair loop last ran ${Math.round((Date.now() - reconciler.stats.lastPassAt) / 1000)}s ago` : undefined;
        },
      },
      ready: {
        problem: () => (!pods.synced || !nodes.synced ? "informers not synced" : features?.cgroupLayout === "none" ? "no cgroup hierarchy with device control is mounted" : undefined),
      },
      log: (message, fields) => logger.error(message, fields),
    });

    const tick = async () => {
      if (signal.aborted) return;
      try {
        await reconciler.pass();
        const wanted = deviceTypeLabels(registry, nodes.list()[0]);
        if (JSON.stringify(wanted) !== JSON.stringify(labelled)) {
          const patch: Record<string, string | null> = { ...Object.fromEntries(Object.keys(labelled).map((k) => [k, null])), ...wanted };
          await kube.patchNodeLabels(options.nodeName, patch);
          labelled = wanted;
        }
      } catch (e) {
        logger.warn("repair pass failed", { error: e });
      }
      if (!signal.aborted) loop = setTimeout(tick, options.repairIntervalMs);
    };
    await tick();

    server = await startSecureServer({ fetch: (request) => app.fetch(request), host: options.bindAddress, port: options.securePort, certificate: config.certificate, logger, component: "agent" });
    if (options.tlsCertFile && options.tlsPrivateKeyFile) {
      const serving = server;
      stopFollowingFiles = followServingFiles({
        certFile: options.tlsCertFile,
        keyFile: options.tlsPrivateKeyFile,
        initial: config.certificate,
        intervalMs: FILE_RELOAD_INTERVAL_MS,
        serve: (pair) => serving.setCertificate(pair),
        logger,
      });
    }
    logger.info("agent serving", { node: options.nodeName, port: server.port, deviceTypes: registry.list().map((t) => t.name) });
    onListening?.(server.port ?? 0);
    await new Promise<void>((resolve) => (signal.aborted ? resolve() : signal.addEventListener("abort", () => resolve(), { once: true })));
  } finally {
    if (loop) clearTimeout(loop);
    stopFollowingFiles?.();
    if (server) {
      const { drained } = await server.shutdown(SHUTDOWN_DRAIN_MS);
      if (!drained) logger.warn("stopping with requests still running: they were cut off", { deadlineMs: SHUTDOWN_DRAIN_MS });
    }
    if (Object.keys(labelled).length) {
      await kube.patchNodeLabels(options.nodeName, Object.fromEntries(Object.keys(labelled).map((k) => [k, null]))).catch((e) => logger.warn("could not remove node labels", { error: e }));
    }
    podResources.close();
    await Promise.all([pods.stop(), nodes.stop()]);
    logger.info("agent stopped", {});
  }
}
