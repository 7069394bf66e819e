// The binding exported by native/src/*.cc (built as native/build/Release/device_mounter.node).
//
// Every function is synchronous, does one thing, and checks its arguments
// exactly: wrong count or type (or an unusable string, e.g. a relative
// container path) → TypeError; a number out of range or not an integer →
// RangeError; both before any system call. Ranges: pid 1..2^31-1, fd
// 0..2^31-1, major 0..4095, minor 0..2^20-1, mode/dirMode 0..0o7777,
// uid/gid 0..2^32-2. All defaults, validation and policy live in TypeScript.
// Strings must be non-empty and free of NUL. Every failing system call throws a
// NativeError; nothing is retried (bpfProgLoad's diagnostic reload aside).

/** Node-style errno error: `EPERM: operation not permitted, bpf(BPF_PROG_ATTACH) '/sys/fs/cgroup/x'`. */
export interface NativeError extends Error {
  /** errno name, e.g. "EPERM". */
  code: string;
  /** Negative errno, as Node's fs errors carry it, e.g. -1 for EPERM. */
  errno: number;
  /** The failing call, e.g. "bpf(BPF_PROG_ATTACH)", "mknodat", "setns(CLONE_NEWNS)". */
  syscall: string;
  /**
   * The path the call was about, when one applies: a host path (cgroup directory, xattr path,
   * the /proc file for steps "open-ns" and "setns"), or for namespace work the path inside the container:
   * the directory being resolved/created for steps "resolve" (openat2) and "mkdir", otherwise the
   * `path` argument as given.
   */
  path?: string;
  /** For work done inside another mount namespace: which step failed ("thread", "open-ns", "unshare", "setns", "resolve", "mkdir", "mknod", "chown", "chmod", "stat", "unlink"). */
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

export type NsOp =
  | { op: "stat"; path: string }
  /** With kind/major/minor: removed only if that device is at the path (`removed` says whether). */
  | { op: "unlink"; path: string; kind?: NodeKind; major?: number; minor?: number }
  | { op: "mknod"; path: string; kind: NodeKind; major: number; minor: number; mode: number; uid: number; gid: number; dirMode: number };

/**
 * `stat`: for "stat"; for "mknod", the node made, or on EEXIST what is in the
 * way; for a conditional "unlink", what was at the path.
 */
export type NsOpResult = { ok: true; stat?: NsStat; removed?: boolean } | { ok: false; error: NativeError; stat?: NsStat };

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
  // `path` must end in a name: "/", "/x/", "/x/." and "/x/.." are refused (TypeError);
  // ".." elsewhere is fine (clamped at the container root). Directory symlinks inside the
  // container are followed (within it); the final component never is.
  // openat2 may fail with EAGAIN when a rename races with ".." resolution; retrying is
  // the caller's decision.

  /**
   * mkdir -p the parents (mode `dirMode`, owned by root), mknod the node, chown it to uid/gid,
   * then chmod it so its permission bits are exactly `mode` (chown clears set-ID bits).
   * EEXIST (step "mknod") if anything, even a dangling symlink, is at `path` already.
   * A node whose chown/chmod failed is left in place.
   */
  nsMknod(pid: number, path: string, kind: NodeKind, major: number, minor: number, mode: number, uid: number, gid: number, dirMode: number): void;
  /** lstat (does not follow a final symlink). ENOENT if nothing is there. */
  nsStat(pid: number, path: string): NsStat;
  /** unlink (never rmdir). */
  nsUnlink(pid: number, path: string): void;
  /** chmod of the node itself; on a symlink fails with EOPNOTSUPP (Linux cannot chmod symlinks) and changes nothing. */
  nsChmod(pid: number, path: string, mode: number): void;
  /** chown of the node itself; on a symlink it changes the symlink, never its target. */
  nsChown(pid: number, path: string, uid: number, gid: number): void;
  /**
   * Several stat/mknod/unlink operations in ONE namespace entry (one thread,
   * one setns), in order. Each is attempted whatever the others did and
   * reports its own outcome; only a failure to enter the namespace throws.
   * Argument checks as for the single calls (TypeError/RangeError naming
   * `ops[i].field`); at most 4096 operations.
   */
  nsBatch(pid: number, ops: NsOp[]): NsOpResult[];

  // ---- bpf(2) on cgroup v2 device programs ----------------------------------------
  /** BPF_PROG_QUERY with attach type BPF_CGROUP_DEVICE on the cgroup directory (at most 64 ids: the kernel's per-cgroup limit). */
  bpfProgQuery(cgroupPath: string): BpfQuery;
  /** BPF_PROG_GET_FD_BY_ID; the caller must close() the fd. */
  bpfProgGetFdById(id: number): number;
  /** BPF_OBJ_GET_INFO_BY_FD, including the xlated instructions (empty if the kernel refuses raw dumps, e.g. kptr_restrict). */
  bpfProgInfo(progFd: number): BpfProgInfo;
  /**
   * BPF_PROG_LOAD of a BPF_PROG_TYPE_CGROUP_DEVICE program; returns its (close-on-exec) fd.
   * `insns`: 1..4096 instructions of 8 bytes; `name`: 0..15 characters of [A-Za-z0-9_.].
   * On failure the error carries verifierLog: the load is repeated once with a level-1 log
   * only to obtain it (a log on the first load can make a large valid program fail with
   * ENOSPC); the error is always the first load's.
   */
  bpfProgLoad(insns: Uint8Array, name: string, license: string): number;
  /** BPF_PROG_ATTACH (BPF_CGROUP_DEVICE). `replaceFd` is used (and required, >= 0) when flags has BPF_F_REPLACE (4); it must be -1 otherwise (RangeError). */
  bpfProgAttach(cgroupPath: string, progFd: number, flags: number, replaceFd: number): void;
  /** BPF_PROG_DETACH (BPF_CGROUP_DEVICE) of this program from the cgroup. */
  bpfProgDetach(cgroupPath: string, progFd: number): void;
  close(fd: number): void;

  // ---- extended attributes (records kept on the container's cgroup directory) -----
  /** Returns null when the attribute does not exist (ENODATA). Follows symlinks, like getxattr(2). */
  getxattr(path: string, name: string): Uint8Array | null;
  setxattr(path: string, name: string, value: Uint8Array): void;
  /** No error when the attribute does not exist. */
  removexattr(path: string, name: string): void;

  // ---- locks -----------------------------------------------------------------------
  /**
   * Opens the directory and takes an exclusive flock(2) on it without waiting;
   * returns the (close-on-exec) fd, whose close() releases the lock (as does the
   * process ending). Held elsewhere: throws with code EAGAIN (EWOULDBLOCK).
   */
  lockDirectory(path: string): number;
}
