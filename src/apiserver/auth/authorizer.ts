// May this caller do this? Asked of the kube-apiserver with a
// SubjectAccessReview for every request that is not health or discovery
// (the aggregator's own check is not assumed). Answers, allow and deny, are
// reused for a short time.
import { StatusError } from "../../api/status.ts";
import type { Clock } from "../../clock.ts";
import { TtlCache } from "./ttl-cache.ts";
import type { UserInfo } from "../../api/user.ts";

export interface ResourceAttributes {
  verb: string;
  group: string;
  resource: string;
  subresource?: string;
  namespace?: string;
  name?: string;
}
export interface NonResourceAttributes {
  verb: string;
  path: string;
}

export type AccessAttributes = { user: UserInfo } & ({ resource: ResourceAttributes } | { nonResource: NonResourceAttributes });

export interface AccessDecision {
  allowed: boolean;
  reason?: string;
}

export interface AccessReviewer {
  /** POST authorization.k8s.io/v1 SubjectAccessReview. Throws when the review itself could not be made. */
  reviewAccess(attributes: AccessAttributes): Promise<AccessDecision>;
}

export interface Authorizer {
  authorize(attributes: AccessAttributes): Promise<AccessDecision>;
}

export class CachingAuthorizer implements Authorizer {
  private readonly cache: TtlCache<AccessDecision>;
  constructor(
    private readonly reviewer: AccessReviewer,
    clock: Clock,
    private readonly ttlMs: number,
  ) {
    this.cache = new TtlCache(clock);
  }

  async authorize(attributes: AccessAttributes): Promise<AccessDecision> {
    const { user } = attributes;
    const key = JSON.stringify([user.username, user.uid ?? "", [...user.groups].sort(), Object.entries(user.extra).sort(), "resource" in attributes ? attributes.resource : attributes.nonResource]);
    const cached = this.cache.get(key);
    if (cached) return cached;
    const decision = await this.reviewer.reviewAccess(attributes);
    this.cache.set(key, decision, this.ttlMs);
    return decision;
  }
}

/** The message kube-apiserver gives (k8s.io/apiserver responsewriters.Forbidden + apierrors.NewForbidden). */
export function forbidden(attributes: AccessAttributes, reason?: string): StatusError {
  const username = attributes.user.username;
  let message: string;
  let details: { name?: string; group?: string; kind?: string } | undefined;
  if ("resource" in attributes) {
    const r = attributes.resource;
    const resource = r.subresource ? `${r.resource}/${r.subresource}` : r.resource;
    const where = r.namespace ? `in the namespace "${r.namespace}"` : "at the cluster scope";
    const why = `User "${username}" cannot ${r.verb} resource "${resource}" in API group "${r.group}" ${where}${reason ? `: ${reason}` : ""}`;
    const groupResource = r.group ? `${r.resource}.${r.group}` : r.resource;
    message = r.name ? `${groupResource} "${r.name}" is forbidden: ${why}` : `${groupResource} is forbidden: ${why}`;
    details = { ...(r.name ? { name: r.name } : {}), group: r.group, kind: r.resource };
  } else {
    const n = attributes.nonResource;
    message = `forbidden: User "${username}" cannot ${n.verb} path "${n.path}"${reason ? `: ${reason}` : ""}`;
  }
  return new StatusError("Forbidden", message, details);
}

/** Throws 403 unless allowed; a review that cannot be made is an internal error, as in kube. */
export async function requireAccess(authorizer: Authorizer, attributes: AccessAttributes, hint?: string): Promise<void> {
  let decision: AccessDecision;
  try {
    decision = await authorizer.authorize(attributes);
  } catch (e) {
    throw new StatusError("InternalError", `authorization could not be checked (SubjectAccessReview failed): ${(e as Error).message}`);
  }
  if (!decision.allowed) throw forbidden(attributes, decision.reason || hint);
}
