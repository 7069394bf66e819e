// The agent's HTTP API: the apiserver's mount/unmount requests for pods on
// this node, plus health. Every error is a metav1.Status.
import { Hono } from "hono";
import * as v from "valibot";
import {
  AGENT_MOUNT_PATH,
  AGENT_UNMOUNT_PATH,
  AgentMountRequestSchema,
  AgentUnmountRequestSchema,
  type AgentMountRequest,
  type AgentMountResponse,
  type AgentUnmountRequest,
  type AgentUnmountResponse,
} from "../../src/api/agent.ts";
import { StatusError } from "../../src/api/status.ts";
import type { CallerVariables } from "./caller-auth.ts";
import type { MiddlewareHandler } from "hono";

export interface AgentOperations {
  /** `cancelled` fires when the caller closes the connection. */
  mount(request: AgentMountRequest, cancelled?: AbortSignal): Promise<AgentMountResponse>;
  unmount(request: AgentUnmountRequest): Promise<AgentUnmountResponse>;
}

export interface HealthCheck {
  /** undefined when healthy, else why not. */
  problem(): string | undefined;
}

export interface AgentAppOptions {
  operations: AgentOperations;
  auth: MiddlewareHandler<{ Variables: CallerVariables }>;
  live: HealthCheck;
  ready: HealthCheck;
  maxBodyBytes?: number;
  log?: (message: string, fields: Record<string, unknown>) => void;
}

async function readJson<T>(request: Request, schema: v.GenericSchema<unknown, T>, maxBytes: number): Promise<T> {
  if (!(request.headers.get("content-type") ?? "").startsWith("application/json")) throw new StatusError("UnsupportedMediaType", "the body must be application/json");
  const text = await request.text();
  if (text.length > maxBytes) throw new StatusError("RequestEntityTooLarge", `the body is larger than ${maxBytes} bytes`);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new StatusError("BadRequest", "the body is not valid JSON");
  }
  const parsed = v.safeParse(schema, body);
  if (!parsed.success) throw new StatusError("Invalid", `invalid request: ${v.summarize(parsed.issues).replaceAll("\n", "; ")}`);
  return parsed.output;
}

export function buildAgentApp(options: AgentAppOptions): Hono<{ Variables: CallerVariables }> {
  const maxBytes = options.maxBodyBytes ?? 256 * 1024;
  const log = options.log ?? (() => {});
  const app = new Hono<{ Variables: CallerVariables }>();

  app.onError((error, c) => {
    const status = error instanceof StatusError ? error : new StatusError("InternalError", "internal error in the device-mounter agent");
    if (!(error instanceof StatusError)) log("unexpected error", { error: String(error), stack: (error as Error).stack });
    return c.json(status.toStatus(), status.code as 400);
  });
  app.notFound((c) => c.json(new StatusError("NotFound", `no route for ${c.req.method} ${c.req.path}`).toStatus(), 404));

  const health = (check: HealthCheck) => (c: { text: (body: string, code: 200 | 503) => Response }) => {
    const problem = check.problem();
    return problem ? c.text(`not ok: ${problem}\n`, 503) : c.text("ok\n", 200);
  };
  app.get("/livez", health(options.live));
  app.get("/readyz", health(options.ready));
  app.get("/healthz", health(options.ready));

  app.post(AGENT_MOUNT_PATH, options.auth, async (c) => {
    const request = await readJson(c.req.raw, AgentMountRequestSchema, maxBytes);
    return c.json(await options.operations.mount(request, c.req.raw.signal));
  });
  app.post(AGENT_UNMOUNT_PATH, options.auth, async (c) => {
    const request = await readJson(c.req.raw, AgentUnmountRequestSchema, maxBytes);
    return c.json(await options.operations.unmount(request));
  });
  return app;
}
