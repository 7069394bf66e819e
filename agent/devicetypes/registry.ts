// The device types this agent serves: the built-in NVIDIA_GPU and the
// operator's generic types, looked up by name regardless of case, and the
// check that a mount request asks only for what a type owns and the node has.
import { StatusError, type StatusCause } from "../../src/api/status.ts";
import { genericDeviceType, type GenericDeviceTypeConfig } from "./generic.ts";
import { NVIDIA_GPU_TYPE, nvidiaGpuType } from "./nvidia.ts";
import type { DeviceType } from "./types.ts";

/** Names of the types that exist without configuration; generic types may not take them. */
export const BUILT_IN_TYPE_NAMES = [NVIDIA_GPU_TYPE];

export interface RegistryOptions {
  /** Where the NVIDIA driver's proc files are (<procRoot>/driver/nvidia); default /proc. */
  procRoot?: string;
  /** Where the host's NVIDIA device nodes are; default /dev. */
  devRoot?: string;
  /** Generic types (parseDeviceTypeConfig / loadDeviceTypeConfig). */
  config?: GenericDeviceTypeConfig[];
}

export interface DeviceTypeRegistry {
  /** The type, whatever the case of `name`; BadRequest listing the known types otherwise. */
  get(name: string): DeviceType;
  list(): DeviceType[];
  /**
   * Refuses (Invalid, every problem at once, each naming its resource) a request
   * for no resources, for a resource the type does not own, for a quantity that
   * is not a positive integer, or for more than the node's allocatable.
   */
  validateResources(type: DeviceType | string, resources: Record<string, string>, allocatable: Record<string, string>): void;
}

const WHOLE_NUMBER = /^\d+$/;

export function createRegistry(options: RegistryOptions = {}): DeviceTypeRegistry {
  const types: DeviceType[] = [
    nvidiaGpuType({ procRoot: options.procRoot ?? "/proc", devRoot: options.devRoot ?? "/dev" }),
    ...(options.config ?? []).map(genericDeviceType),
  ];
  const byName = new Map<string, DeviceType>();
  for (const type of types) {
    const key = type.name.toUpperCase();
    if (byName.has(key)) throw new Error(`device type ${type.name} is defined twice (names ignore case)`);
    byName.set(key, type);
  }

  const get = (name: string): DeviceType => {
    const type = byName.get(name.toUpperCase());
    if (!type) {
      throw new StatusError("BadRequest", `unknown device type ${JSON.stringify(name)}; this node knows ${types.map((t) => t.name).join(", ")}`);
    }
    return type;
  };

  return {
    get,
    list: () => [...types],
    validateResources(typeOrName, resources, allocatable) {
      const type = typeof typeOrName === "string" ? get(typeOrName) : typeOrName;
      const causes: StatusCause[] = [];
      const refuse = (resource: string, message: string) =>
        causes.push({ reason: "FieldValueInvalid", field: `resources[${resource}]`, message });
      const entries = Object.entries(resources);
      if (entries.length === 0) {
        causes.push({ reason: "FieldValueRequired", field: "resources", message: `no resources requested; device type ${type.name} owns ${type.resources.join(", ")}` });
      }
      for (const [resource, quantity] of entries) {
        if (!type.resources.includes(resource)) {
          refuse(resource, `device type ${type.name} does not own resource ${resource}; it owns ${type.resources.join(", ")}`);
          continue;
        }
        if (!WHOLE_NUMBER.test(quantity) || Number(quantity) < 1) {
          refuse(resource, `quantity ${JSON.stringify(quantity)} of ${resource} is not a positive integer`);
          continue;
        }
        const available = allocatable[resource];
        const availableCount = available !== undefined && WHOLE_NUMBER.test(available) ? Number(available) : 0;
        if (Number(quantity) > availableCount) {
          refuse(resource, `${quantity} ${resource} requested, but this node has ${available === undefined ? "none" : `${available}`} allocatable`);
        }
      }
      if (causes.length > 0) {
        throw new StatusError("Invalid", causes.map((c) => c.message).join("; "), { causes });
      }
    },
  };
}
