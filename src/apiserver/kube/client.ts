// The apiserver's facade over the Kubernetes API: exactly the calls it
// makes (read a pod, TokenReview, SubjectAccessReview, list+watch, and the
// self-managed serving certificate's Secret and APIService), so that tests
// replace it with a fake and RBAC can be derived from this file.
import { StatusError } from "../../api/status.ts";
import type { AccessAttributes, AccessDecision, AccessReviewer } from "../auth/authorizer.ts";
import type { TokenReviewer } from "../auth/authenticator.ts";
import { reviewToken, type TokenReviewResult } from "../../kube/token-review.ts";
import type { UserInfo } from "../../api/user.ts";
import type { KubeConnection } from "../../kube/transport.ts";
import { failure, KubeApiError, KubeRest, type ListWatchSource, type Selectors } from "../../kube/rest.ts";
import type { KubeObject, Pod } from "../../kube/types.ts";
import type { APIServiceObject, SecretObject, ServingCertificateApi } from "../certs/self-managed.ts";

export { KubeApiError, type ListWatchSource, type Selectors };

export interface PodReader {
  /** The pod, or undefined when it does not exist. */
  getPod(namespace: string, name: string, signal?: AbortSignal): Promise<Pod | undefined>;
}

export interface KubeApi extends PodReader, TokenReviewer, AccessReviewer, ServingCertificateApi {
  listWatch<T extends KubeObject>(collectionPath: string, selectors: Selectors): ListWatchSource<T>;
}

export class KubeRestClient implements KubeApi {
  private readonly rest: KubeRest;

  constructor(connection: KubeConnection) {
    this.rest = new KubeRest(connection);
  }

  private call(path: string, what: string, init: RequestInit = {}): Promise<Response> {
    return this.rest.call(path, what, init);
  }

  async getPod(namespace: string, name: string, signal?: AbortSignal): Promise<Pod | undefined> {
    const what = `reading pod ${namespace}/${name}`;
    let response: Response;
    try {
      response = await this.call(`/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(name)}`, what, signal ? { signal } : {});
    } catch (e) {
      if (e instanceof KubeApiError) throw new StatusError("ServiceUnavailable", e.message);
      throw e;
    }
    if (response.status === 404) {
      await response.body?.cancel();
      return undefined;
    }
    if (!response.ok) throw new StatusError("InternalError", (await failure(response, what)).message);
    return (await response.json()) as Pod;
  }

  reviewToken(token: string, audiences: readonly string[]): Promise<TokenReviewResult> {
    return reviewToken(this.rest, token, audiences);
  }

  async reviewAccess(attributes: AccessAttributes): Promise<AccessDecision> {
    const what = "creating a SubjectAccessReview";
    const { user } = attributes;
    const spec = {
      user: user.username,
      ...(user.uid ? { uid: user.uid } : {}),
      groups: user.groups,
      extra: user.extra,
      ...("resource" in attributes ? { resourceAttributes: attributes.resource } : { nonResourceAttributes: attributes.nonResource }),
    };
    const body = { apiVersion: "authorization.k8s.io/v1", kind: "SubjectAccessReview", spec };
    const response = await this.call("/apis/authorization.k8s.io/v1/subjectaccessreviews", what, { method: "POST", body: JSON.stringify(body) });
    if (!response.ok) throw await failure(response, what);
    const review = (await response.json()) as { status?: { allowed?: boolean; reason?: string; evaluationError?: string } };
    const reason = [review.status?.reason, review.status?.evaluationError].filter(Boolean).join("; ");
    return { allowed: review.status?.allowed === true, ...(reason ? { reason } : {}) };
  }

  listWatch<T extends KubeObject>(collectionPath: string, selectors: Selectors): ListWatchSource<T> {
    return this.rest.listWatch<T>(collectionPath, selectors);
  }

  /** The object, or undefined on 404; KubeApiError otherwise. */
  private async getOptional<T>(path: string, what: string): Promise<T | undefined> {
    const response = await this.call(path, what);
    if (response.status === 404) {
      await response.body?.cancel();
      return undefined;
    }
    if (!response.ok) throw await failure(response, what);
    return (await response.json()) as T;
  }

  getAPIService(name: string): Promise<APIServiceObject | undefined> {
    return this.getOptional(`/apis/apiregistration.k8s.io/v1/apiservices/${encodeURIComponent(name)}`, `reading APIService ${name}`);
  }

  async patchAPIServiceCABundle(name: string, caBundle: string): Promise<void> {
    await this.rest.json(`/apis/apiregistration.k8s.io/v1/apiservices/${encodeURIComponent(name)}`, `setting the caBundle of APIService ${name}`, {
      method: "PATCH",
      headers: { "content-type": "application/merge-patch+json" },
      body: JSON.stringify({ spec: { caBundle } }),
    });
  }

  getSecret(namespace: string, name: string): Promise<SecretObject | undefined> {
    return this.getOptional(secretPath(namespace, name), `reading Secret ${namespace}/${name}`);
  }

  async createSecret(namespace: string, secret: SecretObject): Promise<SecretObject | "AlreadyExists"> {
    const what = `creating Secret ${namespace}/${secret.metadata?.name ?? ""}`;
    const response = await this.call(secretPath(namespace), what, { method: "POST", body: JSON.stringify({ apiVersion: "v1", kind: "Secret", ...secret }) });
    if (response.status === 409) {
      await response.body?.cancel();
      return "AlreadyExists";
    }
    if (!response.ok) throw await failure(response, what);
    return (await response.json()) as SecretObject;
  }

  async updateSecret(namespace: string, secret: SecretObject): Promise<SecretObject | "Conflict"> {
    const name = secret.metadata?.name ?? "";
    const what = `updating Secret ${namespace}/${name}`;
    const response = await this.call(secretPath(namespace, name), what, { method: "PUT", body: JSON.stringify({ apiVersion: "v1", kind: "Secret", ...secret }) });
    if (response.status === 409) {
      await response.body?.cancel();
      return "Conflict";
    }
    if (!response.ok) throw await failure(response, what);
    return (await response.json()) as SecretObject;
  }
}

const secretPath = (namespace: string, name?: string) => `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets${name ? `/${encodeURIComponent(name)}` : ""}`;
