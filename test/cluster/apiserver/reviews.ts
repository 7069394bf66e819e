// Create-only review resources: SubjectAccessReview (+ Self/Local variants), TokenReview and
// SelfSubjectReview, answered from the same authenticator/policy that guards the server.
import { TokenReview } from "kubernetes-models/authentication.k8s.io/v1/TokenReview";
import { LocalSubjectAccessReview } from "kubernetes-models/authorization.k8s.io/v1/LocalSubjectAccessReview";
import { SelfSubjectAccessReview } from "kubernetes-models/authorization.k8s.io/v1/SelfSubjectAccessReview";
import { SubjectAccessReview } from "kubernetes-models/authorization.k8s.io/v1/SubjectAccessReview";
import { authorize, type Authenticator, type AuthorizationAttributes, type UserInfo } from "./auth.ts";
import { decodeObject, type DecodeTarget } from "./decode.ts";
import { fieldError, invalid, type FieldError } from "./field-errors.ts";
import { badRequest } from "./status.ts";

type Json = Record<string, unknown>;

export interface ReviewContext {
  user: UserInfo;
  namespace: string;
  authenticator: Authenticator;
}

/** A resource that only answers POSTs and stores nothing. */
export interface VirtualResource {
  group: string;
  version: string;
  resource: string;
  kind: string;
  singularName: string;
  namespaced: boolean;
  create(body: unknown, ctx: ReviewContext): Record<string, unknown>;
}

function decodeReview(body: unknown, target: DecodeTarget): { review: Json; errs: FieldError[] } {
  const { object, schemaErrors } = decodeObject(body, target, "Strict");
  return { review: object as unknown as Json, errs: [...schemaErrors] };
}

function respond(review: Json, status: Json): Record<string, unknown> {
  const metadata = { ...((review["metadata"] ?? {}) as Json), creationTimestamp: null };
  return { ...review, metadata, status };
}

function accessDecision(ctx: ReviewContext, spec: Json, user: UserInfo): Json {
  const resourceAttributes = spec["resourceAttributes"] as Json | undefined;
  const nonResourceAttributes = spec["nonResourceAttributes"] as Json | undefined;
  const str = (v: unknown) => (typeof v === "string" ? v : "");
  const attributes: AuthorizationAttributes = resourceAttributes
    ? {
        user,
        verb: str(resourceAttributes["verb"]),
        isResourceRequest: true,
        apiGroup: str(resourceAttributes["group"]),
        apiVersion: str(resourceAttributes["version"]),
        resource: str(resourceAttributes["resource"]),
        subresource: str(resourceAttributes["subresource"]),
        namespace: str(resourceAttributes["namespace"]),
        name: str(resourceAttributes["name"]),
        path: "",
      }
    : {
        user,
        verb: str(nonResourceAttributes?.["verb"]),
        isResourceRequest: false,
        apiGroup: "",
        apiVersion: "",
        resource: "",
        subresource: "",
        namespace: "",
        name: "",
        path: str(nonResourceAttributes?.["path"]),
      };
  const decision = authorize(ctx.authenticator.currentPolicy, attributes);
  const status: Json = { allowed: decision.allowed };
  if (decision.reason !== "") status["reason"] = decision.reason;
  return status;
}

function validateAttributes(spec: Json): FieldError[] {
  const errs: FieldError[] = [];
  if (spec["resourceAttributes"] !== undefined && spec["nonResourceAttributes"] !== undefined) {
    errs.push(fieldError.invalid("spec.nonResourceAttributes", spec["nonResourceAttributes"], "cannot be specified in combination with resourceAttributes"));
  }
  if (spec["resourceAttributes"] === undefined && spec["nonResourceAttributes"] === undefined) {
    errs.push(fieldError.invalid("spec.resourceAttributes", null, "exactly one of nonResourceAttributes or resourceAttributes must be specified"));
  }
  return errs;
}

function specUser(spec: Json): UserInfo {
  return {
    username: (spec["user"] as string | undefined) ?? "",
    uid: spec["uid"] as string | undefined,
    groups: (spec["groups"] as string[] | undefined) ?? [],
    extra: spec["extra"] as Record<string, string[]> | undefined,
  };
}

export const subjectAccessReviews: VirtualResource = {
  group: "authorization.k8s.io",
  version: "v1",
  resource: "subjectaccessreviews",
  kind: "SubjectAccessReview",
  singularName: "subjectaccessreview",
  namespaced: false,
  create(body, ctx) {
    const target = { apiVersion: "authorization.k8s.io/v1", kind: "SubjectAccessReview", typeName: "V1SubjectAccessReview", schema: SubjectAccessReview };
    const { review, errs } = decodeReview(body, target);
    const spec = (review["spec"] ?? {}) as Json;
    errs.push(...validateAttributes(spec));
    if (!spec["user"] && ((spec["groups"] as string[] | undefined) ?? []).length === 0) {
      errs.push(fieldError.invalid("spec.user", spec["user"] ?? "", "at least one of user or group must be specified"));
    }
    if (errs.length > 0) throw invalid("authorization.k8s.io", "SubjectAccessReview", "", errs);
    return respond(review, accessDecision(ctx, spec, specUser(spec)));
  },
};

export const localSubjectAccessReviews: VirtualResource = {
  group: "authorization.k8s.io",
  version: "v1",
  resource: "localsubjectaccessreviews",
  kind: "LocalSubjectAccessReview",
  singularName: "localsubjectaccessreview",
  namespaced: true,
  create(body, ctx) {
    const target = { apiVersion: "authorization.k8s.io/v1", kind: "LocalSubjectAccessReview", typeName: "V1LocalSubjectAccessReview", schema: LocalSubjectAccessReview };
    const { review, errs } = decodeReview(body, target);
    const spec = (review["spec"] ?? {}) as Json;
    errs.push(...validateAttributes(spec));
    const attributesNamespace = (spec["resourceAttributes"] as Json | undefined)?.["namespace"];
    if (spec["resourceAttributes"] !== undefined && attributesNamespace !== ctx.namespace) {
      errs.push(fieldError.invalid("spec.resourceAttributes.namespace", attributesNamespace ?? "", "must match metadata.namespace"));
    }
    if (spec["nonResourceAttributes"] !== undefined) {
      errs.push(fieldError.invalid("spec.nonResourceAttributes", spec["nonResourceAttributes"], "disallowed on this kind of request"));
    }
    if (errs.length > 0) throw invalid("authorization.k8s.io", "LocalSubjectAccessReview", "", errs);
    return respond(review, accessDecision(ctx, spec, specUser(spec)));
  },
};

export const selfSubjectAccessReviews: VirtualResource = {
  group: "authorization.k8s.io",
  version: "v1",
  resource: "selfsubjectaccessreviews",
  kind: "SelfSubjectAccessReview",
  singularName: "selfsubjectaccessreview",
  namespaced: false,
  create(body, ctx) {
    const target = { apiVersion: "authorization.k8s.io/v1", kind: "SelfSubjectAccessReview", typeName: "V1SelfSubjectAccessReview", schema: SelfSubjectAccessReview };
    const { review, errs } = decodeReview(body, target);
    const spec = (review["spec"] ?? {}) as Json;
    errs.push(...validateAttributes(spec));
    if (errs.length > 0) throw invalid("authorization.k8s.io", "SelfSubjectAccessReview", "", errs);
    return respond(review, accessDecision(ctx, spec, ctx.user));
  },
};

export const tokenReviews: VirtualResource = {
  group: "authentication.k8s.io",
  version: "v1",
  resource: "tokenreviews",
  kind: "TokenReview",
  singularName: "tokenreview",
  namespaced: false,
  create(body, ctx) {
    const target = { apiVersion: "authentication.k8s.io/v1", kind: "TokenReview", typeName: "V1TokenReview", schema: TokenReview };
    const { review } = decodeReview(body, target);
    const spec = (review["spec"] ?? {}) as Json;
    const token = spec["token"];
    if (typeof token !== "string" || token === "") throw badRequest("token is required for TokenReview in authentication.k8s.io");
    const result = ctx.authenticator.checkToken(token, (spec["audiences"] as string[] | undefined) ?? []);
    if (!result.ok) return respond(review, { user: {}, error: result.error });
    const user: Json = { username: result.user.username };
    if (result.user.uid) user["uid"] = result.user.uid;
    user["groups"] = result.user.groups ?? [];
    if (result.user.extra) user["extra"] = result.user.extra;
    return respond(review, { authenticated: true, user, audiences: result.audiences });
  },
};

export const selfSubjectReviews: VirtualResource = {
  group: "authentication.k8s.io",
  version: "v1",
  resource: "selfsubjectreviews",
  kind: "SelfSubjectReview",
  singularName: "selfsubjectreview",
  namespaced: false,
  create(_body, ctx) {
    const userInfo: Json = { username: ctx.user.username, groups: ctx.user.groups ?? [] };
    if (ctx.user.uid) userInfo["uid"] = ctx.user.uid;
    if (ctx.user.extra) userInfo["extra"] = ctx.user.extra;
    return {
      kind: "SelfSubjectReview",
      apiVersion: "authentication.k8s.io/v1",
      metadata: { creationTimestamp: null },
      status: { userInfo },
    };
  },
};
