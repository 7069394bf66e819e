// What kube-apiserver, kubectl and Prometheus read from the apiserver:
// discovery (legacy and aggregated), OpenAPI v2/v3, health, metrics, and the
// shape of errors for unknown paths and methods.
import { describe, expect, test } from "bun:test";
import { FakeKube, GPU_BODY, jsonPut, MOUNT_URL, standardKube, testApp, authorized } from "./support/fakes.ts";
import { jsonOf, statusOf } from "./support/http.ts";

const KUBECTL_ACCEPT = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
const groupVersion = { groupVersion: "device-mounter.io/v1alpha1", version: "v1alpha1" };

describe("discovery (no credentials needed)", () => {
  const { app } = testApp({ kube: new FakeKube() });

  test("/apis: APIGroupList", async () => {
    const response = await app.request("/apis");
    expect(response.headers.get("content-type")).toStartWith("application/json");
    expect(await jsonOf(response)).toEqual({ kind: "APIGroupList", apiVersion: "v1", groups: [{ name: "device-mounter.io", versions: [groupVersion], preferredVersion: groupVersion }] });
  });

  test("/apis/device-mounter.io: APIGroup", async () => {
    expect(await jsonOf(await app.request("/apis/device-mounter.io"))).toEqual({ kind: "APIGroup", apiVersion: "v1", name: "device-mounter.io", versions: [groupVersion], preferredVersion: groupVersion });
  });

  test("/apis/device-mounter.io/v1alpha1: pods/mount and pods/unmount, namespaced, update", async () => {
    expect(await jsonOf(await app.request("/apis/device-mounter.io/v1alpha1"))).toEqual({
      kind: "APIResourceList",
      apiVersion: "v1",
      groupVersion: "device-mounter.io/v1alpha1",
      resources: [
        { name: "pods/mount", singularName: "", namespaced: true, kind: "MountResult", verbs: ["update"] },
        { name: "pods/unmount", singularName: "", namespaced: true, kind: "UnmountResult", verbs: ["update"] },
      ],
    });
  });

  test.each([
    [KUBECTL_ACCEPT, "v2"],
    ["application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList", "v2beta1"],
    ["application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList;q=0.5, application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList", "v2"],
    ["application/vnd.kubernetes.protobuf;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList", "v2"],
  ])("aggregated discovery for Accept %p → %p", async (accept, version) => {
    const response = await app.request("/apis", { headers: { accept } });
    expect(response.headers.get("content-type")).toBe(`application/json;g=apidiscovery.k8s.io;v=${version};as=APIGroupDiscoveryList`);
    expect(response.headers.get("vary")).toBe("Accept");
    expect(await jsonOf(response)).toEqual({
      kind: "APIGroupDiscoveryList",
      apiVersion: `apidiscovery.k8s.io/${version}`,
      metadata: {},
      items: [
        {
          metadata: { name: "device-mounter.io", creationTimestamp: null },
          versions: [
            {
              version: "v1alpha1",
              resources: [
                {
                  resource: "pods",
                  scope: "Namespaced",
                  singularResource: "pod",
                  verbs: [],
                  subresources: [
                    { subresource: "mount", responseKind: { group: "device-mounter.io", version: "v1alpha1", kind: "MountResult" }, verbs: ["update"] },
                    { subresource: "unmount", responseKind: { group: "device-mounter.io", version: "v1alpha1", kind: "UnmountResult" }, verbs: ["update"] },
                  ],
                },
              ],
              freshness: "Current",
            },
          ],
        },
      ],
    });
  });

  test.each([["application/json"], ["*/*"], ["application/json;g=apidiscovery.k8s.io;v=v3;as=APIGroupDiscoveryList,application/json"], [""]])("Accept %p gets the legacy APIGroupList", async (accept) => {
    expect((await jsonOf(await app.request("/apis", { headers: { accept } }))).kind).toBe("APIGroupList");
  });

  test("other methods → 405 Status", async () => {
    const status = await statusOf(await app.request("/apis/device-mounter.io/v1alpha1", { method: "POST" }), 405);
    expect(status.message).toBe("POST is not supported on /apis/device-mounter.io/v1alpha1; use GET");
  });
});

type Doc = Record<string, any>;

/** Every $ref in a document points at a schema the document defines. */
function danglingRefs(doc: Doc, prefix: string, defined: Record<string, unknown>): string[] {
  const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"([^"]+)"/g)].map((m) => m[1]!);
  return refs.filter((r) => !r.startsWith(prefix) || !(r.slice(prefix.length) in defined));
}

describe("OpenAPI", () => {
  const { app } = testApp({ kube: new FakeKube(), settings: { maxWaitSeconds: 120 } });
  const MOUNT = "/apis/device-mounter.io/v1alpha1/namespaces/{namespace}/pods/{name}/mount";
  const UNMOUNT = "/apis/device-mounter.io/v1alpha1/namespaces/{namespace}/pods/{name}/unmount";

  test("/openapi/v2 describes both operations with the contract's parameters", async () => {
    const response = await app.request("/openapi/v2");
    const doc = await jsonOf<Doc>(response);
    expect(doc.swagger).toBe("2.0");
    expect(Object.keys(doc.paths)).toEqual([MOUNT, UNMOUNT]);
    const mount = doc.paths[MOUNT].put;
    expect(mount["x-kubernetes-action"]).toBe("put");
    expect(mount["x-kubernetes-group-version-kind"]).toEqual({ group: "device-mounter.io", version: "v1alpha1", kind: "MountResult" });
    expect(mount.parameters.map((p: Doc) => [p.in, p.name, p.required])).toEqual([
      ["body", "body", true],
      ["query", "device_type", true],
      ["query", "container", false],
      ["query", "wait_second", false],
    ]);
    expect(mount.parameters[3]).toMatchObject({ type: "integer", minimum: 0, maximum: 120, default: 10 });
    expect(doc.paths[UNMOUNT].put.parameters.map((p: Doc) => p.name)).toEqual(["device_type", "container", "wait_second", "force"]);
    expect(doc.paths[MOUNT].parameters.map((p: Doc) => [p.in, p.name])).toEqual([
      ["path", "name"],
      ["path", "namespace"],
    ]);
    expect(Object.keys(mount.responses)).toEqual(["200", "400", "401", "403", "404", "409", "413", "415", "422", "503", "504"]);
    expect(doc.definitions["io.device-mounter.v1alpha1.MountRequest"]).toMatchObject({ required: ["resources"], properties: { patches: { type: "array", items: { type: "string" } } } });
    expect(danglingRefs(doc, "#/definitions/", doc.definitions)).toEqual([]);
  });

  test("/openapi/v2 is served with an ETag and answers 304 to it", async () => {
    const first = await app.request("/openapi/v2");
    const etag = first.headers.get("etag")!;
    expect(etag).toMatch(/^"[0-9A-F]{128}"$/);
    const again = await app.request("/openapi/v2", { headers: { "if-none-match": etag } });
    expect(again.status).toBe(304);
    expect(await again.text()).toBe("");
  });

  test("/openapi/v3 lists the group-version document by hash; the document describes both operations", async () => {
    const index = await jsonOf<Doc>(await app.request("/openapi/v3"));
    const url = index.paths["apis/device-mounter.io/v1alpha1"].serverRelativeURL as string;
    expect(url).toMatch(/^\/openapi\/v3\/apis\/device-mounter\.io\/v1alpha1\?hash=[0-9A-F]{128}$/);
    const response = await app.request(url);
    expect(response.headers.get("cache-control")).toBe("public, immutable");
    const doc = await jsonOf<Doc>(response);
    expect(doc.openapi).toBe("3.0.0");
    expect(Object.keys(doc.paths)).toEqual([MOUNT, UNMOUNT]);
    expect(doc.paths[MOUNT].put.requestBody).toEqual({ required: true, content: { "application/json": { schema: { $ref: "#/components/schemas/io.device-mounter.v1alpha1.MountRequest" } } } });
    expect(doc.paths[UNMOUNT].put.requestBody).toBeUndefined();
    expect(doc.paths[MOUNT].put.parameters.map((p: Doc) => [p.name, p.schema.type])).toEqual([
      ["device_type", "string"],
      ["container", "string"],
      ["wait_second", "integer"],
    ]);
    expect(danglingRefs(doc, "#/components/schemas/", doc.components.schemas)).toEqual([]);
    const stale = await app.request("/openapi/v3/apis/device-mounter.io/v1alpha1?hash=OLD");
    expect(stale.status).toBe(301);
    expect(stale.headers.get("location")).toBe(url);
  });
});

describe("health", () => {
  const failing = { name: "agent-pods-synced", check: () => "agent pods not listed yet" as string | undefined };
  const { app } = testApp({ deps: { health: { liveness: [], readiness: [failing] } } });

  test("/healthz and /livez: ok", async () => {
    for (const path of ["/healthz", "/livez"]) {
      const response = await app.request(path);
      expect(response.status).toBe(200);
      expect(await response.text()).toBe("ok");
    }
  });

  test("/readyz reflects its checks", async () => {
    const response = await app.request("/readyz");
    expect(response.status).toBe(500);
    expect(await response.text()).toBe("[+]ping ok\n[-]agent-pods-synced failed: agent pods not listed yet\nreadyz check failed\n");
    failing.check = () => undefined;
    const ready = await app.request("/readyz");
    expect([ready.status, await ready.text()]).toEqual([200, "ok"]);
    expect(await (await app.request("/readyz?verbose")).text()).toBe("[+]ping ok\n[+]agent-pods-synced ok\nreadyz check passed\n");
    expect(await (await app.request("/readyz/agent-pods-synced")).text()).toBe("ok");
    expect((await app.request("/readyz/nothing")).status).toBe(404);
  });
});

describe("metrics", () => {
  test("Prometheus text: requests by operation and code, latency histogram, agent calls", async () => {
    const t = testApp();
    await t.app.request(`${MOUNT_URL}?device_type=NVIDIA_GPU`, jsonPut(GPU_BODY));
    await t.app.request(`${MOUNT_URL}`, jsonPut(GPU_BODY));
    await t.app.request("/apis");
    const response = await t.app.request("/metrics", { headers: authorized() });
    expect(response.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
    const text = await response.text();
    const lines = text.split("\n");
    expect(lines).toContain('device_mounter_apiserver_requests_total{operation="mount",code="200"} 1');
    expect(lines).toContain('device_mounter_apiserver_requests_total{operation="mount",code="400"} 1');
    expect(lines).toContain('device_mounter_apiserver_requests_total{operation="discovery",code="200"} 1');
    expect(lines).toContain("# TYPE device_mounter_apiserver_request_duration_seconds histogram");
    expect(lines).toContain('device_mounter_apiserver_request_duration_seconds_bucket{operation="mount",le="+Inf"} 2');
    expect(lines).toContain('device_mounter_apiserver_request_duration_seconds_count{operation="mount"} 2');
    expect(lines).toContain('device_mounter_apiserver_agent_calls_total{operation="mount",code="200"} 1');
    expect(lines).toContain('device_mounter_apiserver_agent_call_duration_seconds_count{operation="mount"} 1');
    // Buckets are cumulative.
    const buckets = lines.filter((l) => l.startsWith('device_mounter_apiserver_request_duration_seconds_bucket{operation="mount"')).map((l) => Number(l.split(" ")[1]));
    expect(buckets).toEqual([...buckets].sort((a, b) => a - b));
    expect(text.endsWith("\n")).toBe(true);
  });

  test("/metrics needs get on the non-resource URL /metrics", async () => {
    const kube = standardKube();
    kube.tokens.set("bob-token", { username: "bob", groups: [], extra: {} });
    const t = testApp({ kube });
    expect((await statusOf(await t.app.request("/metrics", { headers: { authorization: "Bearer bob-token" } }), 403)).message).toBe('forbidden: User "bob" cannot get path "/metrics"');
    await statusOf(await t.app.request("/metrics"), 401);
  });
});

describe("requests in general", () => {
  test("unknown paths → 404 Status once authenticated, 401 before", async () => {
    const { app } = testApp();
    await statusOf(await app.request("/api/v1/pods"), 401);
    const status = await statusOf(await app.request("/api/v1/pods", { headers: authorized() }), 404);
    expect(status.message).toBe("the server could not find the requested resource (GET /api/v1/pods)");
  });

  test("GET on mount → 405 with Allow: PUT", async () => {
    const response = await testApp().app.request(MOUNT_URL, { headers: authorized() });
    expect(response.headers.get("allow")).toBe("PUT");
    expect((await statusOf(response, 405)).reason).toBe("MethodNotAllowed");
  });

  test("every request gets a request id and one JSON log line with the user, verb, path, code and duration", async () => {
    const t = testApp();
    const response = await t.app.request(`${MOUNT_URL}?device_type=NVIDIA_GPU&container=main`, jsonPut(GPU_BODY, { "x-request-id": "abc-1" }));
    expect(response.headers.get("x-request-id")).toBe("abc-1");
    const generated = await t.app.request("/livez");
    expect(generated.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    expect(t.logs).toHaveLength(2);
    expect(t.logs[0]).toEqual({
      time: expect.any(String),
      level: "info",
      msg: "request",
      requestId: "abc-1",
      user: "alice",
      verb: "PUT",
      path: MOUNT_URL,
      operation: "mount",
      code: 200,
      durationMs: expect.any(Number),
    });
    expect(t.logs[1]).toMatchObject({ user: "", path: "/livez", code: 200, operation: "health" });
  });
});
