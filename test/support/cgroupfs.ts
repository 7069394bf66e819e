import { existsSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface CgroupV1Hierarchy {
  mountPoint: string;
  /** Controllers or `name=` of the hierarchy, e.g. ["devices"], ["cpu","cpuacct"], ["name=systemd"]. */
  controllers: string[];
}

export interface HostCgroupMounts {
  v1: CgroupV1Hierarchy[];
  /** Where the host mounted cgroup2 (/sys/fs/cgroup/unified on a hybrid host), if anywhere. */
  unified?: string;
}

// Super options of a v1 cgroup mount that are not controllers.
const V1_MOUNT_OPTIONS = new Set(["rw", "ro", "clone_children", "noprefix", "xattr", "cpuset_v2_mode", "favordynmods", "none"]);

/** Parses /proc/self/mountinfo; mount points are unescaped (\040 etc.). */
export function hostCgroupMounts(): HostCgroupMounts {
  const v1: CgroupV1Hierarchy[] = [];
  let unified: string | undefined;
  for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    const [before, after] = line.split(" - ");
    if (!before || !after) continue;
    const mountPoint = unescapeMountPath(before.split(" ")[4] ?? "");
    const [fsType, , superOptions = ""] = after.split(" ");
    if (fsType === "cgroup2") {
      unified ??= mountPoint;
    } else if (fsType === "cgroup") {
      const controllers = superOptions
        .split(",")
        .filter((option) => !V1_MOUNT_OPTIONS.has(option) && !option.startsWith("release_agent="));
      v1.push({ mountPoint, controllers });
    }
  }
  return unified === undefined ? { v1 } : { v1, unified };
}

function unescapeMountPath(path: string): string {
  return path.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)));
}

/** Every host cgroup hierarchy root: the v1 mount points, then the cgroup2 mount. */
export function allHierarchyRoots(mounts: HostCgroupMounts = hostCgroupMounts()): string[] {
  return [...mounts.v1.map((hierarchy) => hierarchy.mountPoint), ...(mounts.unified === undefined ? [] : [mounts.unified])];
}

export function v1HierarchyWith(controller: string, mounts: HostCgroupMounts = hostCgroupMounts()): CgroupV1Hierarchy | undefined {
  return mounts.v1.find((hierarchy) => hierarchy.controllers.includes(controller));
}

/**
 * /proc/<pid>/cgroup as a map from hierarchy key to path: "" is the cgroup2
 * line (`0::/x`), v1 lines are keyed by their controller list ("devices",
 * "cpu,cpuacct", "name=systemd").
 */
export function cgroupsOfProcess(pid: number): Map<string, string> {
  const result = new Map<string, string>();
  for (const line of readFileSync(`/proc/${pid}/cgroup`, "utf8").split("\n")) {
    const match = /^\d+:([^:]*):(.*)$/.exec(line);
    if (match?.[1] !== undefined && match[2] !== undefined) result.set(match[1], match[2]);
  }
  return result;
}

/** All directories of a cgroup subtree, deepest first (the order rmdir needs). */
export function cgroupSubtreeDeepestFirst(dir: string): string[] {
  const children = readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .flatMap((entry) => cgroupSubtreeDeepestFirst(join(dir, entry.name)));
  return [...children, dir];
}

function processesIn(dir: string): number[] {
  try {
    return readFileSync(join(dir, "cgroup.procs"), "utf8")
      .split("\n")
      .filter((line) => line !== "")
      .map(Number);
  } catch {
    return [];
  }
}

function killProcessesIn(dir: string): void {
  // cgroup2 can kill a whole subtree atomically; v1 needs a thawed freezer
  // (SIGKILL is not delivered to frozen tasks) and a kill per process.
  if (existsSync(join(dir, "cgroup.kill"))) {
    writeFileSync(join(dir, "cgroup.kill"), "1");
    return;
  }
  if (existsSync(join(dir, "freezer.state"))) writeFileSync(join(dir, "freezer.state"), "THAWED");
  for (const pid of processesIn(dir)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // Already gone.
    }
  }
}

const CGROUP_EMPTY_DEADLINE_MS = 5_000;

/**
 * Kills every process in a cgroup subtree and removes its directories,
 * deepest first. Returns the directories removed. Polls because a cgroup has
 * no event we can await here for "its killed tasks have left".
 */
export async function removeCgroupTree(dir: string): Promise<string[]> {
  if (!existsSync(dir)) return [];
  const dirs = cgroupSubtreeDeepestFirst(dir);
  const deadline = Date.now() + CGROUP_EMPTY_DEADLINE_MS;
  for (;;) {
    const busy = dirs.filter((each) => processesIn(each).length > 0);
    if (busy.length === 0) break;
    if (Date.now() > deadline) {
      throw new Error(`cgroup ${busy[0]} still has processes ${processesIn(busy[0] ?? dir).join(",")} after SIGKILL`);
    }
    for (const each of busy) killProcessesIn(each);
    await Bun.sleep(10);
  }
  const removed: string[] = [];
  for (const each of dirs) {
    rmdirIfPresent(each);
    removed.push(each);
  }
  return removed;
}

/** rmdir that treats "already gone" as success. */
export function rmdirIfPresent(dir: string): void {
  try {
    rmdirSync(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
}
