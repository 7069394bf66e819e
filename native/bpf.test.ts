// bpf* functions against the real kernel on a fresh cgroup2 directory.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { closeSync, openSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cleanupAfterAll } from "../test/support/cleanup.ts";
import { requireRoot } from "../test/support/prereqs.ts";
import { loadNative } from "./index.ts";
import { makeTestCgroup } from "./test-cgroup.ts";
import { descriptorsOpenedSince, openDescriptors } from "../test/support/descriptors.ts";
import { caught } from "./test-errors.ts";

cleanupAfterAll();
const ready = requireRoot(["root", "cgroup2"]);
const native = loadNative();

const BPF_PROG_TYPE_CGROUP_DEVICE = 15;
const BPF_F_ALLOW_MULTI = 2;
const BPF_F_REPLACE = 4;

/** One eBPF instruction: opcode, dst/src registers, 16-bit offset, 32-bit immediate (little-endian). */
function insn(code: number, dst: number, src: number, offset: number, imm: number): Uint8Array {
  const bytes = new Uint8Array(8);
  const view = new DataView(bytes.buffer);
  view.setUint8(0, code);
  view.setUint8(1, (src << 4) | dst);
  view.setInt16(2, offset, true);
  view.setInt32(4, imm, true);
  return bytes;
}
const program = (...insns: Uint8Array[]) => new Uint8Array(insns.flatMap((each) => [...each]));
const MOV64_IMM = 0xb7;
const MOV64_REG = 0xbf;
const EXIT = 0x95;
const ALLOW_ALL = program(insn(MOV64_IMM, 0, 0, 0, 1), insn(EXIT, 0, 0, 0, 0));
const DENY_ALL = program(insn(MOV64_IMM, 0, 0, 0, 0), insn(EXIT, 0, 0, 0, 0));
// r0 = r2, but r2 was never written: the verifier rejects it.
const READS_UNINITIALISED = program(insn(MOV64_REG, 0, 2, 0, 0), insn(EXIT, 0, 0, 0, 0));

/** Runs `cat /dev/null` in the cgroup; returns its exit code and stderr. */
async function openDevNullIn(cgroup: string): Promise<{ code: number | null; stderr: string }> {
  // The shell waits on stdin until it has been moved into the cgroup.
  const child = Bun.spawn({ cmd: ["sh", "-c", "read _ && exec cat /dev/null"], stdin: "pipe", stdout: "ignore", stderr: "pipe" });
  try {
    writeFileSync(join(cgroup, "cgroup.procs"), String(child.pid));
    child.stdin.write("go\n");
    await child.stdin.end();
    const stderr = await new Response(child.stderr).text();
    return { code: await child.exited, stderr };
  } finally {
    child.kill("SIGKILL");
    await child.exited;
  }
}

describe.skipIf(!ready)("bpf functions", () => {
  let cgroup: string;
  const fds: number[] = [];
  let allowFd: number;
  let denyFd: number;

  beforeAll(() => {
    cgroup = makeTestCgroup("native-bpf");
  });

  afterAll(() => {
    for (const fd of fds) native.close(fd);
  });

  test("bpfProgLoad loads programs and bpfProgInfo gives back name, type, tag and instructions", () => {
    allowFd = native.bpfProgLoad(ALLOW_ALL, "dm_test_allow", "Apache-2.0");
    fds.push(allowFd);
    denyFd = native.bpfProgLoad(DENY_ALL, "dm_test.deny", "GPL");
    fds.push(denyFd);

    const allow = native.bpfProgInfo(allowFd);
    expect(allow).toMatchObject({ type: BPF_PROG_TYPE_CGROUP_DEVICE, name: "dm_test_allow" });
    expect(allow.id).toBeGreaterThan(0);
    expect(allow.tag).toMatch(/^[0-9a-f]{16}$/);
    expect(allow.insns).toEqual(ALLOW_ALL);
    const deny = native.bpfProgInfo(denyFd);
    expect(deny.name).toBe("dm_test.deny");
    expect(deny.insns).toEqual(DENY_ALL);
    expect(deny.id).not.toBe(allow.id);
    expect(deny.tag).not.toBe(allow.tag);
  });

  test("bpfProgLoad accepts an unnamed program", () => {
    const fd = native.bpfProgLoad(ALLOW_ALL, "", "GPL");
    try {
      expect(native.bpfProgInfo(fd).name).toBe("");
    } finally {
      native.close(fd);
    }
  });

  test("a fresh cgroup has no programs", () => {
    expect(native.bpfProgQuery(cgroup)).toEqual({ attachFlags: 0, progIds: [] });
  });

  test("bpfProgAttach with BPF_F_ALLOW_MULTI shows up in bpfProgQuery", () => {
    native.bpfProgAttach(cgroup, allowFd, BPF_F_ALLOW_MULTI, -1);
    expect(native.bpfProgQuery(cgroup)).toEqual({ attachFlags: BPF_F_ALLOW_MULTI, progIds: [native.bpfProgInfo(allowFd).id] });
  });

  test("bpfProgGetFdById opens the attached program by id", () => {
    const [id] = native.bpfProgQuery(cgroup).progIds;
    const fd = native.bpfProgGetFdById(id!);
    try {
      expect(native.bpfProgInfo(fd)).toMatchObject({ id, name: "dm_test_allow", insns: ALLOW_ALL });
    } finally {
      native.close(fd);
    }
  });

  test("BPF_F_REPLACE swaps the program in place", () => {
    native.bpfProgAttach(cgroup, denyFd, BPF_F_ALLOW_MULTI | BPF_F_REPLACE, allowFd);
    expect(native.bpfProgQuery(cgroup)).toEqual({ attachFlags: BPF_F_ALLOW_MULTI, progIds: [native.bpfProgInfo(denyFd).id] });
  });

  test("BPF_F_REPLACE naming a program that is not attached fails with ENOENT", () => {
    const error = caught(() => native.bpfProgAttach(cgroup, allowFd, BPF_F_ALLOW_MULTI | BPF_F_REPLACE, allowFd));
    expect(error.message).toBe(`ENOENT: no such file or directory, bpf(BPF_PROG_ATTACH) '${cgroup}'`);
    expect(error).toMatchObject({ code: "ENOENT", errno: -2, syscall: "bpf(BPF_PROG_ATTACH)", path: cgroup });
    expect(native.bpfProgQuery(cgroup).progIds).toEqual([native.bpfProgInfo(denyFd).id]);
  });

  test("the deny-all program denies opening /dev/null to a process in the cgroup", async () => {
    const { code, stderr } = await openDevNullIn(cgroup);
    expect(stderr).toContain("/dev/null: Operation not permitted");
    expect(code).not.toBe(0);
  });

  test("bpfProgDetach removes the program, and /dev/null opens again", async () => {
    native.bpfProgDetach(cgroup, denyFd);
    expect(native.bpfProgQuery(cgroup)).toEqual({ attachFlags: 0, progIds: [] });
    expect(await openDevNullIn(cgroup)).toEqual({ code: 0, stderr: "" });
  });

  test("bpfProgDetach of a program that is not attached fails with ENOENT", () => {
    expect(caught(() => native.bpfProgDetach(cgroup, denyFd))).toMatchObject({
      code: "ENOENT",
      syscall: "bpf(BPF_PROG_DETACH)",
      path: cgroup,
    });
  });

  test("an invalid program fails to load with the verifier's log", () => {
    const error = caught(() => native.bpfProgLoad(READS_UNINITIALISED, "dm_test_bad", "GPL"));
    expect(["EACCES", "EINVAL"]).toContain(error.code);
    expect(error.syscall).toBe("bpf(BPF_PROG_LOAD)");
    expect(error.message).toStartWith(`${error.code}: `);
    expect(error.verifierLog).toContain("R2 !read_ok");
  });

  test("a program without exit fails to load with the verifier's log", () => {
    const error = caught(() => native.bpfProgLoad(program(insn(MOV64_IMM, 0, 0, 0, 1)), "dm_test_noexit", "GPL"));
    expect(["EACCES", "EINVAL"]).toContain(error.code);
    expect(error.verifierLog).not.toBe("");
  });

  test("errors name the path and call", () => {
    const missing = join(cgroup, "dm-test-missing");
    expect(caught(() => native.bpfProgQuery(missing))).toMatchObject({ code: "ENOENT", syscall: "open", path: missing });
    expect(caught(() => native.bpfProgAttach(missing, allowFd, BPF_F_ALLOW_MULTI, -1))).toMatchObject({ code: "ENOENT", path: missing });
    expect(caught(() => native.bpfProgGetFdById(2 ** 32 - 1))).toMatchObject({ code: "ENOENT", syscall: "bpf(BPF_PROG_GET_FD_BY_ID)" });
    const file = openSync("/dev/null", "r");
    try {
      expect(caught(() => native.bpfProgInfo(file))).toMatchObject({ code: "EINVAL", syscall: "bpf(BPF_OBJ_GET_INFO_BY_FD)" });
    } finally {
      closeSync(file);
    }
  });

  test("no descriptor stays open after failed calls", () => {
    const before = openDescriptors();
    for (let round = 0; round < 20; round++) {
      caught(() => native.bpfProgLoad(READS_UNINITIALISED, "dm_test_bad", "GPL"));
      caught(() => native.bpfProgDetach(cgroup, denyFd));
      caught(() => native.bpfProgAttach(cgroup, allowFd, BPF_F_ALLOW_MULTI | BPF_F_REPLACE, denyFd));
      native.bpfProgQuery(cgroup);
    }
    expect(descriptorsOpenedSince(before)).toEqual([]);
  });

  test("close closes, and a second close fails with EBADF", () => {
    const fd = native.bpfProgGetFdById(native.bpfProgInfo(allowFd).id);
    native.close(fd);
    expect(caught(() => native.close(fd))).toMatchObject({ code: "EBADF", errno: -9, syscall: "close" });
  });
});
