// Which cgroup directories hold a pod's container, from what the API says of it
// (pod UID, QoS class, containerID): the kubelet names the pod's cgroup after
// its driver (cgroupfs or systemd) and the runtime names the container's, so
// the candidates are computed and looked up in the host's hierarchies; a
// bounded search under the kubepods cgroup covers layouts no rule knows.
import { readdirSync, readFileSync, statSync, type Dirent } from "node:fs";
import { posix } from "node:path";
import { StatusError } from "../../src/api/status.ts";
import { parseCgroupMounts, type CgroupDirs, type CgroupMount } from "./locate.ts";

export type CgroupDriver = "cgroupfs" | "systemd";
export type QosClass = "Guaranteed" | "Burstable" | "BestEffort";

export interface ContainerRef {
  podUid: string;
  qosClass: QosClass;
  /** As pod status has it: "containerd://<id>", "cri-o://<id>" or "docker://<id>". */
  containerId: string;
}

export interface ContainerCgroupOptions {
  /** Where the host's cgroup hierarchies are mounted (in this mount namespace); default /sys/fs/cgroup. */
  cgroupRoot?: string;
  /** Cgroup path of the kubepods cgroup; default "/kubepods" (cgroupfs) or "/kubepods.slice" (systemd). */
  kubepodsRoot?: string;
  /** The kubelet's cgroup driver; "auto" (default) tries both namings. */
  driver?: CgroupDriver | "auto";
  /** The cgroup mounts; default read from <procRoot>/self/mountinfo (pass them to avoid re-reading). */
  mounts?: CgroupMount[];
  procRoot?: string;
  /** How many levels below the kubepods cgroup the fallback search goes; default 4. */
  searchDepth?: number;
}

/** The container's cgroup: its path (relative to a hierarchy's root) and the directories it has. */
export interface ContainerCgroup extends CgroupDirs {
  path: string;
}

export interface Hierarchies {
  v1Devices?: CgroupMount;
  unified?: CgroupMount;
}

const DEFAULT_KUBEPODS: Record<CgroupDriver, string> = { cgroupfs: "/kubepods", systemd: "/kubepods.slice" };
const SAFE_COMPONENT = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/** Splits "<runtime>://<id>"; the id becomes a path component, so it must be one. */
export function parseContainerId(containerId: string): { runtime: string; id: string } {
  const match = /^([a-z0-9.+-]+):\/\/(.+)$/.exec(containerId);
  if (!match?.[1] || !match[2] || !SAFE_COMPONENT.test(match[2])) {
    throw new StatusError("InternalError", `container ID ${JSON.stringify(containerId)} is not of the form <runtime>://<id>`);
  }
  return { runtime: match[1], id: match[2] };
}

function podCgroup(driver: CgroupDriver, kubepods: string, qos: QosClass, podUid: string): string {
  const qosName = qos.toLowerCase();
  if (driver === "cgroupfs") return posix.join(kubepods, qos === "Guaranteed" ? "" : qosName, `pod${podUid}`);
  // systemd slice names nest by "-", so the uid's dashes become "_".
  const qosPart = qos === "Guaranteed" ? "" : `-${qosName}`;
  const parent = qos === "Guaranteed" ? kubepods : posix.join(kubepods, `kubepods${qosPart}.slice`);
  return posix.join(parent, `kubepods${qosPart}-pod${podUid.replaceAll("-", "_")}.slice`);
}

/** The runtime's name for the container's cgroup under the pod's, most likely first. */
function containerLeaves(driver: CgroupDriver, runtime: string, id: string): string[] {
  const systemdPrefix: Record<string, string> = { containerd: "cri-containerd", "cri-o": "crio", docker: "docker" };
  if (driver === "systemd") {
    const prefix = systemdPrefix[runtime];
    return (prefix ? [prefix] : Object.values(systemdPrefix)).map((p) => `${p}-${id}.scope`);
  }
  // containerd and docker name it by the bare id; CRI-O's cgroupfs manager prefixes "crio-".
  return runtime === "cri-o" ? [`crio-${id}`, id] : [id, `crio-${id}`];
}

function driversToTry(options: ContainerCgroupOptions): CgroupDriver[] {
  const driver = options.driver ?? "auto";
  if (driver !== "auto") return [driver];
  return options.kubepodsRoot !== undefined && !options.kubepodsRoot.endsWith(".slice") ? ["cgroupfs", "systemd"] : ["systemd", "cgroupfs"];
}

const kubepodsFor = (driver: CgroupDriver, options: ContainerCgroupOptions) => options.kubepodsRoot ?? DEFAULT_KUBEPODS[driver];

/** Cgroup paths the container's cgroup may have, most likely first. */
export function containerCgroupCandidates(ref: ContainerRef, options: Pick<ContainerCgroupOptions, "driver" | "kubepodsRoot"> = {}): string[] {
  if (!SAFE_COMPONENT.test(ref.podUid)) throw new StatusError("InternalError", `pod UID ${JSON.stringify(ref.podUid)} cannot be part of a cgroup path`);
  const { runtime, id } = parseContainerId(ref.containerId);
  return driversToTry(options).flatMap((driver) => {
    const pod = podCgroup(driver, kubepodsFor(driver, options), ref.qosClass, ref.podUid);
    return containerLeaves(driver, runtime, id).map((leaf) => posix.join(pod, leaf));
  });
}

/** The devices (v1) and cgroup2 hierarchies mounted at or below cgroupRoot. */
export function cgroupHierarchies(cgroupRoot: string, mounts: CgroupMount[]): Hierarchies {
  const root = posix.normalize(cgroupRoot).replace(/\/$/, "") || "/";
  const below = mounts.filter((m) => m.mountPoint === root || m.mountPoint.startsWith(`${root}/`));
  return { v1Devices: below.find((m) => m.hierarchy === "devices"), unified: below.find((m) => m.hierarchy === "") };
}

/** Where a cgroup path is in a mount, or undefined when the mount does not show it (a cgroup namespace's). */
function dirInMount(mount: CgroupMount, cgroupPath: string): string | undefined {
  const rel = posix.relative(mount.root, cgroupPath);
  if (rel.startsWith("..")) return undefined;
  return posix.join(mount.mountPoint, rel);
}

/** The cgroup path a directory of a mount stands for. */
const cgroupPathOf = (mount: CgroupMount, dir: string) => posix.join(mount.root, posix.relative(mount.mountPoint, dir));

const isDir = (path: string) => {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
};

function dirsOf(hierarchies: Hierarchies, cgroupPath: string): CgroupDirs {
  const dirs: CgroupDirs = {};
  const v1 = hierarchies.v1Devices && dirInMount(hierarchies.v1Devices, cgroupPath);
  const unified = hierarchies.unified && dirInMount(hierarchies.unified, cgroupPath);
  if (v1 && isDir(v1)) dirs.v1Devices = v1;
  if (unified && isDir(unified)) dirs.unified = unified;
  return dirs;
}

function subdirectories(dir: string): string[] {
  let entries: Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  return entries.filter((e) => e.isDirectory()).map((e) => posix.join(dir, e.name));
}

/**
 * Breadth-first, so the shallowest match wins; a directory named after the
 * container ID that belongs to its monitor (CRI-O's conmon) is not the container.
 */
function searchByName(top: string, id: string, podUid: string, depth: number): string | undefined {
  const matches: string[] = [];
  let level = [top];
  for (let d = 0; d < depth && level.length > 0 && matches.length === 0; d++) {
    level = level.flatMap(subdirectories);
    for (const dir of level) {
      const name = posix.basename(dir);
      if (name.includes(id) && !name.includes("conmon")) matches.push(dir);
    }
  }
  const ofPod = (dir: string) => dir.includes(podUid) || dir.includes(podUid.replaceAll("-", "_"));
  return matches.find(ofPod) ?? matches[0];
}

const hasDir = (dirs: CgroupDirs) => dirs.v1Devices !== undefined || dirs.unified !== undefined;

export function findContainerCgroup(ref: ContainerRef, options: ContainerCgroupOptions = {}): ContainerCgroup {
  const cgroupRoot = options.cgroupRoot ?? "/sys/fs/cgroup";
  const mounts = options.mounts ?? parseCgroupMounts(readFileSync(`${options.procRoot ?? "/proc"}/self/mountinfo`, "utf8"));
  const hierarchies = cgroupHierarchies(cgroupRoot, mounts);
  const mounted = [hierarchies.unified, hierarchies.v1Devices].filter((m) => m !== undefined);
  if (mounted.length === 0) {
    throw new StatusError("ServiceUnavailable", `no cgroup2 or cgroup v1 devices hierarchy is mounted at or below ${cgroupRoot}`);
  }

  const candidates = containerCgroupCandidates(ref, options);
  for (const path of candidates) {
    const dirs = dirsOf(hierarchies, path);
    if (hasDir(dirs)) return { path, ...dirs };
  }

  const { id } = parseContainerId(ref.containerId);
  const depth = options.searchDepth ?? 4;
  const searched: string[] = [];
  for (const kubepods of [...new Set(driversToTry(options).map((driver) => kubepodsFor(driver, options)))]) {
    for (const mount of mounted) {
      const top = dirInMount(mount, kubepods);
      if (!top) continue;
      searched.push(top);
      const found = searchByName(top, id, ref.podUid, depth);
      if (found) {
        const path = cgroupPathOf(mount, found);
        return { path, ...dirsOf(hierarchies, path) };
      }
    }
  }
  throw new StatusError(
    "ServiceUnavailable",
    `container ${ref.containerId} of pod ${ref.podUid} (${ref.qosClass}) has no cgroup on this node: looked for ${candidates.join(", ")} in ${mounted.map((m) => m.mountPoint).join(" and ")}, then searched ${searched.join(", ") || "nothing (no kubepods cgroup is visible)"} ${depth} levels deep for a directory named after ${id}`,
  );
}

function firstPidUnder(dir: string): number | undefined {
  let text = "";
  try {
    text = readFileSync(posix.join(dir, "cgroup.procs"), "utf8");
  } catch {
    // Gone meanwhile, or not readable: its children may still say.
  }
  const pid = text.split("\n").find((line) => line.trim() !== "");
  if (pid !== undefined) return Number(pid);
  for (const child of subdirectories(dir)) {
    const found = firstPidUnder(child);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** A process of the container (host PID), from its cgroup or one below it; Conflict when there is none. */
export function firstPid(dirs: CgroupDirs): number {
  const where = [dirs.unified, dirs.v1Devices].filter((d) => d !== undefined);
  for (const dir of where) {
    const pid = firstPidUnder(dir);
    if (pid !== undefined) return pid;
  }
  throw new StatusError("Conflict", `the container is not running: no process in ${where.join(" or ") || "(no cgroup directory given)"}`);
}
