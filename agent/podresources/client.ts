// The kubelet's PodResources API v1 on its unix socket: which device IDs the
// device plugins allocated to which pod's containers. Every call has a
// deadline, and a failure is ServiceUnavailable naming the socket.
import * as grpc from "@grpc/grpc-js";
import { resolve } from "node:path";
import {
  podResourcesPackageDefinition,
  type AllocatableResourcesResponse,
  type GetPodResourcesRequest,
  type GetPodResourcesResponse,
  type ListPodResourcesResponse,
  type PodResources,
} from "../../src/api/podresources.ts";
import { StatusError } from "../../src/api/status.ts";

export interface PodResourcesClient {
  readonly socketPath: string;
  list(): Promise<PodResources[]>;
  /** One pod's resources; undefined when the kubelet does not know the pod. */
  get(namespace: string, name: string): Promise<PodResources | undefined>;
  allocatable(): Promise<AllocatableResourcesResponse>;
  close(): void;
}

export interface PodResourcesClientOptions {
  /** Per call; default 10 s. */
  deadlineMs?: number;
}

/** What one container (or a whole pod) holds of each resource. */
export interface ResourceDevices {
  resource: string;
  deviceIds: string[];
}

type Unary<Req, Res> = (request: Req, options: grpc.CallOptions, callback: (error: grpc.ServiceError | null, response: Res) => void) => void;

interface ListerStub extends grpc.Client {
  List: Unary<object, ListPodResourcesResponse>;
  Get: Unary<GetPodResourcesRequest, GetPodResourcesResponse>;
  GetAllocatableResources: Unary<object, AllocatableResourcesResponse>;
}

interface LoadedPackage {
  v1: { PodResourcesLister: new (address: string, credentials: grpc.ChannelCredentials, options?: grpc.ChannelOptions) => ListerStub };
}

const DEFAULT_DEADLINE_MS = 10_000;
/** A large node's List answer exceeds gRPC's default 4 MiB. */
const MAX_RECEIVE_BYTES = 16 * 1024 * 1024;
// The kubelet answers these with plain Go errors, which gRPC sends as code UNKNOWN.
const GET_DISABLED = "PodResources API Get method disabled";
const POD_NOT_FOUND = /^pod \S+ in namespace \S+ not found$/;

export function createPodResourcesClient(socketPath: string, options: PodResourcesClientOptions = {}): PodResourcesClient {
  const path = resolve(socketPath);
  const loaded = grpc.loadPackageDefinition(podResourcesPackageDefinition) as unknown as LoadedPackage;
  const stub = new loaded.v1.PodResourcesLister(`unix://${path}`, grpc.credentials.createInsecure(), {
    "grpc.max_receive_message_length": MAX_RECEIVE_BYTES,
  });
  const deadlineMs = options.deadlineMs ?? DEFAULT_DEADLINE_MS;
  // Kubelets before 1.27 lack Get, and later ones may have it switched off: ask List instead, from then on.
  let getUnsupported = false;

  const call = <Req, Res>(method: "List" | "Get" | "GetAllocatableResources", request: Req): Promise<Res> =>
    new Promise((resolvePromise, reject) => {
      const fn = stub[method] as unknown as Unary<Req, Res>;
      fn.call(stub, request, { deadline: Date.now() + deadlineMs }, (error, response) => (error ? reject(error) : resolvePromise(response)));
    });

  const unavailable = (method: string, error: unknown): StatusError => {
    const e = error as Partial<grpc.ServiceError>;
    // grpc-js appends timing diagnostics to a deadline's details; the deadline itself says it all.
    const detail =
      e.code === grpc.status.DEADLINE_EXCEEDED
        ? `DEADLINE_EXCEEDED: no answer within ${deadlineMs} ms`
        : `${e.code === undefined ? "" : `${grpc.status[e.code] ?? e.code}: `}${e.details ?? e.message ?? String(error)}`;
    return new StatusError("ServiceUnavailable", `kubelet PodResources API at ${path}: ${method} failed: ${detail}`);
  };

  const list = async (): Promise<PodResources[]> => {
    try {
      return (await call<object, ListPodResourcesResponse>("List", {})).pod_resources;
    } catch (error) {
      throw unavailable("List", error);
    }
  };

  return {
    socketPath: path,
    list,
    async get(namespace, name) {
      if (!getUnsupported) {
        try {
          const response = await call<GetPodResourcesRequest, GetPodResourcesResponse>("Get", { pod_name: name, pod_namespace: namespace });
          return response.pod_resources ?? undefined;
        } catch (error) {
          const e = error as grpc.ServiceError;
          if (e.code === grpc.status.UNKNOWN && POD_NOT_FOUND.test(e.details)) return undefined;
          const unsupported = e.code === grpc.status.UNIMPLEMENTED || (e.code === grpc.status.UNKNOWN && e.details === GET_DISABLED);
          if (!unsupported) throw unavailable("Get", error);
          getUnsupported = true;
        }
      }
      return (await list()).find((pod) => pod.namespace === namespace && pod.name === name);
    },
    async allocatable() {
      try {
        return await call<object, AllocatableResourcesResponse>("GetAllocatableResources", {});
      } catch (error) {
        throw unavailable("GetAllocatableResources", error);
      }
    },
    close: () => stub.close(),
  };
}

/**
 * Device IDs per resource, for one container or (without a name) the whole
 * pod. The kubelet reports one entry per device (and NUMA node) in no order,
 * so entries are grouped here; resources and IDs keep first-seen order.
 */
export function devicesOf(pod: PodResources, containerName?: string): ResourceDevices[] {
  const byResource = new Map<string, Set<string>>();
  for (const container of pod.containers) {
    if (containerName !== undefined && container.name !== containerName) continue;
    for (const entry of container.devices) {
      const ids = byResource.get(entry.resource_name) ?? new Set<string>();
      for (const id of entry.device_ids) ids.add(id);
      byResource.set(entry.resource_name, ids);
    }
  }
  return [...byResource].map(([resource, ids]) => ({ resource, deviceIds: [...ids] }));
}
