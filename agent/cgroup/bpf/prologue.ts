// The device-mounter prologue: instructions put in front of the container
// runtime's cgroup v2 device program so that our extra allow rules take effect
// while the runtime's own program still decides everything else.
//
// Format (N = number of rules after canonicalize, N ≥ 1; no rules → no prologue):
//
//    0: w0 = 1145917489          magic 0x444d5031 ("DMP1"), the format version
//    1: w6 = N                   rule count, so the end is known without guessing
//    2: r2 = *(u32 *)(r1 + 0)    \
//    3: w2 &= 65535               |  r2 = device type, r3 = requested access,
//    4: r3 = *(u32 *)(r1 + 0)     |  r4 = major, r5 = minor
//    5: w3 >>= 16                 |  (the same loads runc starts with)
//    6: r4 = *(u32 *)(r1 + 4)     |
//    7: r5 = *(u32 *)(r1 + 8)    /
//   then one block per rule, in canonical order:
//       if r2 != TYPE goto NEXT        TYPE: 1 block, 2 char
//       if r4 != MAJOR goto NEXT       (absent when major is "*")
//       if r5 != MINOR goto NEXT       (absent when minor is "*")
//       r6 = r3
//       w6 &= MASK                     MASK = ~ACCESS_BITS & 0xffff
//       if r6 != 0 goto NEXT           some requested bit is not granted
//       w0 = 1
//       exit                           allow
//   NEXT of the last block is the first instruction after the prologue, where
//   the runtime's original program starts with r1 still pointing at the context.
//
// Why this shape:
// - Only r0 and r2..r6 are written. r1 is never written, and nothing of ours
//   is read by the original program: the kernel verified it on its own, so it
//   writes every register before reading it.
// - The kernel keeps every one of these instructions unchanged in the xlated
//   dump on x86-64 (ctx loads of a device program are not rewritten, no
//   64-bit immediates, no helper calls, no nops), and no branch is dead:
//   every check tests a register the verifier only knows as a range, and
//   every block keeps its type and access checks (canonicalize turns "a"
//   into a "c" and a "b" rule; "rwm" still gets its mask), so no block is
//   unconditional and the original program after it is never dead code,
//   which the verifier would reject or delete. (Checked by loading such
//   programs into Linux 6.18 on x86-64 and reading the xlated dump back.)
// - 32-bit ALU is used only where runc uses it too. On an architecture whose
//   JIT asks the verifier for explicit zero-extension (bpf_jit_needs_zext) the
//   kernel would insert extra instructions after them, and decodePrologue
//   would then (safely) not recognise the program as ours.
// - The magic in r0 and the count in r6 are overwritten before anything reads
//   them, yet the verifier does not remove such writes. A runtime program
//   cannot start with them by accident, and decodePrologue additionally
//   regenerates the prologue from the decoded rules and demands byte equality,
//   so the rules read back are exactly the rules that were written.
// - Rules are canonicalized first, so equal rule sets give identical bytes.

import {
  canonicalize,
  type DeviceRule,
  formatRule,
  MAX_MAJOR,
  MAX_MINOR,
} from "../../devices/rules.ts";
import {
  accessFromDevcg,
  CTX_ACCESS_TYPE_OFFSET,
  CTX_MAJOR_OFFSET,
  CTX_MINOR_OFFSET,
  CTX_REGISTER,
  devcgAccess,
  devcgType,
  typeFromDevcg,
} from "./device-ctx.ts";
import {
  andImm32,
  BPF_ALU,
  BPF_JMP,
  BPF_JNE,
  BPF_K,
  BPF_MOV,
  exit,
  type Insn,
  jneImm,
  ldxW,
  movImm32,
  movReg,
  rshImm32,
  sameInsns,
} from "./insn.ts";

/** "DMP1": identifies a device-mounter prologue, format version 1. */
export const PROLOGUE_MAGIC = 0x444d5031;

const TYPE_REGISTER = 2;
const ACCESS_REGISTER = 3;
const MAJOR_REGISTER = 4;
const MINOR_REGISTER = 5;
const SCRATCH_REGISTER = 6;
const RESULT_REGISTER = 0;

/** Instructions before the first rule block. */
export const PROLOGUE_HEADER_LENGTH = 8;

function header(ruleCount: number): Insn[] {
  return [
    movImm32(RESULT_REGISTER, PROLOGUE_MAGIC),
    movImm32(SCRATCH_REGISTER, ruleCount),
    ldxW(TYPE_REGISTER, CTX_REGISTER, CTX_ACCESS_TYPE_OFFSET),
    andImm32(TYPE_REGISTER, 0xffff),
    ldxW(ACCESS_REGISTER, CTX_REGISTER, CTX_ACCESS_TYPE_OFFSET),
    rshImm32(ACCESS_REGISTER, 16),
    ldxW(MAJOR_REGISTER, CTX_REGISTER, CTX_MAJOR_OFFSET),
    ldxW(MINOR_REGISTER, CTX_REGISTER, CTX_MINOR_OFFSET),
  ];
}

/** Block for one canonical rule; its jumps go to the instruction right after the block. */
function ruleBlock(rule: DeviceRule): Insn[] {
  if (rule.type === "a") throw new Error(`[internal] canonical rule ${formatRule(rule)} still has type "a"`);
  const checks: Array<[register: number, value: number]> = [[TYPE_REGISTER, devcgType(rule.type)]];
  if (rule.major !== "*") checks.push([MAJOR_REGISTER, rule.major]);
  if (rule.minor !== "*") checks.push([MINOR_REGISTER, rule.minor]);
  const tail = 5; // r6 = r3; w6 &= MASK; if r6 != 0; w0 = 1; exit
  const length = checks.length + tail;
  const block: Insn[] = checks.map(([register, value], i) => jneImm(register, value, length - i - 1));
  block.push(
    movReg(SCRATCH_REGISTER, ACCESS_REGISTER),
    andImm32(SCRATCH_REGISTER, ~devcgAccess(rule.access) & 0xffff),
    jneImm(SCRATCH_REGISTER, 0, 2),
    movImm32(RESULT_REGISTER, 1),
    exit(),
  );
  return block;
}

/**
 * The prologue allowing exactly `rules` (allow rules only) and otherwise
 * falling through to whatever follows it. No rules → no instructions.
 */
export function generatePrologue(rules: readonly DeviceRule[]): Insn[] {
  const denied = rules.find((rule) => rule.allow === false);
  if (denied) {
    throw new Error(
      `generatePrologue: deny rule ${JSON.stringify(formatRule(denied))} cannot be expressed; a prologue can only add allowed devices (the original program keeps denying the rest)`,
    );
  }
  const canonical = canonicalize(rules);
  if (canonical.length === 0) return [];
  return [...header(canonical.length), ...canonical.flatMap(ruleBlock)];
}

function isJneImm(ins: Insn | undefined, register: number): ins is Insn {
  return ins !== undefined && ins.code === (BPF_JMP | BPF_JNE | BPF_K) && ins.dst === register && ins.src === 0;
}

/** Reads one block's values; exact bytes are checked afterwards by regeneration. */
function readBlock(insns: readonly Insn[], start: number): { rule: DeviceRule; next: number } | null {
  let at = start;
  const typeCheck = insns[at];
  if (!isJneImm(typeCheck, TYPE_REGISTER)) return null;
  const type = typeFromDevcg(typeCheck.imm);
  if (type === null) return null;
  at++;
  let major: number | "*" = "*";
  let minor: number | "*" = "*";
  const majorCheck = insns[at];
  if (isJneImm(majorCheck, MAJOR_REGISTER)) {
    if (majorCheck.imm < 0 || majorCheck.imm > MAX_MAJOR) return null;
    major = majorCheck.imm;
    at++;
  }
  const minorCheck = insns[at];
  if (isJneImm(minorCheck, MINOR_REGISTER)) {
    if (minorCheck.imm < 0 || minorCheck.imm > MAX_MINOR) return null;
    minor = minorCheck.imm;
    at++;
  }
  const mask = insns[at + 1];
  if (mask === undefined || at + 5 > insns.length) return null;
  const access = accessFromDevcg(~mask.imm & 0x7);
  if (access === null || access === "") return null;
  return { rule: { type, major, minor, access, allow: true }, next: at + 5 };
}

/**
 * Recognises our prologue at the start of a program (e.g. one read back from
 * the kernel) and returns the canonical rules it encodes and its length, or
 * null when the program does not start with a prologue of ours.
 */
export function decodePrologue(insns: readonly Insn[]): { rules: DeviceRule[]; prologueLength: number } | null {
  const magic = insns[0];
  const count = insns[1];
  if (magic === undefined || count === undefined) return null;
  if (magic.code !== (BPF_ALU | BPF_MOV | BPF_K) || magic.dst !== RESULT_REGISTER || magic.imm !== PROLOGUE_MAGIC) return null;
  if (count.code !== (BPF_ALU | BPF_MOV | BPF_K) || count.dst !== SCRATCH_REGISTER || count.imm < 1) return null;
  const rules: DeviceRule[] = [];
  let at = PROLOGUE_HEADER_LENGTH;
  for (let i = 0; i < count.imm; i++) {
    const block = readBlock(insns, at);
    if (block === null) return null;
    rules.push(block.rule);
    at = block.next;
  }
  let regenerated: Insn[];
  try {
    regenerated = generatePrologue(rules);
  } catch {
    return null;
  }
  if (!sameInsns(regenerated, insns.slice(0, at))) return null;
  return { rules, prologueLength: at };
}

/** The program to load: our prologue for `rules`, then the original program unchanged. */
export function buildDeviceProgram(rules: readonly DeviceRule[], originalInsns: readonly Insn[]): Insn[] {
  if (originalInsns.length === 0) {
    throw new Error("buildDeviceProgram: the original program is empty; the prologue must fall through into a program that decides the remaining requests");
  }
  const existing = decodePrologue(originalInsns);
  if (existing !== null) {
    throw new Error(
      `buildDeviceProgram: the original program already starts with a device-mounter prologue (${existing.rules.map(formatRule).join(", ")}); split it with splitDeviceProgram first instead of stacking prologues`,
    );
  }
  return [...generatePrologue(rules), ...originalInsns];
}

/** Our rules and the runtime's original program; rules = [] and original = insns when there is no prologue. */
export function splitDeviceProgram(insns: readonly Insn[]): { rules: DeviceRule[]; original: Insn[] } {
  const decoded = decodePrologue(insns);
  if (decoded === null) return { rules: [], original: [...insns] };
  return { rules: decoded.rules, original: insns.slice(decoded.prologueLength) };
}
