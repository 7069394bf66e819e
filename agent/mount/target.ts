// Which container of a pod a request is about, and where that container is
// on this node (its cgroup and a process of it), for the device layer.
import type { V1Pod } from "@kubernetes/client-node";
import { StatusError } from "../../src/api/status.ts";
import { findContainerCgroup, firstPid, type ContainerCgroupOptions, type QosClass } from "../cgroup/container-cgroup.ts";
import type { ContainerTarget } from "../container/grants.ts";

export interface TargetContainer {
  name: string;
  /** "containerd://…" of the running instance; undefined when it is not running. */
  containerId?: string;
}

const describePod = (pod: V1Pod) => `pod ${pod.metadata?.namespace}/${pod.metadata?.name}`;

/** The named container, or the pod's only regular container. */
export function resolveContainer(pod: V1Pod, requested: string | undefined): TargetContainer {
  const names = (pod.spec?.containers ?? []).map((c) => c.name);
  let name = requested;
  if (!name) {
    if (names.length !== 1) {
      throw new StatusError("BadRequest", `${describePod(pod)} has ${names.length} containers (${names.join(", ")}); name one with the container parameter`);
    }
    name = names[0]!;
  } else if (!names.includes(name)) {
    throw new StatusError("BadRequest", `${describePod(pod)} has no container ${JSON.stringify(name)}; its containers are ${names.join(", ")}`);
  }
  const status = pod.status?.containerStatuses?.find((s) => s.name === name);
  const running = status?.state?.running !== undefined && status.containerID;
  return { name, ...(running ? { containerId: status!.containerID! } : {}) };
}

export function requireRunning(pod: V1Pod, container: TargetContainer): asserts container is TargetContainer & { containerId: string } {
  if (!container.containerId) throw new StatusError("Conflict", `container ${container.name} of ${describePod(pod)} is not running`);
}

const QOS = new Set<QosClass>(["Guaranteed", "Burstable", "BestEffort"]);

/** The device layer's handle on a running container of a pod on this node. */
export function containerTarget(pod: V1Pod, containerId: string, options: ContainerCgroupOptions): ContainerTarget {
  const qos = pod.status?.qosClass as QosClass | undefined;
  if (!qos || !QOS.has(qos)) throw new StatusError("Conflict", `${describePod(pod)} has no QoS class in its status yet`);
  const cgroup = findContainerCgroup({ podUid: pod.metadata!.uid!, qosClass: qos, containerId }, options);
  const cgroupDirs = { ...(cgroup.v1Devices ? { v1Devices: cgroup.v1Devices } : {}), ...(cgroup.unified ? { unified: cgroup.unified } : {}) };
  return { pid: firstPid(cgroup), cgroupDirs };
}
