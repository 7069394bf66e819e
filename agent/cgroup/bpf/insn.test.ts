import { describe, expect, test } from "bun:test";
import { seededRandom } from "../../devices/fixtures/random-rules.ts";
import {
  andImm32,
  BPF_ALU,
  BPF_ALU64,
  BPF_AND,
  BPF_EXIT,
  BPF_JMP,
  BPF_JMP32,
  BPF_JNE,
  BPF_K,
  BPF_LDX,
  BPF_MEM,
  BPF_MOV,
  BPF_RSH,
  BPF_W,
  BPF_X,
  decode,
  encode,
  exit,
  type Insn,
  ja,
  jmp32Imm,
  jneImm,
  jneReg,
  jumpTarget,
  LD_IMM64,
  ldImm64,
  ldxB,
  ldxH,
  ldxW,
  movImm,
  movImm32,
  movReg,
  movReg32,
  rshImm32,
  sameInsns,
  writtenRegisters,
} from "./insn.ts";

const hex = (insns: Insn[]): string => [...encode(insns)].map((b) => b.toString(16).padStart(2, "0")).join(" ");

describe("opcode constants", () => {
  test("match the kernel's opcode bytes", () => {
    expect(BPF_LDX | BPF_MEM | BPF_W).toBe(0x61);
    expect(BPF_ALU | BPF_AND | BPF_K).toBe(0x54);
    expect(BPF_ALU | BPF_RSH | BPF_K).toBe(0x74);
    expect(BPF_ALU | BPF_MOV | BPF_K).toBe(0xb4);
    expect(BPF_ALU | BPF_MOV | BPF_X).toBe(0xbc);
    expect(BPF_ALU64 | BPF_MOV | BPF_K).toBe(0xb7);
    expect(BPF_ALU64 | BPF_MOV | BPF_X).toBe(0xbf);
    expect(BPF_JMP | BPF_JNE | BPF_K).toBe(0x55);
    expect(BPF_JMP | BPF_JNE | BPF_X).toBe(0x5d);
    expect(BPF_JMP32 | BPF_JNE | BPF_K).toBe(0x56);
    expect(BPF_JMP | BPF_EXIT).toBe(0x95);
    expect(LD_IMM64).toBe(0x18);
  });
});

describe("encode", () => {
  test("lays out code, dst/src nibbles, off and imm little-endian", () => {
    expect(hex([ldxW(2, 1, 0)])).toBe("61 12 00 00 00 00 00 00");
    expect(hex([ldxW(5, 1, 8)])).toBe("61 15 08 00 00 00 00 00");
    expect(hex([ldxH(3, 1, 2)])).toBe("69 13 02 00 00 00 00 00");
    expect(hex([ldxB(2, 1, 0)])).toBe("71 12 00 00 00 00 00 00");
    expect(hex([andImm32(2, 0xffff)])).toBe("54 02 00 00 ff ff 00 00");
    expect(hex([rshImm32(3, 16)])).toBe("74 03 00 00 10 00 00 00");
    expect(hex([jneImm(4, 10, 3)])).toBe("55 04 03 00 0a 00 00 00");
    expect(hex([jneImm(1, -1, -2)])).toBe("55 01 fe ff ff ff ff ff");
    expect(hex([jneReg(1, 3, 2)])).toBe("5d 31 02 00 00 00 00 00");
    expect(hex([jmp32Imm(BPF_JNE, 2, 7, 1)])).toBe("56 02 01 00 07 00 00 00");
    expect(hex([movImm(0, 1)])).toBe("b7 00 00 00 01 00 00 00");
    expect(hex([movImm32(0, 1)])).toBe("b4 00 00 00 01 00 00 00");
    expect(hex([movReg(6, 3)])).toBe("bf 36 00 00 00 00 00 00");
    expect(hex([movReg32(1, 3)])).toBe("bc 31 00 00 00 00 00 00");
    expect(hex([ja(-1)])).toBe("05 00 ff ff 00 00 00 00");
    expect(hex([exit()])).toBe("95 00 00 00 00 00 00 00");
    expect(hex(ldImm64(1, 0x1122334455667788n))).toBe("18 01 00 00 88 77 66 55 00 00 00 00 44 33 22 11");
  });

  test("refuses fields that do not fit instead of wrapping them", () => {
    expect(() => encode([exit(), { ...exit(), imm: 0xffffffff }])).toThrow("instruction 1: immediate 4294967295 is outside -2147483648..2147483647");
    expect(() => encode([{ ...exit(), off: 0x8000 }])).toThrow("instruction 0: offset 32768 is outside -32768..32767");
    expect(() => encode([{ ...exit(), dst: 16 }])).toThrow("instruction 0: dst register 16 is outside 0..15");
    expect(() => encode([{ ...exit(), src: -1 }])).toThrow("instruction 0: src register -1 is outside 0..15");
    expect(() => encode([{ ...exit(), code: 256 }])).toThrow("instruction 0: code 256 is outside 0..255");
    expect(() => encode([{ ...exit(), imm: 1.5 }])).toThrow("instruction 0: immediate 1.5");
  });
});

describe("decode", () => {
  test("inverts encode for any field values", () => {
    const random = seededRandom(11);
    const int = (min: number, max: number): number => min + Math.floor(random() * (max - min + 1));
    const insns: Insn[] = Array.from({ length: 500 }, () => ({
      code: int(0, 255),
      dst: int(0, 15),
      src: int(0, 15),
      off: int(-0x8000, 0x7fff),
      imm: int(-0x80000000, 0x7fffffff),
    }));
    expect(decode(encode(insns))).toEqual(insns);
  });

  test("reads from a view into a larger buffer", () => {
    const bytes = new Uint8Array(24);
    bytes.set(encode([ldxW(4, 1, 4), exit()]), 8);
    expect(decode(bytes.subarray(8))).toEqual([ldxW(4, 1, 4), exit()]);
  });

  test("rejects a length that is not a multiple of 8", () => {
    expect(() => decode(new Uint8Array(12))).toThrow("BPF program of 12 bytes is not a whole number of 8-byte instructions");
    expect(decode(new Uint8Array(0))).toEqual([]);
  });
});

describe("instruction facts", () => {
  test("sameInsns compares bytes", () => {
    expect(sameInsns([exit()], [exit()])).toBe(true);
    expect(sameInsns([movImm32(0, 1)], [movImm(0, 1)])).toBe(false);
    expect(sameInsns([exit()], [exit(), exit()])).toBe(false);
  });

  test("writtenRegisters", () => {
    expect(writtenRegisters(ldxW(2, 1, 0))).toEqual([2]);
    expect(writtenRegisters(andImm32(6, 3))).toEqual([6]);
    expect(writtenRegisters(movReg(6, 1))).toEqual([6]);
    expect(writtenRegisters(jneImm(1, 0, 1))).toEqual([]);
    expect(writtenRegisters(exit())).toEqual([]);
    expect(writtenRegisters({ code: BPF_JMP | 0x80, dst: 0, src: 0, off: 0, imm: 1 })).toEqual([0, 1, 2, 3, 4, 5]);
  });

  test("jumpTarget is relative to the next instruction", () => {
    const program = [jneImm(2, 1, 2), ja(-2), { code: BPF_JMP32, dst: 0, src: 0, off: 0, imm: -3 }, exit()];
    expect(jumpTarget(program, 0)).toBe(3);
    expect(jumpTarget(program, 1)).toBe(0);
    expect(jumpTarget(program, 2)).toBe(0);
    expect(jumpTarget(program, 3)).toBeNull();
    expect(jumpTarget([movImm(0, 0)], 0)).toBeNull();
    expect(() => jumpTarget(program, 4)).toThrow("jumpTarget: no instruction at index 4 (program has 4)");
  });
});
