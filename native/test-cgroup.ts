// A fresh cgroup2 directory for a test, removed (after killing anything left
// in it) when the test file's cleanup runs.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { registerCleanup } from "../test/support/cleanup.ts";
import { hostCgroupMounts, removeCgroupTree } from "../test/support/cgroupfs.ts";
import { testName } from "../test/support/names.ts";

export function makeTestCgroup(kind: string): string {
  const unified = hostCgroupMounts().unified;
  if (!unified) throw new Error("cgroup2 is not mounted on the host");
  const dir = join(unified, testName(kind));
  mkdirSync(dir);
  registerCleanup(async () => {
    await removeCgroupTree(dir);
  }, `cgroup ${dir}`);
  return dir;
}
