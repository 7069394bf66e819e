import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import * as grpc from "@grpc/grpc-js";
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import {
  podResourcesPackageDefinition,
  type AllocatableResourcesResponse,
  type GetPodResourcesResponse,
  type ListPodResourcesResponse,
} from "../../../src/api/podresources.ts";
import { cleanupAfterAll } from "../../support/cleanup.ts";
import { requireRoot } from "../../support/prereqs.ts";
import { makeTempDir } from "../../support/tempdir.ts";
import { DeviceAdmissionError, DeviceManager } from "./device-manager.ts";
import { createNodeDevices, GPU_RESOURCE, LOOP_RESOURCE, type NodeDevices } from "./devices.ts";
import { startPodResourcesServer, type ActivePod, type PodResourcesServer } from "./podresources.ts";

cleanupAfterAll();
const ready = requireRoot(["root", "losetup"]);

type Unary<Req, Res> = (request: Req, callback: (error: grpc.ServiceError | null, response: Res) => void) => void;
interface PodResourcesClient extends grpc.Client {
  List: Unary<object, ListPodResourcesResponse>;
  Get: Unary<{ pod_name: string; pod_namespace: string }, GetPodResourcesResponse>;
  GetAllocatableResources: Unary<object, AllocatableResourcesResponse>;
}

function call<Req, Res>(method: Unary<Req, Res>, client: grpc.Client, request: Req): Promise<Res> {
  return new Promise((resolve, reject) =>
    method.call(client, request, (error, response) => (error ? reject(error) : resolve(response))),
  );
}

describe.skipIf(!ready)("node devices and the PodResources API", () => {
  let devices: NodeDevices;
  let server: PodResourcesServer;
  let client: PodResourcesClient;
  const pods: ActivePod[] = [];
  let manager: DeviceManager;

  beforeAll(async () => {
    const dir = makeTempDir("node-devices");
    devices = await createNodeDevices({ dir: dir.path, loop: 2, gpus: 2, label: "unit" });
    manager = new DeviceManager(devices.resources);
    server = await startPodResourcesServer(join(dir.path, "pod-resources", "kubelet.sock"), {
      devices: manager,
      activePods: () => pods,
    });
    const loaded = grpc.loadPackageDefinition(podResourcesPackageDefinition) as unknown as {
      v1: { PodResourcesLister: new (address: string, credentials: grpc.ChannelCredentials) => PodResourcesClient };
    };
    client = new loaded.v1.PodResourcesLister(`unix://${server.socketPath}`, grpc.credentials.createInsecure());
  });

  afterAll(async () => {
    client?.close();
    await server?.stop();
    await devices?.release();
  });

  test("loop devices are real block devices holding the known bytes", () => {
    expect(devices.loopDevices.map((loop) => loop.id)).toEqual(["loop0", "loop1"]);
    for (const loop of devices.loopDevices) {
      expect(statSync(loop.hostPath).isBlockDevice()).toBe(true);
      const head = readFileSync(loop.hostPath).subarray(0, loop.bytes.length);
      expect(Buffer.from(head).equals(Buffer.from(loop.bytes))).toBe(true);
      expect(new TextDecoder().decode(loop.bytes)).toStartWith(`dm-test unit example.com/loop ${loop.id}\n`);
    }
  });

  test("simulated GPUs have device nodes and a driver-formatted proc tree", () => {
    const gpuNode = statSync(join(devices.devRoot, "nvidia1"));
    expect(gpuNode.isCharacterDevice()).toBe(true);
    expect(Number((BigInt(gpuNode.rdev) >> 8n) & 0xfffn)).toBe(195);
    expect(Number(BigInt(gpuNode.rdev) & 0xffn)).toBe(1);
    expect(statSync(join(devices.devRoot, "nvidiactl")).rdev & 0xff).toBe(255);
    const busIds = readdirSync(join(devices.nvidiaProcRoot, "gpus")).sort();
    expect(busIds).toEqual(devices.gpus.map((gpu) => gpu.busId).sort());
    const gpu = devices.gpus[1];
    const information = readFileSync(join(devices.nvidiaProcRoot, "gpus", gpu?.busId ?? "", "information"), "utf8");
    expect(information).toContain(`GPU UUID: \t ${gpu?.uuid}\n`);
    expect(information).toContain("Device Minor: \t 1\n");
    expect(information).toContain(`Bus Location: \t ${gpu?.busId}\n`);
    expect(gpu?.uuid).toMatch(/^GPU-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  });

  test("allocations are exclusive and what PodResources reports", async () => {
    const [gpu0, gpu1] = devices.gpus;
    manager.allocatePod("uid-a", [
      { name: "main", resources: new Map([[LOOP_RESOURCE, 1]]), runsToCompletionFirst: false },
      { name: "side", resources: new Map(), runsToCompletionFirst: false },
    ]);
    manager.allocatePod("uid-b", [{ name: "gpu", resources: new Map([[GPU_RESOURCE, 2], [LOOP_RESOURCE, 1]]), runsToCompletionFirst: false }]);
    pods.push(
      { uid: "uid-a", name: "a", namespace: "ns1", containerNames: ["main", "side"] },
      { uid: "uid-b", name: "b", namespace: "ns2", containerNames: ["gpu"] },
    );
    expect(() =>
      manager.allocatePod("uid-c", [{ name: "x", resources: new Map([[LOOP_RESOURCE, 1]]), runsToCompletionFirst: false }]),
    ).toThrow(DeviceAdmissionError);

    const runtime = manager.runtimeAllocation("uid-b", "gpu");
    expect(runtime.env).toEqual({ NVIDIA_VISIBLE_DEVICES: `${gpu0?.uuid},${gpu1?.uuid}` });
    expect(runtime.devices.map((spec) => spec.containerPath).sort()).toEqual(
      ["/dev/example-loop1", "/dev/nvidia-modeset", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools", "/dev/nvidia0", "/dev/nvidia1", "/dev/nvidiactl"],
    );

    const list = await call(client.List, client, {});
    const byName = new Map(list.pod_resources.map((pod) => [pod.name, pod]));
    expect(byName.get("a")?.containers).toEqual([
      {
        name: "main",
        devices: [{ resource_name: LOOP_RESOURCE, device_ids: ["loop0"], topology: null }],
        cpu_ids: [],
        memory: [],
        dynamic_resources: [],
      },
      { name: "side", devices: [], cpu_ids: [], memory: [], dynamic_resources: [] },
    ]);
    const gpuDevices = byName.get("b")?.containers[0]?.devices ?? [];
    expect(gpuDevices.filter((entry) => entry.resource_name === GPU_RESOURCE).flatMap((entry) => entry.device_ids).sort()).toEqual(
      [gpu0?.uuid ?? "", gpu1?.uuid ?? ""].sort(),
    );
    expect(gpuDevices.find((entry) => entry.resource_name === GPU_RESOURCE)?.topology).toEqual({ nodes: [{ ID: 0 }] });

    const got = await call(client.Get, client, { pod_name: "a", pod_namespace: "ns1" });
    expect(got.pod_resources?.containers[0]?.devices[0]?.device_ids).toEqual(["loop0"]);
    // Awaited before expect(): bun's expect().rejects does not let gRPC I/O progress.
    const missing = await call(client.Get, client, { pod_name: "nope", pod_namespace: "ns1" }).then(
      () => undefined,
      (error: grpc.ServiceError) => ({ code: error.code, details: error.details }),
    );
    expect(missing).toEqual({ code: grpc.status.UNKNOWN, details: "pod nope in namespace ns1 not found" });

    const allocatable = await call(client.GetAllocatableResources, client, {});
    expect(allocatable.devices.map((entry) => entry.device_ids.join(",")).sort()).toEqual(
      ["loop0", "loop1", gpu0?.uuid ?? "", gpu1?.uuid ?? ""].sort(),
    );

    manager.releasePod("uid-a");
    manager.allocatePod("uid-c", [{ name: "x", resources: new Map([[LOOP_RESOURCE, 1]]), runsToCompletionFirst: false }]);
    expect(manager.containerDevices("uid-c", "x")[0]?.devices.map((device) => device.id)).toEqual(["loop0"]);
  });

  test("devices of an init container are reused by the app containers", () => {
    const reuse = new DeviceManager(devices.resources);
    reuse.allocatePod("uid-i", [
      { name: "init", resources: new Map([[GPU_RESOURCE, 2]]), runsToCompletionFirst: true },
      { name: "app", resources: new Map([[GPU_RESOURCE, 2]]), runsToCompletionFirst: false },
    ]);
    expect(reuse.containerDevices("uid-i", "app")[0]?.devices.map((device) => device.id)).toEqual(
      reuse.containerDevices("uid-i", "init")[0]?.devices.map((device) => device.id) ?? [],
    );
  });
});
