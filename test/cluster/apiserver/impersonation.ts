// Impersonate-* headers (kubectl --as/--as-group): the caller must be allowed to impersonate
// each requested attribute, and the request then runs as the impersonated user. Ignoring
// the headers would run it as the (often more powerful) caller.
import { authorize, forbiddenError, withAuthenticatedGroup, type AuthorizationAttributes, type Policy, type UserInfo } from "./auth.ts";
import { defaultGroupsFor } from "./bootstrap-policy.ts";
import { badRequest } from "./status.ts";

/** Go joins nothing, but fetch's Headers joins repeated lines with ", ". */
function values(headers: Headers, name: string): string[] {
  const raw = headers.get(name);
  return raw === null ? [] : raw.split(",").map((v) => v.trim()).filter((v) => v !== "");
}

function check(policy: Policy, caller: UserInfo, attributes: Omit<AuthorizationAttributes, "user" | "verb" | "isResourceRequest" | "apiVersion" | "subresource" | "path">): void {
  const full: AuthorizationAttributes = { ...attributes, user: caller, verb: "impersonate", isResourceRequest: true, apiVersion: "", subresource: "", path: "" };
  const decision = authorize(policy, full);
  if (!decision.allowed) throw forbiddenError(full, decision.reason);
}

/** The impersonated user, or undefined when the request asks for no impersonation. */
export function impersonatedUser(policy: Policy, caller: UserInfo, headers: Headers): UserInfo | undefined {
  const username = headers.get("impersonate-user");
  const groups = values(headers, "impersonate-group");
  const uid = headers.get("impersonate-uid");
  const extra: Record<string, string[]> = {};
  headers.forEach((value, key) => {
    const lower = key.toLowerCase();
    if (lower.startsWith("impersonate-extra-")) extra[decodeURIComponent(lower.slice("impersonate-extra-".length))] = value.split(",").map((v) => v.trim());
  });
  if (username === null) {
    if (groups.length > 0 || uid !== null || Object.keys(extra).length > 0) {
      throw badRequest("requested impersonation of groups, extra or uid without impersonating a user");
    }
    return undefined;
  }
  const sa = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(username);
  if (sa) check(policy, caller, { apiGroup: "", resource: "serviceaccounts", namespace: sa[1] ?? "", name: sa[2] ?? "" });
  else check(policy, caller, { apiGroup: "", resource: "users", namespace: "", name: username });
  for (const group of groups) check(policy, caller, { apiGroup: "", resource: "groups", namespace: "", name: group });
  for (const [key, vals] of Object.entries(extra)) {
    for (const v of vals) check(policy, caller, { apiGroup: "authentication.k8s.io", resource: `userextras/${key}`, namespace: "", name: v });
  }
  if (uid !== null) check(policy, caller, { apiGroup: "authentication.k8s.io", resource: "uids", namespace: "", name: uid });
  const user: UserInfo = { username, groups: sa ? [...groups, ...defaultGroupsFor(username)] : groups };
  if (uid !== null) user.uid = uid;
  if (Object.keys(extra).length > 0) user.extra = extra;
  return withAuthenticatedGroup(user);
}
