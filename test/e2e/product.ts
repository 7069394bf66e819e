// The whole product on a cluster-in-a-box, set up the way the deploy manifests
// would: the agent as a hostNetwork DaemonSet pod on the node, the apiserver
// registered with the aggregator as the APIService v1alpha1.device-mounter.io,
// and each identity with exactly its RBAC. Users go through the Kubernetes
// API server with kubectl, the CLI or the kubectl plugin. Shared by the
// end-to-end tests and scripts/demo.ts.
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { PolicyRule } from "../cluster/apiserver/index.ts";
import type { CgroupDriver, CgroupMode, Cluster, ClusterNode } from "../cluster/index.ts";
import { kubectlOk } from "../cluster/testing.ts";
import { BINARY } from "../device-layer/cli.ts";
import { APISERVER_USER, eventually, startAgentCluster, startServerProcess, type AgentCluster, type ServerProcess } from "../agent/harness.ts";

export const AGENT_NAMESPACE = "device-mounter";
/** The agent DaemonSet's pod labels (deploy/base/agent-daemonset.yaml), the apiserver's --agent-selector. */
export const AGENT_LABELS = { "app.kubernetes.io/name": "device-mounter-agent" };
export const API_GROUP_VERSION = { group: "device-mounter.io", version: "v1alpha1" };

/** What the apiserver may do: the rules deploy/base/apiserver-rbac.yaml grants it. */
export const APISERVER_RULES: PolicyRule[] = [
  { user: APISERVER_USER, verbs: ["get"], apiGroups: [""], resources: ["pods"] },
  { user: APISERVER_USER, verbs: ["create"], apiGroups: ["authentication.k8s.io"], resources: ["tokenreviews"] },
  { user: APISERVER_USER, verbs: ["create"], apiGroups: ["authorization.k8s.io"], resources: ["subjectaccessreviews"] },
  { user: APISERVER_USER, verbs: ["list", "watch"], apiGroups: [""], resources: ["pods"], namespaces: [AGENT_NAMESPACE] },
  // kube's Role extension-apiserver-authentication-reader
  { user: APISERVER_USER, verbs: ["get", "list", "watch"], apiGroups: [""], resources: ["configmaps"], namespaces: ["kube-system"], names: ["extension-apiserver-authentication"] },
];

/** The seed's ClusterRole device-mounter.io:generate, bound to `user`. */
export const generateRoleFor = (user: string): PolicyRule => ({ user, verbs: ["update"], apiGroups: ["device-mounter.io"], resources: ["pods/mount", "pods/unmount"] });

/**
 * alice may mount (device-mounter.io:generate and creating pods, issue 5 §3);
 * carol has device-mounter.io:generate but may not create pods; bob has neither.
 */
export const USERS = ["alice", "bob", "carol"] as const;
export type User = (typeof USERS)[number];
export const USER_RULES: PolicyRule[] = [
  generateRoleFor("alice"),
  { user: "alice", verbs: ["create"], apiGroups: [""], resources: ["pods"] },
  generateRoleFor("carol"),
];

export interface CommandOutput {
  code: number;
  stdout: string;
  stderr: string;
}

export interface Product {
  cluster: Cluster;
  node: ClusterNode;
  /** The agent process and its direct API (test/agent/harness.ts). */
  agent: AgentCluster;
  apiserver: ServerProcess & { url: string; logs: string[] };
  kubeconfigOf: Record<User, string>;
  tokenOf: Record<User, string>;
  /** `kubectl --kubeconfig <user's> ...args` */
  kubectl(user: User, args: string[], stdin?: string): Promise<CommandOutput>;
  /** `dist/device-mounter ...args --kubeconfig <user's>` */
  deviceMounter(user: User, args: string[]): Promise<CommandOutput>;
  /** `kubectl device-mounter ...args`, the binary found on PATH as kubectl-device_mounter, KUBECONFIG=<user's>. */
  kubectlPlugin(user: User, args: string[]): Promise<CommandOutput>;
  /** A request through the Kubernetes API server (the aggregator) with the user's token. */
  request(user: User, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>;
  /** The agent's DaemonSet pod on the node: created and Ready, or deleted; either way once the apiserver has seen it. */
  createAgentPod(): Promise<void>;
  deleteAgentPod(): Promise<void>;
  stop(): Promise<void>;
}

async function run(argv: string[], env: Record<string, string> = {}, stdin?: string): Promise<CommandOutput> {
  const child = Bun.spawn(argv, { cwd: "/", env: { ...process.env, ...env }, stdin: stdin === undefined ? "ignore" : new TextEncoder().encode(stdin), stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  return { code, stdout, stderr };
}

function agentPodManifest(node: ClusterNode): string {
  return JSON.stringify({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: agentPodName(node), namespace: AGENT_NAMESPACE, labels: AGENT_LABELS },
    spec: {
      nodeName: node.name,
      // deploy/ runs the agent on the pod network; the cluster-in-a-box has none, so the
      // agent pod takes its node's address, where the agent listens.
      hostNetwork: true,
      terminationGracePeriodSeconds: 0,
      // The agent itself runs on the host, bound to the node's address, with the host's
      // cgroupfs and /dev that the DaemonSet's privileged hostPath mounts would give it;
      // this container holds its place, so the pod is Running and Ready while it exists.
      containers: [{ name: "agent", image: "busybox:1.36", command: ["sleep", "3600"] }],
    },
  });
}

const agentPodName = (node: ClusterNode) => `device-mounter-agent-${node.name}`;

/** Readiness has no event to wait on from outside: poll /readyz, with a deadline. */
async function waitReady(url: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < deadline) {
    try {
      const response = await fetch(`${url}/readyz?verbose`, { tls: { rejectUnauthorized: false } });
      last = `${response.status}: ${await response.text()}`;
      if (response.ok) return;
    } catch (error) {
      last = (error as Error).message;
    }
    await Bun.sleep(100);
  }
  throw new Error(`the apiserver at ${url} was not ready within ${timeoutMs} ms; last /readyz: ${last}`);
}

export async function startProduct(options: { cgroupMode: CgroupMode; driver: CgroupDriver; loop?: number }): Promise<Product> {
  const agent = await startAgentCluster({
    cgroupMode: options.cgroupMode,
    driver: options.driver,
    loop: options.loop ?? 2,
    gpus: 0,
    onHostIP: true,
    rules: [...APISERVER_RULES, ...USER_RULES],
  });
  const { cluster, node } = agent;
  let server: ServerProcess | undefined;
  try {
    await kubectlOk(cluster, ["create", "namespace", AGENT_NAMESPACE]);
    const createAgentPod = async () => {
      await kubectlOk(cluster, ["create", "-f", "-"], agentPodManifest(node));
      await kubectlOk(cluster, ["wait", "--for=condition=Ready", `pod/${agentPodName(node)}`, "-n", AGENT_NAMESPACE, "--timeout=60s"]);
    };
    await createAgentPod();

    const tokenFile = join(cluster.dir, "apiserver-token");
    writeFileSync(tokenFile, agent.apiserverToken, { mode: 0o600 });
    const apiserverKubeconfig = join(cluster.dir, "apiserver-kubeconfig");
    cluster.api.writeKubeconfig(apiserverKubeconfig, { token: agent.apiserverToken });
    const logs: string[] = [];
    server = await startServerProcess(
      [
        BINARY,
        "apiserver",
        `--kubeconfig=${apiserverKubeconfig}`,
        "--secure-port=0",
        "--bind-address=127.0.0.1",
        `--agent-namespace=${AGENT_NAMESPACE}`,
        `--agent-selector=${Object.entries(AGENT_LABELS).map(([k, v]) => `${k}=${v}`).join(",")}`,
        `--agent-port=${agent.port()}`,
        `--agent-token-file=${tokenFile}`,
      ],
      { label: "device-mounter apiserver", readyMessage: "serving", logs },
    );
    const apiserver = { ...server, url: `https://127.0.0.1:${server.port}`, logs };
    await waitReady(apiserver.url);
    // Its serving certificate is the self-signed development fallback, so the APIService skips verification.
    cluster.api.registerAPIService({ ...API_GROUP_VERSION, url: apiserver.url, insecureSkipTLSVerify: true });

    /** The apiserver logs each change of the set of nodes with a ready agent: wait for the one, logged after line `from`, that adds or drops this node. */
    const apiserverSawAgent = (from: number, ready: boolean) =>
      eventually(
        `the apiserver sees the agent on ${node.name} ${ready ? "ready" : "gone"}`,
        () =>
          logs.slice(from).some((line) => {
            const entry = (() => {
              try {
                return JSON.parse(line) as { msg?: string; nodes?: string[] };
              } catch {
                return {};
              }
            })();
            return entry.msg === "nodes with a ready agent changed" && (entry.nodes ?? []).includes(node.name) === ready;
          }),
        60_000,
      );

    const tokenOf = {} as Record<User, string>;
    const kubeconfigOf = {} as Record<User, string>;
    for (const user of USERS) {
      tokenOf[user] = cluster.api.issueToken({ username: user, groups: [] });
      kubeconfigOf[user] = join(cluster.dir, `${user}.kubeconfig`);
      cluster.api.writeKubeconfig(kubeconfigOf[user], { token: tokenOf[user] });
    }
    const pluginDir = join(cluster.dir, "kubectl-plugins");
    mkdirSync(pluginDir);
    symlinkSync(BINARY, join(pluginDir, "kubectl-device_mounter"));

    return {
      cluster,
      node,
      agent,
      apiserver,
      kubeconfigOf,
      tokenOf,
      kubectl: (user, args, stdin) => run(["kubectl", "--kubeconfig", kubeconfigOf[user], ...args], {}, stdin),
      deviceMounter: (user, args) => run([BINARY, ...args, "--kubeconfig", kubeconfigOf[user]]),
      kubectlPlugin: (user, args) => run(["kubectl", "device-mounter", ...args], { KUBECONFIG: kubeconfigOf[user], PATH: `${pluginDir}:${process.env.PATH ?? "/usr/bin:/bin"}` }),
      async request(user, method, path, body) {
        const response = await fetch(`${cluster.api.url}${path}`, {
          method,
          headers: { authorization: `Bearer ${tokenOf[user]}`, accept: "application/json", ...(body === undefined ? {} : { "content-type": "application/json" }) },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
          tls: { ca: cluster.api.caCertPem },
        });
        const text = await response.text();
        let parsed: unknown = text;
        try {
          parsed = JSON.parse(text);
        } catch {
          // not JSON: the test sees the text
        }
        return { status: response.status, body: parsed as any };
      },
      async createAgentPod() {
        const from = logs.length;
        await createAgentPod();
        await apiserverSawAgent(from, true);
      },
      async deleteAgentPod() {
        const from = logs.length;
        await kubectlOk(cluster, ["delete", "pod", agentPodName(node), "-n", AGENT_NAMESPACE]);
        await apiserverSawAgent(from, false);
      },
      async stop() {
        cluster.api.unregisterAPIService(API_GROUP_VERSION.group, API_GROUP_VERSION.version);
        await apiserver.stop();
        await agent.stop();
      },
    };
  } catch (error) {
    await server?.stop();
    await agent.stop();
    throw error;
  }
}
