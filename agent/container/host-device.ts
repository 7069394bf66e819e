// Reads a device node on the host: what it is (type, major, minor) and how it
// is owned, so a grant can reproduce it inside a container.
import { statSync, type BigIntStats } from "node:fs";

/** What a device node is: type, numbers, permission bits (st_mode & 0o7777) and owner. */
export interface DeviceNodeStat {
  type: "c" | "b";
  major: number;
  minor: number;
  mode: number;
  uid: number;
  gid: number;
}

export interface HostDevice extends DeviceNodeStat {
  hostPath: string;
}

/** glibc's gnu_dev_major/gnu_dev_minor, on a 64-bit dev_t. */
export function splitDev(dev: bigint): { major: number; minor: number } {
  const major = Number(((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn));
  const minor = Number((dev & 0xffn) | ((dev >> 12n) & ~0xffn));
  return { major, minor };
}

export class NotADeviceError extends Error {
  override readonly name = "NotADeviceError";
}

/** The device a stat describes, or undefined when it is not a char or block device. */
export function deviceOfStats(st: BigIntStats): DeviceNodeStat | undefined {
  const type = st.isCharacterDevice() ? "c" : st.isBlockDevice() ? "b" : undefined;
  return type && { type, ...splitDev(st.rdev), mode: Number(st.mode & 0o7777n), uid: Number(st.uid), gid: Number(st.gid) };
}

export function statHostDevice(hostPath: string): HostDevice {
  const device = deviceOfStats(statSync(hostPath, { bigint: true }));
  if (!device) throw new NotADeviceError(`${hostPath} is not a character or block device`);
  return { hostPath, ...device };
}
