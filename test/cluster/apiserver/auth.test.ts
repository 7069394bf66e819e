// Authentication and authorization: 401/403 bodies, the RBAC-style policy, SubjectAccessReview
// and TokenReview answers, client certificates, and the kubelet's NodeRestriction.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { AuthorizationV1Api, AuthenticationV1Api, CoreV1Api, type V1Pod } from "@kubernetes/client-node";
import { apiFailure, podManifest, startTestServer, type TestServer } from "./testing.ts";
import type { Policy } from "./index.ts";

const POLICY: Policy = {
  tokens: {
    "alice-token": { username: "alice", uid: "alice-uid", groups: ["devs"], extra: { "example.com/team": ["blue"] } },
    "bob-token": { username: "bob", groups: ["viewers"] },
    "webhook-token": { username: "webhook", audiences: ["https://webhook.example.com"] },
    "reviewer-token": { username: "reviewer" },
  },
  rules: [
    { group: "devs", verbs: ["*"], apiGroups: [""], resources: ["pods", "pods/status"], namespaces: ["dev"] },
    { user: "alice", verbs: ["create"], apiGroups: ["dm.example.com"], resources: ["pods/mount"], namespaces: ["dev"] },
    { group: "viewers", verbs: ["get"], apiGroups: [""], resources: ["pods"], names: ["visible"], namespaces: ["dev"] },
    { user: "bob", verbs: ["update"], apiGroups: [""], resources: ["*/status"], namespaces: ["dev"] },
    { user: "reviewer", verbs: ["create"], apiGroups: ["authorization.k8s.io"], resources: ["subjectaccessreviews"] },
    { user: "reviewer", verbs: ["create"], apiGroups: ["authentication.k8s.io"], resources: ["tokenreviews"] },
  ],
};

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer({ policy: POLICY });
  await t.core.createNamespace({ body: { metadata: { name: "dev" } } });
  await t.core.createNamespacedPod({ namespace: "dev", body: podManifest("visible") as V1Pod });
  await t.core.createNamespacedPod({ namespace: "dev", body: podManifest("hidden") as V1Pod });
});
afterAll(async () => {
  await t?.stop();
});

describe("authentication", () => {
  test("no credentials: 401 for resources, but health, version and discovery answer", async () => {
    const denied = await t.request("GET", "/api/v1/namespaces/dev/pods", { token: null });
    expect(denied.status).toBe(401);
    expect(denied.json).toEqual({ kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message: "Unauthorized", reason: "Unauthorized", code: 401 });
    for (const path of ["/version", "/healthz", "/readyz", "/livez", "/api", "/api/v1", "/apis", "/apis/policy/v1"]) {
      expect((await t.request("GET", path, { token: null })).status).toBe(200);
    }
    expect((await t.request("GET", "/healthz", { token: null })).text).toBe("ok");
  });

  test("an unknown or wrong-audience token is 401 everywhere", async () => {
    expect((await t.request("GET", "/version", { token: "nope" })).status).toBe(401);
    expect((await t.request("GET", "/api/v1/namespaces/dev/pods", { token: "webhook-token" })).status).toBe(401);
  });

  test("a client certificate from another CA is 401; one from the cluster CA authenticates", async () => {
    const good = t.server.issueClientCertificate("dave", ["devs"]);
    const ok = await fetch(`${t.server.url}/api/v1/namespaces/dev/pods`, {
      tls: { ca: t.server.caCertPem, cert: good.certPem, key: good.keyPem },
    });
    expect(ok.status).toBe(200);
    const frontProxy = t.server.frontProxy;
    const foreign = await fetch(`${t.server.url}/api/v1/namespaces/dev/pods`, {
      tls: { ca: t.server.caCertPem, cert: frontProxy.clientCertPem, key: frontProxy.clientKeyPem },
    });
    expect(foreign.status).toBe(401);
  });
});

describe("authorization", () => {
  test("403 bodies name the user, verb, resource, group and scope like kube", async () => {
    const bob = t.clientConfig({ token: "bob-token" }).makeApiClient(CoreV1Api);
    const named = await apiFailure(bob.readNamespacedPod({ name: "hidden", namespace: "dev" }));
    expect(named.code).toBe(403);
    expect(named.status).toEqual({
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message: 'pods "hidden" is forbidden: User "bob" cannot get resource "pods" in API group "" in the namespace "dev"',
      reason: "Forbidden",
      details: { name: "hidden", kind: "pods" },
      code: 403,
    });
    expect((await bob.readNamespacedPod({ name: "visible", namespace: "dev" })).metadata?.name).toBe("visible");
    const cluster = await apiFailure(bob.listNode());
    expect(cluster.status["message"]).toBe('nodes is forbidden: User "bob" cannot list resource "nodes" in API group "" at the cluster scope');
    const path = await t.request("GET", "/metrics", { token: "bob-token" });
    expect(path.status).toBe(403);
    expect(path.json?.["message"]).toBe('forbidden: User "bob" cannot get path "/metrics"');
  });

  test("subresources are authorized separately; */status matches any status", async () => {
    const bobStatus = await t.request("PUT", "/api/v1/namespaces/dev/pods/hidden/status", { token: "bob-token", body: {} });
    expect(bobStatus.status).not.toBe(403);
    const binding = await t.request("POST", "/api/v1/namespaces/dev/pods/hidden/binding", {
      token: "bob-token",
      body: { metadata: { name: "hidden" }, target: { name: "n" } },
    });
    expect(binding.status).toBe(403);
    expect(binding.json?.["message"]).toBe('pods "hidden" is forbidden: User "bob" cannot create resource "pods/binding" in API group "" in the namespace "dev"');
  });

  test("impersonation needs the impersonate verb, then runs as the impersonated user", async () => {
    const asBob = await t.kubectl(["get", "pods", "-n", "dev", "--as", "bob", "--as-group", "viewers"]);
    expect(asBob.exitCode).toBe(1);
    expect(asBob.stderr).toBe('Error from server (Forbidden): pods is forbidden: User "bob" cannot list resource "pods" in API group "" in the namespace "dev"\n');
    const byAlice = await t.request("GET", "/api/v1/namespaces/dev/pods", { token: "alice-token", accept: "application/json" });
    expect(byAlice.status).toBe(200);
    const res = await fetch(`${t.server.httpUrl}/api/v1/namespaces/dev/pods`, { headers: { Authorization: "Bearer alice-token", "Impersonate-User": "admin" } });
    expect(res.status).toBe(403);
    expect(((await res.json()) as { message: string }).message).toBe('users "admin" is forbidden: User "alice" cannot impersonate resource "users" in API group "" at the cluster scope');
  });

  test("setPolicy takes effect for the next request", async () => {
    const path = "/api/v1/namespaces/kube-public/configmaps";
    expect((await t.request("GET", path, { token: "bob-token" })).status).toBe(403);
    t.server.setPolicy({ ...POLICY, rules: [...(POLICY.rules ?? []), { user: "bob", verbs: ["list"], apiGroups: [""], resources: ["configmaps"] }] });
    try {
      expect((await t.request("GET", path, { token: "bob-token" })).status).toBe(200);
    } finally {
      t.server.setPolicy(POLICY);
    }
    expect((await t.request("GET", path, { token: "bob-token" })).status).toBe(403);
  });
});

describe("SubjectAccessReview", () => {
  const sar = (spec: Record<string, unknown>, token = "reviewer-token") =>
    t.request("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", {
      token,
      body: { apiVersion: "authorization.k8s.io/v1", kind: "SubjectAccessReview", spec },
    });

  test("answers from the policy, subresources and groups included", async () => {
    const allowed = await sar({
      user: "alice",
      groups: ["devs"],
      resourceAttributes: { namespace: "dev", verb: "create", group: "dm.example.com", resource: "pods", subresource: "mount", name: "p" },
    });
    expect(allowed.status).toBe(201);
    expect(allowed.json?.["kind"]).toBe("SubjectAccessReview");
    expect((allowed.json?.["status"] as { allowed: boolean }).allowed).toBe(true);
    const otherNamespace = await sar({
      user: "alice",
      groups: ["devs"],
      resourceAttributes: { namespace: "prod", verb: "create", group: "dm.example.com", resource: "pods", subresource: "mount" },
    });
    expect(otherNamespace.json?.["status"]).toEqual({ allowed: false });
    const byGroup = await sar({ user: "someone", groups: ["devs"], resourceAttributes: { namespace: "dev", verb: "delete", resource: "pods" } });
    expect((byGroup.json?.["status"] as { allowed: boolean }).allowed).toBe(true);
    const masters = await sar({ user: "root", groups: ["system:masters"], resourceAttributes: { verb: "delete", resource: "nodes" } });
    expect((masters.json?.["status"] as { allowed: boolean }).allowed).toBe(true);
  });

  test("client-node's AuthorizationV1Api gets the same answer", async () => {
    const api = t.clientConfig({ token: "reviewer-token" }).makeApiClient(AuthorizationV1Api);
    const review = await api.createSubjectAccessReview({
      body: { spec: { user: "bob", groups: ["viewers"], resourceAttributes: { namespace: "dev", verb: "get", resource: "pods", name: "visible" } } },
    });
    expect(review.status?.allowed).toBe(true);
  });

  test("an empty subject is 422; creating reviews needs permission", async () => {
    const invalid = await sar({ resourceAttributes: { verb: "get", resource: "pods" } });
    expect(invalid.status).toBe(422);
    expect(invalid.json?.["message"]).toBe(
      'SubjectAccessReview.authorization.k8s.io "" is invalid: spec.user: Invalid value: "": at least one of user or group must be specified',
    );
    const forbidden = await sar({ user: "x", resourceAttributes: { verb: "get", resource: "pods" } }, "bob-token");
    expect(forbidden.status).toBe(403);
    expect(forbidden.json?.["message"]).toBe(
      'subjectaccessreviews.authorization.k8s.io is forbidden: User "bob" cannot create resource "subjectaccessreviews" in API group "authorization.k8s.io" at the cluster scope',
    );
  });
});

describe("TokenReview", () => {
  const review = (spec: Record<string, unknown>) =>
    t.request("POST", "/apis/authentication.k8s.io/v1/tokenreviews", {
      token: "reviewer-token",
      body: { apiVersion: "authentication.k8s.io/v1", kind: "TokenReview", spec },
    });

  test("a known token authenticates with its user, groups, extra and audiences", async () => {
    const res = await review({ token: "alice-token" });
    expect(res.status).toBe(201);
    expect(res.json?.["status"]).toEqual({
      authenticated: true,
      user: { username: "alice", uid: "alice-uid", groups: ["devs", "system:authenticated"], extra: { "example.com/team": ["blue"] } },
      audiences: ["https://kubernetes.default.svc.cluster.local"],
    });
  });

  test("audiences must intersect; unknown tokens do not authenticate", async () => {
    const webhook = await review({ token: "webhook-token", audiences: ["https://webhook.example.com", "other"] });
    expect((webhook.json?.["status"] as { audiences: string[] }).audiences).toEqual(["https://webhook.example.com"]);
    const wrongAudience = await review({ token: "webhook-token" });
    expect((wrongAudience.json?.["status"] as { authenticated?: boolean }).authenticated).toBeUndefined();
    const unknown = await review({ token: "no-such-token" });
    expect(unknown.json?.["status"]).toEqual({ user: {}, error: "[invalid bearer token, token lookup failed]" });
  });

  test("client-node's AuthenticationV1Api", async () => {
    const api = t.clientConfig({ token: "reviewer-token" }).makeApiClient(AuthenticationV1Api);
    const result = await api.createTokenReview({ body: { spec: { token: "bob-token" } } });
    expect(result.status?.authenticated).toBe(true);
    expect(result.status?.user?.username).toBe("bob");
  });
});

describe("kubelets and the scheduler", () => {
  test("a kubelet may only modify its own Node and the pods bound to it", async () => {
    const kubelet = t.clientConfig("system:node:n1").makeApiClient(CoreV1Api);
    await kubelet.createNode({ body: { metadata: { name: "n1" } } });
    const other = await apiFailure(kubelet.createNode({ body: { metadata: { name: "n2" } } }));
    expect(other.code).toBe(403);
    expect(other.status["message"]).toBe('nodes "n2" is forbidden: node "n1" is not allowed to modify node "n2"');
    const node = await kubelet.readNode({ name: "n1" });
    node.status = { conditions: [{ type: "Ready", status: "True" }] };
    const updated = await kubelet.replaceNodeStatus({ name: "n1", body: node });
    expect(updated.status?.conditions?.[0]?.status).toBe("True");

    await t.core.createNamespacedPod({ namespace: "dev", body: podManifest("on-n1") as V1Pod });
    await t.core.createNamespacedPod({ namespace: "dev", body: podManifest("elsewhere") as V1Pod });
    const scheduler = t.clientConfig("system:kube-scheduler").makeApiClient(CoreV1Api);
    for (const [pod, node] of [["on-n1", "n1"], ["elsewhere", "n9"]] as const) {
      await scheduler.createNamespacedPodBinding({ name: pod, namespace: "dev", body: { metadata: { name: pod }, target: { kind: "Node", name: node } } });
    }
    const mine = await kubelet.readNamespacedPod({ name: "on-n1", namespace: "dev" });
    mine.status = { ...mine.status, phase: "Running" };
    expect((await kubelet.replaceNamespacedPodStatus({ name: "on-n1", namespace: "dev", body: mine })).status?.phase).toBe("Running");
    const theirs = await kubelet.readNamespacedPod({ name: "elsewhere", namespace: "dev" });
    const denied = await apiFailure(kubelet.replaceNamespacedPodStatus({ name: "elsewhere", namespace: "dev", body: theirs }));
    expect(denied.code).toBe(403);
    expect(denied.status["message"]).toBe('pods "elsewhere" is forbidden: node "n1" can only update pod status for pods with spec.nodeName set to itself');
    const create = await apiFailure(kubelet.createNamespacedPod({ namespace: "dev", body: podManifest("rogue") as V1Pod }));
    expect(create.code).toBe(403);
    const schedulerDeletesNode = await apiFailure(scheduler.deleteNode({ name: "n1" }));
    expect(schedulerDeletesNode.status["message"]).toBe('nodes "n1" is forbidden: User "system:kube-scheduler" cannot delete resource "nodes" in API group "" at the cluster scope');
  });
});

describe("service account tokens (TokenRequest)", () => {
  test("a bound token authenticates as the service account until its pod is gone", async () => {
    await t.core.createNamespacedServiceAccount({ namespace: "dev", body: { metadata: { name: "robot" } } });
    const pod = await t.core.createNamespacedPod({
      namespace: "dev",
      body: { metadata: { name: "robot-pod" }, spec: { serviceAccountName: "robot", containers: [{ name: "c", image: "i" }] } },
    });
    const request = await t.core.createNamespacedServiceAccountToken({
      name: "robot",
      namespace: "dev",
      body: { spec: { audiences: [], boundObjectRef: { kind: "Pod", apiVersion: "v1", name: "robot-pod", uid: pod.metadata?.uid } } },
    });
    const token = request.status?.token ?? "";
    const [, payload] = token.split(".");
    expect(JSON.parse(Buffer.from(payload ?? "", "base64url").toString())).toMatchObject({
      sub: "system:serviceaccount:dev:robot",
      aud: ["https://kubernetes.default.svc.cluster.local"],
      "kubernetes.io": { namespace: "dev", pod: { name: "robot-pod", uid: pod.metadata?.uid }, serviceaccount: { name: "robot" } },
    });
    const denied = await t.request("GET", "/api/v1/namespaces/dev/secrets", { token });
    expect(denied.status).toBe(403);
    expect(denied.json?.["message"]).toBe('secrets is forbidden: User "system:serviceaccount:dev:robot" cannot list resource "secrets" in API group "" in the namespace "dev"');
    const review = await t.request("POST", "/apis/authentication.k8s.io/v1/tokenreviews", { body: { apiVersion: "authentication.k8s.io/v1", kind: "TokenReview", spec: { token } } });
    const user = (review.json?.["status"] as { user: { username: string; groups: string[]; extra: Record<string, string[]> } }).user;
    expect(user.username).toBe("system:serviceaccount:dev:robot");
    expect(user.groups).toEqual(["system:serviceaccounts", "system:serviceaccounts:dev", "system:authenticated"]);
    expect(user.extra["authentication.kubernetes.io/pod-name"]).toEqual(["robot-pod"]);
    await t.core.deleteNamespacedPod({ name: "robot-pod", namespace: "dev" });
    expect((await t.request("GET", "/api/v1/namespaces/dev/secrets", { token })).status).toBe(401);
  });

  test("short expirations are rejected; kubectl create token works", async () => {
    const short = await apiFailure(t.core.createNamespacedServiceAccountToken({ name: "default", namespace: "dev", body: { spec: { audiences: [], expirationSeconds: 60 } } }));
    expect(short.code).toBe(422);
    expect(short.status["message"]).toBe('TokenRequest.authentication.k8s.io "default" is invalid: spec.expirationSeconds: Invalid value: 60: may not specify a duration less than 10 minutes');
    const created = await t.kubectl(["create", "token", "default", "-n", "dev", "--audience", "https://webhook.example.com"]);
    expect(created.exitCode).toBe(0);
    const token = created.stdout.trim();
    const review = await t.request("POST", "/apis/authentication.k8s.io/v1/tokenreviews", {
      body: { apiVersion: "authentication.k8s.io/v1", kind: "TokenReview", spec: { token, audiences: ["https://webhook.example.com"] } },
    });
    expect((review.json?.["status"] as { user: { username: string } }).user.username).toBe("system:serviceaccount:dev:default");
  });
});
