// Demo only (the kind quick start): a Kubernetes device plugin (API v1beta1)
// for the extended resource example.com/loop. It advertises the loop devices
// whose backing file is in --backing-dir, and an allocated device appears in
// the container as /dev/example-<id> (id: loopN), which is what the LOOP
// device type of deploy/kind reads from the slave pod. It re-registers when
// the kubelet restarts (the kubelet then removes every plugin socket).
//
//   bun build --compile deploy/kind/loop-device-plugin.ts --outfile loop-device-plugin
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";

export const RESOURCE_NAME = "example.com/loop";
export const API_VERSION = "v1beta1";
export const CONTAINER_PATH_PREFIX = "/dev/example-";

const repeated = (type: string, id: number) => ({ rule: "repeated", type, id });
const single = (type: string, id: number) => ({ type, id });

/** k8s.io/kubelet/pkg/apis/deviceplugin/v1beta1/api.proto, as a descriptor so the compiled binary needs no .proto file. */
const descriptor = {
  nested: {
    v1beta1: {
      nested: {
        Registration: { methods: { Register: { requestType: "RegisterRequest", responseType: "Empty" } } },
        DevicePlugin: {
          methods: {
            GetDevicePluginOptions: { requestType: "Empty", responseType: "DevicePluginOptions" },
            ListAndWatch: { requestType: "Empty", responseType: "ListAndWatchResponse", responseStream: true },
            GetPreferredAllocation: { requestType: "PreferredAllocationRequest", responseType: "PreferredAllocationResponse" },
            Allocate: { requestType: "AllocateRequest", responseType: "AllocateResponse" },
            PreStartContainer: { requestType: "PreStartContainerRequest", responseType: "PreStartContainerResponse" },
          },
        },
        Empty: { fields: {} },
        DevicePluginOptions: { fields: { pre_start_required: single("bool", 1), get_preferred_allocation_available: single("bool", 2) } },
        RegisterRequest: { fields: { version: single("string", 1), endpoint: single("string", 2), resource_name: single("string", 3), options: single("DevicePluginOptions", 4) } },
        ListAndWatchResponse: { fields: { devices: repeated("Device", 1) } },
        TopologyInfo: { fields: { nodes: repeated("NUMANode", 1) } },
        NUMANode: { fields: { ID: single("int64", 1) } },
        Device: { fields: { ID: single("string", 1), health: single("string", 2), topology: single("TopologyInfo", 3) } },
        PreStartContainerRequest: { fields: { devices_ids: repeated("string", 1) } },
        PreStartContainerResponse: { fields: {} },
        PreferredAllocationRequest: { fields: { container_requests: repeated("ContainerPreferredAllocationRequest", 1) } },
        ContainerPreferredAllocationRequest: {
          fields: { available_deviceIDs: repeated("string", 1), must_include_deviceIDs: repeated("string", 2), allocation_size: single("int32", 3) },
        },
        PreferredAllocationResponse: { fields: { container_responses: repeated("ContainerPreferredAllocationResponse", 1) } },
        ContainerPreferredAllocationResponse: { fields: { deviceIDs: repeated("string", 1) } },
        AllocateRequest: { fields: { container_requests: repeated("ContainerAllocateRequest", 1) } },
        ContainerAllocateRequest: { fields: { devices_ids: repeated("string", 1) } },
        AllocateResponse: { fields: { container_responses: repeated("ContainerAllocateResponse", 1) } },
        ContainerAllocateResponse: {
          fields: { envs: { keyType: "string", type: "string", id: 1 }, mounts: repeated("Mount", 2), devices: repeated("DeviceSpec", 3), annotations: { keyType: "string", type: "string", id: 4 } },
        },
        Mount: { fields: { container_path: single("string", 1), host_path: single("string", 2), read_only: single("bool", 3) } },
        DeviceSpec: { fields: { container_path: single("string", 1), host_path: single("string", 2), permissions: single("string", 3) } },
      },
    },
  },
};

interface LoadedPackage {
  v1beta1: {
    Registration: grpc.ServiceClientConstructor;
    DevicePlugin: grpc.ServiceClientConstructor;
  };
}

export const devicePluginPackage = (): LoadedPackage =>
  grpc.loadPackageDefinition(protoLoader.fromJSON(descriptor as unknown as Parameters<typeof protoLoader.fromJSON>[0], { keepCase: true, longs: String, defaults: true, arrays: true, objects: true })) as unknown as LoadedPackage;

export interface LoopDevice {
  /** The device ID the kubelet allocates: loopN. */
  id: string;
  hostPath: string;
}

/** Loop devices (from `sysBlock`, /sys/block) whose backing file is in `backingDir`, by number. */
export function findLoopDevices(sysBlock: string, backingDir: string, devDir = "/dev"): LoopDevice[] {
  const prefix = `${backingDir.replace(/\/+$/, "")}/`;
  const found: LoopDevice[] = [];
  for (const name of existsSync(sysBlock) ? readdirSync(sysBlock) : []) {
    if (!/^loop\d+$/.test(name)) continue;
    let backing: string;
    try {
      backing = readFileSync(join(sysBlock, name, "loop", "backing_file"), "utf8").trim();
    } catch {
      continue; // not attached
    }
    if (backing.startsWith(prefix)) found.push({ id: name, hostPath: join(devDir, name) });
  }
  return found.sort((a, b) => Number(a.id.slice(4)) - Number(b.id.slice(4)));
}

export interface LoopDevicePluginOptions {
  /** The kubelet's device plugin directory (kubelet.sock is there); default /var/lib/kubelet/device-plugins. */
  pluginDir: string;
  backingDir: string;
  sysBlock: string;
  /** How often devices are rescanned and the socket checked; default 5 s. */
  pollMs: number;
  log: (message: string) => void;
}

export interface LoopDevicePlugin {
  /** The socket the kubelet calls, in pluginDir. */
  readonly endpoint: string;
  stop(): Promise<void>;
}

const ENDPOINT = "device-mounter-loop.sock";

export async function startLoopDevicePlugin(options: LoopDevicePluginOptions): Promise<LoopDevicePlugin> {
  const pkg = devicePluginPackage();
  const socketPath = join(options.pluginDir, ENDPOINT);
  let devices = findLoopDevices(options.sysBlock, options.backingDir);
  const watchers = new Set<grpc.ServerWritableStream<unknown, unknown>>();
  const advertise = (stream: grpc.ServerWritableStream<unknown, unknown>) => stream.write({ devices: devices.map((d) => ({ ID: d.id, health: "Healthy" })) });

  const implementation: grpc.UntypedServiceImplementation = {
    GetDevicePluginOptions: (_call: unknown, callback: grpc.sendUnaryData<unknown>) => callback(null, { pre_start_required: false, get_preferred_allocation_available: false }),
    ListAndWatch: (stream: grpc.ServerWritableStream<unknown, unknown>) => {
      watchers.add(stream);
      advertise(stream);
      stream.on("cancelled", () => watchers.delete(stream));
    },
    GetPreferredAllocation: (_call: unknown, callback: grpc.sendUnaryData<unknown>) => callback(null, { container_responses: [] }),
    Allocate: (call: grpc.ServerUnaryCall<{ container_requests: Array<{ devices_ids: string[] }> }, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      const known = new Map(devices.map((d) => [d.id, d]));
      const unknown = call.request.container_requests.flatMap((r) => r.devices_ids).filter((id) => !known.has(id));
      if (unknown.length) return callback({ code: grpc.status.NOT_FOUND, details: `unknown loop devices: ${unknown.join(", ")}` });
      callback(null, {
        container_responses: call.request.container_requests.map((r) => ({
          devices: r.devices_ids.map((id) => ({ container_path: `${CONTAINER_PATH_PREFIX}${id}`, host_path: known.get(id)!.hostPath, permissions: "rw" })),
        })),
      });
    },
    PreStartContainer: (_call: unknown, callback: grpc.sendUnaryData<unknown>) => callback(null, {}),
  };

  let server: grpc.Server | undefined;
  const serve = async () => {
    await new Promise<void>((resolve) => (server ? server.tryShutdown(() => resolve()) : resolve()));
    rmSync(socketPath, { force: true });
    server = new grpc.Server();
    server.addService(pkg.v1beta1.DevicePlugin.service, implementation);
    await new Promise<void>((resolve, reject) => server!.bindAsync(`unix://${socketPath}`, grpc.ServerCredentials.createInsecure(), (e) => (e ? reject(e) : resolve())));
  };
  const register = async () => {
    const client = new pkg.v1beta1.Registration(`unix://${join(options.pluginDir, "kubelet.sock")}`, grpc.credentials.createInsecure());
    try {
      await new Promise<void>((resolve, reject) =>
        (client as unknown as { Register: (r: unknown, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null) => void) => void }).Register(
          { version: API_VERSION, endpoint: ENDPOINT, resource_name: RESOURCE_NAME, options: { pre_start_required: false, get_preferred_allocation_available: false } },
          { deadline: Date.now() + 10_000 },
          (e) => (e ? reject(e) : resolve()),
        ),
      );
    } finally {
      client.close();
    }
  };
  const start = async () => {
    await serve();
    await register();
    options.log(`registered ${RESOURCE_NAME} with the kubelet: ${devices.map((d) => d.id).join(", ") || "no devices yet"}`);
  };
  await start();

  let busy = false;
  let stopped = false;
  const timer = setInterval(async () => {
    if (busy || stopped) return;
    busy = true;
    try {
      // The kubelet removes plugin sockets when it restarts: serve and register again.
      if (!existsSync(socketPath)) {
        options.log("the plugin socket is gone (kubelet restart?): registering again");
        await start();
      }
      const now = findLoopDevices(options.sysBlock, options.backingDir);
      if (JSON.stringify(now) !== JSON.stringify(devices)) {
        devices = now;
        options.log(`devices changed: ${devices.map((d) => d.id).join(", ") || "none"}`);
        for (const stream of watchers) advertise(stream);
      }
    } catch (e) {
      options.log(`retrying later: ${(e as Error).message}`);
    } finally {
      busy = false;
    }
  }, options.pollMs);

  return {
    endpoint: socketPath,
    async stop() {
      stopped = true;
      clearInterval(timer);
      for (const stream of watchers) stream.end();
      await new Promise<void>((resolve) => (server ? server.tryShutdown(() => resolve()) : resolve()));
      rmSync(socketPath, { force: true });
    },
  };
}

async function main(argv: string[]): Promise<void> {
  const value = (name: string, fallback: string) => argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;
  const log = (message: string) => console.log(`${new Date().toISOString()} ${message}`);
  const options: LoopDevicePluginOptions = {
    pluginDir: value("plugin-dir", "/var/lib/kubelet/device-plugins"),
    backingDir: value("backing-dir", "/var/lib/device-mounter-demo"),
    sysBlock: "/sys/block",
    pollMs: 5000,
    log,
  };
  for (;;) {
    try {
      const plugin = await startLoopDevicePlugin(options);
      await new Promise<void>((resolve) => process.once("SIGTERM", resolve));
      await plugin.stop();
      return;
    } catch (e) {
      log(`cannot start (retrying in 5 s): ${(e as Error).message}`);
      await Bun.sleep(5000);
    }
  }
}

if (import.meta.main) await main(process.argv.slice(2));
