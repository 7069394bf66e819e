// Watches: event order and resourceVersions, resumption, the 410 Expired ERROR event after
// the history window, selector transitions, bookmarks, timeouts and initial events.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Watch, type V1Pod } from "@kubernetes/client-node";
import { podManifest, readLinesUntil, startTestServer, type TestServer } from "./testing.ts";

const HISTORY = 20;
let t: TestServer;
beforeAll(async () => {
  t = await startTestServer({ watchHistorySize: HISTORY, bookmarkIntervalMs: 100 });
});
afterAll(async () => {
  await t?.stop();
});

interface WatchEvent {
  type: string;
  object: { kind?: string; metadata?: { name?: string; resourceVersion?: string; labels?: Record<string, string>; annotations?: Record<string, string> } } & Record<string, unknown>;
}

/** Opens a raw watch and returns its event stream plus a way to stop it. */
async function rawWatch(path: string): Promise<{ status: number; events(done: (e: WatchEvent[]) => boolean, timeoutMs?: number): Promise<WatchEvent[]>; close(): void }> {
  const controller = new AbortController();
  const response = await fetch(`${t.server.httpUrl}${path}`, {
    headers: { Authorization: `Bearer ${t.server.adminToken}` },
    signal: controller.signal,
  });
  const collected: WatchEvent[] = [];
  return {
    status: response.status,
    async events(done, timeoutMs = 5000) {
      if (!response.body) return collected;
      const lines = await readLinesUntil(
        response.body,
        (ls) => {
          collected.length = 0;
          collected.push(...ls.map((l) => JSON.parse(l) as WatchEvent));
          return done(collected);
        },
        timeoutMs,
      );
      return lines.map((l) => JSON.parse(l) as WatchEvent);
    },
    close: () => controller.abort(),
  };
}

/** Enough writes to one pod to push older pod events out of the history window. */
async function churnPod(name: string, namespace: string): Promise<void> {
  for (let i = 0; i < HISTORY + 5; i++) {
    await t.core.patchNamespacedPod({ name, namespace, body: [{ op: "add", path: "/metadata/annotations", value: { churn: String(i) } }] });
  }
}

const createPod = (name: string, namespace = "default", labels?: Record<string, string>) =>
  t.core.createNamespacedPod({ namespace, body: podManifest(name, labels ? { metadata: { labels } } : {}) as V1Pod });

describe("client-node Watch", () => {
  test("delivers ADDED, MODIFIED, DELETED after the list's resourceVersion, in order", async () => {
    await t.core.createNamespace({ body: { metadata: { name: "w1" } } });
    const list = await t.core.listNamespacedPod({ namespace: "w1" });
    const seen: Array<{ type: string; name?: string; rv?: string }> = [];
    let resolveDone: () => void = () => {};
    const gotDelete = new Promise<void>((r) => (resolveDone = r));
    const request = await new Watch(t.clientConfig()).watch(
      "/api/v1/namespaces/w1/pods",
      { resourceVersion: list.metadata?.resourceVersion },
      (type, obj: V1Pod) => {
        seen.push({ type, name: obj.metadata?.name, rv: obj.metadata?.resourceVersion });
        if (type === "DELETED") resolveDone();
      },
      () => {},
    );
    try {
      await createPod("a", "w1");
      await t.core.patchNamespacedPod({ name: "a", namespace: "w1", body: [{ op: "add", path: "/metadata/labels", value: { x: "y" } }] });
      await t.core.deleteNamespacedPod({ name: "a", namespace: "w1" });
      await gotDelete;
    } finally {
      request.abort();
    }
    expect(seen.map((e) => `${e.type} ${e.name}`)).toEqual(["ADDED a", "MODIFIED a", "DELETED a"]);
    const rvs = seen.map((e) => Number(e.rv));
    expect(rvs).toEqual([...rvs].sort((x, y) => x - y));
    expect(new Set(rvs).size).toBe(3);
  });
});

describe("raw watch streams", () => {
  test("resuming from a resourceVersion replays only later events", async () => {
    const first = await createPod("resume-1", "kube-public");
    await createPod("resume-2", "kube-public");
    const w = await rawWatch(`/api/v1/namespaces/kube-public/pods?watch=1&resourceVersion=${first.metadata?.resourceVersion}`);
    expect(w.status).toBe(200);
    const events = await w.events((e) => e.length >= 1);
    w.close();
    expect(events.map((e) => `${e.type} ${e.object.metadata?.name}`)).toEqual(["ADDED resume-2"]);
    expect(events[0]?.object.kind).toBe("Pod");
  });

  test("without a resourceVersion the current objects arrive as ADDED first", async () => {
    await t.core.createNamespace({ body: { metadata: { name: "w-initial" } } });
    await createPod("i-1", "w-initial");
    await createPod("i-2", "w-initial");
    const w = await rawWatch("/api/v1/namespaces/w-initial/pods?watch=true");
    const events = await w.events((e) => e.length >= 2);
    w.close();
    expect(events.map((e) => `${e.type} ${e.object.metadata?.name}`)).toEqual(["ADDED i-1", "ADDED i-2"]);
  });

  test("a resourceVersion older than the history window gets a 410 Expired ERROR event", async () => {
    const old = await createPod("expired-0");
    const oldRv = Number(old.metadata?.resourceVersion);
    await churnPod("expired-0", "default");
    const w = await rawWatch(`/api/v1/pods?watch=1&resourceVersion=${oldRv}`);
    expect(w.status).toBe(200);
    const events = await w.events((e) => e.length >= 1);
    w.close();
    expect(events).toHaveLength(1);
    expect(events[0]?.type).toBe("ERROR");
    const status = events[0]?.object as Record<string, unknown>;
    expect(status["kind"]).toBe("Status");
    expect(status["apiVersion"]).toBe("v1");
    expect(status["status"]).toBe("Failure");
    expect(status["reason"]).toBe("Expired");
    expect(status["code"]).toBe(410);
    expect(String(status["message"])).toMatch(new RegExp(`^too old resource version: ${oldRv} \\(\\d+\\)$`));

    const exact = await t.request("GET", `/api/v1/pods?resourceVersion=${oldRv}&resourceVersionMatch=Exact`);
    expect(exact.status).toBe(410);
    expect(exact.json?.["reason"]).toBe("Expired");
  });

  test("the history window is per resource: churn elsewhere does not expire a pod watch", async () => {
    const pod = await createPod("calm");
    for (let i = 0; i < HISTORY + 5; i++) {
      await t.core.createNamespacedConfigMap({ namespace: "default", body: { metadata: { name: `churn-${i}` } } });
    }
    await t.core.deleteNamespacedPod({ name: "calm", namespace: "default" });
    const w = await rawWatch(`/api/v1/namespaces/default/pods?watch=1&resourceVersion=${pod.metadata?.resourceVersion}`);
    const events = await w.events((e) => e.length >= 1);
    w.close();
    expect(events.map((e) => `${e.type} ${e.object.metadata?.name}`)).toEqual(["DELETED calm"]);
  });

  test("a continue token older than the history window is 410 Expired", async () => {
    await t.core.createNamespace({ body: { metadata: { name: "w-continue" } } });
    for (const i of [1, 2, 3]) await createPod(`c-${i}`, "w-continue");
    const first = await t.request("GET", "/api/v1/namespaces/w-continue/pods?limit=1");
    const token = (first.json?.["metadata"] as { continue: string }).continue;
    await churnPod("c-3", "w-continue");
    const next = await t.request("GET", `/api/v1/namespaces/w-continue/pods?limit=1&continue=${token}`);
    expect(next.status).toBe(410);
    expect(next.json?.["reason"]).toBe("Expired");
    expect(String(next.json?.["message"])).toStartWith("The provided continue parameter is too old");
  });

  test("objects entering and leaving a label selector are ADDED and DELETED for that watcher", async () => {
    await t.core.createNamespace({ body: { metadata: { name: "w-sel" } } });
    const list = await t.core.listNamespacedPod({ namespace: "w-sel" });
    const w = await rawWatch(`/api/v1/namespaces/w-sel/pods?watch=1&labelSelector=app%3Dweb&resourceVersion=${list.metadata?.resourceVersion}`);
    await createPod("plain", "w-sel");
    await t.core.patchNamespacedPod({ name: "plain", namespace: "w-sel", body: [{ op: "add", path: "/metadata/labels", value: { app: "web" } }] });
    await t.core.patchNamespacedPod({ name: "plain", namespace: "w-sel", body: [{ op: "add", path: "/metadata/annotations", value: { touched: "1" } }] });
    await t.core.patchNamespacedPod({ name: "plain", namespace: "w-sel", body: [{ op: "replace", path: "/metadata/labels/app", value: "db" }] });
    const events = await w.events((e) => e.length >= 3);
    w.close();
    expect(events.map((e) => `${e.type} ${e.object.metadata?.labels?.["app"]}`)).toEqual(["ADDED web", "MODIFIED web", "DELETED db"]);
  });

  test("a kubelet-style field selector sees the pod when it is bound", async () => {
    await createPod("bound-later");
    const list = await t.core.listPodForAllNamespaces({ fieldSelector: "spec.nodeName=node-w" });
    const w = await rawWatch(`/api/v1/pods?watch=1&fieldSelector=spec.nodeName%3Dnode-w&resourceVersion=${list.metadata?.resourceVersion}`);
    await t.request("POST", "/api/v1/namespaces/default/pods/bound-later/binding", { body: { metadata: { name: "bound-later" }, target: { name: "node-w" } } });
    const events = await w.events((e) => e.length >= 1);
    w.close();
    expect(events[0]?.type).toBe("ADDED");
    expect(events[0]?.object.metadata?.name).toBe("bound-later");
  });

  test("bookmarks carry only kind, apiVersion and the current resourceVersion", async () => {
    const w = await rawWatch(`/api/v1/namespaces/default/pods?watch=1&allowWatchBookmarks=true&resourceVersion=${(await t.core.listNamespacedPod({ namespace: "default" })).metadata?.resourceVersion}`);
    const events = await w.events((e) => e.some((x) => x.type === "BOOKMARK"));
    w.close();
    const bookmark = events.find((e) => e.type === "BOOKMARK");
    expect(bookmark?.object).toEqual({ kind: "Pod", apiVersion: "v1", metadata: { resourceVersion: expect.stringMatching(/^\d+$/) } });
  });

  test("sendInitialEvents ends the initial state with an annotated bookmark", async () => {
    const bad = await t.request("GET", "/api/v1/namespaces/default/pods?watch=1&sendInitialEvents=true");
    expect(bad.status).toBe(422);
    await t.core.createNamespace({ body: { metadata: { name: "w-streaming" } } });
    await createPod("s-1", "w-streaming");
    const w = await rawWatch("/api/v1/namespaces/w-streaming/pods?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true");
    const events = await w.events((e) => e.some((x) => x.type === "BOOKMARK"));
    w.close();
    expect(events[0]?.type).toBe("ADDED");
    expect(events[1]?.type).toBe("BOOKMARK");
    expect(events[1]?.object.metadata?.annotations).toEqual({ "k8s.io/initial-events-end": "true" });
  });

  test("timeoutSeconds ends the stream", async () => {
    const started = Date.now();
    const w = await rawWatch("/api/v1/nodes?watch=1&timeoutSeconds=1");
    await w.events(() => false, 10_000);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  test("a resourceVersion in the future is a 504 Timeout", async () => {
    const res = await t.request("GET", "/api/v1/pods?watch=1&resourceVersion=999999999");
    expect(res.status).toBe(504);
    expect(res.json?.["message"]).toMatch(/^Too large resource version: 999999999, current: \d+$/);
  });
});
