// Authentication and authorization as a caller meets them through the app:
// bearer tokens via TokenReview, front-proxy identity only with a verified
// certificate, SubjectAccessReviews for the subresource and for creating
// pods, and the caching of both reviews.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { AgentMountRequest } from "../../src/api/agent.ts";
import type { RequestHeaderConfig } from "../../src/apiserver/auth/front-proxy.ts";
import { CertFactory, type Issued } from "./support/certs.ts";
import { ALICE_TOKEN, FakeClock, GPU_BODY, jsonPut, MOUNT_URL, ScriptedAgentCaller, standardKube, testApp, UNMOUNT_URL } from "./support/fakes.ts";
import { jsonOf, statusOf } from "./support/http.ts";

const Q = "?device_type=NVIDIA_GPU";
const put = (headers: Record<string, string>) => ({ method: "PUT", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(GPU_BODY) });

describe("bearer tokens", () => {
  test("no credentials → 401 saying how to authenticate", async () => {
    const status = await statusOf(await testApp().app.request(`${MOUNT_URL}${Q}`, put({})), 401);
    expect(status.reason).toBe("Unauthorized");
    expect(status.message).toBe("Unauthorized: no credentials: send a bearer token in the Authorization header, or call through the Kubernetes API server");
  });

  test("an unknown token → 401 with the TokenReview's error", async () => {
    const status = await statusOf(await testApp().app.request(`${MOUNT_URL}${Q}`, put({ authorization: "Bearer nope" })), 401);
    expect(status.message).toBe("Unauthorized: the bearer token was not accepted (token not found)");
  });

  test.each([["Basic YWxpY2U6c2VjcmV0"], ["Bearer"], ["Bearer a b"]])("Authorization %p is not a usable bearer token", async (value) => {
    const status = await statusOf(await testApp().app.request(`${MOUNT_URL}${Q}`, put({ authorization: value })), 401);
    expect(status.message).toStartWith("Unauthorized: ");
  });

  test("the scheme is case-insensitive", async () => {
    await jsonOf(await testApp().app.request(`${MOUNT_URL}${Q}`, put({ authorization: `bearer ${ALICE_TOKEN}` })));
  });

  test("TokenReview answers are reused until the TTL passes", async () => {
    const clock = new FakeClock();
    const t = testApp({ clock });
    for (let i = 0; i < 3; i++) await jsonOf(await t.app.request(`${MOUNT_URL}${Q}`, jsonPut(GPU_BODY)));
    await statusOf(await t.app.request(`${MOUNT_URL}${Q}`, put({ authorization: "Bearer nope" })), 401);
    await statusOf(await t.app.request(`${MOUNT_URL}${Q}`, put({ authorization: "Bearer nope" })), 401);
    expect(t.kube.tokenReviews).toBe(2);
    clock.advance(10_001);
    await jsonOf(await t.app.request(`${MOUNT_URL}${Q}`, jsonPut(GPU_BODY)));
    expect(t.kube.tokenReviews).toBe(3);
  });

  test("a spoofed X-Remote-User without a front-proxy certificate → 401", async () => {
    const status = await statusOf(await testApp().app.request(`${MOUNT_URL}${Q}`, put({ "x-remote-user": "system:admin", "x-remote-group": "system:masters" })), 401);
    expect(status.message).toBe("Unauthorized: the x-remote-user header is only trusted with a valid front-proxy client certificate");
  });

  test("a spoofed X-Remote-User next to a valid token is ignored: the caller is the token's user", async () => {
    const t = testApp();
    await jsonOf(await t.app.request(`${MOUNT_URL}${Q}`, put({ authorization: `Bearer ${ALICE_TOKEN}`, "x-remote-user": "system:admin" })));
    expect((t.caller as ScriptedAgentCaller).calls[0]?.request.user).toBe("alice");
  });
});

describe("front-proxy identity (certificate handed over by the TLS server)", () => {
  let certs: CertFactory;
  let ca: Issued;
  let client: Issued;
  let stranger: Issued;
  let config: RequestHeaderConfig;
  beforeAll(() => {
    certs = new CertFactory();
    ca = certs.rootCA("requestheader-ca");
    client = certs.leaf("aggregator", ca, { cn: "front-proxy-client" });
    stranger = certs.leaf("stranger", certs.rootCA("stranger-ca"), { cn: "front-proxy-client" });
    config = {
      clientCA: [ca.x509],
      allowedNames: ["front-proxy-client"],
      usernameHeaders: ["X-Remote-User"],
      uidHeaders: [],
      groupHeaders: ["X-Remote-Group"],
      extraHeaderPrefixes: ["X-Remote-Extra-"],
    };
  });
  afterAll(() => certs?.remove());

  const viaProxy = (peer: Issued, headers: Record<string, string>) => {
    const kube = standardKube().allow("group:team-devs", "update", "device-mounter.io/pods/mount", "team").allow("group:team-devs", "create", "/pods", "team");
    const t = testApp({ kube, requestHeaderConfig: () => config });
    return { t, response: t.app.request(`${MOUNT_URL}${Q}`, put(headers), { peerCertificates: [peer.x509] }) };
  };

  test("a verified certificate makes the X-Remote-* headers the caller", async () => {
    const { t, response } = viaProxy(client, { "x-remote-user": "bob", "x-remote-group": "team-devs" });
    await jsonOf(await response);
    expect(((t.caller as ScriptedAgentCaller).calls[0]?.request as AgentMountRequest).user).toBe("bob");
    expect(t.kube.tokenReviews).toBe(0);
  });

  test("a certificate from another CA → 401 naming the reason", async () => {
    const status = await statusOf(await viaProxy(stranger, { "x-remote-user": "bob", "x-remote-group": "team-devs" }).response, 401);
    expect(status.message).toBe(
      'Unauthorized: client certificate "front-proxy-client" is not signed by the requestheader client CA (x509: certificate signed by unknown authority); the X-Remote-User header is only trusted with a valid front-proxy client certificate',
    );
  });

  test("a verified certificate without a username header → 401", async () => {
    const status = await statusOf(await viaProxy(client, { "x-remote-group": "team-devs" }).response, 401);
    expect(status.message).toBe('Unauthorized: the front-proxy certificate "front-proxy-client" is valid but no username header (X-Remote-User) was set');
  });

  test("a certificate while front-proxy authentication is off (no CA in the ConfigMap) → 401", async () => {
    const t = testApp({ requestHeaderConfig: () => undefined });
    const status = await statusOf(await t.app.request(`${MOUNT_URL}${Q}`, put({ "x-remote-user": "bob" }), { peerCertificates: [client.x509] }), 401);
    expect(status.message).toStartWith("Unauthorized: a client certificate was presented but front-proxy authentication is not configured");
  });
});

describe("authorization", () => {
  test("no permission on pods/mount → 403 in kube-apiserver's words", async () => {
    const kube = standardKube();
    kube.tokens.set("bob-token", { username: "bob", groups: ["system:authenticated"], extra: {} });
    const t = testApp({ kube });
    const status = await statusOf(await t.app.request(`${MOUNT_URL}${Q}`, put({ authorization: "Bearer bob-token" })), 403);
    expect(status).toEqual({
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message: 'pods.device-mounter.io "trainer" is forbidden: User "bob" cannot update resource "pods/mount" in API group "device-mounter.io" in the namespace "team"',
      reason: "Forbidden",
      details: { name: "trainer", group: "device-mounter.io", kind: "pods" },
      code: 403,
    });
    expect((t.caller as ScriptedAgentCaller).calls).toHaveLength(0);
  });

  test("allowed to mount but not to create pods → 403: slave pods are never more than the caller could create", async () => {
    const kube = standardKube();
    kube.tokens.set("carol-token", { username: "carol", groups: [], extra: {} });
    kube.allow("carol", "update", "device-mounter.io/pods/mount", "team").allow("carol", "update", "device-mounter.io/pods/unmount", "team");
    const t = testApp({ kube });
    const status = await statusOf(await t.app.request(`${MOUNT_URL}${Q}`, put({ authorization: "Bearer carol-token" })), 403);
    expect(status.message).toBe(
      `pods is forbidden: User "carol" cannot create resource "pods" in API group "" in the namespace "team": mounting devices creates slave pods in the target pod's namespace, so the caller must be allowed to create pods there`,
    );
    // Unmount creates nothing, so it needs only its own permission.
    await jsonOf(await t.app.request(`${UNMOUNT_URL}${Q}`, { method: "PUT", headers: { authorization: "Bearer carol-token" } }));
  });

  test("permissions are per namespace", async () => {
    const t = testApp({ kube: standardKube().addPod({ metadata: { namespace: "other", name: "trainer", uid: "u" }, spec: { nodeName: "node-a" } }) });
    const status = await statusOf(await t.app.request(`/apis/device-mounter.io/v1alpha1/namespaces/other/pods/trainer/unmount${Q}`, { method: "PUT", headers: { authorization: `Bearer ${ALICE_TOKEN}` } }), 403);
    expect(status.message).toBe('pods.device-mounter.io "trainer" is forbidden: User "alice" cannot update resource "pods/unmount" in API group "device-mounter.io" in the namespace "other"');
  });

  test("allow and deny answers are reused until the TTL passes", async () => {
    const clock = new FakeClock();
    const kube = standardKube();
    kube.tokens.set("bob-token", { username: "bob", groups: [], extra: {} });
    const t = testApp({ kube, clock });
    await jsonOf(await t.app.request(`${MOUNT_URL}${Q}`, jsonPut(GPU_BODY)));
    await jsonOf(await t.app.request(`${MOUNT_URL}${Q}`, jsonPut(GPU_BODY)));
    expect(kube.accessReviews).toBe(2); // update pods/mount + create pods, once each
    await statusOf(await t.app.request(`${MOUNT_URL}${Q}`, put({ authorization: "Bearer bob-token" })), 403);
    await statusOf(await t.app.request(`${MOUNT_URL}${Q}`, put({ authorization: "Bearer bob-token" })), 403);
    expect(kube.accessReviews).toBe(3);
    // Granting takes effect once the cached denial expires.
    kube.allow("bob", "*", "*", "team");
    await statusOf(await t.app.request(`${MOUNT_URL}${Q}`, put({ authorization: "Bearer bob-token" })), 403);
    clock.advance(10_001);
    await jsonOf(await t.app.request(`${MOUNT_URL}${Q}`, put({ authorization: "Bearer bob-token" })));
  });

  test("a SubjectAccessReview that cannot be made → 500 saying so, not an allow", async () => {
    const kube = standardKube();
    kube.reviewAccess = async () => {
      throw new Error("connection refused");
    };
    const t = testApp({ kube });
    const status = await statusOf(await t.app.request(`${MOUNT_URL}${Q}`, jsonPut(GPU_BODY)), 500);
    expect(status.message).toBe("authorization could not be checked (SubjectAccessReview failed): connection refused");
    expect((t.caller as ScriptedAgentCaller).calls).toHaveLength(0);
  });

  test("a TokenReview that cannot be made → 401 saying so", async () => {
    const kube = standardKube();
    kube.reviewToken = async () => {
      throw new Error("connection refused");
    };
    const status = await statusOf(await testApp({ kube }).app.request(`${MOUNT_URL}${Q}`, jsonPut(GPU_BODY)), 401);
    expect(status.message).toBe("Unauthorized: the bearer token could not be checked: TokenReview failed: connection refused");
  });
});
