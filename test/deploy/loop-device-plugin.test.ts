// The kind demo's loop device plugin against a stand-in kubelet speaking the
// device plugin API v1beta1 over unix sockets: it registers example.com/loop,
// lists the loop devices backed by the demo's files, hands an allocated one
// out as the node the LOOP device type of deploy/kind expects, follows
// devices coming and going, and registers again after a kubelet restart.
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import * as grpc from "@grpc/grpc-js";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { API_VERSION, devicePluginPackage, RESOURCE_NAME, startLoopDevicePlugin, type LoopDevicePlugin } from "../../deploy/kind/loop-device-plugin.ts";
import { expandTemplate, parseDeviceTypeConfig } from "../../agent/devicetypes/generic.ts";
import { makeTempDir, type TempDir } from "../support/tempdir.ts";
import { find, render } from "./manifests.ts";

const BACKING_DIR = "/var/lib/device-mounter-demo";

interface Registration {
  version: string;
  endpoint: string;
  resource_name: string;
}

let dir: TempDir;
let kubelet: grpc.Server;
let registrations: Registration[];
let onRegister: () => void;
let plugin: LoopDevicePlugin | undefined;
let client: grpc.Client | undefined;

function attachLoop(n: number, backing: string) {
  mkdirSync(join(dir.path, "sys/block", `loop${n}`, "loop"), { recursive: true });
  writeFileSync(join(dir.path, "sys/block", `loop${n}`, "loop", "backing_file"), `${backing}\n`);
}

const nextRegistration = () => new Promise<void>((resolve) => (onRegister = resolve));

beforeEach(async () => {
  dir = makeTempDir("loop-device-plugin");
  mkdirSync(join(dir.path, "plugins"));
  attachLoop(3, `${BACKING_DIR}/disk-0.img`);
  attachLoop(7, `${BACKING_DIR}/disk-1.img`);
  attachLoop(5, "/home/someone/other.img"); // not the demo's
  mkdirSync(join(dir.path, "sys/block/loop9")); // not attached: no loop/ directory
  registrations = [];
  onRegister = () => {};
  kubelet = new grpc.Server();
  kubelet.addService(devicePluginPackage().v1beta1.Registration.service, {
    Register: (call: grpc.ServerUnaryCall<Registration, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      registrations.push(call.request);
      callback(null, {});
      onRegister();
    },
  });
  await new Promise<void>((resolve, reject) => kubelet.bindAsync(`unix://${join(dir.path, "plugins/kubelet.sock")}`, grpc.ServerCredentials.createInsecure(), (e) => (e ? reject(e) : resolve())));
});

afterEach(async () => {
  client?.close();
  await plugin?.stop();
  await new Promise<void>((resolve) => kubelet.tryShutdown(() => resolve()));
  dir.remove();
  plugin = client = undefined;
});

const start = async () => {
  const registered = nextRegistration();
  plugin = await startLoopDevicePlugin({ pluginDir: join(dir.path, "plugins"), backingDir: BACKING_DIR, sysBlock: join(dir.path, "sys/block"), pollMs: 20, log: () => {} });
  await registered;
  client = new (devicePluginPackage().v1beta1.DevicePlugin)(`unix://${plugin.endpoint}`, grpc.credentials.createInsecure());
  return client as unknown as Record<string, any>;
};

/** ListAndWatch's messages as lists of device IDs (unhealthy ones marked); message(n) resolves with the n-th. */
function watchDevices(kubeletClient: Record<string, any>) {
  const messages: string[][] = [];
  const waiting: Array<{ count: number; resolve: (ids: string[]) => void }> = [];
  const stream = kubeletClient.ListAndWatch({});
  stream.on("data", (m: { devices: Array<{ ID: string; health: string }> }) => {
    messages.push(m.devices.map((d) => (d.health === "Healthy" ? d.ID : `${d.ID} (${d.health})`)));
    for (const w of waiting.filter((w) => messages.length >= w.count)) w.resolve(messages[w.count - 1]!);
  });
  stream.on("error", () => {});
  return {
    message: (n: number) => (messages.length >= n ? Promise.resolve(messages[n - 1]!) : new Promise<string[]>((resolve) => waiting.push({ count: n, resolve }))),
    cancel: () => stream.cancel(),
  };
}

const allocate = (kubeletClient: Record<string, any>, ids: string[]) =>
  new Promise<{ error?: grpc.ServiceError; response?: any }>((resolve) => kubeletClient.Allocate({ container_requests: [{ devices_ids: ids }] }, (error: grpc.ServiceError | null, response: unknown) => resolve(error ? { error } : { response })));

describe("the kind demo's loop device plugin", () => {
  test("registers example.com/loop and lists only the loop devices backed by the demo's files", async () => {
    const kubeletClient = await start();
    expect(registrations).toEqual([{ version: API_VERSION, endpoint: "device-mounter-loop.sock", resource_name: RESOURCE_NAME, options: { pre_start_required: false, get_preferred_allocation_available: false } } as never]);
    const watch = watchDevices(kubeletClient);
    expect(await watch.message(1)).toEqual(["loop3", "loop7"]);
    watch.cancel();
  });

  test("an allocated device appears where deploy/kind's LOOP type reads it from the slave pod", async () => {
    const kubeletClient = await start();
    const { response } = await allocate(kubeletClient, ["loop7"]);
    expect(response.container_responses).toEqual([{ devices: [{ container_path: "/dev/example-loop7", host_path: "/dev/loop7", permissions: "rw" }], mounts: [], envs: {}, annotations: {} }]);
    const configMap = find(render("deploy/kind"), "ConfigMap", "device-mounter-device-types");
    const [loopType] = parseDeviceTypeConfig(configMap.data["device-types.yaml"], "deploy/kind");
    expect(loopType!.resources).toEqual([RESOURCE_NAME]);
    expect(expandTemplate(loopType!.devices[0]!.slavePath!, "loop7", 0, "test")).toBe("/dev/example-loop7");

    const unknown = await allocate(kubeletClient, ["loop5"]);
    expect(unknown.error?.code).toBe(grpc.status.NOT_FOUND);
    expect(unknown.error?.details).toBe("unknown loop devices: loop5");
  });

  test("devices attached or detached later are advertised", async () => {
    const kubeletClient = await start();
    const watch = watchDevices(kubeletClient);
    expect(await watch.message(1)).toEqual(["loop3", "loop7"]);
    attachLoop(11, `${BACKING_DIR}/disk-2.img`);
    expect(await watch.message(2)).toEqual(["loop3", "loop7", "loop11"]);
    rmSync(join(dir.path, "sys/block/loop3/loop"), { recursive: true });
    expect(await watch.message(3)).toEqual(["loop7", "loop11"]);
    watch.cancel();
  });

  test("registers again when the kubelet restarts and removes the plugin sockets", async () => {
    await start();
    const again = nextRegistration();
    rmSync(plugin!.endpoint);
    await again;
    expect(registrations).toHaveLength(2);
    const fresh = new (devicePluginPackage().v1beta1.DevicePlugin)(`unix://${plugin!.endpoint}`, grpc.credentials.createInsecure()) as unknown as Record<string, any>;
    try {
      expect((await allocate(fresh, ["loop3"])).response.container_responses[0].devices[0].container_path).toBe("/dev/example-loop3");
    } finally {
      (fresh as unknown as grpc.Client).close();
    }
  });
});
