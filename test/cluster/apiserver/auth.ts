// Authentication (bearer tokens, client certificates) and RBAC-style authorization from a
// test-supplied policy, with kube's 401/403 wording.
import { BOOTSTRAP_RULES } from "./bootstrap-policy.ts";
import type { RequestInfo } from "./request-info.ts";
import { forbidden, forbiddenPath } from "./status.ts";

export interface UserInfo {
  username: string;
  uid?: string;
  groups?: string[];
  extra?: Record<string, string[]>;
}

export interface TokenIdentity extends UserInfo {
  /** Audiences the token is valid for; unset means the API server's own audience. */
  audiences?: string[];
}

/** One RBAC-like grant. Without `namespaces` it acts like a ClusterRoleBinding. */
export interface PolicyRule {
  user?: string;
  group?: string;
  verbs: string[];
  apiGroups?: string[];
  /** "pods", "pods/mount", "*", "*\/status" as in RBAC. */
  resources?: string[];
  namespaces?: string[];
  names?: string[];
  nonResourceURLs?: string[];
}

export interface Policy {
  tokens?: Record<string, TokenIdentity>;
  rules?: PolicyRule[];
  /** Members of system:masters may do anything (kube's default). Default true. */
  systemMastersAllowed?: boolean;
}

export const API_SERVER_AUDIENCE = "https://kubernetes.default.svc.cluster.local";

export interface AuthorizationAttributes {
  user: UserInfo;
  verb: string;
  isResourceRequest: boolean;
  apiGroup: string;
  apiVersion: string;
  resource: string;
  subresource: string;
  namespace: string;
  name: string;
  path: string;
}

export interface Decision {
  allowed: boolean;
  reason: string;
}

export type TokenCheck =
  | { ok: true; user: UserInfo; audiences: string[] }
  | { ok: false; error: string };

/** Adds system:authenticated like kube's authenticated group adder. */
export function withAuthenticatedGroup(user: UserInfo): UserInfo {
  const groups = user.groups ?? [];
  return groups.includes("system:authenticated") ? { ...user, groups } : { ...user, groups: [...groups, "system:authenticated"] };
}

/** A token the server issued itself; `invalidReason` says why it no longer works, if so. */
interface IssuedToken {
  identity: TokenIdentity;
  invalidReason?: () => string | undefined;
}

export class Authenticator {
  private readonly issued = new Map<string, IssuedToken>();

  constructor(
    private policy: Policy,
    builtinTokens: Record<string, TokenIdentity>,
  ) {
    for (const [token, identity] of Object.entries(builtinTokens)) this.issued.set(token, { identity });
  }

  /** Registers a token outside the test policy (kubeconfigs, service account tokens). */
  addToken(token: string, identity: TokenIdentity, invalidReason?: () => string | undefined): void {
    this.issued.set(token, { identity, invalidReason });
  }

  setPolicy(policy: Policy): void {
    this.policy = policy;
  }

  get currentPolicy(): Policy {
    return this.policy;
  }

  /** Token lookup with audience intersection, as TokenReview and request auth do. */
  checkToken(token: string, requestedAudiences: string[]): TokenCheck {
    const issued = this.issued.get(token);
    const identity = issued?.identity ?? this.policy.tokens?.[token];
    if (!identity) return { ok: false, error: "[invalid bearer token, token lookup failed]" };
    const invalid = issued?.invalidReason?.();
    if (invalid !== undefined) return { ok: false, error: `[invalid bearer token, ${invalid}]` };
    const wanted = requestedAudiences.length > 0 ? requestedAudiences : [API_SERVER_AUDIENCE];
    const tokenAudiences = identity.audiences ?? [API_SERVER_AUDIENCE];
    const audiences = wanted.filter((a) => tokenAudiences.includes(a));
    if (audiences.length === 0) {
      return {
        ok: false,
        error: `[invalid bearer token, token audiences ${JSON.stringify(tokenAudiences)} is invalid for the target audiences ${JSON.stringify(wanted)}]`,
      };
    }
    const { audiences: _ignored, ...user } = identity;
    return { ok: true, user: withAuthenticatedGroup(user), audiences };
  }
}

function matches(list: string[] | undefined, value: string): boolean {
  return list === undefined || list.includes("*") || list.includes(value);
}

/** rbac ResourceMatches: "pods", "pods/status", "*", "*\/status". */
function resourceMatches(rule: PolicyRule, resource: string, subresource: string): boolean {
  const resources = rule.resources ?? [];
  const combined = subresource === "" ? resource : `${resource}/${subresource}`;
  return resources.some((r) => r === "*" || r === combined || (subresource !== "" && r === `*/${subresource}`));
}

function nonResourceMatches(rule: PolicyRule, path: string): boolean {
  return (rule.nonResourceURLs ?? []).some((u) => u === "*" || u === path || (u.endsWith("*") && path.startsWith(u.slice(0, -1))));
}

function subjectMatches(rule: PolicyRule, user: UserInfo): boolean {
  if (rule.user !== undefined && rule.user === user.username) return true;
  return rule.group !== undefined && (user.groups ?? []).includes(rule.group);
}

/** What every authenticated user may do (system:discovery, system:basic-user, system:public-info-viewer). */
function builtinAllows(a: AuthorizationAttributes): boolean {
  const authenticated = (a.user.groups ?? []).includes("system:authenticated");
  if (!a.isResourceRequest) {
    if (a.verb !== "get") return false;
    if (/^\/(version|healthz|livez|readyz)(\/.*)?$/.test(a.path)) return true;
    return authenticated && /^\/(api|apis|openapi)(\/.*)?$/.test(a.path);
  }
  return (
    authenticated &&
    a.verb === "create" &&
    ((a.apiGroup === "authorization.k8s.io" && (a.resource === "selfsubjectaccessreviews" || a.resource === "selfsubjectrulesreviews")) ||
      (a.apiGroup === "authentication.k8s.io" && a.resource === "selfsubjectreviews"))
  );
}

export function authorize(policy: Policy, a: AuthorizationAttributes): Decision {
  if ((policy.systemMastersAllowed ?? true) && (a.user.groups ?? []).includes("system:masters")) {
    return { allowed: true, reason: "" };
  }
  if (builtinAllows(a)) return { allowed: true, reason: `RBAC: allowed by ClusterRoleBinding of a built-in ClusterRole to User "${a.user.username}"` };
  // Bootstrap grants come first, as kube's bootstrap ClusterRoleBindings always exist.
  const rules = [...BOOTSTRAP_RULES, ...(policy.rules ?? [])];
  for (const [i, rule] of rules.entries()) {
    if (!subjectMatches(rule, a.user) || !matches(rule.verbs, a.verb)) continue;
    if (!a.isResourceRequest) {
      if (rule.namespaces === undefined && nonResourceMatches(rule, a.path)) {
        return { allowed: true, reason: ruleReason(i, a.user) };
      }
      continue;
    }
    if (rule.namespaces !== undefined && (a.namespace === "" || !rule.namespaces.includes(a.namespace))) continue;
    if (!matches(rule.apiGroups ?? [], a.apiGroup)) continue;
    if (!resourceMatches(rule, a.resource, a.subresource)) continue;
    if (rule.names !== undefined && rule.names.length > 0 && !rule.names.includes(a.name)) continue;
    return { allowed: true, reason: ruleReason(i, a.user) };
  }
  return { allowed: false, reason: "" };
}

function ruleReason(index: number, user: UserInfo): string {
  const source = index < BOOTSTRAP_RULES.length ? `bootstrap rule #${index}` : `policy rule #${index - BOOTSTRAP_RULES.length}`;
  return `RBAC: allowed by ${source} to User "${user.username}"`;
}

export function attributesFromRequest(user: UserInfo, info: RequestInfo): AuthorizationAttributes {
  return {
    user,
    verb: info.verb,
    isResourceRequest: info.isResourceRequest,
    apiGroup: info.apiGroup,
    apiVersion: info.apiVersion,
    resource: info.resource,
    subresource: info.subresource,
    namespace: info.namespace,
    name: info.name,
    path: info.path,
  };
}

/** responsewriters.Forbidden: the 403 a denied request gets. */
export function forbiddenError(a: AuthorizationAttributes, reason: string) {
  let message: string;
  if (!a.isResourceRequest) {
    message = `User "${a.user.username}" cannot ${a.verb} path "${a.path}"`;
  } else {
    const resource = a.subresource === "" ? a.resource : `${a.resource}/${a.subresource}`;
    message =
      a.namespace !== ""
        ? `User "${a.user.username}" cannot ${a.verb} resource "${resource}" in API group "${a.apiGroup}" in the namespace "${a.namespace}"`
        : `User "${a.user.username}" cannot ${a.verb} resource "${resource}" in API group "${a.apiGroup}" at the cluster scope`;
  }
  if (reason !== "") message = `${message}: ${reason}`;
  if (!a.isResourceRequest) return forbiddenPath(`forbidden: ${message}`);
  return forbidden({ group: a.apiGroup, resource: a.resource }, a.name, message);
}
