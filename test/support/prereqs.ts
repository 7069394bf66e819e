import { accessSync, constants, existsSync, readFileSync } from "node:fs";
import { hostCgroupMounts, v1HierarchyWith } from "./cgroupfs.ts";
import { HOST_BUSYBOX } from "./rootfs.ts";

export type Prerequisite = "root" | "runc" | "busybox" | "losetup" | "cgroup-v1-devices" | "cgroup2";

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Why the prerequisite is missing, or undefined when it is there. */
function whyMissing(feature: Prerequisite): string | undefined {
  switch (feature) {
    case "root":
      return process.getuid?.() === 0 ? undefined : `not running as root (uid ${process.getuid?.()})`;
    case "runc":
      return Bun.which("runc") ? undefined : "runc is not on PATH";
    case "busybox":
      return isExecutable(HOST_BUSYBOX) ? undefined : `${HOST_BUSYBOX} is missing or not executable`;
    case "losetup":
      if (!Bun.which("losetup")) return "losetup is not on PATH";
      return existsSync("/dev/loop-control") ? undefined : "/dev/loop-control is missing (loop module not loaded?)";
    case "cgroup-v1-devices":
      return v1HierarchyWith("devices") ? undefined : "no cgroup v1 hierarchy with the devices controller is mounted";
    case "cgroup2": {
      // v2 containers mount cgroup2 in a private mount namespace and the host
      // must see that tree at its own cgroup2 mount.
      if (!readFileSync("/proc/filesystems", "utf8").includes("\tcgroup2\n")) return "the kernel has no cgroup2 filesystem";
      if (!hostCgroupMounts().unified) return "cgroup2 is not mounted on the host";
      return Bun.which("unshare") ? undefined : "unshare is not on PATH";
    }
  }
}

/**
 * True when every prerequisite is present. When one is missing: in CI
 * (CI=true) this throws, so the run fails instead of silently skipping;
 * locally it prints why and returns false for `describe.skipIf(!ok)`.
 */
export function requireRoot(features: Prerequisite[]): boolean {
  const missing = features.flatMap((feature) => {
    const reason = whyMissing(feature);
    return reason === undefined ? [] : [`${feature}: ${reason}`];
  });
  if (missing.length === 0) return true;
  const message = `missing test prerequisites:\n  ${missing.join("\n  ")}`;
  if (process.env.CI === "true") throw new Error(message);
  console.warn(`${message}\nskipping the tests that need them (set CI=true to fail instead)`);
  return false;
}
