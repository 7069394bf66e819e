// Tests of the harness itself, on the real kernel with real runc.
import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join, posix } from "node:path";
import { deviceBpfProgramsOf } from "./cgroup-bpf.ts";
import { allHierarchyRoots, cgroupsOfProcess } from "./cgroupfs.ts";
import { cleanupAfterAll, cleanupAll, pendingCleanupLabels, registerChildProcess, sweepLeftovers } from "./cleanup.ts";
import { runCommandOk } from "./command.ts";
import { createLoopDevice, type LoopDevice } from "./loop.ts";
import { testName } from "./names.ts";
import { requireRoot } from "./prereqs.ts";
import { startContainer, type CgroupMode, type Container } from "./runc.ts";
import { RUNC_ROOTS, runRunc } from "./runc-cli.ts";

const ok = requireRoot(["root", "runc", "busybox", "losetup", "cgroup-v1-devices", "cgroup2"]);
cleanupAfterAll();
afterEach(cleanupAll);

const MODES: CgroupMode[] = ["v1", "v2"];
const TIMEOUT_MS = 20_000;
const OUR_PREFIX = `dm-test-${process.pid}-`;
const IN_CONTAINER_LOOP = "/dev/dm-test-loop";

/** Every host dir where a cgroup at `cgroupsPath` exists. */
function existingCgroupDirs(cgroupsPath: string): string[] {
  return allHierarchyRoots()
    .map((root) => posix.join(root, cgroupsPath))
    .filter((dir) => existsSync(dir));
}

function cgroupDirsNamed(fragment: string, dir: string, depth = 1): string[] {
  if (depth > 6) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .flatMap((entry) => {
      const child = join(dir, entry.name);
      return [...(entry.name.includes(fragment) ? [child] : []), ...cgroupDirsNamed(fragment, child, depth + 1)];
    });
}

function isRunningProcess(pid: number): boolean {
  try {
    // Field 3 of /proc/<pid>/stat is the state; a zombie (Z) has exited.
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

async function runcIds(mode: CgroupMode): Promise<string[]> {
  const listed = await runRunc(mode, ["list", "--format", "json"]);
  expect(listed.stderr).toBe("");
  const parsed = JSON.parse(new TextDecoder().decode(listed.stdout) || "null") as Array<{ id: string }> | null;
  return (parsed ?? []).map((container) => container.id);
}

async function loopBackingFiles(): Promise<string[]> {
  const { stdout } = await runCommandOk(["losetup", "--list", "--noheadings", "--output", "BACK-FILE"]);
  return new TextDecoder().decode(stdout).split("\n").map((line) => line.trim()).filter((line) => line !== "");
}

/** Puts a node for `loop` into the container's /dev from the host, bypassing runc. */
async function mknodFromHost(container: Container, loop: LoopDevice): Promise<void> {
  const hostPath = `/proc/${container.pid}/root${IN_CONTAINER_LOOP}`;
  await runCommandOk(["mknod", hostPath, "b", String(loop.major), String(loop.minor)]);
}

function systemdStyleCgroupsPath(id: string): { cgroupsPath: string; podSlice: string } {
  const podSlice = `kubepods-besteffort-pod${crypto.randomUUID().replaceAll("-", "_")}.slice`;
  return {
    podSlice,
    cgroupsPath: `/kubepods.slice/kubepods-besteffort.slice/${podSlice}/cri-containerd-${id}.scope`,
  };
}

describe.skipIf(!ok)("runc containers", () => {
  for (const mode of MODES) {
    describe(`cgroup ${mode}`, () => {
      test(
        "starts, runs exec, and reports cgroup dirs that exist on the host",
        async () => {
          const container = await startContainer({ mode });

          const inside = await container.execText(["cat", "/proc/self/cgroup"]);
          expect(inside.stderr).toBe("");
          expect(inside.code).toBe(0);
          expect(inside.stdout).toContain(`\n0::${container.cgroupsPath}\n`);

          const hostView = cgroupsOfProcess(container.pid);
          expect(hostView.get("")).toBe(container.cgroupsPath);
          expect(existsSync(container.cgroup.unified)).toBe(true);
          expect(readFileSync(join(container.cgroup.unified, "cgroup.procs"), "utf8")).toContain(`${container.pid}\n`);
          if (mode === "v1") {
            expect(hostView.get("devices")).toBe(container.cgroupsPath);
            expect(inside.stdout).toContain(`:devices:${container.cgroupsPath}\n`);
            expect(readFileSync(join(container.cgroup.v1Devices ?? "", "cgroup.procs"), "utf8")).toContain(`${container.pid}\n`);
          } else {
            expect(container.cgroup.v1Devices).toBeUndefined();
            // v2 runc leaves the v1 hierarchies alone: the container stays in the caller's devices cgroup.
            expect(hostView.get("devices")).toBe(cgroupsOfProcess(process.pid).get("devices"));
          }
        },
        TIMEOUT_MS,
      );

      test(
        mode === "v2" ? "runc attached a BPF device program" : "runc enforces devices without BPF",
        async () => {
          const container = await startContainer({ mode });
          const { programIds } = deviceBpfProgramsOf(container.cgroup.unified);
          expect(programIds.length).toBe(mode === "v2" ? 1 : 0);
          if (mode === "v1") expect(readFileSync(join(container.cgroup.v1Devices ?? "", "devices.list"), "utf8")).toContain("c 1:3 rwm");
        },
        TIMEOUT_MS,
      );

      test(
        "/dev/null works inside",
        async () => {
          const container = await startContainer({ mode });
          const result = await container.execText(["sh", "-c", "echo discarded > /dev/null && wc -c < /dev/null"]);
          expect(result).toEqual({ code: 0, stdout: "0\n", stderr: "" });
        },
        TIMEOUT_MS,
      );

      test(
        "a device node outside the allowlist cannot be opened (EPERM)",
        async () => {
          const loop = await createLoopDevice();
          const container = await startContainer({ mode });
          await mknodFromHost(container, loop);

          const listed = await container.execText(["stat", "-c", "%F %t:%T", IN_CONTAINER_LOOP]);
          expect(listed.stdout).toBe(`block special file ${loop.major.toString(16)}:${loop.minor.toString(16)}\n`);
          const read = await container.exec(["head", "-c", "4096", IN_CONTAINER_LOOP]);
          expect(read.stderr).toContain("Operation not permitted");
          expect(read.code).not.toBe(0);
          expect(read.stdout.length).toBe(0);
        },
        TIMEOUT_MS,
      );

      test(
        "a container started with the loop device reads its known bytes",
        async () => {
          const loop = await createLoopDevice();
          const container = await startContainer({
            mode,
            devices: [{ path: IN_CONTAINER_LOOP, type: "b", major: loop.major, minor: loop.minor }],
          });
          const read = await container.exec(["head", "-c", "4096", IN_CONTAINER_LOOP]);
          expect(read.stderr).toBe("");
          expect(read.code).toBe(0);
          expect(Buffer.from(read.stdout).equals(Buffer.from(loop.bytes))).toBe(true);
        },
        TIMEOUT_MS,
      );

      test(
        "a systemd-style cgroupsPath works and stop() removes the whole chain it created",
        async () => {
          const id = testName("ctr");
          const { cgroupsPath, podSlice } = systemdStyleCgroupsPath(id);
          const kubepodsExistedBefore = existingCgroupDirs("/kubepods.slice");
          const container = await startContainer({ mode, id, cgroupsPath });

          const inside = await container.execText(["cat", "/proc/self/cgroup"]);
          expect(inside.stdout).toContain(`\n0::${cgroupsPath}\n`);
          expect(existsSync(container.cgroup.unified)).toBe(true);
          expect(container.cgroup.unified.endsWith(cgroupsPath)).toBe(true);
          if (mode === "v1") expect(existsSync(container.cgroup.v1Devices ?? "")).toBe(true);

          await container.stop();
          expect(existingCgroupDirs(cgroupsPath)).toEqual([]);
          expect(existingCgroupDirs(`/kubepods.slice/kubepods-besteffort.slice/${podSlice}`)).toEqual([]);
          // Parents shared with a concurrent run may stay; those we created must not.
          for (const dir of existingCgroupDirs("/kubepods.slice")) expect(kubepodsExistedBefore).toContain(dir);
        },
        TIMEOUT_MS,
      );

      test(
        "stop() leaves no runc state, cgroup dir or bundle, and is idempotent",
        async () => {
          const container = await startContainer({ mode });
          const leafDirs = existingCgroupDirs(container.cgroupsPath);
          expect(leafDirs.length).toBe(mode === "v1" ? allHierarchyRoots().length : 1);
          expect(await container.state()).toBe("running");

          await container.stop();
          expect(await container.state()).toBe("gone");
          expect(existsSync(join(RUNC_ROOTS[mode], container.id))).toBe(false);
          expect(existingCgroupDirs(container.cgroupsPath)).toEqual([]);
          expect(existsSync(container.bundle)).toBe(false);
          expect(isRunningProcess(container.pid)).toBe(false);
          expect(pendingCleanupLabels().some((label) => label.includes(container.id))).toBe(false);
          await container.stop();
        },
        TIMEOUT_MS,
      );

      test(
        "kill() ends the init process and state() then reports stopped",
        async () => {
          const container = await startContainer({ mode });
          await container.kill("SIGKILL");
          // runc state reads kernel process state; there is no event to await.
          const deadline = Date.now() + 5_000;
          while ((await container.state()) !== "stopped" && Date.now() < deadline) await Bun.sleep(20);
          expect(await container.state()).toBe("stopped");
        },
        TIMEOUT_MS,
      );
    });
  }

  test(
    "exec passes stdin through, returns raw stdout bytes and the exit code",
    async () => {
      const container = await startContainer({ mode: "v1" });
      const allBytes = Uint8Array.from({ length: 256 }, (_, index) => index);
      const echoed = await container.exec(["cat"], { stdin: allBytes });
      expect(echoed.code).toBe(0);
      expect(Buffer.from(echoed.stdout).equals(Buffer.from(allBytes))).toBe(true);

      const failed = await container.execText(["sh", "-c", "echo oops >&2; exit 7"]);
      expect(failed).toEqual({ code: 7, stdout: "", stderr: "oops\n" });
    },
    TIMEOUT_MS,
  );

  test(
    "exec rejects when it runs past its timeout",
    async () => {
      const container = await startContainer({ mode: "v2" });
      await expect(container.exec(["sleep", "30"], { timeoutMs: 300 })).rejects.toThrow(/timed out after 300 ms/);
    },
    TIMEOUT_MS,
  );

  test(
    "the rootfs is read-only by default; readonlyRootfs: false gives a private writable copy",
    async () => {
      const shared = await startContainer({ mode: "v1" });
      const refused = await shared.execText(["touch", "/etc/dm-test-written"]);
      expect(refused.stderr).toContain("Read-only file system");

      const writable = await startContainer({ mode: "v1", readonlyRootfs: false });
      expect(await writable.execText(["touch", "/etc/dm-test-written"])).toEqual({ code: 0, stdout: "", stderr: "" });
      expect(existsSync(join(writable.bundle, "rootfs/etc/dm-test-written"))).toBe(true);
      expect((await shared.execText(["ls", "/etc/dm-test-written"])).code).not.toBe(0);
    },
    TIMEOUT_MS,
  );

  test(
    "a failing container start names the container and runc's error",
    async () => {
      await expect(startContainer({ mode: "v1", args: ["/bin/no-such-binary"] })).rejects.toThrow(/runc run dm-test-.*no-such-binary/s);
      expect(pendingCleanupLabels().filter((label) => label.startsWith("container"))).toEqual([]);
    },
    TIMEOUT_MS,
  );
});

describe.skipIf(!ok)("loop devices", () => {
  test("expose the known bytes at offset 0 and detach without a trace", async () => {
    const pattern = new TextEncoder().encode("dm-test known bytes");
    const loop = await createLoopDevice({ sizeBytes: 64 * 1024, pattern });
    expect(loop.path).toMatch(/^\/dev\/loop\d+$/);
    expect(loop.bytes.length).toBe(4096);
    expect(Buffer.from(loop.bytes.subarray(0, pattern.length)).equals(Buffer.from(pattern))).toBe(true);
    expect(loop.bytes.subarray(pattern.length).every((byte) => byte === 0)).toBe(true);

    const onHost = readFileSync(loop.path).subarray(0, 4096);
    expect(Buffer.from(onHost).equals(Buffer.from(loop.bytes))).toBe(true);
    expect(statSync(loop.path).isBlockDevice()).toBe(true);
    expect(readFileSync(`/sys/block/${basename(loop.path)}/dev`, "utf8").trim()).toBe(`${loop.major}:${loop.minor}`);
    expect(await loopBackingFiles()).toContain(loop.backingFile);

    await loop.detach();
    expect(await loopBackingFiles()).not.toContain(loop.backingFile);
    expect(existsSync(loop.backingFile)).toBe(false);
    await loop.detach();
  });

  test("created concurrently, get distinct devices", async () => {
    const loops = await Promise.all([createLoopDevice(), createLoopDevice(), createLoopDevice()]);
    expect(new Set(loops.map((loop) => loop.path)).size).toBe(3);
  });
});

describe.skipIf(!ok)("sweepLeftovers", () => {
  test(
    "removes the containers, cgroups, loop devices and temp dirs of a run that was SIGKILLed",
    async () => {
      const crashed = Bun.spawn({
        cmd: [process.execPath, join(import.meta.dir, "fixtures/crashed-run.ts")],
        stdout: "pipe",
        stderr: "pipe",
      });
      registerChildProcess(crashed, `crashed-run fixture ${crashed.pid}`);
      const reader = crashed.stdout.getReader();
      let output = "";
      while (!output.includes("\n")) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`crashed-run fixture exited early: ${await new Response(crashed.stderr).text()}`);
        output += new TextDecoder().decode(value);
      }
      const kubepodsExistedBefore = existingCgroupDirs("/kubepods.slice");
      const made = JSON.parse(output) as {
        containers: Array<{ mode: CgroupMode; id: string; pid: number; bundle: string; cgroupsPath: string; cgroupDirs: string[] }>;
        loop: { path: string; backingFile: string };
      };
      crashed.kill("SIGKILL");
      await crashed.exited;
      for (const container of made.containers) expect(isRunningProcess(container.pid)).toBe(true);

      const report = await sweepLeftovers({ ownerPid: crashed.pid });
      expect(report.errors).toEqual([]);
      expect(report.containers.sort()).toEqual(made.containers.map((container) => `${container.mode}:${container.id}`).sort());
      expect(report.loopDevices).toEqual([`${made.loop.path} (${made.loop.backingFile})`]);
      for (const container of made.containers) {
        expect(await runcIds(container.mode)).not.toContain(container.id);
        expect(isRunningProcess(container.pid)).toBe(false);
        expect(existsSync(container.bundle)).toBe(false);
        for (const dir of container.cgroupDirs) expect(existsSync(dir)).toBe(false);
        // Parents runc created (/dm-test, the kubepods pod slice) go as well once empty.
        expect(existingCgroupDirs(posix.dirname(container.cgroupsPath))).not.toContain(expect.stringContaining("kubepods-besteffort-pod"));
      }
      for (const dir of existingCgroupDirs("/kubepods.slice")) expect(kubepodsExistedBefore).toContain(dir);
      expect(await loopBackingFiles()).not.toContain(made.loop.backingFile);
      const crashedPrefix = `dm-test-${crashed.pid}-`;
      expect(readdirSync(tmpdir()).filter((name) => name.startsWith(crashedPrefix))).toEqual([]);
      for (const root of allHierarchyRoots()) expect(cgroupDirsNamed(crashedPrefix, root)).toEqual([]);
    },
    TIMEOUT_MS,
  );
});

describe.skipIf(!ok)("after cleanupAll", () => {
  test(
    "nothing this file created is left",
    async () => {
      // Resources from every earlier test, left for the registry to remove.
      const loop = await createLoopDevice();
      await startContainer({ mode: "v1", devices: [{ path: IN_CONTAINER_LOOP, type: "b", major: loop.major, minor: loop.minor }] });
      await startContainer({ mode: "v2", cgroupsPath: systemdStyleCgroupsPath(testName("ctr")).cgroupsPath });

      await cleanupAll();

      expect(pendingCleanupLabels()).toEqual([]);
      expect((await loopBackingFiles()).filter((file) => file.includes(OUR_PREFIX))).toEqual([]);
      for (const mode of MODES) expect((await runcIds(mode)).filter((id) => id.startsWith(OUR_PREFIX))).toEqual([]);
      for (const root of allHierarchyRoots()) expect(cgroupDirsNamed(OUR_PREFIX, root)).toEqual([]);
      expect(readdirSync(tmpdir()).filter((name) => name.startsWith(OUR_PREFIX))).toEqual([]);
    },
    TIMEOUT_MS,
  );
});
