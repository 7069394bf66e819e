// cgroup v2 device grants. The runtime attaches one allowlist program to the
// container's cgroup, and extra programs can only restrict (every attached
// program must allow), so a grant atomically REPLACES that program with our
// prologue followed by the runtime's own instructions as the kernel holds
// them. The program is recognised as ours from the kernel alone (name and a
// prologue that regenerates byte-identically), so no local state is needed.
import { loadNative, isNativeError } from "../../native/index.ts";
import { canonicalize, type DeviceRule } from "../devices/rules.ts";
import { decode, encode, type Insn } from "./bpf/insn.ts";
import { buildDeviceProgram, splitDeviceProgram } from "./bpf/prologue.ts";

export const PROGRAM_NAME = "device_mounter";
const LICENSE = "Apache-2.0";
const BPF_PROG_TYPE_CGROUP_DEVICE = 15;
export const BPF_F_ALLOW_OVERRIDE = 1;
export const BPF_F_ALLOW_MULTI = 2;
export const BPF_F_REPLACE = 4;
/** Compare-and-swap retries when someone else replaces the program meanwhile. */
const MAX_ATTEMPTS = 5;

/** The grant cannot be made without risking the container's other restrictions; nothing was changed. */
export class UnsafeProgramError extends Error {
  override readonly name = "UnsafeProgramError";
  constructor(
    message: string,
    readonly cgroupDir: string,
  ) {
    super(`${message} (cgroup ${cgroupDir})`);
  }
}

interface V2Program {
  id: number;
  name: string;
  attachFlags: number;
  /** Rules our prologue grants (empty when the program is not ours). */
  rules: DeviceRule[];
  /** The runtime's instructions, without our prologue. */
  original: Insn[];
}

function describe(dir: string, info: { id: number; name: string; type: number; insns: Uint8Array }, attachFlags: number): V2Program {
  if (info.type !== BPF_PROG_TYPE_CGROUP_DEVICE) throw new UnsafeProgramError(`program ${info.id} has type ${info.type}, not a device program`, dir);
  const insns = decode(info.insns);
  if (info.name !== PROGRAM_NAME) return { id: info.id, name: info.name, attachFlags, rules: [], original: insns };
  const split = splitDeviceProgram(insns);
  if (split.rules.length === 0) {
    throw new UnsafeProgramError(`program ${info.id} is named ${PROGRAM_NAME} but does not start with a prologue device-mounter generates`, dir);
  }
  return { id: info.id, name: info.name, attachFlags, rules: split.rules, original: split.original };
}

const BPF_LD_IMM_DW = 0x18;
const BPF_JMP_CALL = 0x85;
const BPF_REG_AX = 11;

/**
 * Instructions read back from the kernel can only be loaded again when they
 * are plain: constant blinding (net.core.bpf_jit_harden) rewrites programs
 * with the hidden register r11, and helper calls or 64-bit immediates are
 * rewritten to kernel addresses in the dump.
 */
export function reloadProblem(insns: Insn[]): string | undefined {
  for (const [i, insn] of insns.entries()) {
    if (insn.dst >= BPF_REG_AX || insn.src >= BPF_REG_AX) return `instruction ${i} uses r${Math.max(insn.dst, insn.src)} (constant blinding: net.core.bpf_jit_harden is set)`;
    if (insn.code === BPF_JMP_CALL) return `instruction ${i} calls a helper`;
    if (insn.code === BPF_LD_IMM_DW) return `instruction ${i} loads a 64-bit immediate`;
  }
  return undefined;
}

const sameRules = (a: DeviceRule[], b: DeviceRule[]) => JSON.stringify(canonicalize(a)) === JSON.stringify(canonicalize(b));

export type V2Outcome = "unrestricted" | "unchanged" | "replaced";

/**
 * Makes the program on `dir` grant exactly `rules` on top of the runtime's
 * own allowlist. Empty `rules` restores the runtime's program alone.
 */
export function applyV2(dir: string, rules: DeviceRule[]): V2Outcome {
  const native = loadNative();
  for (let attempt = 1; ; attempt++) {
    const { attachFlags, progIds } = native.bpfProgQuery(dir);
    if (progIds.length === 0) return "unrestricted";
    if (progIds.length > 1) {
      throw new UnsafeProgramError(`${progIds.length} device programs are attached (ids ${progIds.join(", ")}); refusing to guess which one to extend`, dir);
    }
    const oldFd = native.bpfProgGetFdById(progIds[0]!);
    try {
      const current = describe(dir, native.bpfProgInfo(oldFd), attachFlags);
      if (sameRules(current.rules, rules)) return "unchanged";
      const problem = reloadProblem(current.original);
      if (problem) throw new UnsafeProgramError(`cannot extend device program ${current.id}: ${problem}`, dir);
      const program = rules.length ? buildDeviceProgram(rules, current.original) : current.original;
      const newFd = native.bpfProgLoad(encode(program), rules.length ? PROGRAM_NAME : "", LICENSE);
      try {
        if (attachFlags & BPF_F_ALLOW_MULTI) {
          native.bpfProgAttach(dir, newFd, BPF_F_ALLOW_MULTI | BPF_F_REPLACE, oldFd);
        } else {
          // Single-program modes replace the attached program when attached again with the same flags.
          native.bpfProgAttach(dir, newFd, attachFlags, -1);
        }
        return "replaced";
      } catch (e) {
        // ENOENT: the program we read was replaced meanwhile; read again.
        if (isNativeError(e) && e.code === "ENOENT" && attempt < MAX_ATTEMPTS) continue;
        throw e;
      } finally {
        native.close(newFd);
      }
    } finally {
      native.close(oldFd);
    }
  }
}
