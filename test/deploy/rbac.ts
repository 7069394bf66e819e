// Kubernetes RBAC over rendered manifests: what a service account is granted
// (its RoleBindings and ClusterRoleBindings, resolved to rules), and whether a
// request (as the API server's RequestInfo sees it) is allowed, by which grant.
import type { RequestInfo } from "../cluster/apiserver/request-info.ts";
import type { Manifest } from "./manifests.ts";

export interface Rule {
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  verbs: string[];
  nonResourceURLs?: string[];
}

export interface Grant {
  rule: Rule;
  /** The binding's namespace for a RoleBinding; undefined for a ClusterRoleBinding (everywhere). */
  namespace?: string;
  /** "ClusterRoleBinding x -> ClusterRole y", for messages. */
  source: string;
  /** Kube's own role (not in deploy/): its rules are not ours to trim. */
  builtIn: boolean;
}

/**
 * Roles the manifests bind but Kubernetes provides, as its bootstrap policy
 * defines them (plugin/pkg/auth/authorizer/rbac/bootstrappolicy/namespace_policy.go).
 */
export const BUILT_IN_ROLES: Record<string, Rule[]> = {
  "Role kube-system/extension-apiserver-authentication-reader": [
    { apiGroups: [""], resources: ["configmaps"], resourceNames: ["extension-apiserver-authentication"], verbs: ["get", "list", "watch"] },
  ],
};

const isSubject = (binding: Manifest, namespace: string, name: string) =>
  (binding.subjects ?? []).some((s: any) => s.kind === "ServiceAccount" && s.name === name && s.namespace === namespace);

export function grantsOf(objects: Manifest[], serviceAccount: { namespace: string; name: string }): Grant[] {
  const grants: Grant[] = [];
  for (const binding of objects.filter((o) => (o.kind === "RoleBinding" || o.kind === "ClusterRoleBinding") && isSubject(o, serviceAccount.namespace, serviceAccount.name))) {
    const { kind, name } = binding.roleRef as { kind: string; name: string };
    const namespace = binding.kind === "RoleBinding" ? binding.metadata.namespace : undefined;
    const key = kind === "Role" ? `Role ${namespace}/${name}` : `ClusterRole ${name}`;
    const role = objects.find((o) => o.kind === kind && o.metadata.name === name && (kind === "ClusterRole" || o.metadata.namespace === namespace));
    const rules = (role?.rules as Rule[] | undefined) ?? BUILT_IN_ROLES[key];
    if (!rules) throw new Error(`${binding.kind} ${binding.metadata.name} binds ${key}, which neither deploy/ nor Kubernetes defines`);
    for (const rule of rules) grants.push({ rule, ...(namespace ? { namespace } : {}), source: `${binding.kind} ${binding.metadata.name} -> ${key}`, builtIn: !role });
  }
  return grants;
}

const has = (list: string[] | undefined, value: string) => (list ?? []).includes("*") || (list ?? []).includes(value);

/** Whether `rule`, in the grant's scope, allows the request (kube's RBAC semantics). */
export function ruleAllows(grant: Grant, info: RequestInfo): boolean {
  const { rule } = grant;
  if (!info.isResourceRequest) return grant.namespace === undefined && has(rule.verbs, info.verb) && (rule.nonResourceURLs ?? []).includes(info.path);
  if (grant.namespace !== undefined && info.namespace !== grant.namespace) return false;
  const resource = info.subresource ? `${info.resource}/${info.subresource}` : info.resource;
  if (!has(rule.verbs, info.verb) || !has(rule.apiGroups, info.apiGroup) || !has(rule.resources, resource)) return false;
  const names = rule.resourceNames ?? [];
  return names.length === 0 || (info.name !== "" && names.includes(info.name));
}

export const describeRequest = (info: RequestInfo): string =>
  `${info.verb} ${info.apiGroup || "core"}/${info.subresource ? `${info.resource}/${info.subresource}` : info.resource}${info.name ? ` ${info.name}` : ""} ${info.namespace ? `in ${info.namespace}` : "cluster-wide"}`;
