// The kubelet's device manager: hands out free device IDs of each extended resource to
// containers at pod admission, remembers every allocation until the pod is gone (that
// memory is what the PodResources API reports), and gives the runtime the DeviceSpecs
// and environment the plugin's Allocate returned.
import type { ContainerAllocation, DeviceSpec, ExtendedResource, PluginDevice } from "./devices.ts";

export interface ResourceAllocation {
  resourceName: string;
  devices: PluginDevice[];
}

interface PodAllocation {
  /** Container name → allocations, in the order the resources were requested. */
  containers: Map<string, ResourceAllocation[]>;
  runtime: Map<string, ContainerAllocation>;
}

export interface ContainerDeviceRequest {
  name: string;
  /** Extended resource name → device count. */
  resources: ReadonlyMap<string, number>;
  /** A classic init container: it exits before the next container starts. */
  runsToCompletionFirst: boolean;
}

export class DeviceAdmissionError extends Error {
  constructor(
    readonly resourceName: string,
    readonly requested: number,
    readonly available: number,
  ) {
    super(
      `Allocate failed due to requested number of devices unavailable for ${resourceName}. Requested: ${requested}, Available: ${available}, which is unexpected`,
    );
  }
}

export class DeviceManager {
  private readonly resources = new Map<string, ExtendedResource>();
  private readonly pods = new Map<string, PodAllocation>();

  constructor(resources: readonly ExtendedResource[]) {
    for (const resource of resources) this.resources.set(resource.name, resource);
  }

  /** Extended resource name → device count, for node capacity and allocatable. */
  capacity(): Map<string, number> {
    return new Map([...this.resources.values()].map((resource) => [resource.name, resource.devices.length]));
  }

  allocatableDevices(): ResourceAllocation[] {
    return [...this.resources.values()].map((resource) => ({ resourceName: resource.name, devices: [...resource.devices] }));
  }

  hasPod(podUid: string): boolean {
    return this.pods.has(podUid);
  }

  /**
   * Allocates devices for every container of a pod at once (all or nothing), like
   * admission does, in container start order. Devices of a classic init container
   * go back to a pool the later containers of the same pod draw from first, since
   * the init container has finished before they start.
   */
  allocatePod(podUid: string, containers: readonly ContainerDeviceRequest[]): void {
    if (this.pods.has(podUid)) return;
    const taken = this.devicesInUse();
    const reusable = new Map<string, PluginDevice[]>();
    const pod: PodAllocation = { containers: new Map(), runtime: new Map() };
    for (const container of containers) {
      const allocations: ResourceAllocation[] = [];
      const specs: DeviceSpec[] = [];
      const env: Record<string, string> = {};
      for (const [resourceName, count] of container.resources) {
        const resource = this.resources.get(resourceName);
        if (!resource) throw new DeviceAdmissionError(resourceName, count, 0);
        const pool = reusable.get(resourceName) ?? [];
        const free = [...pool, ...resource.devices.filter((device) => !taken.has(deviceKey(resourceName, device.id)))];
        if (free.length < count) throw new DeviceAdmissionError(resourceName, count, free.length);
        const chosen = free.slice(0, count);
        for (const device of chosen) taken.add(deviceKey(resourceName, device.id));
        reusable.set(
          resourceName,
          pool.filter((device) => !chosen.includes(device)),
        );
        if (container.runsToCompletionFirst) reusable.get(resourceName)?.push(...chosen);
        const response = resource.allocate(chosen.map((device) => device.id));
        allocations.push({ resourceName, devices: chosen });
        specs.push(...response.devices);
        Object.assign(env, response.env);
      }
      pod.containers.set(container.name, allocations);
      pod.runtime.set(container.name, { devices: dedupeSpecs(specs), env });
    }
    this.pods.set(podUid, pod);
  }

  /** DeviceSpecs and environment for a container; empty for containers without devices. */
  runtimeAllocation(podUid: string, containerName: string): ContainerAllocation {
    return this.pods.get(podUid)?.runtime.get(containerName) ?? { devices: [], env: {} };
  }

  containerDevices(podUid: string, containerName: string): ResourceAllocation[] {
    return this.pods.get(podUid)?.containers.get(containerName) ?? [];
  }

  releasePod(podUid: string): void {
    this.pods.delete(podUid);
  }

  private devicesInUse(): Set<string> {
    const inUse = new Set<string>();
    for (const pod of this.pods.values()) {
      for (const allocations of pod.containers.values()) {
        for (const { resourceName, devices } of allocations) {
          for (const device of devices) inUse.add(deviceKey(resourceName, device.id));
        }
      }
    }
    return inUse;
  }
}

function deviceKey(resourceName: string, deviceId: string): string {
  return `${resourceName}\u0000${deviceId}`;
}

/** Control nodes (nvidiactl, ...) come with every GPU; a container gets each path once. */
function dedupeSpecs(specs: readonly DeviceSpec[]): DeviceSpec[] {
  const byPath = new Map<string, DeviceSpec>();
  for (const spec of specs) if (!byPath.has(spec.containerPath)) byPath.set(spec.containerPath, spec);
  return [...byPath.values()];
}
