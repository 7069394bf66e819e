// A pure interpreter for cgroup device programs: runs the instructions the
// kernel would run for one device request, without a kernel. It covers what
// device programs use (runc's, crun's, ours): context loads, ALU/ALU64 and
// JMP/JMP32 with immediates and registers, 64-bit immediate loads and exit.
// Anything else (stack, helpers, maps) is an error naming the instruction,
// never a guess.

import type { DeviceRequest } from "../../devices/rules.ts";
import { CTX_ACCESS_TYPE_OFFSET, CTX_REGISTER, CTX_SIZE, deviceContextBytes } from "./device-ctx.ts";
import { disassembleInsn } from "./disasm.ts";
import {
  BPF_ADD,
  BPF_ALU,
  BPF_ALU64,
  BPF_AND,
  BPF_ARSH,
  BPF_B,
  BPF_CALL,
  BPF_DIV,
  BPF_DW,
  BPF_EXIT,
  BPF_H,
  BPF_JA,
  BPF_JEQ,
  BPF_JGE,
  BPF_JGT,
  BPF_JLE,
  BPF_JLT,
  BPF_JMP,
  BPF_JMP32,
  BPF_JNE,
  BPF_JSET,
  BPF_JSGE,
  BPF_JSGT,
  BPF_JSLE,
  BPF_JSLT,
  BPF_K,
  BPF_LDX,
  BPF_LSH,
  BPF_MEM,
  BPF_MOD,
  BPF_MOV,
  BPF_MUL,
  BPF_NEG,
  BPF_OR,
  BPF_RSH,
  BPF_SUB,
  BPF_W,
  BPF_XOR,
  type Insn,
  insnClass,
  insnMode,
  insnOp,
  insnSize,
  insnSource,
  LD_IMM64,
  MAX_REGISTER,
} from "./insn.ts";

/** A register holds nothing yet, the context pointer, or a 64-bit value (unsigned). */
type RegisterValue = undefined | "ctx" | bigint;

const SIZE_BYTES: Record<number, number> = { [BPF_W]: 4, [BPF_H]: 2, [BPF_B]: 1, [BPF_DW]: 8 };

export interface RunOptions {
  /** Instructions executed before giving up (device programs have no loops). Default 100000. */
  maxSteps?: number;
}

/** r0 (as the kernel's u32 return value) after running the program for this request. */
export function runDeviceProgram(insns: readonly Insn[], request: DeviceRequest, options: RunOptions = {}): number {
  const maxSteps = options.maxSteps ?? 100_000;
  const ctx = new DataView(deviceContextBytes(request).buffer);
  const regs: RegisterValue[] = new Array(MAX_REGISTER + 1).fill(undefined);
  regs[CTX_REGISTER] = "ctx";

  let pc = 0;
  const fail: (message: string) => never = (message) => {
    const ins = insns[pc];
    const text = ins ? disassembleInsn(ins, insns[pc + 1]) : "(none)";
    throw new Error(`device program instruction ${pc} (${text}): ${message}`);
  };
  const scalar = (reg: number): bigint => {
    if (reg > MAX_REGISTER) return fail(`register r${reg} does not exist`);
    const value = regs[reg];
    if (value === undefined) return fail(`reads r${reg} before anything was written to it`);
    if (value === "ctx") return fail(`uses the context pointer r${reg} as a number`);
    return value;
  };
  const setReg = (reg: number, value: RegisterValue): void => {
    if (reg >= MAX_REGISTER) fail(`cannot write r${reg}`);
    regs[reg] = value;
  };
  const jumpTo = (offset: number): void => {
    const target = pc + 1 + offset;
    if (target < 0 || target >= insns.length) fail(`jumps to ${target}, outside the program (0..${insns.length - 1})`);
    pc = target;
  };

  for (let steps = 0; ; steps++) {
    if (steps >= maxSteps) fail(`gave up after ${maxSteps} steps (a loop?)`);
    const ins = insns[pc];
    if (ins === undefined) {
      throw new Error(`device program ran past its last instruction (${insns.length}) without exit`);
    }
    const cls = insnClass(ins.code);

    if (cls === BPF_ALU || cls === BPF_ALU64) {
      const wide = cls === BPF_ALU64;
      const op = insnOp(ins.code);
      if (ins.off !== 0) fail("signed division / sign-extending moves are not supported");
      if (op === BPF_MOV && insnSource(ins.code) !== BPF_K && wide && regs[ins.src] === "ctx") {
        setReg(ins.dst, "ctx"); // copying the context pointer keeps it usable for loads
      } else {
        const operand = insnSource(ins.code) === BPF_K ? BigInt.asUintN(64, BigInt(ins.imm)) : scalar(ins.src);
        const current = op === BPF_MOV ? 0n : scalar(ins.dst);
        setReg(ins.dst, aluResult(op, current, operand, wide) ?? fail("ALU operation not supported"));
      }
      pc++;
      continue;
    }

    if (cls === BPF_LDX) {
      if (insnMode(ins.code) !== BPF_MEM) fail("only plain memory loads are supported");
      if (regs[ins.src] !== "ctx") fail(`loads through r${ins.src}, which is not the context pointer`);
      const size = SIZE_BYTES[insnSize(ins.code)]!;
      const off = ins.off;
      // The kernel's cgroup_dev_is_valid_access: aligned, inside the 12 bytes,
      // and narrower-than-u32 loads only within access_type.
      if (off < 0 || off + size > CTX_SIZE || off % size !== 0) fail(`loads ${size} bytes at context offset ${off}, which the kernel rejects`);
      if (size !== 4 && !(size < 4 && off - CTX_ACCESS_TYPE_OFFSET < 4)) fail(`loads ${size} bytes at context offset ${off}; only access_type may be read in narrower pieces`);
      const value = size === 4 ? ctx.getUint32(off, true) : size === 2 ? ctx.getUint16(off, true) : ctx.getUint8(off);
      setReg(ins.dst, BigInt(value));
      pc++;
      continue;
    }

    if (ins.code === LD_IMM64) {
      const upper = insns[pc + 1];
      if (upper === undefined) fail("64-bit immediate load is missing its second slot");
      if (ins.src !== 0) fail("map and other pseudo immediates are not supported");
      setReg(ins.dst, (BigInt(upper!.imm >>> 0) << 32n) | BigInt(ins.imm >>> 0));
      pc += 2;
      continue;
    }

    if (cls === BPF_JMP || cls === BPF_JMP32) {
      const op = insnOp(ins.code);
      if (op === BPF_EXIT) {
        if (ins.code !== (BPF_JMP | BPF_EXIT)) fail("malformed exit");
        return Number(BigInt.asUintN(32, scalar(0)));
      }
      if (op === BPF_JA) {
        if (insnSource(ins.code) !== BPF_K) fail("malformed goto");
        jumpTo(cls === BPF_JMP ? ins.off : ins.imm);
        continue;
      }
      if (op === BPF_CALL) fail("helper and BPF-to-BPF calls are not emulated");
      const wide = cls === BPF_JMP;
      const left = scalar(ins.dst);
      const right = insnSource(ins.code) === BPF_K ? BigInt.asUintN(64, BigInt(ins.imm)) : scalar(ins.src);
      const taken = compare(op, wide ? left : BigInt.asUintN(32, left), wide ? right : BigInt.asUintN(32, right), wide ? 64 : 32);
      if (taken === null) fail("jump operation not supported");
      if (taken) jumpTo(ins.off);
      else pc++;
      continue;
    }

    fail("instruction class not supported by the device program emulator");
  }
}

/** Result of an ALU operation as an unsigned 64-bit value (32-bit ops zero-extend), or null if unsupported. */
function aluResult(op: number, dst: bigint, src: bigint, wide: boolean): bigint | null {
  const bits = wide ? 64 : 32;
  const a = BigInt.asUintN(bits, dst);
  const b = BigInt.asUintN(bits, src);
  const shift = b & BigInt(bits - 1);
  let result: bigint;
  switch (op) {
    case BPF_MOV: result = b; break;
    case BPF_ADD: result = a + b; break;
    case BPF_SUB: result = a - b; break;
    case BPF_MUL: result = a * b; break;
    case BPF_DIV: result = b === 0n ? 0n : a / b; break; // BPF defines x / 0 = 0
    case BPF_MOD: result = b === 0n ? a : a % b; break; // and x % 0 = x
    case BPF_OR: result = a | b; break;
    case BPF_AND: result = a & b; break;
    case BPF_XOR: result = a ^ b; break;
    case BPF_LSH: result = a << shift; break;
    case BPF_RSH: result = a >> shift; break;
    case BPF_ARSH: result = BigInt.asIntN(bits, a) >> shift; break;
    case BPF_NEG: result = -a; break;
    default: return null;
  }
  return BigInt.asUintN(bits, result);
}

function compare(op: number, a: bigint, b: bigint, bits: number): boolean | null {
  const sa = BigInt.asIntN(bits, a);
  const sb = BigInt.asIntN(bits, b);
  switch (op) {
    case BPF_JEQ: return a === b;
    case BPF_JNE: return a !== b;
    case BPF_JGT: return a > b;
    case BPF_JGE: return a >= b;
    case BPF_JLT: return a < b;
    case BPF_JLE: return a <= b;
    case BPF_JSET: return (a & b) !== 0n;
    case BPF_JSGT: return sa > sb;
    case BPF_JSGE: return sa >= sb;
    case BPF_JSLT: return sa < sb;
    case BPF_JSLE: return sa <= sb;
    default: return null;
  }
}
