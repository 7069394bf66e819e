// A cluster-in-a-box with the device-mounter agent running on its node as
// the compiled binary (so a test can kill and restart it), called the way
// the apiserver calls it: HTTPS with the apiserver's service-account token.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import type { AgentMountRequest, AgentUnmountRequest } from "../../src/api/agent.ts";
import { startCluster, type CgroupDriver, type CgroupMode, type Cluster, type ClusterNode } from "../cluster/index.ts";
import { registerChildProcess } from "../support/cleanup.ts";
import { BINARY, requireBinary } from "../device-layer/cli.ts";

export const AGENT_USER = "system:serviceaccount:device-mounter:device-mounter-agent";
export const AGENT_IMAGE = "registry.example/device-mounter:test";
export const APISERVER_USER = "system:serviceaccount:device-mounter:device-mounter-apiserver";

/** What the agent may do: the same rules deploy/ grants it. */
export const AGENT_RULES = [
  { user: AGENT_USER, verbs: ["get", "list", "watch", "create", "delete", "patch"], apiGroups: [""], resources: ["pods"] },
  { user: AGENT_USER, verbs: ["create", "patch"], apiGroups: [""], resources: ["events"] },
  { user: AGENT_USER, verbs: ["get", "list", "watch", "patch"], apiGroups: [""], resources: ["nodes"] },
  { user: AGENT_USER, verbs: ["create"], apiGroups: ["authentication.k8s.io"], resources: ["tokenreviews"] },
];

export const LOOP_TYPE_CONFIG = `# the test node's loop devices, as its device plugin hands them to the slave pod
- name: LOOP
  resources: [example.com/loop]
  devices:
    - slavePath: /dev/example-{id}
`;

export interface AgentCluster {
  cluster: Cluster;
  node: ClusterNode;
  /** https://127.0.0.1:<port> */
  url: () => string;
  apiserverToken: string;
  mount(request: Partial<AgentMountRequest> & { pod: string }, token?: string): Promise<{ status: number; body: any }>;
  unmount(request: Partial<AgentUnmountRequest> & { pod: string }, token?: string): Promise<{ status: number; body: any }>;
  restartAgent(): Promise<void>;
  /** Lines the agent logged (JSON). */
  logs: string[];
  stop(): Promise<void>;
}

export async function startAgentCluster(options: { cgroupMode: CgroupMode; driver: CgroupDriver; loop?: number; gpus?: number }): Promise<AgentCluster> {
  requireBinary();
  const cluster = await startCluster({
    cgroupMode: options.cgroupMode,
    driver: options.driver,
    devices: { loop: options.loop ?? 2, gpus: options.gpus ?? 2 },
    restartBackoffMs: 200,
    // The agent's image: the binary on a glibc base (as deploy/Dockerfile builds it); slave pods run `/device-mounter hold` from it.
    images: {
      [AGENT_IMAGE]: [
        { source: BINARY, destination: "/device-mounter" },
        { source: "/lib/x86_64-linux-gnu", destination: "/lib/x86_64-linux-gnu" },
        { source: "/lib64", destination: "/lib64" },
      ],
    },
  });
  const node = cluster.nodes[0]!;
  cluster.api.setPolicy({ rules: AGENT_RULES });
  const kubeconfig = join(cluster.dir, "agent-kubeconfig");
  cluster.api.writeKubeconfig(kubeconfig, AGENT_USER);
  const typesFile = join(cluster.dir, "device-types.yaml");
  writeFileSync(typesFile, LOOP_TYPE_CONFIG);
  const apiserverToken = cluster.api.issueToken({ username: APISERVER_USER, groups: ["system:serviceaccounts", "system:serviceaccounts:device-mounter"], extra: {} } as never);
  const logs: string[] = [];
  let agent: Subprocess | undefined;
  let unregister: (() => void) | undefined;
  let port = 0;

  const start = async () => {
    const child = Bun.spawn(
      [
        BINARY,
        "agent",
        `--kubeconfig=${kubeconfig}`,
        `--node-name=${node.name}`,
        "--secure-port=0",
        "--bind-address=127.0.0.1",
        `--image=${AGENT_IMAGE}`,
        `--podresources-socket=${node.podResourcesSocket}`,
        `--cgroup-driver=${node.driver}`,
        `--kubepods-root=${node.kubepodsRoot}`,
        `--nvidia-proc-root=${node.nvidiaProcRoot.replace(/\/driver\/nvidia$/, "")}`,
        `--dev-root=${node.devRoot}`,
        `--device-types-config=${typesFile}`,
        "--repair-interval=1s",
        "--kill-grace-period=2s",
      ],
      { stdout: "pipe", stderr: "pipe", cwd: "/" },
    );
    agent = child;
    unregister = registerChildProcess(child, "device-mounter agent");
    port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the agent did not start serving within 30s:\n${logs.join("\n")}`)), 30_000);
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
            if (parsed.msg === "agent serving" && parsed.port) {
              clearTimeout(timer);
              resolve(parsed.port);
            }
          }
        }
        clearTimeout(timer);
        reject(new Error(`the agent exited (${await child.exited}) before serving:\n${logs.join("\n")}\n${await new Response(child.stderr as ReadableStream).text()}`));
      })();
    });
  };
  const stopAgent = async () => {
    if (!agent) return;
    agent.kill("SIGTERM");
    await agent.exited;
    unregister?.();
    agent = undefined;
  };

  const call = async (path: string, body: unknown, token: string) => {
    const response = await fetch(`https://127.0.0.1:${port}${path}`, {
      method: "POST",
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
  await start();
  return {
    cluster,
    node,
    url: () => `https://127.0.0.1:${port}`,
    apiserverToken,
    logs,
    mount: async (request, token = apiserverToken) => {
      const namespace = request.namespace ?? "default";
      return call(
        "/v1/mount",
        {
          namespace,
          podUid: request.podUid ?? (await podUidOf(cluster, namespace, request.pod)),
          deviceType: "LOOP",
          resources: { "example.com/loop": "1" },
          annotations: {},
          labels: {},
          patches: [],
          timeoutSeconds: 20,
          user: "alice",
          ...request,
        },
        token,
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
      await start();
    },
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
