// What a device type is: the resources it owns and how one device ID the
// device plugin allocated becomes host device nodes to grant a container.

import type { DeviceNodeStat } from "../container/host-device.ts";

/** A device node to grant: where it is on the host, where it goes in the container, and what it is (mode and owner those of the host node). */
export interface HostDeviceNode extends DeviceNodeStat {
  /** Where the node was read (a host path, or a path under a slave container's root). */
  hostPath: string;
  /** Absolute path inside the target container. */
  containerPath: string;
  /** Subset of "rwm", in that order. */
  access: string;
}

export interface DeviceContext {
  /** 0-based position of the device among the devices of its resource in one mount request. */
  index: number;
  /**
   * Root directory of the slave pod's container as the host sees it
   * (/proc/<pid>/root): where device types that read the nodes the device
   * plugin gave the slave pod look for them.
   */
  slaveRoot?: string;
}

export interface DeviceType {
  /** Canonical name, e.g. "NVIDIA_GPU"; lookups ignore case. */
  name: string;
  /** Resource names it owns, e.g. ["nvidia.com/gpu"]. */
  resources: string[];
  /** The host nodes to grant for one allocated device ID. */
  devicesFor(resource: string, deviceId: string, context?: DeviceContext): Promise<HostDeviceNode[]> | HostDeviceNode[];
  /** Nodes every container using this type also needs, granted once per container. */
  companions?(): HostDeviceNode[];
}
