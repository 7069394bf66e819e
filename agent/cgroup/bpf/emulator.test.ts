import { describe, expect, test } from "bun:test";
import type { DeviceRequest } from "../../devices/rules.ts";
import { runDeviceProgram } from "./emulator.ts";
import {
  aluImm,
  aluImm32,
  aluReg,
  BPF_ADD,
  BPF_ARSH,
  BPF_DIV,
  BPF_JEQ,
  BPF_JGT,
  BPF_JLE,
  BPF_JLT,
  BPF_JMP,
  BPF_JSET,
  BPF_JSGE,
  BPF_JSGT,
  BPF_JSLE,
  BPF_JSLT,
  BPF_LSH,
  BPF_MOD,
  BPF_MUL,
  BPF_NEG,
  BPF_OR,
  BPF_RSH,
  BPF_SUB,
  BPF_XOR,
  exit,
  type Insn,
  ja,
  jmp32Imm,
  jmpImm,
  jmpReg,
  jneImm,
  ldImm64,
  ldx,
  ldxB,
  ldxH,
  ldxW,
  movImm,
  movImm32,
  movReg,
} from "./insn.ts";

const NULL_RW: DeviceRequest = { type: "c", major: 1, minor: 3, access: "rw" };
const run = (insns: Insn[], request: DeviceRequest = NULL_RW): number => runDeviceProgram(insns, request);
/** r0 = a 64-bit value computed by `body`, then returned as its low and high halves in two runs. */
const value64 = (body: Insn[]): bigint => {
  const low = BigInt(run([...body, exit()]));
  const high = BigInt(run([...body, aluImm(BPF_RSH, 0, 32), exit()]));
  return (high << 32n) | low;
};

describe("context loads", () => {
  test("read access_type, major and minor as the kernel lays them out", () => {
    const request: DeviceRequest = { type: "b", major: 259, minor: 65537, access: "rm" };
    // access_type = (READ|MKNOD) << 16 | BLOCK = 0x00030001
    expect(run([ldxW(0, 1, 0), exit()], request)).toBe(0x00030001);
    expect(run([ldxW(0, 1, 4), exit()], request)).toBe(259);
    expect(run([ldxW(0, 1, 8), exit()], request)).toBe(65537);
    expect(run([ldxH(0, 1, 0), exit()], request)).toBe(1);
    expect(run([ldxH(0, 1, 2), exit()], request)).toBe(3);
    expect(run([ldxB(0, 1, 0), exit()], request)).toBe(1);
    expect(run([ldxB(0, 1, 2), exit()], { ...request, type: "c", access: "w" })).toBe(4);
    expect(run([movReg(6, 1), ldxW(0, 6, 4), exit()], request)).toBe(259);
  });

  test("refuse loads the kernel's verifier refuses", () => {
    expect(() => run([ldxW(0, 1, 2), exit()])).toThrow("device program instruction 0 (r0 = *(u32 *)(r1 + 2)): loads 4 bytes at context offset 2, which the kernel rejects");
    expect(() => run([ldxW(0, 1, 12), exit()])).toThrow("loads 4 bytes at context offset 12");
    expect(() => run([ldxH(0, 1, 4), exit()])).toThrow("loads 2 bytes at context offset 4; only access_type may be read in narrower pieces");
    expect(() => run([ldx(0x18, 0, 1, 0), exit()])).toThrow("loads 8 bytes at context offset 0");
    expect(() => run([movImm(2, 0), ldxW(0, 2, 0), exit()])).toThrow("loads through r2, which is not the context pointer");
  });
});

describe("ALU", () => {
  test("64-bit operations wrap at 64 bits", () => {
    expect(value64([movImm(0, 5), aluImm(BPF_SUB, 0, 7)])).toBe(0xfffffffffffffffen);
    expect(value64([movImm(0, -1)])).toBe(0xffffffffffffffffn);
    expect(value64([movImm(0, 1), aluImm(BPF_LSH, 0, 40)])).toBe(1n << 40n);
    expect(value64([movImm(0, -16), aluImm(BPF_ARSH, 0, 2)])).toBe(0xfffffffffffffffcn);
    expect(value64([movImm(0, 6), aluImm(BPF_MUL, 0, 7)])).toBe(42n);
    expect(value64([movImm(0, 43), aluImm(BPF_DIV, 0, 5)])).toBe(8n);
    expect(value64([movImm(0, 43), aluImm(BPF_MOD, 0, 5)])).toBe(3n);
    expect(value64([movImm(0, 43), movImm(2, 0), aluReg(BPF_DIV, 0, 2)])).toBe(0n);
    expect(value64([movImm(0, 43), movImm(2, 0), aluReg(BPF_MOD, 0, 2)])).toBe(43n);
    expect(value64([movImm(0, 12), aluImm(BPF_XOR, 0, 10), aluImm(BPF_OR, 0, 1)])).toBe(7n);
    expect(value64([movImm(0, 5), aluImm(BPF_NEG, 0, 0)])).toBe(0xfffffffffffffffbn);
    expect(value64([movImm(0, 5), movImm(3, 9), aluReg(BPF_ADD, 0, 3)])).toBe(14n);
  });

  test("32-bit operations zero the upper half", () => {
    expect(value64([movImm(0, -1), aluImm32(BPF_ADD, 0, 0)])).toBe(0xffffffffn);
    expect(value64([movImm32(0, -1)])).toBe(0xffffffffn);
    expect(value64([movImm32(0, -16), aluImm32(BPF_ARSH, 0, 2)])).toBe(0xfffffffcn);
    expect(value64([movImm32(0, 1), aluImm32(BPF_LSH, 0, 31), aluImm32(BPF_LSH, 0, 1)])).toBe(0n);
  });
});

describe("jumps", () => {
  /** 1 when the jump is taken, 0 when not. */
  const taken = (setup: Insn[], jump: Insn): number => run([...setup, movImm(0, 0), jump, exit(), movImm(0, 1), exit()]);

  test("unsigned, signed, bit-test and 32-bit comparisons", () => {
    const minusOne = [movImm(2, -1)];
    expect(taken(minusOne, jmpImm(BPF_JGT, 2, 5, 1))).toBe(1);
    expect(taken(minusOne, jmpImm(BPF_JSGT, 2, 5, 1))).toBe(0);
    expect(taken(minusOne, jmpImm(BPF_JSLT, 2, 0, 1))).toBe(1);
    expect(taken(minusOne, jmpImm(BPF_JSLE, 2, -1, 1))).toBe(1);
    expect(taken(minusOne, jmpImm(BPF_JSGE, 2, 0, 1))).toBe(0);
    expect(taken(minusOne, jmpImm(BPF_JEQ, 2, -1, 1))).toBe(1);
    expect(taken([movImm(2, 3)], jmpImm(BPF_JLT, 2, 4, 1))).toBe(1);
    expect(taken([movImm(2, 4)], jmpImm(BPF_JLE, 2, 4, 1))).toBe(1);
    expect(taken([movImm(2, 6)], jmpImm(BPF_JSET, 2, 1, 1))).toBe(0);
    expect(taken([movImm(2, 6), movImm(3, 6)], jmpReg(BPF_JEQ, 2, 3, 1))).toBe(1);
    // Upper half differs, lower half equal: JMP32 sees them equal, JMP does not.
    const wide = [...ldImm64(2, 0x100000007n)];
    expect(taken(wide, jmp32Imm(BPF_JEQ, 2, 7, 1))).toBe(1);
    expect(taken(wide, jmpImm(BPF_JEQ, 2, 7, 1))).toBe(0);
    expect(run([movImm(0, 2), ja(1), movImm(0, 3), exit()])).toBe(2);
  });

  test("errors name the instruction and the problem", () => {
    expect(() => run([jneImm(1, 0, 5), exit()])).toThrow("device program instruction 0 (if r1 != 0 goto +5): uses the context pointer r1 as a number");
    expect(() => run([movImm(2, 0), jneImm(2, 1, 5), exit()])).toThrow("device program instruction 1 (if r2 != 1 goto +5): jumps to 7, outside the program (0..2)");
    expect(() => run([movImm(2, 0), jneImm(2, 1, -3), exit()])).toThrow("jumps to -1, outside the program");
    expect(() => run([movImm(0, 0), ja(-2)])).toThrow("device program instruction 0 (r0 = 0): gave up after 100000 steps (a loop?)");
    expect(() => run([movImm(0, 0)])).toThrow("device program ran past its last instruction (1) without exit");
    expect(() => run([exit()])).toThrow("device program instruction 0 (exit): reads r0 before anything was written to it");
    expect(() => run([{ code: BPF_JMP | 0x80, dst: 0, src: 0, off: 0, imm: 14 }, exit()])).toThrow("device program instruction 0 (call 14): helper and BPF-to-BPF calls are not emulated");
    expect(() => run([movImm(2, 0), { code: BPF_JMP | 0xe0, dst: 2, src: 0, off: 0, imm: 0 }, exit()])).toThrow("device program instruction 1 (.raw e5 02 00 00 00 00 00 00): jump operation not supported");
    expect(() => run([{ code: 0x03 | 0x60, dst: 10, src: 1, off: -8, imm: 0 }, exit()])).toThrow("instruction class not supported");
    expect(() => run([{ code: 0xff, dst: 0, src: 0, off: 0, imm: 0 }])).toThrow("device program instruction 0 (.raw ff 00 00 00 00 00 00 00)");
    expect(() => run([movImm(10, 0), exit()])).toThrow("cannot write r10");
    expect(() => run([aluImm(BPF_ADD, 1, 4), exit()])).toThrow("uses the context pointer r1 as a number");
    expect(() => run([...ldImm64(0, 1n).slice(0, 1)])).toThrow("64-bit immediate load is missing its second slot");
  });

  test("maxSteps bounds the run", () => {
    const straight = [movImm(0, 0), movImm(0, 1), movImm(0, 2), exit()];
    expect(runDeviceProgram(straight, NULL_RW, { maxSteps: 4 })).toBe(2);
    expect(() => runDeviceProgram(straight, NULL_RW, { maxSteps: 3 })).toThrow("gave up after 3 steps");
  });
});
