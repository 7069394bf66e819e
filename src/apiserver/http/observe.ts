// Request observation: one JSON log line and the request metrics per
// request, labelled by operation (never by raw path, which callers control).
import { createMiddleware } from "hono/factory";
import type { Logger } from "../../observability/log.ts";
import type { ApiserverMetrics } from "../observability/metrics.ts";
import { MOUNT_ROUTE, UNMOUNT_ROUTE } from "./paths.ts";
import type { ApiserverEnv } from "./env.ts";

/** The operation label of a request path. */
export function operationOf(path: string): string {
  if (MOUNT_ROUTE.test(path)) return "mount";
  if (UNMOUNT_ROUTE.test(path)) return "unmount";
  if (path === "/apis" || path.startsWith("/apis/")) return "discovery";
  if (path.startsWith("/openapi/")) return "openapi";
  if (/^\/(healthz|livez|readyz)(\/|$)/.test(path)) return "health";
  if (path === "/metrics") return "metrics";
  return "other";
}

export function observeRequests(logger: Logger, metrics: ApiserverMetrics) {
  return createMiddleware<ApiserverEnv>(async function observeRequest(c, next) {
    const started = performance.now();
    const operation = operationOf(c.req.path);
    metrics.inflight.add({ operation }, 1);
    try {
      await next();
    } finally {
      metrics.inflight.add({ operation }, -1);
      const seconds = (performance.now() - started) / 1000;
      const code = c.res.status;
      metrics.requests.inc({ operation, code: String(code) });
      metrics.requestDuration.observe({ operation }, seconds);
      logger.info("request", {
        requestId: c.get("requestId"),
        user: c.get("user")?.username ?? "",
        verb: c.req.method,
        path: c.req.path,
        operation,
        code,
        durationMs: Math.round(seconds * 1e6) / 1e3,
      });
    }
  });
}
