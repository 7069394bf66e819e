import { describe, expect, test } from "bun:test";
import { StatusError } from "../../src/api/status.ts";
import { parseDeviceTypeConfig } from "./generic.ts";
import { BUILT_IN_TYPE_NAMES, createRegistry } from "./registry.ts";
import { thrownBy } from "../../test/support/thrown.ts";

const config = parseDeviceTypeConfig(
  `
- name: Loop
  resources: [example.com/loop]
  devices: [{slavePath: "/dev/example-{id}"}]
- name: VGPU
  resources: [volcano.sh/vgpu-number, volcano.sh/vgpu-memory]
  devices: [{hostPath: "/dev/{id}"}]
`,
  "test",
  BUILT_IN_TYPE_NAMES,
);
const registry = createRegistry({ procRoot: "/nonexistent", devRoot: "/nonexistent", config });

const statusError = (fn: () => unknown) => thrownBy(StatusError, fn);

describe("registry", () => {
  test("types are found whatever the case, under their canonical name", () => {
    expect(registry.get("nvidia_gpu").name).toBe("NVIDIA_GPU");
    expect(registry.get("LOOP").name).toBe("Loop");
    expect(registry.list().map((t) => t.name)).toEqual(["NVIDIA_GPU", "Loop", "VGPU"]);
  });

  test("an unknown type is a 400 listing the known ones", () => {
    const error = statusError(() => registry.get("fpga"));
    expect([error.code, error.message]).toEqual([400, 'unknown device type "fpga"; this node knows NVIDIA_GPU, Loop, VGPU']);
  });
});

describe("validateResources", () => {
  const allocatable = { "nvidia.com/gpu": "2", "example.com/loop": "4", cpu: "2", "volcano.sh/vgpu-number": "8" };

  test("owned resources in whole numbers within allocatable pass", () => {
    registry.validateResources("nvidia_gpu", { "nvidia.com/gpu": "2" }, allocatable);
    registry.validateResources(registry.get("vgpu"), { "volcano.sh/vgpu-number": "1" }, allocatable);
  });

  test("every problem is a cause naming its resource, in one 422", () => {
    const error = statusError(() =>
      registry.validateResources(
        "NVIDIA_GPU",
        { cpu: "1", "nvidia.com/gpu": "3", "example.com/loop": "1" },
        allocatable,
      ),
    );
    expect(error.code).toBe(422);
    expect(error.details?.causes).toEqual([
      { reason: "FieldValueInvalid", field: "resources[cpu]", message: "device type NVIDIA_GPU does not own resource cpu; it owns nvidia.com/gpu" },
      { reason: "FieldValueInvalid", field: "resources[nvidia.com/gpu]", message: "3 nvidia.com/gpu requested, but this node has 2 allocatable" },
      { reason: "FieldValueInvalid", field: "resources[example.com/loop]", message: "device type NVIDIA_GPU does not own resource example.com/loop; it owns nvidia.com/gpu" },
    ]);
    expect(error.message).toBe(
      "device type NVIDIA_GPU does not own resource cpu; it owns nvidia.com/gpu; 3 nvidia.com/gpu requested, but this node has 2 allocatable; device type NVIDIA_GPU does not own resource example.com/loop; it owns nvidia.com/gpu",
    );
  });

  test.each(["0", "-1", "1.5", "1k", "", " 1"])("quantity %p is not a positive integer", (quantity) => {
    const error = statusError(() => registry.validateResources("loop", { "example.com/loop": quantity }, allocatable));
    expect(error.message).toBe(`quantity ${JSON.stringify(quantity)} of example.com/loop is not a positive integer`);
  });

  test("a resource the node does not have, and an empty request", () => {
    expect(statusError(() => registry.validateResources("vgpu", { "volcano.sh/vgpu-memory": "2000" }, allocatable)).message).toBe(
      "2000 volcano.sh/vgpu-memory requested, but this node has none allocatable",
    );
    expect(statusError(() => registry.validateResources("loop", {}, allocatable)).details?.causes).toEqual([
      { reason: "FieldValueRequired", field: "resources", message: "no resources requested; device type Loop owns example.com/loop" },
    ]);
  });
});
