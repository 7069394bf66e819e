// A cluster-in-a-box with the device-mounter agent running on its node as
// the compiled binary (so a test can kill and restart it), called the way
// the apiserver calls it: HTTPS with the apiserver's service-account token.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import type { AgentMountRequest, AgentUnmountRequest } from "../../src/api/agent.ts";
import type { PolicyRule } from "../cluster/apiserver/index.ts";
import { startCluster, type CgroupDriver, type CgroupMode, type Cluster, type ClusterNode } from "../cluster/index.ts";
import { registerChildProcess } from "../support/cleanup.ts";
import { BINARY, requireBinary } from "../device-layer/cli.ts";
import { createPod, kubectlOk, waitForPod, type PodManifestOptions } from "../cluster/testing.ts";

export const AGENT_USER = "system:serviceaccount:device-mounter:device-mounter-agent";
export const AGENT_IMAGE = "registry.example/device-mounter:test";
/** The agent's image: the binary on a glibc base (as deploy/Dockerfile builds it); slave pods run `/device-mounter hold` from it. */
export const AGENT_IMAGES = {
  [AGENT_IMAGE]: [
    { source: BINARY, destination: "/device-mounter" },
    { source: "/lib/x86_64-linux-gnu", destination: "/lib/x86_64-linux-gnu" },
    { source: "/lib64", destination: "/lib64" },
  ],
};
export const APISERVER_USER = "system:serviceaccount:device-mounter:device-mounter-apiserver";

/** What the agent may do: the same rules deploy/ grants it. */
export const AGENT_RULES = [
  { user: AGENT_USER, verbs: ["get", "list", "watch", "create", "delete", "patch"], apiGroups: [""], resources: ["pods"] },
  { user: AGENT_USER, verbs: ["create", "patch"], apiGroups: [""], resources: ["events"] },
  { user: AGENT_USER, verbs: ["get", "list", "watch", "patch"], apiGroups: [""], resources: ["nodes"] },
  { user: AGENT_USER, verbs: ["create"], apiGroups: ["authentication.k8s.io"], resources: ["tokenreviews"] },
];

/** A mount request's fields other than the target: one loop device, for alice. */
export const LOOP_MOUNT = {
  deviceType: "LOOP",
  resources: { "example.com/loop": "1" },
  annotations: {},
  labels: {},
  patches: [],
  timeoutSeconds: 20,
  user: "alice",
} satisfies Partial<AgentMountRequest>;

export const LOOP_TYPE_CONFIG = `# the test node's loop devices, as its device plugin hands them to the slave pod
- name: LOOP
  resources: [example.com/loop]
  devices:
    - slavePath: /dev/example-{id}
`;

export interface AgentCluster {
  cluster: Cluster;
  node: ClusterNode;
  /** https://<bind address>:<port> */
  url: () => string;
  /** The agent's port: picked by the kernel at the first start, kept across restarts (as a DaemonSet's port is fixed). */
  port: () => number;
  apiserverToken: string;
  /** `signal` aborts the call, as an apiserver whose own caller went away does. */
  mount(request: Partial<AgentMountRequest> & { pod: string }, token?: string, signal?: AbortSignal): Promise<{ status: number; body: any }>;
  unmount(request: Partial<AgentUnmountRequest> & { pod: string }, token?: string): Promise<{ status: number; body: any }>;
  restartAgent(): Promise<void>;
  /** SIGTERM, and wait for the agent to exit. */
  stopAgent(): Promise<void>;
  startAgent(): Promise<void>;
  /** Lines the agent logged (JSON). */
  logs: string[];
  stop(): Promise<void>;
}

export interface AgentClusterOptions {
  cgroupMode: CgroupMode;
  driver: CgroupDriver;
  loop?: number;
  gpus?: number;
  /** Listen on the node's hostIP, as an agent in a hostNetwork DaemonSet pod does; default 127.0.0.1. */
  onHostIP?: boolean;
  /** Grants beyond the agent's (AGENT_RULES), for the other identities a test uses. */
  rules?: PolicyRule[];
  /** More agent flags (e.g. a serving certificate). */
  agentFlags?: string[];
}

export interface ServerProcess {
  child: Subprocess;
  port: number;
  /** SIGTERM (a graceful shutdown), and wait for the exit. */
  stop(): Promise<void>;
}

/**
 * Spawns one of the binary's server modes and waits until it logs (one JSON
 * object per line on stdout) `readyMessage` with the port it listens on.
 * Every line goes to `logs`; the process is killed by the cleanup registry
 * if the test does not stop it.
 */
export async function startServerProcess(argv: string[], options: { label: string; readyMessage: string; logs: string[]; timeoutMs?: number }): Promise<ServerProcess> {
  const { label, readyMessage, logs } = options;
  const timeoutMs = options.timeoutMs ?? 30_000;
  const child = Bun.spawn(argv, { stdout: "pipe", stderr: "pipe", cwd: "/" });
  const unregister = registerChildProcess(child, label);
  const stop = async () => {
    child.kill("SIGTERM");
    await child.exited;
    unregister();
  };
  try {
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${label} did not log "${readyMessage}" within ${timeoutMs} ms:\n${logs.join("\n")}`)), timeoutMs);
      void (async () => {
        const decoder = new TextDecoder();
        let buffered = "";
        for await (const chunk of child.stdout as ReadableStream<Uint8Array>) {
          buffered += decoder.decode(chunk, { stream: true });
          let nl: number;
          while ((nl = buffered.indexOf("\n")) >= 0) {
            const line = buffered.slice(0, nl);
            buffered = buffered.slice(nl + 1);
            logs.push(line);
            const parsed = (() => {
              try {
                return JSON.parse(line) as { msg?: string; port?: number };
              } catch {
                return {};
              }
            })();
            if (parsed.msg === readyMessage && parsed.port) {
              clearTimeout(timer);
              resolve(parsed.port);
            }
          }
        }
        clearTimeout(timer);
        reject(new Error(`${label} exited (${await child.exited}) before serving:\n${logs.join("\n")}\n${await new Response(child.stderr as ReadableStream).text()}`));
      })();
    });
    return { child, port, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

export async function startAgentCluster(options: AgentClusterOptions): Promise<AgentCluster> {
  requireBinary();
  const cluster = await startCluster({
    cgroupMode: options.cgroupMode,
    driver: options.driver,
    devices: { loop: options.loop ?? 2, gpus: options.gpus ?? 2 },
    restartBackoffMs: 200,
    images: AGENT_IMAGES,
  });
  const node = cluster.nodes[0]!;
  cluster.api.setPolicy({ rules: [...AGENT_RULES, ...(options.rules ?? [])] });
  const kubeconfig = join(cluster.dir, "agent-kubeconfig");
  cluster.api.writeKubeconfig(kubeconfig, AGENT_USER);
  const typesFile = join(cluster.dir, "device-types.yaml");
  writeFileSync(typesFile, LOOP_TYPE_CONFIG);
  const apiserverToken = cluster.api.issueToken({ username: APISERVER_USER, groups: ["system:serviceaccounts", "system:serviceaccounts:device-mounter"], extra: {} } as never);
  const bindAddress = options.onHostIP ? node.hostIP : "127.0.0.1";
  const logs: string[] = [];
  let agent: ServerProcess | undefined;
  let port = 0;

  const startAgent = async () => {
    if (agent) throw new Error("the agent is already running");
    agent = await startServerProcess(
      [
        BINARY,
        "agent",
        `--kubeconfig=${kubeconfig}`,
        `--node-name=${node.name}`,
        `--secure-port=${port}`,
        `--bind-address=${bindAddress}`,
        `--image=${AGENT_IMAGE}`,
        `--podresources-socket=${node.podResourcesSocket}`,
        `--cgroup-driver=${node.driver}`,
        `--kubepods-root=${node.kubepodsRoot}`,
        `--nvidia-proc-root=${node.nvidiaProcRoot.replace(/\/driver\/nvidia$/, "")}`,
        `--dev-root=${node.devRoot}`,
        `--device-types-config=${typesFile}`,
        "--repair-interval=1s",
        "--kill-grace-period=2s",
        ...(options.agentFlags ?? []),
      ],
      { label: "device-mounter agent", readyMessage: "agent serving", logs },
    );
    port = agent.port;
  };
  const stopAgent = async () => {
    const running = agent;
    agent = undefined;
    await running?.stop();
  };

  const call = async (path: string, body: unknown, token: string, signal?: AbortSignal) => {
    const response = await fetch(`https://${bindAddress}:${port}${path}`, {
      method: "POST",
      ...(signal ? { signal } : {}),
      headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
      tls: { rejectUnauthorized: false },
    });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON
    }
    return { status: response.status, body: parsed as any };
  };
  try {
    await startAgent();
  } catch (error) {
    await cluster.stop();
    throw error;
  }
  return {
    cluster,
    node,
    url: () => `https://${bindAddress}:${port}`,
    port: () => port,
    apiserverToken,
    logs,
    mount: async (request, token = apiserverToken, signal) => {
      const namespace = request.namespace ?? "default";
      return call(
        "/v1/mount",
        {
          namespace,
          podUid: request.podUid ?? (await podUidOf(cluster, namespace, request.pod)),
          ...LOOP_MOUNT,
          ...request,
        },
        token,
        signal,
      );
    },
    unmount: async (request, token = apiserverToken) => {
      const namespace = request.namespace ?? "default";
      return call(
        "/v1/unmount",
        { namespace, podUid: request.podUid ?? (await podUidOf(cluster, namespace, request.pod)), deviceType: "LOOP", force: false, timeoutSeconds: 20, user: "alice", ...request },
        token,
      );
    },
    restartAgent: async () => {
      await stopAgent();
      await startAgent();
    },
    stopAgent,
    startAgent,
    stop: async () => {
      await stopAgent();
      await cluster.stop();
    },
  };
}

async function podUidOf(cluster: Cluster, namespace: string, name: string): Promise<string> {
  const r = await cluster.kubectl(["get", "pod", name, "-n", namespace, "-o", "jsonpath={.metadata.uid}"]);
  return r.text.trim();
}

/** A busybox pod (container "main") sleeping, once it is Ready. */
export async function runningPod(cluster: Cluster, name: string, extra: Partial<PodManifestOptions> = {}): Promise<string> {
  await createPod(cluster, { name, command: ["sleep", "3600"], terminationGracePeriodSeconds: 0, ...extra });
  await waitForPod(cluster, name, "condition=Ready");
  return name;
}

/** The first 4 KiB of `path` as a process in the pod's container reads them. */
export async function readInside(node: ClusterNode, pod: string, path: string, containerName = "main", namespace = "default"): Promise<{ code: number; bytes: Buffer; stderr: string }> {
  const container = node.containerOf(namespace, pod, containerName);
  if (!container) throw new Error(`pod ${namespace}/${pod} has no running container "${containerName}" on node ${node.name}`);
  const r = await container.exec(["head", "-c", "4096", path]);
  return { code: r.code, bytes: Buffer.from(r.stdout), stderr: r.stderr };
}

/** Names of the slave pods device-mounter created for `pod`. */
export async function slavePodsOf(cluster: Cluster, pod: string, namespace = "default"): Promise<string[]> {
  const out = await kubectlOk(cluster, ["get", "pods", "-n", namespace, "-l", "device-mounter.io/slave=true", "-o", "json"]);
  const list = JSON.parse(out) as { items: Array<{ metadata: { name: string; annotations?: Record<string, string> } }> };
  return list.items.filter((p) => p.metadata.annotations?.["device-mounter.io/owner"] === `${namespace}/${pod}`).map((p) => p.metadata.name);
}

/**
 * Kernel state has no event to wait on: poll it, with a deadline. A check may
 * throw while the state is in flux (an exec into a container being replaced);
 * the last such error is reported if the deadline passes.
 */
export async function eventually(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
      lastError = undefined;
    } catch (error) {
      lastError = error;
    }
    await Bun.sleep(100);
  }
  throw new Error(`${what}: not within ${timeoutMs} ms${lastError ? ` (last check threw: ${lastError instanceof Error ? lastError.message : String(lastError)})` : ""}`);
}
