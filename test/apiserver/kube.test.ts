// The Kubernetes facade and the restarting informer against a Kubernetes
// API stand-in over HTTPS: the kubeconfig's CA and token are really used,
// reviews are sent as Kubernetes expects, and the informer survives failed
// lists, expired resource versions and ended watches.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { StatusError } from "../../src/api/status.ts";
import { KubeRestClient } from "../../src/apiserver/kube/client.ts";
import { Informer } from "../../src/kube/informer.ts";
import { kubeConnection, loadKubeConfig } from "../../src/kube/transport.ts";
import type { Pod } from "../../src/kube/types.ts";
import { silentLogger } from "../../src/observability/log.ts";
import { CertFactory, type Issued } from "./support/certs.ts";
import { runningPod } from "./support/fakes.ts";
import { FakeKubeApi, kubeconfigYaml } from "./support/fake-kube-api.ts";

let certs: CertFactory;
let ca: Issued;
let api: FakeKubeApi;
let client: KubeRestClient;

const kubeconfigFile = (yaml: string) => {
  const file = join(certs.path, `kubeconfig-${Math.random().toString(36).slice(2)}`);
  writeFileSync(file, yaml);
  return file;
};

beforeAll(() => {
  certs = new CertFactory();
  ca = certs.rootCA("kube-ca");
  const serving = certs.leaf("kube-serving", ca, { cn: "kube-apiserver", usage: "serverAuth", altNames: ["127.0.0.1", "localhost"] });
  api = new FakeKubeApi({ cert: serving.cert, key: serving.key, token: "sa-token", tokenReviews: { "alice-token": { username: "alice", groups: ["devs"] } }, allow: (spec) => spec.user === "alice" });
  client = new KubeRestClient(kubeConnection(loadKubeConfig({ file: kubeconfigFile(kubeconfigYaml(api, ca.cert)) })));
  api.put("pods", runningPod("team", "trainer"));
});
afterAll(async () => {
  await api?.stop();
  certs?.remove();
});

describe("KubeRestClient", () => {
  test("getPod: the pod, or undefined when it does not exist", async () => {
    expect((await client.getPod("team", "trainer"))?.spec?.nodeName).toBe("node-a");
    expect(await client.getPod("team", "ghost")).toBeUndefined();
    expect(api.requests.at(-1)).toMatchObject({ method: "GET", path: "/api/v1/namespaces/team/pods/ghost", authorization: "Bearer sa-token" });
  });

  test("an API error is reported with what was being done", async () => {
    const yaml = kubeconfigYaml(api, ca.cert).replace("token: sa-token", "token: wrong");
    const unauthorized = new KubeRestClient(kubeConnection(loadKubeConfig({ file: kubeconfigFile(yaml) })));
    const error = (await unauthorized.getPod("team", "trainer").catch((e) => e)) as StatusError;
    expect(error).toBeInstanceOf(StatusError);
    expect([error.code, error.message]).toEqual([500, "reading pod team/trainer: HTTP 401: Unauthorized"]);
  });

  test("the kubeconfig's CA is what makes the server trusted", async () => {
    const other = certs.rootCA("not-the-kube-ca");
    const distrusting = new KubeRestClient(kubeConnection(loadKubeConfig({ file: kubeconfigFile(kubeconfigYaml(api, other.cert)) })));
    const error = (await distrusting.getPod("team", "trainer").catch((e) => e)) as StatusError;
    expect(error.code).toBe(503);
    expect(error.message).toStartWith(`reading pod team/trainer: the Kubernetes API at ${api.url} could not be reached: `);
  });

  test("TokenReview", async () => {
    expect(await client.reviewToken("alice-token", [])).toEqual({ authenticated: true, user: { username: "alice", groups: ["devs"], extra: {} } });
    expect(await client.reviewToken("nope", ["device-mounter"])).toEqual({ authenticated: false, error: "invalid token" });
    expect(JSON.parse(api.requests.at(-1)!.body)).toEqual({ apiVersion: "authentication.k8s.io/v1", kind: "TokenReview", spec: { token: "nope", audiences: ["device-mounter"] } });
  });

  test("SubjectAccessReview carries the user and the resource attributes", async () => {
    const alice = { username: "alice", uid: "u-1", groups: ["devs"], extra: { scopes: ["a"] } };
    const decision = await client.reviewAccess({ user: alice, resource: { verb: "update", group: "device-mounter.io", resource: "pods", subresource: "mount", namespace: "team", name: "trainer" } });
    expect(decision).toEqual({ allowed: true });
    expect(JSON.parse(api.requests.at(-1)!.body)).toEqual({
      apiVersion: "authorization.k8s.io/v1",
      kind: "SubjectAccessReview",
      spec: { user: "alice", uid: "u-1", groups: ["devs"], extra: { scopes: ["a"] }, resourceAttributes: { verb: "update", group: "device-mounter.io", resource: "pods", subresource: "mount", namespace: "team", name: "trainer" } },
    });
    expect(await client.reviewAccess({ user: { ...alice, username: "bob" }, nonResource: { verb: "get", path: "/metrics" } })).toEqual({ allowed: false });
    expect(JSON.parse(api.requests.at(-1)!.body).spec.nonResourceAttributes).toEqual({ verb: "get", path: "/metrics" });
  });
});

describe("Informer", () => {
  const agentPod = (name: string, node: string): Pod => ({ ...runningPod("device-mounter", name, node), metadata: { namespace: "device-mounter", name, uid: name, labels: { app: "agent" } } });
  const names = (informer: Informer<Pod>) => informer.list().map((p) => p.metadata?.name).sort();
  const changed = (informer: Informer<Pod>) => new Promise<void>((resolve) => { const off = informer.onChange(() => { off(); resolve(); }); });

  test("lists, then follows the watch; only objects matching the selector", async () => {
    api.put("pods", agentPod("agent-1", "node-a"));
    api.put("pods", { ...agentPod("unrelated", "node-a"), metadata: { namespace: "device-mounter", name: "unrelated", labels: { app: "other" } } });
    const informer = new Informer<Pod>({ source: client.listWatch("/api/v1/namespaces/device-mounter/pods", { labelSelector: "app=agent" }), logger: silentLogger });
    const watching = api.nextRequest((r) => r.query.watch === "1");
    informer.start();
    try {
      await informer.waitForSync(AbortSignal.timeout(5000));
      expect(names(informer)).toEqual(["agent-1"]);
      const watch = await watching;
      expect(watch.query).toMatchObject({ labelSelector: "app=agent", allowWatchBookmarks: "true" });
      let next = changed(informer);
      api.put("pods", agentPod("agent-2", "node-b"));
      await next;
      expect(names(informer)).toEqual(["agent-1", "agent-2"]);
      next = changed(informer);
      api.delete("pods", "device-mounter", "agent-1");
      await next;
      expect(names(informer)).toEqual(["agent-2"]);
    } finally {
      await informer.stop();
      api.delete("pods", "device-mounter", "agent-2");
      api.delete("pods", "device-mounter", "unrelated");
    }
  });

  test("failed lists restart with exponential backoff until one succeeds", async () => {
    const delays: number[] = [];
    api.failLists = 3;
    const informer = new Informer<Pod>({
      source: client.listWatch("/api/v1/namespaces/device-mounter/pods", { labelSelector: "app=agent" }),
      logger: silentLogger,
      backoff: { initialMs: 100, maxMs: 300 },
      sleep: async (ms) => void delays.push(ms),
    });
    informer.start();
    try {
      await informer.waitForSync(AbortSignal.timeout(5000));
      expect(delays).toEqual([100, 200, 300]);
      expect(informer.restartCount).toBe(3);
      expect(informer.lastError).toBeUndefined();
    } finally {
      await informer.stop();
    }
  });

  test("410 Gone relists at once; a watch that ends is resumed from the last resource version", async () => {
    const delays: number[] = [];
    const informer = new Informer<Pod>({ source: client.listWatch("/api/v1/namespaces/device-mounter/pods", { labelSelector: "app=agent" }), logger: silentLogger, sleep: async (ms) => void delays.push(ms) });
    let watching = api.nextRequest((r) => r.query.watch === "1");
    informer.start();
    try {
      await informer.waitForSync(AbortSignal.timeout(5000));
      await watching;
      const next = changed(informer);
      api.put("pods", agentPod("agent-3", "node-c"));
      await next;
      const lastVersion = informer.list()[0]!.metadata!.resourceVersion;

      watching = api.nextRequest((r) => r.query.watch === "1");
      const listsBefore = api.requests.filter((r) => r.path.endsWith("/pods") && !r.query.watch).length;
      api.endWatches();
      expect((await watching).query.resourceVersion).toBe(lastVersion!);
      expect(api.requests.filter((r) => r.path.endsWith("/pods") && !r.query.watch).length).toBe(listsBefore);

      const relisted = api.nextRequest((r) => r.path.endsWith("/pods") && !r.query.watch);
      api.failWatches(410);
      await relisted;
      expect(delays).toEqual([]);
      expect(names(informer)).toEqual(["agent-3"]);
    } finally {
      await informer.stop();
      api.delete("pods", "device-mounter", "agent-3");
    }
  });
});
