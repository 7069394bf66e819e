// Kubernetes resource quantities (k8s.io/apimachinery/pkg/api/resource):
//   quantity ::= [+-] number [suffix]
//   number   ::= digits | digits "." [digits] | "." digits
//   suffix   ::= Ki | Mi | Gi | Ti | Pi | Ei        (binary, powers of 1024)
//              | n | u | m | "" | k | M | G | T | P | E   (decimal SI)
//              | (e | E) [+-] digits               (decimal exponent, an int64)
// The value is kept exact as digits × 10^exp10 × 2^exp2 so that huge
// exponents never turn into huge numbers.

export class QuantityError extends Error {
  override readonly name = "QuantityError";
}

export interface Quantity {
  negative: boolean;
  /** All digits of the number, decimal point removed. */
  digits: bigint;
  exp10: number;
  exp2: number;
}

const QUANTITY = /^([+-]?)(?:(\d+)(?:\.(\d*))?|\.(\d+))(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?$/;
const BINARY: Record<string, number> = { Ki: 10, Mi: 20, Gi: 30, Ti: 40, Pi: 50, Ei: 60 };
const DECIMAL: Record<string, number> = { n: -9, u: -6, m: -3, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };
const INT64_MAX = 2n ** 63n - 1n;
/** Beyond this the value is capped by Kubernetes anyway; the bound keeps arithmetic on plain numbers. */
const EXPONENT_LIMIT = 1_000_000;

export const QUANTITY_HINT = "use a number with an optional suffix, e.g. 1, 500m, 2Gi, 1.5G or 1e3";

export function parseQuantity(text: string): Quantity {
  const match = QUANTITY.exec(text);
  if (!match) throw new QuantityError(`${JSON.stringify(text)} is not a valid quantity: ${QUANTITY_HINT}`);
  const [, sign = "", whole, fraction = "", onlyFraction, suffix = ""] = match;
  const fractionDigits = onlyFraction ?? fraction;
  const digits = BigInt(`${whole ?? ""}${fractionDigits}` || "0");
  let exp10 = 0 - fractionDigits.length;
  let exp2 = 0;
  if (suffix in BINARY) exp2 = BINARY[suffix]!;
  else if (suffix in DECIMAL) exp10 += DECIMAL[suffix]!;
  else if (suffix) {
    const exponent = BigInt(suffix.slice(1));
    if (exponent > INT64_MAX || exponent < -INT64_MAX - 1n) throw new QuantityError(`${JSON.stringify(text)} is not a valid quantity: the exponent does not fit in 64 bits`);
    if (exponent > BigInt(EXPONENT_LIMIT) || exponent < -BigInt(EXPONENT_LIMIT)) throw new QuantityError(`${JSON.stringify(text)} is not a valid quantity: the exponent is out of range`);
    exp10 += Number(exponent);
  }
  return { negative: sign === "-" && digits !== 0n, digits, exp10, exp2 };
}

export const isZero = (q: Quantity): boolean => q.digits === 0n;
export const isPositive = (q: Quantity): boolean => !q.negative && q.digits !== 0n;

function factorsOf(n: bigint, prime: bigint, atMost: number): number {
  let count = 0;
  while (n !== 0n && count < atMost && n % prime === 0n) {
    n /= prime;
    count++;
  }
  return count;
}

/** Whole number? (Extended resources such as nvidia.com/gpu only take whole numbers.) */
export function isWholeNumber(q: Quantity): boolean {
  if (q.digits === 0n || q.exp10 >= 0) return true;
  const needed = -q.exp10;
  return factorsOf(q.digits, 5n, needed) >= needed && factorsOf(q.digits, 2n, needed) + q.exp2 >= needed;
}
