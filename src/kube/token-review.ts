// TokenReview: who a bearer token belongs to, as the Kubernetes API says.
// The apiserver uses it for callers that reach it directly, the agent for
// the apiserver's own identity.
import type { UserInfo } from "../api/user.ts";
import { failure, type KubeRest } from "./rest.ts";

export interface TokenReviewResult {
  authenticated: boolean;
  user?: UserInfo;
  error?: string;
}

const toUser = (u: { username?: string; uid?: string; groups?: string[]; extra?: Record<string, string[]> } | undefined): UserInfo | undefined =>
  u?.username ? { username: u.username, ...(u.uid ? { uid: u.uid } : {}), groups: u.groups ?? [], extra: u.extra ?? {} } : undefined;

/** POST authentication.k8s.io/v1 TokenReview. Throws KubeApiError when the review itself could not be made. */
export async function reviewToken(rest: KubeRest, token: string, audiences: readonly string[]): Promise<TokenReviewResult> {
  const what = "creating a TokenReview";
  const body = { apiVersion: "authentication.k8s.io/v1", kind: "TokenReview", spec: { token, ...(audiences.length ? { audiences } : {}) } };
  const response = await rest.call("/apis/authentication.k8s.io/v1/tokenreviews", what, { method: "POST", body: JSON.stringify(body) });
  if (!response.ok) throw await failure(response, what);
  const review = (await response.json()) as { status?: { authenticated?: boolean; user?: Parameters<typeof toUser>[0]; error?: string } };
  const user = toUser(review.status?.user);
  return { authenticated: review.status?.authenticated === true && user !== undefined, ...(user ? { user } : {}), ...(review.status?.error ? { error: review.status.error } : {}) };
}
