// Cgroup layout of a kubelet + containerd node, under a configurable kubepods root so
// parallel test clusters stay apart. Paths are "host-relative": relative to the cgroup
// hierarchy root (/sys/fs/cgroup/<controller> in v1, the cgroup2 mount in v2), exactly
// what runc takes as cgroupsPath and what /proc/<pid>/cgroup shows on the host.
//
//   cgroupfs: <root>/kubepods[/burstable|/besteffort]/pod<uid>/<containerId>
//   systemd:  <root>/kubepods.slice[/kubepods-<qos>.slice]/kubepods[-<qos>]-pod<uid_>.slice/cri-containerd-<id>.scope
//
// Guaranteed pods sit directly under the kubepods cgroup in both drivers.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, posix } from "node:path";
import { hostCgroupMounts, removeCgroupTree } from "../../support/cgroupfs.ts";
import type { QosClass } from "./resources.ts";

export type CgroupDriver = "cgroupfs" | "systemd";
export type CgroupMode = "v1" | "v2";

/** The kubepods cgroup itself; `prefix` is "" on a real node ("/kubepods" or "/kubepods.slice"). */
export function kubepodsCgroup(driver: CgroupDriver, prefix: string): string {
  return `${trimSlash(prefix)}/${driver === "systemd" ? "kubepods.slice" : "kubepods"}`;
}

export function qosCgroup(driver: CgroupDriver, kubepods: string, qos: QosClass): string {
  if (qos === "Guaranteed") return kubepods;
  const name = qos.toLowerCase();
  return driver === "systemd" ? `${kubepods}/kubepods-${name}.slice` : `${kubepods}/${name}`;
}

export function podCgroup(driver: CgroupDriver, kubepods: string, qos: QosClass, podUid: string): string {
  const parent = qosCgroup(driver, kubepods, qos);
  if (driver === "cgroupfs") return `${parent}/pod${podUid}`;
  // systemd unit names may not contain "-" inside a component: the uid's dashes become "_".
  const qosPart = qos === "Guaranteed" ? "" : `-${qos.toLowerCase()}`;
  return `${parent}/kubepods${qosPart}-pod${podUid.replaceAll("-", "_")}.slice`;
}

export function containerCgroup(driver: CgroupDriver, podCgroupPath: string, containerId: string): string {
  return driver === "systemd" ? `${podCgroupPath}/cri-containerd-${containerId}.scope` : `${podCgroupPath}/${containerId}`;
}

/** The QoS-level cgroups a kubelet creates at start-up, parents first. */
export function nodeLevelCgroups(driver: CgroupDriver, kubepods: string): string[] {
  return [kubepods, qosCgroup(driver, kubepods, "Burstable"), qosCgroup(driver, kubepods, "BestEffort")];
}

function trimSlash(path: string): string {
  const trimmed = path.replace(/\/+$/, "");
  return trimmed === "" || trimmed.startsWith("/") ? trimmed : `/${trimmed}`;
}

/**
 * Host directories a cgroup path occupies in a node's mode: in v1 mode runc joins every
 * v1 hierarchy and (on a hybrid host) the cgroup2 tree too; in v2 mode only cgroup2.
 */
export function hostCgroupRoots(mode: CgroupMode): string[] {
  const mounts = hostCgroupMounts();
  if (mounts.unified === undefined) throw new Error("cgroup2 is not mounted on the host (looked in /proc/self/mountinfo)");
  return mode === "v2" ? [mounts.unified] : [...mounts.v1.map((hierarchy) => hierarchy.mountPoint), mounts.unified];
}

export function hostCgroupDirs(mode: CgroupMode, path: string): string[] {
  return hostCgroupRoots(mode).map((root) => posix.join(root, path));
}

/**
 * mkdir -p of a cgroup in every hierarchy of the mode, as the kubelet creates its QoS
 * and pod cgroups before any container: they stay while containers come and go.
 * A new v1 cpuset cgroup starts with no CPUs, so it inherits its parent's.
 */
export function ensureCgroup(mode: CgroupMode, path: string): void {
  const parts = path.split("/").filter((part) => part !== "");
  for (const root of hostCgroupRoots(mode)) {
    let dir = root;
    for (const part of parts) {
      const parent = dir;
      dir = posix.join(dir, part);
      if (existsSync(dir)) continue;
      mkdirSync(dir);
      for (const file of ["cpuset.cpus", "cpuset.mems"]) {
        const own = join(dir, file);
        if (existsSync(own) && readFileSync(own, "utf8").trim() === "") {
          writeFileSync(own, readFileSync(join(parent, file), "utf8").trim());
        }
      }
    }
  }
}

/** Kills what is left in the cgroup and removes it (with children) in every hierarchy of the mode. */
export async function removeCgroup(mode: CgroupMode, path: string): Promise<void> {
  const failures: string[] = [];
  for (const dir of hostCgroupDirs(mode, path)) {
    try {
      await removeCgroupTree(dir);
    } catch (error) {
      failures.push(`${dir}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  if (failures.length > 0) throw new Error(`removing cgroup ${path} (${mode}): ${failures.join("; ")}`);
}
