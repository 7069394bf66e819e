// getxattr/setxattr/removexattr on a fresh cgroup2 directory (cgroupfs keeps
// trusted.* attributes, which is where device-mounter keeps its records).
import { beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { cleanupAfterAll } from "../test/support/cleanup.ts";
import { requireRoot } from "../test/support/prereqs.ts";
import { loadNative } from "./index.ts";
import { makeTestCgroup } from "./test-cgroup.ts";
import { caught } from "./test-errors.ts";

cleanupAfterAll();
const ready = requireRoot(["root", "cgroup2"]);
const native = loadNative();

describe.skipIf(!ready)("xattr functions", () => {
  const name = "trusted.dm-test.record";
  let cgroup: string;

  beforeAll(() => {
    cgroup = makeTestCgroup("native-xattr");
  });

  test("getxattr of a missing attribute is null", () => {
    expect(native.getxattr(cgroup, name)).toBeNull();
  });

  test("setxattr then getxattr round-trips the exact bytes, as a plain Uint8Array", () => {
    const value = new Uint8Array([0, 1, 2, 0x7f, 0x80, 0xff, 0]);
    native.setxattr(cgroup, name, value);
    const read = native.getxattr(cgroup, name);
    expect(read).toEqual(value);
    expect(Object.getPrototypeOf(read)).toBe(Uint8Array.prototype);
  });

  test("setxattr replaces the value, a Buffer works too, and an empty value reads back empty", () => {
    const longer = Buffer.from(JSON.stringify({ devices: ["/dev/dm-test".repeat(50)] }));
    native.setxattr(cgroup, name, longer);
    expect(native.getxattr(cgroup, name)).toEqual(new Uint8Array(longer));
    native.setxattr(cgroup, name, new Uint8Array(0));
    expect(native.getxattr(cgroup, name)).toEqual(new Uint8Array(0));
  });

  test("removexattr removes the attribute, and removing it again is no error", () => {
    native.removexattr(cgroup, name);
    expect(native.getxattr(cgroup, name)).toBeNull();
    native.removexattr(cgroup, name);
  });

  test("errors carry code, errno, syscall and path", () => {
    const missing = join(cgroup, "dm-test-missing");
    const error = caught(() => native.getxattr(missing, name));
    expect(error.message).toBe(`ENOENT: no such file or directory, getxattr '${missing}'`);
    expect(error).toMatchObject({ code: "ENOENT", errno: -2, syscall: "getxattr", path: missing });
    expect(caught(() => native.setxattr(missing, name, new Uint8Array(1)))).toMatchObject({ code: "ENOENT", syscall: "setxattr" });
    expect(caught(() => native.removexattr(missing, name))).toMatchObject({ code: "ENOENT", syscall: "removexattr" });
    expect(caught(() => native.setxattr(cgroup, "dm-test-no-namespace.x", new Uint8Array(1)))).toMatchObject({ code: "EOPNOTSUPP" });
  });
});
