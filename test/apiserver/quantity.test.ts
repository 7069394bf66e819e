import { describe, expect, test } from "bun:test";
import { isPositive, isWholeNumber, parseQuantity, QuantityError } from "../../src/apiserver/validation/quantity.ts";

describe("Kubernetes quantities", () => {
  test.each([
    ["1", { negative: false, digits: 1n, exp10: 0, exp2: 0 }],
    ["500m", { negative: false, digits: 500n, exp10: -3, exp2: 0 }],
    ["2Gi", { negative: false, digits: 2n, exp10: 0, exp2: 30 }],
    ["1.5G", { negative: false, digits: 15n, exp10: 8, exp2: 0 }],
    ["1e3", { negative: false, digits: 1n, exp10: 3, exp2: 0 }],
    ["1E3", { negative: false, digits: 1n, exp10: 3, exp2: 0 }],
    ["1E", { negative: false, digits: 1n, exp10: 18, exp2: 0 }],
    ["2.5e-3", { negative: false, digits: 25n, exp10: -4, exp2: 0 }],
    ["+3k", { negative: false, digits: 3n, exp10: 3, exp2: 0 }],
    ["-1", { negative: true, digits: 1n, exp10: 0, exp2: 0 }],
    [".5", { negative: false, digits: 5n, exp10: -1, exp2: 0 }],
    ["5.", { negative: false, digits: 5n, exp10: 0, exp2: 0 }],
    ["100n", { negative: false, digits: 100n, exp10: -9, exp2: 0 }],
    ["3u", { negative: false, digits: 3n, exp10: -6, exp2: 0 }],
    ["7Ei", { negative: false, digits: 7n, exp10: 0, exp2: 60 }],
    ["0", { negative: false, digits: 0n, exp10: 0, exp2: 0 }],
    ["-0", { negative: false, digits: 0n, exp10: 0, exp2: 0 }],
  ])("%p parses exactly", (text, expected) => {
    expect(parseQuantity(text)).toEqual(expected);
  });

  test.each(["", " 1", "1 ", "abc", "1K", "1ki", "1e", "1e+", "1Mi2", "--1", "+", ".", "1..2", "1.2.3", "0x10", "1,5", "1e1.5", "Gi", "1GiB", "∞", "1e99999999999999999999"])("%p is refused with a hint", (text) => {
    expect(() => parseQuantity(text)).toThrow(QuantityError);
    expect(() => parseQuantity(text)).toThrow(/not a valid quantity/);
  });

  test("exponents beyond the supported range are refused without computing them", () => {
    expect(() => parseQuantity("1e2000000")).toThrow("exponent is out of range");
  });

  test.each([
    ["1", true],
    ["0.5", false],
    ["500m", false],
    ["1000m", true],
    ["1.5k", true],
    ["1e-1", false],
    ["10e-1", true],
    ["1Ki", true],
    ["0", true],
    ["125e-3", false],
    ["1250e-3", false],
    ["12500e-4", false],
    ["8e1000", true],
  ])("%p is a whole number: %p", (text, whole) => {
    expect(isWholeNumber(parseQuantity(text))).toBe(whole);
  });

  test("positivity", () => {
    expect(isPositive(parseQuantity("1m"))).toBe(true);
    expect(isPositive(parseQuantity("0"))).toBe(false);
    expect(isPositive(parseQuantity("-2"))).toBe(false);
  });
});
