// Every API the server serves: stored resources, their subresources and the create-only
// virtual resources, indexed for routing, discovery and owner-reference resolution.
import { nodeResource } from "./nodes.ts";
import { podResource } from "./pods.ts";
import type { ResourceType } from "./resource-type.ts";
import {
  localSubjectAccessReviews,
  selfSubjectAccessReviews,
  selfSubjectReviews,
  subjectAccessReviews,
  tokenReviews,
  type VirtualResource,
} from "./reviews.ts";
import {
  configMapResource,
  eventResource,
  leaseResource,
  namespaceResource,
  podDisruptionBudgetResource,
  secretResource,
  serviceAccountResource,
} from "./simple-resources.ts";

export const STORED_RESOURCES: ResourceType[] = [
  podResource,
  nodeResource,
  namespaceResource,
  eventResource,
  configMapResource,
  secretResource,
  serviceAccountResource,
  leaseResource,
  podDisruptionBudgetResource,
];

export const VIRTUAL_RESOURCES: VirtualResource[] = [
  subjectAccessReviews,
  localSubjectAccessReviews,
  selfSubjectAccessReviews,
  tokenReviews,
  selfSubjectReviews,
];

/** A subresource as listed in discovery. */
export interface SubresourceInfo {
  group: string;
  version: string;
  /** "pods/status" */
  name: string;
  kind: string;
  namespaced: boolean;
  verbs: string[];
  /** Group/version of the subresource's kind when it differs (pods/eviction). */
  kindGroup?: string;
  kindVersion?: string;
}

export const SUBRESOURCES: SubresourceInfo[] = [
  { group: "", version: "v1", name: "pods/status", kind: "Pod", namespaced: true, verbs: ["get", "patch", "update"] },
  { group: "", version: "v1", name: "pods/binding", kind: "Binding", namespaced: true, verbs: ["create"] },
  { group: "", version: "v1", name: "nodes/status", kind: "Node", namespaced: false, verbs: ["get", "patch", "update"] },
  { group: "", version: "v1", name: "namespaces/status", kind: "Namespace", namespaced: false, verbs: ["get", "patch", "update"] },
  {
    group: "",
    version: "v1",
    name: "serviceaccounts/token",
    kind: "TokenRequest",
    namespaced: true,
    verbs: ["create"],
    kindGroup: "authentication.k8s.io",
    kindVersion: "v1",
  },
  { group: "policy", version: "v1", name: "poddisruptionbudgets/status", kind: "PodDisruptionBudget", namespaced: true, verbs: ["get", "patch", "update"] },
];

/** The legacy namespaced "bindings" collection (POST only). */
export const BINDINGS_RESOURCE = { group: "", version: "v1", resource: "bindings", kind: "Binding", singularName: "binding", namespaced: true };

export interface GroupVersion {
  group: string;
  version: string;
}

export function builtinGroupVersions(): GroupVersion[] {
  const seen = new Map<string, GroupVersion>();
  for (const r of [...STORED_RESOURCES, ...VIRTUAL_RESOURCES]) seen.set(`${r.group}/${r.version}`, { group: r.group, version: r.version });
  return [...seen.values()];
}

export function findStored(group: string, version: string, resource: string): ResourceType | undefined {
  return STORED_RESOURCES.find((r) => r.group === group && r.version === version && r.resource === resource);
}

export function findVirtual(group: string, version: string, resource: string): VirtualResource | undefined {
  return VIRTUAL_RESOURCES.find((r) => r.group === group && r.version === version && r.resource === resource);
}

/** RESTMapper lookup for ownerReferences: apiVersion + kind → resource. */
export function findByKind(apiVersion: string, kind: string): ResourceType | undefined {
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
  return STORED_RESOURCES.find((r) => r.group === group && r.version === version && r.kind === kind);
}
