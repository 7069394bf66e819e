import { describe, expect, test } from "bun:test";
import type { AgentMountRequest, AgentMountResponse, AgentUnmountResponse } from "../../src/api/agent.ts";
import { StatusError } from "../../src/api/status.ts";
import { buildAgentApp, type AgentOperations } from "./app.ts";
import { callerAuth, type TokenReviewer } from "./caller-auth.ts";

const APISERVER = "system:serviceaccount:device-mounter:device-mounter-apiserver";
const tokens: Record<string, string> = { "apiserver-token": APISERVER, "user-token": "alice" };

function setup(operations: Partial<AgentOperations> = {}, problems: { live?: string; ready?: string } = {}) {
  let reviews = 0;
  const review: TokenReviewer = async (token) => {
    reviews++;
    return tokens[token] ? { authenticated: true, username: tokens[token] } : { authenticated: false };
  };
  const app = buildAgentApp({
    operations: {
      mount: operations.mount ?? (async (r) => ({ kind: "MountResult", container: r.container ?? "main", containerId: "abc", devices: [], slavePods: ["s1"], message: "ok" }) as AgentMountResponse),
      unmount: operations.unmount ?? (async () => ({ kind: "UnmountResult", container: "main", devices: [], slavePods: [], killed: [], message: "ok" }) as AgentUnmountResponse),
    },
    auth: callerAuth({ review, allowedUsers: new Set([APISERVER]), cacheTtlMs: 10_000, now: () => 0 }),
    live: { problem: () => problems.live },
    ready: { problem: () => problems.ready },
    maxBodyBytes: 2048,
  });
  return { app, reviews: () => reviews };
}

const mountBody: AgentMountRequest = {
  namespace: "default",
  pod: "p",
  podUid: "u1",
  deviceType: "NVIDIA_GPU",
  resources: { "nvidia.com/gpu": "1" },
  annotations: {},
  labels: {},
  patches: [],
  timeoutSeconds: 10,
  user: "alice",
};

const post = (path: string, body: unknown, token?: string, contentType = "application/json") =>
  new Request(`http://agent${path}`, {
    method: "POST",
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), "content-type": contentType },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });

describe("agent API", () => {
  test("the apiserver's identity may mount; its token is reviewed once per TTL", async () => {
    const { app, reviews } = setup();
    for (let i = 0; i < 3; i++) {
      const res = await app.request(post("/v1/mount", mountBody, "apiserver-token"));
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ kind: "MountResult", slavePods: ["s1"] });
    }
    expect(reviews()).toBe(1);
  });

  test("no token, an unknown token → 401; another user → 403; all as Status bodies", async () => {
    const { app } = setup();
    const none = await app.request(post("/v1/mount", mountBody));
    expect(none.status).toBe(401);
    expect(await none.json()).toMatchObject({ kind: "Status", status: "Failure", reason: "Unauthorized", code: 401 });
    expect((await app.request(post("/v1/mount", mountBody, "forged"))).status).toBe(401);
    const alice = await app.request(post("/v1/unmount", { ...mountBody, force: false }, "user-token"));
    expect(alice.status).toBe(403);
    expect(await alice.json()).toMatchObject({ reason: "Forbidden", message: 'user "alice" may not call the device-mounter agent; only the apiserver\'s identity may' });
  });

  test("bad bodies: 415, 400, 422 naming the field, 413", async () => {
    const { app } = setup();
    expect((await app.request(post("/v1/mount", "x=1", "apiserver-token", "text/plain"))).status).toBe(415);
    expect((await app.request(post("/v1/mount", "{", "apiserver-token"))).status).toBe(400);
    const invalid = await app.request(post("/v1/mount", { ...mountBody, timeoutSeconds: -1 }, "apiserver-token"));
    expect(invalid.status).toBe(422);
    expect(((await invalid.json()) as { message: string }).message).toContain("timeoutSeconds");
    const big = await app.request(post("/v1/mount", { ...mountBody, labels: { a: "x".repeat(4000) } }, "apiserver-token"));
    expect(big.status).toBe(413);
  });

  test("a StatusError from the operation keeps its code; anything else is a 500 without a stack", async () => {
    const { app } = setup({
      mount: async () => {
        throw new StatusError("Conflict", "device in use by pid 42 (sleep)");
      },
      unmount: async () => {
        throw new Error("secret internals");
      },
    });
    const busy = await app.request(post("/v1/mount", mountBody, "apiserver-token"));
    expect(busy.status).toBe(409);
    expect(await busy.json()).toMatchObject({ reason: "Conflict", message: "device in use by pid 42 (sleep)" });
    const crash = await app.request(post("/v1/unmount", { ...mountBody, force: true }, "apiserver-token"));
    expect(crash.status).toBe(500);
    const text = await crash.text();
    expect(text).not.toContain("secret internals");
    expect(JSON.parse(text)).toMatchObject({ reason: "InternalError" });
  });

  test("health needs no token and reports the problem", async () => {
    const { app } = setup({}, { ready: "informers not synced" });
    expect((await app.request("/livez")).status).toBe(200);
    const ready = await app.request("/readyz");
    expect(ready.status).toBe(503);
    expect(await ready.text()).toBe("not ok: informers not synced\n");
    expect((await app.request("/nope")).status).toBe(404);
  });
});
