import { describe, expect, test } from "bun:test";
import {
  type Access,
  accessFromString,
  accessIncludes,
  accessIntersection,
  accessMinus,
  accessUnion,
  allows,
  canonicalize,
  type DeviceRequest,
  type DeviceRule,
  difference,
  formatRule,
  intersection,
  isSubset,
  parseDevicesList,
  parseRule,
  union,
  validateRule,
} from "./rules.ts";
import { pick, randomRules, requestUniverse, type RuleSpace, seededRandom } from "./fixtures/random-rules.ts";

const rules = (...texts: string[]): DeviceRule[] => texts.map((t) => parseRule(t));
const formatted = (list: DeviceRule[]): string[] => list.map(formatRule);

/**
 * Reference meaning written out independently of the implementation: expand
 * "a", OR the access of rules with the same pattern, then one rule must match
 * and hold every requested letter.
 */
function referenceAllows(list: DeviceRule[], request: DeviceRequest): boolean {
  const accessByPattern = new Map<string, Set<string>>();
  for (const rule of list) {
    for (const type of rule.type === "a" ? ["c", "b"] : [rule.type]) {
      const key = `${type} ${rule.major} ${rule.minor}`;
      const set = accessByPattern.get(key) ?? new Set<string>();
      for (const letter of rule.access) set.add(letter);
      accessByPattern.set(key, set);
    }
  }
  for (const [key, set] of accessByPattern) {
    const [type, major, minor] = key.split(" ");
    if (type !== request.type) continue;
    if (major !== "*" && Number(major) !== request.major) continue;
    if (minor !== "*" && Number(minor) !== request.minor) continue;
    if ([...request.access].every((letter) => set.has(letter))) return true;
  }
  return false;
}

describe("parseRule / formatRule", () => {
  test("parses the cgroup v1 forms", () => {
    expect(parseRule("c 10:232 rw")).toEqual({ type: "c", major: 10, minor: 232, access: "rw", allow: true });
    expect(parseRule("b 7:* r")).toEqual({ type: "b", major: 7, minor: "*", access: "r", allow: true });
    expect(parseRule("c *:3 m")).toEqual({ type: "c", major: "*", minor: 3, access: "m", allow: true });
    expect(parseRule("a *:* rwm")).toEqual({ type: "a", major: "*", minor: "*", access: "rwm", allow: true });
    expect(parseRule("a")).toEqual({ type: "a", major: "*", minor: "*", access: "rwm", allow: true });
    expect(parseRule("  c\t4095:1048575   mwr \n")).toEqual({ type: "c", major: 4095, minor: 1048575, access: "rwm", allow: true });
    expect(parseRule("c 1:3 rwm", false).allow).toBe(false);
  });

  test("formats in the syntax devices.allow accepts and round-trips", () => {
    for (const text of ["c 10:232 rw", "b 7:* r", "c *:3 m", "a *:* rwm", "b 0:0 wm"]) {
      expect(formatRule(parseRule(text))).toBe(text);
    }
    expect(formatRule(parseRule("a"))).toBe("a *:* rwm");
  });

  test("errors name the bad text and what is wrong", () => {
    const cases: Array<[string, string]> = [
      ["", 'device rule "": empty rule'],
      ["x 1:2 r", 'device rule "x 1:2 r": type "x" must be "c", "b" or "a"'],
      ["c", 'device rule "c": missing MAJOR:MINOR after the type'],
      ["c 1 r", 'device rule "c 1 r": "1" must have the form MAJOR:MINOR'],
      ["c 1:2", 'device rule "c 1:2": missing access (some of r, w, m) after 1:2'],
      ["c 1:2 rx", 'device rule "c 1:2 rx": access "rx" has "x"; only the letters r, w and m are allowed'],
      ["c 1:2 rr", 'device rule "c 1:2 rr": access "rr" repeats the letter "r"'],
      ["c 4096:0 r", 'device rule "c 4096:0 r": major 4096 is larger than the kernel limit 4095'],
      ["c 1:1048576 r", 'device rule "c 1:1048576 r": minor 1048576 is larger than the kernel limit 1048575'],
      ["c -1:2 r", 'device rule "c -1:2 r": major "-1" must be "*" or a decimal number'],
      ["c 0x10:2 r", 'device rule "c 0x10:2 r": major "0x10" must be "*" or a decimal number'],
      ["c 1:2 r extra", 'device rule "c 1:2 r extra": unexpected "extra" after the access'],
    ];
    for (const [text, message] of cases) expect(() => parseRule(text)).toThrow(message);
  });

  test("parseDevicesList reads devices.list and names the bad line", () => {
    expect(formatted(parseDevicesList("a *:* rwm\n"))).toEqual(["a *:* rwm"]);
    expect(formatted(parseDevicesList("c 1:3 rwm\nb 7:* r\n\nc 136:* rwm\n"))).toEqual(["c 1:3 rwm", "b 7:* r", "c 136:* rwm"]);
    expect(parseDevicesList("")).toEqual([]);
    expect(() => parseDevicesList("c 1:3 rwm\nc 1:3\n")).toThrow('devices.list line 2: device rule "c 1:3": missing access');
  });

  test("validateRule checks rules built in code", () => {
    expect(validateRule({ type: "c", major: 1, minor: 3, access: "mr" as Access, allow: true }).access).toBe("rm");
    expect(() => validateRule({ type: "c", major: 1.5, minor: 3, access: "r", allow: true })).toThrow(
      'device rule "c 1.5:3 r": major 1.5 must be "*" or an integer from 0 to 4095',
    );
    expect(() => validateRule({ type: "x" as "c", major: 1, minor: 3, access: "r", allow: true })).toThrow('type "x" must be "c", "b" or "a"');
  });
});

describe("access strings", () => {
  test("accessFromString orders letters and rejects bad input", () => {
    expect(accessFromString("mwr")).toBe("rwm");
    expect(accessFromString("m")).toBe("m");
    expect(() => accessFromString("")).toThrow('access "": access must name at least one of r, w, m');
    expect(() => accessFromString("q")).toThrow('has "q"');
  });

  test("letter arithmetic", () => {
    expect(accessUnion("r", "m")).toBe("rm");
    expect(accessIntersection("rw", "wm")).toBe("w");
    expect(accessMinus("rwm", "w")).toBe("rm");
    expect(accessMinus("r", "rw")).toBe("");
    expect(accessIncludes("rw", "w")).toBe(true);
    expect(accessIncludes("rw", "m")).toBe(false);
  });
});

describe("canonicalize", () => {
  test("runc's default list keeps every rule, sorted b before c, numbers before *", () => {
    const runcDefault = rules("c *:* m", "b *:* m", "c 1:3 rwm", "c 1:8 rwm", "c 1:7 rwm", "c 5:0 rwm", "c 1:5 rwm", "c 1:9 rwm", "c 136:* rwm", "c 5:2 rwm", "c 10:200 rwm", "c 5:1 rwm");
    expect(formatted(canonicalize(runcDefault))).toEqual([
      "b *:* m",
      "c 1:3 rwm",
      "c 1:5 rwm",
      "c 1:7 rwm",
      "c 1:8 rwm",
      "c 1:9 rwm",
      "c 5:0 rwm",
      "c 5:1 rwm",
      "c 5:2 rwm",
      "c 10:200 rwm",
      "c 136:* rwm",
      "c *:* m",
    ]);
  });

  test("merges the same device, expands a, drops empty and subsumed rules", () => {
    expect(formatted(canonicalize(rules("c 1:3 r", "c 1:3 w")))).toEqual(["c 1:3 rw"]);
    expect(formatted(canonicalize(rules("a 1:3 r", "c 1:3 m")))).toEqual(["b 1:3 r", "c 1:3 rm"]);
    expect(formatted(canonicalize(rules("a")))).toEqual(["b *:* rwm", "c *:* rwm"]);
    expect(formatted(canonicalize(rules("c 1:3 rw", "c 1:* rwm", "c 1:4 m")))).toEqual(["c 1:* rwm"]);
    expect(formatted(canonicalize(rules("c 1:3 r", "c *:3 rw", "c *:* w")))).toEqual(["c *:3 rw", "c *:* w"]);
    // A wildcard with only part of the access leaves the exact rule in place:
    // "rw" on 1:3 needs a single rule with both letters.
    expect(formatted(canonicalize(rules("c 1:3 rw", "c 1:* r")))).toEqual(["c 1:3 rw", "c 1:* r"]);
    expect(canonicalize([{ type: "c", major: 1, minor: 3, access: "", allow: true }])).toEqual([]);
    expect(canonicalize([])).toEqual([]);
  });

  test("refuses deny rules", () => {
    expect(() => canonicalize([parseRule("c 1:3 r"), parseRule("b 8:0 rwm", false)])).toThrow(
      'canonicalize: rule 1 "b 8:0 rwm" is a deny rule; set operations take allow rules only',
    );
  });

  test("allows exactly the same requests as its input", () => {
    const random = seededRandom(1);
    const universe = requestUniverse();
    for (let i = 0; i < 300; i++) {
      const list = randomRules(random, 8);
      const canonical = canonicalize(list);
      for (const request of universe) {
        expect(allows(canonical, request, request.access)).toBe(referenceAllows(list, request));
      }
    }
  });

  test("equal rule sets get one canonical form: rewritten lists", () => {
    const random = seededRandom(2);
    for (let i = 0; i < 500; i++) {
      const list = randomRules(random, 6);
      const rewritten: DeviceRule[] = [];
      for (const rule of list) {
        const form = Math.floor(random() * 4);
        if (form === 0) rewritten.push(rule, rule); // duplicated
        else if (form === 1 && rule.access.length > 1) {
          // split into two rules for the same pattern
          rewritten.push({ ...rule, access: accessMinus(rule.access, rule.access[0] as Access) }, { ...rule, access: rule.access[0] as Access });
        } else if (form === 2 && rule.type === "a") {
          rewritten.push({ ...rule, type: "b" }, { ...rule, type: "c" });
        } else rewritten.push(rule);
        // a rule the wildcard already grants
        if (rule.major === "*" && random() < 0.5) rewritten.push({ ...rule, major: 4, access: pick(random, [...rule.access]) as Access });
      }
      for (let j = rewritten.length - 1; j > 0; j--) {
        const k = Math.floor(random() * (j + 1));
        [rewritten[j], rewritten[k]] = [rewritten[k]!, rewritten[j]!];
      }
      expect(formatted(canonicalize(rewritten))).toEqual(formatted(canonicalize(list)));
    }
  });

  test("equal rule sets get one canonical form: exhaustive over a tiny space", () => {
    // With one number and "*" per field, random lists often mean the same
    // thing; meaning (over every request, including unnamed numbers) and
    // canonical form must agree both ways.
    const space: RuleSpace = { types: ["c", "b", "a"], majors: [1, "*"], minors: [1, "*"] };
    const universe = requestUniverse(space);
    const random = seededRandom(3);
    const canonicalByMeaning = new Map<string, string>();
    const meaningByCanonical = new Map<string, string>();
    for (let i = 0; i < 3000; i++) {
      const list = randomRules(random, 4, space);
      const meaning = universe.map((q) => (referenceAllows(list, q) ? "1" : "0")).join("");
      const canonical = JSON.stringify(canonicalize(list));
      expect(canonicalByMeaning.get(meaning) ?? canonical).toBe(canonical);
      expect(meaningByCanonical.get(canonical) ?? meaning).toBe(meaning);
      canonicalByMeaning.set(meaning, canonical);
      meaningByCanonical.set(canonical, meaning);
    }
    expect(canonicalByMeaning.size).toBeGreaterThan(50);
  });
});

describe("allows", () => {
  test("one rule must grant every requested letter", () => {
    const list = rules("c 1:3 r", "c 1:* w", "b 8:0 rm");
    expect(allows(list, { type: "c", major: 1, minor: 3 }, "r")).toBe(true);
    expect(allows(list, { type: "c", major: 1, minor: 3 }, "w")).toBe(true);
    expect(allows(list, { type: "c", major: 1, minor: 3 }, "rw")).toBe(false);
    expect(allows(list, { type: "c", major: 1, minor: 99 }, "w")).toBe(true);
    expect(allows(list, { type: "b", major: 1, minor: 3 }, "w")).toBe(false);
    expect(allows(list, { type: "b", major: 8, minor: 0 }, "rm")).toBe(true);
    expect(allows(list, { type: "c", major: 8, minor: 0 }, "r")).toBe(false);
  });

  test("same-device rules merge, as in cgroup v1", () => {
    expect(allows(rules("c 1:3 r", "c 1:3 w"), { type: "c", major: 1, minor: 3 }, "rw")).toBe(true);
  });

  test("type a matches char and block devices", () => {
    const list = rules("a 7:* rw");
    expect(allows(list, { type: "c", major: 7, minor: 0 }, "rw")).toBe(true);
    expect(allows(list, { type: "b", major: 7, minor: 12 }, "r")).toBe(true);
    expect(allows(list, { type: "b", major: 7, minor: 12 }, "m")).toBe(false);
    expect(allows(rules("a"), { type: "b", major: 4095, minor: 1048575 }, "rwm")).toBe(true);
  });

  test("rejects malformed requests", () => {
    expect(() => allows([], { type: "c", major: 1, minor: 3 }, "")).toThrow("allows: requested access must name at least one of r, w, m");
    expect(() => allows([], { type: "a" as "c", major: 1, minor: 3 }, "r")).toThrow('allows: device type "a" must be "c" or "b"');
    expect(() => allows([], { type: "c", major: "*" as unknown as number, minor: 3 }, "r")).toThrow('must have numeric major and minor, not "*"');
    expect(() => allows([], { type: "c", major: 5000, minor: 3 }, "r")).toThrow("allows: major 5000 must be");
  });
});

describe("set operations", () => {
  const universe = requestUniverse();
  const letterRequests = universe.filter((q) => q.access.length === 1);
  const exactSpace: RuleSpace = { types: ["c", "b", "a"], majors: [1, 5, 4095], minors: [0, 3, 1048575] };

  test("union holds every (device, letter) of either list", () => {
    const random = seededRandom(4);
    for (let i = 0; i < 200; i++) {
      const a = randomRules(random, 6);
      const b = randomRules(random, 6);
      const u = union(a, b);
      expect(u).toEqual(canonicalize(u));
      expect(isSubset(a, u) && isSubset(b, u)).toBe(true);
      for (const q of letterRequests) expect(allows(u, q, q.access)).toBe(referenceAllows(a, q) || referenceAllows(b, q));
    }
  });

  test("intersection holds the (device, letter) pairs of both lists", () => {
    const random = seededRandom(5);
    for (let i = 0; i < 200; i++) {
      const a = randomRules(random, 6);
      const b = randomRules(random, 6);
      const both = intersection(a, b);
      expect(both).toEqual(canonicalize(both));
      for (const q of letterRequests) expect(allows(both, q, q.access)).toBe(referenceAllows(a, q) && referenceAllows(b, q));
    }
    expect(formatted(intersection(rules("c 1:* rw", "b 8:0 r"), rules("c *:3 wm", "a 8:0 rwm")))).toEqual(["b 8:0 r", "c 1:3 w"]);
  });

  test("difference keeps the letters of exact devices that b does not grant", () => {
    const random = seededRandom(6);
    for (let i = 0; i < 200; i++) {
      const a = randomRules(random, 6, exactSpace);
      const b = randomRules(random, 6);
      const rest = difference(a, b);
      expect(rest).toEqual(canonicalize(rest));
      for (const q of letterRequests) expect(allows(rest, q, q.access)).toBe(referenceAllows(a, q) && !referenceAllows(b, q));
    }
    expect(formatted(difference(rules("c 10:232 rwm", "c 1:3 rw"), rules("c *:* m", "c 1:3 rwm")))).toEqual(["c 10:232 rw"]);
    expect(formatted(difference(rules("a 8:0 rw"), rules("b 8:* r")))).toEqual(["b 8:0 w", "c 8:0 rw"]);
  });

  test("difference refuses wildcards on the left", () => {
    expect(() => difference(rules("c 1:* rw"), [])).toThrow(
      'difference: cannot subtract from the wildcard rule "c 1:* rw"; only exact-device rules are supported on the left side',
    );
  });

  test("isSubset agrees with comparing every request", () => {
    const random = seededRandom(7);
    let subsets = 0;
    for (let i = 0; i < 400; i++) {
      const a = randomRules(random, 3);
      const b = randomRules(random, 6);
      const expected = universe.every((q) => !referenceAllows(a, q) || referenceAllows(b, q));
      expect(isSubset(a, b)).toBe(expected);
      if (expected) subsets++;
    }
    expect(subsets).toBeGreaterThan(20);
    expect(isSubset(rules("c 1:3 rw"), rules("c 1:* r", "c 1:3 w"))).toBe(false);
    expect(isSubset(rules("c 1:3 rw"), rules("c 1:* rw"))).toBe(true);
    expect(isSubset(rules("c 1:* r"), rules("c 1:3 r"))).toBe(false);
    expect(isSubset(rules("a 1:3 r"), rules("c 1:3 r", "b *:* r"))).toBe(true);
  });

  test("set operations refuse deny rules", () => {
    const deny = parseRule("c 1:3 r", false);
    expect(() => union([deny], [])).toThrow("union: rule 0");
    expect(() => intersection([], [deny])).toThrow("intersection: rule 0");
    expect(() => isSubset([deny], [])).toThrow("isSubset: rule 0");
    expect(() => allows([deny], { type: "c", major: 1, minor: 3 }, "r")).toThrow("allows: rule 0");
  });

});
