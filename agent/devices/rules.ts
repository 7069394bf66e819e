// Device cgroup rules: the model shared by the cgroup v1 writer (devices.allow /
// devices.deny / devices.list) and the cgroup v2 BPF program generator.
//
// Meaning of an allow list (the same one the kernel enforces):
//   1. a rule of type "a" stands for the same rule of type "c" plus type "b";
//   2. rules for the same (type, major, minor) pattern merge by OR-ing their
//      access, as cgroup v1 merges exceptions for the same device;
//   3. a request (device, access) is allowed when ONE rule matches the device
//      and its access contains every requested letter. The kernel's v1
//      exception matcher and every BPF device program (runc's and ours) check
//      a single rule at a time, so {c 1:3 r, c 1:* w} does NOT allow "rw" on
//      1:3, even though both letters appear somewhere.
// canonicalize, allows and isSubset follow exactly this meaning. union,
// intersection and difference work on (device, access-letter) pairs and then
// canonicalize (which merges same-pattern rules, see 2.).

export type DeviceType = "c" | "b" | "a";

/** Subset of "rwm", always in the order r, w, m. "" only appears as the result of set arithmetic. */
export type Access = "" | "r" | "w" | "m" | "rw" | "rm" | "wm" | "rwm";

export type DeviceNumber = number | "*";

export interface DeviceRule {
  type: DeviceType;
  major: DeviceNumber;
  minor: DeviceNumber;
  access: Access;
  allow: boolean;
}

/** One concrete device node. */
export interface DeviceId {
  type: "c" | "b";
  major: number;
  minor: number;
}

/** What the kernel asks a device filter: may this device be opened/created with this access? */
export interface DeviceRequest extends DeviceId {
  access: Access;
}

/** Largest major the kernel's dev_t can carry (12 bits). */
export const MAX_MAJOR = 0xfff;
/** Largest minor the kernel's dev_t can carry (20 bits). */
export const MAX_MINOR = 0xfffff;

// ---------------------------------------------------------------------------
// Access strings

const ACCESS_LETTERS = ["r", "w", "m"] as const;
type AccessLetter = (typeof ACCESS_LETTERS)[number];
const LETTER_BIT: Record<AccessLetter, number> = { r: 1, w: 2, m: 4 };
const ALL_ACCESS_BITS = 7;

function isAccessLetter(ch: string): ch is AccessLetter {
  return ch === "r" || ch === "w" || ch === "m";
}

/** Bit set (r=1, w=2, m=4) of an access string in any letter order; throws on unknown or repeated letters. */
function accessBitsOf(text: string, where: string): number {
  let bits = 0;
  for (const ch of text) {
    if (!isAccessLetter(ch)) {
      throw new Error(`${where}: access ${JSON.stringify(text)} has ${JSON.stringify(ch)}; only the letters r, w and m are allowed`);
    }
    if (bits & LETTER_BIT[ch]) {
      throw new Error(`${where}: access ${JSON.stringify(text)} repeats the letter ${JSON.stringify(ch)}`);
    }
    bits |= LETTER_BIT[ch];
  }
  return bits;
}

function accessOfBits(bits: number): Access {
  let text = "";
  for (const letter of ACCESS_LETTERS) if (bits & LETTER_BIT[letter]) text += letter;
  return text as Access;
}

/** Canonical access ("mr" → "rm"); rejects empty text, unknown and repeated letters. */
export function accessFromString(text: string): Access {
  const where = `access ${JSON.stringify(text)}`;
  if (text === "") throw new Error(`${where}: access must name at least one of r, w, m`);
  return accessOfBits(accessBitsOf(text, where));
}

/** Whether `access` contains every letter of `wanted`. */
export function accessIncludes(access: Access, wanted: Access): boolean {
  const have = accessBitsOf(access, "accessIncludes");
  const want = accessBitsOf(wanted, "accessIncludes");
  return (have & want) === want;
}

export function accessUnion(a: Access, b: Access): Access {
  return accessOfBits(accessBitsOf(a, "accessUnion") | accessBitsOf(b, "accessUnion"));
}

export function accessIntersection(a: Access, b: Access): Access {
  return accessOfBits(accessBitsOf(a, "accessIntersection") & accessBitsOf(b, "accessIntersection"));
}

/** Letters of `a` that are not in `b`. */
export function accessMinus(a: Access, b: Access): Access {
  return accessOfBits(accessBitsOf(a, "accessMinus") & ~accessBitsOf(b, "accessMinus"));
}

// ---------------------------------------------------------------------------
// Validation, parsing, formatting

function checkNumber(value: unknown, max: number, what: "major" | "minor", where: string): DeviceNumber {
  if (value === "*") return "*";
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > max) {
    throw new Error(`${where}: ${what} ${JSON.stringify(value)} must be "*" or an integer from 0 to ${max}`);
  }
  return value;
}

function describeRule(rule: DeviceRule): string {
  try {
    return JSON.stringify(formatRule(rule));
  } catch {
    return JSON.stringify(rule);
  }
}

/** Checks a rule built in code and returns it with its access in canonical order. Access may be empty. */
export function validateRule(rule: DeviceRule): DeviceRule {
  const where = `device rule ${describeRule(rule)}`;
  if (rule.type !== "c" && rule.type !== "b" && rule.type !== "a") {
    throw new Error(`${where}: type ${JSON.stringify(rule.type)} must be "c", "b" or "a"`);
  }
  if (typeof rule.allow !== "boolean") throw new Error(`${where}: allow must be true or false`);
  if (typeof rule.access !== "string") throw new Error(`${where}: access must be a string of r, w, m`);
  return {
    type: rule.type,
    major: checkNumber(rule.major, MAX_MAJOR, "major", where),
    minor: checkNumber(rule.minor, MAX_MINOR, "minor", where),
    access: accessOfBits(accessBitsOf(rule.access, where)),
    allow: rule.allow,
  };
}

function parseNumber(text: string, max: number, what: "major" | "minor", where: string): DeviceNumber {
  if (text === "*") return "*";
  // Decimal digits only: the kernel parses these fields in base 10.
  if (!/^[0-9]+$/.test(text)) throw new Error(`${where}: ${what} ${JSON.stringify(text)} must be "*" or a decimal number`);
  const value = Number(text);
  if (value > max) throw new Error(`${where}: ${what} ${text} is larger than the kernel limit ${max}`);
  return value;
}

/**
 * Parses one rule in cgroup v1 syntax: "c 10:232 rw", "b 7:* r", "a *:* rwm",
 * or "a" alone (all devices, all access — how devices.list prints "allow all").
 */
export function parseRule(text: string, allow = true): DeviceRule {
  const where = `device rule ${JSON.stringify(text)}`;
  const fields = text.trim().split(/\s+/).filter((field) => field !== "");
  const [type, numbers, access, ...extra] = fields;
  if (type === undefined) throw new Error(`${where}: empty rule`);
  if (type !== "c" && type !== "b" && type !== "a") {
    throw new Error(`${where}: type ${JSON.stringify(type)} must be "c", "b" or "a"`);
  }
  if (type === "a" && numbers === undefined) return { type: "a", major: "*", minor: "*", access: "rwm", allow };
  if (numbers === undefined) throw new Error(`${where}: missing MAJOR:MINOR after the type`);
  const parts = numbers.split(":");
  if (parts.length !== 2) throw new Error(`${where}: ${JSON.stringify(numbers)} must have the form MAJOR:MINOR`);
  const major = parseNumber(parts[0] ?? "", MAX_MAJOR, "major", where);
  const minor = parseNumber(parts[1] ?? "", MAX_MINOR, "minor", where);
  if (access === undefined) throw new Error(`${where}: missing access (some of r, w, m) after ${numbers}`);
  if (extra.length > 0) throw new Error(`${where}: unexpected ${JSON.stringify(extra.join(" "))} after the access`);
  return { type, major, minor, access: accessOfBits(accessBitsOf(access, where)), allow };
}

/** "c 10:232 rw" — the line cgroup v1 accepts in devices.allow / devices.deny. */
export function formatRule(rule: DeviceRule): string {
  return `${rule.type} ${rule.major}:${rule.minor} ${rule.access}`;
}

/** Parses a cgroup v1 devices.list (one rule per line; blank lines ignored). All rules are allow rules. */
export function parseDevicesList(text: string): DeviceRule[] {
  const rules: DeviceRule[] = [];
  text.split("\n").forEach((line, index) => {
    if (line.trim() === "") return;
    try {
      rules.push(parseRule(line));
    } catch (error) {
      throw new Error(`devices.list line ${index + 1}: ${(error as Error).message}`);
    }
  });
  return rules;
}

// ---------------------------------------------------------------------------
// Set operations on allow lists

/** An allow rule for a concrete type with its access as bits; the working form of the set operations. */
interface Pattern {
  type: "c" | "b";
  major: DeviceNumber;
  minor: DeviceNumber;
  bits: number;
}

function patternKey(p: { type: string; major: DeviceNumber; minor: DeviceNumber }): string {
  return `${p.type} ${p.major}:${p.minor}`;
}

/** Validated allow rules with "a" expanded and same-pattern rules merged, in first-seen order. */
function mergedPatterns(rules: readonly DeviceRule[], operation: string): Pattern[] {
  const byKey = new Map<string, Pattern>();
  rules.forEach((input, index) => {
    const rule = validateRule(input);
    if (!rule.allow) {
      throw new Error(`${operation}: rule ${index} ${JSON.stringify(formatRule(rule))} is a deny rule; set operations take allow rules only`);
    }
    const bits = accessBitsOf(rule.access, operation);
    for (const type of rule.type === "a" ? (["c", "b"] as const) : [rule.type]) {
      const key = patternKey({ type, major: rule.major, minor: rule.minor });
      const existing = byKey.get(key);
      if (existing) existing.bits |= bits;
      else byKey.set(key, { type, major: rule.major, minor: rule.minor, bits });
    }
  });
  return [...byKey.values()].filter((p) => p.bits !== 0);
}

function numberCovers(general: DeviceNumber, specific: DeviceNumber): boolean {
  return general === "*" || general === specific;
}

/** Whether every device matched by `inner` is matched by `outer`. */
function patternCovers(outer: Pattern, inner: Pattern): boolean {
  return outer.type === inner.type && numberCovers(outer.major, inner.major) && numberCovers(outer.minor, inner.minor);
}

function patternMatches(p: Pattern, device: DeviceId): boolean {
  return p.type === device.type && numberCovers(p.major, device.major) && numberCovers(p.minor, device.minor);
}

const TYPE_ORDER: Record<"b" | "c", number> = { b: 0, c: 1 };

function compareNumbers(a: DeviceNumber, b: DeviceNumber): number {
  if (a === b) return 0;
  if (a === "*") return 1;
  if (b === "*") return -1;
  return a - b;
}

function comparePatterns(a: Pattern, b: Pattern): number {
  return TYPE_ORDER[a.type] - TYPE_ORDER[b.type] || compareNumbers(a.major, b.major) || compareNumbers(a.minor, b.minor);
}

function toRules(patterns: Pattern[]): DeviceRule[] {
  return patterns.map((p) => ({ type: p.type, major: p.major, minor: p.minor, access: accessOfBits(p.bits), allow: true }));
}

/** Canonical, irredundant form of a pattern list (see canonicalize). */
function canonicalPatterns(merged: Pattern[]): Pattern[] {
  const kept = merged.filter(
    (p) => !merged.some((q) => q !== p && patternCovers(q, p) && (q.bits & p.bits) === p.bits),
  );
  return kept.sort(comparePatterns);
}

/**
 * The unique shortest list allowing exactly the same requests: "a" rules become
 * a "c" and a "b" rule, rules for the same pattern merge, empty rules go, and a
 * rule goes when a more general rule (wildcard) of its type has all its access.
 * Sorted by type (b, c), major, minor, with "*" after numbers. The result
 * never holds "a" rules: cgroup v1 reads any "a ..." line as "allow all", so
 * "a 1:3 r" would be dangerous to write back.
 * Unique except for lists that spell out every one of the 4096 majors or 2^20
 * minors one by one, which nobody writes. Deny rules are refused.
 */
export function canonicalize(rules: readonly DeviceRule[]): DeviceRule[] {
  return toRules(canonicalPatterns(mergedPatterns(rules, "canonicalize")));
}

function checkRequest(device: DeviceId, access: Access, where: string): number {
  if (device.type !== "c" && device.type !== "b") {
    throw new Error(`${where}: device type ${JSON.stringify(device.type)} must be "c" or "b"`);
  }
  if (typeof device.major !== "number" || typeof device.minor !== "number") {
    throw new Error(`${where}: device ${JSON.stringify(device)} must have numeric major and minor, not "*"`);
  }
  checkNumber(device.major, MAX_MAJOR, "major", where);
  checkNumber(device.minor, MAX_MINOR, "minor", where);
  const bits = accessBitsOf(access, where);
  if (bits === 0) throw new Error(`${where}: requested access must name at least one of r, w, m`);
  return bits;
}

/** Whether the allow list lets `device` be used with all of `access` (one rule must grant it all). */
export function allows(rules: readonly DeviceRule[], device: DeviceId, access: Access): boolean {
  const wanted = checkRequest(device, access, "allows");
  return mergedPatterns(rules, "allows").some((p) => patternMatches(p, device) && (p.bits & wanted) === wanted);
}

/** Whether every request allowed by `a` is allowed by `b`. */
export function isSubset(a: readonly DeviceRule[], b: readonly DeviceRule[]): boolean {
  const inner = mergedPatterns(a, "isSubset");
  const outer = mergedPatterns(b, "isSubset");
  return inner.every((p) => outer.some((q) => patternCovers(q, p) && (q.bits & p.bits) === p.bits));
}

/** Every (device, access letter) pair of either list, canonicalized. */
export function union(a: readonly DeviceRule[], b: readonly DeviceRule[]): DeviceRule[] {
  return toRules(canonicalPatterns(mergedPatterns([...a, ...b], "union")));
}

function meetNumber(x: DeviceNumber, y: DeviceNumber): DeviceNumber | null {
  if (x === "*") return y;
  if (y === "*" || x === y) return x;
  return null;
}

/** The (device, access letter) pairs present in both lists, canonicalized. */
export function intersection(a: readonly DeviceRule[], b: readonly DeviceRule[]): DeviceRule[] {
  const left = mergedPatterns(a, "intersection");
  const right = mergedPatterns(b, "intersection");
  const meets: Pattern[] = [];
  for (const p of left) {
    for (const q of right) {
      if (p.type !== q.type) continue;
      const major = meetNumber(p.major, q.major);
      const minor = meetNumber(p.minor, q.minor);
      if (major === null || minor === null) continue;
      meets.push({ type: p.type, major, minor, bits: p.bits & q.bits });
    }
  }
  return canonicalize(toRules(meets.filter((m) => m.bits !== 0)));
}

/**
 * The access letters of `a`'s rules that no rule of `b` grants for that device
 * (b's wildcards count). `a` must name exact devices ("a" type is fine: it is
 * the c and the b device); a wildcard in `a` is refused.
 */
export function difference(a: readonly DeviceRule[], b: readonly DeviceRule[]): DeviceRule[] {
  const left = mergedPatterns(a, "difference");
  const right = mergedPatterns(b, "difference");
  const remaining: Pattern[] = [];
  for (const p of left) {
    if (p.major === "*" || p.minor === "*") {
      throw new Error(
        `difference: cannot subtract from the wildcard rule ${JSON.stringify(formatRule(toRules([p])[0]!))}; only exact-device rules are supported on the left side`,
      );
    }
    const device: DeviceId = { type: p.type, major: p.major, minor: p.minor };
    const covered = right.reduce((acc, q) => (patternMatches(q, device) ? acc | q.bits : acc), 0);
    remaining.push({ ...p, bits: p.bits & ~covered });
  }
  return toRules(canonicalPatterns(remaining.filter((p) => p.bits !== 0)));
}
