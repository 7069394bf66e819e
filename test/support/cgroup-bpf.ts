import { dlopen, FFIType, ptr, read } from "bun:ffi";
import { closeSync, openSync } from "node:fs";

// bpftool is not installed, so ask the kernel directly: BPF_PROG_QUERY on a
// cgroup dir lists the BPF_CGROUP_DEVICE programs attached to it. This is how
// the tests tell whether runc enforces device rules with BPF (cgroup v2) or
// with the v1 devices controller.

const SYS_BPF = { x64: 321, arm64: 280 } as const;
const BPF_PROG_QUERY = 16;
const BPF_CGROUP_DEVICE = 6;
const MAX_PROGRAMS = 64;
// union bpf_attr's query member: target_fd u32, attach_type u32, query_flags u32,
// attach_flags u32, prog_ids u64 (pointer), prog_cnt u32; the kernel wants the
// rest of the union zeroed.
const BPF_ATTR_SIZE = 128;

let libc: ReturnType<typeof openLibc> | undefined;

function openLibc() {
  return dlopen("libc.so.6", {
    syscall: { args: [FFIType.i64, FFIType.i64, FFIType.ptr, FFIType.u64], returns: FFIType.i64 },
    __errno_location: { args: [], returns: FFIType.ptr },
  });
}

export interface DeviceBpfPrograms {
  /** Kernel ids of the BPF_CGROUP_DEVICE programs attached directly to the cgroup. */
  programIds: number[];
  /** BPF_F_* attach flags (2 = BPF_F_ALLOW_MULTI, what runc uses). */
  attachFlags: number;
}

export function deviceBpfProgramsOf(cgroupDir: string): DeviceBpfPrograms {
  const syscallNumber = SYS_BPF[process.arch as keyof typeof SYS_BPF];
  if (syscallNumber === undefined) throw new Error(`bpf syscall number unknown for ${process.arch}`);
  libc ??= openLibc();
  const fd = openSync(cgroupDir, "r");
  try {
    const ids = new Uint32Array(MAX_PROGRAMS);
    const attr = new Uint8Array(BPF_ATTR_SIZE);
    const view = new DataView(attr.buffer);
    view.setUint32(0, fd, true);
    view.setUint32(4, BPF_CGROUP_DEVICE, true);
    view.setBigUint64(16, BigInt(ptr(ids)), true);
    view.setUint32(24, MAX_PROGRAMS, true);
    const result = libc.symbols.syscall(syscallNumber, BPF_PROG_QUERY, ptr(attr), BPF_ATTR_SIZE);
    if (result !== 0n) {
      const errnoPointer = libc.symbols.__errno_location();
      const errno = errnoPointer === null ? "unknown" : read.i32(errnoPointer, 0);
      throw new Error(`BPF_PROG_QUERY on ${cgroupDir} failed with errno ${errno}`);
    }
    const count = view.getUint32(24, true);
    return { programIds: [...ids.slice(0, count)], attachFlags: view.getUint32(12, true) };
  } finally {
    closeSync(fd);
  }
}
