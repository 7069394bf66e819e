import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { describeError, UsageError } from "./errors.ts";

function errnoError(code: string, message: string, extra: Record<string, unknown>): Error {
  return Object.assign(new Error(message), { code, errno: -1, ...extra });
}

describe("describeError", () => {
  test("an errno error says the code, the call and where, then why", () => {
    const e = errnoError("EPERM", "EPERM: operation not permitted, bpf(BPF_PROG_ATTACH) '/sys/fs/cgroup/unified/x'", {
      syscall: "bpf(BPF_PROG_ATTACH)",
      path: "/sys/fs/cgroup/unified/x",
    });
    expect(describeError(e)).toBe("EPERM from bpf(BPF_PROG_ATTACH) on /sys/fs/cgroup/unified/x: operation not permitted");
  });

  test("the failing step of namespace work is named", () => {
    const e = errnoError("EROFS", "EROFS: read-only file system, mkdirat '/opt'", { syscall: "mkdirat", path: "/opt", step: "mkdir" });
    expect(describeError(e)).toBe("EROFS from mkdirat on /opt (step mkdir): read-only file system");
  });

  test("Node's own fs errors read the same way", () => {
    let caught: unknown;
    try {
      readFileSync("/nonexistent/dm-test");
    } catch (e) {
      caught = e;
    }
    expect(describeError(caught)).toBe("ENOENT from open on /nonexistent/dm-test: no such file or directory");
  });

  test("expected errors keep their message; anything else is marked unexpected", () => {
    expect(describeError(new UsageError("--pid is required"))).toBe("--pid is required");
    expect(describeError(new TypeError("x is not a function"))).toBe("unexpected TypeError: x is not a function");
    expect(describeError("boom")).toBe("unexpected failure: boom");
  });
});
