// Kubelet stand-in for one node: registers the Node and keeps it Ready, watches the pods
// bound to it (fieldSelector spec.nodeName=<node>), admits them (resource fit, node
// affinity, device allocation), runs each through a PodWorker, tears pods down on
// deletion, and serves the PodResources API from its own allocations.
import { CoordinationV1Api, V1MicroTime, type KubeConfig, type V1Node, type V1NodeCondition, type V1Pod, type V1Taint } from "@kubernetes/client-node";
import { cpus, release, totalmem } from "node:os";
import type { Container } from "../../support/runc.ts";
import {
  apiErrorCode,
  describeApiError,
  makeCoreApi,
  recordPodEvent,
  startInformer,
  updatePodStatus,
  type Informer,
} from "./api.ts";
import { ensureCgroup, kubepodsCgroup, nodeLevelCgroups, removeCgroup, type CgroupDriver, type CgroupMode } from "./cgroups.ts";
import { DeviceAdmissionError, DeviceManager } from "./device-manager.ts";
import type { NodeDevices } from "./devices.ts";
import { startPodResourcesServer, type PodResourcesServer } from "./podresources.ts";
import { canonicalAmount, extendedResourceLimits, podRequests } from "./resources.ts";
import { makeApiClient } from "./transport.ts";
import { allocatableOf, nodeAffinityFailure, requestedOn } from "./scheduling.ts";
import { normalizeImage, PodWorker } from "./pod-worker.ts";

export const KUBELET_VERSION = "v1.32.4";
export const CONTAINER_RUNTIME_VERSION = "containerd://1.7.24";

export interface KubeletOptions {
  nodeName: string;
  kubeConfig: KubeConfig;
  cgroupMode: CgroupMode;
  driver: CgroupDriver;
  /**
   * Cgroup the kubepods cgroup goes under: "" gives a real node's /kubepods (or
   * /kubepods.slice); test clusters use a dm-test prefix to stay apart.
   */
  cgroupPrefix: string;
  devices: NodeDevices;
  podResourcesSocket: string;
  hostIP: string;
  /** First three octets of this node's pod IPs, e.g. "10.244.0". */
  podSubnet: string;
  cpu?: string;
  memory?: string;
  maxPods?: number;
  labels?: Record<string, string>;
  taints?: V1Taint[];
  heartbeatMs?: number;
  exitPollMs?: number;
  /** Image name → host files it ships (every image is busybox plus these). */
  images?: Record<string, ReadonlyArray<{ source: string; destination: string }>>;
  restartBackoffMs?: number;
  maxRestartBackoffMs?: number;
  log?: (message: string) => void;
}

export interface Kubelet {
  nodeName: string;
  cgroupMode: CgroupMode;
  driver: CgroupDriver;
  /** Host-relative cgroup path of the kubepods cgroup (what the agent takes as its kubepods root). */
  kubepodsRoot: string;
  podResourcesSocket: string;
  containerOf(namespace: string, podName: string, containerName: string): Container | undefined;
  containerIdOf(namespace: string, podName: string, containerName: string): string | undefined;
  /** Signals a container's process (default SIGKILL) and returns the ID of the container it hit. */
  killContainer(namespace: string, podName: string, containerName: string, signal?: NodeJS.Signals): Promise<string>;
  stop(): Promise<void>;
}

const EVICTION_HARD_MEMORY = 100 * 1024 * 1024;

export async function startKubelet(options: KubeletOptions): Promise<Kubelet> {
  const log = options.log ?? ((message: string) => console.error(`[kubelet ${options.nodeName}] ${message}`));
  const core = makeCoreApi(options.kubeConfig);
  const devices = new DeviceManager(options.devices.resources);
  const kubepods = kubepodsCgroup(options.driver, options.cgroupPrefix);
  const workers = new Map<string, PodWorker>();
  // Events go out one after another so they keep the order things happened in.
  let eventChain: Promise<void> = Promise.resolve();
  const source = { component: "kubelet", host: options.nodeName };
  let nextPodIP = 2;
  let stopped = false;

  const event = (pod: V1Pod, type: "Normal" | "Warning", reason: string, message: string, fieldPath?: string) => {
    eventChain = eventChain.then(() => recordPodEvent(core, source, pod, type, reason, message, fieldPath));
  };

  for (const path of nodeLevelCgroups(options.driver, kubepods)) ensureCgroup(options.cgroupMode, path);

  const capacity = nodeCapacity(options, devices);
  const allocatable = { ...capacity, memory: kibibytes(Math.max(0, memoryBytes(options) - EVICTION_HARD_MEMORY)) };
  const nodeUid = await registerNode(core, options, capacity, allocatable, log);
  const leases = makeApiClient(options.kubeConfig, CoordinationV1Api);
  await renewLease(leases, options.nodeName, nodeUid);

  const podResources: PodResourcesServer = await startPodResourcesServer(options.podResourcesSocket, {
    devices,
    activePods: () =>
      [...workers.values()]
        .filter((worker) => worker.active)
        .map((worker) => ({
          uid: worker.uid,
          name: worker.name,
          namespace: worker.namespace,
          containerNames: worker.reportedContainerNames,
        })),
  });

  const workerContext = {
    nodeName: options.nodeName,
    hostIP: options.hostIP,
    cgroupMode: options.cgroupMode,
    driver: options.driver,
    kubepodsCgroup: kubepods,
    core,
    devices,
    exitPollMs: options.exitPollMs ?? 200,
    images: Object.fromEntries(Object.entries(options.images ?? {}).map(([image, binds]) => [normalizeImage(image), binds])),
    restartBackoffMs: options.restartBackoffMs ?? 10_000,
    maxRestartBackoffMs: options.maxRestartBackoffMs ?? 300_000,
    event,
    log,
  };

  async function admit(pod: V1Pod): Promise<void> {
    const uid = pod.metadata?.uid ?? "";
    const activePods = [...workers.values()].filter((worker) => worker.active).map((worker) => worker.podObject);
    const rejection = admissionFailure(pod, options, allocatable, activePods);
    if (rejection) {
      await reject(pod, rejection.reason, rejection.message);
      return;
    }
    try {
      devices.allocatePod(
        uid,
        [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])].map((container) => ({
          name: container.name,
          resources: extendedResourceLimits(container),
          runsToCompletionFirst: (pod.spec?.initContainers ?? []).includes(container) && container.restartPolicy !== "Always",
        })),
      );
    } catch (error) {
      if (!(error instanceof DeviceAdmissionError)) throw error;
      await reject(pod, "UnexpectedAdmissionError", error.message);
      return;
    }
    // A hostNetwork pod (an agent DaemonSet's) is reached at the node's address; its container
    // still gets a network namespace of its own, as nothing here needs pod networking.
    const podIP = pod.spec?.hostNetwork === true ? options.hostIP : `${options.podSubnet}.${nextPodIP++}`;
    const worker = new PodWorker(workerContext, pod, podIP);
    workers.set(uid, worker);
    void worker.start();
  }

  async function reject(pod: V1Pod, reason: string, message: string): Promise<void> {
    const fullMessage = `Pod was rejected: ${message}`;
    event(pod, "Warning", reason, fullMessage);
    try {
      await updatePodStatus(core, pod.metadata?.namespace ?? "default", pod.metadata?.name ?? "", pod.metadata?.uid ?? "", (latest) => {
        latest.status = { ...latest.status, phase: "Failed", reason, message: fullMessage, startTime: new Date() };
        return true;
      });
    } catch (error) {
      log(describeApiError(error));
    }
  }

  const onPod = (pod: V1Pod) => {
    if (stopped) return;
    const uid = pod.metadata?.uid ?? "";
    const worker = workers.get(uid);
    if (worker) {
      worker.updated(pod);
      return;
    }
    if (pod.status?.phase === "Succeeded" || pod.status?.phase === "Failed") return;
    if (pod.metadata?.deletionTimestamp) {
      void deleteNow(pod);
      return;
    }
    void admit(pod).catch((error: unknown) => log(`admitting ${pod.metadata?.namespace}/${pod.metadata?.name}: ${String(error)}`));
  };

  // A pod deleted before we ever ran it only needs its object removed.
  async function deleteNow(pod: V1Pod): Promise<void> {
    try {
      await core.deleteNamespacedPod({
        name: pod.metadata?.name ?? "",
        namespace: pod.metadata?.namespace ?? "default",
        gracePeriodSeconds: 0,
        body: { preconditions: { uid: pod.metadata?.uid ?? "" } },
      });
    } catch (error) {
      if (apiErrorCode(error) !== 404 && apiErrorCode(error) !== 409) log(describeApiError(error));
    }
  }

  const pods: Informer<V1Pod> = await startInformer<V1Pod>(
    options.kubeConfig,
    "/api/v1/pods",
    () => core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${options.nodeName}` }),
    {
      add: onPod,
      update: onPod,
      delete(pod) {
        // The object is gone (deleted without grace, or after our final delete).
        const worker = workers.get(pod.metadata?.uid ?? "");
        if (!worker) return;
        void worker.terminate({ graceSeconds: 0, reportAndDelete: false }).finally(() => workers.delete(worker.uid));
      },
    },
    {
      fieldSelector: `spec.nodeName=${options.nodeName}`,
      onError: (error) => log(`pod watch failed, restarting: ${describeApiError(error)}`),
    },
  );

  const heartbeat = setInterval(() => {
    void heartbeatNode(core, options.nodeName).catch((error: unknown) => log(`node heartbeat: ${describeApiError(error)}`));
    void renewLease(leases, options.nodeName, nodeUid).catch((error: unknown) => log(`node lease: ${describeApiError(error)}`));
  }, options.heartbeatMs ?? 10_000);

  const workerFor = (namespace: string, podName: string) =>
    [...workers.values()].find((worker) => worker.namespace === namespace && worker.name === podName);

  return {
    nodeName: options.nodeName,
    cgroupMode: options.cgroupMode,
    driver: options.driver,
    kubepodsRoot: kubepods,
    podResourcesSocket: options.podResourcesSocket,
    containerOf: (namespace, podName, containerName) => workerFor(namespace, podName)?.containerOf(containerName),
    containerIdOf: (namespace, podName, containerName) => workerFor(namespace, podName)?.containerIdOf(containerName),
    async killContainer(namespace, podName, containerName, signal) {
      const worker = workerFor(namespace, podName);
      if (!worker) throw new Error(`pod ${namespace}/${podName} does not run on node ${options.nodeName}`);
      return worker.kill(containerName, signal);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(heartbeat);
      const failures: string[] = [];
      const attempt = async (what: string, step: () => Promise<void>) => {
        try {
          await step();
        } catch (error) {
          failures.push(`${what}: ${error instanceof Error ? error.message : String(error)}`);
        }
      };
      await attempt("pod watch", () => pods.stop());
      await Promise.all(
        [...workers.values()].map((worker) =>
          attempt(`pod ${worker.namespace}/${worker.name}`, () => worker.terminate({ graceSeconds: 0, reportAndDelete: false })),
        ),
      );
      workers.clear();
      await attempt("PodResources server", () => podResources.stop());
      await eventChain;
      await attempt(`cgroup ${kubepods}`, () => removeCgroup(options.cgroupMode, kubepods));
      if (failures.length > 0) throw new Error(`stopping kubelet ${options.nodeName}: ${failures.join("; ")}`);
    },
  };
}

function memoryBytes(options: KubeletOptions): number {
  return options.memory === undefined ? totalmem() : canonicalAmount("memory", options.memory);
}

/** The kubelet reports memory and storage in whole Ki. */
function kibibytes(bytes: number): string {
  return `${Math.floor(bytes / 1024)}Ki`;
}

const LEASE_NAMESPACE = "kube-node-lease";
const LEASE_DURATION_SECONDS = 40;

/** The node heartbeat kubelets keep in kube-node-lease (what `kubectl describe node` shows as Lease). */
async function renewLease(leases: CoordinationV1Api, nodeName: string, nodeUid: string): Promise<void> {
  // A MicroTime: a plain Date serializes with milliseconds, which kube rejects here.
  const now = new V1MicroTime();
  try {
    const lease = await leases.readNamespacedLease({ name: nodeName, namespace: LEASE_NAMESPACE });
    lease.spec = { ...lease.spec, holderIdentity: nodeName, leaseDurationSeconds: LEASE_DURATION_SECONDS, renewTime: now };
    await leases.replaceNamespacedLease({ name: nodeName, namespace: LEASE_NAMESPACE, body: lease });
  } catch (error) {
    if (apiErrorCode(error) !== 404) throw error;
    await leases.createNamespacedLease({
      namespace: LEASE_NAMESPACE,
      body: {
        metadata: {
          name: nodeName,
          namespace: LEASE_NAMESPACE,
          ownerReferences: [{ apiVersion: "v1", kind: "Node", name: nodeName, uid: nodeUid }],
        },
        spec: { holderIdentity: nodeName, leaseDurationSeconds: LEASE_DURATION_SECONDS, renewTime: now },
      },
    });
  }
}

function nodeCapacity(options: KubeletOptions, devices: DeviceManager): Record<string, string> {
  const capacity: Record<string, string> = {
    cpu: options.cpu ?? String(cpus().length),
    memory: kibibytes(memoryBytes(options)),
    pods: String(options.maxPods ?? 110),
    "ephemeral-storage": kibibytes(64 * 1024 ** 3),
    "hugepages-1Gi": "0",
    "hugepages-2Mi": "0",
  };
  for (const [name, count] of devices.capacity()) capacity[name] = String(count);
  return capacity;
}

/**
 * Kubelet-side admission (the predicates it re-runs): node affinity, and resource fit
 * against the pods this node already runs, with the kubelet's reasons and messages.
 */
function admissionFailure(
  pod: V1Pod,
  options: KubeletOptions,
  allocatable: Record<string, string>,
  activePods: readonly V1Pod[],
): { reason: string; message: string } | undefined {
  const node: V1Node = { metadata: { name: options.nodeName, labels: nodeLabels(options) }, status: { allocatable } };
  if (nodeAffinityFailure(pod, node)) {
    return { reason: "NodeAffinity", message: "Predicate NodeAffinity failed: node(s) didn't match Pod's node affinity/selector" };
  }
  const capacity = allocatableOf(node);
  const used = requestedOn(activePods);
  const requests = podRequests(pod);
  requests.set("pods", 1);
  used.set("pods", activePods.length);
  for (const [resource, amount] of requests) {
    if (amount <= 0) continue;
    const inUse = used.get(resource) ?? 0;
    const available = capacity.get(resource) ?? 0;
    if (amount > available - inUse) {
      return {
        reason: `OutOf${resource}`,
        message: `Node didn't have enough resource: ${resource}, requested: ${amount}, used: ${inUse}, capacity: ${available}`,
      };
    }
  }
  return undefined;
}

function nodeLabels(options: KubeletOptions): Record<string, string> {
  return {
    "beta.kubernetes.io/arch": "amd64",
    "beta.kubernetes.io/os": "linux",
    "kubernetes.io/arch": "amd64",
    "kubernetes.io/hostname": options.nodeName,
    "kubernetes.io/os": "linux",
    ...options.labels,
  };
}

function readyConditions(now: Date, previous: readonly V1NodeCondition[] = []): V1NodeCondition[] {
  const condition = (type: string, status: string, reason: string, message: string): V1NodeCondition => {
    const before = previous.find((other) => other.type === type);
    return {
      type,
      status,
      reason,
      message,
      lastHeartbeatTime: now,
      lastTransitionTime: before?.status === status && before.lastTransitionTime ? before.lastTransitionTime : now,
    };
  };
  return [
    condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
    condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
    condition("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
  ];
}

async function registerNode(
  core: ReturnType<typeof makeCoreApi>,
  options: KubeletOptions,
  capacity: Record<string, string>,
  allocatable: Record<string, string>,
  log: (message: string) => void,
): Promise<string> {
  const now = new Date();
  const node: V1Node = {
    apiVersion: "v1",
    kind: "Node",
    metadata: {
      name: options.nodeName,
      labels: nodeLabels(options),
      annotations: {
        "node.alpha.kubernetes.io/ttl": "0",
        "volumes.kubernetes.io/controller-managed-attach-detach": "true",
      },
    },
    spec: {
      podCIDR: `${options.podSubnet}.0/24`,
      podCIDRs: [`${options.podSubnet}.0/24`],
      ...(options.taints ? { taints: options.taints } : {}),
    },
  };
  const status: V1Node["status"] = {
    capacity,
    allocatable,
    conditions: readyConditions(now),
    addresses: [
      { type: "InternalIP", address: options.hostIP },
      { type: "Hostname", address: options.nodeName },
    ],
    daemonEndpoints: { kubeletEndpoint: { Port: 10250 } },
    nodeInfo: {
      machineID: machineIdOf(options.nodeName),
      systemUUID: crypto.randomUUID(),
      bootID: crypto.randomUUID(),
      kernelVersion: release(),
      osImage: "Debian GNU/Linux 12 (bookworm)",
      containerRuntimeVersion: CONTAINER_RUNTIME_VERSION,
      kubeletVersion: KUBELET_VERSION,
      kubeProxyVersion: KUBELET_VERSION,
      operatingSystem: "linux",
      architecture: "amd64",
    },
  };
  try {
    await core.createNode({ body: { ...node, status } });
  } catch (error) {
    if (apiErrorCode(error) !== 409) throw new Error(`registering node ${options.nodeName}: ${describeApiError(error)}`);
    log(`node ${options.nodeName} already registered; taking it over`);
  }
  // Status sent with a create may be dropped; the status subresource is authoritative.
  for (let attempt = 1; ; attempt++) {
    const current = await core.readNode({ name: options.nodeName });
    current.status = { ...status, conditions: readyConditions(now, current.status?.conditions) };
    try {
      await core.replaceNodeStatus({ name: options.nodeName, body: current });
      return current.metadata?.uid ?? "";
    } catch (error) {
      if (apiErrorCode(error) !== 409 || attempt >= 5) {
        throw new Error(`setting status of node ${options.nodeName}: ${describeApiError(error)}`);
      }
    }
  }
}

async function heartbeatNode(core: ReturnType<typeof makeCoreApi>, nodeName: string): Promise<void> {
  for (let attempt = 1; attempt <= 3; attempt++) {
    const current = await core.readNode({ name: nodeName });
    const status = (current.status ??= {});
    status.conditions = readyConditions(new Date(), status.conditions);
    try {
      await core.replaceNodeStatus({ name: nodeName, body: current });
      return;
    } catch (error) {
      if (apiErrorCode(error) !== 409) throw error;
    }
  }
}

function machineIdOf(nodeName: string): string {
  return new Bun.CryptoHasher("md5").update(nodeName).digest("hex");
}
