// The binding exported by native/src/*.cc (built as native/build/Release/device_mounter.node).
//
// Every function is synchronous, does one thing, and checks its arguments
// exactly (wrong count or type → TypeError). All defaults, validation and
// policy live in TypeScript. Every failing system call throws a NativeError.

/** Node-style errno error: `EPERM: operation not permitted, bpf(BPF_PROG_ATTACH) '/sys/fs/cgroup/x'`. */
export interface NativeError extends Error {
  /** errno name, e.g. "EPERM". */
  code: string;
  /** Negative errno, as Node's fs errors carry it, e.g. -1 for EPERM. */
  errno: number;
  /** The failing call, e.g. "bpf(BPF_PROG_ATTACH)", "mknodat", "setns(CLONE_NEWNS)". */
  syscall: string;
  /** The path the call was about (host path, or the path inside the container), when one applies. */
  path?: string;
  /** For work done inside another mount namespace: which step failed ("open-ns", "unshare", "setns", "resolve", "mkdir", "mknod", "chown", "chmod", "stat", "unlink"). */
  step?: string;
  /** For bpfProgLoad: the verifier log. */
  verifierLog?: string;
}

export type NodeKind = "c" | "b";

export interface NsStat {
  /** "c" char device, "b" block device, "d" directory, "f" regular file, "l" symlink, "o" other. */
  type: "c" | "b" | "d" | "f" | "l" | "o";
  /** Permission bits (st_mode & 07777). */
  mode: number;
  uid: number;
  gid: number;
  /** major(st_rdev) / minor(st_rdev): meaningful for "c" and "b". */
  rdevMajor: number;
  rdevMinor: number;
  /** major(st_dev) / minor(st_dev) and st_ino: identify the node itself (as /proc/PID/maps shows it). */
  devMajor: number;
  devMinor: number;
  ino: number;
}

export interface BpfQuery {
  /** Flags the programs were attached with (BPF_F_ALLOW_OVERRIDE = 1, BPF_F_ALLOW_MULTI = 2). */
  attachFlags: number;
  /** IDs of the BPF_CGROUP_DEVICE programs attached directly to this cgroup, in order. */
  progIds: number[];
}

export interface BpfProgInfo {
  id: number;
  /** bpf_prog_info.type (BPF_PROG_TYPE_CGROUP_DEVICE = 15). */
  type: number;
  /** bpf_prog_info.name (at most 15 characters). */
  name: string;
  /** bpf_prog_info.tag as 16 lowercase hex characters. */
  tag: string;
  /** The translated (xlated) instructions as the kernel holds them, 8 bytes each. */
  insns: Uint8Array;
}

export interface NativeBinding {
  // ---- inside the mount namespace of a process ---------------------------------
  // Each call runs on a dedicated short-lived thread that opens /proc/<pid>/root and
  // /proc/<pid>/ns/mnt, unshare(CLONE_FS)s, setns(CLONE_NEWNS)s, sets umask 0, and
  // resolves `path` (absolute, inside the container) with openat2(RESOLVE_IN_ROOT |
  // RESOLVE_NO_MAGICLINKS) against the process's root, so symlinks planted in the
  // container cannot lead outside it. The JS thread only waits for the result.

  /** mkdir -p the parents (mode `dirMode`, owned by root), mknod the node with exactly `mode` permission bits, then chown it to uid/gid. EEXIST if something is at `path` already. */
  nsMknod(pid: number, path: string, kind: NodeKind, major: number, minor: number, mode: number, uid: number, gid: number, dirMode: number): void;
  /** lstat (does not follow a final symlink). ENOENT if nothing is there. */
  nsStat(pid: number, path: string): NsStat;
  /** unlink (never rmdir). */
  nsUnlink(pid: number, path: string): void;
  /** chmod/chown of the node itself (never through a symlink). */
  nsChmod(pid: number, path: string, mode: number): void;
  nsChown(pid: number, path: string, uid: number, gid: number): void;

  // ---- bpf(2) on cgroup v2 device programs ----------------------------------------
  /** BPF_PROG_QUERY with attach type BPF_CGROUP_DEVICE on the cgroup directory. */
  bpfProgQuery(cgroupPath: string): BpfQuery;
  /** BPF_PROG_GET_FD_BY_ID; the caller must close() the fd. */
  bpfProgGetFdById(id: number): number;
  /** BPF_OBJ_GET_INFO_BY_FD, including the xlated instructions. */
  bpfProgInfo(progFd: number): BpfProgInfo;
  /** BPF_PROG_LOAD of a BPF_PROG_TYPE_CGROUP_DEVICE program; returns its fd. On failure the error carries verifierLog. */
  bpfProgLoad(insns: Uint8Array, name: string, license: string): number;
  /** BPF_PROG_ATTACH (BPF_CGROUP_DEVICE). `replaceFd` is used (and required) when flags has BPF_F_REPLACE (4); pass -1 otherwise. */
  bpfProgAttach(cgroupPath: string, progFd: number, flags: number, replaceFd: number): void;
  /** BPF_PROG_DETACH (BPF_CGROUP_DEVICE) of this program from the cgroup. */
  bpfProgDetach(cgroupPath: string, progFd: number): void;
  close(fd: number): void;

  // ---- extended attributes (records kept on the container's cgroup directory) -----
  /** Returns null when the attribute does not exist (ENODATA). */
  getxattr(path: string, name: string): Uint8Array | null;
  setxattr(path: string, name: string, value: Uint8Array): void;
  /** No error when the attribute does not exist. */
  removexattr(path: string, name: string): void;
}
