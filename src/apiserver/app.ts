// The apiserver's Hono application, built from completed settings and
// injected dependencies, so that tests drive it with app.request() and
// fakes, and the TLS server in server/ only carries bytes.
import { Hono } from "hono";
import { requestId } from "hono/request-id";
import type { AgentCaller } from "./agents/caller.ts";
import type { AgentLocator } from "./agents/locator.ts";
import type { Authenticator } from "./auth/authenticator.ts";
import type { Authorizer } from "./auth/authorizer.ts";
import { DeviceOperations } from "./devices/operations.ts";
import { authenticate, authorizePath } from "./http/access.ts";
import { deviceRoutes } from "./http/devices.ts";
import { discoveryRoutes } from "./http/discovery.ts";
import type { ApiserverEnv } from "./http/env.ts";
import { methodNotAllowed, notFound, renderStatusErrors } from "./http/errors.ts";
import { healthRoutes, type HealthChecks } from "./http/health.ts";
import { observeRequests } from "./http/observe.ts";
import { openApiRoutes } from "./http/openapi.ts";
import type { PodReader } from "./kube/client.ts";
import type { Logger } from "../observability/log.ts";
import { apiserverMetrics, PROMETHEUS_CONTENT_TYPE, type ApiserverMetrics } from "./observability/metrics.ts";

export interface AppSettings {
  /** Upper bound of wait_second. */
  maxWaitSeconds: number;
  /** Larger request bodies are refused with 413. */
  maxBodyBytes: number;
  /** Added to wait_second for the deadline of an agent call. */
  agentDeadlineMarginMs: number;
}

export interface AppDependencies {
  pods: PodReader;
  authenticator: Authenticator;
  authorizer: Authorizer;
  agents: AgentLocator;
  agentCaller: AgentCaller;
  logger: Logger;
  metrics?: ApiserverMetrics;
  health?: HealthChecks;
}

export function buildApp(settings: AppSettings, deps: AppDependencies): Hono<ApiserverEnv> {
  const metrics = deps.metrics ?? apiserverMetrics();
  const operations = new DeviceOperations({ pods: deps.pods, agents: deps.agents, caller: deps.agentCaller, metrics, deadlineMarginMs: settings.agentDeadlineMarginMs });
  const app = new Hono<ApiserverEnv>();

  app.use(requestId());
  app.use(observeRequests(deps.logger, metrics));
  app.use(authenticate(deps.authenticator));

  app.route("/", healthRoutes(deps.health ?? { liveness: [], readiness: [] }));
  app.route("/", discoveryRoutes());
  app.route("/", openApiRoutes(settings.maxWaitSeconds));
  app.get("/metrics", authorizePath(deps.authorizer), function serveMetrics(c) {
    return c.body(metrics.registry.render(), 200, { "Content-Type": PROMETHEUS_CONTENT_TYPE });
  });
  app.all("/metrics", methodNotAllowed("GET"));
  app.route("/", deviceRoutes({ operations, authorizer: deps.authorizer, maxWaitSeconds: settings.maxWaitSeconds, maxBodyBytes: settings.maxBodyBytes }));

  app.notFound(notFound());
  app.onError(renderStatusErrors(deps.logger));
  return app;
}
