// The kubelet PodResources API v1 (k8s.io/kubelet/pkg/apis/podresources/v1/api.proto),
// embedded as a protobufjs JSON descriptor so the compiled single binary carries it:
// nothing is read from a .proto file at run time. Field names and numbers follow the
// upstream proto (including the tombstoned DynamicResource field 1 and the proto3
// `optional` share_id); the gogoproto options of older revisions carry no wire meaning.
import * as protoLoader from "@grpc/proto-loader";

export const PODRESOURCES_PACKAGE = "v1";
export const PODRESOURCES_SERVICE = "v1.PodResourcesLister";
/** Where a real kubelet serves the API; tests point clients at their own socket. */
export const DEFAULT_PODRESOURCES_SOCKET = "/var/lib/kubelet/pod-resources/kubelet.sock";

const repeated = (type: string, id: number) => ({ rule: "repeated", type, id });
const single = (type: string, id: number) => ({ type, id });

export const podResourcesDescriptor = {
  nested: {
    v1: {
      nested: {
        PodResourcesLister: {
          methods: {
            List: { requestType: "ListPodResourcesRequest", responseType: "ListPodResourcesResponse" },
            GetAllocatableResources: {
              requestType: "AllocatableResourcesRequest",
              responseType: "AllocatableResourcesResponse",
            },
            Get: { requestType: "GetPodResourcesRequest", responseType: "GetPodResourcesResponse" },
          },
        },
        AllocatableResourcesRequest: { fields: {} },
        AllocatableResourcesResponse: {
          fields: {
            devices: repeated("ContainerDevices", 1),
            cpu_ids: repeated("int64", 2),
            memory: repeated("ContainerMemory", 3),
          },
        },
        ListPodResourcesRequest: { fields: {} },
        ListPodResourcesResponse: { fields: { pod_resources: repeated("PodResources", 1) } },
        PodResources: {
          fields: {
            name: single("string", 1),
            namespace: single("string", 2),
            containers: repeated("ContainerResources", 3),
            cpu_ids: repeated("int64", 4),
            memory: repeated("ContainerMemory", 5),
          },
        },
        ContainerResources: {
          fields: {
            name: single("string", 1),
            devices: repeated("ContainerDevices", 2),
            cpu_ids: repeated("int64", 3),
            memory: repeated("ContainerMemory", 4),
            dynamic_resources: repeated("DynamicResource", 5),
          },
        },
        ContainerMemory: {
          fields: {
            memory_type: single("string", 1),
            size: single("uint64", 2),
            topology: single("TopologyInfo", 3),
          },
        },
        ContainerDevices: {
          fields: {
            resource_name: single("string", 1),
            device_ids: repeated("string", 2),
            topology: single("TopologyInfo", 3),
          },
        },
        TopologyInfo: { fields: { nodes: repeated("NUMANode", 1) } },
        NUMANode: { fields: { ID: single("int64", 1) } },
        DynamicResource: {
          reserved: [[1, 1]],
          fields: {
            claim_name: single("string", 2),
            claim_namespace: single("string", 3),
            claim_resources: repeated("ClaimResource", 4),
          },
        },
        ClaimResource: {
          oneofs: { _share_id: { oneof: ["share_id"] } },
          fields: {
            cdi_devices: repeated("CDIDevice", 1),
            driver_name: single("string", 2),
            pool_name: single("string", 3),
            device_name: single("string", 4),
            share_id: { type: "string", id: 5, options: { proto3_optional: true } },
          },
        },
        CDIDevice: { fields: { name: single("string", 1) } },
        GetPodResourcesRequest: {
          fields: { pod_name: single("string", 1), pod_namespace: single("string", 2) },
        },
        GetPodResourcesResponse: { fields: { pod_resources: single("PodResources", 1) } },
      },
    },
  },
} as const;

/**
 * Loader options both ends use: snake_case field names as in the proto, int64 as JS
 * numbers (CPU ids, NUMA ids and memory sizes stay far below 2^53), and absent
 * repeated fields as empty arrays so callers need no undefined checks.
 */
export const podResourcesLoaderOptions: protoLoader.Options = {
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: true,
  arrays: true,
  oneofs: true,
};

export const podResourcesPackageDefinition: protoLoader.PackageDefinition = protoLoader.fromJSON(
  podResourcesDescriptor as unknown as Parameters<typeof protoLoader.fromJSON>[0],
  podResourcesLoaderOptions,
);

export interface NUMANode {
  ID: number;
}
export interface TopologyInfo {
  nodes: NUMANode[];
}
export interface ContainerDevices {
  resource_name: string;
  device_ids: string[];
  topology?: TopologyInfo | null;
}
export interface ContainerMemory {
  memory_type: string;
  size: number;
  topology?: TopologyInfo | null;
}
export interface CDIDevice {
  name: string;
}
export interface ClaimResource {
  cdi_devices: CDIDevice[];
  driver_name: string;
  pool_name: string;
  device_name: string;
  share_id?: string;
}
export interface DynamicResource {
  claim_name: string;
  claim_namespace: string;
  claim_resources: ClaimResource[];
}
export interface ContainerResources {
  name: string;
  devices: ContainerDevices[];
  cpu_ids: number[];
  memory: ContainerMemory[];
  dynamic_resources: DynamicResource[];
}
export interface PodResources {
  name: string;
  namespace: string;
  containers: ContainerResources[];
  cpu_ids: number[];
  memory: ContainerMemory[];
}
export interface ListPodResourcesResponse {
  pod_resources: PodResources[];
}
export interface GetPodResourcesRequest {
  pod_name: string;
  pod_namespace: string;
}
export interface GetPodResourcesResponse {
  pod_resources: PodResources | null;
}
export interface AllocatableResourcesResponse {
  devices: ContainerDevices[];
  cpu_ids: number[];
  memory: ContainerMemory[];
}
