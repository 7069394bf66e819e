// resource.Quantity from k8s.io/apimachinery: parsing, comparison and the canonical
// string form the API server stores ("1000m" comes back as "1", "1.5Gi" as "1536Mi").

export type QuantityFormat = "DecimalSI" | "BinarySI" | "DecimalExponent";

export interface Quantity {
  /** Value in units of 10^-9, rounded up like kube rounds sub-nano precision. */
  nanos: bigint;
  format: QuantityFormat;
}

export const QUANTITY_FORMAT_ERROR =
  "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
const QUANTITY_SUFFIX_ERROR = "unable to parse quantity's suffix";

const DECIMAL_SUFFIXES: Record<string, number> = { n: -9, u: -6, m: -3, "": 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };
const BINARY_SUFFIXES: Record<string, number> = { Ki: 10, Mi: 20, Gi: 30, Ti: 40, Pi: 50, Ei: 60 };

export class QuantityParseError extends Error {}

function pow10(n: number): bigint {
  return 10n ** BigInt(n);
}

/** Divides rounding towards +infinity (kube rounds sub-nano values up). */
function divCeil(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b !== 0n && a > 0n ? q + 1n : q;
}

export function parseQuantity(input: string | number): Quantity {
  const text = typeof input === "number" ? String(input) : input;
  const match = /^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$/.exec(text);
  if (text.length === 0 || !match) throw new QuantityParseError(QUANTITY_FORMAT_ERROR);
  const numberPart = match[1] ?? "";
  const suffix = match[2] ?? "";
  const numberMatch = /^([+-]?)(\d*)(?:\.(\d*))?$/.exec(numberPart);
  if (!numberMatch || (numberMatch[2] === "" && (numberMatch[3] ?? "") === "")) {
    throw new QuantityParseError(QUANTITY_FORMAT_ERROR);
  }
  const negative = numberMatch[1] === "-";
  const whole = numberMatch[2] ?? "";
  const fraction = numberMatch[3] ?? "";
  // The value before the suffix, as an integer scaled by 10^-fraction.length.
  const digits = BigInt((whole + fraction).replace(/^0+(?=\d)/, "") || "0");

  let format: QuantityFormat;
  let decimalExponent = 0;
  let binaryExponent = 0;
  if (suffix in DECIMAL_SUFFIXES) {
    format = "DecimalSI";
    decimalExponent = DECIMAL_SUFFIXES[suffix] ?? 0;
  } else if (suffix in BINARY_SUFFIXES) {
    format = "BinarySI";
    binaryExponent = BINARY_SUFFIXES[suffix] ?? 0;
  } else if (/^[eE][-+]?\d+$/.test(suffix)) {
    format = "DecimalExponent";
    decimalExponent = Number.parseInt(suffix.slice(1), 10);
  } else {
    throw new QuantityParseError(QUANTITY_SUFFIX_ERROR);
  }

  // nanos = digits * 10^(decimalExponent - fraction.length + 9) * 2^binaryExponent
  const scale = decimalExponent - fraction.length + 9;
  let numerator = digits * 2n ** BigInt(binaryExponent);
  let denominator = 1n;
  if (scale >= 0) numerator *= pow10(scale);
  else denominator = pow10(-scale);
  let nanos = divCeil(numerator, denominator);
  if (negative) nanos = -nanos;
  return { nanos, format };
}

export function compareQuantities(a: Quantity, b: Quantity): number {
  return a.nanos < b.nanos ? -1 : a.nanos > b.nanos ? 1 : 0;
}

export function isIntegerQuantity(q: Quantity): boolean {
  return q.nanos % pow10(9) === 0n;
}

const DECIMAL_SUFFIX_BY_EXPONENT = new Map(Object.entries(DECIMAL_SUFFIXES).map(([s, e]) => [e, s]));
const BINARY_SUFFIX_BY_EXPONENT = new Map(Object.entries(BINARY_SUFFIXES).map(([s, e]) => [e, s]));

/** Quantity.String(): the canonical form. */
export function formatQuantity(q: Quantity): string {
  if (q.nanos === 0n) return "0";
  let format = q.format;
  const one = pow10(9);
  if (format === "BinarySI") {
    const smallMagnitude = q.nanos > -1024n * one && q.nanos < 1024n * one;
    if (smallMagnitude || q.nanos % one !== 0n) format = "DecimalSI";
  }
  const negative = q.nanos < 0n;
  const magnitude = negative ? -q.nanos : q.nanos;
  const sign = negative ? "-" : "";
  if (format === "BinarySI") {
    let mantissa = magnitude / one;
    let exponent = 0;
    while (exponent < 60 && mantissa % 1024n === 0n) {
      mantissa /= 1024n;
      exponent += 10;
    }
    return `${sign}${mantissa}${BINARY_SUFFIX_BY_EXPONENT.get(exponent) ?? ""}`;
  }
  // Largest exponent (a multiple of 3) that leaves an integer mantissa.
  let mantissa = magnitude;
  let exponent = -9;
  while (mantissa % 1000n === 0n && (format === "DecimalExponent" || exponent < 18)) {
    mantissa /= 1000n;
    exponent += 3;
  }
  if (format === "DecimalExponent") return `${sign}${mantissa}${exponent === 0 ? "" : `e${exponent}`}`;
  return `${sign}${mantissa}${DECIMAL_SUFFIX_BY_EXPONENT.get(exponent) ?? ""}`;
}

export function canonicalQuantity(input: string | number): string {
  return formatQuantity(parseQuantity(input));
}
