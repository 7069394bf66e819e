// The serviceaccounts/token subresource (TokenRequest): bound service account tokens as the
// kubelet mounts them into pods. A token names its service account, expires, and dies with
// the pod it is bound to; it looks like kube's JWTs but is checked by lookup.
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { TokenRequest } from "kubernetes-models/authentication.k8s.io/v1/TokenRequest";
import { API_SERVER_AUDIENCE, type Authenticator } from "./auth.ts";
import { decodeObject } from "./decode.ts";
import { fieldError, invalid } from "./field-errors.ts";
import { nowTimestamp, type ObjectApi } from "./object-api.ts";
import { bucketName } from "./resource-type.ts";
import { badRequest, conflict, notFound } from "./status.ts";

type Json = Record<string, unknown>;

const TARGET = { apiVersion: "authentication.k8s.io/v1", kind: "TokenRequest", typeName: "AuthenticationV1TokenRequest", schema: TokenRequest };
const MIN_EXPIRATION_SECONDS = 600;
const ISSUER = "https://kubernetes.default.svc.cluster.local";

function base64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString("base64url");
}

export function createServiceAccountToken(
  api: ObjectApi,
  authenticator: Authenticator,
  namespace: string,
  serviceAccountName: string,
  body: unknown,
): Json {
  const { object, schemaErrors } = decodeObject(body, TARGET, "Strict");
  const request = object as unknown as Json & { metadata: Json };
  const spec = (request["spec"] ?? {}) as Json;
  const expirationSeconds = (spec["expirationSeconds"] as number | undefined) ?? 3600;
  const errs = [...schemaErrors];
  if (expirationSeconds < MIN_EXPIRATION_SECONDS) {
    errs.push(fieldError.invalid("spec.expirationSeconds", expirationSeconds, "may not specify a duration less than 10 minutes"));
  }
  if (expirationSeconds > 2 ** 32) {
    errs.push(fieldError.invalid("spec.expirationSeconds", expirationSeconds, "may not specify a duration larger than 2^32 seconds"));
  }
  if (errs.length > 0) throw invalid("authentication.k8s.io", "TokenRequest", serviceAccountName, errs);

  const sa = api.get(bucketName("", "serviceaccounts"), namespace, serviceAccountName);
  if (!sa) throw notFound({ group: "", resource: "serviceaccounts" }, serviceAccountName);
  const audiences = ((spec["audiences"] as string[] | undefined) ?? []).length > 0 ? (spec["audiences"] as string[]) : [API_SERVER_AUDIENCE];
  const jti = randomUUID();
  const extra: Record<string, string[]> = { "authentication.kubernetes.io/credential-id": [`JTI=${jti}`] };
  const claims: Json = { serviceaccount: { name: serviceAccountName, uid: sa.metadata.uid }, namespace };

  const ref = spec["boundObjectRef"] as Json | undefined;
  let boundPod: { name: string; uid: string } | undefined;
  if (ref) {
    if (ref["kind"] !== "Pod" || (ref["apiVersion"] !== undefined && ref["apiVersion"] !== "v1")) {
      throw badRequest(`cannot bind token for object of type ${String(ref["apiVersion"] ?? "")}, Kind=${String(ref["kind"] ?? "")}`);
    }
    const podName = String(ref["name"] ?? "");
    const pod = api.get(bucketName("", "pods"), namespace, podName);
    if (!pod) throw notFound({ group: "", resource: "pods" }, podName);
    if (ref["uid"] && ref["uid"] !== pod.metadata.uid) {
      throw conflict(
        { group: "", resource: "Pod" },
        podName,
        `the UID in the bound object reference (${String(ref["uid"])}) does not match the UID in record. The object might have been deleted and then recreated`,
      );
    }
    boundPod = { name: podName, uid: pod.metadata.uid ?? "" };
    extra["authentication.kubernetes.io/pod-name"] = [podName];
    extra["authentication.kubernetes.io/pod-uid"] = [boundPod.uid];
    claims["pod"] = boundPod;
    const nodeName = (pod["spec"] as Json | undefined)?.["nodeName"] as string | undefined;
    const node = nodeName ? api.get(bucketName("", "nodes"), undefined, nodeName) : undefined;
    if (node) {
      extra["authentication.kubernetes.io/node-name"] = [nodeName ?? ""];
      extra["authentication.kubernetes.io/node-uid"] = [node.metadata.uid ?? ""];
      claims["node"] = { name: nodeName, uid: node.metadata.uid };
    }
  }

  const issuedAt = Math.floor(Date.now() / 1000);
  const expiresAt = issuedAt + expirationSeconds;
  const username = `system:serviceaccount:${namespace}:${serviceAccountName}`;
  const header = { alg: "RS256", kid: createHash("sha256").update(ISSUER).digest("hex").slice(0, 43) };
  const payload = { aud: audiences, exp: expiresAt, iat: issuedAt, iss: ISSUER, jti, "kubernetes.io": claims, nbf: issuedAt, sub: username };
  const token = `${base64url(header)}.${base64url(payload)}.${randomBytes(256).toString("base64url")}`;
  const saUid = sa.metadata.uid;
  authenticator.addToken(
    token,
    { username, uid: saUid, groups: ["system:serviceaccounts", `system:serviceaccounts:${namespace}`], extra, audiences },
    () => {
      if (Date.now() / 1000 >= expiresAt) return "service account token has expired";
      const currentSa = api.get(bucketName("", "serviceaccounts"), namespace, serviceAccountName);
      if (!currentSa || currentSa.metadata.uid !== saUid) return `service account ${namespace}/${serviceAccountName} has been deleted`;
      if (boundPod) {
        const pod = api.get(bucketName("", "pods"), namespace, boundPod.name);
        if (!pod || pod.metadata.uid !== boundPod.uid) return `pod ${namespace}/${boundPod.name} has been deleted`;
      }
      return undefined;
    },
  );
  const metadata = { ...request.metadata, name: serviceAccountName, namespace, creationTimestamp: null };
  return {
    kind: "TokenRequest",
    apiVersion: "authentication.k8s.io/v1",
    metadata,
    spec: { ...spec, audiences, expirationSeconds },
    status: { token, expirationTimestamp: nowTimestamp(expirationSeconds) },
  };
}
