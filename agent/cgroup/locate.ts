// Finds, from the host's point of view, the cgroup directories that govern a
// process's device access: its cgroup v1 "devices" directory and its cgroup2
// directory. Either may be absent (pure v1 or pure v2 hosts); in the hybrid
// layout both exist and either may be the one that enforces.
import { readFileSync } from "node:fs";
import { join, posix } from "node:path";

export interface CgroupDirs {
  /** e.g. /sys/fs/cgroup/devices/kubepods/pod…/abc; absent when no devices hierarchy is mounted. */
  v1Devices?: string;
  /** e.g. /sys/fs/cgroup/unified/kubepods/…; absent when no cgroup2 hierarchy is mounted. */
  unified?: string;
}

export interface CgroupMount {
  /** "devices" for the v1 devices hierarchy, "" for cgroup2. */
  hierarchy: "devices" | "";
  mountPoint: string;
  /** The cgroup path that is this mount's root (not "/" when mounted from inside a cgroup namespace). */
  root: string;
}

/** Parses /proc/self/mountinfo text into the device-relevant cgroup mounts. */
export function parseCgroupMounts(mountinfo: string): CgroupMount[] {
  const mounts: CgroupMount[] = [];
  for (const line of mountinfo.split("\n")) {
    if (!line) continue;
    const sep = line.indexOf(" - ");
    if (sep < 0) continue;
    const left = line.slice(0, sep).split(" ");
    const [fstype, , superOptions = ""] = line.slice(sep + 3).split(" ");
    const root = unescapeMountinfo(left[3] ?? "/");
    const mountPoint = unescapeMountinfo(left[4] ?? "");
    if (fstype === "cgroup2") mounts.push({ hierarchy: "", mountPoint, root });
    else if (fstype === "cgroup" && superOptions.split(",").includes("devices")) mounts.push({ hierarchy: "devices", mountPoint, root });
  }
  return mounts;
}

/** Parses /proc/PID/cgroup into hierarchy → path ("" is the cgroup2 entry). */
export function parseProcCgroup(text: string): Map<string, string> {
  const paths = new Map<string, string>();
  for (const line of text.split("\n")) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    for (const controller of m[2]!.split(",")) paths.set(controller, m[3]!);
  }
  return paths;
}

function unescapeMountinfo(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

function underMount(mount: CgroupMount, cgroupPath: string): string | undefined {
  const rel = posix.relative(mount.root, cgroupPath);
  if (rel.startsWith("..")) return undefined;
  return rel ? join(mount.mountPoint, rel) : mount.mountPoint;
}

// cgroup hierarchies are mounted once at boot (or once in the agent's pod);
// reading mountinfo on every grant would cost more than the grant's own work.
const mountsByProcRoot = new Map<string, CgroupMount[]>();

function cgroupMounts(procRoot: string): CgroupMount[] {
  let mounts = mountsByProcRoot.get(procRoot);
  if (!mounts) {
    mounts = parseCgroupMounts(readFileSync(`${procRoot}/self/mountinfo`, "utf8"));
    mountsByProcRoot.set(procRoot, mounts);
  }
  return mounts;
}

/** Resolves the cgroup directories of `pid` as seen from this process's mount namespace. */
export function locateCgroupDirs(pid: number, procRoot = "/proc"): CgroupDirs {
  const paths = parseProcCgroup(readFileSync(`${procRoot}/${pid}/cgroup`, "utf8"));
  const mounts = cgroupMounts(procRoot);
  const dirs: CgroupDirs = {};
  for (const mount of mounts) {
    const path = paths.get(mount.hierarchy);
    if (path === undefined) continue;
    const dir = underMount(mount, path);
    if (!dir) continue;
    if (mount.hierarchy === "devices") dirs.v1Devices ??= dir;
    else dirs.unified ??= dir;
  }
  return dirs;
}
