// Reads what a device node is (type, numbers, mode, owner), with errors that
// say which node of which device type is missing or is not a device.
import { lstatSync, statSync, type BigIntStats } from "node:fs";
import { StatusError } from "../../src/api/status.ts";
import { deviceOfStats, type DeviceNodeStat } from "../container/host-device.ts";

export type { DeviceNodeStat };

export interface StatOptions {
  /**
   * Follow a final symlink (host paths like /dev/disk/by-id/…). Off for paths
   * under another container's root: a symlink there would resolve against the
   * agent's own root, not that container's.
   */
  followSymlinks: boolean;
  /** Says whose node it is in errors, e.g. `device type LOOP, device ID "loop0"`. */
  what: string;
}

/** The node's identity, or undefined when nothing is at the path; throws when something else is there. */
export function statDeviceNodeIfPresent(path: string, options: StatOptions): DeviceNodeStat | undefined {
  let st: BigIntStats;
  try {
    st = options.followSymlinks ? statSync(path, { bigint: true }) : lstatSync(path, { bigint: true });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return undefined;
    throw new StatusError("InternalError", `${options.what}: cannot stat device node ${path}: ${(error as Error).message}`);
  }
  const device = deviceOfStats(st);
  if (!device) {
    const actual = st.isSymbolicLink() ? "a symlink" : st.isDirectory() ? "a directory" : st.isFile() ? "a regular file" : "not a device";
    throw new StatusError("InternalError", `${options.what}: ${path} is ${actual}, not a character or block device`);
  }
  return device;
}

export function statDeviceNode(path: string, options: StatOptions): DeviceNodeStat {
  const found = statDeviceNodeIfPresent(path, options);
  if (!found) throw new StatusError("InternalError", `${options.what}: device node ${path} does not exist`);
  return found;
}
