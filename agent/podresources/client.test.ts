import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import * as grpc from "@grpc/grpc-js";
import { join } from "node:path";
import type { ListPodResourcesResponse, PodResources } from "../../src/api/podresources.ts";
import { StatusError } from "../../src/api/status.ts";
import { DeviceManager } from "../../test/cluster/node/device-manager.ts";
import type { ExtendedResource } from "../../test/cluster/node/devices.ts";
import { podResourcesServiceDefinition, startPodResourcesServer, type ActivePod, type PodResourcesServer } from "../../test/cluster/node/podresources.ts";
import { cleanupAfterAll } from "../../test/support/cleanup.ts";
import { makeTempDir, type TempDir } from "../../test/support/tempdir.ts";
import { createPodResourcesClient, devicesOf, type PodResourcesClient } from "./client.ts";

cleanupAfterAll();

/** A device plugin's view only: PodResources reports IDs, so no real device is needed. */
const resource = (name: string, ids: string[], numaNode?: number): ExtendedResource => ({
  name,
  devices: ids.map((id) => (numaNode === undefined ? { id } : { id, numaNode })),
  allocate: () => ({ devices: [], env: {} }),
});

/** Awaited before expect(): bun's expect().rejects does not let gRPC I/O progress. */
async function failure(promise: Promise<unknown>): Promise<StatusError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof StatusError) return error;
    throw error;
  }
  throw new Error("expected the call to fail");
}

/** A server with only the given handlers: the others answer UNIMPLEMENTED, like an old kubelet. */
async function startPartialServer(socketPath: string, handlers: grpc.UntypedServiceImplementation): Promise<grpc.Server> {
  const server = new grpc.Server();
  server.addService(podResourcesServiceDefinition(), handlers);
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(`unix://${socketPath}`, grpc.ServerCredentials.createInsecure(), (error) => (error ? reject(error) : resolve())),
  );
  return server;
}

let dir: TempDir;
beforeAll(() => {
  dir = makeTempDir("podresources");
});
afterAll(() => dir.remove());

describe("against the kubelet stand-in", () => {
  let server: PodResourcesServer;
  let client: PodResourcesClient;
  const pods: ActivePod[] = [];
  const manager = new DeviceManager([resource("example.com/loop", ["loop0", "loop1", "loop2"]), resource("nvidia.com/gpu", ["GPU-a", "GPU-b"], 0)]);

  beforeAll(async () => {
    server = await startPodResourcesServer(join(dir.path, "kubelet.sock"), { devices: manager, activePods: () => pods });
    client = createPodResourcesClient(server.socketPath, { deadlineMs: 5000 });
    manager.allocatePod("uid-slave", [
      { name: "hold", resources: new Map([["example.com/loop", 2], ["nvidia.com/gpu", 2]]), runsToCompletionFirst: false },
    ]);
    manager.allocatePod("uid-plain", [{ name: "app", resources: new Map(), runsToCompletionFirst: false }]);
    pods.push(
      { uid: "uid-slave", name: "trainer-dm-loop-abcde", namespace: "ml", containerNames: ["hold"] },
      { uid: "uid-plain", name: "web", namespace: "default", containerNames: ["app"] },
    );
  });
  afterAll(async () => {
    client?.close();
    await server?.stop();
  });

  test("get: a slave pod's devices, grouped per resource", async () => {
    const pod = await client.get("ml", "trainer-dm-loop-abcde");
    expect(pod?.name).toBe("trainer-dm-loop-abcde");
    const devices = devicesOf(pod!, "hold").map((d) => ({ ...d, deviceIds: d.deviceIds.sort() }));
    expect(devices.sort((a, b) => a.resource.localeCompare(b.resource))).toEqual([
      { resource: "example.com/loop", deviceIds: ["loop0", "loop1"] },
      { resource: "nvidia.com/gpu", deviceIds: ["GPU-a", "GPU-b"] },
    ]);
    expect(devicesOf(pod!, "other")).toEqual([]);
  });

  test("get: a pod the kubelet does not know is undefined", async () => {
    expect(await client.get("ml", "gone")).toBeUndefined();
  });

  test("list and allocatable", async () => {
    expect((await client.list()).map((p) => `${p.namespace}/${p.name}`)).toEqual(["ml/trainer-dm-loop-abcde", "default/web"]);
    const allocatable = await client.allocatable();
    expect(allocatable.devices.flatMap((d) => d.device_ids).sort()).toEqual(["GPU-a", "GPU-b", "loop0", "loop1", "loop2"]);
  });
});

describe("older or restricted kubelets, and failures", () => {
  const answer: PodResources = {
    name: "p",
    namespace: "ns",
    containers: [{ name: "hold", devices: [{ resource_name: "example.com/loop", device_ids: ["loop2"], topology: null }], cpu_ids: [], memory: [], dynamic_resources: [] }],
    cpu_ids: [],
    memory: [],
  };
  const list = (_call: unknown, callback: grpc.sendUnaryData<ListPodResourcesResponse>) => callback(null, { pod_resources: [answer] });

  test("without Get (kubelet ≤ 1.26: UNIMPLEMENTED), get falls back to List", async () => {
    const socket = join(dir.path, "old.sock");
    const server = await startPartialServer(socket, { List: list });
    const client = createPodResourcesClient(socket);
    try {
      expect(devicesOf((await client.get("ns", "p"))!)).toEqual([{ resource: "example.com/loop", deviceIds: ["loop2"] }]);
      expect(await client.get("ns", "absent")).toBeUndefined();
    } finally {
      client.close();
      server.forceShutdown();
    }
  });

  test("with Get switched off by its feature gate, get falls back to List", async () => {
    const socket = join(dir.path, "gated.sock");
    const server = await startPartialServer(socket, {
      List: list,
      Get: (_call: unknown, callback: grpc.sendUnaryData<unknown>) => callback({ code: grpc.status.UNKNOWN, details: "PodResources API Get method disabled" }),
    });
    const client = createPodResourcesClient(socket);
    try {
      expect((await client.get("ns", "p"))?.name).toBe("p");
    } finally {
      client.close();
      server.forceShutdown();
    }
  });

  test("a kubelet that does not answer in time is ServiceUnavailable naming the socket", async () => {
    const socket = join(dir.path, "stuck.sock");
    const server = await startPartialServer(socket, { List: () => {} });
    const client = createPodResourcesClient(socket, { deadlineMs: 200 });
    try {
      const error = await failure(client.list());
      expect([error.code, error.message]).toEqual([503, `kubelet PodResources API at ${socket}: List failed: DEADLINE_EXCEEDED: no answer within 200 ms`]);
    } finally {
      client.close();
      server.forceShutdown();
    }
  });

  test("no kubelet on the socket is ServiceUnavailable naming it", async () => {
    const socket = join(dir.path, "absent.sock");
    const client = createPodResourcesClient(socket, { deadlineMs: 2000 });
    try {
      const error = await failure(client.get("ns", "p"));
      expect(error.code).toBe(503);
      expect(error.message).toStartWith(`kubelet PodResources API at ${socket}: Get failed: UNAVAILABLE: `);
    } finally {
      client.close();
    }
  });
});

describe("devicesOf", () => {
  test("entries of one resource across containers merge; a container name narrows", () => {
    const entry = (resource_name: string, id: string) => ({ resource_name, device_ids: [id], topology: null });
    const container = (name: string, devices: ReturnType<typeof entry>[]) => ({ name, devices, cpu_ids: [], memory: [], dynamic_resources: [] });
    const pod: PodResources = {
      name: "p",
      namespace: "ns",
      containers: [container("a", [entry("r/x", "1"), entry("r/y", "9"), entry("r/x", "2")]), container("b", [entry("r/x", "3"), entry("r/x", "1")])],
      cpu_ids: [],
      memory: [],
    };
    expect(devicesOf(pod)).toEqual([
      { resource: "r/x", deviceIds: ["1", "2", "3"] },
      { resource: "r/y", deviceIds: ["9"] },
    ]);
    expect(devicesOf(pod, "b")).toEqual([{ resource: "r/x", deviceIds: ["3", "1"] }]);
  });
});
