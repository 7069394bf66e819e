// A real HTTPS agent stand-in (Hono on Bun.serve) speaking the agent API of
// src/api/agent.ts: it checks the bearer token and the request body with the
// shared schemas, and answers per target pod name so that tests choose the
// behaviour: "busy" → 409 Status, "slow" → never answers, "garbage" → 200
// with a non-result body, "gateway" → 502 text; anything else succeeds.
import { Hono } from "hono";
import * as v from "valibot";
import { AGENT_MOUNT_PATH, AGENT_UNMOUNT_PATH, AgentMountRequestSchema, AgentUnmountRequestSchema } from "../../../src/api/agent.ts";
import { StatusError } from "../../../src/api/status.ts";
import { mountResponse, unmountResponse } from "./fakes.ts";

export interface FakeAgent {
  url: string;
  port: number;
  received: Array<{ path: string; authorization: string | null; body: unknown }>;
  stop(): Promise<void>;
}

export function startFakeAgent(options: { cert: string; key: string; token: string }): FakeAgent {
  const received: FakeAgent["received"] = [];
  const app = new Hono();
  const handle = (path: string, schema: v.GenericSchema) =>
    app.post(path, async (c) => {
      const body = await c.req.json().catch(() => undefined);
      received.push({ path, authorization: c.req.header("authorization") ?? null, body });
      if (c.req.header("authorization") !== `Bearer ${options.token}`) return c.json(new StatusError("Unauthorized", "Unauthorized").toStatus(), 401);
      const parsed = v.safeParse(schema, body);
      if (!parsed.success) return c.json(new StatusError("BadRequest", `bad agent request: ${parsed.issues[0]?.message}`).toStatus(), 400);
      const request = parsed.output as { pod: string };
      if (request.pod === "busy") return c.json(new StatusError("Conflict", "/dev/nvidia0 is busy: pid 4242 (python)", { name: "busy", kind: "pods" }).toStatus(), 409);
      if (request.pod === "slow") return new Promise<Response>((resolve) => c.req.raw.signal.addEventListener("abort", () => resolve(new Response("too late"))));
      if (request.pod === "garbage") return c.text("hello", 200);
      if (request.pod === "gateway") return c.text("<html>bad gateway</html>", 502);
      return c.json(path === AGENT_MOUNT_PATH ? mountResponse(parsed.output as never) : unmountResponse(parsed.output as never));
    });
  handle(AGENT_MOUNT_PATH, AgentMountRequestSchema);
  handle(AGENT_UNMOUNT_PATH, AgentUnmountRequestSchema);
  const server = Bun.serve({ port: 0, hostname: "127.0.0.1", tls: { cert: options.cert, key: options.key }, fetch: app.fetch });
  return { url: `https://127.0.0.1:${server.port}`, port: server.port!, received, stop: () => server.stop(true) };
}
