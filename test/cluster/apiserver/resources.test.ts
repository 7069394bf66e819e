// The other kinds: nodes (status subresource, taints), events (field selectors), configmaps
// and secrets (immutability, stringData), namespaces, leases and poddisruptionbudgets.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { CoordinationV1Api, PolicyV1Api } from "@kubernetes/client-node";
import { apiFailure, startTestServer, type TestServer } from "./testing.ts";

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t?.stop();
});

describe("nodes", () => {
  test("status goes through the status subresource; capacity is canonicalised", async () => {
    const created = await t.core.createNode({
      body: { metadata: { name: "r-node", labels: { "node-role.kubernetes.io/worker": "" } }, status: { capacity: { cpu: "4000m", "example.com/gpu": "2" } } },
    });
    expect(created.status?.capacity).toEqual({ cpu: "4", "example.com/gpu": "2" });
    created.spec = { unschedulable: true };
    created.status = { ...created.status, conditions: [{ type: "Ready", status: "True" }] };
    const viaMain = await t.core.replaceNode({ name: "r-node", body: created });
    expect(viaMain.spec?.unschedulable).toBe(true);
    expect(viaMain.status?.conditions).toBeUndefined();
    const viaStatus = await t.core.patchNodeStatus({ name: "r-node", body: [{ op: "add", path: "/status/conditions", value: [{ type: "Ready", status: "True" }] }] });
    expect(viaStatus.status?.conditions?.[0]?.type).toBe("Ready");
    const schedulable = await t.core.listNode({ fieldSelector: "spec.unschedulable=false" });
    expect(schedulable.items.map((n) => n.metadata?.name)).not.toContain("r-node");
  });

  test("invalid taints and fractional extended resources are 422", async () => {
    const taint = await apiFailure(t.core.createNode({ body: { metadata: { name: "r-bad" }, spec: { taints: [{ key: "k", effect: "Sometimes" }] } } }));
    expect(taint.status["message"]).toBe('Node "r-bad" is invalid: spec.taints[0].effect: Unsupported value: "Sometimes": supported values: "NoExecute", "NoSchedule", "PreferNoSchedule"');
    const fraction = await apiFailure(t.core.createNode({ body: { metadata: { name: "r-frac" }, status: { capacity: { "example.com/gpu": "1500m" } } } }));
    expect(fraction.status["message"]).toBe('Node "r-frac" is invalid: status.capacity[example.com/gpu]: Invalid value: 1500m: must be an integer');
  });
});

describe("events", () => {
  test("are created and listed with involvedObject and reason field selectors", async () => {
    const now = new Date();
    for (const [name, reason] of [["ev-1", "Pulled"], ["ev-2", "Failed"]] as const) {
      await t.core.createNamespacedEvent({
        namespace: "default",
        body: {
          metadata: { name },
          involvedObject: { kind: "Pod", name: "some-pod", namespace: "default", apiVersion: "v1" },
          reason,
          message: `${reason} happened`,
          type: reason === "Failed" ? "Warning" : "Normal",
          firstTimestamp: now,
          lastTimestamp: now,
          count: 1,
          source: { component: "kubelet" },
        },
      });
    }
    const failed = await t.core.listNamespacedEvent({ namespace: "default", fieldSelector: "involvedObject.name=some-pod,reason=Failed" });
    expect(failed.items.map((e) => e.metadata?.name)).toEqual(["ev-2"]);
    const warnings = await t.core.listEventForAllNamespaces({ fieldSelector: "type=Warning,source=kubelet" });
    expect(warnings.items.map((e) => e.metadata?.name)).toEqual(["ev-2"]);
    const wrongNamespace = await apiFailure(
      t.core.createNamespacedEvent({ namespace: "default", body: { metadata: { name: "ev-3" }, involvedObject: { kind: "Pod", name: "p", namespace: "kube-system" } } }),
    );
    expect(wrongNamespace.status["message"]).toBe('Event "ev-3" is invalid: involvedObject.namespace: Invalid value: "kube-system": does not match event.namespace');
  });
});

describe("configmaps and secrets", () => {
  test("immutable data stays immutable", async () => {
    const cm = await t.core.createNamespacedConfigMap({ namespace: "default", body: { metadata: { name: "frozen" }, data: { a: "1" }, immutable: true } });
    cm.data = { a: "2" };
    const { code, status } = await apiFailure(t.core.replaceNamespacedConfigMap({ name: "frozen", namespace: "default", body: cm }));
    expect(code).toBe(422);
    expect(status["message"]).toBe('ConfigMap "frozen" is invalid: data: Forbidden: field is immutable when `immutable` is set');
  });

  test("secret stringData lands base64-encoded in data; the type cannot change", async () => {
    const secret = await t.core.createNamespacedSecret({ namespace: "default", body: { metadata: { name: "creds" }, stringData: { user: "admin" } } });
    expect(secret.data).toEqual({ user: Buffer.from("admin").toString("base64") });
    expect(secret.type).toBe("Opaque");
    expect((secret as Record<string, unknown>)["stringData"]).toBeUndefined();
    secret.type = "kubernetes.io/tls";
    const { status } = await apiFailure(t.core.replaceNamespacedSecret({ name: "creds", namespace: "default", body: secret }));
    expect(status["message"]).toBe('Secret "creds" is invalid: type: Invalid value: "kubernetes.io/tls": field is immutable');
    const badBase64 = await t.request("POST", "/api/v1/namespaces/default/secrets", { body: { metadata: { name: "b64" }, data: { k: "not base64!" } } });
    expect(badBase64.status).toBe(400);
    expect(badBase64.json?.["message"]).toBe('Secret in version "v1" cannot be handled as a Secret: illegal base64 data at input byte 3');
  });
});

describe("namespaces", () => {
  test("start Active with their name label, a default service account and the root CA", async () => {
    const ns = await t.core.createNamespace({ body: { metadata: { name: "r-ns" } } });
    expect(ns.status?.phase).toBe("Active");
    expect(ns.metadata?.labels).toEqual({ "kubernetes.io/metadata.name": "r-ns" });
    expect(ns.spec?.finalizers).toEqual(["kubernetes"]);
    const ca = await t.core.readNamespacedConfigMap({ name: "kube-root-ca.crt", namespace: "r-ns" });
    expect(ca.data?.["ca.crt"]).toBe(t.server.caCertPem);
    const invalid = await apiFailure(t.core.createNamespace({ body: { metadata: { name: "Not.A.Label" } } }));
    expect(invalid.code).toBe(422);
    const names = (await t.core.listNamespace()).items.map((n) => n.metadata?.name);
    expect(names).toEqual(expect.arrayContaining(["default", "kube-system", "kube-public", "kube-node-lease", "r-ns"]));
  });
});

describe("leases and poddisruptionbudgets", () => {
  test("leases round-trip for kubelet heartbeats", async () => {
    const coordination = t.clientConfig().makeApiClient(CoordinationV1Api);
    const renew = new Date();
    const lease = await coordination.createNamespacedLease({
      namespace: "kube-node-lease",
      body: { metadata: { name: "node-x" }, spec: { holderIdentity: "node-x", leaseDurationSeconds: 40, renewTime: renew } },
    });
    expect(lease.spec?.holderIdentity).toBe("node-x");
    // MicroTime comes back with exactly six fractional digits, as Go encodes it.
    expect(String(lease.spec?.renewTime)).toBe(`${renew.toISOString().slice(0, 23)}000Z`);
  });

  test("poddisruptionbudgets get a generation and refuse min and max together", async () => {
    const policy = t.clientConfig().makeApiClient(PolicyV1Api);
    const pdb = await policy.createNamespacedPodDisruptionBudget({
      namespace: "default",
      body: { metadata: { name: "pdb" }, spec: { minAvailable: 1, selector: { matchLabels: { app: "x" } } } },
    });
    expect(pdb.metadata?.generation).toBe(1);
    expect((await policy.listNamespacedPodDisruptionBudget({ namespace: "default" })).items.map((p) => p.metadata?.name)).toEqual(["pdb"]);
    const both = await apiFailure(
      policy.createNamespacedPodDisruptionBudget({ namespace: "default", body: { metadata: { name: "pdb2" }, spec: { minAvailable: 1, maxUnavailable: 1 } } }),
    );
    expect(both.code).toBe(422);
    expect(String(both.status["message"])).toStartWith('PodDisruptionBudget.policy "pdb2" is invalid: spec: Invalid value:');
  });
});
