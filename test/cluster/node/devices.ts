// Real devices behind a node's extended resources, and the device-plugin view of them:
// what ListAndWatch would advertise (device IDs, NUMA node) and what Allocate would
// return (DeviceSpecs and environment) for a set of device IDs.
//
//   example.com/loop  real loop block devices whose backing files hold known bytes;
//                     device IDs "loop0".. (the plugin's IDs, not the host's loopN).
//   nvidia.com/gpu    simulated GPUs: real char device nodes 195:N (+ nvidiactl 195:255,
//                     nvidia-modeset 195:254, nvidia-uvm <free major>:0/1) under
//                     <dir>/dev, and a /proc/driver/nvidia tree under <dir>/proc/driver/nvidia
//                     formatted like the driver's; device IDs are the GPU UUIDs, as the
//                     NVIDIA device plugin reports them.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runCommandOk } from "../../support/command.ts";
import { createLoopDevice, type LoopDevice } from "../../support/loop.ts";

export const LOOP_RESOURCE = "example.com/loop";
export const GPU_RESOURCE = "nvidia.com/gpu";
export const NVIDIA_GPU_MAJOR = 195;
export const NVIDIACTL_MINOR = 255;
export const NVIDIA_MODESET_MINOR = 254;

/** k8s.io/kubelet deviceplugin v1beta1 DeviceSpec. */
export interface DeviceSpec {
  containerPath: string;
  hostPath: string;
  permissions: string;
}

/** What a device plugin's Allocate returns for one container. */
export interface ContainerAllocation {
  devices: DeviceSpec[];
  env: Record<string, string>;
}

export interface PluginDevice {
  id: string;
  /** NUMA node the plugin reports in its topology hint; undefined when it reports none. */
  numaNode?: number;
}

/** One extended resource as its device plugin presents it to the kubelet. */
export interface ExtendedResource {
  name: string;
  devices: readonly PluginDevice[];
  allocate(deviceIds: readonly string[]): ContainerAllocation;
}

export interface NodeLoopDevice {
  /** Device-plugin ID ("loop0"), what PodResources reports. */
  id: string;
  /** Host block device, e.g. /dev/loop5. */
  hostPath: string;
  /** Where the device appears inside a container it is allocated to. */
  containerPath: string;
  major: number;
  minor: number;
  /** The exact bytes of the backing file, i.e. what reading the device returns. */
  bytes: Uint8Array;
}

export interface SimulatedGpu {
  uuid: string;
  minor: number;
  /** PCI bus location, also the directory name under <proc root>/gpus. */
  busId: string;
  hostPath: string;
  model: string;
}

export interface NodeDevices {
  resources: ExtendedResource[];
  loopDevices: NodeLoopDevice[];
  gpus: SimulatedGpu[];
  /** Directory holding the simulated GPU device nodes (stand-in for /dev). */
  devRoot: string;
  /** Stand-in for /proc/driver/nvidia (holds gpus/<bus id>/information). */
  nvidiaProcRoot: string;
  /** Detaches loop devices and deletes the device nodes and proc tree; idempotent. */
  release(): Promise<void>;
}

export interface NodeDevicesOptions {
  /** Private directory of this node (a dm-test temp dir). */
  dir: string;
  loop?: number;
  gpus?: number;
  loopSizeBytes?: number;
  /** Distinguishes the known bytes of different nodes' loop devices. */
  label?: string;
}

export async function createNodeDevices(options: NodeDevicesOptions): Promise<NodeDevices> {
  const devRoot = join(options.dir, "dev");
  const nvidiaProcRoot = join(options.dir, "proc", "driver", "nvidia");
  const attached: LoopDevice[] = [];
  const release = async () => {
    const failures: string[] = [];
    for (const loop of attached.splice(0).reverse()) {
      try {
        await loop.detach();
      } catch (error) {
        failures.push(`${loop.path}: ${String(error)}`);
      }
    }
    rmSync(devRoot, { recursive: true, force: true });
    rmSync(join(options.dir, "proc"), { recursive: true, force: true });
    if (failures.length > 0) throw new Error(`releasing node devices failed: ${failures.join("; ")}`);
  };
  try {
    const loopDevices: NodeLoopDevice[] = [];
    for (let index = 0; index < (options.loop ?? 0); index++) {
      const id = `loop${index}`;
      const loop = await createLoopDevice({
        sizeBytes: options.loopSizeBytes ?? 64 * 1024,
        pattern: new TextEncoder().encode(`dm-test ${options.label ?? "node"} ${LOOP_RESOURCE} ${id}\n`),
      });
      attached.push(loop);
      loopDevices.push({
        id,
        hostPath: loop.path,
        containerPath: `/dev/example-${id}`,
        major: loop.major,
        minor: loop.minor,
        bytes: loop.bytes,
      });
    }
    const gpus = (options.gpus ?? 0) > 0 ? await createSimulatedGpus(options.gpus ?? 0, devRoot, nvidiaProcRoot) : [];
    const resources: ExtendedResource[] = [];
    if (loopDevices.length > 0) resources.push(loopResource(loopDevices));
    if (gpus.length > 0) resources.push(gpuResource(gpus, devRoot));
    return { resources, loopDevices, gpus, devRoot, nvidiaProcRoot, release };
  } catch (error) {
    await release().catch(() => {});
    throw error;
  }
}

function loopResource(loopDevices: readonly NodeLoopDevice[]): ExtendedResource {
  return {
    name: LOOP_RESOURCE,
    devices: loopDevices.map(({ id }) => ({ id })),
    allocate(deviceIds) {
      const devices = deviceIds.map((id) => {
        const loop = loopDevices.find((candidate) => candidate.id === id);
        if (!loop) throw new Error(`${LOOP_RESOURCE}: unknown device ID ${JSON.stringify(id)}`);
        return { containerPath: loop.containerPath, hostPath: loop.hostPath, permissions: "rw" };
      });
      return { devices, env: {} };
    },
  };
}

// Like the NVIDIA device plugin with --pass-device-specs: the GPU nodes plus the
// control nodes every CUDA process opens, and NVIDIA_VISIBLE_DEVICES for the runtime hook.
function gpuResource(gpus: readonly SimulatedGpu[], devRoot: string): ExtendedResource {
  const controlDevices = ["nvidiactl", "nvidia-uvm", "nvidia-uvm-tools", "nvidia-modeset"];
  return {
    name: GPU_RESOURCE,
    devices: gpus.map(({ uuid }) => ({ id: uuid, numaNode: 0 })),
    allocate(deviceIds) {
      const devices: DeviceSpec[] = deviceIds.map((id) => {
        const gpu = gpus.find((candidate) => candidate.uuid === id);
        if (!gpu) throw new Error(`${GPU_RESOURCE}: unknown device ID ${JSON.stringify(id)}`);
        return { containerPath: `/dev/nvidia${gpu.minor}`, hostPath: gpu.hostPath, permissions: "rw" };
      });
      for (const name of controlDevices) {
        devices.push({ containerPath: `/dev/${name}`, hostPath: join(devRoot, name), permissions: "rw" });
      }
      return { devices, env: { NVIDIA_VISIBLE_DEVICES: deviceIds.join(",") } };
    },
  };
}

const GPU_BUS_NUMBERS = [0x18, 0x3b, 0x5e, 0x86, 0xaf, 0xd8, 0x1a, 0x3d];
const GPU_MODEL = "NVIDIA H100 80GB HBM3";
const DRIVER_VERSION = "550.54.15";

async function createSimulatedGpus(count: number, devRoot: string, nvidiaProcRoot: string): Promise<SimulatedGpu[]> {
  mkdirSync(devRoot, { recursive: true });
  mkdirSync(join(nvidiaProcRoot, "gpus"), { recursive: true });
  const uvmMajor = nvidiaUvmMajor();
  await makeCharDevice(join(devRoot, "nvidiactl"), NVIDIA_GPU_MAJOR, NVIDIACTL_MINOR);
  await makeCharDevice(join(devRoot, "nvidia-modeset"), NVIDIA_GPU_MAJOR, NVIDIA_MODESET_MINOR);
  await makeCharDevice(join(devRoot, "nvidia-uvm"), uvmMajor, 0);
  await makeCharDevice(join(devRoot, "nvidia-uvm-tools"), uvmMajor, 1);
  writeFileSync(
    join(nvidiaProcRoot, "version"),
    `NVRM version: NVIDIA UNIX x86_64 Kernel Module  ${DRIVER_VERSION}  Tue Mar  5 22:15:33 UTC 2024\nGCC version:  gcc version 12.2.0 (Debian 12.2.0-14)\n`,
  );
  const gpus: SimulatedGpu[] = [];
  for (let minor = 0; minor < count; minor++) {
    const bus = GPU_BUS_NUMBERS[minor] ?? 0x100 - count + minor;
    const gpu: SimulatedGpu = {
      uuid: `GPU-${crypto.randomUUID()}`,
      minor,
      busId: `0000:${bus.toString(16).padStart(2, "0")}:00.0`,
      hostPath: join(devRoot, `nvidia${minor}`),
      model: GPU_MODEL,
    };
    await makeCharDevice(gpu.hostPath, NVIDIA_GPU_MAJOR, minor);
    const gpuDir = join(nvidiaProcRoot, "gpus", gpu.busId);
    mkdirSync(gpuDir, { recursive: true });
    writeFileSync(join(gpuDir, "information"), gpuInformation(gpu, 40 + minor));
    gpus.push(gpu);
  }
  return gpus;
}

/** The text of /proc/driver/nvidia/gpus/<bus id>/information, spaced like nv-procfs.c prints it. */
export function gpuInformation(gpu: SimulatedGpu, irq: number): string {
  return [
    `Model: \t\t ${gpu.model}`,
    `IRQ:   \t\t ${irq}`,
    `GPU UUID: \t ${gpu.uuid}`,
    `Video BIOS: \t 96.00.99.00.01`,
    `Bus Type: \t PCIe`,
    `DMA Size: \t 52 bits`,
    `DMA Mask: \t 0xfffffffffffff`,
    `Bus Location: \t ${gpu.busId}`,
    `Device Minor: \t ${gpu.minor}`,
    `GPU Firmware: \t ${DRIVER_VERSION}`,
    `GPU Excluded:\t No`,
    "",
  ].join("\n");
}

/**
 * nvidia-uvm gets a dynamic char major. Use the host's if the driver is loaded, else
 * the highest dynamic major no host driver holds, so the cgroup rule that grants the
 * simulated node can never grant a real device.
 */
function nvidiaUvmMajor(): number {
  const charMajors = new Map<string, number>();
  const text = readFileSync("/proc/devices", "utf8");
  const charSection = text.split(/\n\s*\n/)[0] ?? "";
  for (const line of charSection.split("\n")) {
    const match = /^\s*(\d+)\s+(.+)$/.exec(line);
    if (match?.[1] && match[2]) charMajors.set(match[2].trim(), Number(match[1]));
  }
  const real = charMajors.get("nvidia-uvm");
  if (real !== undefined) return real;
  const taken = new Set(charMajors.values());
  for (let major = 511; major >= 384; major--) if (!taken.has(major)) return major;
  for (let major = 254; major >= 234; major--) if (!taken.has(major)) return major;
  throw new Error("no free dynamic char major for the simulated nvidia-uvm device");
}

async function makeCharDevice(path: string, major: number, minor: number): Promise<void> {
  await runCommandOk(["mknod", "-m", "666", path, "c", String(major), String(minor)]);
}
