import { existsSync } from "node:fs";
import { posix } from "node:path";
import { rmdirIfPresent } from "./cgroupfs.ts";

// runc creates a container's cgroup with mkdir -p but only removes the leaf,
// so parents such as /dm-test or a systemd-style kubepods.slice chain would
// outlive every container. We remember which parents did not exist before
// one of our containers needed them, count their users within this process,
// and remove them when the last user stops.
const users = new Map<string, number>();

/** Proper ancestors of a cgroupsPath under each hierarchy root, e.g. /a/b/c → [root/a, root/a/b]. */
export function ancestorDirs(hierarchyRoots: readonly string[], cgroupsPath: string): string[] {
  const parts = cgroupsPath.split("/").filter((part) => part !== "");
  const prefixes = parts.slice(0, -1).map((_, index) => parts.slice(0, index + 1).join("/"));
  return hierarchyRoots.flatMap((root) => prefixes.map((prefix) => posix.join(root, prefix)));
}

/** Call before runc creates the cgroup; returns the claimed dirs for releaseAncestors(). */
export function claimAncestors(dirs: readonly string[]): string[] {
  const claimed = dirs.filter((dir) => users.has(dir) || !existsSync(dir));
  for (const dir of claimed) users.set(dir, (users.get(dir) ?? 0) + 1);
  return claimed;
}

/**
 * Drops one use of each claimed dir and removes those nobody here uses any
 * more, deepest first. A dir that another process filled meanwhile stays.
 */
export function releaseAncestors(claimed: readonly string[]): void {
  const unused: string[] = [];
  for (const dir of claimed) {
    const remaining = (users.get(dir) ?? 1) - 1;
    if (remaining > 0) {
      users.set(dir, remaining);
    } else {
      users.delete(dir);
      unused.push(dir);
    }
  }
  for (const dir of unused.sort((a, b) => b.length - a.length)) {
    try {
      rmdirIfPresent(dir);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== "EBUSY" && code !== "ENOTEMPTY") throw error;
    }
  }
}
