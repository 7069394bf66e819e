// NVIDIA_GPU: the NVIDIA device plugin allocates GPUs by UUID; the driver says
// which /dev/nvidiaN each UUID is in <proc>/driver/nvidia/gpus/<bus id>/information.
// Every CUDA process also opens the control and UVM nodes, granted once per container.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { StatusError } from "../../src/api/status.ts";
import { statDeviceNodeIfPresent } from "./device-node.ts";
import type { DeviceType, HostDeviceNode } from "./types.ts";

export const NVIDIA_GPU_TYPE = "NVIDIA_GPU";
export const NVIDIA_GPU_RESOURCE = "nvidia.com/gpu";
/** The driver's registered char major for /dev/nvidiaN and /dev/nvidiactl. */
export const NVIDIA_MAJOR = 195;
const COMPANION_NODES = ["nvidiactl", "nvidia-uvm", "nvidia-uvm-tools"];
const DEFAULT_MODE = 0o666;
const ACCESS = "rw";

export interface GpuInformation {
  uuid: string;
  minor: number;
  /** The directory name under gpus/, i.e. the PCI bus location. */
  busId: string;
  model?: string;
}

/** Parses one `information` file ("Key: \t value" lines, as nv-procfs.c prints them). */
export function parseGpuInformation(text: string, busId: string): GpuInformation {
  const fields = new Map<string, string>();
  for (const line of text.split("\n")) {
    const colon = line.indexOf(":");
    if (colon > 0) fields.set(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
  }
  const uuid = fields.get("GPU UUID");
  const minorText = fields.get("Device Minor");
  if (!uuid || minorText === undefined || !/^\d+$/.test(minorText)) {
    throw new Error(`GPU ${busId}: information has no ${uuid ? "numeric \"Device Minor\"" : "\"GPU UUID\""} line`);
  }
  return { uuid, minor: Number(minorText), busId, model: fields.get("Model") };
}

/** Every GPU the driver lists under <procRoot>/driver/nvidia/gpus. */
export function readGpus(procRoot: string): GpuInformation[] {
  const gpusDir = join(procRoot, "driver", "nvidia", "gpus");
  let busIds: string[];
  try {
    busIds = readdirSync(gpusDir);
  } catch (error) {
    throw new StatusError("ServiceUnavailable", `${NVIDIA_GPU_TYPE}: cannot list GPUs in ${gpusDir} (is the NVIDIA driver loaded?): ${(error as Error).message}`);
  }
  return busIds.sort().map((busId) => {
    const file = join(gpusDir, busId, "information");
    try {
      return parseGpuInformation(readFileSync(file, "utf8"), busId);
    } catch (error) {
      throw new StatusError("ServiceUnavailable", `${NVIDIA_GPU_TYPE}: cannot read ${file}: ${(error as Error).message}`);
    }
  });
}

/**
 * The device plugin's IDs are GPU UUIDs; with time-slicing it reports replicas
 * as "<uuid>::<n>", which share the GPU's node.
 */
const gpuUuidOf = (deviceId: string) => deviceId.replace(/::\d+$/, "");

export interface NvidiaOptions {
  procRoot: string;
  devRoot: string;
}

export function nvidiaGpuType({ procRoot, devRoot }: NvidiaOptions): DeviceType {
  const what = (detail: string) => `device type ${NVIDIA_GPU_TYPE}, ${detail}`;
  return {
    name: NVIDIA_GPU_TYPE,
    resources: [NVIDIA_GPU_RESOURCE],
    devicesFor(resource, deviceId) {
      if (resource !== NVIDIA_GPU_RESOURCE) {
        throw new StatusError("Invalid", `device type ${NVIDIA_GPU_TYPE} does not own resource ${resource}; it owns ${NVIDIA_GPU_RESOURCE}`);
      }
      const uuid = gpuUuidOf(deviceId);
      const gpus = readGpus(procRoot);
      const gpu = gpus.find((candidate) => candidate.uuid === uuid);
      if (!gpu) {
        throw new StatusError(
          "InternalError",
          `${what(`device ID ${JSON.stringify(deviceId)}`)}: no GPU with UUID ${uuid} in ${join(procRoot, "driver", "nvidia", "gpus")} (found: ${gpus.map((g) => g.uuid).join(", ") || "none"})`,
        );
      }
      const name = `nvidia${gpu.minor}`;
      const hostPath = join(devRoot, name);
      // The minor is the driver's word; the host node (when there is one) gives the rest.
      const host = statDeviceNodeIfPresent(hostPath, { followSymlinks: true, what: what(`GPU ${uuid}`) });
      return [
        {
          hostPath,
          containerPath: `/dev/${name}`,
          type: "c",
          major: host?.major ?? NVIDIA_MAJOR,
          minor: gpu.minor,
          access: ACCESS,
          mode: host?.mode ?? DEFAULT_MODE,
          uid: host?.uid ?? 0,
          gid: host?.gid ?? 0,
        },
      ];
    },
    companions() {
      // nvidia-uvm's major is dynamic: only the host's node can say what it is.
      return COMPANION_NODES.flatMap((name): HostDeviceNode[] => {
        const hostPath = join(devRoot, name);
        const host = statDeviceNodeIfPresent(hostPath, { followSymlinks: true, what: what(`companion ${name}`) });
        return host ? [{ hostPath, containerPath: `/dev/${name}`, ...host, access: ACCESS }] : [];
      });
    },
  };
}
