// eBPF instructions as the kernel stores them (struct bpf_insn, 8 bytes,
// little-endian): u8 code, u8 dst_reg:4 | src_reg:4 (dst in the low nibble),
// s16 off, s32 imm. This module is the single place that knows the byte layout;
// the kernel writer, the prologue generator and the emulator all go through it.

export interface Insn {
  code: number;
  dst: number;
  src: number;
  off: number;
  imm: number;
}

export const INSN_SIZE = 8;

// Instruction classes (code & 0x07)
export const BPF_LD = 0x00;
export const BPF_LDX = 0x01;
export const BPF_ST = 0x02;
export const BPF_STX = 0x03;
export const BPF_ALU = 0x04;
export const BPF_JMP = 0x05;
export const BPF_JMP32 = 0x06;
export const BPF_ALU64 = 0x07;

// Load/store size (code & 0x18)
export const BPF_W = 0x00;
export const BPF_H = 0x08;
export const BPF_B = 0x10;
export const BPF_DW = 0x18;

// Load/store mode (code & 0xe0)
export const BPF_IMM = 0x00;
export const BPF_ABS = 0x20;
export const BPF_IND = 0x40;
export const BPF_MEM = 0x60;
export const BPF_MEMSX = 0x80;
export const BPF_ATOMIC = 0xc0;

// Operand source (code & 0x08) for ALU and JMP classes
export const BPF_K = 0x00;
export const BPF_X = 0x08;

// ALU operations (code & 0xf0)
export const BPF_ADD = 0x00;
export const BPF_SUB = 0x10;
export const BPF_MUL = 0x20;
export const BPF_DIV = 0x30;
export const BPF_OR = 0x40;
export const BPF_AND = 0x50;
export const BPF_LSH = 0x60;
export const BPF_RSH = 0x70;
export const BPF_NEG = 0x80;
export const BPF_MOD = 0x90;
export const BPF_XOR = 0xa0;
export const BPF_MOV = 0xb0;
export const BPF_ARSH = 0xc0;
export const BPF_END = 0xd0;

// Jump operations (code & 0xf0)
export const BPF_JA = 0x00;
export const BPF_JEQ = 0x10;
export const BPF_JGT = 0x20;
export const BPF_JGE = 0x30;
export const BPF_JSET = 0x40;
export const BPF_JNE = 0x50;
export const BPF_JSGT = 0x60;
export const BPF_JSGE = 0x70;
export const BPF_CALL = 0x80;
export const BPF_EXIT = 0x90;
export const BPF_JLT = 0xa0;
export const BPF_JLE = 0xb0;
export const BPF_JSLT = 0xc0;
export const BPF_JSLE = 0xd0;

export const MAX_REGISTER = 10;

export function insnClass(code: number): number {
  return code & 0x07;
}
export function insnOp(code: number): number {
  return code & 0xf0;
}
export function insnSource(code: number): number {
  return code & 0x08;
}
export function insnSize(code: number): number {
  return code & 0x18;
}
export function insnMode(code: number): number {
  return code & 0xe0;
}

/** BPF_LD | BPF_IMM | BPF_DW spans two slots; its second slot carries the upper 32 bits in imm. */
export const LD_IMM64 = BPF_LD | BPF_IMM | BPF_DW;

function insn(code: number, dst: number, src: number, off: number, imm: number): Insn {
  return { code, dst, src, off, imm };
}

// ----- builders (named after the assembler text they produce) -----

/** rDST = IMM (64-bit, imm sign-extended) */
export function movImm(dst: number, imm: number): Insn {
  return insn(BPF_ALU64 | BPF_MOV | BPF_K, dst, 0, 0, imm);
}
/** wDST = IMM (32-bit, upper half zeroed) */
export function movImm32(dst: number, imm: number): Insn {
  return insn(BPF_ALU | BPF_MOV | BPF_K, dst, 0, 0, imm);
}
/** rDST = rSRC */
export function movReg(dst: number, src: number): Insn {
  return insn(BPF_ALU64 | BPF_MOV | BPF_X, dst, src, 0, 0);
}
/** wDST = wSRC */
export function movReg32(dst: number, src: number): Insn {
  return insn(BPF_ALU | BPF_MOV | BPF_X, dst, src, 0, 0);
}
/** 64-bit ALU with an immediate: rDST OP= IMM */
export function aluImm(op: number, dst: number, imm: number): Insn {
  return insn(BPF_ALU64 | op | BPF_K, dst, 0, 0, imm);
}
/** 32-bit ALU with an immediate: wDST OP= IMM */
export function aluImm32(op: number, dst: number, imm: number): Insn {
  return insn(BPF_ALU | op | BPF_K, dst, 0, 0, imm);
}
/** 64-bit ALU with a register: rDST OP= rSRC */
export function aluReg(op: number, dst: number, src: number): Insn {
  return insn(BPF_ALU64 | op | BPF_X, dst, src, 0, 0);
}
/** 32-bit ALU with a register: wDST OP= wSRC */
export function aluReg32(op: number, dst: number, src: number): Insn {
  return insn(BPF_ALU | op | BPF_X, dst, src, 0, 0);
}
export function andImm32(dst: number, imm: number): Insn {
  return aluImm32(BPF_AND, dst, imm);
}
export function rshImm32(dst: number, imm: number): Insn {
  return aluImm32(BPF_RSH, dst, imm);
}
/** rDST = *(SIZE *)(rSRC + OFF) */
export function ldx(size: number, dst: number, src: number, off: number): Insn {
  return insn(BPF_LDX | BPF_MEM | size, dst, src, off, 0);
}
export function ldxW(dst: number, src: number, off: number): Insn {
  return ldx(BPF_W, dst, src, off);
}
export function ldxH(dst: number, src: number, off: number): Insn {
  return ldx(BPF_H, dst, src, off);
}
export function ldxB(dst: number, src: number, off: number): Insn {
  return ldx(BPF_B, dst, src, off);
}
/** if rDST OP IMM goto +OFF */
export function jmpImm(op: number, dst: number, imm: number, off: number): Insn {
  return insn(BPF_JMP | op | BPF_K, dst, 0, off, imm);
}
/** if rDST OP rSRC goto +OFF */
export function jmpReg(op: number, dst: number, src: number, off: number): Insn {
  return insn(BPF_JMP | op | BPF_X, dst, src, off, 0);
}
/** if wDST OP IMM goto +OFF (compares the low 32 bits) */
export function jmp32Imm(op: number, dst: number, imm: number, off: number): Insn {
  return insn(BPF_JMP32 | op | BPF_K, dst, 0, off, imm);
}
/** if wDST OP wSRC goto +OFF */
export function jmp32Reg(op: number, dst: number, src: number, off: number): Insn {
  return insn(BPF_JMP32 | op | BPF_X, dst, src, off, 0);
}
export function jneImm(dst: number, imm: number, off: number): Insn {
  return jmpImm(BPF_JNE, dst, imm, off);
}
export function jneReg(dst: number, src: number, off: number): Insn {
  return jmpReg(BPF_JNE, dst, src, off);
}
/** goto +OFF */
export function ja(off: number): Insn {
  return insn(BPF_JMP | BPF_JA, 0, 0, off, 0);
}
export function exit(): Insn {
  return insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
}
/** rDST = VALUE (64-bit immediate, two slots) */
export function ldImm64(dst: number, value: bigint): [Insn, Insn] {
  const bits = BigInt.asUintN(64, value);
  return [
    insn(LD_IMM64, dst, 0, 0, Number(BigInt.asIntN(32, bits))),
    insn(0, 0, 0, 0, Number(BigInt.asIntN(32, bits >> 32n))),
  ];
}

// ----- byte encoding -----

function checkField(value: number, min: number, max: number, field: string, index: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new Error(`instruction ${index}: ${field} ${value} is outside ${min}..${max}`);
  }
}

/** Kernel byte layout of the instructions. Fields out of range are errors, never silently wrapped. */
export function encode(insns: readonly Insn[]): Uint8Array {
  const bytes = new Uint8Array(insns.length * INSN_SIZE);
  const view = new DataView(bytes.buffer);
  insns.forEach((ins, index) => {
    checkField(ins.code, 0, 0xff, "code", index);
    checkField(ins.dst, 0, 15, "dst register", index);
    checkField(ins.src, 0, 15, "src register", index);
    checkField(ins.off, -0x8000, 0x7fff, "offset", index);
    checkField(ins.imm, -0x80000000, 0x7fffffff, "immediate", index);
    const at = index * INSN_SIZE;
    view.setUint8(at, ins.code);
    view.setUint8(at + 1, (ins.src << 4) | ins.dst);
    view.setInt16(at + 2, ins.off, true);
    view.setInt32(at + 4, ins.imm, true);
  });
  return bytes;
}

/** Instructions from kernel bytes (e.g. a program's xlated dump); the length must be a multiple of 8. */
export function decode(bytes: Uint8Array): Insn[] {
  if (bytes.length % INSN_SIZE !== 0) {
    throw new Error(`BPF program of ${bytes.length} bytes is not a whole number of ${INSN_SIZE}-byte instructions`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const insns: Insn[] = [];
  for (let at = 0; at < bytes.length; at += INSN_SIZE) {
    const regs = view.getUint8(at + 1);
    insns.push({
      code: view.getUint8(at),
      dst: regs & 0x0f,
      src: regs >> 4,
      off: view.getInt16(at + 2, true),
      imm: view.getInt32(at + 4, true),
    });
  }
  return insns;
}

/** Byte-level equality, the comparison the kernel's xlated dump is held to. */
export function sameInsns(a: readonly Insn[], b: readonly Insn[]): boolean {
  if (a.length !== b.length) return false;
  const x = encode(a);
  const y = encode(b);
  return x.every((byte, i) => byte === y[i]);
}

/** Registers an instruction writes (a helper call clobbers r0-r5). */
export function writtenRegisters(ins: Insn): number[] {
  switch (insnClass(ins.code)) {
    case BPF_ALU:
    case BPF_ALU64:
    case BPF_LDX:
      return [ins.dst];
    case BPF_LD:
      // LD_IMM64 writes dst; the legacy packet loads (ABS/IND) write r0.
      return insnMode(ins.code) === BPF_IMM ? [ins.dst] : [0];
    case BPF_JMP:
      return insnOp(ins.code) === BPF_CALL ? [0, 1, 2, 3, 4, 5] : [];
    default:
      return [];
  }
}

/** Index of the instruction a jump lands on, or null for non-jumps (calls and exit included). */
export function jumpTarget(insns: readonly Insn[], index: number): number | null {
  const ins = insns[index];
  if (!ins) throw new Error(`jumpTarget: no instruction at index ${index} (program has ${insns.length})`);
  const cls = insnClass(ins.code);
  if (cls !== BPF_JMP && cls !== BPF_JMP32) return null;
  const op = insnOp(ins.code);
  if (op === BPF_CALL || op === BPF_EXIT) return null;
  // JMP32|JA ("gotol") keeps its long offset in imm.
  const offset = cls === BPF_JMP32 && op === BPF_JA ? ins.imm : ins.off;
  return index + 1 + offset;
}
