// Only the apiserver's identity may call the agent: its bearer token is
// checked with a TokenReview (with the agent's audience) and the user it
// names must be one of the allowed callers. Answers are cached briefly, both
// ways, so that a burst of mounts costs one review.
import type { MiddlewareHandler } from "hono";
import { StatusError } from "../../src/api/status.ts";

export interface ReviewedToken {
  authenticated: boolean;
  username?: string;
}

export type TokenReviewer = (token: string) => Promise<ReviewedToken>;

export interface CallerAuthOptions {
  review: TokenReviewer;
  allowedUsers: ReadonlySet<string>;
  cacheTtlMs: number;
  now?: () => number;
}

export type CallerVariables = { caller: string };

export function callerAuth(options: CallerAuthOptions): MiddlewareHandler<{ Variables: CallerVariables }> {
  const now = options.now ?? Date.now;
  const cache = new Map<string, { result: ReviewedToken; until: number }>();
  const reviewCached = async (token: string): Promise<ReviewedToken> => {
    const hit = cache.get(token);
    if (hit && hit.until > now()) return hit.result;
    const result = await options.review(token);
    if (cache.size > 1000) cache.clear();
    cache.set(token, { result, until: now() + options.cacheTtlMs });
    return result;
  };
  return async function authenticateCaller(c, next) {
    const header = c.req.header("authorization") ?? "";
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match) throw new StatusError("Unauthorized", "the agent API needs a bearer token of the device-mounter apiserver");
    let reviewed: ReviewedToken;
    try {
      reviewed = await reviewCached(match[1]!);
    } catch (e) {
      throw new StatusError("ServiceUnavailable", `cannot review the caller's token: ${(e as Error).message}`);
    }
    if (!reviewed.authenticated || !reviewed.username) throw new StatusError("Unauthorized", "the bearer token was not accepted by TokenReview");
    if (!options.allowedUsers.has(reviewed.username)) {
      throw new StatusError("Forbidden", `user "${reviewed.username}" may not call the device-mounter agent; only the apiserver's identity may`);
    }
    c.set("caller", reviewed.username);
    await next();
  };
}
