// metav1.Status: the one error shape at every HTTP boundary of device-mounter
// (the aggregated API, the agent API, and what the CLI prints).

export type StatusReason =
  | "BadRequest"
  | "Unauthorized"
  | "Forbidden"
  | "NotFound"
  | "AlreadyExists"
  | "Conflict"
  | "Invalid"
  | "RequestEntityTooLarge"
  | "UnsupportedMediaType"
  | "MethodNotAllowed"
  | "TooManyRequests"
  | "InternalError"
  | "ServiceUnavailable"
  | "Timeout";

export interface StatusCause {
  reason?: string;
  message?: string;
  field?: string;
}

export interface Status {
  kind: "Status";
  apiVersion: "v1";
  metadata: Record<string, never>;
  status: "Success" | "Failure";
  message: string;
  reason?: StatusReason;
  details?: { name?: string; group?: string; kind?: string; causes?: StatusCause[] };
  code: number;
}

export const REASON_CODES: Record<StatusReason, number> = {
  BadRequest: 400,
  Unauthorized: 401,
  Forbidden: 403,
  NotFound: 404,
  MethodNotAllowed: 405,
  AlreadyExists: 409,
  Conflict: 409,
  RequestEntityTooLarge: 413,
  UnsupportedMediaType: 415,
  Invalid: 422,
  TooManyRequests: 429,
  InternalError: 500,
  ServiceUnavailable: 503,
  Timeout: 504,
};

/** The error type thrown anywhere below an HTTP handler; rendered as a Status. */
export class StatusError extends Error {
  override readonly name = "StatusError";
  readonly code: number;
  constructor(
    readonly reason: StatusReason,
    message: string,
    readonly details?: Status["details"],
  ) {
    super(message);
    this.code = REASON_CODES[reason];
  }

  toStatus(): Status {
    return {
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message: this.message,
      reason: this.reason,
      ...(this.details ? { details: this.details } : {}),
      code: this.code,
    };
  }

  /** Rebuilds the error from a Status received over the wire, keeping code and reason unchanged. */
  static fromStatus(status: Partial<Status>, fallbackCode: number): StatusError {
    const reason = (status.reason && status.reason in REASON_CODES ? status.reason : reasonForCode(status.code ?? fallbackCode)) as StatusReason;
    const error = new StatusError(reason, status.message ?? `request failed with HTTP ${fallbackCode}`, status.details);
    (error as { code: number }).code = status.code ?? fallbackCode;
    return error;
  }
}

export function reasonForCode(code: number): StatusReason {
  const found = (Object.entries(REASON_CODES) as Array<[StatusReason, number]>).find(([, c]) => c === code);
  return found ? found[0] : "InternalError";
}

export const successStatus = (message: string): Status => ({ kind: "Status", apiVersion: "v1", metadata: {}, status: "Success", message, code: 200 });
