// Reads a device node on the host: what it is (type, major, minor) and how it
// is owned, so a grant can reproduce it inside a container.
import { statSync } from "node:fs";

export interface HostDevice {
  hostPath: string;
  type: "c" | "b";
  major: number;
  minor: number;
  /** Permission bits of the host node (st_mode & 0o7777). */
  mode: number;
  uid: number;
  gid: number;
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

export function statHostDevice(hostPath: string): HostDevice {
  const st = statSync(hostPath, { bigint: true });
  const type = st.isCharacterDevice() ? "c" : st.isBlockDevice() ? "b" : undefined;
  if (!type) throw new NotADeviceError(`${hostPath} is not a character or block device`);
  return { hostPath, type, ...splitDev(st.rdev), mode: Number(st.mode & 0o7777n), uid: Number(st.uid), gid: Number(st.gid) };
}
