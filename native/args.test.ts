// Argument checks run before any system call: wrong count or type → TypeError,
// a number out of range → RangeError, each naming the function and parameter.
import { describe, expect, test } from "bun:test";
import { isNativeError, loadNative } from "./index.ts";

const native = loadNative();
type Call = () => unknown;

function thrown(call: Call): unknown {
  try {
    call();
  } catch (error) {
    return error;
  }
  throw new Error("expected the call to throw");
}

const VALID_MKNOD = [1, "/dev/x", "c", 1, 3, 0o666, 0, 0, 0o755] as const;
function mknodWith(index: number, value: unknown): Call {
  const args: unknown[] = [...VALID_MKNOD];
  args[index] = value;
  return () => (native.nsMknod as (...a: unknown[]) => void)(...args);
}

describe("argument count", () => {
  const cases: [string, Call, string][] = [
    ["nsMknod without arguments", () => (native.nsMknod as () => void)(), "nsMknod(pid, path, kind, major, minor, mode, uid, gid, dirMode) takes 9 arguments, got 0"],
    ["nsStat with one too many", () => (native.nsStat as (...a: unknown[]) => void)(1, "/x", 3), "nsStat(pid, path) takes 2 arguments, got 3"],
    ["bpfProgAttach without replaceFd", () => (native.bpfProgAttach as (...a: unknown[]) => void)("/sys/fs/cgroup/unified", 3, 2), "bpfProgAttach(cgroupPath, progFd, flags, replaceFd) takes 4 arguments, got 3"],
    ["close without fd", () => (native.close as () => void)(), "close(fd) takes 1 arguments, got 0"],
    ["getxattr with one", () => (native.getxattr as (...a: unknown[]) => void)("/x"), "getxattr(path, name) takes 2 arguments, got 1"],
    ["lockDirectory without a path", () => (native.lockDirectory as unknown as () => void)(), "lockDirectory(path) takes 1 arguments, got 0"],
  ];
  test.each(cases)("%s → TypeError", (_, call, message) => {
    const error = thrown(call);
    expect(error).toBeInstanceOf(TypeError);
    expect((error as Error).message).toBe(message);
    expect(isNativeError(error)).toBe(false);
  });
});

describe("argument types and ranges", () => {
  const typeErrors: [string, Call, string][] = [
    ["pid as a string", mknodWith(0, "1"), 'nsMknod: pid must be an integer in [1, 2147483647], got "1"'],
    ["pid as a bigint", mknodWith(0, 1n), "nsMknod: pid must be an integer in [1, 2147483647], got a bigint"],
    ["path empty", mknodWith(1, ""), 'nsMknod: path must be a non-empty string without NUL characters, got ""'],
    ["path with NUL", mknodWith(1, "/dev/x\0y"), 'nsMknod: path must be a non-empty string without NUL characters, got "/dev/x\\0y"'],
    ["path relative", mknodWith(1, "dev/x"), 'nsMknod: path must be an absolute path whose last component is a name (not "." or ".."), got "dev/x"'],
    ["path /", mknodWith(1, "/"), 'nsMknod: path must be an absolute path whose last component is a name (not "." or ".."), got "/"'],
    ["path ending in /.", mknodWith(1, "/dev/."), 'nsMknod: path must be an absolute path whose last component is a name (not "." or ".."), got "/dev/."'],
    ["path ending in /..", mknodWith(1, "/dev/.."), 'nsMknod: path must be an absolute path whose last component is a name (not "." or ".."), got "/dev/.."'],
    ["path ending in /", mknodWith(1, "/dev/x/"), 'nsMknod: path must be an absolute path whose last component is a name (not "." or ".."), got "/dev/x/"'],
    ["kind other than c/b", mknodWith(2, "p"), 'nsMknod: kind must be "c" or "b", got "p"'],
    ["major as null", mknodWith(3, null), "nsMknod: major must be an integer in [0, 4095], got null"],
    ["bpfProgLoad insns as an array", () => native.bpfProgLoad([0xb7] as unknown as Uint8Array, "x", "GPL"), "bpfProgLoad: insns must be a Uint8Array, got an array"],
    ["bpfProgLoad insns as Uint16Array", () => native.bpfProgLoad(new Uint16Array(8) as unknown as Uint8Array, "x", "GPL"), "bpfProgLoad: insns must be a Uint8Array, got a Uint16Array of 16 bytes"],
    ["bpfProgLoad name too long", () => native.bpfProgLoad(new Uint8Array(16), "a".repeat(16), "GPL"), `bpfProgLoad: name must be at most 15 characters of [A-Za-z0-9_.], got "${"a".repeat(16)}"`],
    ["bpfProgLoad name with a dash", () => native.bpfProgLoad(new Uint8Array(16), "dm-test", "GPL"), 'bpfProgLoad: name must be at most 15 characters of [A-Za-z0-9_.], got "dm-test"'],
    ["bpfProgLoad name with NUL", () => native.bpfProgLoad(new Uint8Array(16), "x\0", "GPL"), 'bpfProgLoad: name must be a string without NUL characters, got "x\\0"'],
    ["bpfProgLoad name as undefined", () => native.bpfProgLoad(new Uint8Array(16), undefined as unknown as string, "GPL"), "bpfProgLoad: name must be a string without NUL characters, got undefined"],
    ["bpfProgLoad license with NUL", () => native.bpfProgLoad(new Uint8Array(16), "x", "G\0PL"), 'bpfProgLoad: license must be a non-empty string without NUL characters, got "G\\0PL"'],
    ["close fd as a string", () => (native.close as (fd: unknown) => void)("3"), 'close: fd must be an integer in [0, 2147483647], got "3"'],
    ["setxattr value as a string", () => native.setxattr("/x", "trusted.x", "v" as unknown as Uint8Array), 'setxattr: value must be a Uint8Array, got "v"'],
    ["getxattr name as a number", () => (native.getxattr as (...a: unknown[]) => void)("/x", 1), "getxattr: name must be a non-empty string without NUL characters, got 1"],
  ];
  test.each(typeErrors)("%s → TypeError", (_, call, message) => {
    const error = thrown(call);
    expect(error).toBeInstanceOf(TypeError);
    expect((error as Error).message).toBe(message);
  });

  const rangeErrors: [string, Call, string][] = [
    ["pid 0", mknodWith(0, 0), "nsMknod: pid must be an integer in [1, 2147483647], got 0"],
    ["pid 1.5", mknodWith(0, 1.5), "nsMknod: pid must be an integer in [1, 2147483647], got 1.5"],
    ["pid NaN", mknodWith(0, NaN), "nsMknod: pid must be an integer in [1, 2147483647], got NaN"],
    ["major 4096 (12 bits)", mknodWith(3, 4096), "nsMknod: major must be an integer in [0, 4095], got 4096"],
    ["minor 2^20 (20 bits)", mknodWith(4, 1 << 20), "nsMknod: minor must be an integer in [0, 1048575], got 1048576"],
    ["mode 0o10000", mknodWith(5, 0o10000), "nsMknod: mode must be an integer in [0, 4095], got 4096"],
    ["uid -1", mknodWith(6, -1), "nsMknod: uid must be an integer in [0, 4294967294], got -1"],
    ["gid 2^32-1 (means 'unchanged' to chown)", mknodWith(7, 2 ** 32 - 1), "nsMknod: gid must be an integer in [0, 4294967294], got 4294967295"],
    ["dirMode Infinity", mknodWith(8, Infinity), "nsMknod: dirMode must be an integer in [0, 4095], got Infinity"],
    ["bpfProgLoad 7 bytes", () => native.bpfProgLoad(new Uint8Array(7), "x", "GPL"), "bpfProgLoad: insns must be 1 to 4096 instructions of 8 bytes each, got a Uint8Array of 7 bytes"],
    ["bpfProgLoad no bytes", () => native.bpfProgLoad(new Uint8Array(0), "x", "GPL"), "bpfProgLoad: insns must be 1 to 4096 instructions of 8 bytes each, got a Uint8Array of 0 bytes"],
    ["bpfProgLoad 4097 instructions", () => native.bpfProgLoad(new Uint8Array(4097 * 8), "x", "GPL"), "bpfProgLoad: insns must be 1 to 4096 instructions of 8 bytes each, got a Uint8Array of 32776 bytes"],
    ["bpfProgAttach REPLACE without replaceFd", () => native.bpfProgAttach("/x", 3, 2 | 4, -1), "bpfProgAttach: replaceFd must be a descriptor (>= 0) when flags has BPF_F_REPLACE (4), got -1"],
    ["bpfProgAttach replaceFd without REPLACE", () => native.bpfProgAttach("/x", 3, 2, 5), "bpfProgAttach: replaceFd must be -1 when flags lacks BPF_F_REPLACE (4), got 5"],
    ["bpfProgAttach negative progFd", () => native.bpfProgAttach("/x", -1, 2, -1), "bpfProgAttach: progFd must be an integer in [0, 2147483647], got -1"],
    ["bpfProgGetFdById 0", () => native.bpfProgGetFdById(0), "bpfProgGetFdById: id must be an integer in [1, 4294967295], got 0"],
    ["close -1", () => native.close(-1), "close: fd must be an integer in [0, 2147483647], got -1"],
  ];
  test.each(rangeErrors)("%s → RangeError", (_, call, message) => {
    const error = thrown(call);
    expect(error).toBeInstanceOf(RangeError);
    expect((error as Error).message).toBe(message);
  });
});
