// Garbage collection by ownerReferences: background, foreground and orphan propagation,
// dangling owners, the 1.20+ cross-namespace rules with their OwnerRefInvalidNamespace
// events, and namespace deletion.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { CoreV1Event, V1OwnerReference, V1Pod } from "@kubernetes/client-node";
import { apiFailure, podManifest, startTestServer, type TestServer } from "./testing.ts";

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
  for (const name of ["gc-a", "gc-b"]) await t.core.createNamespace({ body: { metadata: { name } } });
});
afterAll(async () => {
  await t?.stop();
});

async function owner(namespace: string, name: string): Promise<V1OwnerReference> {
  const cm = await t.core.createNamespacedConfigMap({ namespace, body: { metadata: { name } } });
  return { apiVersion: "v1", kind: "ConfigMap", name, uid: cm.metadata?.uid ?? "" };
}

async function dependentPod(namespace: string, name: string, ownerReferences: V1OwnerReference[]): Promise<V1Pod> {
  return t.core.createNamespacedPod({ namespace, body: podManifest(name, { metadata: { ownerReferences } }) as V1Pod });
}

const deletedPod = (name: string) => (e: { type: string; object: { metadata?: { name?: string } } }) => e.type === "DELETED" && e.object.metadata?.name === name;

/**
 * The collector handles every object in each pass: once a dependent of a missing owner,
 * created after the object under test, is collected, the object under test was judged.
 */
async function gcBarrier(namespace: string): Promise<void> {
  const name = `barrier-${crypto.randomUUID().slice(0, 8)}`;
  const pod = await dependentPod(namespace, name, [{ apiVersion: "v1", kind: "ConfigMap", name: "gone", uid: crypto.randomUUID() }]);
  await t.waitForEvent(`/api/v1/namespaces/${namespace}/pods`, pod.metadata?.resourceVersion ?? "0", deletedPod(name));
}

describe("background deletion", () => {
  test("deleting the owner deletes its dependents", async () => {
    const ref = await owner("gc-a", "bg-owner");
    const pod = await dependentPod("gc-a", "bg-child", [ref]);
    await t.core.deleteNamespacedConfigMap({ name: "bg-owner", namespace: "gc-a" });
    await t.waitForEvent("/api/v1/namespaces/gc-a/pods", pod.metadata?.resourceVersion ?? "0", deletedPod("bg-child"));
    expect((await apiFailure(t.core.readNamespacedPod({ name: "bg-child", namespace: "gc-a" }))).code).toBe(404);
  });

  test("a dependent whose owner uid does not exist is garbage", async () => {
    const list = await t.core.listNamespacedPod({ namespace: "gc-a" });
    await dependentPod("gc-a", "dangling", [{ apiVersion: "v1", kind: "ConfigMap", name: "never", uid: crypto.randomUUID() }]);
    await t.waitForEvent("/api/v1/namespaces/gc-a/pods", list.metadata?.resourceVersion ?? "0", deletedPod("dangling"));
  });

  test("with one owner left, only the dangling reference is dropped", async () => {
    const alive = await owner("gc-a", "alive-owner");
    const ghost: V1OwnerReference = { apiVersion: "v1", kind: "ConfigMap", name: "ghost", uid: crypto.randomUUID() };
    const pod = await dependentPod("gc-a", "two-owners", [alive, ghost]);
    const event = await t.waitForEvent(
      "/api/v1/namespaces/gc-a/pods",
      pod.metadata?.resourceVersion ?? "0",
      (e) => e.type === "MODIFIED" && e.object.metadata?.name === "two-owners",
    );
    expect((event.object.metadata as { ownerReferences?: unknown[] }).ownerReferences).toEqual([alive]);
  });

  test("owners of kinds the server does not serve are left alone", async () => {
    await dependentPod("gc-a", "unknown-kind", [{ apiVersion: "example.com/v1", kind: "Widget", name: "w", uid: crypto.randomUUID() }]);
    await gcBarrier("gc-a");
    expect((await t.core.readNamespacedPod({ name: "unknown-kind", namespace: "gc-a" })).metadata?.name).toBe("unknown-kind");
  });
});

describe("foreground and orphan propagation", () => {
  test("Foreground: the owner waits, with a finalizer, until blocking dependents are gone", async () => {
    const ref = await owner("gc-a", "fg-owner");
    const pod = await dependentPod("gc-a", "fg-child", [{ ...ref, blockOwnerDeletion: true }]);
    const res = await t.request("DELETE", "/api/v1/namespaces/gc-a/configmaps/fg-owner", { body: { propagationPolicy: "Foreground" } });
    expect(res.status).toBe(200);
    const marked = res.json as { metadata: { finalizers: string[]; deletionTimestamp?: string } };
    expect(marked.metadata.finalizers).toEqual(["foregroundDeletion"]);
    expect(marked.metadata.deletionTimestamp).toBeDefined();
    await t.waitForEvent("/api/v1/namespaces/gc-a/pods", pod.metadata?.resourceVersion ?? "0", deletedPod("fg-child"));
    await t.waitForEvent("/api/v1/namespaces/gc-a/configmaps", pod.metadata?.resourceVersion ?? "0", (e) => e.type === "DELETED" && e.object.metadata?.name === "fg-owner");
  });

  test("Orphan: dependents stay, without the owner reference", async () => {
    const ref = await owner("gc-a", "orphan-owner");
    const pod = await dependentPod("gc-a", "orphan-child", [ref]);
    await t.core.deleteNamespacedConfigMap({ name: "orphan-owner", namespace: "gc-a", propagationPolicy: "Orphan" });
    const event = await t.waitForEvent(
      "/api/v1/namespaces/gc-a/pods",
      pod.metadata?.resourceVersion ?? "0",
      (e) => e.type === "MODIFIED" && e.object.metadata?.name === "orphan-child",
    );
    expect((event.object.metadata as { ownerReferences?: unknown }).ownerReferences).toBeUndefined();
    await t.waitForEvent("/api/v1/namespaces/gc-a/configmaps", pod.metadata?.resourceVersion ?? "0", (e) => e.type === "DELETED" && e.object.metadata?.name === "orphan-owner");
    await gcBarrier("gc-a");
    expect((await t.core.readNamespacedPod({ name: "orphan-child", namespace: "gc-a" })).metadata?.ownerReferences).toBeUndefined();
  });
});

describe("owner references across namespaces (Kubernetes 1.20+)", () => {
  const invalidNamespaceEvent = (namespace: string, dependent: string) => async (): Promise<CoreV1Event> => {
    const events = await t.core.listNamespacedEvent({ namespace, fieldSelector: `reason=OwnerRefInvalidNamespace,involvedObject.name=${dependent}` });
    const [event] = events.items;
    if (!event) throw new Error(`no OwnerRefInvalidNamespace event for ${dependent} in ${namespace}`);
    return event;
  };

  test("a namespaced dependent pointing at an owner in another namespace is collected, with a warning event", async () => {
    const foreign = await owner("gc-a", "foreign-owner");
    const list = await t.core.listNamespacedEvent({ namespace: "gc-b" });
    const pod = await dependentPod("gc-b", "cross-ns", [foreign]);
    await t.waitForEvent("/api/v1/namespaces/gc-b/pods", pod.metadata?.resourceVersion ?? "0", deletedPod("cross-ns"));
    await t.waitForEvent("/api/v1/namespaces/gc-b/events", list.metadata?.resourceVersion ?? "0", (e) => e.type === "ADDED");
    const event = await invalidNamespaceEvent("gc-b", "cross-ns")();
    expect(event.type).toBe("Warning");
    expect(event.involvedObject).toMatchObject({ kind: "Pod", apiVersion: "v1", name: "cross-ns", namespace: "gc-b", uid: pod.metadata?.uid });
    expect(event.message).toBe(`ownerRef [v1/ConfigMap, namespace: gc-b, name: foreign-owner, uid: ${foreign.uid}] does not exist in namespace "gc-b"`);
    expect(event.source?.component).toBe("garbage-collector-controller");
    // The owner itself is untouched.
    expect((await t.core.readNamespacedConfigMap({ name: "foreign-owner", namespace: "gc-a" })).metadata?.uid).toBe(foreign.uid);
  });

  test("a cluster-scoped dependent of a namespaced owner is never collected, and is reported", async () => {
    const namespaced = await owner("gc-a", "node-owner");
    const list = await t.core.listNamespacedEvent({ namespace: "default" });
    await t.core.createNode({ body: { metadata: { name: "owned-node", ownerReferences: [namespaced] } } });
    await t.waitForEvent("/api/v1/namespaces/default/events", list.metadata?.resourceVersion ?? "0", (e) => e.type === "ADDED");
    const event = await invalidNamespaceEvent("default", "owned-node")();
    expect(event.involvedObject).toMatchObject({ kind: "Node", name: "owned-node" });
    expect(event.involvedObject.namespace).toBeUndefined();
    await t.core.deleteNamespacedConfigMap({ name: "node-owner", namespace: "gc-a" });
    await gcBarrier("gc-a");
    expect((await t.core.readNode({ name: "owned-node" })).metadata?.name).toBe("owned-node");
  });
});

describe("namespace deletion", () => {
  test("removes the namespace's content, then the namespace", async () => {
    await t.core.createNamespace({ body: { metadata: { name: "gc-doomed" } } });
    await t.core.createNamespacedPod({ namespace: "gc-doomed", body: podManifest("inside") as V1Pod });
    // A finalizer keeps the namespace in Terminating until this test releases it.
    await t.core.createNamespacedConfigMap({ namespace: "gc-doomed", body: { metadata: { name: "held", finalizers: ["example.com/hold"] } } });
    const sa = await t.core.readNamespacedServiceAccount({ name: "default", namespace: "gc-doomed" });
    expect(sa.metadata?.name).toBe("default");
    const deleted = await t.request("DELETE", "/api/v1/namespaces/gc-doomed");
    const terminating = deleted.json as { status: { phase: string }; metadata: { resourceVersion: string } };
    expect(terminating.status.phase).toBe("Terminating");
    const created = await apiFailure(t.core.createNamespacedConfigMap({ namespace: "gc-doomed", body: { metadata: { name: "late" } } }));
    expect(created.code).toBe(403);
    expect(created.status["message"]).toBe('configmaps "late" is forbidden: unable to create new content in namespace gc-doomed because it is being terminated');
    await t.waitForEvent("/api/v1/namespaces/gc-doomed/pods", terminating.metadata.resourceVersion, deletedPod("inside"));
    await t.request("PATCH", "/api/v1/namespaces/gc-doomed/configmaps/held", {
      contentType: "application/merge-patch+json",
      body: { metadata: { finalizers: null } },
    });
    await t.waitForEvent("/api/v1/namespaces", terminating.metadata.resourceVersion, (e) => e.type === "DELETED" && e.object.metadata?.name === "gc-doomed");
    expect((await t.core.listNamespacedPod({ namespace: "gc-doomed" })).items).toEqual([]);
    const protectedNs = await apiFailure(t.core.deleteNamespace({ name: "kube-system" }));
    expect(protectedNs.status["message"]).toBe('namespaces "kube-system" is forbidden: this namespace may not be deleted');
  });
});
