// In-memory stand-ins for what the apiserver talks to (the Kubernetes API's
// pods, TokenReview and SubjectAccessReview; the agents) and a controllable
// clock, plus a ready-made app for app.request() tests.
import type { AgentMountRequest, AgentMountResponse, AgentUnmountRequest, AgentUnmountResponse } from "../../../src/api/agent.ts";
import type { AgentCaller } from "../../../src/apiserver/agents/caller.ts";
import type { AgentEndpoint, AgentLocator, AgentLookup } from "../../../src/apiserver/agents/locator.ts";
import { buildApp, type AppDependencies, type AppSettings } from "../../../src/apiserver/app.ts";
import { DelegatingAuthenticator, type TokenReviewer, type TokenReviewResult } from "../../../src/apiserver/auth/authenticator.ts";
import { CachingAuthorizer, type AccessAttributes, type AccessDecision, type AccessReviewer } from "../../../src/apiserver/auth/authorizer.ts";
import type { RequestHeaderConfig } from "../../../src/apiserver/auth/front-proxy.ts";
import type { UserInfo } from "../../../src/api/user.ts";
import type { Clock } from "../../../src/clock.ts";
import type { PodReader } from "../../../src/apiserver/kube/client.ts";
import type { Pod } from "../../../src/kube/types.ts";
import { jsonLogger } from "../../../src/observability/log.ts";
import { apiserverMetrics } from "../../../src/apiserver/observability/metrics.ts";

export class FakeClock implements Clock {
  constructor(public ms = Date.now()) {}
  now(): number {
    return this.ms;
  }
  advance(ms: number): void {
    this.ms += ms;
  }
}

export const runningPod = (namespace: string, name: string, node = "node-a", uid = `uid-${name}`): Pod => ({
  metadata: { namespace, name, uid },
  spec: { nodeName: node, containers: [{ name: "main" }] },
  status: { phase: "Running", podIP: "10.0.0.9", conditions: [{ type: "Ready", status: "True" }] },
});

/** Pods, tokens and an RBAC-like policy, counting the reviews made (to see caching from the outside). */
export class FakeKube implements PodReader, TokenReviewer, AccessReviewer {
  readonly pods = new Map<string, Pod>();
  readonly tokens = new Map<string, UserInfo>();
  /** "user verb group/resource[/subresource] namespace" entries that are allowed; "*" matches anything in a slot. */
  readonly allowed = new Set<string>();
  tokenReviews = 0;
  accessReviews = 0;

  addPod(pod: Pod): this {
    this.pods.set(`${pod.metadata!.namespace}/${pod.metadata!.name}`, pod);
    return this;
  }
  async getPod(namespace: string, name: string): Promise<Pod | undefined> {
    return this.pods.get(`${namespace}/${name}`);
  }
  async reviewToken(token: string): Promise<TokenReviewResult> {
    this.tokenReviews++;
    const user = this.tokens.get(token);
    return user ? { authenticated: true, user } : { authenticated: false, error: "token not found" };
  }
  allow(user: string, verb: string, resource: string, namespace = "*"): this {
    this.allowed.add(`${user} ${verb} ${resource} ${namespace}`);
    return this;
  }
  async reviewAccess(attributes: AccessAttributes): Promise<AccessDecision> {
    this.accessReviews++;
    const slots =
      "resource" in attributes
        ? [attributes.resource.verb, `${attributes.resource.group}/${attributes.resource.resource}${attributes.resource.subresource ? `/${attributes.resource.subresource}` : ""}`, attributes.resource.namespace ?? ""]
        : [attributes.nonResource.verb, attributes.nonResource.path, ""];
    const users = [attributes.user.username, ...attributes.user.groups.map((g) => `group:${g}`)];
    const ok = users.some((u) => [...this.allowed].some((rule) => rule.split(" ").every((part, i) => part === "*" || part === [u, ...slots][i])));
    return ok ? { allowed: true } : { allowed: false };
  }
}

export const ALICE: UserInfo = { username: "alice", groups: ["system:authenticated"], extra: {} };
export const ALICE_TOKEN = "alice-token";

/** Alice may mount and unmount in "team" and create pods there. */
export function standardKube(): FakeKube {
  const kube = new FakeKube();
  kube.tokens.set(ALICE_TOKEN, ALICE);
  kube.allow("alice", "update", "device-mounter.io/pods/mount", "team");
  kube.allow("alice", "update", "device-mounter.io/pods/unmount", "team");
  kube.allow("alice", "create", "/pods", "team");
  kube.allow("alice", "get", "/metrics", "*");
  kube.addPod(runningPod("team", "trainer"));
  return kube;
}

export class FakeAgents implements AgentLocator {
  readonly nodes = new Map<string, AgentEndpoint>();
  add(node: string, url = "https://127.0.0.1:1"): this {
    this.nodes.set(node, { node, pod: `device-mounter/agent-${node}`, url });
    return this;
  }
  agentOn(nodeName: string): AgentLookup {
    const agent = this.nodes.get(nodeName);
    return agent ? { agent } : { problem: `no device-mounter agent runs on node "${nodeName}"` };
  }
}

export type AgentBehaviour = (request: AgentMountRequest | AgentUnmountRequest, signal: AbortSignal) => Promise<AgentMountResponse | AgentUnmountResponse>;

/** Records what the apiserver asked the agent, and answers as told. */
export class ScriptedAgentCaller implements AgentCaller {
  readonly calls: Array<{ agent: AgentEndpoint; operation: "mount" | "unmount"; request: AgentMountRequest | AgentUnmountRequest }> = [];
  constructor(public behaviour: AgentBehaviour = async (r) => mountResponse(r as AgentMountRequest)) {}
  async mount(agent: AgentEndpoint, request: AgentMountRequest, signal: AbortSignal): Promise<AgentMountResponse> {
    this.calls.push({ agent, operation: "mount", request });
    return (await this.behaviour(request, signal)) as AgentMountResponse;
  }
  async unmount(agent: AgentEndpoint, request: AgentUnmountRequest, signal: AbortSignal): Promise<AgentUnmountResponse> {
    this.calls.push({ agent, operation: "unmount", request });
    return (await this.behaviour(request, signal)) as AgentUnmountResponse;
  }
}

export const mountResponse = (r: AgentMountRequest): AgentMountResponse => ({
  kind: "MountResult",
  container: r.container ?? "main",
  containerId: "containerd://abc",
  devices: [{ deviceId: "GPU-1", resource: "nvidia.com/gpu", path: "/dev/nvidia0", type: "c", major: 195, minor: 0, access: "rw", mode: 0o666, uid: 0, gid: 0 }],
  slavePods: [`${r.pod}-slave-1`],
  message: `mounted 1 device into ${r.namespace}/${r.pod}`,
});

export const unmountResponse = (r: AgentUnmountRequest): AgentUnmountResponse => ({
  kind: "UnmountResult",
  container: r.container ?? "main",
  devices: [{ deviceId: "GPU-1", resource: "nvidia.com/gpu", path: "/dev/nvidia0", type: "c", major: 195, minor: 0, access: "rw", mode: 0o666, uid: 0, gid: 0 }],
  slavePods: [`${r.pod}-slave-1`],
  killed: r.force ? [{ pid: 42, comm: "python" }] : [],
  message: `unmounted 1 device from ${r.namespace}/${r.pod}`,
});

export interface TestAppOptions {
  settings?: Partial<AppSettings>;
  kube?: FakeKube;
  agents?: FakeAgents;
  caller?: AgentCaller;
  requestHeaderConfig?: () => RequestHeaderConfig | undefined;
  clock?: FakeClock;
  deps?: Partial<AppDependencies>;
}

export const DEFAULT_SETTINGS: AppSettings = { maxWaitSeconds: 300, maxBodyBytes: 64 * 1024, agentDeadlineMarginMs: 5000 };

/** The app with the real authenticator and authorizer over fakes; returns the fakes and the log lines too. */
export function testApp(options: TestAppOptions = {}) {
  const kube = options.kube ?? standardKube();
  const agents = options.agents ?? new FakeAgents().add("node-a");
  const caller = options.caller ?? new ScriptedAgentCaller();
  const clock = options.clock ?? new FakeClock();
  const logs: Array<Record<string, unknown>> = [];
  const metrics = apiserverMetrics();
  const app = buildApp(
    { ...DEFAULT_SETTINGS, ...options.settings },
    {
      pods: kube,
      authenticator: new DelegatingAuthenticator({ requestHeaderConfig: options.requestHeaderConfig ?? (() => undefined), tokenReviewer: kube, clock, tokenCacheTtlMs: 10_000 }),
      authorizer: new CachingAuthorizer(kube, clock, 10_000),
      agents,
      agentCaller: caller,
      logger: jsonLogger((line) => logs.push(JSON.parse(line)), clock),
      metrics,
      ...options.deps,
    },
  );
  return { app, kube, agents, caller, clock, logs, metrics };
}

export const MOUNT_URL = "/apis/device-mounter.io/v1alpha1/namespaces/team/pods/trainer/mount";
export const UNMOUNT_URL = "/apis/device-mounter.io/v1alpha1/namespaces/team/pods/trainer/unmount";

export const authorized = (headers: Record<string, string> = {}): Record<string, string> => ({ authorization: `Bearer ${ALICE_TOKEN}`, ...headers });

export const jsonPut = (body: unknown, headers: Record<string, string> = {}): RequestInit => ({
  method: "PUT",
  headers: authorized({ "content-type": "application/json", ...headers }),
  body: typeof body === "string" ? body : JSON.stringify(body),
});

export const GPU_BODY = { resources: { "nvidia.com/gpu": "1" } };
