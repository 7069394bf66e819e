// The device layer end to end on real runc containers, through the compiled
// binary run from "/": every case in both cgroup modes (v1 on the host's
// hybrid layout, v2 in a private mount namespace with cgroup2 at
// /sys/fs/cgroup, where runc attaches its own BPF allowlist).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { loadNative } from "../../native/index.ts";
import { cleanupAfterAll, registerCleanup } from "../support/cleanup.ts";
import { createLoopDevice, type LoopDevice } from "../support/loop.ts";
import { testName } from "../support/names.ts";
import { requireRoot } from "../support/prereqs.ts";
import { startContainer, type CgroupMode, type Container } from "../support/runc.ts";
import { deviceMounter, deviceMounterOk, requireBinary } from "./cli.ts";
import { startHolder } from "../support/holder.ts";

cleanupAfterAll();
const ready = requireRoot(["root", "runc", "busybox", "losetup", "cgroup-v1-devices", "cgroup2"]);
if (ready) requireBinary();

const EPERM = "Operation not permitted";

/** Reads up to 4096 bytes of a device inside the container. */
async function readInside(c: Container, path: string) {
  const r = await c.exec(["head", "-c", "4096", path]);
  return { code: r.code, bytes: Buffer.from(r.stdout), stderr: r.stderr };
}

/** Creates a node from the host side, bypassing device-mounter (as a container with CAP_MKNOD could). */
function mknodFromHost(c: Container, name: string, type: "b" | "c", major: number, minor: number) {
  const r = Bun.spawnSync(["mknod", `/proc/${c.pid}/root/dev/${name}`, type, String(major), String(minor)]);
  if (r.exitCode !== 0) throw new Error(`mknod failed: ${r.stderr.toString()}`);
}

function programIds(c: Container): number[] {
  return loadNative().bpfProgQuery(c.cgroup.unified).progIds;
}

for (const mode of ["v1", "v2"] as CgroupMode[]) {
  describe.skipIf(!ready)(`cgroup ${mode}`, () => {
    let loopA: LoopDevice;
    let loopB: LoopDevice;
    beforeAll(async () => {
      loopA = await createLoopDevice();
      loopB = await createLoopDevice();
    });
    afterAll(async () => {
      await loopA?.detach();
      await loopB?.detach();
    });

    async function container(): Promise<Container> {
      const c = await startContainer({ mode });
      registerCleanup(() => c.stop(), `container ${c.id}`);
      return c;
    }

    test("attach lets the container read the device's exact bytes; runc's devices still work, others stay denied", async () => {
      const c = await container();
      const before = await readInside(c, "/dev/data");
      expect(before.code).not.toBe(0);
      expect(before.stderr).toContain("No such file or directory");

      const out = await deviceMounterOk("attach", "--pid", String(c.pid), `${loopA.path}:rw:/dev/data`);
      expect(out).toBe(`granted /dev/data (b ${loopA.major}:${loopA.minor} rw)\n`);

      const after = await readInside(c, "/dev/data");
      expect(after.code).toBe(0);
      expect(after.bytes.equals(Buffer.from(loopA.bytes))).toBe(true);

      const runcDevices = await c.execText(["sh", "-c", "echo x > /dev/null && head -c 3 /dev/zero | wc -c"]);
      expect(runcDevices).toMatchObject({ code: 0, stdout: "3\n" });

      mknodFromHost(c, "other", "b", loopB.major, loopB.minor);
      const other = await readInside(c, "/dev/other");
      expect(other.code).not.toBe(0);
      expect(other.stderr).toContain(EPERM);
    });

    test("a char device outside runc's allowlist (/dev/loop-control) becomes openable", async () => {
      const c = await container();
      const host = readFileSync("/sys/class/misc/loop-control/dev", "utf8").trim().split(":");
      mknodFromHost(c, "loop-control", "c", Number(host[0]), Number(host[1]));
      const denied = await c.execText(["sh", "-c", ": < /dev/loop-control"]);
      expect(denied.code).not.toBe(0);
      expect(denied.stderr).toContain(EPERM);

      // The node exists already (same device): device-mounter keeps it and grants the cgroup rule.
      await deviceMounterOk("attach", "--pid", String(c.pid), "/dev/loop-control");
      expect(await c.execText(["sh", "-c", ": < /dev/loop-control"])).toMatchObject({ code: 0 });

      // A node that was there before is never removed by a revoke.
      await deviceMounterOk("detach", "--pid", String(c.pid), "/dev/loop-control");
      expect(existsSync(`/proc/${c.pid}/root/dev/loop-control`)).toBe(true);
      expect((await c.execText(["sh", "-c", ": < /dev/loop-control"])).stderr).toContain(EPERM);
    });

    test("access r grants read only: a read-write open gets EPERM", async () => {
      const c = await container();
      await deviceMounterOk("attach", "--pid", String(c.pid), `${loopA.path}:r:/dev/ro`);
      const read = await readInside(c, "/dev/ro");
      expect(read.code).toBe(0);
      expect(read.bytes.equals(Buffer.from(loopA.bytes))).toBe(true);
      const write = await c.execText(["sh", "-c", "echo x 1<> /dev/ro"]);
      expect(write.code).not.toBe(0);
      expect(write.stderr).toContain(EPERM);
    });

    test("attaching twice is idempotent", async () => {
      const c = await container();
      await deviceMounterOk("attach", "--pid", String(c.pid), `${loopA.path}:rw:/dev/data`);
      const programsAfterFirst = programIds(c).length;
      expect(await deviceMounterOk("attach", "--pid", String(c.pid), `${loopA.path}:rw:/dev/data`)).toBe("nothing to change\n");
      const listed = JSON.parse(await deviceMounterOk("list", "--pid", String(c.pid), "-o", "json"));
      expect(listed.devices).toHaveLength(1);
      expect(listed.devices[0]).toMatchObject({ path: "/dev/data", type: "b", major: loopA.major, minor: loopA.minor, access: "rw" });
      // Granting never adds a program next to the runtime's: it replaces it.
      expect(programIds(c).length).toBe(programsAfterFirst);
      expect(programsAfterFirst).toBe(mode === "v2" ? 1 : 0);
      expect((await readInside(c, "/dev/data")).code).toBe(0);
    });

    test("concurrent runs on one container all land: none undoes another", async () => {
      const c = await container();
      const paths = [0, 1, 2, 3, 4, 5].map((i) => `/dev/concurrent${i}`);
      const attached = await Promise.all(paths.map((p) => deviceMounter("attach", "--pid", String(c.pid), `${loopA.path}:rw:${p}`)));
      expect(attached.map((r) => r.code)).toEqual(paths.map(() => 0));
      const listed = JSON.parse(await deviceMounterOk("list", "--pid", String(c.pid), "-o", "json"));
      expect(listed.devices.map((d: { path: string }) => d.path).sort()).toEqual(paths);
      for (const p of paths) expect((await readInside(c, p)).bytes.equals(Buffer.from(loopA.bytes))).toBe(true);

      const detached = await Promise.all(paths.map((p) => deviceMounter("detach", "--pid", String(c.pid), p)));
      expect(detached.map((r) => r.code)).toEqual(paths.map(() => 0));
      expect(await deviceMounterOk("list", "--pid", String(c.pid))).toBe("no devices granted by device-mounter\n");
      for (const p of paths) expect((await readInside(c, p)).stderr).toContain("No such file or directory");
    });

    test("detach removes the node and the access: a node re-created from the host is denied", async () => {
      const c = await container();
      await deviceMounterOk("attach", "--pid", String(c.pid), `${loopA.path}:rw:/dev/data`);
      expect(await deviceMounterOk("detach", "--pid", String(c.pid), "/dev/data")).toBe(`revoked /dev/data (b ${loopA.major}:${loopA.minor} rw)\n`);
      expect((await readInside(c, "/dev/data")).stderr).toContain("No such file or directory");
      mknodFromHost(c, "data", "b", loopA.major, loopA.minor);
      const again = await readInside(c, "/dev/data");
      expect(again.code).not.toBe(0);
      expect(again.stderr).toContain(EPERM);
      expect(await deviceMounterOk("list", "--pid", String(c.pid))).toBe("no devices granted by device-mounter\n");
    });

    test("detach of a device held open refuses and names the PID; --force ends the holder and removes the device", async () => {
      const c = await container();
      await deviceMounterOk("attach", "--pid", String(c.pid), `${loopA.path}:rw:/dev/data`);
      const holder = await startHolder(c, "/dev/data");

      const refused = await deviceMounter("detach", "--pid", String(c.pid), "/dev/data");
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain(`pid ${holder} (sleep)`);
      expect(refused.stderr).toContain("force");
      expect((await readInside(c, "/dev/data")).code).toBe(0);

      const forced = await deviceMounterOk("detach", "--pid", String(c.pid), "--force", "--grace-period", "2", "/dev/data");
      expect(forced).toContain(`ended pid ${holder} (sleep)`);
      const state: string = existsSync(`/proc/${holder}/stat`) ? (readFileSync(`/proc/${holder}/stat`, "utf8").split(") ")[1]?.[0] ?? "?") : "gone";
      expect(["gone", "Z"]).toContain(state);
      expect((await readInside(c, "/dev/data")).stderr).toContain("No such file or directory");
    });

    test("a fresh process lists and detaches what an earlier one attached (no local state)", async () => {
      const c = await container();
      await deviceMounterOk("attach", "--pid", String(c.pid), `${loopA.path}:rw:/dev/a`, `${loopB.path}:r:/dev/b`);
      const table = await deviceMounterOk("list", "--pid", String(c.pid));
      expect(table.split("\n")[0]).toMatch(/^PATH\s+DEVICE\s+ACCESS\s+MODE$/);
      expect(table).toContain(`/dev/a  b ${loopA.major}:${loopA.minor}`);
      expect(await deviceMounterOk("detach", "--pid", String(c.pid), loopB.path)).toBe(`revoked /dev/b (b ${loopB.major}:${loopB.minor} r)\n`);
      expect((await readInside(c, "/dev/a")).code).toBe(0);
      expect(await deviceMounterOk("detach", "--pid", String(c.pid), "--all")).toBe(`revoked /dev/a (b ${loopA.major}:${loopA.minor} rw)\n`);
      mknodFromHost(c, "a", "b", loopA.major, loopA.minor);
      expect((await readInside(c, "/dev/a")).stderr).toContain(EPERM);
    });

    test("a /dev symlink planted in the container cannot make it create a node on the host", async () => {
      const c = await container();
      const hostDir = `/tmp/${testName("escape")}`;
      mkdirSync(hostDir);
      registerCleanup(() => rmSync(hostDir, { recursive: true, force: true }), hostDir);
      expect(await c.execText(["ln", "-s", hostDir, "/dev/planted"])).toMatchObject({ code: 0 });

      // Dangling inside the container: refused, and nothing lands on the host.
      const dangling = await deviceMounter("attach", "--pid", String(c.pid), `${loopA.path}:rw:/dev/planted/data`);
      expect(dangling.code).toBe(1);
      expect(dangling.stderr).toContain("ENOENT from openat2 on /dev/planted");
      expect(readdirSync(hostDir)).toEqual([]);

      // Resolvable inside the container: the node is made there, never on the host.
      expect(await c.execText(["mkdir", "-p", hostDir])).toMatchObject({ code: 0 });
      await deviceMounterOk("attach", "--pid", String(c.pid), `${loopA.path}:rw:/dev/planted/data`);
      expect(readdirSync(hostDir)).toEqual([]);
      // It resolved inside the container's root instead (its /tmp is nodev, so only the node itself is checked).
      const inside = statSync(`/proc/${c.pid}/root${hostDir}/data`);
      expect(inside.isBlockDevice()).toBe(true);
      expect(inside.rdev).toBe(statSync(loopA.path).rdev);
      await deviceMounterOk("detach", "--pid", String(c.pid), "--all");
      expect(readdirSync(hostDir)).toEqual([]);
    });

    test("a failure after the cgroup grant rolls everything back", async () => {
      const c = await container();
      // The rootfs is read-only: creating /opt/dev fails after the cgroup rule is in place.
      const failed = await deviceMounter("attach", "--pid", String(c.pid), `${loopA.path}:rw:/opt/dev/data`);
      expect(failed.code).toBe(1);
      expect(failed.stderr).toBe("device-mounter attach: EROFS from mkdirat on /opt (step mkdir): read-only file system\n");
      expect(await deviceMounterOk("list", "--pid", String(c.pid))).toBe("no devices granted by device-mounter\n");
      mknodFromHost(c, "data", "b", loopA.major, loopA.minor);
      expect((await readInside(c, "/dev/data")).stderr).toContain(EPERM);
    });

    test("bad input gets a one-line error and exit 2 (usage) or 1 (failure)", async () => {
      const c = await container();
      expect(await deviceMounter("attach", "--pid", String(c.pid))).toMatchObject({ code: 2, stderr: "device-mounter attach: name at least one DEVICE[:ACCESS[:CONTAINER_PATH]]\n" });
      expect(await deviceMounter("attach", "--pid", "abc", "/dev/null")).toMatchObject({ code: 2, stderr: 'device-mounter attach: --pid "abc" is not a process ID\n' });
      expect(await deviceMounter("attach", "--pid", String(c.pid), `${loopA.path}:rx`)).toMatchObject({ code: 2 });
      expect(await deviceMounter("attach", "--pid", String(c.pid), "/etc/passwd")).toMatchObject({ code: 1, stderr: "device-mounter attach: /etc/passwd is not a character or block device\n" });
      expect(await deviceMounter("attach", "--pid", String(c.pid), "/dev/nope")).toMatchObject({ code: 1, stderr: "device-mounter attach: ENOENT from stat on /dev/nope: no such file or directory\n" });
      expect(await deviceMounter("detach", "--pid", String(c.pid), "/dev/never")).toMatchObject({ code: 1 });
      expect(await deviceMounter("frobnicate")).toMatchObject({ code: 2 });
    });
  });
}

describe.skipIf(!ready)("cgroup v2: never fails open", () => {
  test("with a second device program attached, attach refuses and changes nothing", async () => {
    const loop = await createLoopDevice();
    registerCleanup(() => loop.detach(), loop.path);
    const c = await startContainer({ mode: "v2" });
    registerCleanup(() => c.stop(), c.id);
    const native = loadNative();
    // allow-all: r0 = 1; exit
    const extra = native.bpfProgLoad(new Uint8Array([0xb7, 0, 0, 0, 1, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0]), "dm_test_extra", "GPL");
    try {
      native.bpfProgAttach(c.cgroup.unified, extra, 2, -1);
      const refused = await deviceMounter("attach", "--pid", String(c.pid), `${loop.path}:rw:/dev/data`);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain("2 device programs are attached");
      expect((await c.execText(["head", "-c", "1", "/dev/data"])).stderr).toContain("No such file or directory");
      native.bpfProgDetach(c.cgroup.unified, extra);
    } finally {
      native.close(extra);
    }
  });

  test("revoking everything reloads the runtime's program instruction for instruction", async () => {
    const loop = await createLoopDevice();
    registerCleanup(() => loop.detach(), loop.path);
    const c = await startContainer({ mode: "v2" });
    registerCleanup(() => c.stop(), c.id);
    const native = loadNative();
    const insnsOf = () => {
      const [id] = native.bpfProgQuery(c.cgroup.unified).progIds;
      const fd = native.bpfProgGetFdById(id!);
      try {
        const info = native.bpfProgInfo(fd);
        return { name: info.name, insns: Buffer.from(info.insns) };
      } finally {
        native.close(fd);
      }
    };
    const original = insnsOf();
    await deviceMounterOk("attach", "--pid", String(c.pid), `${loop.path}:rw:/dev/data`);
    const granted = insnsOf();
    expect(granted.name).toBe("device_mounter");
    expect(granted.insns.subarray(granted.insns.length - original.insns.length).equals(original.insns)).toBe(true);
    await deviceMounterOk("detach", "--pid", String(c.pid), "--all");
    expect(insnsOf().insns.equals(original.insns)).toBe(true);
  });
});
