// ns* functions against a real mount namespace: a helper process unshares
// its mount namespace, mounts a private tmpfs and chroots into it, so its
// root is a directory the host cannot see at any path except through
// /proc/<pid>/root. It also mounts a procfs (of the host's PID namespace)
// inside, as a hostPID container would have: its magic links lead to the host.
import { beforeAll, describe, expect, test } from "bun:test";
import type { BigIntStats } from "node:fs";
import { existsSync, lstatSync, mkdirSync, readdirSync, readlinkSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { cleanupAfterAll, registerChildProcess } from "../test/support/cleanup.ts";
import { requireRoot } from "../test/support/prereqs.ts";
import { HOST_BUSYBOX } from "../test/support/rootfs.ts";
import { makeTempDir } from "../test/support/tempdir.ts";
import { isNativeError, loadNative } from "./index.ts";
import { descriptorsOpenedSince, openDescriptors } from "../test/support/descriptors.ts";
import { caught } from "./test-errors.ts";
import { splitDev } from "../agent/container/host-device.ts";

cleanupAfterAll();
const ready = requireRoot(["root", "busybox", "cgroup2"]);
const native = loadNative();

interface NamespaceHolder {
  pid: number;
  /** The holder's root as the host sees it. */
  hostView: string;
  /** Where its root tmpfs is mounted, a path that stays empty on the host. */
  mountPoint: string;
}

async function startNamespaceHolder(mountPoint: string): Promise<NamespaceHolder> {
  // "ready" is printed from inside the chroot, so the root is in place by then.
  const script = [
    'mount -t tmpfs dm-test "$0"',
    'cp "$1" "$0/busybox"',
    'mkdir "$0/proc"',
    'mount -t proc dm-test-proc "$0/proc"',
    'exec chroot "$0" /busybox sh -c "echo ready && exec /busybox sleep 1000"',
  ].join(" && ");
  const child: Subprocess<"ignore", "pipe", "pipe"> = Bun.spawn({
    cmd: ["unshare", "-m", "--propagation", "private", "sh", "-c", script, mountPoint, HOST_BUSYBOX],
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  registerChildProcess(child, `namespace holder ${child.pid}`);
  let output = "";
  const decoder = new TextDecoder();
  for await (const chunk of child.stdout) {
    output += decoder.decode(chunk);
    if (output.includes("ready\n")) return { pid: child.pid, hostView: `/proc/${child.pid}/root`, mountPoint };
  }
  throw new Error(`namespace holder exited before it was ready: ${await new Response(child.stderr).text()}`);
}

function rdevOf(stats: BigIntStats): [number, number] {
  const { major, minor } = splitDev(stats.rdev);
  return [major, minor];
}

describe.skipIf(!ready)("mount namespace functions", () => {
  let holder: NamespaceHolder;
  let hostTarget: string;
  const inHolder = (path: string) => join(holder.hostView, path);

  beforeAll(async () => {
    const dir = makeTempDir("native-ns");
    mkdirSync(join(dir.path, "mnt"));
    holder = await startNamespaceHolder(join(dir.path, "mnt"));
    // A host directory that symlinks planted in the namespace will name.
    hostTarget = makeTempDir("native-host-target").path;
  });

  test("nsMknod creates the parents and a char device with the exact mode and owner, inside the namespace only", () => {
    native.nsMknod(holder.pid, "/dev/dm-sub/dm-null", "c", 1, 3, 0o666, 1234, 5678, 0o711);

    const node = lstatSync(inHolder("/dev/dm-sub/dm-null"), { bigint: true });
    expect(node.isCharacterDevice()).toBe(true);
    expect(Number(node.mode & 0o7777n)).toBe(0o666); // not 0o644: umask 0 in the worker
    expect([Number(node.uid), Number(node.gid)]).toEqual([1234, 5678]);
    expect(rdevOf(node)).toEqual([1, 3]);
    for (const dir of ["/dev", "/dev/dm-sub"]) {
      const stats = lstatSync(inHolder(dir));
      expect(stats.isDirectory()).toBe(true);
      expect(stats.mode & 0o7777).toBe(0o711);
      expect([stats.uid, stats.gid]).toEqual([0, 0]);
    }
    // The same paths on the host: neither under the mount point nor at /.
    expect(existsSync(join(holder.mountPoint, "dev"))).toBe(false);
    expect(existsSync("/dev/dm-sub")).toBe(false);
  });

  test("nsMknod creates a block device with the largest major and minor", () => {
    native.nsMknod(holder.pid, "/dev/dm-blk", "b", 4095, 0xfffff, 0o600, 0, 0, 0o755);
    const node = lstatSync(inHolder("/dev/dm-blk"), { bigint: true });
    expect(node.isBlockDevice()).toBe(true);
    expect(rdevOf(node)).toEqual([4095, 0xfffff]);
    expect(Number(node.mode & 0o7777n)).toBe(0o600);
  });

  test("nsMknod keeps set-user/group-ID bits that chown would clear", () => {
    native.nsMknod(holder.pid, "/dev/dm-suid", "c", 1, 5, 0o6750, 1000, 1000, 0o755);
    expect(lstatSync(inHolder("/dev/dm-suid")).mode & 0o7777).toBe(0o6750);
  });

  test("nsMknod over an existing node fails with EEXIST at step mknod", () => {
    const error = caught(() => native.nsMknod(holder.pid, "/dev/dm-sub/dm-null", "c", 1, 3, 0o600, 0, 0, 0o755));
    expect(error.message).toBe("EEXIST: file exists, mknodat '/dev/dm-sub/dm-null'");
    expect(error).toMatchObject({ code: "EEXIST", errno: -17, syscall: "mknodat", path: "/dev/dm-sub/dm-null", step: "mknod" });
    // Untouched.
    expect(lstatSync(inHolder("/dev/dm-sub/dm-null")).mode & 0o7777).toBe(0o666);
  });

  test("nsMknod through a file where a directory is needed fails at step resolve", () => {
    writeFileSync(inHolder("/dm-file"), "");
    const error = caught(() => native.nsMknod(holder.pid, "/dm-file/x", "c", 1, 3, 0o600, 0, 0, 0o755));
    expect(error).toMatchObject({ code: "ENOTDIR", errno: -20, syscall: "openat2", path: "/dm-file", step: "resolve" });
  });

  test("an absolute symlink planted in the namespace resolves inside its root, never on the host", () => {
    mkdirSync(inHolder(hostTarget), { recursive: true });
    symlinkSync(hostTarget, inHolder("/dm-abs-link"));
    native.nsMknod(holder.pid, "/dm-abs-link/dm-null", "c", 1, 3, 0o600, 0, 0, 0o755);
    expect(lstatSync(inHolder(join(hostTarget, "dm-null"))).isCharacterDevice()).toBe(true);
    expect(readdirSync(hostTarget)).toEqual([]);
  });

  test("a symlink climbing with .. is clamped at the namespace's root", () => {
    symlinkSync(`../../../../../../../..${hostTarget}`, inHolder("/dev/dm-up-link"));
    native.nsMknod(holder.pid, "/dev/dm-up-link/dm-zero", "c", 1, 5, 0o600, 0, 0, 0o755);
    expect(lstatSync(inHolder(join(hostTarget, "dm-zero"))).isCharacterDevice()).toBe(true);
    expect(readdirSync(hostTarget)).toEqual([]);
  });

  test("a symlink to a directory that exists only on the host leads nowhere", () => {
    const hostOnly = join(hostTarget, "..", `${hostTarget.split("/").pop()}-only`);
    symlinkSync(hostOnly, inHolder("/dm-host-only-link"));
    const error = caught(() => native.nsMknod(holder.pid, "/dm-host-only-link/dm-null", "c", 1, 3, 0o600, 0, 0, 0o755));
    expect(error).toMatchObject({ code: "ENOENT", syscall: "openat2", path: "/dm-host-only-link", step: "resolve" });
    expect(existsSync(hostOnly)).toBe(false);
  });

  test("magic links (/proc/<pid>/root and the like) are refused with ELOOP, directly or behind a symlink", () => {
    // /proc/self/root here is the resolving thread's own root: the host's.
    expect(caught(() => native.nsMknod(holder.pid, `/proc/self/root${hostTarget}/dm-null`, "c", 1, 3, 0o600, 0, 0, 0o755))).toMatchObject({
      code: "ELOOP",
      syscall: "openat2",
      step: "resolve",
    });
    symlinkSync(`/proc/${process.pid}/root${hostTarget}`, inHolder("/dm-magic-link"));
    expect(caught(() => native.nsMknod(holder.pid, "/dm-magic-link/dm-null", "c", 1, 3, 0o600, 0, 0, 0o755))).toMatchObject({
      code: "ELOOP",
      path: "/dm-magic-link",
      step: "resolve",
    });
    expect(readdirSync(hostTarget)).toEqual([]);
  });

  test("a symlink as the final component is not followed by nsMknod", () => {
    symlinkSync(join(hostTarget, "dm-final"), inHolder("/dev/dm-final-link"));
    const error = caught(() => native.nsMknod(holder.pid, "/dev/dm-final-link", "c", 1, 3, 0o600, 0, 0, 0o755));
    expect(error).toMatchObject({ code: "EEXIST", step: "mknod" });
  });

  test("nsStat describes the node as lstat does", () => {
    const host = lstatSync(inHolder("/dev/dm-sub/dm-null"), { bigint: true });
    const { major: devMajor, minor: devMinor } = splitDev(host.dev);
    expect(native.nsStat(holder.pid, "/dev/dm-sub/dm-null")).toEqual({
      type: "c",
      mode: 0o666,
      uid: 1234,
      gid: 5678,
      rdevMajor: 1,
      rdevMinor: 3,
      devMajor,
      devMinor,
      ino: Number(host.ino),
    });
    expect(native.nsStat(holder.pid, "/dev/dm-sub").type).toBe("d");
    expect(native.nsStat(holder.pid, "/dm-file").type).toBe("f");
    expect(native.nsStat(holder.pid, "/dev/dm-final-link").type).toBe("l");
    expect(native.nsStat(holder.pid, "/dev//dm-sub/../dm-blk")).toMatchObject({ type: "b", rdevMajor: 4095, rdevMinor: 0xfffff });
  });

  test("nsStat of nothing fails with ENOENT at step stat, or at step resolve for a missing directory", () => {
    const missing = caught(() => native.nsStat(holder.pid, "/dev/dm-nothing"));
    expect(missing.message).toBe("ENOENT: no such file or directory, fstatat '/dev/dm-nothing'");
    expect(missing).toMatchObject({ code: "ENOENT", errno: -2, syscall: "fstatat", path: "/dev/dm-nothing", step: "stat" });
    const noParent = caught(() => native.nsStat(holder.pid, "/dm-no-dir/x"));
    expect(noParent).toMatchObject({ code: "ENOENT", syscall: "openat2", path: "/dm-no-dir", step: "resolve" });
  });

  test("nsChown changes the node, and a symlink itself rather than its target", () => {
    native.nsChown(holder.pid, "/dev/dm-blk", 42, 43);
    expect(lstatSync(inHolder("/dev/dm-blk"))).toMatchObject({ uid: 42, gid: 43 });

    symlinkSync("/dev/dm-blk", inHolder("/dm-blk-link"));
    native.nsChown(holder.pid, "/dm-blk-link", 7, 8);
    expect(lstatSync(inHolder("/dm-blk-link"))).toMatchObject({ uid: 7, gid: 8 });
    expect(lstatSync(inHolder("/dev/dm-blk"))).toMatchObject({ uid: 42, gid: 43 });
  });

  test("nsChmod changes the node's mode; through a symlink it refuses with EOPNOTSUPP", () => {
    native.nsChmod(holder.pid, "/dev/dm-blk", 0o640);
    expect(lstatSync(inHolder("/dev/dm-blk")).mode & 0o7777).toBe(0o640);

    const error = caught(() => native.nsChmod(holder.pid, "/dm-blk-link", 0o666));
    expect(error).toMatchObject({ code: "EOPNOTSUPP", syscall: "fchmodat", path: "/dm-blk-link", step: "chmod" });
    expect(lstatSync(inHolder("/dev/dm-blk")).mode & 0o7777).toBe(0o640);
  });

  test("nsChmod and nsChown of nothing fail with ENOENT at step resolve", () => {
    expect(caught(() => native.nsChmod(holder.pid, "/dev/dm-nothing", 0o600))).toMatchObject({
      code: "ENOENT",
      syscall: "openat",
      path: "/dev/dm-nothing",
      step: "resolve",
    });
    expect(caught(() => native.nsChown(holder.pid, "/dev/dm-nothing", 0, 0))).toMatchObject({ code: "ENOENT", step: "resolve" });
  });

  test("nsUnlink removes a node, removes a symlink but not its target, and never a directory", () => {
    native.nsUnlink(holder.pid, "/dev/dm-suid");
    expect(existsSync(inHolder("/dev/dm-suid"))).toBe(false);

    native.nsUnlink(holder.pid, "/dm-blk-link");
    expect(existsSync(inHolder("/dm-blk-link"))).toBe(false);
    expect(lstatSync(inHolder("/dev/dm-blk")).isBlockDevice()).toBe(true);

    expect(caught(() => native.nsUnlink(holder.pid, "/dev/dm-sub"))).toMatchObject({
      code: "EISDIR",
      syscall: "unlinkat",
      path: "/dev/dm-sub",
      step: "unlink",
    });
    expect(caught(() => native.nsUnlink(holder.pid, "/dev/dm-suid"))).toMatchObject({ code: "ENOENT", step: "unlink" });
  });

  test("nsBatch runs every operation in one namespace entry and reports each outcome on its own", () => {
    const results = native.nsBatch(holder.pid, [
      { op: "mknod", path: "/dev/dm-batch/a", kind: "b", major: 7, minor: 200, mode: 0o640, uid: 0, gid: 6, dirMode: 0o755 },
      { op: "stat", path: "/dev/dm-batch/a" },
      { op: "mknod", path: "/dev/dm-batch/a", kind: "b", major: 7, minor: 200, mode: 0o640, uid: 0, gid: 6, dirMode: 0o755 },
      { op: "unlink", path: "/dev/dm-batch/missing" },
      { op: "stat", path: "/dev/dm-batch/a" },
      { op: "unlink", path: "/dev/dm-batch/a" },
    ]);
    expect(results.map((r) => r.ok)).toEqual([true, true, false, false, true, true]);
    expect(results[1]).toMatchObject({ ok: true, stat: { type: "b", rdevMajor: 7, rdevMinor: 200, mode: 0o640, gid: 6 } });
    expect(results[2]).toMatchObject({ ok: false, error: { code: "EEXIST", syscall: "mknodat", path: "/dev/dm-batch/a", step: "mknod" } });
    expect(results[3]).toMatchObject({ ok: false, error: { code: "ENOENT", step: "unlink" } });
    expect(existsSync(inHolder("/dev/dm-batch/a"))).toBe(false);
    expect(existsSync(join(holder.mountPoint, "dev"))).toBe(false);
  });

  test("nsBatch mknod reports the node made, or what is in the way; a conditional unlink removes only that device", () => {
    const [made, again, other] = native.nsBatch(holder.pid, [
      { op: "mknod", path: "/dev/dm-cond", kind: "c", major: 1, minor: 3, mode: 0o600, uid: 0, gid: 0, dirMode: 0o755 },
      { op: "mknod", path: "/dev/dm-cond", kind: "c", major: 1, minor: 3, mode: 0o600, uid: 0, gid: 0, dirMode: 0o755 },
      { op: "mknod", path: "/dev", kind: "c", major: 1, minor: 3, mode: 0o600, uid: 0, gid: 0, dirMode: 0o755 },
    ]);
    const node = lstatSync(inHolder("/dev/dm-cond"));
    expect(made).toMatchObject({ ok: true, stat: { type: "c", rdevMajor: 1, rdevMinor: 3, ino: node.ino } });
    expect(again).toMatchObject({ ok: false, error: { code: "EEXIST" }, stat: { type: "c", rdevMajor: 1, rdevMinor: 3 } });
    expect(other).toMatchObject({ ok: false, error: { code: "EEXIST" }, stat: { type: "d" } });

    const [wrongDevice, rightDevice, gone] = native.nsBatch(holder.pid, [
      { op: "unlink", path: "/dev/dm-cond", kind: "c", major: 1, minor: 5 },
      { op: "unlink", path: "/dev/dm-cond", kind: "c", major: 1, minor: 3 },
      { op: "unlink", path: "/dev/dm-cond", kind: "c", major: 1, minor: 3 },
    ]);
    expect(wrongDevice).toMatchObject({ ok: true, removed: false, stat: { rdevMinor: 3 } });
    expect(rightDevice).toMatchObject({ ok: true, removed: true });
    expect(gone).toMatchObject({ ok: false, error: { code: "ENOENT" } });
    expect(existsSync(inHolder("/dev/dm-cond"))).toBe(false);
  });

  test("nsBatch checks every operation before running any", () => {
    expect(() => native.nsBatch(holder.pid, [{ op: "stat", path: "/dev/x" }, { op: "chmod", path: "/dev/x" } as never])).toThrow(
      'nsBatch: ops[1].op must be "stat", "mknod" or "unlink"',
    );
    expect(() =>
      native.nsBatch(holder.pid, [{ op: "mknod", path: "/dev/dm-never", kind: "b", major: 4096, minor: 0, mode: 0o600, uid: 0, gid: 0, dirMode: 0o755 }]),
    ).toThrow("nsBatch: ops[0].major must be an integer in [0, 4095]");
    expect(() => native.nsBatch(holder.pid, [{ op: "stat", path: "relative" }])).toThrow(TypeError);
    expect(() => native.nsBatch(holder.pid, {} as never)).toThrow(TypeError);
    expect(existsSync(inHolder("/dev/dm-never"))).toBe(false);
    expect(native.nsBatch(holder.pid, [])).toEqual([]);
  });

  test("a pid that does not exist fails at step open-ns", () => {
    const pid = 2 ** 30; // above any pid_max
    const error = caught(() => native.nsStat(pid, "/dev"));
    expect(error.message).toBe(`ENOENT: no such file or directory, open '/proc/${pid}/root'`);
    expect(error).toMatchObject({ code: "ENOENT", errno: -2, syscall: "open", path: `/proc/${pid}/root`, step: "open-ns" });
  });

  test("no descriptor stays open, whether a call succeeds or fails at any step", () => {
    const ignoreFailure = (call: () => unknown) => {
      try {
        call();
      } catch (error) {
        if (!isNativeError(error)) throw error;
      }
    };
    const before = openDescriptors();
    for (let round = 0; round < 20; round++) {
      native.nsMknod(holder.pid, "/dev/dm-leak/node", "c", 1, 3, 0o600, 0, 0, 0o755);
      ignoreFailure(() => native.nsMknod(holder.pid, "/dev/dm-leak/node", "c", 1, 3, 0o600, 0, 0, 0o755));
      ignoreFailure(() => native.nsMknod(holder.pid, "/dm-file/x/y", "c", 1, 3, 0o600, 0, 0, 0o755));
      native.nsChown(holder.pid, "/dev/dm-leak/node", 1, 1);
      native.nsChmod(holder.pid, "/dev/dm-leak/node", 0o640);
      native.nsStat(holder.pid, "/dev/dm-leak/node");
      native.nsUnlink(holder.pid, "/dev/dm-leak/node");
      ignoreFailure(() => native.nsStat(holder.pid, "/dev/dm-leak/node"));
      ignoreFailure(() => native.nsChmod(holder.pid, "/dev/dm-final-link", 0o600));
      ignoreFailure(() => native.nsStat(2 ** 30, "/x"));
    }
    expect(descriptorsOpenedSince(before)).toEqual([]);
  });

  test("the calling thread keeps its mount namespace, root, working directory and umask", () => {
    const namespaceBefore = readlinkSync("/proc/thread-self/ns/mnt");
    const cwdBefore = process.cwd();
    const umaskBefore = process.umask();
    native.nsMknod(holder.pid, "/dev/dm-thread-check", "c", 1, 3, 0o600, 0, 0, 0o755);
    expect(readlinkSync("/proc/thread-self/ns/mnt")).toBe(namespaceBefore);
    expect(process.cwd()).toBe(cwdBefore);
    expect(process.umask()).toBe(umaskBefore);
    expect(existsSync("/dev/dm-thread-check")).toBe(false);
  });
});
