// Who is calling: a front-proxy client certificate with request headers
// (requests coming through the kube-apiserver aggregator), else a bearer
// token checked with a TokenReview (callers that reach us directly). Either
// way the identity headers are removed afterwards.
import { createHash, type X509Certificate } from "node:crypto";
import { StatusError } from "../../api/status.ts";
import type { Clock } from "../../clock.ts";
import { removeRequestHeaders, userFromRequestHeaders, verifyFrontProxyCertificate, type HeaderAccess, type RequestHeaderConfig } from "./front-proxy.ts";
import { TtlCache } from "./ttl-cache.ts";
import type { UserInfo } from "../../api/user.ts";
import type { TokenReviewResult } from "../../kube/token-review.ts";

export type { TokenReviewResult };

export interface TokenReviewer {
  /** POST authentication.k8s.io/v1 TokenReview. Throws when the review itself could not be made. */
  reviewToken(token: string, audiences: readonly string[]): Promise<TokenReviewResult>;
}

export interface AuthenticationRequest {
  headers: HeaderAccess;
  /** The TLS client certificate chain, leaf first; empty without a certificate. */
  peerCertificates: readonly X509Certificate[];
}

export interface Authenticator {
  /** The caller, or a 401 StatusError saying why not. */
  authenticate(request: AuthenticationRequest): Promise<UserInfo>;
}

export interface DelegatingAuthenticatorOptions {
  requestHeaderConfig: () => RequestHeaderConfig | undefined;
  tokenReviewer: TokenReviewer;
  clock: Clock;
  /** How long a TokenReview answer (yes or no) is reused. */
  tokenCacheTtlMs: number;
  /** Audiences for the TokenReview; empty means the kube-apiserver's own. */
  audiences?: readonly string[];
}

/** "Bearer <token>" (scheme case-insensitive); undefined when there is no bearer Authorization header. */
export function bearerToken(headers: HeaderAccess): string | undefined {
  const authorization = headers.values("authorization")[0];
  if (!authorization) return undefined;
  const [scheme, token, ...rest] = authorization.trim().split(/\s+/);
  if (scheme?.toLowerCase() !== "bearer") return undefined;
  return rest.length === 0 && token ? token : "";
}

const unauthorized = (why: string) => new StatusError("Unauthorized", `Unauthorized: ${why}`);

export class DelegatingAuthenticator implements Authenticator {
  private readonly tokenCache: TtlCache<TokenReviewResult>;

  constructor(private readonly options: DelegatingAuthenticatorOptions) {
    this.tokenCache = new TtlCache(options.clock);
  }

  async authenticate(request: AuthenticationRequest): Promise<UserInfo> {
    const config = this.options.requestHeaderConfig();
    try {
      return await this.identify(request, config);
    } finally {
      removeRequestHeaders(request.headers, config);
    }
  }

  private async identify({ headers, peerCertificates }: AuthenticationRequest, config: RequestHeaderConfig | undefined): Promise<UserInfo> {
    const problems: string[] = [];
    let certificateVerified = false;
    if (peerCertificates.length > 0) {
      if (!config) problems.push("a client certificate was presented but front-proxy authentication is not configured (no requestheader-client-ca-file)");
      else {
        const verdict = verifyFrontProxyCertificate(peerCertificates, config, new Date(this.options.clock.now()));
        if (!verdict.ok) problems.push(verdict.reason);
        else {
          certificateVerified = true;
          const user = userFromRequestHeaders(headers, config);
          if (user) return user;
          problems.push(`the front-proxy certificate "${verdict.commonName}" is valid but no username header (${config.usernameHeaders.join(", ") || "none configured"}) was set`);
        }
      }
    }
    const token = bearerToken(headers);
    if (token === "") problems.push("the Authorization header is not \"Bearer <token>\"");
    else if (token !== undefined) {
      const review = await this.reviewToken(token);
      if (review.authenticated && review.user) {
        headers.delete("authorization");
        return review.user;
      }
      problems.push(`the bearer token was not accepted${review.error ? ` (${review.error})` : ""}`);
    }
    const spoofed = (config?.usernameHeaders ?? ["x-remote-user"]).find((h) => headers.values(h).length > 0);
    if (spoofed && !certificateVerified) problems.push(`the ${spoofed} header is only trusted with a valid front-proxy client certificate`);
    if (problems.length === 0) problems.push("no credentials: send a bearer token in the Authorization header, or call through the Kubernetes API server");
    throw unauthorized(problems.join("; "));
  }

  private async reviewToken(token: string): Promise<TokenReviewResult> {
    const key = createHash("sha256").update(token).digest("hex");
    const cached = this.tokenCache.get(key);
    if (cached) return cached;
    let result: TokenReviewResult;
    try {
      result = await this.options.tokenReviewer.reviewToken(token, this.options.audiences ?? []);
    } catch (e) {
      throw unauthorized(`the bearer token could not be checked: TokenReview failed: ${(e as Error).message}`);
    }
    this.tokenCache.set(key, result, this.options.tokenCacheTtlMs);
    return result;
  }
}
