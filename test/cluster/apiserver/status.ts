// metav1.Status error bodies, worded exactly like k8s.io/apimachinery/pkg/api/errors
// so that clients parsing messages/reasons see what a real kube-apiserver sends.

export type StatusReason =
  | "NotFound"
  | "AlreadyExists"
  | "Conflict"
  | "Invalid"
  | "BadRequest"
  | "Forbidden"
  | "Unauthorized"
  | "MethodNotAllowed"
  | "UnsupportedMediaType"
  | "NotAcceptable"
  | "Gone"
  | "Expired"
  | "Timeout"
  | "ServiceUnavailable"
  | "InternalError"
  | "Unknown";

export interface StatusCause {
  reason?: string;
  message?: string;
  field?: string;
}

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: StatusCause[];
  retryAfterSeconds?: number;
}

export interface StatusBody {
  kind: "Status";
  apiVersion: "v1";
  metadata: Record<string, never>;
  status: "Failure" | "Success";
  message?: string;
  reason?: StatusReason;
  details?: StatusDetails;
  code: number;
}

/** A group-qualified resource, printed like schema.GroupResource.String(): "pods", "pods.example.com". */
export interface GroupResource {
  group: string;
  resource: string;
}

export function groupResourceString(gr: GroupResource): string {
  return gr.group === "" ? gr.resource : `${gr.resource}.${gr.group}`;
}

export class ApiError extends Error {
  readonly status: StatusBody;
  /** Extra response headers (e.g. Retry-After). */
  readonly headers: Record<string, string>;

  constructor(status: Omit<StatusBody, "kind" | "apiVersion" | "metadata" | "status">, headers: Record<string, string> = {}) {
    super(status.message ?? status.reason ?? `HTTP ${status.code}`);
    // Field order as kube's JSON encoder writes metav1.Status.
    this.status = {
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      ...(status.message === undefined ? {} : { message: status.message }),
      ...(status.reason === undefined ? {} : { reason: status.reason }),
      ...(status.details === undefined ? {} : { details: status.details }),
      code: status.code,
    };
    this.headers = headers;
  }

  get code(): number {
    return this.status.code;
  }
}

function details(gr: GroupResource, name: string): StatusDetails {
  const d: StatusDetails = {};
  if (name !== "") d.name = name;
  if (gr.group !== "") d.group = gr.group;
  d.kind = gr.resource;
  return d;
}

export function notFound(gr: GroupResource, name: string): ApiError {
  return new ApiError({
    code: 404,
    reason: "NotFound",
    message: `${groupResourceString(gr)} "${name}" not found`,
    details: details(gr, name),
  });
}

export function alreadyExists(gr: GroupResource, name: string): ApiError {
  return new ApiError({
    code: 409,
    reason: "AlreadyExists",
    message: `${groupResourceString(gr)} "${name}" already exists`,
    details: details(gr, name),
  });
}

export function conflict(gr: GroupResource, name: string, cause: string): ApiError {
  return new ApiError({
    code: 409,
    reason: "Conflict",
    message: `Operation cannot be fulfilled on ${groupResourceString(gr)} "${name}": ${cause}`,
    details: details(gr, name),
  });
}

export const OPTIMISTIC_LOCK_MESSAGE =
  "the object has been modified; please apply your changes to the latest version and try again";

export function badRequest(message: string): ApiError {
  return new ApiError({ code: 400, reason: "BadRequest", message });
}

export function forbidden(gr: GroupResource, name: string, message: string): ApiError {
  const subject = name === "" ? groupResourceString(gr) : `${groupResourceString(gr)} "${name}"`;
  return new ApiError({
    code: 403,
    reason: "Forbidden",
    message: `${subject} is forbidden: ${message}`,
    details: details(gr, name),
  });
}

/** The 403 for non-resource URLs has no resource in front of the message. */
export function forbiddenPath(message: string): ApiError {
  return new ApiError({ code: 403, reason: "Forbidden", message, details: {} });
}

export function unauthorized(): ApiError {
  return new ApiError({ code: 401, reason: "Unauthorized", message: "Unauthorized" });
}

export function methodNotAllowed(): ApiError {
  return new ApiError({
    code: 405,
    reason: "MethodNotAllowed",
    message: "the server does not allow this method on the requested resource",
    details: {},
  });
}

/** What kube answers for a path under /api or /apis that it does not serve. */
export function resourceNotFound(): ApiError {
  return new ApiError({ code: 404, reason: "NotFound", message: "the server could not find the requested resource", details: {} });
}

export function notAcceptable(accepted: string[]): ApiError {
  return new ApiError({
    code: 406,
    reason: "NotAcceptable",
    message: `only the following media types are accepted: ${accepted.join(", ")}`,
  });
}

export function unsupportedMediaType(contentType: string, accepted: string[]): ApiError {
  return new ApiError({
    code: 415,
    reason: "UnsupportedMediaType",
    message: `the body of the request was in an unknown format - accepted media types include: ${accepted.join(", ")}`,
    details: { causes: [{ reason: "UnexpectedServerResponse", message: `unsupported media type "${contentType}"` }] },
  });
}

export function expired(message: string): ApiError {
  return new ApiError({ code: 410, reason: "Expired", message });
}

export function gone(message: string): ApiError {
  return new ApiError({ code: 410, reason: "Gone", message });
}

export function internalError(message: string): ApiError {
  return new ApiError({
    code: 500,
    reason: "InternalError",
    message: `Internal error occurred: ${message}`,
    details: { causes: [{ message }] },
  });
}

/** apierrors.NewTimeoutError(msg, 0), as kube-apiserver's timeout filter writes it when a request runs past its deadline. */
export function requestTimedOut(): ApiError {
  return new ApiError({ code: 504, reason: "Timeout", message: "Timeout: request did not complete within requested timeout - context deadline exceeded", details: {} });
}

export function serviceUnavailable(message: string): ApiError {
  return new ApiError({ code: 503, reason: "ServiceUnavailable", message });
}

/** NewGenericServerResponse(422, ...) — what a failing JSON patch produces. */
export function unprocessable(serverMessage: string): ApiError {
  return new ApiError({
    code: 422,
    reason: "Invalid",
    message: "the server rejected our request due to an error in our request",
    details: { causes: [{ reason: "UnexpectedServerResponse", message: serverMessage }] },
  });
}

/** A Success Status; `code` is only part of the body where kube puts it there (binding: 201). */
export function successStatus(code?: number, detailsValue?: Record<string, unknown>): Record<string, unknown> {
  const body: Record<string, unknown> = { kind: "Status", apiVersion: "v1", metadata: {}, status: "Success" };
  if (detailsValue) body["details"] = detailsValue;
  if (code !== undefined) body["code"] = code;
  return body;
}
