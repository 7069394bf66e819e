import { describe, expect, test } from "bun:test";
import { allows, canonicalize, type DeviceRequest, type DeviceRule, formatRule, parseRule } from "../../devices/rules.ts";
import { ALL_ACCESS, pick, randomRules, type Random, seededRandom } from "../../devices/fixtures/random-rules.ts";
import { disassemble } from "./disasm.ts";
import { runDeviceProgram } from "./emulator.ts";
import { expectGolden } from "./fixtures/golden.ts";
import { RUNC_DEFAULT_RULES, runcLikeDeviceProgram } from "./fixtures/runc-program.ts";
import {
  BPF_ALU,
  BPF_ALU64,
  BPF_AND,
  BPF_EXIT,
  BPF_JMP,
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
  jumpTarget,
  movImm32,
  writtenRegisters,
} from "./insn.ts";
import {
  buildDeviceProgram,
  decodePrologue,
  generatePrologue,
  PROLOGUE_HEADER_LENGTH,
  PROLOGUE_MAGIC,
  splitDeviceProgram,
} from "./prologue.ts";

const rules = (...texts: string[]): DeviceRule[] => texts.map((t) => parseRule(t));
const denyAll: Insn[] = [movImm32(0, 0), exit()];

/** A request that sometimes hits the numbers rules use and sometimes not. */
function randomRequest(random: Random): DeviceRequest {
  return {
    type: pick(random, ["c", "b"] as const),
    major: pick(random, [0, 1, 5, 7, 10, 136, 4095]),
    minor: pick(random, [0, 1, 3, 9, 200, 1048575]),
    access: pick(random, ALL_ACCESS),
  };
}

/**
 * Original programs a prologue may meet: runc's, a deny-all, runc's privileged
 * one, and one that itself starts with a prologue of ours. Each comes with the
 * allow lists that decide it; one of them must allow a request on its own.
 */
function randomOriginal(random: Random): { insns: Insn[]; allowLists: DeviceRule[][] } {
  const kind = Math.floor(random() * 4);
  if (kind === 0) return { insns: denyAll, allowLists: [] };
  if (kind === 1) return { insns: runcLikeDeviceProgram(rules("a")), allowLists: [rules("a")] };
  const allowList = randomRules(random, 6);
  const runc = runcLikeDeviceProgram(allowList);
  if (kind === 2) return { insns: runc, allowLists: [allowList] };
  const inner = randomRules(random, 3);
  return { insns: [...generatePrologue(inner), ...runc], allowLists: [inner, allowList] };
}

const GOLDEN_RULES = rules("c 10:232 rw", "c 10:200 rwm", "b 7:* r", "c *:5 w", "c *:* m", "a 8:0 rwm", "c 10:232 m");

describe("generatePrologue", () => {
  test("golden: the prologue for a fixed rule set", () => {
    const text = [
      "# generatePrologue for:",
      ...GOLDEN_RULES.map((r) => `#   ${formatRule(r)}`),
      "# canonical:",
      ...canonicalize(GOLDEN_RULES).map((r) => `#   ${formatRule(r)}`),
      disassemble(generatePrologue(GOLDEN_RULES)),
      "",
    ].join("\n");
    expectGolden("prologue.golden", text);
  });

  test("golden: runc's default program with /dev/fuse granted", () => {
    const program = buildDeviceProgram(rules("c 10:229 rwm"), runcLikeDeviceProgram(RUNC_DEFAULT_RULES));
    expectGolden("runc-default-plus-fuse.golden", `${disassemble(program)}\n`);
  });

  test("starts with the magic and the rule count", () => {
    const prologue = generatePrologue(rules("c 1:3 r", "b 8:* rw"));
    expect(PROLOGUE_MAGIC).toBe(0x444d5031);
    expect(disassemble(prologue.slice(0, PROLOGUE_HEADER_LENGTH)).split("\n")).toEqual([
      "0: w0 = 1145917489",
      "1: w6 = 2",
      "2: r2 = *(u32 *)(r1 + 0)",
      "3: w2 &= 65535",
      "4: r3 = *(u32 *)(r1 + 0)",
      "5: w3 >>= 16",
      "6: r4 = *(u32 *)(r1 + 4)",
      "7: r5 = *(u32 *)(r1 + 8)",
    ]);
  });

  test("no rules, no prologue", () => {
    expect(generatePrologue([])).toEqual([]);
    expect(generatePrologue([{ type: "c", major: 1, minor: 3, access: "", allow: true }])).toEqual([]);
  });

  test("refuses deny rules", () => {
    expect(() => generatePrologue([parseRule("c 1:3 r"), parseRule("c 10:200 rwm", false)])).toThrow(
      'generatePrologue: deny rule "c 10:200 rwm" cannot be expressed',
    );
  });

  test("equal rule sets give identical bytes", () => {
    const a = generatePrologue(rules("c 1:3 r", "c 1:3 w", "c 1:* m", "c 1:4 m", "a 7:0 rw"));
    const b = generatePrologue(rules("b 7:0 wr", "c 7:0 rw", "c 1:* m", "c 1:3 wr", "c 1:3 r"));
    expect(encode(a)).toEqual(encode(b));
  });

  test("structure: only allowed opcodes, r1 never written, every jump forward inside [0, length]", () => {
    const allowedCodes = new Set([
      BPF_ALU | BPF_MOV | BPF_K,
      BPF_ALU | BPF_AND | BPF_K,
      BPF_ALU | BPF_RSH | BPF_K,
      BPF_ALU64 | BPF_MOV | BPF_X,
      BPF_LDX | BPF_MEM | BPF_W,
      BPF_JMP | BPF_JNE | BPF_K,
      BPF_JMP | BPF_EXIT,
    ]);
    const random = seededRandom(21);
    for (let i = 0; i < 300; i++) {
      const prologue = generatePrologue(randomRules(random, 10));
      prologue.forEach((ins, index) => {
        expect(allowedCodes.has(ins.code)).toBe(true);
        for (const register of writtenRegisters(ins)) expect([0, 2, 3, 4, 5, 6]).toContain(register);
        const target = jumpTarget(prologue, index);
        if (target !== null) {
          expect(target).toBeGreaterThan(index);
          expect(target).toBeLessThanOrEqual(prologue.length);
        }
      });
      // The only way out besides "allow" is falling off the end: the last instruction is an exit
      // reached only by its block, and the last block's jumps land exactly on prologue.length.
      if (prologue.length > 0) {
        expect(prologue.at(-1)).toEqual(exit());
        expect(prologue.some((_, index) => jumpTarget(prologue, index) === prologue.length)).toBe(true);
      }
    }
  });
});

describe("decodePrologue", () => {
  test("round trip: canonical rules and length, whatever follows", () => {
    const random = seededRandom(22);
    let decodedCount = 0;
    for (let i = 0; i < 600; i++) {
      const ours = randomRules(random, 8);
      const prologue = generatePrologue(ours);
      const original = randomOriginal(random).insns;
      const program = [...prologue, ...original];
      const decoded = decodePrologue(program);
      if (prologue.length === 0) {
        // Nothing of ours: the original decides, and may itself start with a prologue.
        expect(decoded).toEqual(decodePrologue(original));
        continue;
      }
      decodedCount++;
      expect(decoded).toEqual({ rules: canonicalize(ours), prologueLength: prologue.length });
      expect(decodePrologue(prologue)).toEqual(decoded);
    }
    expect(decodedCount).toBeGreaterThan(400);
  });

  test("survives the trip through kernel bytes", () => {
    const prologue = generatePrologue(GOLDEN_RULES);
    const fromKernel = decode(encode([...prologue, ...runcLikeDeviceProgram(RUNC_DEFAULT_RULES)]));
    expect(decodePrologue(fromKernel)).toEqual({ rules: canonicalize(GOLDEN_RULES), prologueLength: prologue.length });
  });

  test("runtime programs are not ours", () => {
    const random = seededRandom(23);
    expect(decodePrologue(runcLikeDeviceProgram(RUNC_DEFAULT_RULES))).toBeNull();
    expect(decodePrologue(runcLikeDeviceProgram([]))).toBeNull();
    expect(decodePrologue(runcLikeDeviceProgram(rules("a")))).toBeNull();
    expect(decodePrologue(denyAll)).toBeNull();
    expect(decodePrologue([])).toBeNull();
    for (let i = 0; i < 200; i++) expect(decodePrologue(runcLikeDeviceProgram(randomRules(random, 8)))).toBeNull();
  });

  test("damaged prologues are not ours", () => {
    const prologue = generatePrologue(rules("c 1:3 rw", "c 10:* m"));
    const withOriginal = (insns: Insn[]): Insn[] => [...insns, ...denyAll];
    const patched = (index: number, change: Partial<Insn>): Insn[] =>
      withOriginal(prologue.map((ins, i) => (i === index ? { ...ins, ...change } : ins)));
    expect(decodePrologue(patched(0, { imm: PROLOGUE_MAGIC + 1 }))).toBeNull(); // other magic
    expect(decodePrologue(patched(1, { imm: 3 }))).toBeNull(); // count too high
    // A lower count is a shorter prologue whose "original" happens to start with our second block.
    expect(decodePrologue(patched(1, { imm: 1 }))).toEqual({ rules: rules("c 1:3 rw"), prologueLength: 16 });
    expect(decodePrologue(patched(1, { imm: 0 }))).toBeNull();
    expect(decodePrologue(patched(3, { imm: 0xff }))).toBeNull(); // header changed
    expect(decodePrologue(patched(8, { off: 5 }))).toBeNull(); // jump not to the next block
    expect(decodePrologue(patched(12, { imm: 0x1fff9 }))).toBeNull(); // mask not canonical
    expect(decodePrologue(patched(14, { imm: 2 }))).toBeNull(); // returns something other than 1
    expect(decodePrologue(withOriginal(prologue.slice(0, -1)))).toBeNull(); // truncated
    expect(decodePrologue(prologue.slice(0, 10))).toBeNull();
    // Blocks in non-canonical order, though each is well formed.
    const firstBlock = prologue.slice(PROLOGUE_HEADER_LENGTH, PROLOGUE_HEADER_LENGTH + 8);
    const secondBlock = prologue.slice(PROLOGUE_HEADER_LENGTH + 8);
    expect(decodePrologue(withOriginal([...prologue.slice(0, PROLOGUE_HEADER_LENGTH), ...secondBlock, ...firstBlock]))).toBeNull();
    // Changing a number gives a valid prologue for other rules, and that is what is read back.
    expect(decodePrologue(patched(9, { imm: 2 }))?.rules.map(formatRule)).toEqual(["c 2:3 rw", "c 10:* m"]);
  });
});

describe("buildDeviceProgram / splitDeviceProgram", () => {
  test("no rules leave the original untouched", () => {
    const original = runcLikeDeviceProgram(RUNC_DEFAULT_RULES);
    expect(buildDeviceProgram([], original)).toEqual(original);
    expect(splitDeviceProgram(original)).toEqual({ rules: [], original });
  });

  test("split undoes build", () => {
    const random = seededRandom(24);
    for (let i = 0; i < 200; i++) {
      const ours = randomRules(random, 6);
      const original = runcLikeDeviceProgram(randomRules(random, 6));
      expect(splitDeviceProgram(buildDeviceProgram(ours, original))).toEqual({ rules: canonicalize(ours), original });
    }
  });

  test("refuses an empty original and stacking prologues", () => {
    expect(() => buildDeviceProgram(rules("c 1:3 r"), [])).toThrow("buildDeviceProgram: the original program is empty");
    const withPrologue = buildDeviceProgram(rules("c 1:3 r"), denyAll);
    expect(() => buildDeviceProgram(rules("c 1:5 r"), withPrologue)).toThrow(
      "buildDeviceProgram: the original program already starts with a device-mounter prologue (c 1:3 r); split it with splitDeviceProgram first",
    );
  });
});

describe("behaviour (emulated)", () => {
  test("prologue + runc-like program allows exactly what either list allows", () => {
    const random = seededRandom(25);
    let allowedByOurs = 0;
    let allowedByOriginal = 0;
    for (let i = 0; i < 400; i++) {
      const ours = randomRules(random, 8);
      const { insns: original, allowLists } = randomOriginal(random);
      const program = buildOrStack(ours, original);
      for (let j = 0; j < 40; j++) {
        const request = randomRequest(random);
        const byOurs = allows(ours, request, request.access);
        const byOriginal = allowLists.some((list) => allows(list, request, request.access));
        if (byOurs) allowedByOurs++;
        if (byOriginal && !byOurs) allowedByOriginal++;
        expect(runDeviceProgram(program, request)).toBe(byOurs || byOriginal ? 1 : 0);
      }
    }
    expect(allowedByOurs).toBeGreaterThan(500);
    expect(allowedByOriginal).toBeGreaterThan(500);
  });

  test("runc's default list plus a granted device", () => {
    const program = buildDeviceProgram(rules("c 10:229 rw", "b 7:* r"), runcLikeDeviceProgram(RUNC_DEFAULT_RULES));
    const run = (type: "c" | "b", major: number, minor: number, access: DeviceRequest["access"]): number =>
      runDeviceProgram(program, { type, major, minor, access });
    expect(run("c", 10, 229, "rw")).toBe(1);
    expect(run("c", 10, 229, "m")).toBe(1); // runc's "c *:* m"
    expect(run("c", 10, 229, "rwm")).toBe(0); // no single rule has all three
    expect(run("b", 7, 3, "r")).toBe(1);
    expect(run("b", 7, 3, "w")).toBe(0);
    expect(run("c", 1, 3, "rwm")).toBe(1); // runc's /dev/null, reached through the prologue
    expect(run("c", 10, 232, "r")).toBe(0);
  });
});

/** buildDeviceProgram refuses to stack prologues; the equivalence test also covers the stacked shape the kernel could hold. */
function buildOrStack(ours: DeviceRule[], original: Insn[]): Insn[] {
  return decodePrologue(original) === null ? buildDeviceProgram(ours, original) : [...generatePrologue(ours), ...original];
}
