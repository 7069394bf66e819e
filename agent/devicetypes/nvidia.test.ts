import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { StatusError } from "../../src/api/status.ts";
import { createNodeDevices, gpuInformation, type NodeDevices } from "../../test/cluster/node/devices.ts";
import { cleanupAfterAll } from "../../test/support/cleanup.ts";
import { requireRoot } from "../../test/support/prereqs.ts";
import { makeTempDir, type TempDir } from "../../test/support/tempdir.ts";
import { NVIDIA_GPU_RESOURCE, nvidiaGpuType, parseGpuInformation, readGpus } from "./nvidia.ts";
import { rejectedWith } from "../../test/support/thrown.ts";

cleanupAfterAll();

const UUID0 = "GPU-3f2a0c1e-5b7d-4e8f-9a01-23456789abcd";
const UUID1 = "GPU-aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";

/** A /proc/driver/nvidia tree (no device nodes) in a dm-test temp dir. */
function fakeProc(dir: string, gpus: Array<{ uuid: string; minor: number; busId: string }>): string {
  const procRoot = join(dir, "proc");
  for (const gpu of gpus) {
    const gpuDir = join(procRoot, "driver", "nvidia", "gpus", gpu.busId);
    mkdirSync(gpuDir, { recursive: true });
    writeFileSync(join(gpuDir, "information"), gpuInformation({ ...gpu, hostPath: "", model: "NVIDIA A100-SXM4-40GB" }, 30));
  }
  return procRoot;
}

const caught = (fn: () => unknown) => rejectedWith(StatusError, fn);

describe("parseGpuInformation", () => {
  test("reads the UUID and minor from the driver's tab-separated lines", () => {
    const text = [
      "Model: \t\t Tesla V100-SXM2-16GB",
      "IRQ:   \t\t 95",
      `GPU UUID: \t ${UUID0}`,
      "Video BIOS: \t 88.00.4f.00.09",
      "Bus Type: \t PCIe",
      "Bus Location: \t 0000:3b:00.0",
      "Device Minor: \t 3",
      "",
    ].join("\n");
    expect(parseGpuInformation(text, "0000:3b:00.0")).toEqual({ uuid: UUID0, minor: 3, busId: "0000:3b:00.0", model: "Tesla V100-SXM2-16GB" });
  });

  test("a file without a minor is refused, naming the GPU", () => {
    expect(() => parseGpuInformation(`GPU UUID: \t ${UUID0}\n`, "0000:18:00.0")).toThrow('GPU 0000:18:00.0: information has no numeric "Device Minor" line');
  });
});

describe("NVIDIA_GPU without host nodes", () => {
  let dir: TempDir;
  let procRoot: string;
  beforeAll(() => {
    dir = makeTempDir("devtypes-nvidia");
    procRoot = fakeProc(dir.path, [
      { uuid: UUID0, minor: 0, busId: "0000:18:00.0" },
      { uuid: UUID1, minor: 5, busId: "0000:af:00.0" },
    ]);
  });
  afterAll(() => dir.remove());

  test("a UUID maps to /dev/nvidia<minor>, 195:<minor>, when the host node is absent", () => {
    const type = nvidiaGpuType({ procRoot, devRoot: join(dir.path, "dev") });
    expect(type.devicesFor(NVIDIA_GPU_RESOURCE, UUID1)).toEqual([
      { hostPath: join(dir.path, "dev", "nvidia5"), containerPath: "/dev/nvidia5", type: "c", major: 195, minor: 5, access: "rw", mode: 0o666, uid: 0, gid: 0 },
    ]);
  });

  test("a time-sliced replica ID maps to its GPU", () => {
    const type = nvidiaGpuType({ procRoot, devRoot: join(dir.path, "dev") });
    expect((type.devicesFor(NVIDIA_GPU_RESOURCE, `${UUID0}::2`) as Array<{ containerPath: string }>)[0]?.containerPath).toBe("/dev/nvidia0");
  });

  test("companions the host lacks are left out", () => {
    expect(nvidiaGpuType({ procRoot, devRoot: join(dir.path, "dev") }).companions?.()).toEqual([]);
  });

  test("an unknown UUID is an error naming it and the GPUs that exist", async () => {
    const type = nvidiaGpuType({ procRoot, devRoot: join(dir.path, "dev") });
    const error = await caught(() => type.devicesFor(NVIDIA_GPU_RESOURCE, "GPU-00000000-0000-0000-0000-000000000000"));
    expect(error.code).toBe(500);
    expect(error.message).toBe(
      `device type NVIDIA_GPU, device ID "GPU-00000000-0000-0000-0000-000000000000": no GPU with UUID GPU-00000000-0000-0000-0000-000000000000 in ${join(procRoot, "driver/nvidia/gpus")} (found: ${UUID0}, ${UUID1})`,
    );
  });

  test("no driver proc tree is ServiceUnavailable naming the directory", async () => {
    const error = await caught(() => readGpus(join(dir.path, "nowhere")));
    expect(error.code).toBe(503);
    expect(error.message).toStartWith(`NVIDIA_GPU: cannot list GPUs in ${join(dir.path, "nowhere/driver/nvidia/gpus")} (is the NVIDIA driver loaded?)`);
  });

  test("another resource is refused", async () => {
    const error = await caught(() => nvidiaGpuType({ procRoot, devRoot: "/dev" }).devicesFor("example.com/loop", UUID0));
    expect(error.code).toBe(422);
  });
});

// The simulated GPUs of the cluster-in-a-box: real char nodes (mknod needs root).
const haveRoot = requireRoot(["root"]);
describe.skipIf(!haveRoot)("NVIDIA_GPU with the simulated GPUs' host nodes", () => {
  let dir: TempDir;
  let devices: NodeDevices;
  beforeAll(async () => {
    dir = makeTempDir("devtypes-gpus");
    devices = await createNodeDevices({ dir: dir.path, gpus: 2 });
  });
  afterAll(async () => {
    await devices?.release();
    dir?.remove();
  });

  test("GPU nodes and companions carry the host nodes' numbers and modes", () => {
    const type = nvidiaGpuType({ procRoot: join(dir.path, "proc"), devRoot: devices.devRoot });
    const gpu = devices.gpus[1]!;
    expect(type.devicesFor(NVIDIA_GPU_RESOURCE, gpu.uuid)).toEqual([
      { hostPath: gpu.hostPath, containerPath: "/dev/nvidia1", type: "c", major: 195, minor: 1, access: "rw", mode: 0o666, uid: 0, gid: 0 },
    ]);
    const companions = type.companions?.() ?? [];
    expect(companions.map((c) => c.containerPath)).toEqual(["/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools"]);
    expect(companions[0]).toMatchObject({ type: "c", major: 195, minor: 255, access: "rw" });
    // nvidia-uvm's major is dynamic: it must be the host node's, never assumed.
    const uvm = companions[1]!;
    const tools = companions[2]!;
    expect(uvm.major).not.toBe(195);
    expect([uvm.minor, tools.minor, tools.major]).toEqual([0, 1, uvm.major]);
  });
});
