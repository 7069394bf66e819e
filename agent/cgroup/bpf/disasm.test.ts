import { describe, expect, test } from "bun:test";
import { disassemble, disassembleInsn } from "./disasm.ts";
import {
  aluImm,
  aluImm32,
  aluReg,
  aluReg32,
  andImm32,
  BPF_ADD,
  BPF_ARSH,
  BPF_DW,
  BPF_JGE,
  BPF_JMP,
  BPF_JSET,
  BPF_JSLT,
  BPF_LSH,
  BPF_MEM,
  BPF_NEG,
  BPF_OR,
  BPF_ST,
  BPF_STX,
  BPF_SUB,
  BPF_W,
  BPF_XOR,
  exit,
  type Insn,
  ja,
  jmp32Imm,
  jmp32Reg,
  jmpImm,
  jneImm,
  jneReg,
  ldImm64,
  ldx,
  ldxB,
  ldxH,
  ldxW,
  movImm,
  movImm32,
  movReg,
  movReg32,
  rshImm32,
} from "./insn.ts";

describe("disassembleInsn", () => {
  test("prints device-program instructions in kernel notation", () => {
    const cases: Array<[Insn, string]> = [
      [ldxW(2, 1, 0), "r2 = *(u32 *)(r1 + 0)"],
      [ldxW(5, 1, 8), "r5 = *(u32 *)(r1 + 8)"],
      [ldxH(3, 1, 2), "r3 = *(u16 *)(r1 + 2)"],
      [ldxB(2, 1, 0), "r2 = *(u8 *)(r1 + 0)"],
      [ldx(BPF_DW, 1, 10, -8), "r1 = *(u64 *)(r10 - 8)"],
      [andImm32(2, 0xffff), "w2 &= 65535"],
      [rshImm32(3, 16), "w3 >>= 16"],
      [aluImm(BPF_LSH, 1, 3), "r1 <<= 3"],
      [aluImm32(BPF_ARSH, 1, 3), "w1 s>>= 3"],
      [aluReg(BPF_ADD, 1, 2), "r1 += r2"],
      [aluReg32(BPF_SUB, 1, 2), "w1 -= w2"],
      [aluImm(BPF_OR, 1, -1), "r1 |= -1"],
      [aluImm32(BPF_XOR, 1, 5), "w1 ^= 5"],
      [aluImm(BPF_NEG, 4, 0), "r4 = -r4"],
      [movImm(0, 1), "r0 = 1"],
      [movImm32(0, 0), "w0 = 0"],
      [movReg(6, 3), "r6 = r3"],
      [movReg32(1, 3), "w1 = w3"],
      [jneImm(4, 10, 3), "if r4 != 10 goto +3"],
      [jneReg(1, 3, 2), "if r1 != r3 goto +2"],
      [jmpImm(BPF_JGE, 2, 7, -4), "if r2 >= 7 goto -4"],
      [jmpImm(BPF_JSET, 3, 4, 1), "if r3 & 4 goto +1"],
      [jmp32Imm(BPF_JSLT, 2, -1, 0), "if w2 s< -1 goto +0"],
      [jmp32Reg(BPF_JGE, 2, 3, 5), "if w2 >= w3 goto +5"],
      [ja(4), "goto +4"],
      [exit(), "exit"],
      [{ code: BPF_JMP | 0x80, dst: 0, src: 0, off: 0, imm: 14 }, "call 14"],
      [{ code: BPF_ST | BPF_MEM | BPF_W, dst: 10, src: 0, off: -4, imm: 7 }, "*(u32 *)(r10 - 4) = 7"],
      [{ code: BPF_STX | BPF_MEM | BPF_DW, dst: 10, src: 1, off: -8, imm: 0 }, "*(u64 *)(r10 - 8) = r1"],
    ];
    for (const [ins, text] of cases) expect(disassembleInsn(ins)).toBe(text);
  });

  test("prints what it does not know as raw bytes", () => {
    expect(disassembleInsn({ code: 0xff, dst: 1, src: 2, off: 3, imm: -1 })).toBe(".raw ff 21 03 00 ff ff ff ff");
    expect(disassembleInsn({ code: 0x8d, dst: 0, src: 0, off: 0, imm: 0 })).toBe(".raw 8d 00 00 00 00 00 00 00");
    expect(disassembleInsn({ code: 0xff, dst: 99, src: 0, off: 0, imm: 0 })).toBe(".raw code=255 dst=99 src=0 off=0 imm=0");
  });
});

describe("disassemble", () => {
  test("numbers the lines and shows a 64-bit load across its two slots", () => {
    const program = [...ldImm64(1, 0x100000002n), jneImm(1, 0, 1), movImm32(0, 1), exit()];
    expect(disassemble(program)).toBe(
      ["0: r1 = 0x100000002 ll", "1: (ld_imm64 upper half)", "2: if r1 != 0 goto +1", "3: w0 = 1", "4: exit"].join("\n"),
    );
    expect(disassemble(Array.from({ length: 11 }, () => exit())).split("\n")[0]).toBe(" 0: exit");
    expect(disassemble([])).toBe("");
  });
});
