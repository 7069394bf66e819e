// The nodes registry strategy: capacity quantities, taints, status rules, printing.
import { Node } from "kubernetes-models/v1/Node";
import { fieldError, type FieldError } from "./field-errors.ts";
import { canonicalQuantity, formatQuantity, isIntegerQuantity, parseQuantity, QuantityParseError } from "./quantity.ts";
import { isExtendedResourceName } from "./pods.ts";
import { bucketName, metadataFields, type ResourceType } from "./resource-type.ts";
import { badRequest } from "./status.ts";
import type { KubeObject } from "./store.ts";
import { AGE_COLUMN, age, NAME_COLUMN, type TableConvertor } from "./table.ts";
import { qualifiedNameProblems } from "./validation.ts";

type Json = Record<string, unknown>;

const RESOURCE_LISTS = ["capacity", "allocatable"] as const;
const TAINT_EFFECTS = ["NoExecute", "NoSchedule", "PreferNoSchedule"];

function normalizeNode(node: KubeObject): void {
  const st = node["status"] as Json | undefined;
  for (const list of RESOURCE_LISTS) {
    const map = st?.[list] as Record<string, unknown> | undefined;
    if (!map) continue;
    for (const [k, v] of Object.entries(map)) {
      try {
        map[k] = canonicalQuantity(v as string);
      } catch (e) {
        if (e instanceof QuantityParseError) throw badRequest(`Node in version "v1" cannot be handled as a Node: ${e.message}`);
        throw e;
      }
    }
  }
}

function validateNode(node: KubeObject): FieldError[] {
  const errs: FieldError[] = [];
  const st = (node["status"] ?? {}) as Json;
  for (const list of RESOURCE_LISTS) {
    for (const [name, text] of Object.entries((st[list] ?? {}) as Record<string, string>)) {
      const path = `status.${list}[${name}]`;
      for (const p of qualifiedNameProblems(name)) errs.push(fieldError.invalid(path, name, p));
      const q = parseQuantity(text);
      if (q.nanos < 0n) errs.push(fieldError.invalid(path, formatQuantity(q), "must be greater than or equal to 0"));
      if (isExtendedResourceName(name) && !isIntegerQuantity(q)) {
        errs.push(fieldError.invalidStringer(path, formatQuantity(q), "must be an integer"));
      }
    }
  }
  const taints = ((node["spec"] as Json | undefined)?.["taints"] ?? []) as Json[];
  const seen = new Set<string>();
  taints.forEach((taint, i) => {
    const path = `spec.taints[${i}]`;
    const key = (taint["key"] as string | undefined) ?? "";
    if (key === "") errs.push(fieldError.required(`${path}.key`));
    else for (const p of qualifiedNameProblems(key)) errs.push(fieldError.invalid(`${path}.key`, key, p));
    const effect = taint["effect"] as string | undefined;
    if (!effect) errs.push(fieldError.required(`${path}.effect`));
    else if (!TAINT_EFFECTS.includes(effect)) errs.push(fieldError.notSupported(`${path}.effect`, effect, TAINT_EFFECTS));
    const identity = `${key}:${effect}`;
    if (seen.has(identity)) {
      errs.push(fieldError.duplicate(`${path}`, `${key}:${effect}`));
    }
    seen.add(identity);
  });
  return errs;
}

function nodeConditionStatus(node: KubeObject): string {
  const st = (node["status"] ?? {}) as Json;
  const ready = ((st["conditions"] ?? []) as Json[]).find((c) => c["type"] === "Ready");
  const parts = [ready?.["status"] === "True" ? "Ready" : ready?.["status"] === "False" ? "NotReady" : "Unknown"];
  if ((node["spec"] as Json | undefined)?.["unschedulable"] === true) parts.push("SchedulingDisabled");
  return parts.join(",");
}

function nodeRoles(node: KubeObject): string {
  const roles = Object.keys(node.metadata.labels ?? {})
    .filter((l) => l.startsWith("node-role.kubernetes.io/"))
    .map((l) => l.slice("node-role.kubernetes.io/".length))
    .filter((r) => r !== "");
  const kubernetesRole = node.metadata.labels?.["kubernetes.io/role"];
  if (kubernetesRole) roles.push(kubernetesRole);
  return roles.length === 0 ? "<none>" : roles.sort().join(",");
}

const NODE_TABLE: TableConvertor = {
  columns: [
    NAME_COLUMN,
    { name: "Status", type: "string", description: "The status of the node" },
    { name: "Roles", type: "string", description: "The roles of the node" },
    AGE_COLUMN,
    { name: "Version", type: "string", description: "Kubelet Version reported by the node." },
    { name: "Internal-IP", type: "string", priority: 1, description: "List of addresses reachable to the node." },
    { name: "External-IP", type: "string", priority: 1, description: "List of addresses reachable to the node." },
    { name: "OS-Image", type: "string", priority: 1, description: "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy))." },
    { name: "Kernel-Version", type: "string", priority: 1, description: "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64)." },
    { name: "Container-Runtime", type: "string", priority: 1, description: "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2)." },
  ],
  cells(node, now) {
    const st = (node["status"] ?? {}) as Json;
    const info = (st["nodeInfo"] ?? {}) as Json;
    const addresses = (st["addresses"] ?? []) as Json[];
    const address = (type: string) => (addresses.find((a) => a["type"] === type)?.["address"] as string | undefined) ?? "<none>";
    return [
      node.metadata.name ?? "",
      nodeConditionStatus(node),
      nodeRoles(node),
      age(node.metadata.creationTimestamp, now),
      (info["kubeletVersion"] as string | undefined) ?? "",
      address("InternalIP"),
      address("ExternalIP"),
      (info["osImage"] as string | undefined) || "<unknown>",
      (info["kernelVersion"] as string | undefined) || "<unknown>",
      (info["containerRuntimeVersion"] as string | undefined) || "<unknown>",
    ];
  },
};

export const nodeResource: ResourceType = {
  group: "",
  version: "v1",
  resource: "nodes",
  kind: "Node",
  singularName: "node",
  namespaced: false,
  shortNames: ["no"],
  categories: [],
  verbs: ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
  bucket: bucketName("", "nodes"),
  decode: { apiVersion: "v1", kind: "Node", typeName: "V1Node", schema: Node },
  nameRule: "dns1123Subdomain",
  fieldSelectors: ["metadata.name", "spec.unschedulable"],
  selectableFields(node) {
    return { ...metadataFields(node, false), "spec.unschedulable": String((node["spec"] as Json | undefined)?.["unschedulable"] === true) };
  },
  hasStatus: true,
  tracksGeneration: false,
  allowCreateOnUpdate: false,
  returnDeletedObject: false,
  // Nodes, unlike most kinds, may carry status on create: the kubelet registers with it.
  normalize: normalizeNode,
  validate: validateNode,
  validateUpdate: (node) => validateNode(node),
  validateStatusUpdate: (node) => validateNode(node),
  table: NODE_TABLE,
};
