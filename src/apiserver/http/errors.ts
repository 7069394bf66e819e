// Every error leaves the apiserver as a metav1.Status: StatusErrors keep
// their code and reason, anything else is logged with its stack and answered
// with a 500 that names the request id (never the stack).
import type { ErrorHandler, NotFoundHandler } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { reasonForCode, StatusError } from "../../api/status.ts";
import type { Logger } from "../../observability/log.ts";
import type { ApiserverEnv, ApiserverContext } from "./env.ts";

export const STATUS_CONTENT_TYPE = "application/json";

export function respondWithStatus(c: ApiserverContext, error: StatusError): Response {
  const code = (error.code >= 400 && error.code <= 599 ? error.code : 500) as ContentfulStatusCode;
  return c.json(error.toStatus(), code);
}

export function renderStatusErrors(logger: Logger): ErrorHandler<ApiserverEnv> {
  return function renderStatusError(error, c) {
    if (error instanceof StatusError) return respondWithStatus(c, error);
    if (error instanceof HTTPException) return respondWithStatus(c, new StatusError(reasonForCode(error.status), error.message || `HTTP ${error.status}`));
    const requestId = c.get("requestId");
    logger.error("unexpected error while serving a request", { requestId, error: error.message, stack: error.stack });
    return respondWithStatus(c, new StatusError("InternalError", `an internal error occurred (request id ${requestId}); the apiserver log has the details`));
  };
}

export function notFound(): NotFoundHandler<ApiserverEnv> {
  return function notFoundStatus(c) {
    return respondWithStatus(c, new StatusError("NotFound", `the server could not find the requested resource (${c.req.method} ${c.req.path})`));
  };
}

/** For a path that exists with other methods. */
export function methodNotAllowed(...allowed: string[]) {
  return function methodNotAllowedStatus(c: ApiserverContext): Response {
    c.header("Allow", allowed.join(", "));
    return respondWithStatus(c, new StatusError("MethodNotAllowed", `${c.req.method} is not supported on ${c.req.path}; use ${allowed.join(" or ")}`));
  };
}
