// What every kubeadm cluster grants before any test policy: the bootstrap ClusterRoles of
// kube-scheduler and of kubelets (the Node authorizer), plus the NodeRestriction admission
// plugin that confines a kubelet to its own Node and to pods bound to it.
import type { PolicyRule, UserInfo } from "./auth.ts";
import type { ObjectApi } from "./object-api.ts";
import type { ResourceType } from "./resource-type.ts";
import { forbidden } from "./status.ts";

const READ = ["get", "list", "watch"];

export const BOOTSTRAP_RULES: PolicyRule[] = [
  // system:kube-scheduler (+ its extension-apiserver-authentication-reader Role)
  { user: "system:kube-scheduler", verbs: ["create", "patch", "update"], apiGroups: ["", "events.k8s.io"], resources: ["events"] },
  { user: "system:kube-scheduler", verbs: ["create", "get", "update"], apiGroups: ["coordination.k8s.io"], resources: ["leases"] },
  { user: "system:kube-scheduler", verbs: READ, apiGroups: [""], resources: ["nodes", "namespaces", "services", "replicationcontrollers", "persistentvolumeclaims", "persistentvolumes"] },
  { user: "system:kube-scheduler", verbs: ["delete", ...READ], apiGroups: [""], resources: ["pods"] },
  { user: "system:kube-scheduler", verbs: ["create"], apiGroups: [""], resources: ["bindings", "pods/binding"] },
  { user: "system:kube-scheduler", verbs: ["patch", "update"], apiGroups: [""], resources: ["pods/status"] },
  { user: "system:kube-scheduler", verbs: READ, apiGroups: ["policy"], resources: ["poddisruptionbudgets"] },
  { user: "system:kube-scheduler", verbs: ["create"], apiGroups: ["authentication.k8s.io"], resources: ["tokenreviews"] },
  { user: "system:kube-scheduler", verbs: ["create"], apiGroups: ["authorization.k8s.io"], resources: ["subjectaccessreviews"] },
  { user: "system:kube-scheduler", verbs: READ, apiGroups: [""], resources: ["configmaps"], namespaces: ["kube-system"] },
  // The Node authorizer's grants to kubelets (group system:nodes).
  { group: "system:nodes", verbs: READ, apiGroups: [""], resources: ["nodes", "pods", "services", "endpoints", "configmaps", "secrets"] },
  { group: "system:nodes", verbs: ["create", "update", "patch", "delete"], apiGroups: [""], resources: ["nodes", "nodes/status"] },
  { group: "system:nodes", verbs: ["create", "delete"], apiGroups: [""], resources: ["pods"] },
  { group: "system:nodes", verbs: ["update", "patch"], apiGroups: [""], resources: ["pods/status"] },
  { group: "system:nodes", verbs: ["create"], apiGroups: [""], resources: ["pods/eviction", "serviceaccounts/token"] },
  { group: "system:nodes", verbs: ["create", "update", "patch"], apiGroups: ["", "events.k8s.io"], resources: ["events"] },
  { group: "system:nodes", verbs: ["create", "delete", "get", "update", "patch", "list", "watch"], apiGroups: ["coordination.k8s.io"], resources: ["leases"], namespaces: ["kube-node-lease"] },
  { group: "system:nodes", verbs: ["create"], apiGroups: ["authentication.k8s.io"], resources: ["tokenreviews"] },
  { group: "system:nodes", verbs: ["create"], apiGroups: ["authorization.k8s.io"], resources: ["subjectaccessreviews", "localsubjectaccessreviews"] },
];

/** The groups kube's authenticators give well-known usernames. */
export function defaultGroupsFor(username: string): string[] {
  if (username.startsWith("system:node:")) return ["system:nodes"];
  const sa = /^system:serviceaccount:([^:]+):[^:]+$/.exec(username);
  if (sa) return ["system:serviceaccounts", `system:serviceaccounts:${sa[1]}`];
  return [];
}

const MIRROR_POD_ANNOTATION = "kubernetes.io/config.mirror";

/**
 * NodeRestriction: a kubelet (system:node:<name> in system:nodes) may only touch its own
 * Node, only create mirror pods bound to itself, and only write status of / delete pods
 * bound to itself.
 */
export function admitNodeRestriction(
  user: UserInfo,
  verb: string,
  rt: ResourceType,
  subresource: string,
  namespace: string | undefined,
  name: string,
  createBody: unknown,
  api: ObjectApi,
): void {
  if (!(user.groups ?? []).includes("system:nodes") || !user.username.startsWith("system:node:")) return;
  const nodeName = user.username.slice("system:node:".length);
  const gr = { group: rt.group, resource: rt.resource };
  if (rt.group !== "") return;
  if (rt.resource === "nodes" && ["create", "update", "patch", "delete"].includes(verb)) {
    const requested = verb === "create" ? String(((createBody as { metadata?: { name?: string } } | undefined)?.metadata?.name) ?? "") : name;
    if (requested !== nodeName) throw forbidden(gr, requested, `node "${nodeName}" is not allowed to modify node "${requested}"`);
    return;
  }
  if (rt.resource !== "pods") return;
  if (verb === "create" && subresource === "") {
    const pod = (createBody ?? {}) as { metadata?: { name?: string; annotations?: Record<string, string> }; spec?: { nodeName?: string } };
    const podName = pod.metadata?.name ?? "";
    if (pod.metadata?.annotations?.[MIRROR_POD_ANNOTATION] === undefined) {
      throw forbidden(gr, podName, `pod does not have "${MIRROR_POD_ANNOTATION}" annotation, node "${nodeName}" can only create mirror pods`);
    }
    if (pod.spec?.nodeName !== nodeName) throw forbidden(gr, podName, `node "${nodeName}" can only create pods with spec.nodeName set to itself`);
    return;
  }
  const pod = api.get(rt.bucket, namespace, name);
  const boundTo = (pod?.["spec"] as { nodeName?: string } | undefined)?.nodeName;
  if (!pod) return;
  if ((verb === "update" || verb === "patch") && subresource === "status" && boundTo !== nodeName) {
    throw forbidden(gr, name, `node "${nodeName}" can only update pod status for pods with spec.nodeName set to itself`);
  }
  if (verb === "delete" && subresource === "" && boundTo !== nodeName) {
    throw forbidden(gr, name, `node "${nodeName}" can only delete pods with spec.nodeName set to itself`);
  }
}
