// Human-readable text for eBPF instructions, in the notation of the kernel's
// and bpftool's disassembler ("r2 = *(u32 *)(r1 + 0)", "w2 &= 65535",
// "if r4 != 10 goto +3"). Used for golden files and error messages, so every
// instruction prints something: what this module does not know prints as raw hex.

import {
  BPF_ALU,
  BPF_ALU64,
  BPF_ARSH,
  BPF_B,
  BPF_CALL,
  BPF_DW,
  BPF_END,
  BPF_EXIT,
  BPF_H,
  BPF_JA,
  BPF_JMP,
  BPF_JMP32,
  BPF_K,
  BPF_LDX,
  BPF_MEM,
  BPF_MOV,
  BPF_NEG,
  BPF_ST,
  BPF_STX,
  BPF_W,
  encode,
  type Insn,
  insnClass,
  insnMode,
  insnOp,
  insnSize,
  insnSource,
  LD_IMM64,
} from "./insn.ts";

const ALU_OPERATORS: Record<number, string> = {
  0x00: "+=",
  0x10: "-=",
  0x20: "*=",
  0x30: "/=",
  0x40: "|=",
  0x50: "&=",
  0x60: "<<=",
  0x70: ">>=",
  0x90: "%=",
  0xa0: "^=",
  0xb0: "=",
  0xc0: "s>>=",
};

const JUMP_OPERATORS: Record<number, string> = {
  0x10: "==",
  0x20: ">",
  0x30: ">=",
  0x40: "&",
  0x50: "!=",
  0x60: "s>",
  0x70: "s>=",
  0xa0: "<",
  0xb0: "<=",
  0xc0: "s<",
  0xd0: "s<=",
};

const SIZE_NAMES: Record<number, string> = { [BPF_W]: "u32", [BPF_H]: "u16", [BPF_B]: "u8", [BPF_DW]: "u64" };

function raw(ins: Insn): string {
  try {
    const bytes = [...encode([ins])].map((b) => b.toString(16).padStart(2, "0"));
    return `.raw ${bytes.join(" ")}`;
  } catch {
    return `.raw code=${ins.code} dst=${ins.dst} src=${ins.src} off=${ins.off} imm=${ins.imm}`;
  }
}

function signed(n: number): string {
  return n < 0 ? `${n}` : `+${n}`;
}

function memory(size: number, base: number, off: number): string {
  return `*(${SIZE_NAMES[size]} *)(r${base} ${off < 0 ? "-" : "+"} ${Math.abs(off)})`;
}

function alu(ins: Insn): string {
  const reg = insnClass(ins.code) === BPF_ALU64 ? "r" : "w";
  const op = insnOp(ins.code);
  if (ins.off !== 0) return raw(ins); // movsx / sdiv / smod: not used by device programs
  if (op === BPF_NEG) return insnSource(ins.code) === BPF_K ? `${reg}${ins.dst} = -${reg}${ins.dst}` : raw(ins);
  if (op === BPF_END) return raw(ins);
  const operator = ALU_OPERATORS[op];
  if (operator === undefined) return raw(ins);
  const operand = insnSource(ins.code) === BPF_K ? `${ins.imm}` : `${reg}${ins.src}`;
  return `${reg}${ins.dst} ${operator} ${operand}`;
}

function jump(ins: Insn): string {
  const cls = insnClass(ins.code);
  const op = insnOp(ins.code);
  const fromRegister = insnSource(ins.code) !== BPF_K;
  if (op === BPF_EXIT || op === BPF_CALL || op === BPF_JA) {
    if (fromRegister) return raw(ins);
    if (op === BPF_EXIT) return cls === BPF_JMP ? "exit" : raw(ins);
    if (op === BPF_CALL) return cls === BPF_JMP ? `call ${ins.src === 1 ? `pc${signed(ins.imm)}` : ins.imm}` : raw(ins);
    return cls === BPF_JMP ? `goto ${signed(ins.off)}` : `gotol ${signed(ins.imm)}`;
  }
  const operator = JUMP_OPERATORS[op];
  if (operator === undefined) return raw(ins);
  const reg = cls === BPF_JMP ? "r" : "w";
  const operand = fromRegister ? `${reg}${ins.src}` : `${ins.imm}`;
  return `if ${reg}${ins.dst} ${operator} ${operand} goto ${signed(ins.off)}`;
}

/**
 * One instruction as text. `next` is the following slot, needed only to show
 * the full value of a 64-bit immediate load.
 */
export function disassembleInsn(ins: Insn, next?: Insn): string {
  const cls = insnClass(ins.code);
  switch (cls) {
    case BPF_ALU:
    case BPF_ALU64:
      return alu(ins);
    case BPF_JMP:
    case BPF_JMP32:
      return jump(ins);
    case BPF_LDX:
      return insnMode(ins.code) === BPF_MEM ? `r${ins.dst} = ${memory(insnSize(ins.code), ins.src, ins.off)}` : raw(ins);
    case BPF_ST:
      return insnMode(ins.code) === BPF_MEM ? `${memory(insnSize(ins.code), ins.dst, ins.off)} = ${ins.imm}` : raw(ins);
    case BPF_STX:
      return insnMode(ins.code) === BPF_MEM ? `${memory(insnSize(ins.code), ins.dst, ins.off)} = r${ins.src}` : raw(ins);
    default:
      if (ins.code === LD_IMM64 && next !== undefined) {
        const value = (BigInt(next.imm >>> 0) << 32n) | BigInt(ins.imm >>> 0);
        const pseudo = ins.src === 0 ? "" : ` (pseudo src=${ins.src})`;
        return `r${ins.dst} = 0x${value.toString(16)} ll${pseudo}`;
      }
      return raw(ins);
  }
}

/** A whole program, one numbered line per slot ("  3: w3 >>= 16"); the second slot of a 64-bit load shows as "(ld_imm64 upper half)". */
export function disassemble(insns: readonly Insn[]): string {
  const width = String(Math.max(insns.length - 1, 0)).length;
  const lines: string[] = [];
  for (let i = 0; i < insns.length; i++) {
    const ins = insns[i]!;
    const label = `${String(i).padStart(width)}: `;
    lines.push(label + disassembleInsn(ins, insns[i + 1]));
    if (ins.code === LD_IMM64 && i + 1 < insns.length) {
      i++;
      lines.push(`${String(i).padStart(width)}: (ld_imm64 upper half)`);
    }
  }
  return lines.join("\n");
}
