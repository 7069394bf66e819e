// The whole apiserver as `device-mounter apiserver` runs it (flags →
// validate → complete → run) against a Kubernetes API stand-in and an agent
// stand-in, over TLS: readiness after the caches sync, token and front-proxy
// callers, front-proxy CA rotation through the ConfigMap, agents coming and
// going, serving certificate rotation, and a graceful stop.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { X509Certificate } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { connect } from "node:tls";
import type { AgentMountRequest } from "../../src/api/agent.ts";
import { completeApiserverConfig } from "../../src/apiserver/config.ts";
import { jsonLogger } from "../../src/observability/log.ts";
import { parseApiserverFlags, validateApiserverOptions } from "../../src/apiserver/options.ts";
import { runApiserver } from "../../src/apiserver/run.ts";
import { CertFactory, type Issued } from "./support/certs.ts";
import { startFakeAgent, type FakeAgent } from "./support/fake-agent.ts";
import { runningPod } from "./support/fakes.ts";
import { FakeKubeApi, kubeconfigYaml } from "./support/fake-kube-api.ts";
import { httpsCall } from "./support/https-client.ts";

let certs: CertFactory;
let proxyCA: Issued;
let proxyClient: Issued;
let servingCA: Issued;
let api: FakeKubeApi;
let agent: FakeAgent;
let port = 0;
const stop = new AbortController();
let running: Promise<void>;
const logs: Array<Record<string, unknown>> = [];
const logListeners = new Set<(line: Record<string, unknown>) => void>();

/** Resolves when the apiserver logs a line with this message (from now on). */
const logged = (msg: string) =>
  new Promise<Record<string, unknown>>((resolve) => {
    const listener = (line: Record<string, unknown>) => {
      if (line.msg !== msg) return;
      logListeners.delete(listener);
      resolve(line);
    };
    logListeners.add(listener);
  });

const authenticationConfigMap = (ca: Issued) => ({
  metadata: { namespace: "kube-system", name: "extension-apiserver-authentication" },
  data: {
    "client-ca-file": ca.cert,
    "requestheader-client-ca-file": ca.cert,
    "requestheader-allowed-names": '["front-proxy-client"]',
    "requestheader-username-headers": '["X-Remote-User"]',
    "requestheader-group-headers": '["X-Remote-Group"]',
    "requestheader-extra-headers-prefix": '["X-Remote-Extra-"]',
  },
});

const agentPod = (ready: boolean) => {
  const pod = runningPod("dm", "agent-node-a", "node-a");
  pod.metadata!.labels = { app: "agent" };
  pod.status = { phase: "Running", podIP: "127.0.0.1", conditions: [{ type: "Ready", status: ready ? "True" : "False" }] };
  return pod;
};

beforeAll(async () => {
  certs = new CertFactory();
  const kubeCA = certs.rootCA("kube-ca");
  const kubeServing = certs.leaf("kube-serving", kubeCA, { cn: "kube", usage: "serverAuth", altNames: ["127.0.0.1"] });
  proxyCA = certs.rootCA("front-proxy-ca");
  proxyClient = certs.leaf("front-proxy-client", proxyCA, { cn: "front-proxy-client" });
  const agentCA = certs.rootCA("agent-ca");
  const agentServing = certs.leaf("agent-serving", agentCA, { cn: "device-mounter-agent", usage: "serverAuth", altNames: ["device-mounter-agent"] });
  servingCA = certs.rootCA("serving-ca");
  const serving = certs.leaf("apiserver-serving", servingCA, { cn: "device-mounter-apiserver", usage: "serverAuth", altNames: ["localhost"] });

  agent = startFakeAgent({ cert: agentServing.cert, key: agentServing.key, token: "apiserver-sa-token" });
  api = new FakeKubeApi({
    cert: kubeServing.cert,
    key: kubeServing.key,
    token: "apiserver-kube-token",
    tokenReviews: { "alice-token": { username: "alice", groups: ["system:authenticated"] } },
    allow: (spec) => spec.user === "alice" && ((spec.resourceAttributes as { namespace?: string } | undefined)?.namespace === "team" || (spec.nonResourceAttributes as { path?: string } | undefined)?.path === "/metrics"),
  });
  api.put("configmaps", authenticationConfigMap(proxyCA));
  api.put("pods", runningPod("team", "trainer", "node-a"));
  api.put("pods", agentPod(true));

  const file = (name: string, content: string) => {
    const path = join(certs.path, name);
    writeFileSync(path, content);
    return path;
  };
  const options = validateApiserverOptions(
    parseApiserverFlags([
      "--secure-port=0",
      "--bind-address=127.0.0.1",
      `--tls-cert-file=${serving.certPath}`,
      `--tls-private-key-file=${serving.keyPath}`,
      `--kubeconfig=${file("kubeconfig", kubeconfigYaml(api, kubeCA.cert))}`,
      "--agent-namespace=dm",
      "--agent-selector=app=agent",
      `--agent-port=${agent.port}`,
      `--agent-ca-file=${agentCA.certPath}`,
      "--agent-server-name=device-mounter-agent",
      `--agent-token-file=${file("agent-token", "apiserver-sa-token\n")}`,
    ]),
  );
  const config = { ...(await completeApiserverConfig(options)), fileReloadIntervalMs: 50 };
  const logger = jsonLogger((line) => {
    const parsed = JSON.parse(line);
    logs.push(parsed);
    for (const listener of logListeners) listener(parsed);
  });
  const watchingPods = api.nextRequest((r) => r.path === "/api/v1/namespaces/dm/pods" && r.query.watch === "1");
  const watchingConfig = api.nextRequest((r) => r.path === "/api/v1/namespaces/kube-system/configmaps" && r.query.watch === "1");
  const listening = new Promise<number>((resolve) => {
    running = runApiserver(config, { logger, signal: stop.signal, onListening: resolve });
  });
  port = await listening;
  // Both informers listed (a watch starts only after its list): the caches are synced.
  await Promise.all([watchingPods, watchingConfig]);
});

afterAll(async () => {
  stop.abort();
  await running;
  await agent?.stop();
  await api?.stop();
  certs?.remove();
});

const MOUNT = "/apis/device-mounter.io/v1alpha1/namespaces/team/pods/trainer/mount?device_type=NVIDIA_GPU&wait_second=5";
const mount = (headers: Array<[string, string]>, client?: Issued) =>
  httpsCall({ port, path: MOUNT, method: "PUT", headers: [["content-type", "application/json"], ...headers], body: '{"resources":{"nvidia.com/gpu":"1"}}', ca: servingCA.cert, ...(client ? { cert: client.cert, key: client.key } : {}) });

describe("device-mounter apiserver, end to end without a cluster", () => {
  test("ready once the caches are synced; discovery without credentials", async () => {
    const ready = await httpsCall({ port, path: "/readyz?verbose", ca: servingCA.cert });
    expect([ready.status, ready.body]).toEqual([200, "[+]ping ok\n[+]shutdown ok\n[+]authentication-config ok\n[+]agent-pods-synced ok\nreadyz check passed\n"]);
    const discovery = await httpsCall({ port, path: "/apis/device-mounter.io/v1alpha1", ca: servingCA.cert });
    expect(JSON.parse(discovery.body).resources.map((r: { name: string }) => r.name)).toEqual(["pods/mount", "pods/unmount"]);
  });

  test("a bearer token caller mounts; the agent is called with the apiserver's own token", async () => {
    const before = agent.received.length;
    const answer = await mount([["Authorization", "Bearer alice-token"]]);
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toMatchObject({ kind: "MountResult", apiVersion: "device-mounter.io/v1alpha1" });
    const call = agent.received[before]!;
    expect(call.authorization).toBe("Bearer apiserver-sa-token");
    expect(call.body as AgentMountRequest).toMatchObject({ namespace: "team", pod: "trainer", podUid: "uid-trainer", deviceType: "NVIDIA_GPU", timeoutSeconds: 5, user: "alice" });
    // The apiserver used its kubeconfig credentials for the reviews.
    expect(api.requests.filter((r) => r.path.endsWith("subjectaccessreviews")).every((r) => r.authorization === "Bearer apiserver-kube-token")).toBe(true);
  });

  test("the aggregator's front-proxy certificate (CA from the ConfigMap) is trusted; a rotated CA replaces it", async () => {
    expect((await mount([["X-Remote-User", "alice"], ["X-Remote-Group", "system:authenticated"]], proxyClient)).status).toBe(200);
    const newCA = certs.rootCA("front-proxy-ca-2");
    const newClient = certs.leaf("front-proxy-client-2", newCA, { cn: "front-proxy-client" });
    const reloaded = logged("loaded front-proxy settings");
    api.put("configmaps", authenticationConfigMap(newCA));
    await reloaded;
    const old = await mount([["X-Remote-User", "alice"]], proxyClient);
    expect(old.status).toBe(401);
    expect((await mount([["X-Remote-User", "alice"]], newClient)).status).toBe(200);
  });

  test("an agent that stops being ready → 503 naming it; ready again → served", async () => {
    let changed = logged("nodes with a ready agent changed");
    api.put("pods", agentPod(false));
    expect((await changed).nodes).toEqual([]);
    const refused = await mount([["Authorization", "Bearer alice-token"]]);
    expect(refused.status).toBe(503);
    expect(JSON.parse(refused.body).message).toBe('no ready device-mounter agent on node "node-a": agent-node-a is not Ready');
    changed = logged("nodes with a ready agent changed");
    api.put("pods", agentPod(true));
    expect((await changed).nodes).toEqual(["node-a"]);
    expect((await mount([["Authorization", "Bearer alice-token"]])).status).toBe(200);
  });

  test("a new serving certificate in the files is served without a restart", async () => {
    const next = certs.leaf("apiserver-serving-2", servingCA, { cn: "device-mounter-apiserver-2", usage: "serverAuth", altNames: ["localhost"] });
    const reloaded = logged("reloaded the serving certificate");
    // Written over the files the flags name.
    writeFileSync(join(certs.path, "apiserver-serving.crt"), next.cert);
    writeFileSync(join(certs.path, "apiserver-serving.key"), next.key);
    await reloaded;
    const served = await new Promise<string>((resolve, reject) => {
      const socket = connect({ host: "127.0.0.1", port, ca: servingCA.cert, servername: "localhost" }, () => {
        resolve(socket.getPeerCertificate().subject.CN as string);
        socket.end();
      });
      socket.on("error", reject);
    });
    expect(served).toBe("device-mounter-apiserver-2");
    expect(new X509Certificate(next.cert).subject).toBe("CN=device-mounter-apiserver-2");
  });

  test("metrics count what happened", async () => {
    const metrics = await httpsCall({ port, path: "/metrics", headers: [["Authorization", "Bearer alice-token"]], ca: servingCA.cert });
    expect(metrics.status).toBe(200);
    expect(metrics.body).toContain('device_mounter_apiserver_requests_total{operation="mount",code="503"} 1');
    expect(metrics.body).toContain('device_mounter_apiserver_agent_calls_total{operation="mount",code="200"}');
  });

  test("every request was logged as one JSON line with a request id", () => {
    const requests = logs.filter((l) => l.msg === "request");
    expect(requests.length).toBeGreaterThan(5);
    for (const line of requests) expect(Object.keys(line).sort()).toEqual(["code", "durationMs", "level", "msg", "operation", "path", "requestId", "time", "user", "verb"]);
  });

  test("stopping drains and closes: the run resolves and new connections are refused", async () => {
    const stopped = logged("stopped after draining all requests");
    stop.abort();
    await running;
    await stopped;
    await expect(httpsCall({ port, path: "/livez", ca: servingCA.cert })).rejects.toThrow();
  });
});
