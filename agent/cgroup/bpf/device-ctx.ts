// What a BPF_PROG_TYPE_CGROUP_DEVICE program sees in r1: struct bpf_cgroup_dev_ctx
// (include/uapi/linux/bpf.h), and how our rule model maps onto its numbers.
//
//   u32 access_type;  low 16 bits: device type, high 16 bits: access bits
//   u32 major;
//   u32 minor;

import type { Access, DeviceRequest } from "../../devices/rules.ts";

export const BPF_DEVCG_DEV_BLOCK = 1;
export const BPF_DEVCG_DEV_CHAR = 2;

export const BPF_DEVCG_ACC_MKNOD = 1;
export const BPF_DEVCG_ACC_READ = 2;
export const BPF_DEVCG_ACC_WRITE = 4;

export const CTX_ACCESS_TYPE_OFFSET = 0;
export const CTX_MAJOR_OFFSET = 4;
export const CTX_MINOR_OFFSET = 8;
export const CTX_SIZE = 12;

/** Register holding the context pointer when a program starts. */
export const CTX_REGISTER = 1;

export function devcgType(type: "c" | "b"): number {
  return type === "c" ? BPF_DEVCG_DEV_CHAR : BPF_DEVCG_DEV_BLOCK;
}

export function typeFromDevcg(code: number): "c" | "b" | null {
  if (code === BPF_DEVCG_DEV_CHAR) return "c";
  if (code === BPF_DEVCG_DEV_BLOCK) return "b";
  return null;
}

/** BPF_DEVCG_ACC_* bits of an access string. */
export function devcgAccess(access: Access): number {
  let bits = 0;
  for (const letter of access) {
    if (letter === "r") bits |= BPF_DEVCG_ACC_READ;
    else if (letter === "w") bits |= BPF_DEVCG_ACC_WRITE;
    else if (letter === "m") bits |= BPF_DEVCG_ACC_MKNOD;
    else throw new Error(`access ${JSON.stringify(access)}: unknown letter ${JSON.stringify(letter)}`);
  }
  return bits;
}

/** Access string of BPF_DEVCG_ACC_* bits, or null when other bits are set. */
export function accessFromDevcg(bits: number): Access | null {
  if ((bits & ~(BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE | BPF_DEVCG_ACC_MKNOD)) !== 0) return null;
  let access = "";
  if (bits & BPF_DEVCG_ACC_READ) access += "r";
  if (bits & BPF_DEVCG_ACC_WRITE) access += "w";
  if (bits & BPF_DEVCG_ACC_MKNOD) access += "m";
  return access as Access;
}

/** The 12 context bytes the kernel hands the program for this request. */
export function deviceContextBytes(request: DeviceRequest): Uint8Array {
  const bytes = new Uint8Array(CTX_SIZE);
  const view = new DataView(bytes.buffer);
  view.setUint32(CTX_ACCESS_TYPE_OFFSET, ((devcgAccess(request.access) << 16) | devcgType(request.type)) >>> 0, true);
  view.setUint32(CTX_MAJOR_OFFSET, request.major >>> 0, true);
  view.setUint32(CTX_MINOR_OFFSET, request.minor >>> 0, true);
  return bytes;
}
