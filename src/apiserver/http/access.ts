// Authentication for every request outside health and discovery, then
// authorization per route with SubjectAccessReviews.
import { createMiddleware } from "hono/factory";
import { API_GROUP, MOUNT_SUBRESOURCE, UNMOUNT_SUBRESOURCE } from "../../api/public.ts";
import { StatusError } from "../../api/status.ts";
import type { Authenticator } from "../auth/authenticator.ts";
import { requireAccess, type Authorizer } from "../auth/authorizer.ts";
import type { UserInfo } from "../../api/user.ts";
import { headerAccess, type ApiserverContext, type ApiserverEnv } from "./env.ts";
import { isPublicPath } from "./paths.ts";

export function authenticate(authenticator: Authenticator) {
  return createMiddleware<ApiserverEnv>(async function authenticateRequest(c, next) {
    if (isPublicPath(c.req.path)) return next();
    const user = await authenticator.authenticate({ headers: headerAccess(c), peerCertificates: c.env?.peerCertificates ?? [] });
    c.set("user", user);
    return next();
  });
}

const requireUser = (c: ApiserverContext): UserInfo => {
  const user = c.get("user");
  // Only reachable if a route were registered outside authentication: fail closed.
  if (!user) throw new StatusError("Unauthorized", "Unauthorized: the request was not authenticated");
  return user;
};

/**
 * update on pods/mount or pods/unmount in group device-mounter.io for the
 * target pod; a mount also needs create on pods in the namespace, because
 * the agent creates slave pods there on the caller's behalf.
 */
export function authorizeDeviceRequest(authorizer: Authorizer, subresource: typeof MOUNT_SUBRESOURCE | typeof UNMOUNT_SUBRESOURCE) {
  return createMiddleware<ApiserverEnv>(async function authorizeDevice(c, next) {
    const user = requireUser(c);
    const namespace = c.req.param("namespace") ?? "";
    const name = c.req.param("name") ?? "";
    await requireAccess(authorizer, { user, resource: { verb: "update", group: API_GROUP, resource: "pods", subresource, namespace, name } });
    if (subresource === MOUNT_SUBRESOURCE) {
      await requireAccess(
        authorizer,
        { user, resource: { verb: "create", group: "", resource: "pods", namespace } },
        "mounting devices creates slave pods in the target pod's namespace, so the caller must be allowed to create pods there",
      );
    }
    return next();
  });
}

/** Non-resource URLs such as /metrics, checked like kube-apiserver does (nonResourceURLs in RBAC). */
export function authorizePath(authorizer: Authorizer, verb = "get") {
  return createMiddleware<ApiserverEnv>(async function authorizeNonResource(c, next) {
    await requireAccess(authorizer, { user: requireUser(c), nonResource: { verb, path: c.req.path } });
    return next();
  });
}
