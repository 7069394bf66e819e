// The kubelet's PodResources API v1 (List, Get, GetAllocatableResources) over gRPC on a
// unix socket, answering from the kubelet's own pod list and device allocations, with
// the definitions the product itself imports.
import * as grpc from "@grpc/grpc-js";
import { mkdirSync, rmSync } from "node:fs";
import { dirname } from "node:path";
import {
  podResourcesPackageDefinition,
  type AllocatableResourcesResponse,
  type ContainerDevices,
  type GetPodResourcesRequest,
  type GetPodResourcesResponse,
  type ListPodResourcesResponse,
  type PodResources,
} from "../../../src/api/podresources.ts";
import type { DeviceManager, ResourceAllocation } from "./device-manager.ts";

export interface ActivePod {
  uid: string;
  name: string;
  namespace: string;
  /** Containers PodResources reports: app containers and sidecars, in spec order. */
  containerNames: string[];
}

export interface PodResourcesSource {
  activePods(): ActivePod[];
  devices: DeviceManager;
}

export interface PodResourcesServer {
  socketPath: string;
  stop(): Promise<void>;
}

interface LoadedPackage {
  v1: { PodResourcesLister: grpc.ServiceClientConstructor };
}

export function podResourcesServiceDefinition(): grpc.ServiceDefinition {
  return (grpc.loadPackageDefinition(podResourcesPackageDefinition) as unknown as LoadedPackage).v1.PodResourcesLister
    .service;
}

export async function startPodResourcesServer(socketPath: string, source: PodResourcesSource): Promise<PodResourcesServer> {
  mkdirSync(dirname(socketPath), { recursive: true });
  rmSync(socketPath, { force: true });
  const server = new grpc.Server();
  server.addService(podResourcesServiceDefinition(), {
    List(_call: grpc.ServerUnaryCall<unknown, ListPodResourcesResponse>, callback: grpc.sendUnaryData<ListPodResourcesResponse>) {
      callback(null, { pod_resources: source.activePods().map((pod) => podResourcesOf(pod, source.devices)) });
    },
    Get(
      call: grpc.ServerUnaryCall<GetPodResourcesRequest, GetPodResourcesResponse>,
      callback: grpc.sendUnaryData<GetPodResourcesResponse>,
    ) {
      const { pod_name: name, pod_namespace: namespace } = call.request;
      const pod = source.activePods().find((candidate) => candidate.name === name && candidate.namespace === namespace);
      if (!pod) {
        // The kubelet returns a plain Go error here, which gRPC sends as code Unknown.
        callback({ code: grpc.status.UNKNOWN, details: `pod ${name} in namespace ${namespace} not found` });
        return;
      }
      callback(null, { pod_resources: podResourcesOf(pod, source.devices) });
    },
    GetAllocatableResources(
      _call: grpc.ServerUnaryCall<unknown, AllocatableResourcesResponse>,
      callback: grpc.sendUnaryData<AllocatableResourcesResponse>,
    ) {
      // No CPU or memory manager policy is active: no exclusive CPUs or NUMA memory.
      callback(null, { devices: containerDevicesEntries(source.devices.allocatableDevices()), cpu_ids: [], memory: [] });
    },
  });
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(`unix://${socketPath}`, grpc.ServerCredentials.createInsecure(), (error) =>
      error ? reject(new Error(`PodResources server could not listen on ${socketPath}: ${error.message}`)) : resolve(),
    ),
  );
  let stopped = false;
  return {
    socketPath,
    async stop() {
      if (stopped) return;
      stopped = true;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 1000);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      rmSync(socketPath, { force: true });
    },
  };
}

function podResourcesOf(pod: ActivePod, devices: DeviceManager): PodResources {
  return {
    name: pod.name,
    namespace: pod.namespace,
    containers: pod.containerNames.map((name) => ({
      name,
      devices: containerDevicesEntries(devices.containerDevices(pod.uid, name)),
      cpu_ids: [],
      memory: [],
      dynamic_resources: [],
    })),
    cpu_ids: [],
    memory: [],
  };
}

/**
 * One entry per device (and per NUMA node of it), in no particular order, exactly as
 * the kubelet's containerDevicesFromResourceDeviceInstances builds them from Go maps:
 * clients must group by resource_name themselves, so the order is shuffled here.
 */
function containerDevicesEntries(allocations: readonly ResourceAllocation[]): ContainerDevices[] {
  const entries = allocations.flatMap(({ resourceName, devices }) =>
    devices.flatMap((device): ContainerDevices[] =>
      device.numaNode === undefined
        ? [{ resource_name: resourceName, device_ids: [device.id], topology: null }]
        : [{ resource_name: resourceName, device_ids: [device.id], topology: { nodes: [{ ID: device.numaNode }] } }],
    ),
  );
  for (let index = entries.length - 1; index > 0; index--) {
    const other = Math.floor(Math.random() * (index + 1));
    [entries[index], entries[other]] = [entries[other] as ContainerDevices, entries[index] as ContainerDevices];
  }
  return entries;
}
