// cluster-in-a-box: an API server stand-in, a scheduler, and one kubelet per node whose
// pod containers are real runc containers in kubelet's cgroup layout, with extended
// resources backed by real devices and the kubelet PodResources API on a unix socket.
// Everything a cluster makes lives under one dm-test temp dir and one dm-test cgroup,
// and is torn down by stop() or, after a failed test, by the cleanup registry.
//
// Device-mounter's agent finds pods' cgroups under the kubepods root it is given as a
// flag: on a real node "/kubepods" (cgroupfs) or "/kubepods.slice" (systemd); here each
// node's root is nested under the cluster's cgroup (node.kubepodsRoot) so test runs and
// nodes stay apart.
import { existsSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { startApiServer, type ApiServerHandle } from "./apiserver/index.ts";
import { kubeConfigFromYaml } from "./node/api.ts";
import { hostCgroupDirs, removeCgroup, type CgroupDriver, type CgroupMode } from "./node/cgroups.ts";
import { cgroupSubtreeDeepestFirst, rmdirIfPresent } from "../support/cgroupfs.ts";
import { createNodeDevices, type NodeDevices, type NodeLoopDevice, type SimulatedGpu } from "./node/devices.ts";
import { startKubelet, type Kubelet } from "./node/kubelet.ts";
import { startScheduler, type Scheduler } from "./node/scheduler.ts";
import { registerCleanup } from "../support/cleanup.ts";
import { runCommand, type CommandResult } from "../support/command.ts";
import { makeTempDir } from "../support/tempdir.ts";
import type { Container } from "../support/runc.ts";

export type { CgroupDriver, CgroupMode } from "./node/cgroups.ts";
export { GPU_RESOURCE, LOOP_RESOURCE } from "./node/devices.ts";

export interface ClusterOptions {
  cgroupMode: CgroupMode;
  driver: CgroupDriver;
  /** Node count or names; default one node, "node-0". */
  nodes?: number | string[];
  /** Devices on every node. */
  devices?: { loop?: number; gpus?: number };
  /** Per node: cgroup the kubepods cgroup goes under; default "/<cluster name>/<node name>". */
  cgroupPrefix?: (nodeName: string) => string;
  /** Images beyond plain busybox: name → host files bound into its containers (e.g. the device-mounter binary). */
  images?: Record<string, ReadonlyArray<{ source: string; destination: string }>>;
  /** Crash back-off base; default 10 s as in the kubelet. */
  restartBackoffMs?: number;
  /** Node status heartbeat period; default 10 s as in the kubelet. */
  heartbeatMs?: number;
  /** kube-apiserver's --request-timeout for proxied (aggregated API) requests; default 60 s. */
  requestTimeoutMs?: number;
}

export interface ClusterNode {
  name: string;
  /** Host-relative cgroup path of the node's kubepods cgroup (the agent's kubepods root flag). */
  kubepodsRoot: string;
  cgroupMode: CgroupMode;
  driver: CgroupDriver;
  /** The kubelet PodResources API socket (a real kubelet: /var/lib/kubelet/pod-resources/kubelet.sock). */
  podResourcesSocket: string;
  /** Stand-in for /proc/driver/nvidia: holds gpus/<bus id>/information. */
  nvidiaProcRoot: string;
  /** Directory of the simulated GPU device nodes (stand-in for /dev). */
  devRoot: string;
  /** Stand-in for the node's InternalIP (a loopback address, reachable from the host). */
  hostIP: string;
  loopDevices: NodeLoopDevice[];
  gpus: SimulatedGpu[];
  containerOf(namespace: string, podName: string, containerName: string): Container | undefined;
  /** The current CRI container ID (64 hex) of a container, if it runs. */
  containerIdOf(namespace: string, podName: string, containerName: string): string | undefined;
  /** Signals a container's process (default SIGKILL); returns the ID of the container hit. */
  killContainer(namespace: string, podName: string, containerName: string, signal?: NodeJS.Signals): Promise<string>;
}

export interface Cluster {
  /** dm-test-<pid>-cluster-<random>: the temp dir's and the cgroup root's name. */
  name: string;
  dir: string;
  kubeconfigPath: string;
  kubeconfig: string;
  api: ApiServerHandle;
  nodes: ClusterNode[];
  /** `kubectl --kubeconfig <kubeconfigPath> ...args` */
  kubectl(args: string[], options?: { stdin?: string; timeoutMs?: number }): Promise<CommandResult & { text: string }>;
  stop(): Promise<void>;
}

export async function startCluster(options: ClusterOptions): Promise<Cluster> {
  const dir = makeTempDir("cluster");
  const name = basename(dir.path);
  const nodeNames =
    typeof options.nodes === "number"
      ? Array.from({ length: options.nodes }, (_, index) => `node-${index}`)
      : (options.nodes ?? ["node-0"]);
  const prefixOf = options.cgroupPrefix ?? ((nodeName: string) => `/${name}/${nodeName}`);

  let api: ApiServerHandle | undefined;
  let scheduler: Scheduler | undefined;
  const kubelets: Kubelet[] = [];
  const nodeDevices: NodeDevices[] = [];
  let stopping: Promise<void> | undefined;

  const teardown = async () => {
    unregister();
    const failures: string[] = [];
    const attempt = async (what: string, step: () => Promise<void> | void) => {
      try {
        await step();
      } catch (error) {
        failures.push(`${what}: ${error instanceof Error ? error.message : String(error)}`);
      }
    };
    await attempt("scheduler", () => scheduler?.stop());
    await Promise.all(kubelets.map((kubelet) => attempt(`kubelet ${kubelet.nodeName}`, () => kubelet.stop())));
    for (const devices of nodeDevices) await attempt("node devices", () => devices.release());
    await attempt("API server", () => api?.stop());
    await attempt(`cgroup /${name}`, () => removeCgroup(options.cgroupMode, `/${name}`));
    dir.remove();
    if (failures.length > 0) throw new Error(`stopping cluster ${name}: ${failures.join("; ")}`);
  };
  const stop = () => (stopping ??= teardown());
  const unregister = registerCleanup(stop, `cluster ${name}`, {
    // At process exit the containers' own fallbacks have run `runc delete --force`
    // (newer registrations go first); what is left is our empty cgroup tree.
    onExit: () => {
      for (const dir of hostCgroupDirs(options.cgroupMode, `/${name}`)) {
        if (!existsSync(dir)) continue;
        for (const each of cgroupSubtreeDeepestFirst(dir)) {
          try {
            rmdirIfPresent(each);
          } catch {
            // Still busy: the leftover sweep takes it later.
          }
        }
      }
    },
  });

  try {
    api = await startApiServer(options.requestTimeoutMs === undefined ? {} : { requestTimeoutMs: options.requestTimeoutMs });
    const kubeconfig = api.kubeconfig();
    const kubeconfigPath = join(dir.path, "kubeconfig");
    writeFileSync(kubeconfigPath, kubeconfig, { mode: 0o600 });

    const nodes: ClusterNode[] = [];
    for (const [index, nodeName] of nodeNames.entries()) {
      const nodeDir = join(dir.path, nodeName);
      const devices = await createNodeDevices({
        dir: nodeDir,
        loop: options.devices?.loop ?? 0,
        gpus: options.devices?.gpus ?? 0,
        label: `${name}/${nodeName}`,
      });
      nodeDevices.push(devices);
      const hostIP = `127.0.0.${index + 2}`;
      const kubelet = await startKubelet({
        nodeName,
        kubeConfig: kubeConfigFromYaml(
          api.kubeconfig({ clientCertificate: api.issueClientCertificate(`system:node:${nodeName}`, ["system:nodes"]) }),
        ),
        cgroupMode: options.cgroupMode,
        driver: options.driver,
        cgroupPrefix: prefixOf(nodeName),
        devices,
        podResourcesSocket: join(nodeDir, "pod-resources", "kubelet.sock"),
        hostIP,
        podSubnet: `10.244.${index}`,
        ...(options.images ? { images: options.images } : {}),
        ...(options.restartBackoffMs === undefined ? {} : { restartBackoffMs: options.restartBackoffMs }),
        ...(options.heartbeatMs === undefined ? {} : { heartbeatMs: options.heartbeatMs }),
      });
      kubelets.push(kubelet);
      nodes.push({
        name: nodeName,
        kubepodsRoot: kubelet.kubepodsRoot,
        cgroupMode: options.cgroupMode,
        driver: options.driver,
        podResourcesSocket: kubelet.podResourcesSocket,
        nvidiaProcRoot: devices.nvidiaProcRoot,
        devRoot: devices.devRoot,
        hostIP,
        loopDevices: devices.loopDevices,
        gpus: devices.gpus,
        containerOf: kubelet.containerOf,
        containerIdOf: kubelet.containerIdOf,
        killContainer: kubelet.killContainer,
      });
    }
    // The components authenticate as kube's do, by client certificate, and get what the
    // API server's bootstrap policy grants system:kube-scheduler and system:nodes.
    scheduler = await startScheduler({
      kubeConfig: kubeConfigFromYaml(
        api.kubeconfig({ clientCertificate: api.issueClientCertificate("system:kube-scheduler", []) }),
      ),
    });

    return {
      name,
      dir: dir.path,
      kubeconfigPath,
      kubeconfig,
      api,
      nodes,
      async kubectl(args, kubectlOptions = {}) {
        const result = await runCommand(["kubectl", "--kubeconfig", kubeconfigPath, ...args], {
          timeoutMs: kubectlOptions.timeoutMs ?? 30_000,
          ...(kubectlOptions.stdin === undefined ? {} : { stdin: kubectlOptions.stdin }),
        });
        return { ...result, text: new TextDecoder().decode(result.stdout) };
      },
      stop,
    };
  } catch (error) {
    await stop().catch(() => {});
    throw error;
  }
}
