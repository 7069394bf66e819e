// Mount and unmount for pods on this node: slave pods get the devices
// legitimately allocated (scheduler + device plugin), the kubelet's
// PodResources API says which, and the device layer grants them to the
// target container. Whatever fails after the slave pod exists is undone.
import type { CoreV1Event, V1Pod } from "@kubernetes/client-node";
import type { AgentMountRequest, AgentMountResponse, AgentUnmountRequest, AgentUnmountResponse, MountedDevice } from "../../src/api/agent.ts";
import { StatusError } from "../../src/api/status.ts";
import type { Logger } from "../../src/observability/log.ts";
import type { ContainerCgroupOptions } from "../cgroup/container-cgroup.ts";
import { findContainerCgroup, firstPid } from "../cgroup/container-cgroup.ts";
import { GrantsLockedError } from "../container/grant-lock.ts";
import { DeviceBusyError, setGrants } from "../container/grants.ts";
import type { GrantedDevice } from "../container/record.ts";
import type { DeviceTypeRegistry } from "../devicetypes/registry.ts";
import type { DeviceType, HostDeviceNode } from "../devicetypes/types.ts";
import type { AgentKube } from "../kube/client.ts";
import { devicesOf, type PodResourcesClient } from "../podresources/client.ts";
import { buildSlavePod, HOLD_CONTAINER } from "../slavepod/build.ts";
import { grantAnnotations, readGrant } from "../slavepod/grant-record.ts";
import { slavePodSelector } from "../slavepod/keys.ts";
import { ContainerLocks } from "./container-lock.ts";
import { restoredAt, withDevices, withoutDevices } from "./desired.ts";
import { containerTarget, requireRunning, resolveContainer } from "./target.ts";
import { callerGone, waitForSlave } from "./wait-slave.ts";

export interface MountServiceOptions {
  nodeName: string;
  /** The agent's own image, which slave pods run (`device-mounter hold`). */
  image: string;
  kube: AgentKube;
  registry: DeviceTypeRegistry;
  podResources: PodResourcesClient;
  cgroup: ContainerCgroupOptions;
  logger: Logger;
  locks?: ContainerLocks;
  now?: () => number;
  /** How long a forced unmount lets processes end after SIGTERM. */
  killGraceMs?: number;
}


const mounted = (node: HostDeviceNode, resource: string, deviceId: string): MountedDevice => ({
  deviceId,
  resource,
  path: node.containerPath,
  type: node.type,
  major: node.major,
  minor: node.minor,
  access: node.access,
  mode: node.mode,
  uid: node.uid,
  gid: node.gid,
});

const podName = (pod: V1Pod) => `${pod.metadata?.namespace}/${pod.metadata?.name}`;

/** How long a failed mount waits for its slave pod to be gone (its own deadline may have passed). */
const CLEANUP_WAIT_MS = 10_000;

export class MountService {
  private readonly locks: ContainerLocks;
  private readonly now: () => number;

  constructor(private readonly options: MountServiceOptions) {
    this.locks = options.locks ?? new ContainerLocks();
    this.now = options.now ?? Date.now;
  }

  /** The pod as the request named it: it must exist, be the same incarnation, and be on this node. */
  private async owner(namespace: string, name: string, uid: string): Promise<V1Pod> {
    const pod = await this.options.kube.getPod(namespace, name);
    if (!pod) throw new StatusError("NotFound", `pods "${name}" not found`, { name, kind: "pods" });
    if (uid && pod.metadata?.uid !== uid) throw new StatusError("Conflict", `pod ${namespace}/${name} was replaced (uid ${pod.metadata?.uid}, expected ${uid})`);
    if (pod.spec?.nodeName !== this.options.nodeName) {
      throw new StatusError("Conflict", `pod ${namespace}/${name} is not on node ${this.options.nodeName} (it is on ${pod.spec?.nodeName ?? "no node yet"})`);
    }
    return pod;
  }

  /** `cancelled` fires when the caller goes away: until the grant, that undoes the mount. */
  async mount(request: AgentMountRequest, cancelled?: AbortSignal): Promise<AgentMountResponse> {
    const deadline = this.now() + request.timeoutSeconds * 1000;
    const { kube, registry } = this.options;
    const owner = await this.owner(request.namespace, request.pod, request.podUid);
    const container = resolveContainer(owner, request.container);
    requireRunning(owner, container);
    const type = registry.get(request.deviceType);
    const node = await kube.getNode(this.options.nodeName);
    registry.validateResources(type, request.resources, (node.status?.allocatable ?? {}) as Record<string, string>);
    const slave = buildSlavePod({
      owner,
      container: container.name,
      deviceType: type.name,
      resources: request.resources,
      nodeName: this.options.nodeName,
      image: this.options.image,
      labels: request.labels,
      annotations: request.annotations,
      patches: request.patches,
      index: 0,
    });

    const release = await this.locks.acquire(`${owner.metadata!.uid}/${container.name}`, Math.max(0, deadline - this.now()), `container ${container.name} of pod ${podName(owner)}`);
    try {
      if (cancelled?.aborted) throw callerGone(); // it went while we waited for the container
      const created = await kube.createPod(owner.metadata!.namespace!, slave);
      const slaveName = created.metadata!.name!;
      try {
        const running = await waitForSlave(kube, created, deadline, this.now, cancelled);
        const devices = await this.allocatedDevices(running, type);
        if (cancelled?.aborted) throw callerGone();
        const target = containerTarget(owner, container.containerId, this.options.cgroup);
        let before: GrantedDevice[] = [];
        await setGrants(target, (current) => {
          before = current;
          return withDevices(current, devices);
        }, { lockTimeoutMs: Math.max(0, deadline - this.now()) }).catch((e) => {
          throw refusalStatus(e);
        });
        try {
          await kube.patchPodAnnotations(owner.metadata!.namespace!, slaveName, grantAnnotations(devices, container.containerId));
        } catch (e) {
          await setGrants(target, (current) => restoredAt(current, before, new Set(devices.map((d) => d.path))));
          throw e;
        }
        const message = `mounted ${devices.map((d) => `${d.path} (${d.resource} ${d.deviceId})`).join(", ")} into container ${container.name}`;
        await this.event(owner, "Normal", "DeviceMounted", `${message} for ${request.user}`);
        this.options.logger.info("mounted", { pod: podName(owner), container: container.name, deviceType: type.name, slavePod: slaveName, user: request.user });
        return { kind: "MountResult", container: container.name, containerId: container.containerId, devices, slavePods: [slaveName], message };
      } catch (e) {
        await kube
          .deletePod(owner.metadata!.namespace!, slaveName, created.metadata?.uid)
          .then(() => this.untilGone([created], this.now() + CLEANUP_WAIT_MS))
          .catch((cleanup) => this.options.logger.error("could not delete the slave pod of a failed mount", { slavePod: slaveName, error: cleanup }));
        await this.event(owner, "Warning", "DeviceMountFailed", `mounting ${type.name} into container ${container.name} failed: ${(e as Error).message}`);
        throw e;
      }
    } finally {
      release();
    }
  }

  /** The host nodes of the devices the kubelet allocated to the slave pod, as the device type maps them. */
  private async allocatedDevices(slave: V1Pod, type: DeviceType): Promise<MountedDevice[]> {
    const name = podName(slave);
    const resources = await this.options.podResources.get(slave.metadata!.namespace!, slave.metadata!.name!);
    if (!resources) throw new StatusError("ServiceUnavailable", `the kubelet's PodResources API does not know slave pod ${name} yet`);
    const holdId = slave.status?.containerStatuses?.find((s) => s.name === HOLD_CONTAINER)?.containerID;
    const slaveRoot = holdId ? `/proc/${firstPid(findContainerCgroup({ podUid: slave.metadata!.uid!, qosClass: "Guaranteed", containerId: holdId }, this.options.cgroup))}/root` : undefined;
    const devices: MountedDevice[] = [];
    for (const { resource, deviceIds } of devicesOf(resources, HOLD_CONTAINER)) {
      if (!type.resources.includes(resource)) continue;
      for (const [index, deviceId] of deviceIds.entries()) {
        const nodes = await type.devicesFor(resource, deviceId, { index, ...(slaveRoot ? { slaveRoot } : {}) });
        devices.push(...nodes.map((n) => mounted(n, resource, deviceId)));
      }
    }
    if (devices.length === 0) throw new StatusError("InternalError", `the kubelet reports no ${type.resources.join("/")} devices for slave pod ${name}`);
    for (const companion of type.companions?.() ?? []) {
      if (!devices.some((d) => d.path === companion.containerPath)) devices.push(mounted(companion, type.name, "companion"));
    }
    return devices;
  }

  async unmount(request: AgentUnmountRequest): Promise<AgentUnmountResponse> {
    const deadline = this.now() + request.timeoutSeconds * 1000;
    const { kube, registry } = this.options;
    const owner = await this.owner(request.namespace, request.pod, request.podUid);
    const container = resolveContainer(owner, request.container);
    const type = registry.get(request.deviceType);
    const release = await this.locks.acquire(`${owner.metadata!.uid}/${container.name}`, Math.max(0, deadline - this.now()), `container ${container.name} of pod ${podName(owner)}`);
    try {
      const slaves = await kube.listPods(owner.metadata!.namespace!, slavePodSelector({ ownerUid: owner.metadata!.uid!, container: container.name, deviceType: type.name }));
      if (slaves.length === 0) throw new StatusError("NotFound", `no ${type.name} devices are mounted in container ${container.name} of pod ${podName(owner)}`);
      const devices = slaves.flatMap((s) => readGrant(s).grant?.devices ?? []);
      let killed: Array<{ pid: number; comm: string }> = [];
      if (container.containerId) {
        // A container that is not running has no grants left to revoke.
        const target = containerTarget(owner, container.containerId, this.options.cgroup);
        const paths = new Set(devices.map((d) => d.path));
        try {
          const result = await setGrants(target, (current) => withoutDevices(current, paths), { force: request.force, graceMs: this.options.killGraceMs ?? 5000, lockTimeoutMs: Math.max(0, deadline - this.now()) });
          killed = result.killed.map((h) => ({ pid: h.pid, comm: h.comm }));
        } catch (e) {
          throw refusalStatus(e);
        }
      }
      for (const s of slaves) await kube.deletePod(s.metadata!.namespace!, s.metadata!.name!, s.metadata?.uid);
      await this.untilGone(slaves, deadline);
      const message = `unmounted ${devices.map((d) => d.path).join(", ") || "nothing"} from container ${container.name}${killed.length ? `, ending ${killed.map((k) => `pid ${k.pid} (${k.comm})`).join(", ")}` : ""}`;
      await this.event(owner, "Normal", "DeviceUnmounted", `${message} for ${request.user}`);
      return { kind: "UnmountResult", container: container.name, devices, slavePods: slaves.map((s) => s.metadata!.name!), killed, message };
    } finally {
      release();
    }
  }

  /**
   * An unmount, or a failed mount, answers once the kubelet has let the slave
   * pods go, so the devices are free for the next pod when the caller hears
   * back; at the deadline it answers anyway (the devices are already out of
   * the container, and the kubelet finishes on its own).
   */
  private async untilGone(pods: V1Pod[], deadline: number): Promise<void> {
    for (const pod of pods) {
      for (;;) {
        const current = await this.options.kube.getPod(pod.metadata!.namespace!, pod.metadata!.name!);
        if (!current || current.metadata?.uid !== pod.metadata?.uid) break;
        if (this.now() >= deadline) {
          this.options.logger.warn("slave pod still terminating at the deadline; answering anyway (the kubelet finishes on its own)", { slavePod: podName(pod) });
          return;
        }
        await Bun.sleep(50);
      }
    }
  }

  private async event(pod: V1Pod, type: "Normal" | "Warning", reason: string, message: string): Promise<void> {
    const now = new Date(this.now()).toISOString();
    const event = {
      apiVersion: "v1",
      kind: "Event",
      metadata: { generateName: `${pod.metadata!.name}.`, namespace: pod.metadata!.namespace },
      involvedObject: { apiVersion: "v1", kind: "Pod", name: pod.metadata!.name, namespace: pod.metadata!.namespace, uid: pod.metadata!.uid },
      reason,
      message: message.slice(0, 1024),
      type,
      source: { component: "device-mounter-agent", host: this.options.nodeName },
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    } as unknown as CoreV1Event;
    await this.options.kube.createEvent(pod.metadata!.namespace!, event).catch((e) => this.options.logger.warn("could not record an event", { reason, error: e }));
  }
}

/** The device layer's refusals that the caller can act on, as their Status; anything else as it is. */
function refusalStatus(e: unknown): unknown {
  if (e instanceof DeviceBusyError) return new StatusError("Conflict", `device in use by ${e.inUseBy}; stop those processes, or unmount with force=1 to end them`);
  if (e instanceof GrantsLockedError) return new StatusError("Conflict", e.message);
  return e;
}
