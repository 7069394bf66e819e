import { describe, expect, test } from "bun:test";
import { parseCgroupMounts, parseProcCgroup } from "./locate.ts";

const HYBRID = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`;

describe("parseCgroupMounts", () => {
  test("finds the v1 devices hierarchy and the cgroup2 mount in the hybrid layout", () => {
    expect(parseCgroupMounts(HYBRID)).toEqual([
      { hierarchy: "devices", mountPoint: "/sys/fs/cgroup/devices", root: "/" },
      { hierarchy: "", mountPoint: "/sys/fs/cgroup/unified", root: "/" },
    ]);
  });

  test("keeps the mount root of a cgroup namespace and unescapes octal escapes", () => {
    const text = "50 40 0:30 /kubepods/pod1 /host\\040cg rw - cgroup2 cgroup2 rw,nsdelegate\n";
    expect(parseCgroupMounts(text)).toEqual([{ hierarchy: "", mountPoint: "/host cg", root: "/kubepods/pod1" }]);
  });

  test("a controller co-mounted with devices still counts as the devices hierarchy", () => {
    const text = "36 31 0:33 / /sys/fs/cgroup/devices,memory rw - cgroup cgroup rw,devices,memory\n";
    expect(parseCgroupMounts(text)[0]).toMatchObject({ hierarchy: "devices", mountPoint: "/sys/fs/cgroup/devices,memory" });
  });
});

describe("parseProcCgroup", () => {
  test("maps each controller (and the cgroup2 entry) to its path", () => {
    const paths = parseProcCgroup("12:cpu,cpuacct:/a\n5:devices:/kubepods/pod1/c1\n1:name=systemd:/x\n0::/kubepods/pod1/c1\n");
    expect(paths.get("devices")).toBe("/kubepods/pod1/c1");
    expect(paths.get("cpuacct")).toBe("/a");
    expect(paths.get("")).toBe("/kubepods/pod1/c1");
    expect(paths.get("name=systemd")).toBe("/x");
  });
});
