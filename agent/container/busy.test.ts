import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findHolders, terminate } from "./busy.ts";

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** A /proc look-alike: pid → fds (symlinks to device nodes) and maps text. */
function fakeProc(processes: Record<number, { fds?: string[] | "unreadable"; maps?: string }>): string {
  const root = mkdtempSync(join(tmpdir(), "dm-test-proc-"));
  dirs.push(root);
  for (const [pid, p] of Object.entries(processes)) {
    mkdirSync(join(root, pid));
    writeFileSync(join(root, pid, "comm"), `proc${pid}\n`);
    writeFileSync(join(root, pid, "maps"), p.maps ?? "");
    // A file where the fd directory should be: reading it fails with ENOTDIR, as an unreadable one fails with EACCES.
    if (p.fds === "unreadable") writeFileSync(join(root, pid, "fd"), "");
    else {
      mkdirSync(join(root, pid, "fd"));
      (p.fds ?? []).forEach((target, i) => symlinkSync(target, join(root, pid, "fd", String(i))));
    }
  }
  return root;
}

describe("findHolders", () => {
  test("finds processes holding the device open or mapped, by rdev and by the node's identity", () => {
    const proc = fakeProc({
      10: { fds: ["/dev/null", "/dev/zero"] },
      11: { maps: "7f00-7f10 rw-s 00000000 00:05 4242 /dev/nvidia0\n" },
      12: { fds: ["/dev/zero"] },
    });
    const holders = findHolders([10, 11, 12], [{ type: "c", major: 1, minor: 3 }, { type: "c", major: 195, minor: 0, node: { devMajor: 0, devMinor: 5, ino: 4242 } }], proc);
    expect(holders).toEqual([
      { pid: 10, comm: "proc10", devices: ["c 1:3"] },
      { pid: 11, comm: "proc11", devices: ["c 195:0"] },
    ]);
  });

  test("a process that exited meanwhile holds nothing", () => {
    const proc = fakeProc({});
    expect(findHolders([99], [{ type: "c", major: 1, minor: 3 }], proc)).toEqual([]);
  });

  test("a process whose files cannot be read fails the check instead of passing it", () => {
    const proc = fakeProc({ 13: { fds: "unreadable" } });
    expect(() => findHolders([13], [{ type: "c", major: 1, minor: 3 }], proc)).toThrow("cannot tell whether pid 13 uses the device: reading its open files failed (ENOTDIR)");
  });
});

describe("terminate", () => {
  test("SIGKILL after the grace period ends a process that ignores SIGTERM", async () => {
    const child = Bun.spawn(["sh", "-c", "trap '' TERM; while :; do sleep 0.05; done"]);
    await Bun.sleep(100);
    await terminate([child.pid], 200);
    expect(await child.exited).not.toBe(0);
    expect(child.signalCode).toBe("SIGKILL");
  });
});
