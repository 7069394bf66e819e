// The HTTPS agent client against a real local agent stand-in: credentials,
// certificate verification, and how agent answers become errors.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { AgentMountRequest, AgentUnmountRequest } from "../../src/api/agent.ts";
import { StatusError } from "../../src/api/status.ts";
import { AgentUnreachableError, HttpsAgentCaller, tokenFromFile } from "../../src/apiserver/agents/caller.ts";
import type { AgentEndpoint } from "../../src/apiserver/agents/locator.ts";
import { CertFactory, type Issued } from "./support/certs.ts";
import { startFakeAgent, type FakeAgent } from "./support/fake-agent.ts";

let certs: CertFactory;
let agentCA: Issued;
let otherCA: Issued;
let agent: FakeAgent;
let endpoint: AgentEndpoint;

beforeAll(() => {
  certs = new CertFactory();
  agentCA = certs.rootCA("agent-ca");
  otherCA = certs.rootCA("other-ca");
  const serving = certs.leaf("agent-serving", agentCA, { cn: "device-mounter-agent", usage: "serverAuth", altNames: ["device-mounter-agent"] });
  agent = startFakeAgent({ cert: serving.cert, key: serving.key, token: "apiserver-sa-token" });
  endpoint = { node: "node-a", pod: "device-mounter/agent-x", url: agent.url };
});
afterAll(async () => {
  await agent?.stop();
  certs?.remove();
});

const request = (pod: string): AgentMountRequest => ({
  namespace: "team",
  pod,
  podUid: "uid-1",
  container: "main",
  deviceType: "NVIDIA_GPU",
  resources: { "nvidia.com/gpu": "1" },
  annotations: {},
  labels: { app: "x" },
  patches: [{ op: "replace", path: "/spec/schedulerName", value: "volcano" }],
  timeoutSeconds: 10,
  user: "alice",
});

const caller = (overrides: Partial<ConstructorParameters<typeof HttpsAgentCaller>[0]> = {}) =>
  new HttpsAgentCaller({ token: async () => "apiserver-sa-token", ca: agentCA.cert, serverName: "device-mounter-agent", ...overrides });

const never = () => new AbortController().signal;

describe("HttpsAgentCaller", () => {
  test("posts the request with the apiserver's token and returns the agent's result", async () => {
    const before = agent.received.length;
    const result = await caller().mount(endpoint, request("trainer"), never());
    expect(result).toMatchObject({ kind: "MountResult", container: "main", slavePods: ["trainer-slave-1"] });
    expect(agent.received.slice(before)).toEqual([{ path: "/v1/mount", authorization: "Bearer apiserver-sa-token", body: request("trainer") }]);
  });

  test("unmount goes to the unmount path", async () => {
    const unmount: AgentUnmountRequest = { namespace: "team", pod: "trainer", podUid: "u", deviceType: "NVIDIA_GPU", force: true, timeoutSeconds: 5, user: "alice" };
    const result = await caller().unmount(endpoint, unmount, never());
    expect(result).toMatchObject({ kind: "UnmountResult", killed: [{ pid: 42, comm: "python" }] });
    expect(agent.received.at(-1)?.path).toBe("/v1/unmount");
  });

  test("an agent Status keeps its code, reason, message and details", async () => {
    const error = await caller().mount(endpoint, request("busy"), never()).catch((e) => e);
    expect(error).toBeInstanceOf(StatusError);
    expect((error as StatusError).toStatus()).toEqual(new StatusError("Conflict", "/dev/nvidia0 is busy: pid 4242 (python)", { name: "busy", kind: "pods" }).toStatus());
  });

  test("a wrong token is the agent's 401, passed on", async () => {
    const error = await caller({ token: async () => "someone-else" }).mount(endpoint, request("trainer"), never()).catch((e) => e);
    expect([(error as StatusError).code, (error as StatusError).message]).toEqual([401, "Unauthorized"]);
  });

  test("a non-Status error answer keeps its code and quotes the body", async () => {
    const error = (await caller().mount(endpoint, request("gateway"), never()).catch((e) => e)) as StatusError;
    expect(error.code).toBe(502);
    expect(error.message).toBe(`agent device-mounter/agent-x on node "node-a" (${agent.url}) answered HTTP 502: <html>bad gateway</html>`);
  });

  test("a 200 that is not a result is an internal error", async () => {
    const error = (await caller().mount(endpoint, request("garbage"), never()).catch((e) => e)) as StatusError;
    expect([error.code, error.message]).toEqual([500, `agent device-mounter/agent-x on node "node-a" (${agent.url}) answered HTTP 200 with an unexpected body: hello`]);
  });

  test("an agent certificate from another CA, or for another name, is not trusted", async () => {
    const wrongCA = await caller({ ca: otherCA.cert }).mount(endpoint, request("trainer"), never()).catch((e) => e);
    expect(wrongCA).toBeInstanceOf(AgentUnreachableError);
    expect((wrongCA as Error).message).toStartWith(`agent device-mounter/agent-x on node "node-a" (${agent.url}) could not be reached: `);
    const wrongName = await caller({ serverName: "someone-else" }).mount(endpoint, request("trainer"), never()).catch((e) => e);
    expect(wrongName).toBeInstanceOf(AgentUnreachableError);
  });

  test("nothing listening → unreachable", async () => {
    const error = await caller().mount({ ...endpoint, url: "https://127.0.0.1:1" }, request("trainer"), never()).catch((e) => e);
    expect(error).toBeInstanceOf(AgentUnreachableError);
  });

  test("aborting the signal ends the call with the signal's reason", async () => {
    const error = await caller().mount(endpoint, request("slow"), AbortSignal.timeout(100)).catch((e) => e);
    expect((error as Error).name).toBe("TimeoutError");
  });

  test("the token file is re-read on every call (projected tokens rotate)", async () => {
    const file = join(certs.path, "token");
    writeFileSync(file, "apiserver-sa-token\n");
    const rotating = caller({ token: tokenFromFile(file) });
    await rotating.mount(endpoint, request("trainer"), never());
    writeFileSync(file, "rotated");
    await rotating.mount(endpoint, request("trainer"), never()).catch(() => undefined);
    expect(agent.received.slice(-2).map((r) => r.authorization)).toEqual(["Bearer apiserver-sa-token", "Bearer rotated"]);
  });
});
