// Helpers for the cluster conformance tests: pod manifests, kubectl waits (watch-based,
// no sleeping) and reading host cgroup state the way an agent on the node would.
import * as grpc from "@grpc/grpc-js";
import { readFileSync } from "node:fs";
import type { V1Pod } from "@kubernetes/client-node";
import {
  podResourcesPackageDefinition,
  type AllocatableResourcesResponse,
  type GetPodResourcesResponse,
  type ListPodResourcesResponse,
} from "../../src/api/podresources.ts";
import type { Cluster } from "./index.ts";

export interface PodManifestOptions {
  name: string;
  namespace?: string;
  command?: string[];
  limits?: Record<string, string>;
  requests?: Record<string, string>;
  nodeSelector?: Record<string, string>;
  schedulerName?: string;
  restartPolicy?: string;
  terminationGracePeriodSeconds?: number;
  /** Bypasses the scheduler, as a pod created with spec.nodeName does. */
  nodeName?: string;
  /** Command of one init container, run to completion before "main" starts. */
  initCommand?: string[];
}

/** A one-container busybox pod, as YAML for `kubectl create -f -`. */
export function podManifest(options: PodManifestOptions): string {
  const resources =
    options.limits || options.requests
      ? {
          resources: {
            ...(options.limits ? { limits: options.limits } : {}),
            ...(options.requests ? { requests: options.requests } : {}),
          },
        }
      : {};
  const manifest = {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: options.name, ...(options.namespace ? { namespace: options.namespace } : {}) },
    spec: {
      ...(options.nodeSelector ? { nodeSelector: options.nodeSelector } : {}),
      ...(options.schedulerName ? { schedulerName: options.schedulerName } : {}),
      ...(options.restartPolicy ? { restartPolicy: options.restartPolicy } : {}),
      ...(options.nodeName ? { nodeName: options.nodeName } : {}),
      ...(options.initCommand ? { initContainers: [{ name: "init", image: "busybox:1.36", command: options.initCommand }] } : {}),
      terminationGracePeriodSeconds: options.terminationGracePeriodSeconds ?? 5,
      containers: [
        {
          name: "main",
          image: "busybox:1.36",
          ...(options.command ? { command: options.command } : {}),
          ...resources,
        },
      ],
    },
  };
  // JSON is YAML; kubectl reads both.
  return JSON.stringify(manifest, null, 2);
}

export async function kubectlOk(cluster: Cluster, args: string[], stdin?: string): Promise<string> {
  const result = await cluster.kubectl(args, { ...(stdin === undefined ? {} : { stdin }), timeoutMs: 90_000 });
  if (result.code !== 0) throw new Error(`kubectl ${args.join(" ")} failed (exit ${result.code}): ${result.stderr.trim()}`);
  return result.text;
}

export async function createPod(cluster: Cluster, options: PodManifestOptions): Promise<void> {
  await kubectlOk(cluster, ["create", "-f", "-"], podManifest(options));
}

/** `kubectl wait` (a watch with a deadline) for a pod. */
export async function waitForPod(cluster: Cluster, name: string, condition: string, timeoutSeconds = 60): Promise<void> {
  await kubectlOk(cluster, ["wait", `--for=${condition}`, `pod/${name}`, `--timeout=${timeoutSeconds}s`]);
}

export async function getPod(cluster: Cluster, name: string, namespace = "default"): Promise<V1Pod> {
  return JSON.parse(await kubectlOk(cluster, ["get", "pod", name, "-n", namespace, "-o", "json"])) as V1Pod;
}

/** The CRI container ID from a containerStatuses[].containerID of "containerd://<id>". */
export function containerIdOf(pod: V1Pod, containerName = "main"): string {
  const status = pod.status?.containerStatuses?.find((each) => each.name === containerName);
  const match = /^containerd:\/\/([0-9a-f]{64})$/.exec(status?.containerID ?? "");
  if (!match?.[1]) throw new Error(`pod ${pod.metadata?.name} has no containerd container ID for ${containerName}: ${status?.containerID}`);
  return match[1];
}

export function procsOf(cgroupDir: string): number[] {
  return readFileSync(`${cgroupDir}/cgroup.procs`, "utf8")
    .split("\n")
    .filter((line) => line !== "")
    .map(Number);
}

type Unary<Req, Res> = (request: Req, callback: (error: grpc.ServiceError | null, response: Res) => void) => void;
interface PodResourcesStub extends grpc.Client {
  List: Unary<object, ListPodResourcesResponse>;
  Get: Unary<{ pod_name: string; pod_namespace: string }, GetPodResourcesResponse>;
  GetAllocatableResources: Unary<object, AllocatableResourcesResponse>;
}

export interface PodResourcesClient {
  list(): Promise<ListPodResourcesResponse>;
  get(namespace: string, name: string): Promise<GetPodResourcesResponse>;
  allocatable(): Promise<AllocatableResourcesResponse>;
  close(): void;
}

/** A gRPC client of the kubelet PodResources API, built from the product's own descriptor. */
export function podResourcesClient(socketPath: string): PodResourcesClient {
  const loaded = grpc.loadPackageDefinition(podResourcesPackageDefinition) as unknown as {
    v1: { PodResourcesLister: new (address: string, credentials: grpc.ChannelCredentials) => PodResourcesStub };
  };
  const stub = new loaded.v1.PodResourcesLister(`unix://${socketPath}`, grpc.credentials.createInsecure());
  const call = <Req, Res>(method: Unary<Req, Res>, request: Req) =>
    new Promise<Res>((resolve, reject) =>
      method.call(stub, request, (error, response) => (error ? reject(error) : resolve(response))),
    );
  return {
    list: () => call(stub.List, {}),
    get: (namespace, name) => call(stub.Get, { pod_name: name, pod_namespace: namespace }),
    allocatable: () => call(stub.GetAllocatableResources, {}),
    close: () => stub.close(),
  };
}
