// Pods through @kubernetes/client-node and raw HTTP: CRUD, status bodies, validation,
// patches, subresources, selectors and deletion semantics, compared with what
// kube-apiserver 1.32 answers.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { V1Pod } from "@kubernetes/client-node";
import { apiFailure, podManifest, startTestServer, type TestServer } from "./testing.ts";

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t?.stop();
});

const ns = "default";
const createPod = (body: Record<string, unknown>, namespace = ns) => t.core.createNamespacedPod({ namespace, body: body as V1Pod });

describe("create and read", () => {
  test("a created pod carries server-set metadata, defaults and a Pending status", async () => {
    const pod = await createPod(podManifest("read-1"));
    expect(pod.metadata?.uid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(pod.metadata?.resourceVersion).toMatch(/^\d+$/);
    expect(pod.metadata?.creationTimestamp).toBeInstanceOf(Date);
    expect(pod.spec?.restartPolicy).toBe("Always");
    expect(pod.spec?.schedulerName).toBe("default-scheduler");
    expect(pod.spec?.serviceAccountName).toBe("default");
    expect(pod.spec?.containers[0]?.imagePullPolicy).toBe("IfNotPresent");
    expect(pod.spec?.containers[0]?.volumeMounts?.[0]?.mountPath).toBe("/var/run/secrets/kubernetes.io/serviceaccount");
    expect(pod.status).toEqual({ phase: "Pending", qosClass: "BestEffort" });
    const read = await t.core.readNamespacedPod({ name: "read-1", namespace: ns });
    expect(read.metadata?.uid).toBe(pod.metadata?.uid ?? "");
    expect(read.metadata?.resourceVersion).toBe(pod.metadata?.resourceVersion ?? "");
  });

  test("generateName appends five random characters", async () => {
    const pod = await createPod({ ...podManifest(""), metadata: { generateName: "gen-" } });
    expect(pod.metadata?.name).toMatch(/^gen-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
  });

  test("every write bumps one global resourceVersion", async () => {
    const a = await createPod(podManifest("rv-a"));
    const cm = await t.core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "rv-cm" } } });
    const b = await createPod(podManifest("rv-b"));
    const [ra, rc, rb] = [a, cm, b].map((o) => Number(o.metadata?.resourceVersion));
    expect(rc).toBeGreaterThan(ra ?? 0);
    expect(rb).toBeGreaterThan(rc ?? 0);
  });

  test("a list has kind PodList, a resourceVersion, and items without kind/apiVersion", async () => {
    await createPod(podManifest("list-1"));
    const res = await t.request("GET", `/api/v1/namespaces/${ns}/pods`);
    expect(res.status).toBe(200);
    expect(res.json?.["kind"]).toBe("PodList");
    expect(res.json?.["apiVersion"]).toBe("v1");
    expect((res.json?.["metadata"] as { resourceVersion: string }).resourceVersion).toMatch(/^\d+$/);
    const items = res.json?.["items"] as Array<Record<string, unknown>>;
    const item = items.find((i) => (i["metadata"] as { name: string }).name === "list-1");
    expect(item).toBeDefined();
    expect(item?.["kind"]).toBeUndefined();
    expect(item?.["apiVersion"]).toBeUndefined();
    const all = await t.core.listPodForAllNamespaces();
    expect(all.items.some((p) => p.metadata?.name === "list-1")).toBe(true);
  });

  test("resource quantities are stored in canonical form and set the QoS class", async () => {
    const pod = await createPod({
      metadata: { name: "qty" },
      spec: { containers: [{ name: "c", image: "i", resources: { limits: { cpu: "1000m", memory: "1.5Gi" }, requests: { cpu: "0.5" } } }] },
    });
    expect(pod.spec?.containers[0]?.resources).toEqual({ limits: { cpu: "1", memory: "1536Mi" }, requests: { cpu: "500m", memory: "1536Mi" } });
    expect(pod.status?.qosClass).toBe("Burstable");
    const guaranteed = await createPod({
      metadata: { name: "qty-g" },
      spec: { containers: [{ name: "c", image: "i", resources: { limits: { cpu: "2", memory: "1Gi" } } }] },
    });
    expect(guaranteed.status?.qosClass).toBe("Guaranteed");
  });

  test("list pages with limit and continue", async () => {
    for (const i of [1, 2, 3]) await createPod(podManifest(`page-${i}`), "kube-public");
    const first = await t.request("GET", "/api/v1/namespaces/kube-public/pods?limit=2");
    const meta = first.json?.["metadata"] as { continue: string; remainingItemCount: number; resourceVersion: string };
    expect((first.json?.["items"] as unknown[]).length).toBe(2);
    expect(meta.remainingItemCount).toBe(1);
    await createPod(podManifest("page-4"), "kube-public");
    const second = await t.request("GET", `/api/v1/namespaces/kube-public/pods?limit=2&continue=${meta.continue}`);
    // The continuation is a consistent snapshot: page-4, created later, is not in it.
    expect((second.json?.["items"] as Array<{ metadata: { name: string } }>).map((i) => i.metadata.name)).toEqual(["page-3"]);
    expect((second.json?.["metadata"] as { resourceVersion: string }).resourceVersion).toBe(meta.resourceVersion);
  });
});

describe("error Status bodies", () => {
  test("404 NotFound", async () => {
    const { code, status } = await apiFailure(t.core.readNamespacedPod({ name: "missing", namespace: ns }));
    expect(code).toBe(404);
    expect(status).toEqual({
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message: 'pods "missing" not found',
      reason: "NotFound",
      details: { name: "missing", kind: "pods" },
      code: 404,
    });
  });

  test("409 AlreadyExists", async () => {
    await createPod(podManifest("dup"));
    const { code, status } = await apiFailure(createPod(podManifest("dup")));
    expect(code).toBe(409);
    expect(status["reason"]).toBe("AlreadyExists");
    expect(status["message"]).toBe('pods "dup" already exists');
    expect(status["details"]).toEqual({ name: "dup", kind: "pods" });
  });

  test("409 Conflict on a stale resourceVersion", async () => {
    const pod = await createPod(podManifest("stale"));
    await t.core.patchNamespacedPod({ name: "stale", namespace: ns, body: [{ op: "add", path: "/metadata/labels", value: { a: "1" } }] });
    const { code, status } = await apiFailure(t.core.replaceNamespacedPod({ name: "stale", namespace: ns, body: pod }));
    expect(code).toBe(409);
    expect(status["reason"]).toBe("Conflict");
    expect(status["message"]).toBe(
      'Operation cannot be fulfilled on pods "stale": the object has been modified; please apply your changes to the latest version and try again',
    );
  });

  test("creating in a namespace that does not exist is a 404 for the namespace", async () => {
    const { code, status } = await apiFailure(createPod(podManifest("orphan"), "no-such-ns"));
    expect(code).toBe(404);
    expect(status["message"]).toBe('namespaces "no-such-ns" not found');
    expect(status["details"]).toEqual({ name: "no-such-ns", kind: "namespaces" });
  });

  test("malformed JSON is a 400 BadRequest", async () => {
    const res = await t.request("POST", `/api/v1/namespaces/${ns}/pods`, { body: "{not json" });
    expect(res.status).toBe(400);
    expect(res.json?.["reason"]).toBe("BadRequest");
    expect(String(res.json?.["message"])).toStartWith("couldn't get version/kind; json parse error:");
  });

  test("YAML bodies are accepted like kube accepts them", async () => {
    const res = await t.request("POST", `/api/v1/namespaces/${ns}/pods`, {
      contentType: "application/yaml",
      body: "apiVersion: v1\nkind: Pod\nmetadata:\n  name: from-yaml\nspec:\n  containers:\n  - name: c\n    image: i\n",
    });
    expect(res.status).toBe(201);
    expect((res.json?.["metadata"] as { name: string }).name).toBe("from-yaml");
  });

  test("a wrongly typed field is a decode error (400), worded like Go", async () => {
    const res = await t.request("POST", `/api/v1/namespaces/${ns}/pods`, {
      body: { apiVersion: "v1", kind: "Pod", metadata: { name: "typed" }, spec: { containers: [{ name: 5, image: "i" }] } },
    });
    expect(res.status).toBe(400);
    expect(res.json?.["message"]).toBe(
      'Pod in version "v1" cannot be handled as a Pod: json: cannot unmarshal number into Go struct field Container.spec.containers.name of type string',
    );
  });

  test("unsupported methods are 405 and unknown resources 404", async () => {
    const post = await t.request("POST", "/api/v1/pods", { body: podManifest("x") });
    expect(post.status).toBe(405);
    expect(post.json?.["reason"]).toBe("MethodNotAllowed");
    const unknown = await t.request("GET", "/api/v1/namespaces/default/widgets");
    expect(unknown.status).toBe(404);
    expect(unknown.json?.["message"]).toBe("the server could not find the requested resource");
  });
});

describe("validation (422 Invalid)", () => {
  test("an invalid container name", async () => {
    const { code, status } = await apiFailure(createPod({ metadata: { name: "bad-name" }, spec: { containers: [{ name: "Bad_Name", image: "i" }] } }));
    expect(code).toBe(422);
    expect(status["reason"]).toBe("Invalid");
    expect(status["message"]).toBe(
      `Pod "bad-name" is invalid: spec.containers[0].name: Invalid value: "Bad_Name": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`,
    );
    expect((status["details"] as { causes: unknown[] }).causes).toEqual([
      {
        reason: "FieldValueInvalid",
        message: `Invalid value: "Bad_Name": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`,
        field: "spec.containers[0].name",
      },
    ]);
  });

  test("missing container name and image", async () => {
    const { status } = await apiFailure(createPod({ metadata: { name: "no-name" }, spec: { containers: [{}] } }));
    expect(status["message"]).toBe('Pod "no-name" is invalid: [spec.containers[0].name: Required value, spec.containers[0].image: Required value]');
  });

  test("no containers, no name", async () => {
    const { status } = await apiFailure(createPod({ metadata: {}, spec: { containers: [] } }));
    expect(status["message"]).toBe('Pod "" is invalid: [metadata.name: Required value: name or generateName is required, spec.containers: Required value]');
  });

  test("extended resource requests must equal limits", async () => {
    const { code, status } = await apiFailure(
      createPod({
        metadata: { name: "gpu-mismatch" },
        spec: { containers: [{ name: "c", image: "i", resources: { requests: { "example.com/gpu": "1" }, limits: { "example.com/gpu": "2" } } }] },
      }),
    );
    expect(code).toBe(422);
    expect(status["message"]).toBe(
      'Pod "gpu-mismatch" is invalid: spec.containers[0].resources.requests: Invalid value: "1": must be equal to example.com/gpu limit of 2',
    );
  });

  test("extended resources cannot be requested without a limit nor in fractions", async () => {
    const { status } = await apiFailure(
      createPod({
        metadata: { name: "gpu-frac" },
        spec: { containers: [{ name: "c", image: "i", resources: { requests: { "example.com/gpu": "500m" } } }] },
      }),
    );
    expect(status["message"]).toBe(
      'Pod "gpu-frac" is invalid: [spec.containers[0].resources.requests[example.com/gpu]: Invalid value: 500m: must be an integer, spec.containers[0].resources.limits: Required value: Limit must be set for non overcommitable resources]',
    );
  });

  test("extended resource limits alone default the requests", async () => {
    const pod = await createPod({
      metadata: { name: "gpu-ok" },
      spec: { containers: [{ name: "c", image: "i", resources: { limits: { "example.com/gpu": "2" } } }] },
    });
    expect(pod.spec?.containers[0]?.resources?.requests).toEqual({ "example.com/gpu": "2" });
  });

  test("requests above limits and unparsable quantities", async () => {
    const over = await apiFailure(
      createPod({ metadata: { name: "over" }, spec: { containers: [{ name: "c", image: "i", resources: { requests: { cpu: "2" }, limits: { cpu: "1" } } }] } }),
    );
    expect(over.status["message"]).toBe('Pod "over" is invalid: spec.containers[0].resources.requests: Invalid value: "2": must be less than or equal to cpu limit of 1');
    const res = await t.request("POST", `/api/v1/namespaces/${ns}/pods`, {
      body: { metadata: { name: "q" }, spec: { containers: [{ name: "c", image: "i", resources: { limits: { cpu: "lots" } } }] } },
    });
    expect(res.status).toBe(400);
    expect(res.json?.["message"]).toBe(
      `Pod in version "v1" cannot be handled as a Pod: quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'`,
    );
  });

  test("enum fields reject unsupported values", async () => {
    const { status } = await apiFailure(createPod({ ...podManifest("enum"), spec: { restartPolicy: "Sometimes", containers: [{ name: "c", image: "i" }] } }));
    expect(status["message"]).toBe('Pod "enum" is invalid: spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "Never", "OnFailure"');
  });

  test("pod spec updates are limited to the mutable fields", async () => {
    const pod = await createPod(podManifest("immutable"));
    const changedImage = structuredClone(pod);
    changedImage.spec!.containers[0]!.image = "busybox:1.37";
    const updated = await t.core.replaceNamespacedPod({ name: "immutable", namespace: ns, body: changedImage });
    expect(updated.spec?.containers[0]?.image).toBe("busybox:1.37");
    updated.spec!.containers[0]!.name = "renamed";
    const { code, status } = await apiFailure(t.core.replaceNamespacedPod({ name: "immutable", namespace: ns, body: updated }));
    expect(code).toBe(422);
    expect(String(status["message"])).toStartWith(
      'Pod "immutable" is invalid: spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`',
    );
  });
});

describe("unknown fields", () => {
  const body = { apiVersion: "v1", kind: "Pod", metadata: { name: "unknown-field" }, spec: { bogus: 1, containers: [{ name: "c", image: "i" }] } };

  test("Strict rejects them", async () => {
    const res = await t.request("POST", `/api/v1/namespaces/${ns}/pods?fieldValidation=Strict`, { body });
    expect(res.status).toBe(400);
    expect(res.json?.["message"]).toBe('Pod in version "v1" cannot be handled as a Pod: strict decoding error: unknown field "spec.bogus"');
  });

  test("the default drops them with a Warning header", async () => {
    const res = await t.request("POST", `/api/v1/namespaces/${ns}/pods`, { body });
    expect(res.status).toBe(201);
    expect(res.headers.get("warning")).toBe('299 - "unknown field \\"spec.bogus\\""');
    expect((res.json?.["spec"] as Record<string, unknown>)["bogus"]).toBeUndefined();
  });
});

describe("subresources and patches", () => {
  test("PUT on the pod ignores status; pods/status changes only status", async () => {
    const pod = await createPod(podManifest("status-1", { metadata: { labels: { keep: "yes" } } }));
    const withStatus = { ...pod, status: { ...pod.status, phase: "Running" } };
    const viaMain = await t.core.replaceNamespacedPod({ name: "status-1", namespace: ns, body: withStatus });
    expect(viaMain.status?.phase).toBe("Pending");
    const changed = { ...viaMain, metadata: { ...viaMain.metadata, labels: { keep: "no" } }, status: { ...viaMain.status, phase: "Running" } };
    const viaStatus = await t.core.replaceNamespacedPodStatus({ name: "status-1", namespace: ns, body: changed });
    expect(viaStatus.status?.phase).toBe("Running");
    expect(viaStatus.metadata?.labels).toEqual({ keep: "yes" });
  });

  test("an update that changes nothing writes nothing", async () => {
    const pod = await createPod(podManifest("noop"));
    const again = await t.core.replaceNamespacedPod({ name: "noop", namespace: ns, body: pod });
    expect(again.metadata?.resourceVersion).toBe(pod.metadata?.resourceVersion ?? "");
  });

  test("JSON patch, merge patch and strategic merge patch", async () => {
    await createPod(podManifest("patch-1"));
    const path = `/api/v1/namespaces/${ns}/pods/patch-1`;
    const json = await t.request("PATCH", path, {
      contentType: "application/json-patch+json",
      body: [{ op: "add", path: "/metadata/labels", value: { a: "1", b: "2" } }],
    });
    expect((json.json?.["metadata"] as { labels: unknown }).labels).toEqual({ a: "1", b: "2" });
    const merge = await t.request("PATCH", path, { contentType: "application/merge-patch+json", body: { metadata: { labels: { a: null, c: "3" } } } });
    expect((merge.json?.["metadata"] as { labels: unknown }).labels).toEqual({ b: "2", c: "3" });
    const statusPath = `${path}/status`;
    const first = await t.request("PATCH", statusPath, {
      contentType: "application/strategic-merge-patch+json",
      body: { status: { conditions: [{ type: "Ready", status: "False" }, { type: "Initialized", status: "True" }] } },
    });
    expect(first.status).toBe(200);
    const second = await t.request("PATCH", statusPath, {
      contentType: "application/strategic-merge-patch+json",
      body: { status: { conditions: [{ type: "Ready", status: "True" }] } },
    });
    // Conditions merge by their "type" key instead of replacing the list.
    expect((second.json?.["status"] as { conditions: unknown }).conditions).toEqual([
      { type: "Ready", status: "True" },
      { type: "Initialized", status: "True" },
    ]);
  });

  test("patch errors: failed test op (422), unknown patch type (415)", async () => {
    await createPod(podManifest("patch-2"));
    const path = `/api/v1/namespaces/${ns}/pods/patch-2`;
    const failed = await t.request("PATCH", path, {
      contentType: "application/json-patch+json",
      body: [{ op: "test", path: "/metadata/name", value: "other" }],
    });
    expect(failed.status).toBe(422);
    expect(failed.json?.["reason"]).toBe("Invalid");
    const unsupported = await t.request("PATCH", path, { contentType: "text/plain", body: "{}" });
    expect(unsupported.status).toBe(415);
    expect(unsupported.json?.["reason"]).toBe("UnsupportedMediaType");
    expect(unsupported.json?.["message"]).toBe(
      "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json",
    );
  });

  test("pods/binding sets the node once and marks the pod scheduled", async () => {
    await createPod(podManifest("bind-1"));
    await t.core.createNamespacedPodBinding({
      name: "bind-1",
      namespace: ns,
      body: { apiVersion: "v1", kind: "Binding", metadata: { name: "bind-1" }, target: { kind: "Node", name: "node-a" } },
    });
    const pod = await t.core.readNamespacedPod({ name: "bind-1", namespace: ns });
    expect(pod.spec?.nodeName).toBe("node-a");
    expect(pod.status?.conditions?.find((c) => c.type === "PodScheduled")?.status).toBe("True");
    const { code, status } = await apiFailure(
      t.core.createNamespacedPodBinding({
        name: "bind-1",
        namespace: ns,
        body: { metadata: { name: "bind-1" }, target: { kind: "Node", name: "node-b" } },
      }),
    );
    expect(code).toBe(409);
    expect(status["message"]).toBe('Operation cannot be fulfilled on pods/binding "bind-1": pod bind-1 is already assigned to node "node-a"');
  });
});

describe("selectors", () => {
  beforeAll(async () => {
    await t.core.createNamespace({ body: { metadata: { name: "sel" } } });
    await createPod(podManifest("s-web", { metadata: { labels: { app: "web", tier: "front" } } }), "sel");
    await createPod(podManifest("s-db", { metadata: { labels: { app: "db" } } }), "sel");
    await createPod(podManifest("s-none"), "sel");
    await t.request("POST", "/api/v1/namespaces/sel/pods/s-db/binding", { body: { metadata: { name: "s-db" }, target: { name: "node-x" } } });
  });
  const names = async (query: Record<string, string>) => {
    const res = await t.core.listNamespacedPod({ namespace: "sel", ...query });
    return res.items.map((p) => p.metadata?.name).sort();
  };

  test("label selectors", async () => {
    expect(await names({ labelSelector: "app=web" })).toEqual(["s-web"]);
    expect(await names({ labelSelector: "app==db" })).toEqual(["s-db"]);
    expect(await names({ labelSelector: "app!=web" })).toEqual(["s-db", "s-none"]);
    expect(await names({ labelSelector: "app in (web,db)" })).toEqual(["s-db", "s-web"]);
    expect(await names({ labelSelector: "app notin (web)" })).toEqual(["s-db", "s-none"]);
    expect(await names({ labelSelector: "tier" })).toEqual(["s-web"]);
    expect(await names({ labelSelector: "!app" })).toEqual(["s-none"]);
    expect(await names({ labelSelector: "app,!tier" })).toEqual(["s-db"]);
  });

  test("field selectors", async () => {
    expect(await names({ fieldSelector: "metadata.name=s-web" })).toEqual(["s-web"]);
    expect(await names({ fieldSelector: "spec.nodeName=" })).toEqual(["s-none", "s-web"]);
    expect(await names({ fieldSelector: "spec.nodeName==node-x" })).toEqual(["s-db"]);
    expect(await names({ fieldSelector: "spec.nodeName!=node-x,status.phase=Pending" })).toEqual(["s-none", "s-web"]);
    expect(await names({ fieldSelector: "metadata.namespace=sel", labelSelector: "app" })).toEqual(["s-db", "s-web"]);
  });

  test("unsupported selectors are 400", async () => {
    const { code, status } = await apiFailure(t.core.listNamespacedPod({ namespace: "sel", fieldSelector: "spec.image=x" }));
    expect(code).toBe(400);
    expect(status["message"]).toBe("field label not supported: spec.image");
    const bad = await apiFailure(t.core.listNamespacedPod({ namespace: "sel", labelSelector: "a in b" }));
    expect(bad.code).toBe(400);
  });
});

describe("deletion", () => {
  test("DELETE returns the pod; preconditions.uid must match", async () => {
    const pod = await createPod(podManifest("del-1"));
    const { code, status } = await apiFailure(
      t.core.deleteNamespacedPod({ name: "del-1", namespace: ns, body: { preconditions: { uid: "00000000-0000-0000-0000-000000000000" } } }),
    );
    expect(code).toBe(409);
    expect(status["message"]).toBe(
      `Operation cannot be fulfilled on pods "del-1": Precondition failed: UID in precondition: 00000000-0000-0000-0000-000000000000, UID in object meta: ${pod.metadata?.uid}`,
    );
    const deleted = await t.core.deleteNamespacedPod({ name: "del-1", namespace: ns, body: { preconditions: { uid: pod.metadata?.uid } } });
    expect(deleted.metadata?.uid).toBe(pod.metadata?.uid ?? "");
    expect((await apiFailure(t.core.readNamespacedPod({ name: "del-1", namespace: ns }))).code).toBe(404);
  });

  test("a pod bound to a registered node terminates gracefully until a grace-0 delete", async () => {
    await t.core.createNode({ body: { metadata: { name: "grace-node" } } });
    await createPod(podManifest("del-2"));
    await t.request("POST", `/api/v1/namespaces/${ns}/pods/del-2/binding`, { body: { metadata: { name: "del-2" }, target: { name: "grace-node" } } });
    const terminating = await t.core.deleteNamespacedPod({ name: "del-2", namespace: ns });
    expect(terminating.metadata?.deletionTimestamp).toBeInstanceOf(Date);
    expect(terminating.metadata?.deletionGracePeriodSeconds).toBe(30);
    const table = await t.request("GET", `/api/v1/namespaces/${ns}/pods/del-2`, { accept: "application/json;as=Table;v=v1;g=meta.k8s.io" });
    expect((table.json?.["rows"] as Array<{ cells: unknown[] }>)[0]?.cells[2]).toBe("Terminating");
    await t.core.deleteNamespacedPod({ name: "del-2", namespace: ns, gracePeriodSeconds: 0 });
    expect((await apiFailure(t.core.readNamespacedPod({ name: "del-2", namespace: ns }))).code).toBe(404);
  });

  test("configmap deletion answers with a Success Status", async () => {
    const cm = await t.core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "del-cm" }, data: { k: "v" } } });
    const res = await t.request("DELETE", `/api/v1/namespaces/${ns}/configmaps/del-cm`);
    expect(res.json).toEqual({
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Success",
      details: { name: "del-cm", kind: "configmaps", uid: cm.metadata?.uid },
    });
  });
});
